"""The fast path gives exactly the model the general path gives.

``Analyzer.feed_pcap`` (packets straight from the pcap buffer) and
``WsDirection.data`` (whole frames without the frame parser) duplicate the
bookkeeping of the general path for the common case, for speed.  The
general path (``analyze(..., fast=False)``: every packet through
``Analyzer.packet``, every frame through ``FrameParser``) is the reference:
on every capture here, real and generated, both must produce the same
connections, handshakes, frames, messages, heartbeats, violations, gaps
and capture summary, value for value.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
import zlib
from pathlib import Path

import pytest
from helpers_packets import (
    build_pcap,
    build_pcapng,
    tcp_conversation,
    upgrade_request,
    upgrade_response,
    ws_frame,
)

import wscap
from wscap.analyzer import analyze, analyze_shard
from wscap.model import Silence
from wscap.pcapfile import PacketReader

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "captures"
BUNDLED = sorted((ROOT / "captures").rglob("*.pcap*"))
PUBLIC = sorted(p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))

MASK = b"\x11\x22\x33\x44"


def _plain(value: object) -> object:
    if isinstance(value, Silence):
        return (value.last, value.longest, value.since)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name != "deflate_params"
        }
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def model(path: Path | str, fast: bool = True, **kw: object) -> dict[str, object]:
    """Everything the analysis recorded, as plain values."""
    return plain_model(analyze(path, fast=fast, **kw))  # type: ignore[arg-type]


def plain_model(a: wscap.Analysis) -> dict[str, object]:
    st = a.store
    out: dict[str, object] = {
        "capture": _plain(a.capture),
        "connections": _plain(a.connection_list),
        "handshakes": _plain(a.handshake_list),
        "violations": _plain(st.violations),
        "gaps": _plain(st.gaps),
        "heartbeats": _plain(st.heartbeats),
        "capped": (st.capped_messages, st.capped_bytes),
    }
    for name, table in (("frames", st.frames), ("messages", st.messages)):
        for col in table.__slots__:
            out[f"{name}.{col}"] = list(getattr(table, col))
    return out


def assert_same(path: Path | str, **kw: object) -> dict[str, object]:
    fast = model(path, True, **kw)
    ref = model(path, False, **kw)
    for key in ref:
        assert fast[key] == ref[key], f"{key} differs between the fast and the general path"
    return fast


@pytest.mark.parametrize("path", BUNDLED + PUBLIC, ids=lambda p: p.name)
def test_real_captures(path: Path) -> None:
    assert_same(path)


def generated(tmp_path: Path, packets: int, seed: int) -> Path:
    """A capture from the benchmark generator: hundreds of connections,
    deflate, fragments, retransmissions, pings, closes and noise."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gen
    finally:
        sys.path.pop(0)
    out = tmp_path / "gen.pcap"
    assert gen.main(["--packets", str(packets), "--seed", str(seed), "-o", str(out), "-q"]) == 0
    return out


@pytest.mark.parametrize("keep", [True, False])
def test_generated_capture(tmp_path: Path, keep: bool) -> None:
    m = assert_same(generated(tmp_path, 12000, 7), keep_frames=keep)
    assert m["capture"]["packets"] >= 12000  # type: ignore[index]
    if keep:
        assert len(m["frames.ts"]) > 5000  # type: ignore[arg-type]


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def _conversation(
    frames: list[tuple[str, bytes]], linktype: int = 1, deflate: bool = True, mss: int | None = None
) -> list[tuple[int, bytes]]:
    ext = [("Sec-WebSocket-Extensions", "permessage-deflate; client_no_context_takeover")]
    hs = [
        ("c", upgrade_request(extra=ext if deflate else ())),
        ("s", upgrade_response(extra=ext if deflate else ())),
    ]
    return tcp_conversation(exchanges=hs + frames, linktype=linktype, mss=mss)


