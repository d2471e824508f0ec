#!/usr/bin/env python3
"""How fast plain CPython can go through a capture doing the least a WebSocket analysis needs.

A minimal loop in the spirit of the prototype issue 5 quotes (mmap, one ``struct.unpack_from``
per record and one per header, no object per packet): in-order TCP per direction (out-of-order
and retransmitted segments are dropped, not reassembled), HTTP heads found until a 101 response,
then WebSocket frame headers, their payloads skipped, and a count of frames per opcode. Nothing
else: no messages, deflate, UTF-8, masks, heartbeats, silences, gaps or findings, no IPv6, VLAN
or link types other than Ethernet, no pcapng, no damage handling. It is a yardstick for wscap's
hot path, not an analyzer; its frame count is printed beside the generator's truth so that a
reader can see it did the work.

Usage::

    python benchmarks/floor.py benchmarks/data/ws-100M-s1.pcap
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import sys
import time

RECORD = struct.Struct("<IIII").unpack_from  # little-endian microsecond pcap, as gen.py writes
# from the Ethernet header: EtherType; IPv4 version/IHL, total length, protocol; TCP sequence,
# data offset, flags (the 12 address and port bytes are sliced as the flow key)
HEADERS = struct.Struct("!12xHBxH5xB10x4xIxxxxBB").unpack_from
U16 = struct.Struct("!H").unpack_from
U64 = struct.Struct("!Q").unpack_from
SYN = 0x02
HTTP, WS = 0, 1


def run(path: str) -> tuple[int, list[int], float]:
    """Packets, frames per opcode and CPU seconds for the capture at ``path``."""
    t0 = time.process_time()
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = len(mm)
    # per direction: [next sequence number, HTTP or WS, bytes kept, payload bytes to skip]
    flows: dict[bytes, list] = {}
    opcodes = [0] * 16
    packets = 0
    pos = 24
    while pos + 16 <= n:
        caplen = RECORD(mm, pos)[2]
        p = pos + 16
        pos = p + caplen
        packets += 1
        if caplen < 54:
            continue
        etype, vihl, total, proto, seq, doff, flags = HEADERS(mm, p)
        if etype != 0x0800 or vihl != 0x45 or proto != 6:
            continue
        key = mm[p + 26 : p + 38]
        st = flows.get(key)
        if flags & SYN:
            flows[key] = [(seq + 1) & 0xFFFFFFFF, HTTP, b"", 0]
            continue
        thl = (doff >> 4) * 4
        size = total - 20 - thl
        if st is None or size <= 0 or seq != st[0]:
            continue
        st[0] = (seq + size) & 0xFFFFFFFF
        start = p + 34 + thl
        if st[1] == HTTP:
            data = st[2] + mm[start : start + size]
            end = data.find(b"\r\n\r\n")
            if end < 0:
                st[2] = data[-65536:]
                continue
            st[2] = b""
            if not data.startswith(b"HTTP/1.1 101"):
                continue
            # upgraded: both directions carry frames from here
            st[1] = WS
            back = flows.get(key[4:8] + key[:4] + key[10:12] + key[8:10])
            if back is not None:
                back[1] = WS
                back[2] = b""
            data = data[end + 4 :]
        else:
            skip = st[3]
            if skip >= size:
                st[3] = skip - size
                continue
            data = mm[start + skip : start + size]
            if st[2]:
                data = st[2] + data
        i = 0
        left = len(data)
        while left - i >= 2:
            b1 = data[i + 1]
            length = b1 & 127
            head = 2
            if length == 126:
                if left - i < 4:
                    break
                length = U16(data, i + 2)[0]
                head = 4
            elif length == 127:
                if left - i < 10:
                    break
                length = U64(data, i + 2)[0]
                head = 10
            if b1 & 128:
                head += 4
            if left - i < head:
                break
            opcodes[data[i] & 15] += 1
            i += head + length
        if i > left:
            st[2] = b""
            st[3] = i - left
        else:
            st[2] = data[i:]
            st[3] = 0
    return packets, opcodes, time.process_time() - t0


def main() -> int:
    path = sys.argv[1]
    packets, opcodes, cpu = run(path)
    frames = sum(opcodes)
    truth_path = os.path.splitext(path)[0] + ".truth.json"
    truth = ""
    if os.path.exists(truth_path):
        with open(truth_path) as f:
            truth = f" (the generator's truth: {json.load(f)['frames_total']:,})"
    print(
        f"{path}: {packets:,} packets, {frames:,} frames{truth} in {cpu:.2f} s of CPU: "
        f"{packets / cpu / 1000:.0f} k packets/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
