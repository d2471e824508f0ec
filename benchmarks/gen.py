#!/usr/bin/env python3
"""Deterministic generator of large, realistic WebSocket captures for benchmarking wscap.

Writes a classic pcap file (little-endian, microsecond timestamps, Ethernet link type) plus a
sidecar ``NAME.truth.json`` holding the generator's own counts (packets, WebSocket connections,
frames per opcode and direction, messages, ...) so that a benchmark can check a dissector's counts.

The traffic is simulated as seen on the server's side of the network (ingress capture point):

* hundreds of concurrent TCP connections from many clients to a few servers (ports 80, 8080 and
  9001; tshark needs ``-d tcp.port==9001,http`` for the latter), 3-way handshakes, correct
  seq/ack (some initial sequence numbers close to 2**32 so they wrap), delayed ACKs (every second
  segment, or 40 ms later unless a reply carries the ACK), correct IP and TCP checksums;
* HTTP/1.1 Upgrade handshakes with valid Sec-WebSocket-Key/Accept, a few rejected (403);
* masked client frames (real XOR masking), unmasked server frames, sizes from 2 B to 64 KiB with
  mostly small frames, several frames packed in one segment, frames split across segments, a frame
  header alone in its own segment, the first server frame in the same segment as the 101 response;
* fragmented messages (sometimes with a ping between fragments), permessage-deflate negotiated on
  some connections with really compressed payloads (raw deflate, RSV1, with or without context
  takeover), pings every ~20 s answered by pongs, idle gaps;
* closes with status codes followed by FIN/ACK, some RSTs, some retransmissions (lost downstream of
  the capture point, dup ACKs, fast retransmit), spurious retransmissions and exact duplicates;
* non-WebSocket noise: plain HTTP request/response, DNS over UDP, ARP.

Everything derives from one seeded ``random.Random``: the same seed and size give the same bytes.
Packets are built with precompiled ``struct.Struct`` objects (dpkt's packet classes are far too
slow for gigabytes); dpkt is only used by ``--check`` to verify checksums and handshakes.

Usage::

    python benchmarks/gen.py --size 100M            # -> benchmarks/data/ws-100M-s1.pcap
    python benchmarks/gen.py --size 1G --seed 7 -o /tmp/big.pcap
    python benchmarks/gen.py --packets 20000 --check
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import json
import math
import os
import random
import struct
import sys
import time
import zlib
from collections.abc import Generator, Iterator

GENERATOR_VERSION = 3
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
US = 1_000_000
START_US = 1_764_201_600 * US  # 2025-11-27T00:00:00Z; fixed so output is deterministic
MASK32 = 0xFFFFFFFF
SNAPLEN = 262144

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OPNAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
C2S, S2C = 0, 1
DIRNAMES = ("client_to_server", "server_to_client")

PCAP_HDR = struct.Struct("<IHHiIII")
REC = struct.Struct("<IIII")
# Ethernet + IPv4 (no options) + TCP (no options); checksums filled in by the caller.
ETH_IP_TCP = struct.Struct("!6s6sHBBHHHBBHIIHHIIBBHHH")
ETH_IP_UDP = struct.Struct("!6s6sHBBHHHBBHIIHHHH")
ETH_ARP = struct.Struct("!6s6sHHHBBH6sI6sI")
U16, U64 = struct.Struct("!H"), struct.Struct("!Q")
FRAME_HDR16 = struct.Struct("!BBH")
FRAME_HDR64 = struct.Struct("!BBQ")

# Traffic mixes: the weights of the connection profiles (ticker, chat, rpc, bulk, idle) and
# the share of WebSocket connections that stay open until the capture ends (the others live
# from 5 s to an hour).
# - "default": many short connections and small frames, the harder case per byte;
# - "reference": fitted to the capture issue 5 set its targets on (per GiB: 2.05 M packets,
#   337 WebSocket connections, 861 k frames): long-lived connections, more bulk transfers.
MIXES = {
    "default": ((30, 25, 20, 10, 15), 0.0),
    "reference": ((22, 20, 20, 28, 10), 0.9),
}

SERVERS = [  # (ip, mac, ports)
    ("192.168.10.11", b"\x02\x42\xc0\xa8\x0a\x0b", (80, 80, 8080)),
    ("192.168.10.12", b"\x02\x42\xc0\xa8\x0a\x0c", (80, 8080, 8080)),
    ("192.168.10.13", b"\x02\x42\xc0\xa8\x0a\x0d", (9001,)),
]
GATEWAY_MAC = b"\x00\x1c\x73\x00\x00\x01"
RESOLVER_IP = "192.168.10.2"
RESOLVER_MAC = b"\x02\x42\xc0\xa8\x0a\x02"
BROADCAST = b"\xff" * 6
NON_HTTP_DEFAULT_PORTS = (9001,)  # server ports tshark does not dissect as HTTP by default

SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Parse a size such as ``100M``, ``1G``, ``4G`` or ``123456`` into bytes (binary units)."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in SIZE_UNITS and not t[-1:].isdigit() else ""
    number = t[: len(t) - len(unit)]
    return int(float(number) * SIZE_UNITS[unit])


def ip2int(ip: str) -> int:
    """Return the 32-bit integer of a dotted IPv4 address."""
    a, b, c, d = (int(x) for x in ip.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def csum_finish(total: int) -> int:
    """Turn a plain sum of 16-bit words (any size) into an Internet checksum.

    The ones'-complement sum of 16-bit words is congruent to the plain integer sum modulo 0xFFFF
    (as 2**16 = 1 mod 0xFFFF), so a payload's contribution is simply ``int.from_bytes(payload)``:
    one C-level conversion instead of a per-word Python loop. ``total`` is never 0 here.
    """
    r = total % 0xFFFF
    return 0xFFFF - r if r else 0


def payload_sum(payload: bytes) -> int:
    """Return the 16-bit-word sum contribution of ``payload`` (padded to even length)."""
    n = int.from_bytes(payload, "big")
    return n << 8 if len(payload) & 1 else n


def ws_accept(key: str) -> str:
    """Return the Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455, 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