def _unusual_frames() -> list[tuple[str, bytes]]:
    """Frames the fast path must hand over, or handle outside its common case."""
    c, s = "c", "s"
    return [
        (s, ws_frame(1, b"hello")),
        (c, ws_frame(1, b"ping", mask=MASK)),  # an application heartbeat
        (s, ws_frame(1, b"pong")),
        (s, ws_frame(1, "héllo ✓".encode())),  # valid UTF-8, not ASCII
        (s, ws_frame(1, b"bad \xff utf-8")),  # invalid: the general path records it
        (s, ws_frame(1, _deflate("compressed ✓".encode()), rsv=4)),
        (c, ws_frame(1, _deflate(b"masked compressed"), rsv=4, mask=MASK)),
        (s, ws_frame(2, _deflate(bytes(range(256)) * 8), rsv=4)),
        (s, ws_frame(1, _deflate(b"bad \xfe inside"), rsv=4)),  # invalid UTF-8 after inflating
        (s, ws_frame(1, _deflate(b"cut \xe2\x82"), rsv=4)),  # ends inside a character
        (s, ws_frame(1, b"\x07\x07\x07 not deflate", rsv=4)),  # an inflate error
        (s, ws_frame(2, _deflate(b"after the error"), rsv=4)),
        (s, ws_frame(1, b"x" * 300, length_form=16)),
        (s, ws_frame(2, b"y" * 70000)),
        (s, ws_frame(2, b"short", length_form=16)),  # non-minimal length
        (c, ws_frame(9, b"p1", mask=MASK)),
        (s, ws_frame(10, b"p1")),
        (s, ws_frame(9, b"")),
        (c, ws_frame(10, b"", mask=MASK)),
        (s, ws_frame(1, b"frag", fin=False) + ws_frame(9, b"mid") + ws_frame(0, b"ment")),
        (s, ws_frame(2, b"unmasked-ok") + ws_frame(1, b"no mask from the client")),
        (c, ws_frame(1, b"unmasked client")),  # a violation
        (s, ws_frame(1, b"rsv2", rsv=2)),  # a violation
        (s, ws_frame(3, b"reserved")),  # a violation
        (s, ws_frame(0, b"continuation without a start")),
        (s, ws_frame(2, b"a") + ws_frame(2, b"b") + ws_frame(1, b"c")),  # packed
        (c, ws_frame(8, b"\x03\xe8bye", mask=MASK)),
        (s, ws_frame(8, b"\x03\xe8")),
        (s, ws_frame(1, b"after close")),  # a violation
    ]


@pytest.mark.parametrize("mss", [None, 5])
@pytest.mark.parametrize("mask", [MASK, None])
def test_inflate_error_in_the_tail(tmp_path: Path, mask: bytes | None, mss: int | None) -> None:
    """A compressed message that inflates (to invalid UTF-8) until the
    tail RFC 7692 appends brings out an error.  Both paths inflate a
    message's last bytes with the tail, in one call: the error discards
    that call's output, so a message in one segment is a deflate error of
    unknown UTF-8.  (When the fast path inflated message and tail together
    but the general path the tail alone, only the general path saw the
    invalid byte.)  Split into segments, the bytes inflated before the
    last segment are checked, on both paths alike."""
    payload = bytes.fromhex("4a4a4c51f8af905459920a20")  # "bad \xff byte", then an error
    d = zlib.decompressobj(-15)
    assert d.decompress(payload) == b"bad \xff byte"
    with pytest.raises(zlib.error):
        d.decompress(b"\x00\x00\xff\xff")
    side = "c" if mask else "s"
    path = tmp_path / "t.pcap"
    frames = [(side, ws_frame(1, payload, rsv=4, mask=mask)), ("s", ws_frame(1, b"after"))]
    path.write_bytes(build_pcap(_conversation(frames, mss=mss)))
    m = assert_same(path)
    codes = [v["code"] for v in m["violations"]]  # type: ignore[attr-defined, index]
    flags = m["messages.flags"][0]  # type: ignore[index]
    if mss is None:
        assert codes == ["deflate-error"]
        assert flags & 0x30 == 0x30  # UTF-8 and payload size unknown
    else:
        assert codes == ["invalid-utf8-text", "deflate-error"]
        assert flags & 0x18 == 0  # UTF-8 invalid


@pytest.mark.parametrize("linktype", [1, 113, 276, 101])
@pytest.mark.parametrize("mss", [60000, 7])
def test_unusual_frames(tmp_path: Path, linktype: int, mss: int) -> None:
    """Every frame kind and violation, whole in a segment or split, on
    every link type feed_pcap reads directly and one it does not."""
    path = tmp_path / "t.pcap"
    path.write_bytes(build_pcap(_conversation(_unusual_frames(), linktype, mss=mss), linktype))
    m = assert_same(path)
    codes = {v["code"] for v in m["violations"]}  # type: ignore[attr-defined, index]
    assert {"invalid-utf8-text", "deflate-error", "client-frame-unmasked"} <= codes
    assert len(m["heartbeats"]) >= 4  # type: ignore[arg-type]


