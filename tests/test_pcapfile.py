"""wscap.pcapfile.PacketReader against captures written by dpkt, and by
hand with struct where dpkt cannot write them (big-endian files, pcapng
with several interfaces and time resolutions, simple packet blocks, a
second section)."""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import sys
import threading
import types
from pathlib import Path

import dpkt
import pytest
from helpers_packets import build_pcap, build_pcapng, pcapng_epb, tcp_conversation
from hypothesis import given, settings
from hypothesis import strategies as st

from wscap import CaptureError, pcapfile
from wscap.pcapfile import PacketReader

T0 = 1_700_000_000  # seconds


def read_all(
    path: str | os.PathLike[str],
) -> tuple[list[tuple[int, int, bytes, int]], PacketReader]:
    with PacketReader(path) as r:
        pkts = list(r)
    return pkts, r


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def payloads(n: int, seed: int = 1, size: int = 60) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(size + i % 7) for i in range(n)]


# -- hand-made pcap / pcapng ------------------------------------------------


def pcap_header(endian: str, nano: bool, linktype: int, snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(endian: str, sec: int, frac: int, data: bytes, orig: int | None = None) -> bytes:
    return (
        struct.pack(endian + "IIII", sec, frac, len(data), len(data) if orig is None else orig)
        + data
    )


def pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def block(e: str, btype: int, body: bytes) -> bytes:
    body = pad4(body)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def option(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + pad4(value)


def shb(e: str) -> bytes:
    return block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(e: str, linktype: int, snaplen: int = 0, opts: bytes = b"") -> bytes:
    if opts:
        opts += option(e, 0, b"")
    return block(e, 1, struct.pack(e + "HHI", linktype, 0, snaplen) + opts)


def epb(e: str, iface: int, ticks: int, data: bytes, orig: int | None = None) -> bytes:
    o = len(data) if orig is None else orig
    body = struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), o)
    return block(e, 6, body + pad4(data))


def spb(e: str, data: bytes, orig: int | None = None) -> bytes:
    return block(e, 3, struct.pack(e + "I", len(data) if orig is None else orig) + data)