class Conn:
    """State of one simulated TCP connection (both directions, indexed C2S=0 / S2C=1)."""

    __slots__ = (
        "cid", "kind", "cip", "sip", "cport", "sport", "macs", "ips", "ports", "seq", "ipid",
        "ipc", "tcpc", "ttl", "win", "mss", "rtt", "gap", "delack", "profile", "deflate",
        "no_ctx", "comp", "frames", "msgs", "compressed", "fragmented", "close", "rst",
        "wire_payload", "msg_bytes", "rejected", "pinger", "syn_opts", "isn", "http_requests",
        "host",
    )

    def __init__(self, cid: int, kind: str, cip: str, cport: int, sip: str, sport: int,
                 smac: bytes) -> None:
        self.cid = cid
        self.kind = kind
        self.cip, self.sip, self.cport, self.sport = cip, sip, cport, sport
        ci, si = ip2int(cip), ip2int(sip)
        self.macs = ((smac, GATEWAY_MAC), (GATEWAY_MAC, smac))  # (dst, src) per direction
        self.ips = ((ci, si), (si, ci))
        self.ports = ((cport, sport), (sport, cport))
        self.seq = [0, 0]
        self.ipid = [0, 0]
        self.ttl = (0, 64)
        self.ipc = (0, 0)
        self.tcpc = (0, 0)
        self.win = (0, 0)
        self.mss = 1460
        self.rtt = 0
        self.gap = (0.0, 0.0)
        self.delack = 40_000
        self.profile = ""
        self.deflate = False
        self.no_ctx = False
        self.comp: list = [None, None]
        self.frames = [[0] * 16, [0] * 16]
        self.msgs = [[0] * 16, [0] * 16]
        self.compressed = [0, 0]
        self.fragmented = [0, 0]
        self.wire_payload = [0, 0]
        self.msg_bytes = [0, 0]
        self.close: dict | None = None
        self.rst: str | None = None
        self.rejected = False
        self.pinger = S2C
        self.syn_opts = b""
        self.isn = (0, 0)
        self.http_requests = 0
        self.host = ""

    def setup(self, rng: random.Random, ttl_c: int) -> None:
        """Precompute the constant parts of IP/TCP checksums and draw the path parameters."""
        self.ttl = (ttl_c, 64)
        ipc, tcpc = [], []
        for d in (C2S, S2C):
            src, dst = self.ips[d]
            ipc.append(0x4500 + 0x4000 + ((self.ttl[d] << 8) | 6) + src + dst)
            tcpc.append(src + dst + 6 + self.ports[d][0] + self.ports[d][1])
        self.ipc, self.tcpc = tuple(ipc), tuple(tcpc)
        self.win = (rng.choice((501, 502, 512, 1024, 2048)), rng.choice((501, 502, 509, 249)))
        self.mss = rng.choice((1460,) * 8 + (1400, 1380))
        self.syn_opts = (b"\x02\x04" + U16.pack(self.mss) + b"\x01\x03\x03\x07\x01\x01\x04\x02")
        self.rtt = int(rng.lognormvariate(math.log(30_000), 0.7)) + 1_000  # client RTT, us
        bw = rng.choice((5, 10, 20, 50, 100, 300))  # client uplink, Mbit/s
        self.gap = (8.0 / bw, 8.0 / 1000)  # us per byte: client uplink / server 1 Gbit/s
        self.delack = 40_000 if rng.random() < 0.9 else 200_000
        if rng.random() < 0.05:  # ISN near the top of the space: sequence numbers wrap
            isn_c = MASK32 - rng.randrange(0, 200_000)
        else:
            isn_c = rng.getrandbits(32)
        isn_s = MASK32 - rng.randrange(0, 50_000) if rng.random() < 0.03 else rng.getrandbits(32)
        self.isn = (isn_c, isn_s)