def test_the_fast_paths_are_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a vacuous comparison: most packets skip Analyzer.packet and most
    frames skip FrameParser on the fast path."""
    from wscap.analyzer import Analyzer
    from wscap.frames import FrameParser

    calls = {"packet": 0, "frame": 0}
    packet, start = Analyzer.packet, FrameParser._start

    def count_packet(self: Analyzer, *args: object) -> None:
        calls["packet"] += 1
        packet(self, *args)  # type: ignore[arg-type]

    def count_frame(self: FrameParser, h: object) -> None:
        calls["frame"] += 1
        start(self, h)  # type: ignore[arg-type]

    monkeypatch.setattr(Analyzer, "packet", count_packet)
    monkeypatch.setattr(FrameParser, "_start", count_frame)
    frames = [("s", ws_frame(1, b"tick %d" % i)) for i in range(50)]
    frames += [("c", ws_frame(9, b"", mask=MASK)), ("s", ws_frame(10, b""))] * 10
    frames += [("s", ws_frame(2, _deflate(b"%d" % i * 50), rsv=4)) for i in range(20)]
    path = tmp_path / "t.pcap"
    path.write_bytes(build_pcap(_conversation(frames, mss=60000)))
    a = analyze(path)
    assert len(a.store.frames) == 90
    assert calls["frame"] == 0
    assert calls["packet"] < 12  # SYNs, the handshake's first segments, FINs
    calls.update(packet=0, frame=0)
    analyze(path, fast=False)
    assert calls["frame"] == 90
    assert calls["packet"] == a.capture.packets

    # Split frames: in one segment of 1460 bytes, a whole text frame of 1459
    # bytes and the first byte of the next one's 4-byte header; in the next
    # segments, the rest of it and its 3000-byte payload, then the end of
    # that payload with ten small frames behind it.  Only the frame whose
    # payload spans segments goes through the parser.
    burst = ws_frame(1, b"a" * 1455) + ws_frame(2, b"b" * 3000)
    burst += b"".join(ws_frame(1, b"tick %d" % i) for i in range(10))
    path.write_bytes(build_pcap(_conversation([("s", burst)], deflate=False, mss=1460)))
    calls.update(packet=0, frame=0)
    assert assert_same(path)["frames.payload_len"] == [1455, 3000] + [6] * 10
    assert calls["frame"] == 1 + 12  # the split frame, then all twelve on the general path


def test_timestamps_out_of_order(tmp_path: Path) -> None:
    """Packets whose timestamps go back in time (per-CPU buffers of
    ``tcpdump -i any``): the fast path marks silences the way Silence.mark
    does, which ignores a time before the latest one."""
    frames = [("s", ws_frame(1, b"tick %d" % i)) for i in range(30)]
    frames += [("c", ws_frame(2, b"up %d" % i, mask=MASK)) for i in range(10)]
    packets = _conversation(frames, deflate=False, mss=60000)
    # every fifth packet after the handshake is stamped 5 ms before the one
    # before it, or long before the connection's latest packet
    for k in range(8, len(packets) - 3, 5):
        back = 5_000_000 if k % 2 else 40_000_000
        packets[k] = (packets[k - 1][0] - back, packets[k][1])
    path = tmp_path / "t.pcap"
    path.write_bytes(build_pcap(packets))
    m = assert_same(path)
    assert m["capture"]["timestamps_out_of_order"] >= 6  # type: ignore[index]
    assert len(m["frames.ts"]) == 40  # type: ignore[arg-type]


@pytest.mark.parametrize("claim", [270_000, 0x7FFF0000])
def test_corrupt_record_length_inside_a_window(tmp_path: Path, claim: int) -> None:
    """A record claiming more than the file's limit (256 KiB here) is
    damage, whether the bytes it claims are in the window feed_pcap was
    given (270 kB, in a file of 1.1 MB) or not: both paths stop before it,
    after the same packets."""
    frames = [("s", ws_frame(2, bytes(1200))) for _ in range(900)]
    packets = _conversation(frames, deflate=False, mss=1460)
    raw = bytearray(build_pcap(packets))
    pos, k = 24, 0
    while k < 300:  # the 300th record
        pos += 16 + struct.unpack_from("<I", raw, pos + 8)[0]
        k += 1
    struct.pack_into("<I", raw, pos + 8, claim)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(raw))
    cap = assert_same(path)["capture"]
    assert cap["packets"] == 300  # type: ignore[index]
    assert f"byte {pos} " in cap["damage"]  # type: ignore[index, operator]


def test_size_cap(tmp_path: Path) -> None:
    """Messages larger than --max-message: counted as capped, the same way."""
    # the client's messages (no context takeover): each one starts afresh
    frames = [("c", ws_frame(1, _deflate(b"z" * 5000), rsv=4, mask=MASK)) for _ in range(3)]
    # the server's (context takeover): after the first, the window is lost
    frames += [("s", ws_frame(1, _deflate(b"z" * 5000), rsv=4)) for _ in range(3)]
    path = tmp_path / "cap.pcap"
    path.write_bytes(build_pcap(_conversation(frames, mss=60000)))
    m = assert_same(path, max_message=1000)
    assert m["capped"][0] == 4  # type: ignore[index]


def test_pcapng_same_on_both_frame_paths(tmp_path: Path) -> None:
    path = tmp_path / "t.pcapng"
    path.write_bytes(build_pcapng(_conversation(_unusual_frames(), mss=60000)))
    assert_same(path)


def test_load_matches(tmp_path: Path) -> None:
    """The public API goes through the fast path."""
    path = tmp_path / "t.pcap"
    path.write_bytes(build_pcap(_conversation(_unusual_frames(), mss=60000)))
    a = wscap.load(str(path))
    assert len(a.frames) == len(model(path, False)["frames.ts"])  # type: ignore[arg-type]


ARP = bytes(6) + b"\x02" * 6 + b"\x08\x06" + bytes(28)  # 42 bytes: shorter than any TCP packet


@pytest.mark.parametrize("only", [False, True])
def test_short_record_at_the_end_of_a_buffer(tmp_path: Path, only: bool) -> None:
    """A record too short to be a TCP packet, the last one in its buffer (or
    the only one): feed_pcap reads its header all the same (the file's last
    buffer ends with it; with ``only``, the buffer is shorter than the
    headers the fast path reads of a TCP packet)."""
    packets = [] if only else _conversation([("s", ws_frame(1, b"hi"))])
    packets = packets + [(1_600_000_000_123_456_789, ARP, 60)]  # also out of order
    path = tmp_path / "short.pcap"
    path.write_bytes(build_pcap(packets))
    cap = assert_same(path)["capture"]
    assert cap["packets"] == len(packets)  # type: ignore[index]
    assert cap["bytes"] == sum(len(p[1]) for p in packets[:-1]) + 60  # type: ignore[index]
    assert cap["timestamps_out_of_order"] == (0 if only else 1)  # type: ignore[index]
    assert cap["skipped"] == {"ARP": 1}  # type: ignore[index]


def test_sweeps_at_the_same_packets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """feed_pcap sweeps closed connections after the same packets (and with
    the same timestamps) as the general path, whichever path takes the
    packet at a sweep, and so does each shard of a sharded analysis (a late
    packet of a connection swept away starts a new one: where sweeps happen
    can change the model)."""
    import wscap.analyzer as an

    monkeypatch.setattr(an, "SWEEP_EVERY", 101)
    monkeypatch.setattr(an, "SWEEP_AFTER", 10**9)
    log: list[tuple[int, int, int]] = []
    sweep = an.Analyzer.sweep

    def logged(self: an.Analyzer, ts: int) -> None:
        log.append((self.capture.packets, ts, len(self.closing)))
        sweep(self, ts)

    monkeypatch.setattr(an.Analyzer, "sweep", logged)
    path = generated(tmp_path, 12000, 5)
    fast = model(path, True)
    fast_log = log[:]
    log.clear()
    ref = model(path, False)
    assert fast == ref
    assert fast_log == log
    assert len(log) > 100 and sum(closing for _p, _t, closing in log) > 100
    one = [(p, t) for p, t, _c in log]
    for k in range(3):
        log.clear()
        analyze_shard(PacketReader(str(path)), {}, (k, 3))
        assert [(p, t) for p, t, _c in log] == one, f"shard {k} of 3"


def _count_general_path(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list counting the packets Analyzer.packet (the general
    path) takes from now on."""
    from wscap.analyzer import Analyzer

    calls = [0]
    packet = Analyzer.packet

    def count_packet(self: Analyzer, *args: object) -> None:
        calls[0] += 1
        packet(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Analyzer, "packet", count_packet)
    return calls


