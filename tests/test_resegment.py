"""Property: re-segmenting a real capture's TCP streams (random segment
sizes, duplicated and locally reordered segments) changes nothing in the
frames and messages wscap finds."""

from __future__ import annotations

import io
import ipaddress
import random

import dpkt
import pytest
from helpers_packets import ip_packet, tcp_segment
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import SHARED, manifest

import wscap
from wscap.decode import decode_tcp
from wscap.pcapfile import PacketReader

CAPTURES = [
    r["path"]
    for r in (manifest() if (SHARED / "MANIFEST.tsv").exists() else [])
    if "GTP" not in r["link_type"]
]


def tcp_packets(path) -> list[tuple]:
    out = []
    for ts, lt, data, _orig in PacketReader(path):
        r = decode_tcp(lt, data)
        if isinstance(r, str):
            continue
        src, dst, sport, dport, seq, ack, flags, start, wire = r
        out.append((ts, src, dst, sport, dport, seq, ack, flags, data[start : start + wire]))
    return out


def raw_ip(src: bytes, dst: bytes, sport, dport, seq, ack, flags, payload) -> bytes:
    """One TCP segment as a raw IP packet, addresses as decoded (bytes)."""
    return ip_packet(
        str(ipaddress.ip_address(src)),
        str(ipaddress.ip_address(dst)),
        tcp_segment(sport, dport, seq, ack, flags, payload),
    )


def resegment(packets: list[tuple], rnd: random.Random) -> bytes:
    """The same conversation with each packet's payload cut into random
    pieces, some duplicated, some swapped with their neighbour.

    One exception: where a direction's SYN is not in the capture, its first
    data packet is not reordered.  Nothing tells where such a stream starts
    but the first segment seen, so bytes that arrive later with an earlier
    sequence number are taken as retransmissions (the README says so).
    """
    buf = io.BytesIO()
    w = dpkt.pcap.Writer(buf, linktype=dpkt.pcap.DLT_RAW, nano=True)
    with_syn = {p[1:5] for p in packets if p[7] & dpkt.tcp.TH_SYN}
    started: set[tuple] = set()
    for ts, src, dst, sport, dport, seq, ack, flags, payload in packets:
        key = (src, dst, sport, dport)
        may_reorder = key in with_syn or key in started
        if payload:
            started.add(key)
        if not payload:
            w.writepkt(raw_ip(src, dst, sport, dport, seq, ack, flags, b""), ts / 1e9)
            continue
        pieces = []
        pos = 0
        while pos < len(payload):
            n = rnd.randint(1, max(1, len(payload) // rnd.choice((1, 2, 3, 8)) or 1))
            pieces.append((pos, payload[pos : pos + n]))
            pos += n
        out = []
        for i, (off, piece) in enumerate(pieces):
            last = i == len(pieces) - 1
            f = flags if last else flags & ~(dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST)
            out.append(((seq + off) & 0xFFFFFFFF, f, piece))
            if rnd.random() < 0.2:  # a duplicate, as tcpdump -i any records them
                out.append(out[-1])
        for i in range(len(out) - 1):  # local reordering
            if may_reorder and rnd.random() < 0.2 and not out[i][1] & dpkt.tcp.TH_FIN:
                out[i], out[i + 1] = out[i + 1], out[i]
        for s, f, piece in out:
            w.writepkt(raw_ip(src, dst, sport, dport, s, ack, f, piece), ts / 1e9)
    return buf.getvalue()


def summary(a: wscap.Analysis) -> tuple:
    frames = a.frames.drop(columns=["ts", "ts_end"])
    frames = frames.sort_values(["conn_id", "direction"], kind="stable").reset_index(drop=True)
    messages = a.messages.drop(columns=["ts_first", "ts_last"])
    messages = messages.sort_values(["conn_id", "direction"], kind="stable").reset_index(drop=True)
    conns = a.connections[
        [
            "client",
            "server",
            "websocket",
            "handshake",
            "close_code_client",
            "close_code_server",
            "frames_client",
            "frames_server",
            "capture_gaps",
        ]
    ]
    return frames.to_dict("records"), messages.to_dict("records"), conns.to_dict("records")


_originals: dict[str, tuple] = {}


@pytest.mark.parametrize("capture", CAPTURES)
@given(seed=st.integers(0, 2**32))
@settings(max_examples=8, deadline=None)
def test_resegmented_capture_gives_same_frames(tmp_path_factory, capture, seed):
    path = SHARED / capture
    if capture not in _originals:
        _originals[capture] = (tcp_packets(path), summary(wscap.load(path)))
    packets, expected = _originals[capture]
    out = tmp_path_factory.mktemp("reseg") / "x.pcap"
    out.write_bytes(resegment(packets, random.Random(seed)))
    got = summary(wscap.load(out))
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert got[2] == expected[2]