class Generator_:
    """Event-driven traffic simulator writing a pcap file in timestamp order."""

    def __init__(self, out_path: str, seed: int, size: int | None, packets: int | None,
                 concurrency: int, mix: str = "default") -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.profile_weights, self.long_lived = MIXES[mix]
        self.seed = seed
        self.out_path = out_path
        self.target_size = size
        self.target_packets = packets
        self.concurrency = concurrency
        self.now = START_US
        self.pq: list = []          # (ts_us, order, record bytes) not yet written
        self.steps: list = []       # (wake_us, order, generator)
        self.order = 0
        self.emitted_bytes = PCAP_HDR.size
        self.emitted_packets = 0
        self.stopping = False
        self.active = 0
        self.conns: list[Conn] = []
        self.used_endpoints: set = set()
        self.next_cid = 0
        self.client_ips = [f"10.{20 + i // 200}.{(i * 7) % 250 + 1}.{(i * 13) % 250 + 2}"
                           for i in range(400)]
        self.client_ttl = {ip: self.rng.choice((49, 52, 54, 56, 57, 60, 63, 115, 119))
                           for ip in self.client_ips}
        self.dns_id = 0
        self.noise = {"dns_queries": 0, "dns_responses": 0, "arp_requests": 0, "arp_replies": 0,
                      "http_connections": 0, "http_requests": 0}
        self.stats = {"retransmissions": 0, "spurious_retransmissions": 0, "duplicates": 0,
                      "split_headers": 0, "first_frame_with_101": 0}
        self.size_hist = [0, 0, 0, 0]  # frame payload (on the wire) <126, <1K, <16K, <=64K
        self._build_pools()

    # ------------------------------------------------------------------ payload pools
    def _build_pools(self) -> None:
        """Precompute payload material so that per-message work is a slice or a format."""
        rng = self.rng
        self.rand_buf = rng.randbytes(1 << 21)  # incompressible binary
        recs = []
        for i in range(40_000):  # protobuf-like records: compressible binary
            recs.append(struct.pack("!BIHdq", 0x0A, i, rng.randrange(64), rng.random() * 100,
                                    rng.randrange(1 << 20)))
        self.struct_buf = b"".join(recs)
        syms = ["BTC-USD", "ETH-USD", "SOL-USD", "EUR-USD", "AAPL", "MSFT", "NVDA", "TSLA",
                "GBP-USD", "XAU-USD", "DOGE-USD", "ADA-USD"]
        self.syms = syms
        words = ("the quick brown fox jumps over lazy dog hello world ok thanks see you "
                 "tomorrow meeting déjà vu café naïve 日本語 テスト 😀 status update deploy "
                 "release build green red ship it lgtm").split()
        self.words = words
        docs = []
        for _ in range(192):  # large JSON documents (snapshots, RPC results), 1 KiB..60 KiB
            target = int(min(60_000, max(1024, rng.lognormvariate(math.log(6000), 1.0))))
            rows, size = [], 2
            while size < target:
                r = (f'{{"id":{rng.randrange(1 << 30)},"sym":"{rng.choice(syms)}",'
                     f'"px":{rng.uniform(1, 70000):.2f},"qty":{rng.uniform(0, 50):.4f},'
                     f'"side":"{rng.choice(("buy", "sell"))}",'
                     f'"ts":{1764201600000 + rng.randrange(10**7)}}}')
                rows.append(r)
                size += len(r) + 1
            docs.append(('{"type":"snapshot","rows":[' + ",".join(rows) + "]}").encode())
        self.docs = docs

    def text_small(self, kind: str) -> bytes:
        """Return a small realistic JSON text message of the given kind."""
        rng = self.rng
        if kind == "tick":
            return (f'{{"type":"tick","sym":"{rng.choice(self.syms)}",'
                    f'"px":{rng.uniform(1, 70000):.2f},"qty":{rng.uniform(0, 5):.4f},'
                    f'"seq":{rng.randrange(1 << 31)},"ts":{self.now // 1000}}}').encode()
        if kind == "sub":
            chans = ",".join(f'"{s}"' for s in rng.sample(self.syms, rng.randint(1, 6)))
            return (f'{{"op":"subscribe","channels":[{chans}],'
                    f'"id":{rng.randrange(1 << 20)}}}').encode()
        if kind == "chat":
            n = max(1, int(rng.lognormvariate(math.log(8), 1.0)))
            text = " ".join(rng.choice(self.words) for _ in range(min(n, 300)))
            return json.dumps({"type": "msg", "room": f"r{rng.randrange(50)}",
                               "from": f"u{rng.randrange(10_000)}", "text": text},
                              ensure_ascii=False).encode()
        if kind == "rpc":
            method = rng.choice(("getBook", "getTrades", "ping", "getUser", "listOrders"))
            return (f'{{"jsonrpc":"2.0","method":"{method}","params":{{"sym":'
                    f'"{rng.choice(self.syms)}","depth":{rng.randint(1, 50)}}},'
                    f'"id":{rng.randrange(1 << 24)}}}').encode()
        if kind == "hb":
            return b'{"type":"heartbeat","ts":%d}' % (self.now // 1000)
        return b'{"type":"welcome","server":"ws-%d","version":"2.4.1"}' % rng.randrange(16)

    def text_sized(self, n: int) -> bytes:
        """Return a JSON-like text payload of about ``n`` bytes (small ones are real JSON)."""
        if n < 160:
            return self.text_small(self.rng.choice(("tick", "chat", "rpc", "hb")))
        doc = self.rng.choice(self.docs)
        if len(doc) >= n:
            return doc[:n]  # ASCII only, so any cut is valid UTF-8
        reps = n // len(doc) + 1
        return (doc * reps)[:n]

    def binary(self, n: int) -> bytes:
        """Return ``n`` bytes of binary payload: half incompressible, half structured."""
        rng = self.rng
        buf = self.rand_buf if rng.random() < 0.5 else self.struct_buf
        off = rng.randrange(0, len(buf) - n) if n < len(buf) else 0
        return buf[off:off + n]

    # ------------------------------------------------------------------ packet output
    def _push(self, t: int, rec: bytes) -> None:
        """Queue one finished pcap record for writing at time ``t``."""
        self.order += 1
        heapq.heappush(self.pq, (t, self.order, rec))
        self.emitted_bytes += len(rec)
        self.emitted_packets += 1

    def tcp(self, t: int, c: Conn, d: int, flags: int, seq: int, ack: int,
            payload: bytes = b"", syn: bool = False) -> bytes:
        """Build and queue one Ethernet/IPv4/TCP packet of connection ``c`` in direction ``d``."""
        opts = c.syn_opts if syn else b""
        hl = 20 + len(opts)
        tcp_len = hl + len(payload)
        total = 20 + tcp_len
        ipid = c.ipid[d]
        c.ipid[d] = (ipid + 1) & 0xFFFF
        ipsum = csum_finish(c.ipc[d] + total + ipid)
        offflags = ((hl >> 2) << 12) | flags
        win = 65535 if syn else c.win[d]
        s = c.tcpc[d] + tcp_len + seq + ack + offflags + win
        if opts:
            s += int.from_bytes(opts, "big")
        if payload:
            s += payload_sum(payload)
        dst, src = c.macs[d]
        caplen = 14 + total
        rec = (REC.pack(t // US, t % US, caplen, caplen)
               + ETH_IP_TCP.pack(dst, src, 0x0800, 0x45, 0, total, ipid, 0x4000, c.ttl[d], 6,
                                 ipsum, c.ips[d][0], c.ips[d][1], c.ports[d][0], c.ports[d][1],
                                 seq, ack, (hl >> 2) << 4, flags, win, csum_finish(s), 0)
               + opts + payload)
        self._push(t, rec)
        return rec

    def udp(self, t: int, dmac: bytes, smac: bytes, sip: str, dip: str, sport: int, dport: int,
            payload: bytes, ttl: int, ipid: int) -> None:
        """Build and queue one Ethernet/IPv4/UDP packet."""
        si, di = ip2int(sip), ip2int(dip)
        ulen = 8 + len(payload)
        total = 20 + ulen
        ipsum = csum_finish(0x4500 + ((ttl << 8) | 17) + total + ipid + si + di)
        usum = csum_finish(si + di + 17 + ulen + sport + dport + ulen + payload_sum(payload))
        caplen = 14 + total
        self._push(t, REC.pack(t // US, t % US, caplen, caplen)
                   + ETH_IP_UDP.pack(dmac, smac, 0x0800, 0x45, 0, total, ipid, 0, ttl, 17, ipsum,
                                     si, di, sport, dport, ulen, usum or 0xFFFF)
                   + payload)

    def flush(self, upto: int, f) -> None:
        """Write every queued packet with a timestamp <= ``upto`` (no later step can precede)."""
        pq, out = self.pq, self.out
        pop = heapq.heappop
        while pq and pq[0][0] <= upto:
            out.append(pop(pq)[2])
        if len(out) >= 2048:
            f.write(b"".join(out))
            out.clear()

    # ------------------------------------------------------------------ TCP stream model
    def write(self, t: int, c: Conn, d: int, data: bytes, reply_soon: bool = False,
              split_at: int = 0) -> tuple[int, int]:
        """Send ``data`` as one application write from side ``d`` starting at ``t``.

        Emits the data segments (MSS-sized; the first one cut at ``split_at`` if given) and the
        receiver's ACKs: one per two segments, the last one delayed unless ``reply_soon`` (the
        reply will carry it). Occasionally a segment is lost downstream of the capture point
        (dup ACKs, then a fast retransmit), retransmitted spuriously, or captured twice.
        Returns (time of the last data segment, time of the last packet of the exchange).
        """
        rng = self.rng
        n = len(data)
        mss = c.mss
        seq0 = c.seq[d]
        peer = c.seq[1 - d]
        e = 1 - d
        gap = c.gap[d]
        rdelay = 30 + rng.randrange(80) if d == C2S else c.rtt + rng.randrange(200)
        bounds = []
        a = 0
        if 0 < split_at < n:
            bounds.append((0, split_at))
            a = split_at
        while a < n:
            b = min(n, a + mss)
            bounds.append((a, b))
            a = b
        tt = t
        end = t
        unacked = 0
        lost_seq = -1
        lost_rec = b""
        nseg = len(bounds)
        after_loss = 0
        for i, (a, b) in enumerate(bounds):
            last = i == nseg - 1
            seg = data[a:b]
            rec = self.tcp(tt, c, d, (ACK | PSH) if last else ACK, (seq0 + a) & MASK32, peer, seg)
            if lost_seq >= 0:
                after_loss += 1
            r = rng.random()
            if r < 0.0008:  # exact duplicate, same timestamp (e.g. a doubly mirrored port)
                self._push(tt, rec)
                self.stats["duplicates"] += 1
            elif r < 0.0028 and lost_seq < 0 and d == S2C:  # lost after the capture point
                lost_seq, lost_rec = (seq0 + a) & MASK32, rec
            elif r < 0.0036:  # spurious retransmission after a RTO (ACK was slow)
                rt = tt + max(200_000, 2 * c.rtt) + rng.randrange(5000)
                self.tcp(rt, c, d, ACK | PSH, (seq0 + a) & MASK32, peer, seg)
                self.tcp(rt + rdelay, c, e, ACK, peer, (seq0 + n) & MASK32)  # D-SACK-ish dup
                self.stats["spurious_retransmissions"] += 1
                end = max(end, rt + rdelay)
            unacked += 1
            if unacked >= 2 or (last and not reply_soon) or lost_seq >= 0:
                at = tt + rdelay + (0 if unacked >= 2 or lost_seq >= 0 else c.delack)
                ackv = lost_seq if lost_seq >= 0 else (seq0 + b) & MASK32
                self.tcp(at, c, e, ACK, peer, ackv)
                unacked = 0
                end = max(end, at)
            end = max(end, tt)
            if not last:
                tt += int((b - a + 54) * gap) + rng.randrange(3)
        if lost_seq >= 0:
            rt = max(end, tt + c.rtt) + (1000 if after_loss >= 3 else 200_000)
            body = lost_rec[16 + 54:]
            self.tcp(rt, c, d, ACK | PSH, lost_seq, peer, body)
            at = rt + rdelay
            self.tcp(at, c, e, ACK, peer, (seq0 + n) & MASK32)
            self.stats["retransmissions"] += 1
            end = max(end, at)
        c.seq[d] = (seq0 + n) & MASK32
        return tt, end

    def react(self, c: Conn, d: int) -> int:
        """Delay (us) between a packet seen at the capture point and side ``d``'s reply to it."""
        if d == S2C:
            return 50 + self.rng.randrange(700)
        return c.rtt + 100 + int(self.rng.expovariate(1 / 1500))

    def tcp_open(self, t: int, c: Conn) -> int:
        """Emit the 3-way handshake; returns the time of the client's final ACK."""
        isn_c, isn_s = c.isn
        self.tcp(t, c, C2S, SYN, isn_c, 0, syn=True)
        t2 = t + self.react(c, S2C)
        self.tcp(t2, c, S2C, SYN | ACK, isn_s, (isn_c + 1) & MASK32, syn=True)
        t3 = t2 + self.react(c, C2S) - 100
        c.seq = [(isn_c + 1) & MASK32, (isn_s + 1) & MASK32]
        self.tcp(t3, c, C2S, ACK, c.seq[C2S], c.seq[S2C])
        return t3

    def tcp_fin(self, t: int, c: Conn, first: int) -> int:
        """Close with FIN from side ``first``, FIN from the other, final ACK; returns end time."""
        o = 1 - first
        self.tcp(t, c, first, FIN | ACK, c.seq[first], c.seq[o])
        c.seq[first] = (c.seq[first] + 1) & MASK32
        t2 = t + self.react(c, o)
        self.tcp(t2, c, o, FIN | ACK, c.seq[o], c.seq[first])
        c.seq[o] = (c.seq[o] + 1) & MASK32
        t3 = t2 + self.react(c, first)
        self.tcp(t3, c, first, ACK, c.seq[first], c.seq[o])
        return t3

    def tcp_rst(self, t: int, c: Conn, d: int) -> int:
        """Abort with RST|ACK from side ``d``."""
        self.tcp(t, c, d, RST | ACK, c.seq[d], c.seq[1 - d])
        c.rst = DIRNAMES[d]
        return t

    # ------------------------------------------------------------------ WebSocket framing
    def frame(self, c: Conn, d: int, opcode: int, payload: bytes, fin: bool = True,
              rsv1: bool = False) -> bytes:
        """Encode one frame (masked with a random key when sent by the client); count it."""
        n = len(payload)
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mbit = 0x80 if d == C2S else 0
        if n < 126:
            hdr = bytes((b0, mbit | n))
        elif n < 65536:
            hdr = FRAME_HDR16.pack(b0, mbit | 126, n)
        else:
            hdr = FRAME_HDR64.pack(b0, mbit | 127, n)
        if mbit:
            kb = self.rng.randbytes(4)
            hdr += kb
            if n:
                m = (kb * ((n >> 2) + 1))[:n]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(
                    n, "big")
        c.frames[d][opcode] += 1
        c.wire_payload[d] += n
        hist = self.size_hist
        if n < 126:
            hist[0] += 1
        elif n < 1024:
            hist[1] += 1
        elif n < 16384:
            hist[2] += 1
        else:
            hist[3] += 1
        return hdr + payload

    def message(self, c: Conn, d: int, opcode: int, payload: bytes, nfrag: int = 1,
                ping_inside: bool = False) -> list[bytes]:
        """Encode one data message (compressed if negotiated, fragmented if ``nfrag`` > 1)."""
        rng = self.rng
        c.msgs[d][opcode] += 1
        c.msg_bytes[d] += len(payload)
        rsv1 = False
        body = payload
        if c.deflate and len(payload) >= 24:
            comp = c.comp[d]
            if comp is None or c.no_ctx:
                comp = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
                c.comp[d] = comp
            body = comp.compress(payload) + comp.flush(zlib.Z_SYNC_FLUSH)
            body = body[:-4]  # strip 00 00 ff ff (RFC 7692, 7.2.1)
            rsv1 = True
            c.compressed[d] += 1
        n = len(body)
        if nfrag > 1 and n >= nfrag:
            cuts = sorted(rng.sample(range(1, n), nfrag - 1))
            parts = [body[i:j] for i, j in zip([0] + cuts, cuts + [n], strict=True)]
            c.fragmented[d] += 1
            frames = [self.frame(c, d, opcode, parts[0], fin=False, rsv1=rsv1)]
            if ping_inside:
                frames.append(self.frame(c, d, OP_PING, b"frag"))
            for k, p in enumerate(parts[1:], 2):
                frames.append(self.frame(c, d, OP_CONT, p, fin=k == len(parts)))
            return frames
        return [self.frame(c, d, opcode, body, rsv1=rsv1)]

    def send_frames(self, t: int, c: Conn, d: int, frames: list[bytes],
                    reply_soon: bool = False) -> tuple[int, int]:
        """Write encoded frames as one write; sometimes a frame header alone goes first."""
        data = b"".join(frames) if len(frames) > 1 else frames[0]
        split = 0
        if self.rng.random() < 0.02 and len(frames[0]) > 14:
            split = 2 + (len(frames[0]) > 127) * 2 + (4 if d == C2S else 0)
            self.stats["split_headers"] += 1
        return self.write(t, c, d, data, reply_soon, split)

    def exchange(self, t: int, c: Conn, d: int, frames: list[bytes],
                 reply: list[bytes] | None = None) -> int:
        """Send frames from ``d``; if ``reply`` is given the peer answers at once. Returns end."""
        de, end = self.send_frames(t, c, d, frames, reply_soon=reply is not None)
        if reply is None:
            return end
        t2 = max(de + self.react(c, 1 - d), end)
        de2, end2 = self.send_frames(t2, c, 1 - d, reply)
        return end2

    def ping(self, t: int, c: Conn, d: int) -> int:
        """Ping from side ``d`` and the peer's pong; returns end time."""
        rng = self.rng
        data = rng.choice((b"", b"", U64.pack(t // 1000), b"keepalive", rng.randbytes(4)))
        ping = [self.frame(c, d, OP_PING, data)]
        return self.exchange(t, c, d, ping, [self.frame(c, 1 - d, OP_PONG, data)])

    # ------------------------------------------------------------------ HTTP
    def upgrade_request(self, c: Conn, offer_deflate: bool) -> tuple[bytes, str]:
        """Return a browser-like HTTP Upgrade request and its Sec-WebSocket-Key."""
        rng = self.rng
        key = base64.b64encode(rng.randbytes(16)).decode()
        path = rng.choice(("/ws", "/socket", "/v1/stream", "/chat/ws", "/api/realtime?v=2",
                           "/feed"))
        host = c.host if c.sport == 80 else f"{c.host}:{c.sport}"
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: Upgrade",
                 "Pragma: no-cache", "Cache-Control: no-cache",
                 "User-Agent: " + rng.choice((
                     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/131.0.0.0 Safari/537.36",
                     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
                     "Firefox/133.0",
                     "Python/3.12 websockets/13.1", "okhttp/4.12.0", "Go-http-client/1.1")),
                 "Upgrade: websocket", f"Origin: https://{c.host}", "Sec-WebSocket-Version: 13",
                 "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-US,en;q=0.9",
                 f"Sec-WebSocket-Key: {key}"]
        if offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        if rng.random() < 0.3:
            lines.append("Sec-WebSocket-Protocol: " + rng.choice(("graphql-ws", "json.v1", "mqtt")))
        return ("\r\n".join(lines) + "\r\n\r\n").encode(), key

    def upgrade_response(self, c: Conn, key: str) -> bytes:
        """Return the server's 101 response (with the extension answer when negotiated)."""
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Accept: {ws_accept(key)}"]
        if c.deflate:
            if c.no_ctx:
                lines.append("Sec-WebSocket-Extensions: permessage-deflate; "
                             "server_no_context_takeover; client_no_context_takeover")
            else:
                lines.append("Sec-WebSocket-Extensions: permessage-deflate; "
                             "client_max_window_bits=15")
        lines.append("Date: Thu, 27 Nov 2025 00:00:00 GMT")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def http_response(self, status: str, body: bytes, ctype: str, close: bool) -> bytes:
        """Return a plain HTTP/1.1 response with Content-Length."""
        head = [f"HTTP/1.1 {status}", "Server: nginx/1.27.3",
                "Date: Thu, 27 Nov 2025 00:00:00 GMT", f"Content-Type: {ctype}",
                f"Content-Length: {len(body)}",
                "Connection: close" if close else "Connection: keep-alive"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    # ------------------------------------------------------------------ connections
    def new_conn(self, kind: str, port_pool: tuple | None = None) -> Conn:
        """Create a connection with a fresh, never reused client endpoint."""
        rng = self.rng
        sip, smac, ports = rng.choice(SERVERS if port_pool is None else SERVERS[:2])
        sport = rng.choice(ports if port_pool is None else port_pool)
        while True:
            cip = rng.choice(self.client_ips)
            cport = rng.randrange(32768, 61000)
            if (cip, cport) not in self.used_endpoints:
                self.used_endpoints.add((cip, cport))
                break
        c = Conn(self.next_cid, kind, cip, cport, sip, sport, smac)
        self.next_cid += 1
        c.host = rng.choice(("stream.example.com", "ws.example.net", "api.example.org"))
        c.setup(rng, self.client_ttl[cip])
        self.conns.append(c)
        return c

    def ws_conn(self, c: Conn, lifetime: int) -> Generator[int, None, None]:
        """Simulate one WebSocket connection; yields the absolute time of its next step."""
        rng = self.rng
        self.active += 1
        try:
            yield from self._ws_conn(c, lifetime, rng)
        finally:
            self.active -= 1
            c.comp = [None, None]  # free the deflate contexts (~270 KB each)

    def _ws_conn(self, c: Conn, lifetime: int, rng: random.Random) -> Iterator[int]:
        t = self.now
        t = self.tcp_open(t, c)
        offer = rng.random() < 0.55
        c.deflate = offer and rng.random() < 0.7
        c.no_ctx = c.deflate and rng.random() < 0.3
        req, key = self.upgrade_request(c, offer)
        de, end = self.write(t + 5 + rng.randrange(300), c, C2S, req, reply_soon=True)
        t = max(de + self.react(c, S2C), end)
        if rng.random() < 0.01:  # rejected upgrade
            c.rejected = True
            body = b'{"error":"forbidden","reason":"bad origin"}'
            de, end = self.write(t, c, S2C, self.http_response(
                "403 Forbidden", body, "application/json", True), reply_soon=True)
            yield max(de, end)
            self.tcp_fin(self.now + 20, c, S2C)
            return
        c.profile = rng.choices(("ticker", "chat", "rpc", "bulk", "idle"),
                                self.profile_weights)[0]
        c.pinger = S2C if rng.random() < 0.7 else C2S
        resp = self.upgrade_response(c, key)
        client_first = c.profile in ("ticker", "rpc", "chat")
        if rng.random() < 0.1:
            first = self.message(c, S2C, OP_TEXT, self.text_small("welcome"))
            self.stats["first_frame_with_101"] += 1
            de, end = self.write(t, c, S2C, resp + first[0], reply_soon=client_first)
        else:
            de, end = self.write(t, c, S2C, resp, reply_soon=client_first)
        t = max(de + self.react(c, C2S), end)
        if client_first:
            kind = "sub" if c.profile != "chat" else "chat"
            msg = self.message(c, C2S, OP_TEXT, self.text_small(kind))
            ack = self.message(c, S2C, OP_TEXT, b'{"type":"subscribed","ok":true,"id":%d}'
                               % rng.randrange(1 << 20))
            t = self.exchange(t, c, C2S, msg, ack)
        ping_period = rng.choice((20, 20, 20, 20, 25, 30)) * US
        next_ping = t + rng.randrange(ping_period)
        deadline = t + lifetime
        next_act = t + self.activity_gap(c)
        while True:
            wake = min(next_ping, next_act, deadline)
            yield max(wake, t)
            t = self.now
            if self.stopping or t >= deadline:
                break
            if t >= next_ping:
                t = self.ping(t, c, c.pinger)
                next_ping = t + ping_period + rng.randrange(-1_000_000, 1_000_000)
                continue
            t = self.activity(t, c)
            next_act = t + self.activity_gap(c)
        yield from self.ws_close(t, c)

    def ws_close(self, t: int, c: Conn) -> Iterator[int]:
        """Finish a connection: close handshake + FIN (most), or RST variants."""
        rng = self.rng
        r = rng.random()
        if r < 0.06:  # abrupt: one side resets without a close frame
            self.tcp_rst(t + 1000, c, C2S if rng.random() < 0.7 else S2C)
            return
        initiator = S2C if rng.random() < 0.4 else C2S
        code = rng.choice((1000, 1000, 1000, 1001, 1001, 1008, 1011, 4000, 4001))
        reason = rng.choice((b"", b"bye", b"going away", b"idle timeout", "déconnexion".encode()))
        payload = U16.pack(code) + reason
        c.close = {"code": code, "initiator": DIRNAMES[initiator], "echoed": True}
        close1 = [self.frame(c, initiator, OP_CLOSE, payload)]
        if r < 0.10:  # close frame answered by a RST (impatient client or server)
            c.close["echoed"] = False
            de, end = self.send_frames(t, c, initiator, close1, reply_soon=True)
            self.tcp_rst(max(de + self.react(c, 1 - initiator), end), c, 1 - initiator)
            return
        echo = [self.frame(c, 1 - initiator, OP_CLOSE, U16.pack(code))]
        de, end = self.send_frames(t, c, initiator, close1, reply_soon=True)
        t2 = max(de + self.react(c, 1 - initiator), end)
        if initiator == C2S:  # server echoes then closes TCP at once
            de2, end2 = self.write(t2, c, S2C, echo[0], reply_soon=True)
            t3 = max(de2 + 30, end2)
        else:
            de2, end2 = self.write(t2, c, C2S, echo[0], reply_soon=True)
            t3 = max(de2 + self.react(c, S2C), end2)
        yield t3
        self.tcp_fin(self.now, c, S2C)

    def activity_gap(self, c: Conn) -> int:
        """Draw the idle time (us) before the next application activity of ``c``."""
        rng = self.rng
        p = c.profile
        if rng.random() < 0.01:
            return int(rng.uniform(5, 60) * US)  # idle gap
        if p == "ticker":
            return int(rng.lognormvariate(math.log(250_000), 0.8))
        if p == "chat":
            return int(rng.expovariate(1 / 4_000_000))
        if p == "rpc":
            return int(rng.expovariate(1 / 900_000)) + 2000
        if p == "bulk":
            return int(rng.uniform(1, 10) * US)
        return int(rng.uniform(30, 120) * US)

    def data_size(self, median: float, sigma: float, lo: int = 2, hi: int = 65536) -> int:
        """Draw a log-normally distributed payload size clamped to [lo, hi]."""
        return int(min(hi, max(lo, self.rng.lognormvariate(math.log(median), sigma))))

    def activity(self, t: int, c: Conn) -> int:
        """Perform one application step of ``c``'s profile at ``t``; returns its end time."""
        rng = self.rng
        p = c.profile
        if p == "ticker":
            if rng.random() < 0.03:
                frames = self.message(c, S2C, OP_TEXT, self.text_sized(self.data_size(8000, 1.0)),
                                      nfrag=rng.choice((1, 1, 1, 2, 3)))
            elif rng.random() < 0.02:
                return self.exchange(t, c, C2S, self.message(c, C2S, OP_TEXT, self.text_small(
                    "sub")), self.message(c, S2C, OP_TEXT, b'{"type":"subscribed","ok":true}'))
            else:
                frames = []
                for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
                    frames += self.message(c, S2C, OP_TEXT, self.text_small("tick"))
            return self.exchange(t, c, S2C, frames)
        if p == "chat":
            if rng.random() < 0.5:
                m = self.text_small("chat")
                echo = self.message(c, S2C, OP_TEXT, m)
                return self.exchange(t, c, C2S, self.message(c, C2S, OP_TEXT, m), echo)
            return self.exchange(t, c, S2C, self.message(c, S2C, OP_TEXT, self.text_small("chat")))
        if p == "rpc":
            if rng.random() < 0.3:
                req = self.message(c, C2S, OP_BIN, self.binary(self.data_size(60, 0.8, hi=4000)))
                resp_op = OP_BIN
            else:
                req = self.message(c, C2S, OP_TEXT, self.text_small("rpc"))
                resp_op = OP_TEXT
            n = self.data_size(500, 1.4)
            body = self.binary(n) if resp_op == OP_BIN else self.text_sized(n)
            nfrag = rng.randint(2, 5) if n > 16384 and rng.random() < 0.5 else 1
            inside = nfrag > 1 and rng.random() < 0.1
            resp = self.message(c, S2C, resp_op, body, nfrag, ping_inside=inside)
            t = self.exchange(t, c, C2S, req, resp)
            if inside:  # the client answers the ping sent between the fragments
                t = self.exchange(t + self.react(c, C2S), c, C2S,
                                  [self.frame(c, C2S, OP_PONG, b"frag")])
            return t
        if p == "bulk":
            d = S2C if rng.random() < 0.6 else C2S
            n = self.data_size(12000, 1.0, lo=1024)
            if rng.random() < 0.03:
                n = 65536  # 64-bit extended length
            nfrag = rng.randint(2, 6) if rng.random() < 0.4 else 1
            frames = self.message(c, d, OP_BIN, self.binary(n), nfrag,
                                  ping_inside=nfrag > 1 and rng.random() < 0.15)
            if frames and any(f[0] & 0x0F == OP_PING for f in frames):
                pong = [self.frame(c, 1 - d, OP_PONG, b"frag")]
                return self.exchange(t, c, d, frames, pong)
            if rng.random() < 0.5:
                return self.exchange(t, c, d, frames, self.message(
                    c, 1 - d, OP_TEXT, b'{"ack":%d}' % rng.randrange(1 << 20)))
            return self.exchange(t, c, d, frames)
        # idle
        d = S2C if rng.random() < 0.5 else C2S
        return self.exchange(t, c, d, self.message(c, d, OP_TEXT, self.text_small("hb")))

    def http_conn(self) -> Iterator[int]:
        """Plain HTTP/1.1 keep-alive connection with 1-4 requests (non-WebSocket noise)."""
        rng = self.rng
        c = self.new_conn("http", port_pool=(80, 8080))
        self.noise["http_connections"] += 1
        t = self.tcp_open(self.now, c)
        nreq = rng.randint(1, 4)
        for i in range(nreq):
            path = rng.choice(("/healthz", "/static/app.js", "/api/v1/user", "/favicon.ico",
                               "/index.html", "/api/v1/orders?limit=50"))
            req = (f"GET {path} HTTP/1.1\r\nHost: {c.host}\r\nUser-Agent: curl/8.5.0\r\n"
                   "Accept: */*\r\n\r\n").encode()
            de, end = self.write(t, c, C2S, req, reply_soon=True)
            t = max(de + self.react(c, S2C), end)
            n = self.data_size(1500, 1.3, lo=20, hi=120_000)
            body = self.text_sized(n)
            last = i == nreq - 1
            de, end = self.write(t, c, S2C, self.http_response("200 OK", body, "text/plain",
                                                                last))
            c.http_requests += 1
            self.noise["http_requests"] += 1
            t = max(de + self.react(c, C2S), end)
            yield t
            t = self.now
        self.tcp_fin(t, c, S2C)

    def dns(self, t: int) -> None:
        """A DNS query from a client to the resolver and its answer (UDP, port 53)."""
        rng = self.rng
        self.dns_id = (self.dns_id + 1) & 0xFFFF
        qid = (self.dns_id * 40503) & 0xFFFF
        name = rng.choice(("stream.example.com", "ws.example.net", "api.example.org",
                           "cdn.example.com", "telemetry.example.io"))
        qtype = rng.choice((1, 1, 28))
        qname = b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\x00"
        question = qname + struct.pack("!HH", qtype, 1)
        query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question
        cip = rng.choice(self.client_ips)
        sport = rng.randrange(1024, 65535)
        ipid = rng.randrange(65536)
        self.udp(t, RESOLVER_MAC, GATEWAY_MAC, cip, RESOLVER_IP, sport, 53, query,
                 self.client_ttl[cip], ipid)
        if qtype == 1:
            rdata = bytes((93, 184, rng.randrange(256), rng.randrange(1, 255)))
        else:
            rdata = b"\x26\x06\x28\x00\x02\x20" + rng.randbytes(10)
        answer = b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 300, len(rdata)) + rdata
        resp = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer
        t2 = t + 300 + rng.randrange(30_000)
        self.udp(t2, GATEWAY_MAC, RESOLVER_MAC, RESOLVER_IP, cip, 53, sport, resp, 64,
                 rng.randrange(65536))
        self.noise["dns_queries"] += 1
        self.noise["dns_responses"] += 1

    def arp(self, t: int) -> None:
        """An ARP who-has broadcast and its reply (the reply padded to 60 bytes)."""
        rng = self.rng
        sip, smac, _ = rng.choice(SERVERS)
        tip, tmac = rng.choice((("192.168.10.1", GATEWAY_MAC), (RESOLVER_IP, RESOLVER_MAC)))
        target = ip2int(tip)
        req = ETH_ARP.pack(BROADCAST, smac, 0x0806, 1, 0x0800, 6, 4, 1, smac, ip2int(sip),
                           b"\x00" * 6, target)
        self._push(t, REC.pack(t // US, t % US, len(req), len(req)) + req)
        rep = ETH_ARP.pack(smac, tmac, 0x0806, 1, 0x0800, 6, 4, 2, tmac, target,
                           smac, ip2int(sip)) + b"\x00" * 18
        t2 = t + 100 + rng.randrange(900)
        self._push(t2, REC.pack(t2 // US, t2 % US, len(rep), len(rep)) + rep)
        self.noise["arp_requests"] += 1
        self.noise["arp_replies"] += 1

    def noise_gen(self) -> Iterator[int]:
        """Schedule DNS, ARP and plain-HTTP noise until the size target is reached."""
        rng = self.rng
        while not self.stopping:
            r = rng.random()
            if r < 0.6:
                self.dns(self.now)
            elif r < 0.8:
                self.arp(self.now)
            else:
                self.schedule(self.now + 10, self.http_conn())
            yield self.now + int(rng.expovariate(1 / 150_000)) + 1

    def spawner(self) -> Iterator[int]:
        """Open WebSocket connections: a ramp-up, then replacements to keep the concurrency."""
        rng = self.rng
        while not self.stopping:
            if self.active < self.concurrency:
                ramp = self.now - START_US < 10 * US
                c = self.new_conn("ws")
                r = rng.random()
                if self.long_lived and rng.random() < self.long_lived:
                    life = 1 << 62  # open until the capture ends
                elif r < 0.25:
                    life = int(rng.uniform(5, 60) * US)
                elif r < 0.75:
                    life = int(rng.uniform(60, 600) * US)
                else:  # long-lived; still bounded so that connections keep churning
                    life = int(rng.uniform(600, 3600) * US)
                self.schedule(self.now, self.ws_conn(c, life))
                yield self.now + (int(10 * US / self.concurrency) if ramp
                                  else int(rng.expovariate(1 / 300_000)) + 1)
            else:
                yield self.now + 200_000

    def schedule(self, t: int, gen: Iterator[int]) -> None:
        """Run ``gen`` (a step generator yielding wake times) from time ``t``."""
        self.order += 1
        heapq.heappush(self.steps, (t, self.order, gen))

    # ------------------------------------------------------------------ main loop
    def run(self, progress: bool = True) -> dict:
        """Generate the capture and its truth file; returns the truth dictionary."""
        t0 = time.monotonic()
        os.makedirs(os.path.dirname(os.path.abspath(self.out_path)), exist_ok=True)
        self.out: list = []
        steps = self.steps
        with open(self.out_path, "wb", buffering=1 << 20) as f:
            f.write(PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
            self.schedule(START_US, self.spawner())
            self.schedule(START_US + 1000, self.noise_gen())
            last_report = 0.0
            while steps:
                t, _, gen = heapq.heappop(steps)
                self.flush(t, f)
                self.now = t
                try:
                    wake = next(gen)
                except StopIteration:
                    continue
                self.order += 1
                heapq.heappush(steps, (max(wake, t), self.order, gen))
                if not self.stopping and (
                        (self.target_size and self.emitted_bytes >= self.target_size)
                        or (self.target_packets and self.emitted_packets >= self.target_packets)):
                    self.stopping = True
                if progress and self.emitted_packets % 4096 == 0:
                    el = time.monotonic() - t0
                    if el - last_report > 5:
                        last_report = el
                        print(f"  {self.emitted_bytes / 2**20:8.1f} MiB  "
                              f"{self.emitted_packets:>10,} packets  {el:6.1f} s  "
                              f"{self.emitted_bytes / 2**20 / el:5.1f} MiB/s  "
                              f"active={self.active}", file=sys.stderr)
            self.flush(1 << 62, f)
            f.write(b"".join(self.out))
        elapsed = time.monotonic() - t0
        truth = self.truth(elapsed)
        with open(truth_path(self.out_path), "w") as tf:
            json.dump(truth, tf, indent=1)
        return truth

    def truth(self, elapsed: float) -> dict:
        """Assemble the truth dictionary from the per-connection counters."""
        ws = [c for c in self.conns if c.kind == "ws"]
        upgraded = [c for c in ws if not c.rejected]
        frames = {DIRNAMES[d]: {OPNAMES[o]: sum(c.frames[d][o] for c in ws) for o in OPNAMES}
                  for d in (C2S, S2C)}
        msgs = {DIRNAMES[d]: {OPNAMES[o]: sum(c.msgs[d][o] for c in ws) for o in (1, 2)}
                for d in (C2S, S2C)}
        total_frames = sum(sum(v.values()) for v in frames.values())
        total_msgs = sum(sum(v.values()) for v in msgs.values())
        per_conn = []
        for c in ws:
            per_conn.append({
                "client": f"{c.cip}:{c.cport}", "server": f"{c.sip}:{c.sport}",
                "profile": c.profile or None, "rejected": c.rejected, "deflate": c.deflate,
                "no_context_takeover": c.no_ctx,
                "frames": [sum(c.frames[C2S]), sum(c.frames[S2C])],
                "messages": [sum(c.msgs[C2S]), sum(c.msgs[S2C])],
                "close": c.close, "rst": c.rst, "isn": list(c.isn),
            })
        size = os.path.getsize(self.out_path)
        return {
            "generator": {"name": "benchmarks/gen.py", "version": GENERATOR_VERSION,
                          "seed": self.seed, "target_size": self.target_size,
                          "target_packets": self.target_packets,
                          "concurrency": self.concurrency, "mix": self.mix,
                          "seconds": round(elapsed, 2),
                          "non_http_ports": list(NON_HTTP_DEFAULT_PORTS)},
            "file": os.path.basename(self.out_path),
            "bytes": size,
            "packets": self.emitted_packets,
            "capture_seconds": round((self.now - START_US) / US, 3),
            "tcp_connections": len(self.conns),
            "ws_upgrade_requests": len(ws),
            "ws_connections": len(upgraded),
            "ws_rejected": len(ws) - len(upgraded),
            "deflate_connections": sum(1 for c in upgraded if c.deflate),
            "frames_total": total_frames,
            "frames": frames,
            "frames_by_opcode": {OPNAMES[o]: sum(frames[dn][OPNAMES[o]] for dn in DIRNAMES)
                                 for o in OPNAMES},
            "messages_total": total_msgs,
            "messages": msgs,
            "messages_compressed": sum(sum(c.compressed) for c in ws),
            "messages_fragmented": sum(sum(c.fragmented) for c in ws),
            "message_payload_bytes": {DIRNAMES[d]: sum(c.msg_bytes[d] for c in ws)
                                      for d in (C2S, S2C)},
            "frame_payload_sizes": dict(zip(("0-125", "126-1023", "1024-16383", "16384-65536"),
                                            self.size_hist, strict=True)),
            "frame_payload_bytes": {DIRNAMES[d]: sum(c.wire_payload[d] for c in ws)
                                    for d in (C2S, S2C)},
            "closes": {"close_handshakes": sum(1 for c in ws if c.close and c.close["echoed"]),
                       "close_then_rst": sum(1 for c in ws if c.close and not c.close["echoed"]),
                       "rst_without_close": sum(1 for c in ws if c.rst and not c.close),
                       "open_at_end": sum(1 for c in upgraded if not c.close and not c.rst)},
            "tcp": dict(self.stats),
            "noise": dict(self.noise),
            "connections": per_conn,
        }


def truth_path(pcap_path: str) -> str:
    """Return the sidecar path ``NAME.truth.json`` for ``NAME.pcap``."""
    base = pcap_path[:-5] if pcap_path.endswith(".pcap") else pcap_path
    return base + ".truth.json"


def self_check(path: str, limit: int = 50_000) -> list[str]:
    """Verify a generated file: timestamps ordered, record count, and (with dpkt, on the first
    ``limit`` packets) IP/TCP/UDP checksums and Sec-WebSocket-Accept values. Returns problems."""
    import dpkt  # only here: far too slow for the generator itself

    problems: list[str] = []
    with open(path, "rb") as f:
        data = f.read()
    off, count, last = 24, 0, 0
    while off < len(data):
        s, us, incl, _ = REC.unpack_from(data, off)
        ts = s * US + us
        if ts < last:
            problems.append(f"timestamp goes back at record {count}")
            break
        last = ts
        off += 16 + incl
        count += 1
    tp = truth_path(path)
    if os.path.exists(tp):
        with open(tp) as tf:
            truth = json.load(tf)
        if truth["packets"] != count:
            problems.append(f"truth says {truth['packets']} packets, file has {count}")
    keys: dict = {}
    with open(path, "rb") as f:
        for i, (_, buf) in enumerate(dpkt.pcap.Reader(f)):
            if i >= limit:
                break
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP):
                continue
            l4 = ip.data
            want_ip, want_l4 = ip.sum, l4.sum
            ip.sum = 0
            l4.sum = 0
            raw = bytes(ip)
            again = dpkt.ip.IP(raw)
            if again.sum != want_ip or again.data.sum != want_l4:
                problems.append(f"packet {i}: checksum mismatch ip {want_ip:#x}/{again.sum:#x} "
                                f"l4 {want_l4:#x}/{again.data.sum:#x}")
                if len(problems) > 10:
                    break
            if isinstance(l4, dpkt.tcp.TCP) and l4.data[:4] in (b"GET ", b"HTTP"):
                text = bytes(l4.data).split(b"\r\n\r\n")[0].decode("latin-1")
                hdrs = dict(line.split(": ", 1) for line in text.split("\r\n")[1:] if ": " in line)
                conv = tuple(sorted(((ip.src, l4.sport), (ip.dst, l4.dport))))
                if "Sec-WebSocket-Key" in hdrs:
                    keys[conv] = hdrs["Sec-WebSocket-Key"]
                if "Sec-WebSocket-Accept" in hdrs:
                    if ws_accept(keys.get(conv, "")) != hdrs["Sec-WebSocket-Accept"]:
                        problems.append(f"packet {i}: bad Sec-WebSocket-Accept")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", help="target file size, e.g. 100M, 1G, 4G (binary units)")
    ap.add_argument("--packets", type=int, help="target packet count instead of a size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=300,
                    help="WebSocket connections kept open at once (default 300)")
    ap.add_argument("--mix", choices=sorted(MIXES), default="default",
                    help="traffic mix (default: many short connections, small frames; "
                    "reference: the capture issue 5's targets were measured on)")
    ap.add_argument("-o", "--output", help="output .pcap (default benchmarks/data/ws-SIZE-sSEED)")
    ap.add_argument("--check", action="store_true", help="verify the file afterwards (dpkt)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if not args.size and not args.packets:
        ap.error("give --size or --packets")
    size = parse_size(args.size) if args.size else None
    label = args.size.upper() if args.size else f"{args.packets}p"
    suffix = "" if args.mix == "default" else f"-{args.mix}"
    out = args.output or os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                                      f"ws-{label}-s{args.seed}{suffix}.pcap")
    gen = Generator_(out, args.seed, size, args.packets, args.concurrency, args.mix)
    truth = gen.run(progress=not args.quiet)
    secs = truth["generator"]["seconds"]
    print(f"{out}: {truth['bytes']:,} bytes, {truth['packets']:,} packets, "
          f"{truth['ws_connections']} WebSocket connections, {truth['frames_total']:,} frames, "
          f"{truth['messages_total']:,} messages in {secs:.1f} s "
          f"({truth['bytes'] / 2**20 / max(secs, 1e-9):.1f} MiB/s, "
          f"{truth['packets'] / max(secs, 1e-9):,.0f} packets/s)")
    if args.check:
        problems = self_check(out)
        for p in problems:
            print("CHECK:", p, file=sys.stderr)
        print("check:", "OK" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