# where the EtherType and the IP header are, per link type (as feed_pcap reads them)
LINK_AT = {1: (12, 14), 113: (14, 16), 276: (0, 20)}


def _noise(linktype: int) -> list[tuple[bytes, int]]:
    """Packets decode_tcp skips, each with the captured length to keep:
    ARP and UDP, which feed_pcap counts by itself, and their look-alikes it
    must leave to the general path (GTP-U, malformed, IP options, cut short)."""
    from helpers_packets import frame_ip, ip_packet

    et, ip = LINK_AT[linktype]

    def udp(sport: int, dport: int, body: bytes = b"dns?") -> bytes:
        return struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body

    def framed(ipb: bytes) -> bytes:
        return frame_ip(ipb, linktype)

    dns = ip_packet("10.0.0.9", "10.0.0.53", udp(5353, 53), proto=17)
    arp = bytearray(framed(dns))
    arp[et : et + 2] = b"\x08\x06"
    arp[ip:] = bytes(28)
    no_total = bytearray(dns)
    no_total[2:4] = b"\0\0"  # total length 0, as a TSO segment captured on the sender
    bad_total = bytearray(dns)
    bad_total[2:4] = b"\0\x0a"  # shorter than its header: malformed
    options = bytearray(dns[:20] + b"\x01\x01\x01\x00" + dns[20:])  # NOP NOP NOP EOL
    options[0] = 0x46
    options[2:4] = struct.pack("!H", len(options))
    gtp = ip_packet("10.0.0.9", "10.0.0.10", udp(2152, 4000, b"\x30\xff" + bytes(8)), proto=17)
    gtp_back = ip_packet("10.0.0.10", "10.0.0.9", udp(4000, 2152, b"\x30\xff" + bytes(8)), 17)
    full = [framed(x) for x in (dns, no_total, bad_total, bytes(options), gtp, gtp_back)]
    return [
        (bytes(arp), len(arp)),
        (bytes(arp), et + 1),  # cut inside the EtherType
        (full[0], len(full[0])),
        (full[1], len(full[1])),
        (full[2], len(full[2])),
        (full[3], len(full[3])),
        (full[4], len(full[4])),
        (full[5], len(full[5])),
        (full[4], ip + 22),  # GTP-U, cut before its destination port: UDP to decode_tcp
        (full[0], ip + 19),  # cut inside the IP header
    ]