def pb(e: str, iface: int, ticks: int, data: bytes) -> bytes:
    body = struct.pack(
        e + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(e, 2, body + data)


def tsresol(e: str, v: int) -> bytes:
    return option(e, 9, bytes([v]))


def tsoffset(e: str, seconds: int) -> bytes:
    return option(e, 14, struct.pack(e + "q", seconds))


# -- pcap written by dpkt -----------------------------------------------------


def test_dpkt_writer_microseconds_exact(tmp_path):
    data = payloads(3)
    f = io.BytesIO()
    w = dpkt.pcap.Writer(f, linktype=1)
    # floats exact enough at microsecond precision: dpkt rounds to whole µs
    stamps = [T0 + 0.000001, T0 + 0.5, T0 + 12.999999]
    for ts, d in zip(stamps, data, strict=True):
        w.writepkt(d, ts=ts)
    pkts, r = read_all(write(tmp_path, "us.pcap", f.getvalue()))
    assert r.format == "pcap"
    assert r.link_types == [1]
    assert r.damage is None
    assert [p[0] for p in pkts] == [
        T0 * 10**9 + 1_000,
        T0 * 10**9 + 500_000_000,
        (T0 + 12) * 10**9 + 999_999_000,
    ]
    assert [p[1] for p in pkts] == [1, 1, 1]
    assert [p[2] for p in pkts] == data
    assert [p[3] for p in pkts] == [len(d) for d in data]


def test_dpkt_writer_nanoseconds_exact(tmp_path):
    f = io.BytesIO()
    w = dpkt.pcap.Writer(f, linktype=101, nano=True)
    # multiples of 2**-9 s are exact binary fractions: 1953125 ns each
    w.writepkt(b"\x45" + b"\0" * 19, ts=T0 + 3 / 512)
    w.writepkt(b"\x45" + b"\1" * 19, ts=T0 + 511 / 512)
    pkts, r = read_all(write(tmp_path, "ns.pcap", f.getvalue()))
    assert r.link_types == [101]
    assert [p[0] for p in pkts] == [T0 * 10**9 + 3 * 1953125, T0 * 10**9 + 511 * 1953125]
    assert all(p[1] == 101 for p in pkts)


def test_nanosecond_records_with_odd_nanoseconds(tmp_path):
    stamps = [T0 * 10**9 + 1, T0 * 10**9 + 123_456_789, (T0 + 1) * 10**9 + 999_999_999]
    data = payloads(3, seed=2)
    raw = build_pcap(list(zip(stamps, data, strict=True)), nano=True)
    pkts, _ = read_all(write(tmp_path, "n.pcap", raw))
    assert [p[0] for p in pkts] == stamps
    assert [p[2] for p in pkts] == data


def test_caplen_shorter_than_original_length(tmp_path):
    raw = build_pcap(
        [(T0 * 10**9, b"a" * 96, 1514), (T0 * 10**9 + 1000, b"b" * 40, 40)],
        nano=False,
        snaplen=96,
    )
    pkts, r = read_all(write(tmp_path, "snap.pcap", raw))
    assert r.snaplens == [96]
    assert [(len(p[2]), p[3]) for p in pkts] == [(96, 1514), (40, 40)]


def test_header_only_pcap_has_no_packets_and_no_damage(tmp_path):
    raw = build_pcap([], linktype=113)
    pkts, r = read_all(write(tmp_path, "empty.pcap", raw))
    assert pkts == []
    assert r.damage is None
    assert r.link_types == [113]


def test_zero_length_record(tmp_path):
    raw = build_pcap([(T0 * 10**9, b""), (T0 * 10**9 + 5, b"xy")])
    pkts, r = read_all(write(tmp_path, "z.pcap", raw))
    assert [(p[2], p[3]) for p in pkts] == [(b"", 0), (b"xy", 2)]
    assert r.damage is None


@pytest.mark.parametrize("nano", [False, True])
def test_big_endian_pcap(tmp_path, nano):
    frac = [123_456, 999_999] if not nano else [123_456_789, 1]
    mult = 1000 if not nano else 1
    data = payloads(2, seed=3)
    raw = pcap_header(">", nano, 101) + b"".join(
        pcap_record(">", T0 + i, fr, d, len(d) + 10 * i)
        for i, (fr, d) in enumerate(zip(frac, data, strict=True))
    )
    pkts, r = read_all(write(tmp_path, "be.pcap", raw))
    assert r.format == "pcap"
    assert r.link_types == [101]
    assert r.snaplens == [65535]
    assert pkts == [
        (T0 * 10**9 + frac[0] * mult, 101, data[0], len(data[0])),
        ((T0 + 1) * 10**9 + frac[1] * mult, 101, data[1], len(data[1]) + 10),
    ]


def test_little_endian_pcap_by_hand_matches_dpkt(tmp_path):
    data = payloads(4, seed=4)
    stamps = [T0 * 10**9 + i * 1_000_001_000 for i in range(4)]
    by_dpkt = build_pcap(list(zip(stamps, data, strict=True)), nano=False, snaplen=65535)
    by_hand = pcap_header("<", False, 1) + b"".join(
        pcap_record("<", ts // 10**9, ts % 10**9 // 1000, d)
        for ts, d in zip(stamps, data, strict=True)
    )
    assert by_dpkt == by_hand
    pkts, _ = read_all(write(tmp_path, "le.pcap", by_hand))
    assert [p[0] for p in pkts] == stamps


def test_many_records_across_chunk_boundaries(tmp_path):
    # more than the reader's 1 MiB chunk, records straddling chunk edges
    rnd = random.Random(5)
    pkts_in = [(T0 * 10**9 + i * 1000, rnd.randbytes(rnd.randrange(0, 1600))) for i in range(3000)]
    raw = build_pcap(pkts_in, nano=False)
    assert len(raw) > 2 * (1 << 20)
    pkts, r = read_all(write(tmp_path, "big.pcap", raw))
    assert r.damage is None
    assert [(p[0], p[2]) for p in pkts] == pkts_in


# -- pcapng -----------------------------------------------------------------


def test_dpkt_pcapng_writer(tmp_path):
    conv = tcp_conversation(exchanges=[("c", b"hello"), ("s", b"world")])
    raw = build_pcapng(conv, linktype=1)
    pkts, r = read_all(write(tmp_path, "a.pcapng", raw))
    assert r.format == "pcapng"
    assert r.link_types == [1]
    assert r.damage is None
    assert [(p[0], p[1], p[2], p[3]) for p in pkts] == [(ts, 1, d, len(d)) for ts, d in conv]


def test_dpkt_pcapng_caplen_and_two_interfaces_with_tsresol(tmp_path):
    Opt = dpkt.pcapng.PcapngOptionLE
    idb0 = dpkt.pcapng.InterfaceDescriptionBlockLE(linktype=1, snaplen=128)
    idb1 = dpkt.pcapng.InterfaceDescriptionBlockLE(
        linktype=113,
        snaplen=0,
        opts=[Opt(code=9, data=b"\x09"), Opt(code=0, data=b"")],  # nanoseconds
    )
    f = io.BytesIO()
    dpkt.pcapng.Writer(f, idb=[idb0, idb1])
    f.write(pcapng_epb(b"e" * 128, ticks=T0 * 10**6 + 7, iface=0, orig_len=1500))
    f.write(pcapng_epb(b"s" * 33, ticks=T0 * 10**9 + 123_456_789, iface=1))
    pkts, r = read_all(write(tmp_path, "two.pcapng", f.getvalue()))
    assert r.link_types == [1, 113]
    assert r.snaplens == [128, 0]
    assert pkts == [
        (T0 * 10**9 + 7000, 1, b"e" * 128, 1500),
        (T0 * 10**9 + 123_456_789, 113, b"s" * 33, 33),
    ]


@pytest.mark.parametrize("e", ["<", ">"])
def test_pcapng_interfaces_resolutions_offset_spb_pb_second_section(tmp_path, e):
    d = payloads(7, seed=6)
    raw = b"".join(
        [
            shb(e),
            idb(e, 1, 65535),  # default resolution: microseconds
            idb(e, 113, 0, option(e, 2, b"any\0") + tsresol(e, 9)),  # ns, after if_name
            idb(e, 101, 0, tsresol(e, 0x80 | 20) + tsoffset(e, 100)),  # 2^-20 s, +100 s
            idb(e, 276, 0, tsresol(e, 3) + tsoffset(e, -5)),  # ms, -5 s
            block(e, 0x0BAD, b"custom block, skipped"),
            epb(e, 0, T0 * 10**6 + 1, d[0], 999),
            epb(e, 1, T0 * 10**9 + 5, d[1]),
            epb(e, 2, (T0 << 20) + 3, d[2]),
            epb(e, 3, T0 * 1000 + 250, d[3]),
            pb(e, 1, T0 * 10**9 + 77, d[4]),
            # a second section: interface ids start again, its own byte order
            shb("<"),
            idb("<", 228, 0, tsresol("<", 6)),
            epb("<", 0, (T0 + 1) * 10**6, d[5]),
            spb("<", d[6]),
        ]
    )
    pkts, r = read_all(write(tmp_path, "hand.pcapng", raw))
    assert r.damage is None
    assert r.format == "pcapng"
    assert r.link_types == [1, 113, 101, 276, 228]
    expect_ts = [
        T0 * 10**9 + 1000,
        T0 * 10**9 + 5,
        (T0 + 100) * 10**9 + (3 * 10**9 >> 20),  # floor of 2861.02... ns
        (T0 - 5) * 10**9 + 250_000_000,
        T0 * 10**9 + 77,
        (T0 + 1) * 10**9,
    ]
    assert [p[0] for p in pkts[:6]] == expect_ts
    assert [p[1] for p in pkts] == [1, 113, 101, 276, 113, 228, 228]
    assert [p[2] for p in pkts] == d
    assert [p[3] for p in pkts] == [999] + [len(x) for x in d[1:]]


def test_pcapng_binary_resolution_rounds_down(tmp_path):
    e = "<"
    raw = shb(e) + idb(e, 1, 0, tsresol(e, 0x80 | 10)) + epb(e, 0, 1023, b"x")
    pkts, _ = read_all(write(tmp_path, "b.pcapng", raw))
    assert pkts[0][0] == 1023 * 10**9 // 1024  # 999023437.5 -> 999023437


def test_pcapng_picosecond_resolution(tmp_path):
    e = "<"
    sec = 10_000_000  # 10**19 ps still fits the 64-bit tick count
    raw = shb(e) + idb(e, 1, 0, tsresol(e, 12)) + epb(e, 0, sec * 10**12 + 123_456_789_999, b"x")
    pkts, _ = read_all(write(tmp_path, "ps.pcapng", raw))
    assert pkts[0][0] == sec * 10**9 + 123_456_789


def test_pcapng_binary_resolution_whole_seconds(tmp_path):
    e = "<"
    raw = shb(e) + idb(e, 1, 0, tsresol(e, 0x80)) + epb(e, 0, T0, b"x")
    pkts, r = read_all(write(tmp_path, "s.pcapng", raw))
    assert pkts == [(T0 * 10**9, 1, b"x", 1)]
    assert r.damage is None


def test_pcapng_spb_caplen_limited_by_snaplen(tmp_path):
    e = "<"
    data = bytes(range(64))
    raw = shb(e) + idb(e, 1, 20) + spb(e, data)
    pkts, _ = read_all(write(tmp_path, "spb.pcapng", raw))
    assert [(p[1], p[2], p[3]) for p in pkts] == [(1, data[:20], 64)]


def test_pcapng_packet_before_interface_is_damage(tmp_path):
    e = "<"
    raw = shb(e) + epb(e, 0, 1, b"x")
    pkts, r = read_all(write(tmp_path, "noif.pcapng", raw))
    assert pkts == []
    assert r.damage is not None and "byte 28" in r.damage


def test_pcapng_epb_naming_missing_interface_stops(tmp_path):
    e = "<"
    raw = shb(e) + idb(e, 1) + epb(e, 0, 1, b"ok") + epb(e, 1, 2, b"bad") + epb(e, 0, 3, b"late")
    pkts, r = read_all(write(tmp_path, "if1.pcapng", raw))
    assert [p[2] for p in pkts] == [b"ok"]
    assert r.damage is not None and "corrupt packet block" in r.damage


# -- gzip ---------------------------------------------------------------------


def test_gzip_pcap(tmp_path):
    conv = tcp_conversation(exchanges=[("c", b"x" * 3000)], mss=1000)
    raw = build_pcap(conv)
    pkts, r = read_all(write(tmp_path, "c.pcap.gz", gzip.compress(raw)))
    assert r.format == "pcap.gz"
    assert [(p[0], p[2]) for p in pkts] == conv
    assert r.damage is None


def test_gzip_pcapng(tmp_path):
    conv = tcp_conversation()
    pkts, r = read_all(write(tmp_path, "c.pcapng.gz", gzip.compress(build_pcapng(conv))))
    assert r.format == "pcapng.gz"
    assert [(p[0], p[2]) for p in pkts] == conv


def test_multi_member_gzip_split_inside_a_record(tmp_path):
    stamps = [T0 * 10**9 + i for i in range(50)]
    data = payloads(50, seed=7)
    raw = build_pcap(list(zip(stamps, data, strict=True)))
    cuts = [0, 2, 30, 1000, 1001, len(raw) - 3, len(raw)]
    members = b"".join(gzip.compress(raw[a:b]) for a, b in zip(cuts, cuts[1:], strict=False))
    members += gzip.compress(b"")  # an empty member at the end
    pkts, r = read_all(write(tmp_path, "multi.pcap.gz", members))
    assert r.damage is None
    assert [(p[0], p[2]) for p in pkts] == list(zip(stamps, data, strict=True))


def test_large_gzip_incompressible(tmp_path):
    rnd = random.Random(8)
    pkts_in = [(T0 * 10**9 + i, rnd.randbytes(1400)) for i in range(1600)]
    raw = build_pcap(pkts_in)
    half = len(raw) // 2 + 11
    gz = gzip.compress(raw[:half], compresslevel=1) + gzip.compress(raw[half:], compresslevel=1)
    assert len(gz) > 2 * (1 << 20)
    pkts, r = read_all(write(tmp_path, "big.pcap.gz", gz))
    assert r.damage is None
    assert len(pkts) == 1600
    assert [(p[0], p[2]) for p in pkts] == pkts_in


def test_gzip_damage_after_the_first_chunk_is_damage(tmp_path):
    rnd = random.Random(9)
    pkts_in = [(T0 * 10**9 + i, rnd.randbytes(1400)) for i in range(1000)]
    gz = bytearray(gzip.compress(build_pcap(pkts_in), compresslevel=1))
    assert len(gz) > 1 << 20
    gz[-8] ^= 0xFF  # the CRC-32 in the trailer
    pkts, r = read_all(write(tmp_path, "crc.pcap.gz", bytes(gz)))
    assert r.damage is not None and "damaged gzip data" in r.damage
    assert [(p[0], p[2]) for p in pkts] == pkts_in[: len(pkts)]
    assert len(pkts) > 500


def test_small_gzip_with_bad_crc_is_analysed_up_to_the_damage(tmp_path):
    rnd = random.Random(9)
    pkts_in = [(T0 * 10**9 + i, rnd.randbytes(200)) for i in range(200)]
    gz = bytearray(gzip.compress(build_pcap(pkts_in)))
    gz[-8] ^= 0xFF  # the CRC-32 in the trailer: every packet byte is intact
    pkts, r = read_all(write(tmp_path, "crc.pcap.gz", bytes(gz)))
    assert [(p[0], p[2]) for p in pkts] == pkts_in
    assert r.damage is not None and "gzip" in r.damage


def test_gzip_garbage_from_the_start(tmp_path):
    p = write(tmp_path, "bad.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 40)
    with pytest.raises(CaptureError) as ei:
        PacketReader(p)
    assert str(p) in str(ei.value)


def test_gzip_of_a_text_file_is_not_a_capture(tmp_path):
    p = write(tmp_path, "t.gz", gzip.compress(b"hello world\n"))
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        PacketReader(p)


# -- non-seekable input -------------------------------------------------------


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: no seek, no tell, short reads."""

    def __init__(self, data: bytes, piece: int = 4093) -> None:
        self._b = io.BytesIO(data)
        self._piece = piece

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def seek(self, *a: object) -> int:
        raise io.UnsupportedOperation("seek")

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        chunk = self._b.read(min(len(b), self._piece))
        b[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_non_seekable(monkeypatch, compress):
    conv = tcp_conversation(exchanges=[("c", b"q" * 5000)], mss=1448)
    raw = build_pcapng(conv)
    if compress:
        raw = gzip.compress(raw)
    stream = io.BufferedReader(NonSeekable(raw))
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=stream))
    pkts, r = read_all("-")
    assert r.name == "<stdin>"
    assert r.format == ("pcapng.gz" if compress else "pcapng")
    assert [(p[0], p[2]) for p in pkts] == conv
    assert not stream.closed  # the reader leaves stdin open


def test_real_os_pipe(monkeypatch):
    rnd = random.Random(10)
    pkts_in = [(T0 * 10**9 + i * 7, rnd.randbytes(900)) for i in range(400)]
    raw = build_pcap(pkts_in)
    rfd, wfd = os.pipe()

    def feed() -> None:
        with os.fdopen(wfd, "wb", buffering=0) as w:
            for i in range(0, len(raw), 3001):
                w.write(raw[i : i + 3001])

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(rfd, "rb") as rf:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=rf))
        pkts, r = read_all("-")
    t.join()
    assert r.damage is None
    assert [(p[0], p[2]) for p in pkts] == pkts_in


# -- damage -------------------------------------------------------------------


def three_records() -> tuple[bytes, list[bytes]]:
    data = payloads(3, seed=11, size=100)
    raw = build_pcap([(T0 * 10**9 + i, d) for i, d in enumerate(data)])
    return raw, data


def test_truncated_last_record(tmp_path):
    raw, data = three_records()
    pkts, r = read_all(write(tmp_path, "cut.pcap", raw[:-10]))
    assert [p[2] for p in pkts] == data[:2]
    assert r.damage is not None and "cut short" in r.damage


def test_damage_reports_the_file_offset_of_the_bad_record(tmp_path):
    raw, data = three_records()
    last_rec = len(raw) - 16 - len(data[2])
    _, r = read_all(write(tmp_path, "cut.pcap", raw[:-10]))
    assert r.damage is not None and f"byte {last_rec} " in r.damage
    assert r.offset == last_rec
    second = 24 + 16 + len(data[0])
    bad = bytearray(raw)
    struct.pack_into("<I", bad, second + 8, 0x7FFF0000)
    _, r = read_all(write(tmp_path, "corrupt.pcap", bytes(bad)))
    assert r.damage is not None and f"byte {second} " in r.damage


def test_truncated_inside_record_header(tmp_path):
    raw, data = three_records()
    cut = len(raw) - len(data[2]) - 9  # 7 of the 16 header bytes present
    pkts, r = read_all(write(tmp_path, "cuthdr.pcap", raw[:cut]))
    assert [p[2] for p in pkts] == data[:2]
    assert r.damage is not None and "7 bytes of it present" in r.damage


def test_corrupt_record_length_midway(tmp_path):
    raw, data = three_records()
    second = 24 + 16 + len(data[0])
    bad = bytearray(raw)
    struct.pack_into("<I", bad, second + 8, 0x7FFF0000)  # caplen of record 2
    pkts, r = read_all(write(tmp_path, "corrupt.pcap", bytes(bad)))
    assert [p[2] for p in pkts] == data[:1]
    assert r.damage is not None and "corrupt record" in r.damage
    assert "claims 2147418112 captured bytes" in r.damage


def test_pcapng_block_cut_short(tmp_path):
    conv = tcp_conversation()
    raw = build_pcapng(conv)
    pkts, r = read_all(write(tmp_path, "cut.pcapng", raw[:-5]))
    assert [p[2] for p in pkts] == [d for _, d in conv[:-1]]
    assert r.damage is not None and "cut short" in r.damage


def test_pcapng_corrupt_block_length(tmp_path):
    e = "<"
    good = epb(e, 0, 1, b"one")
    bad = bytearray(epb(e, 0, 2, b"two"))
    struct.pack_into("<I", bad, 4, 13)  # not a multiple of 4
    raw = shb(e) + idb(e, 1) + good + bytes(bad) + epb(e, 0, 3, b"three")
    pkts, r = read_all(write(tmp_path, "badlen.pcapng", raw))
    assert [p[2] for p in pkts] == [b"one"]
    assert r.damage is not None and "length 13" in r.damage


def test_pcapng_bad_byte_order_magic(tmp_path):
    raw = bytearray(shb("<") + idb("<", 1) + epb("<", 0, 1, b"x"))
    raw[8:12] = b"\0\0\0\0"
    pkts, r = read_all(write(tmp_path, "bom.pcapng", bytes(raw)))
    assert pkts == []
    assert r.damage is not None and "section header" in r.damage


# -- errors ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    p = tmp_path / "nope.pcap"
    with pytest.raises(CaptureError, match="no such file") as ei:
        PacketReader(p)
    assert str(ei.value).startswith(str(p))


def test_directory(tmp_path):
    with pytest.raises(CaptureError, match="directory") as ei:
        PacketReader(tmp_path)
    assert str(tmp_path) in str(ei.value)


def test_empty_file(tmp_path):
    p = write(tmp_path, "empty.pcap", b"")
    with pytest.raises(CaptureError, match="empty") as ei:
        PacketReader(p)
    assert str(p) in str(ei.value)


def test_text_file(tmp_path):
    p = write(tmp_path, "notes.txt", b"this is not a capture\n" * 10)
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture") as ei:
        PacketReader(p)
    assert "74686973" in str(ei.value)  # the first four bytes, "this"


def test_three_byte_file(tmp_path):
    p = write(tmp_path, "three", b"\xd4\xc3\xb2")
    with pytest.raises(CaptureError, match="too short") as ei:
        PacketReader(p)
    assert str(p) in str(ei.value)


def test_pcap_file_header_cut_short(tmp_path):
    p = write(tmp_path, "hdr.pcap", build_pcap([])[:20])
    with pytest.raises(CaptureError, match="header cut short"):
        read_all(p)


def test_construction_error_closes_file(tmp_path, monkeypatch):
    opened: list[io.BufferedReader] = []
    real_open = open

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        f = real_open(*a, **k)
        opened.append(f)
        return f

    import wscap.pcapfile as pf

    monkeypatch.setattr(pf, "open", spy, raising=False)
    p = write(tmp_path, "x.txt", b"plain text")
    with pytest.raises(CaptureError):
        PacketReader(p)
    assert opened and all(f.closed for f in opened)


def test_named_pipe_path(tmp_path):
    """A FIFO given by path: not seekable, filled by a writer thread."""
    conv = tcp_conversation(exchanges=[("s", b"w" * 20000)], mss=1448)
    raw = gzip.compress(build_pcap(conv))
    fifo = tmp_path / "live.pcap.gz"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as w:  # blocks until the reader opens the FIFO
            for i in range(0, len(raw), 777):
                w.write(raw[i : i + 777])

    t = threading.Thread(target=feed)
    t.start()
    try:
        pkts, r = read_all(fifo)
    finally:
        t.join(timeout=30)
    assert r.format == "pcap.gz"
    assert [(p[0], p[2]) for p in pkts] == conv


def test_pcapng_epb_options_and_comments_are_not_packet_data(tmp_path):
    Opt = dpkt.pcapng.PcapngOptionLE
    f = io.BytesIO()
    w = dpkt.pcapng.Writer(f, linktype=1)
    blk = dpkt.pcapng.EnhancedPacketBlockLE(
        pkt_data=b"abcde",
        opts=[Opt(code=1, text="a comment"), Opt(code=2, data=b"\0\0\0\x01"), Opt(code=0)],
    )
    w.writepkt(blk, ts=T0 + 0.25)
    w.writepkt(b"fghij", ts=T0 + 0.5)
    pkts, r = read_all(write(tmp_path, "opts.pcapng", f.getvalue()))
    assert r.damage is None
    assert pkts == [
        (T0 * 10**9 + 250_000_000, 1, b"abcde", 5),
        (T0 * 10**9 + 500_000_000, 1, b"fghij", 5),
    ]


# -- robustness -------------------------------------------------------------------


def _fuzz_bases() -> list[bytes]:
    conv = tcp_conversation(exchanges=[("c", b"x" * 100), ("s", b"y" * 50)])
    e = ">"
    return [
        build_pcap(conv),
        build_pcap(conv, nano=False),
        build_pcapng(conv),
        shb(e)
        + idb(e, 113, 0, tsresol(e, 6) + tsoffset(e, 1))
        + epb(e, 0, 5, b"abc")
        + spb(e, b"defg")
        + pb(e, 0, 7, b"zz"),
    ]


_BASES = _fuzz_bases()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    base=st.sampled_from(range(len(_BASES))),
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255), st.sampled_from("sdi")),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_captures_never_raise_past_construction(tmp_path_factory, base, edits):
    b = bytearray(_BASES[base])
    for pos, val, op in edits:
        i = pos % len(b)
        if op == "s":
            b[i] = val
        elif op == "d":
            del b[i : i + 1 + val % 8]
        else:
            b[i:i] = bytes([val]) * (1 + val % 5)
    p = tmp_path_factory.mktemp("fuzz") / "m.bin"
    p.write_bytes(bytes(b))
    try:
        r = PacketReader(p)
    except CaptureError:
        return
    try:
        with r:
            for ts, lt, data, orig in r:
                assert isinstance(ts, int) and isinstance(lt, int) and isinstance(orig, int)
                assert len(data) <= len(b)
    except CaptureError as exc:  # only a pcap file header cut short may raise here
        assert "header cut short" in str(exc)
        return
    if r.format == "pcap":  # the bulk reading (mapped) finds the same records and damage
        assert read_bulk(p) == (list(PacketReader(p)), r.damage, r.offset)


# -- bulk reading (read_pcap), over the mapped file ---------------------------


def read_bulk(path: Path, mapped: bool = True) -> tuple[list, str | None, int]:
    """Records, damage and offset as ``read_pcap`` hands them over, to a
    consumer walking the records as the analyzer's does."""
    out: list[tuple[int, int, bytes, int]] = []
    if mapped:
        r = PacketReader(path)
    else:
        r = PacketReader.from_file(open(path, "rb"), str(path))

    def consume(buf: bytes, pos: int, n: int) -> int:
        rec = r.record.unpack_from
        while pos + 16 <= n:
            sec, frac, caplen, orig = rec(buf, pos)
            if caplen > r.max_caplen or pos + 16 + caplen > n:
                break
            data = bytes(buf[pos + 16 : pos + 16 + caplen])
            out.append((sec * 10**9 + frac * r.ts_mult, r.link_types[0], data, orig))
            pos += 16 + caplen
        return pos

    with r:
        assert (r._mapped() is not None) == mapped
        r.read_pcap(consume)
    return out, r.damage, r.offset


def _cases() -> dict[str, bytes]:
    raw, data = three_records()
    second = 24 + 16 + len(data[0])
    corrupt = bytearray(raw)
    struct.pack_into("<I", corrupt, second + 8, 0x7FFF0000)
    # records of 1.5 MB with a snaplen allowing them: wider than a window or a chunk
    big = build_pcap([(T0 * 10**9 + i, bytes([i]) * 1_500_000) for i in range(3)], snaplen=4 << 20)
    many = build_pcap([(T0 * 10**9 + i, d) for i, d in enumerate(payloads(40000, 3, 40))])
    return {
        "clean": raw,
        "cut": raw[:-10],
        "cut in a header": raw[: len(raw) - len(data[2]) - 9],
        "corrupt": bytes(corrupt),
        "header only": raw[:24],
        "big records": big,
        "big records, cut": big[:-1000],
        "many windows": many,
        "many windows, cut": many[:-7],
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_bulk_reading_of_a_mapped_file(tmp_path, case, monkeypatch):
    """read_pcap over the mapped file and over the windows the file object
    is read into (as a stream) agree with iteration: records, damage and
    offset (with windows of 64 KiB: many of them, and records wider than
    one)."""
    monkeypatch.setattr(pcapfile, "WINDOW", 1 << 16)
    path = write(tmp_path, "c.pcap", _cases()[case])
    pkts, r = read_all(path)
    expected = (pkts, r.damage, r.offset)
    assert read_bulk(path, mapped=True) == expected
    assert read_bulk(path, mapped=False) == expected
    if case != "header only":
        assert pkts
    assert (r.damage is None) == (case in ("clean", "header only", "big records", "many windows"))


def test_a_mapped_file_cut_shorter_while_read_is_damage(tmp_path, monkeypatch):
    """A file truncated between two windows (a tcpdump -W ring buffer
    wrapping around onto it) is damage, reported before any page past its
    new end is touched (which would kill the process with SIGBUS)."""
    monkeypatch.setattr(pcapfile, "WINDOW", 1 << 16)
    raw = build_pcap([(T0 * 10**9 + i, d) for i, d in enumerate(payloads(20000, 5, 40))])
    path = write(tmp_path, "ring.pcap", raw)
    windows = []

    def consume(buf: bytes, pos: int, n: int) -> int:
        windows.append((pos, n))
        rec = r.record.unpack_from
        while pos + 16 <= n and pos + 16 + rec(buf, pos)[2] <= n:
            pos += 16 + rec(buf, pos)[2]
        if len(windows) == 3:
            os.truncate(path, 1000)
        return pos

    r = PacketReader(path)
    with r:
        assert r._mapped() is not None
        r.read_pcap(consume)
    assert len(windows) == 3 and windows[-1][1] < len(raw)
    assert r.damage == f"the file shrank to 1000 bytes while being read, at byte {r.offset}"
    assert r.offset > 3 * 60000