@pytest.mark.parametrize("linktype", [1, 113, 276])
def test_noise_counted_by_the_fast_path(
    tmp_path: Path, linktype: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARP and UDP packets are counted by feed_pcap, by the reason
    decode_tcp gives, without the general path; what only looks like them
    goes through it. Noise sits between a connection's packets and ends
    the file (a record shorter than the headers feed_pcap reads, at the end
    of its buffer)."""
    conv = _conversation([("s", ws_frame(1, b"tick %d" % i)) for i in range(4)], linktype)
    noise = _noise(linktype)
    packets: list[tuple[int, bytes] | tuple[int, bytes, int]] = []
    for i, (ts, data) in enumerate(conv):
        packets.append((ts, data))
        if i % 2:
            for j, (n_data, n_len) in enumerate(noise):
                packets.append((ts + j + 1, n_data[:n_len], len(n_data)))
    last, last_len = noise[2]
    packets.append((packets[-1][0] + 1, last[:last_len]))
    path = tmp_path / "noise.pcap"
    path.write_bytes(build_pcap(packets, linktype))

    calls = _count_general_path(monkeypatch)
    rounds = len(conv) // 2
    cap = assert_same(path)["capture"]
    assert cap["skipped"] == {  # type: ignore[index]
        "ARP": rounds,
        "UDP": 4 * rounds + 1,  # one with IP options, from the general path
        "GTP-U tunnel (not decoded)": 2 * rounds,
        "malformed header": rounds,
        "truncated before the TCP header": 2 * rounds,
    }
    alone = tmp_path / "alone.pcap"
    alone.write_bytes(build_pcap(conv, linktype))
    calls[0] = 0
    analyze(alone)
    control = calls[0]  # SYNs, the handshake's first segments, FINs
    calls[0] = 0
    analyze(path)
    # per round: the cut ARP, GTP-U both ways, the malformed, the IP options,
    # the cut IP header
    assert calls[0] == control + 6 * rounds


def test_other_shards_control_packets_only_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard counts another shard's SYN, FIN and RST in bulk, as its
    other segments; a RST (or FIN) of such a flow that the general path saw
    (a segment with IP options) makes the shard forget the flow, both ways."""
    from helpers_packets import tcp_conversation

    from wscap.analyzer import Analyzer, shard_of

    ports: dict[int, int] = {}
    port = 50000
    while len(ports) < 2:
        ports.setdefault(shard_of(port, 80, 2), port)
        port += 1
    data = [("c", b"x" * 10), ("s", b"y" * 10)]
    mine = tcp_conversation(client=("10.0.0.1", ports[0]), exchanges=data)
    theirs = tcp_conversation(
        client=("10.0.0.1", ports[1]),
        exchanges=data,
        start_ns=1_700_000_000_000_500_000,
        end="rst",
    )
    ts, frame = theirs[3]  # the client's data: IP options added
    ip = bytearray(frame[14:34] + b"\x01\x01\x01\x00" + frame[34:])
    ip[0] = 0x46
    ip[2:4] = struct.pack("!H", len(ip))
    theirs[3] = (ts, frame[:14] + bytes(ip))
    path = tmp_path / "two.pcap"
    path.write_bytes(build_pcap(sorted(mine + theirs)))

    calls = _count_general_path(monkeypatch)
    alone = tmp_path / "alone.pcap"
    alone.write_bytes(build_pcap(mine))
    analyze(alone)
    control = calls[0]
    calls[0] = 0
    an = Analyzer(str(path), shard=(0, 2))
    with PacketReader(str(path)) as reader:
        an.read(reader)
    assert calls[0] == control + 1  # the segment with IP options
    port1 = struct.pack("!H", ports[1])
    assert [k for k in an.flows if port1 in (k[8:10], k[10:12])] == []
    one = plain_model(an.finish())
    assert one["capture"]["packets"] == len(mine + theirs)  # type: ignore[index]


def _byteswapped(pcap: bytes) -> bytes:
    """The same pcap file written in the other byte order."""
    out = [struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", pcap))]
    pos = 24
    while pos < len(pcap):
        sec, frac, caplen, orig = struct.unpack_from("<IIII", pcap, pos)
        out.append(
            struct.pack(">IIII", sec, frac, caplen, orig) + pcap[pos + 16 : pos + 16 + caplen]
        )
        pos += 16 + caplen
    return b"".join(out)


def test_either_byte_order(tmp_path: Path) -> None:
    """feed_pcap follows a big-endian file's records to the model of the
    same capture written little-endian."""
    little = build_pcap(_conversation(_unusual_frames(), mss=7))
    big = _byteswapped(little)
    assert big[:4] == b"\xa1\xb2\x3c\x4d" and big != little
    (tmp_path / "little.pcap").write_bytes(little)
    (tmp_path / "big.pcap").write_bytes(big)
    m = assert_same(tmp_path / "big.pcap")
    ref = model(tmp_path / "little.pcap")
    for m_or_ref in (m, ref):
        m_or_ref["capture"]["path"] = None  # type: ignore[index]
    assert m == ref


def test_reverse_key() -> None:
    """The other direction's flows key, for IPv4 and IPv6 flows."""
    from wscap.analyzer import reverse_key

    v4 = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!HH", 50000, 80)
    assert reverse_key(v4) == bytes([10, 0, 0, 2, 10, 0, 0, 1]) + struct.pack("!HH", 80, 50000)
    v6 = bytes(range(16)) + bytes(range(100, 116)) + struct.pack("!HH", 1, 2)
    assert reverse_key(v6) == bytes(range(100, 116)) + bytes(range(16)) + struct.pack("!HH", 2, 1)
    assert reverse_key(reverse_key(v6)) == v6
