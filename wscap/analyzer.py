"""The pipeline: packets → TCP connections → HTTP Upgrade → WebSocket
frames and messages → the model.

:class:`Analyzer` is fed packets (``packet``) and builds an
:class:`~wscap.analysis.Analysis` on ``finish``; it reads no file itself.
:func:`analyze` wires it to the capture reader.

Two paths lead through it.  The general one, :meth:`Analyzer.packet` and
:meth:`Conn.packet`, takes any packet.  The fast one,
:meth:`Analyzer.feed_pcap`, takes a pcap file's records a window at a
time, decodes their headers with numpy and handles the common packet (an
in-order IPv4 segment or ACK on a known connection) inline, handing
everything else to the general path; the frame layer has its counterpart
in ``WsDirection.data``.  The results are the same
(``tests/test_fastpath.py`` compares them on every capture), only the
speed differs.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import os
import struct
from array import array
from dataclasses import asdict

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .analysis import Analysis
from .decode import (
    ACK,
    ETH_ARP,
    ETH_IPV4,
    FIN,
    GTP_U_PORT,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    RST,
    SKIP_ARP,
    SKIP_UDP,
    SUPPORTED_LINKTYPES,
    SYN,
    decode_tcp,
    format_addr,
)
from .deflate import DEFAULT_MAX_MESSAGE, deflate_params, parse_extensions
from .errors import CaptureError
from .frames import parse_header, plausible
from .http import (
    HOLD,
    HttpError,
    HttpStream,
    Request,
    Response,
    Switched,
    looks_like_request,
    undecided,
)
from .model import (
    HS_BAD_ACCEPT,
    HS_OK,
    HS_REJECTED,
    HS_UNANSWERED,
    CaptureInfo,
    Connection,
    Gap,
    Handshake,
    Heartbeat,
    Side,
    activity,
)
from .pcapfile import PacketReader
from .redact import redact_header, redact_text, redact_tokens, redact_uri
from .tcp import HALF, Reassembler
from .ws import Store, WsDirection

_PORTS = struct.Struct(">HH").pack


# link types with a fixed header carrying an EtherType: where the EtherType
# and the IP header are
_FAST_LINKS = {
    LINKTYPE_ETHERNET: (12, 14),
    LINKTYPE_LINUX_SLL: (14, 16),
    LINKTYPE_LINUX_SLL2: (0, 20),
}
_IP_OFFSET = {link: ip for link, (_e, ip) in _FAST_LINKS.items()}


@functools.lru_cache
def _fast_layout(endian: str, linktype: int) -> np.dtype:
    """For :meth:`Analyzer.feed_pcap`: the fields it reads of a record, from
    the record's first byte, as a numpy structured type: the record header
    (in the file's byte order) and, on a link type of :data:`_FAST_LINKS`,
    the EtherType, the IPv4 version and header length, total length,
    fragment field and protocol, the addresses and ports as one 12-byte
    field (numpy's ``tolist`` makes them the flows' keys, cheaper than a
    slice per packet), the TCP ports, sequence and acknowledgement
    numbers, data offset and flags, where a packet without IP or TCP options
    has them (the fast path takes no other)."""
    fields = {
        "sec": (endian + "u4", 0),
        "frac": (endian + "u4", 4),
        "caplen": (endian + "u4", 8),
        "origlen": (endian + "u4", 12),
    }
    size = 16
    if linktype in _FAST_LINKS:
        etype, ip = _FAST_LINKS[linktype]
        ip += 16
        fields.update(
            etype=(">u2", 16 + etype),
            vihl=("u1", ip),
            total=(">u2", ip + 2),
            frag=(">u2", ip + 6),
            proto=("u1", ip + 9),
            # the flow's key, as the flows dict has it: addresses and ports
            key=("V12", ip + 12),
            sport=(">u2", ip + 20),
            dport=(">u2", ip + 22),
            seq=(">u4", ip + 24),
            ack=(">u4", ip + 28),
            doff=("u1", ip + 32),
            flags=("u1", ip + 33),
        )
        size = ip + 40
    return np.dtype(
        {
            "names": list(fields),
            "formats": [f for f, _o in fields.values()],
            "offsets": [o for _f, o in fields.values()],
            "itemsize": size,
        }
    )


# the flows entry of a connection another shard analyses
OTHER_SHARD = (None, -1)


def reverse_key(key: bytes) -> bytes:
    """The flows key of the other direction: the two addresses (4 bytes
    each for IPv4, 16 for IPv6) swapped, and the two ports."""
    a = (len(key) - 4) // 2
    return key[a : 2 * a] + key[:a] + key[2 * a + 2 :] + key[2 * a : 2 * a + 2]


def shard_of(sport: int, dport: int, n: int) -> int:
    """Which of ``n`` shards analyses the connection between these ports:
    the same for both directions, and spread evenly even when every client
    port is even (Linux prefers even ports for ``connect()``)."""
    return (((sport ^ dport) * 2654435761) >> 16) % n


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3

# what a direction's bytes are being parsed as
NEW, HTTP_REQ, HTTP_RESP, WS, PROBE, OPAQUE = range(6)

PROBE_LIMIT = 64 * 1024  # bytes per direction examined for a handshake-less WebSocket
PROBE_FRAMES = 3  # well-formed frames needed to call it WebSocket
SWEEP_EVERY = 1 << 16  # packets between sweeps of closed connections
SWEEP_AFTER = 120 * 10**9  # a closed connection is finalised this long after it closed


def expected_accept(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    digest = hashlib.sha1((key.strip() + WS_GUID).encode("latin-1")).digest()
    return base64.b64encode(digest).decode("ascii")


class Direction:
    """One direction of a TCP connection: reassembly in, parser out."""

    __slots__ = (
        "conn",
        "idx",
        "mode",
        "head",
        "isn",
        "tcp_sil",
        "pay_sil",
        "http",
        "ws",
        "probe",
        "stats",
        "reasm",
    )

    def __init__(self, conn: Conn, idx: int) -> None:
        self.conn = conn
        self.idx = idx
        self.mode = NEW
        self.head = b""  # first bytes, while too few to tell what they are
        self.isn: int | None = None  # sequence number of this side's SYN
        self.http: HttpStream | None = None
        self.ws: WsDirection | None = None
        self.probe = Probe()
        self.stats = Side()
        self.tcp_sil = self.stats.activity["tcp"]
        self.pay_sil = self.stats.activity["payload"]
        self.reasm = Reassembler(self)

    # sink interface for the reassembler
    # sink interface for the reassembler until the connection is upgraded;
    # then the reassembler feeds the WsDirection directly
    def data(self, data: bytes, ts: int) -> None:
        self.conn.stream_data(self, data, ts)

    def gap(self, length: int, ts: int) -> None:
        self.conn.stream_gap(self, length, ts)


class Conn:
    """Live state of one TCP connection."""

    __slots__ = (
        "an",
        "conn_id",
        "keys",
        "dirs",
        "addrs",
        "client_idx",
        "roles_from",
        "start",
        "act",
        "tcp_sil",
        "pay_sil",
        "end_last",
        "heartbeats",
        "closed",
        "closed_ts",
        "handshakes",
        "pending",
        "ws_hs",
        "http_requests",
        "done",
    )

    def __init__(self, an: Analyzer, conn_id: int, ts: int, addrs: tuple[str, str]) -> None:
        self.an = an
        self.conn_id = conn_id
        # flow keys (see Analyzer.flows), from side 0 and from side 1
        self.keys: tuple[bytes, bytes] = (b"", b"")
        self.dirs = (Direction(self, 0), Direction(self, 1))
        self.addrs = addrs
        self.client_idx: int | None = None
        self.roles_from = ""
        self.start = ts
        self.act = activity()  # both directions
        for trackers in (self.act, self.dirs[0].stats.activity, self.dirs[1].stats.activity):
            for tracker in trackers.values():
                tracker.start(ts)
        self.tcp_sil = self.act["tcp"]
        self.pay_sil = self.act["payload"]
        self.end_last: dict[str, int | None] = {}
        self.heartbeats = Heartbeats(an.store.heartbeats, conn_id)
        self.closed = False
        self.closed_ts = 0
        self.handshakes: list[tuple[Request | None, Handshake, Response | None]] = []
        self.pending: list[Request] = []  # requests awaiting a response
        self.ws_hs: Handshake | None = None
        self.http_requests = 0
        self.done = False

    @property
    def last(self) -> int:
        """Time of the connection's latest packet: where its TCP silence
        (both directions) was last marked."""
        return self.tcp_sil.last  # type: ignore[return-value]

    # -- TCP ----------------------------------------------------------------

    def reused_by(self, idx: int, seq: int) -> bool:
        """Does a SYN (no ACK) from side ``idx`` at ``seq`` open a new
        connection on this 4-tuple?  Yes after a close, or when its sequence
        number is not the one this connection started with (a port reused
        without a close in the capture); a retransmitted SYN is not."""
        if self.closed:
            return True
        d = self.dirs[idx]
        if d.stats.syn_ts is not None:
            return d.isn != seq
        return any(x.stats.bytes or x.stats.fin_ts or x.stats.rst_ts for x in self.dirs)

    def packet(
        self, idx: int, ts: int, seq: int, ack: int, flags: int, payload: bytes, missing: int
    ) -> None:
        d = self.dirs[idx]
        st = d.stats
        st.packets += 1
        size = len(payload) + missing
        st.bytes += size
        if st.first_ts is None:
            st.first_ts = ts
        st.last_ts = ts
        d.tcp_sil.mark(ts)
        self.tcp_sil.mark(ts)
        r = d.reasm
        if size:
            if (
                size == 1
                and r.started
                and (seq + 1) & 0xFFFFFFFF == r.next_seq
                and not flags & (SYN | FIN | RST)
            ):
                st.keepalives += 1  # a keep-alive probe: one old byte, not data
            else:
                d.pay_sil.mark(ts)
                self.pay_sil.mark(ts)
        elif not flags & (SYN | FIN | RST) and r.started and (seq + 1) & 0xFFFFFFFF == r.next_seq:
            st.keepalives += 1
        if flags & SYN:
            if st.syn_ts is None:
                st.syn_ts = ts
                d.isn = seq
            d.reasm.syn(seq)
            seq = (seq + 1) & 0xFFFFFFFF
            if self.roles_from != "syn":
                self.client_idx = idx if not flags & ACK else 1 - idx
                self.roles_from = "syn"
        if flags & ACK and not flags & RST:  # an RST's ACK number proves nothing
            peer = self.dirs[1 - idx].reasm
            if peer.started:
                peer.ack(ack, ts)
        if size:
            d.reasm.segment(seq, payload, missing, ts)
        if flags & (FIN | RST):
            if not self.end_last:
                self.end_last = {k: s.last for k, s in self.act.items()}
                self.end_last["at"] = ts
            if flags & FIN:
                d.reasm.fin(seq, size)
                if st.fin_ts is None:
                    st.fin_ts = ts
            if flags & RST and st.rst_ts is None:
                st.rst_ts = ts
            if not self.closed:
                other = self.dirs[1 - idx].stats
                if flags & RST or (other.fin_ts is not None and st.fin_ts is not None):
                    self.closed = True
                    self.closed_ts = ts
                    self.an.closing.append(self)

    # -- streams ------------------------------------------------------------

    def set_client(self, idx: int, source: str) -> None:
        if self.roles_from in ("", "port") or (self.roles_from == "masking" and source == "http"):
            self.client_idx = idx
            self.roles_from = source

    def stream_data(self, d: Direction, data: bytes, ts: int) -> None:
        mode = d.mode
        if mode == NEW:
            if d.head:
                data = d.head + data
                d.head = b""
            if undecided(data):
                d.head = data
                return
            peer = self.dirs[1 - d.idx]
            if peer.mode == HTTP_REQ:
                mode = HTTP_RESP
            elif looks_like_request(data):
                mode = HTTP_REQ
            elif data.startswith(b"HTTP/"):
                mode = HTTP_RESP
            elif peer.mode in (NEW, PROBE):
                mode = PROBE
            else:
                mode = OPAQUE
            d.mode = mode
            if mode == HTTP_REQ:
                d.http = HttpStream(True)
                self.set_client(d.idx, "http")
                if peer.mode == NEW:
                    peer.mode = HTTP_RESP
                    peer.http = HttpStream(False)
            elif mode == HTTP_RESP:
                if d.http is None:
                    d.http = HttpStream(False)
                self.set_client(1 - d.idx, "http")
        if mode == HTTP_REQ or mode == HTTP_RESP:
            self.http_events(d, d.http.feed(data, ts), ts)  # type: ignore[union-attr]
        elif mode == PROBE:
            d.probe.data(data, ts)
            self.decide_probe(final=False)
        else:
            d.stats.unparsed_bytes += len(data)

    def stream_gap(self, d: Direction, length: int, ts: int) -> None:
        mode = d.mode
        if mode == HTTP_REQ or mode == HTTP_RESP:
            self.http_events(d, d.http.gap(length, ts), ts)  # type: ignore[union-attr]
        elif mode == PROBE:
            d.probe.gap(length, ts)
            self.decide_probe(final=False)
        elif mode == NEW:
            # nothing parsed yet: the parsers start after the hole
            d.stats.unparsed_bytes += len(d.head)
            d.head = b""

    # -- HTTP ---------------------------------------------------------------

    def http_events(self, d: Direction, events: list[object], ts: int) -> None:
        for ev in events:
            if isinstance(ev, Request):
                self.http_requests += 1
                self.pending.append(ev)
                peer = self.dirs[1 - d.idx]
                if peer.http is not None:
                    peer.http.expect(ev)
                if ev.is_upgrade:
                    self.handshakes.append((ev, self.an.new_handshake(self.conn_id, ev), None))
            elif isinstance(ev, Response):
                if 100 <= ev.status < 200 and ev.status != 101:
                    continue
                req = self.pending.pop(0) if self.pending else None
                entry = None
                for i, (r, _hs, _resp) in enumerate(self.handshakes):
                    if r is req:
                        entry = i
                        break
                if entry is not None:
                    r, hs, _ = self.handshakes[entry]
                    self.handshakes[entry] = (r, hs, ev)
                    self.an.fill_response(hs, ev)
                    if ev.status != 101:
                        client = self.dirs[1 - d.idx]
                        if client.http is not None and client.http.state == HOLD:
                            _, evs = client.http.release(False, ts)
                            self.http_events(client, evs, ts)
                if ev.status == 101:
                    hs = self.handshakes[entry][1] if entry is not None else None
                    if hs is None and "websocket" in ev.tokens("upgrade"):
                        # the request was not captured: the answer still tells
                        # what was negotiated (permessage-deflate, subprotocol)
                        hs = self.an.response_only_handshake(self.conn_id, ev)
                        self.handshakes.append((None, hs, ev))
                    if hs is not None:
                        self.upgrade(d, hs, ts)
                    else:
                        for x in self.dirs:
                            x.mode = OPAQUE
            elif isinstance(ev, Switched):
                if d.mode == WS:
                    d.ws.data(ev.rest, ts)  # type: ignore[union-attr]
                else:
                    d.stats.unparsed_bytes += len(ev.rest)
            elif isinstance(ev, HttpError):
                d.mode = OPAQUE  # the rest of this direction is counted as unparsed

    def upgrade(self, server: Direction, hs: Handshake | None, ts: int) -> None:
        """A 101 came from ``server``: both directions carry frames from now."""
        client = self.dirs[1 - server.idx]
        self.ws_hs = hs
        params = hs.deflate_params if hs is not None else None
        other = hs is not None and hs.other_extensions
        self.set_client(client.idx, "http")
        held: list[bytes | int] = []
        if client.http is not None and client.http.state == HOLD:
            held, _ = client.http.release(True, ts)
        store = self.an.store
        client.ws = WsDirection(
            store, self.conn_id, client.stats, True, params, unknown_ext=other, conn=self
        )
        server.ws = WsDirection(
            store, self.conn_id, server.stats, False, params, unknown_ext=other, conn=self
        )
        client.mode = WS
        server.mode = WS
        client.reasm.sink = client.ws  # bytes now go straight to the frame parser
        server.reasm.sink = server.ws
        for item in held:
            if isinstance(item, int):
                client.ws.gap(item, ts)
            else:
                client.ws.data(item, ts)

    # -- WebSocket without a captured handshake ------------------------------

    def decide_probe(self, final: bool) -> None:
        """Is this a WebSocket whose handshake was not captured?

        Needs well-formed frames from the start of what was captured, with
        masking consistent per direction: masked from one side (the client)
        and, if the other side sent frames, unmasked from it; three frames in
        all (two at the end of the connection, one each way).  An unmasked
        stream alone is never enough.  Otherwise the connection is opaque.
        """
        probes: list[Probe | None] = []
        for d in self.dirs:
            if d.mode == NEW:
                probes.append(None)
            elif d.mode == PROBE:
                probes.append(d.probe)
            else:
                return
        good = [p for p in probes if p is not None and p.ok and p.frames]
        masks = [p.masked for p in good]
        total = sum(p.frames for p in good)
        is_ws = False
        if True in masks and masks.count(True) == 1:
            if len(good) == 2:
                is_ws = total >= PROBE_FRAMES or (final and total >= 2)
            else:
                is_ws = total >= PROBE_FRAMES
        if is_ws:
            self.start_ws_without_handshake(probes)
            return
        settled = all(p is None or not p.ok or p.stopped for p in probes)
        if final or settled:
            for d in self.dirs:
                if d.mode == PROBE:
                    d.stats.unparsed_bytes += d.probe.size
                    d.probe = Probe()
                d.mode = OPAQUE

    def start_ws_without_handshake(self, probes: list[Probe | None]) -> None:
        masked = [p.masked if p is not None and p.ok and p.frames else None for p in probes]
        client_idx = 0 if masked[0] else 1
        self.set_client(client_idx, "masking")
        if self.roles_from == "masking" or self.client_idx is None:
            self.client_idx = client_idx
        store = self.an.store
        hs = Handshake.without_request(self.conn_id, self.start)
        self.ws_hs = hs
        for d, p in zip(self.dirs, probes, strict=True):
            is_client = d.idx == self.client_idx
            d.ws = WsDirection(
                store,
                self.conn_id,
                d.stats,
                is_client,
                None,
                resync=p is not None and not p.ok,
                unknown_ext=True,
                conn=self,
            )
            d.mode = WS
            d.reasm.sink = d.ws
            chunks = d.probe.chunks
            d.probe = Probe()
            for item, ts in chunks:
                if isinstance(item, int):
                    d.ws.gap(item, ts)
                else:
                    d.ws.data(item, ts)

    # -- the end ------------------------------------------------------------

    def finish(self, ts: int) -> Connection:
        """Flush everything and produce the connection's record."""
        self.done = True
        for d in self.dirs:
            d.reasm.flush(ts)
        if any(d.mode == PROBE for d in self.dirs):
            self.decide_probe(final=True)
        for d in self.dirs:
            if d.ws is not None:
                d.ws.eof(self.last)
            elif d.http is not None:
                d.stats.unparsed_bytes += d.http.dropped_bytes + d.http.held_bytes
            d.stats.unparsed_bytes += len(d.head)
        if self.client_idx is None:
            self.client_idx = self.guess_client_by_port()
            self.roles_from = "port"
        ci = self.client_idx
        client, server = self.dirs[ci].stats, self.dirs[1 - ci].stats
        end = self.end_last.get("at") or ts
        for trackers in (self.act, client.activity, server.activity):
            for tracker in trackers.values():
                tracker.close(end)
        client.addr, server.addr = self.addrs[ci], self.addrs[1 - ci]
        for name, d in (("client", self.dirs[ci]), ("server", self.dirs[1 - ci])):
            r = d.reasm
            d.stats.gaps = len(r.gaps)
            d.stats.gap_bytes = r.gap_bytes
            d.stats.dup_bytes = r.dup_bytes
            for off, length, gts in r.gaps:
                self.an.store.gaps.append(Gap(self.conn_id, name, off, length, gts))
        for _req, hs, resp in self.handshakes:
            if resp is not None:
                body = bytes(resp.body)
                if self.an.redact and body:
                    body = redact_text(body.decode("utf-8", "replace")).encode("utf-8")
                hs.body_snippet = body
                hs.body_len = resp.body_len
        c = Connection(
            conn_id=self.conn_id,
            client=client,
            server=server,
            start=self.start,
            end=self.last,
            roles_from=self.roles_from,
            http_requests=self.http_requests,
            activity=self.act,
            end_last=self.end_last,
        )
        self.heartbeats.finish()
        hs = self.ws_hs
        if hs is None and self.handshakes:
            hs = self.handshakes[-1][1]
        if hs is not None:
            c.websocket = True
            c.upgraded = self.dirs[0].mode == WS
            c.handshake = hs.outcome
            c.http_status = hs.status
            c.accept_valid = hs.accept_valid
            c.subprotocol = hs.subprotocol
            c.extensions = hs.extensions
            c.compressed = hs.compressed
        # drop parser state (inflaters hold 32 KiB windows); only the record
        # lives on.  Late packets (a retransmitted FIN) still find a sink.
        for d in self.dirs:
            if d.ws is not None:
                d.ws.parser._h = None  # a cycle: the parser's handler is the WsDirection
            d.ws = None
            d.http = None
            d.probe = Probe()
            d.mode = OPAQUE
            d.reasm.sink = d
            d.reasm.pending.clear()
            d.reasm.heap.clear()
        return c

    def release(self) -> None:
        """No packet can reach this finished connection any more (its flows
        are forgotten): break the reference cycles between it, its
        directions and their reassemblers, so that its memory is freed at
        once instead of by the cyclic collector, which runs rarely while
        packets are read (Analyzer.read)."""
        for d in self.dirs:
            d.reasm.sink = None  # type: ignore[assignment]
            d.conn = None  # type: ignore[assignment]
        self.dirs = ()  # type: ignore[assignment]

    def guess_client_by_port(self) -> int:
        """With no SYN, no HTTP and no masking: the side on the higher
        (ephemeral) port is taken as the client."""
        p0 = int(self.addrs[0].rsplit(":", 1)[1])
        p1 = int(self.addrs[1].rsplit(":", 1)[1])
        return 0 if p0 >= p1 else 1


class Heartbeats:
    """Pairs pings with pongs (RFC 6455 5.5.3: a pong echoes its ping's
    payload) and application heartbeats with their answers, for one
    connection."""

    __slots__ = ("out", "conn_id", "waiting")

    def __init__(self, out: list[Heartbeat], conn_id: int) -> None:
        self.out = out
        self.conn_id = conn_id
        self.waiting: dict[str, list[tuple[bytes, Heartbeat]]] = {"client": [], "server": []}

    def ping(self, direction: str, ts: int, payload: bytes, kind: str = "ws-ping") -> None:
        hb = Heartbeat(self.conn_id, direction, kind, ts)
        self.out.append(hb)
        waiting = self.waiting[direction]
        waiting.append((payload, hb))
        if len(waiting) > 64:
            del waiting[0]

    def pong(self, direction: str, ts: int, payload: bytes, kind: str = "ws-ping") -> None:
        """A pong sent by ``direction`` answers a ping sent the other way."""
        other = "server" if direction == "client" else "client"
        waiting = self.waiting[other]
        for i, (p, hb) in enumerate(waiting):
            if hb.kind == kind and (p == payload or kind != "ws-ping"):
                # a pong may answer only the latest of several pings (RFC 6455
                # 5.5.3): the earlier ones count as answered with it
                for _p, earlier in waiting[: i + 1]:
                    if earlier.kind == kind:
                        earlier.ts_answer = ts
                del waiting[: i + 1]
                return
        if kind == "ws-ping":
            self.out.append(Heartbeat(self.conn_id, direction, "ws-pong-unsolicited", ts))

    def finish(self) -> None:
        self.waiting = {"client": [], "server": []}


class Probe:
    """One direction's first captured bytes, read as WebSocket frames from
    the first byte, incrementally (each byte is parsed once).

    ``chunks`` keeps what came (bytes, or ints for gaps) for replay if the
    connection turns out to be a WebSocket.
    """

    __slots__ = ("chunks", "buf", "pos", "frames", "masked", "ok", "stopped")

    def __init__(self) -> None:
        self.chunks: list[tuple[bytes | int, int]] = []
        self.buf = bytearray()
        self.pos = 0
        self.frames = 0  # complete frames that carry something
        self.masked: bool | None = None
        self.ok = True  # nothing implausible so far
        self.stopped = False  # a gap or the size limit: no more parsing

    def data(self, data: bytes, ts: int) -> None:
        self.chunks.append((data, ts))
        if self.stopped or not self.ok:
            return
        room = PROBE_LIMIT - len(self.buf)
        self.buf += data[:room]
        if room <= len(data):
            self.stopped = True
        buf = self.buf
        pos = self.pos
        while True:
            h = parse_header(buf, pos, 0)
            if h is None:
                break
            if (
                not plausible(h, self.masked, 4)
                # a mid-stream start on a continuation is possible, but it is
                # also what zeros and length-prefixed protocols look like
                or (h.opcode == 0 and self.frames == 0 and self.masked is None)
            ):
                self.ok = False
                break
            end = pos + h.header_len + h.length
            if end > len(buf):
                break
            self.masked = h.masked
            if h.length or h.opcode == 8:
                self.frames += 1  # empty data frames prove nothing
            pos = end
        self.pos = pos

    def gap(self, length: int, ts: int) -> None:
        self.chunks.append((length, ts))
        self.stopped = True

    @property
    def size(self) -> int:
        return sum(len(c) for c, _ in self.chunks if isinstance(c, bytes))


class Analyzer:
    """Feed it packets; ``finish()`` returns the :class:`Analysis`."""

    def __init__(
        self,
        path: str = "",
        keep_frames: bool = True,
        max_message: int = DEFAULT_MAX_MESSAGE,
        redact: bool = True,
        keep_messages: bool | None = None,
        fast: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> None:
        """``fast=False`` takes every packet and frame through the general
        path (:meth:`packet`, ``FrameParser``): the reference the fast path
        is tested against; the results are the same, only slower.

        ``shard=(k, n)`` analyses only the TCP connections of shard ``k`` of
        ``n`` (by :func:`shard_of` their ports), while still counting every
        packet in the capture summary: see :mod:`wscap.parallel`.
        """
        self.capture = CaptureInfo(path=path)
        self.fast = fast
        self.shard = shard
        # the capture's packet count when each connection was opened (its
        # place in the capture, for merging shards)
        self.opened_at: dict[int, int] = {}
        self.store = Store(
            keep_frames=keep_frames,
            keep_messages=keep_frames if keep_messages is None else keep_messages,
            max_message=max_message,
            fast=fast,
        )
        self.redact = redact
        # (connection, side) by flow key: source address, destination
        # address, source port, destination port, as the bytes of the IP and
        # TCP headers (12 bytes for IPv4, 36 for IPv6), so the fast path
        # takes the key as one slice of the packet
        self.flows: dict[bytes, tuple] = {}
        self.live: dict[int, Conn] = {}  # connections not finalised yet
        self.next_id = 1
        self.records: dict[int, Connection] = {}
        self.handshakes: list[Handshake] = []
        self.closing: list[Conn] = []
        self._since_sweep = 0
        self._last_ts = 0
        self._pcap: PacketReader | None = None  # the pcap file feed_pcap reads

    def packet(self, ts: int, linktype: int, data: bytes, orig_len: int) -> None:
        """One captured packet."""
        cap = self.capture
        cap.packets += 1
        cap.bytes += orig_len
        if cap.first_ts is None:
            cap.first_ts = ts
        if ts < self._last_ts:
            cap.timestamps_out_of_order += 1
        else:
            self._last_ts = ts
        r = decode_tcp(linktype, data)
        if r.__class__ is str:
            sk = cap.skipped
            sk[r] = sk.get(r, 0) + 1  # type: ignore[index]
        else:
            src, dst, sport, dport, seq, ack, flags, start, wire = r  # type: ignore[misc]
            cap.tcp_packets += 1
            captured = len(data) - start
            if captured >= wire:
                payload = data[start : start + wire] if wire else b""
                missing = 0
            else:
                payload = data[start:] if captured > 0 else b""
                missing = wire - len(payload)
                cap.truncated_packets += 1
                cap.truncated_bytes += missing
            key = src + dst + _PORTS(sport, dport)
            ent = self.flows.get(key)
            if ent is None and self.shard is not None:
                k, n = self.shard
                if shard_of(sport, dport, n) != k:
                    ent = self.flows[key] = self.flows[reverse_key(key)] = OTHER_SHARD
            if ent is OTHER_SHARD:
                if flags & (FIN | RST):
                    self.forget_flow(key)
            else:
                if ent is None or (
                    flags & SYN and not flags & ACK and ent[0].reused_by(ent[1], seq)
                ):
                    ent = self.new_conn(ts, src, sport, dst, dport)
                ent[0].packet(ent[1], ts, seq, ack, flags, payload, missing)
        # every packet counts towards the next sweep, TCP or not (as in
        # feed_pcap, which counts them in bulk)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self.sweep(ts)

    def read(self, reader: PacketReader) -> None:
        """Feed every packet of ``reader``: pcap files of the common link
        types through :meth:`feed_pcap`, anything else packet by packet."""
        self.capture.format = reader.format
        # Reading allocates objects by the million (tuples of unpack_from,
        # lists of a window's values), each counted towards the cyclic
        # collector's next pass, which then walks the young objects: passes
        # are made a tenth as often (with this, collection took 0.16 s of a
        # 9 s shard of the 1 GB benchmark capture).
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 10000), *thresholds[1:])
        try:
            if reader.format.startswith("pcapng") or not self.fast:
                packet = self.packet
                for ts, linktype, data, orig_len in reader:
                    packet(ts, linktype, data, orig_len)
            else:
                self._pcap = reader
                reader.read_pcap(self.feed_pcap)
        finally:
            gc.set_threshold(*thresholds)

    def feed_pcap(self, buf: bytes, pos: int, n: int) -> int:
        """Analyse the pcap records in ``buf[pos:n]``; return the offset of
        the first record not taken (cut short, or longer than the file's
        limit).  The record layout comes from the file header, as read by
        ``self._pcap`` (the :class:`PacketReader` calling this).

        The fast path, in three steps:

        1. A Python loop finds where each record starts (one ``unpack_from``
           of its length: the records' lengths chain them).
        2. numpy decodes every record's headers at once (record header,
           EtherType, IPv4 and TCP fields: :func:`_fast_layout`), and sorts
           the packets into three kinds.  Some are only counted, in bulk:
           ARP and UDP (under :func:`decode_tcp`'s reasons for skipping
           them), and any IPv4 TCP segment of a connection another shard
           analyses.  An IPv4 TCP segment without SYN, FIN or RST (the
           common case) of this shard's connections is a candidate for the
           inline path below.  Anything else goes through :meth:`packet`.
        3. A Python loop takes the candidates and the others, in order.  A
           candidate in order on a connection already known is handled
           inline: the same bookkeeping as :meth:`packet`, :meth:`Conn.packet`
           and the reassembler's in-order case, whose slow-path versions are
           the reference for it.  Every other packet goes through
           :meth:`packet`, which sees the capture's counts as they are at
           that packet.  Sweeps happen at the same packets as in
           :meth:`packet`: whenever the capture's count since the last one
           reaches :data:`SWEEP_EVERY`.

        dpkt's packet classes are not used here: they build an object per
        layer, about 14 µs a packet before any analysis.
        """
        reader = self._pcap
        assert reader is not None, "feed_pcap is called by read()"
        length = struct.Struct(reader.record.format[0] + "8xI").unpack_from  # caplen
        limit = reader.max_caplen
        linktype = reader.link_types[0]
        # 1. where the records start: the loop only follows the lengths,
        # and numpy then finds the first record longer than the file's limit
        # or not all in buf (only the last one can be): the run ends there,
        # and what the loop followed after it is dropped
        starts = array("q")
        mark = starts.append
        last = n - 16
        while pos <= last:
            mark(pos)
            pos += 16 + length(buf, pos)[0]
        if not starts:
            return pos
        at = np.frombuffer(starts, dtype=np.int64)
        ends = np.empty_like(at)
        ends[:-1] = at[1:]
        ends[-1] = pos
        bad = (ends - at - 16 > limit) | (ends > n)
        if bad.any():
            cut = int(bad.argmax())
            pos = int(at[cut])
            at = at[:cut]
        count = len(at)
        if not count:
            return pos
        # 2. every header at once
        layout = _fast_layout(reader.record.format[0], linktype)
        width = layout.itemsize
        src = np.frombuffer(buf, np.uint8, n)
        if n >= width:
            rows = sliding_window_view(src, width)[np.minimum(at, n - width)]
        else:
            rows = np.zeros((count, width), np.uint8)
        # a record shorter than the layout, close to the buffer's end, was
        # read from earlier on: it is read again from its start, the bytes
        # past the buffer's end as its last byte (past the record's end, as
        # any record's bytes past its length: every value used below is
        # checked against the record's length)
        late = np.flatnonzero(at > n - width)
        if late.size:
            rows[late] = src[np.minimum(at[late, None] + np.arange(width), n - 1)]
        h = rows.view(layout)[:, 0]
        caplens = h["caplen"].astype(np.int64)
        origlens = h["origlen"].astype(np.int64)
        tss = (
            h["sec"].astype(np.int64) * 1_000_000_000 + h["frac"].astype(np.int64) * reader.ts_mult
        )
        cap = self.capture
        if cap.first_ts is None:
            cap.first_ts = int(tss[0])
        # the latest timestamp before each packet, and which are out of order
        latest = np.maximum.accumulate(tss)
        np.maximum(latest, self._last_ts, out=latest)
        before = np.empty_like(latest)
        before[0] = self._last_ts
        before[1:] = latest[:-1]
        disorder = tss < before
        bulk = forget = None
        arps = udps = 0
        if linktype in _FAST_LINKS:
            ipoff = _IP_OFFSET[linktype]
            thls = (h["doff"].astype(np.int64) >> 4) << 2
            total = h["total"].astype(np.int64)
            wires = total - 20 - thls
            pstarts = ipoff + 36 + thls  # from the record's start
            etype = h["etype"]
            proto = h["proto"]
            # IPv4 without options, not a fragment, its header captured
            ipv4 = (
                (caplens >= ipoff + 20)
                & (etype == ETH_IPV4)
                & (h["vihl"] == 0x45)
                & ((h["frag"] & 0x3FFF) == 0)
            )
            tcp = (
                ipv4
                & (caplens >= width - 16)
                & (proto == 6)
                & (thls >= 20)
                & (wires >= 0)
                & (pstarts + wires <= caplens + 16)
            )
            fast = tcp & ((h["flags"] & 7) == 0)
            # what decode_tcp skips most, counted here by its reason: ARP, and
            # UDP that is not GTP-U (whose ports it reads when captured)
            arp = (caplens >= ipoff) & (etype == ETH_ARP)
            udp = (
                ipv4
                & (proto == 17)
                & ((total >= 20) | (total == 0))
                & ~(
                    (caplens >= ipoff + 24)
                    & ((h["sport"] == GTP_U_PORT) | (h["dport"] == GTP_U_PORT))
                )
            )
            arps = int(arp.sum())
            udps = int(udp.sum())
            bulk = arp | udp if arps or udps else None
            if self.shard is not None:
                # another shard's segments, SYN, FIN and RST included, are
                # only counted; a FIN or RST is visited to forget the flow,
                # in case the general path took one of its packets
                k, shards = self.shard
                sport = h["sport"].astype(np.int64)
                theirs = tcp & (shard_of(sport, h["dport"].astype(np.int64), shards) != k)
                fast &= ~theirs
                bulk = theirs if bulk is None else bulk | theirs
                forget = theirs & ((h["flags"] & (FIN | RST)) != 0)
        else:
            fast = wires = pstarts = None
        # packets after which the sweep runs
        since = self._since_sweep
        first_sweep = SWEEP_EVERY - since - 1
        if self.shard is not None and bulk is not None:
            # only the packets the loop has to see (in one process, all are
            # seen: views of the columns cost less than copies through an index)
            visit = ~bulk
            if forget is not None:
                visit |= forget
            visit[first_sweep::SWEEP_EVERY] = True
            order = np.flatnonzero(visit)
            index = order.tolist()
        else:
            order = slice(None)  # every packet: views of the columns, not copies
            index = range(count)
        # 3. in order
        g0 = cap.packets
        slow = self.packet
        flows_get = self.flows.get
        taken = []  # the packets the general path took
        next_sweep = first_sweep
        cols = [index, tss[order].tolist()]
        if fast is not None:
            cols += [
                fast[order].tolist(),
                h["key"][order].tolist(),
                h["seq"][order].tolist(),
                h["ack"][order].tolist(),
                h["flags"][order].tolist(),
                wires[order].tolist(),
                (at[order] + pstarts[order]).tolist(),
            ]
        else:
            cols += [[False] * len(index)] + [[0] * len(index)] * 6
        for i, ts, inline, key, seq, ack, flags, wire, pstart in zip(*cols, strict=True):
            if inline:
                ent = flows_get(key)
                if ent is not None and ent is not OTHER_SHARD:
                    _conn, _side, r, peer, st, tsil, ctsil, psil, cpsil = ent
                    if not r.started or (
                        (r.next_seq != seq or r.pending)
                        if wire
                        else (seq + 1) & 0xFFFFFFFF == r.next_seq  # a keep-alive
                    ):
                        inline = False  # for the general path
                    else:
                        st.packets += 1
                        st.last_ts = ts
                        # silences: the connection's TCP silence is marked
                        # with every packet of either direction (and all four
                        # were started with the connection), so its last mark
                        # is the latest of the four: when ts is not before it,
                        # ts is not before any, and Silence.mark comes down to
                        # the lines below, inlined
                        if ts >= ctsil.last:
                            gap = ts - tsil.last
                            if gap > tsil.longest:
                                tsil.longest = gap
                                tsil.since = tsil.last
                            tsil.last = ts
                            gap = ts - ctsil.last
                            if gap > ctsil.longest:
                                ctsil.longest = gap
                                ctsil.since = ctsil.last
                            ctsil.last = ts
                            if wire:
                                gap = ts - psil.last
                                if gap > psil.longest:
                                    psil.longest = gap
                                    psil.since = psil.last
                                psil.last = ts
                                gap = ts - cpsil.last
                                if gap > cpsil.longest:
                                    cpsil.longest = gap
                                    cpsil.since = cpsil.last
                                cpsil.last = ts
                        else:  # out of time order
                            tsil.mark(ts)
                            ctsil.mark(ts)
                            if wire:
                                psil.mark(ts)
                                cpsil.mark(ts)
                        if wire:
                            st.bytes += wire
                        if flags & ACK and peer.started:
                            if peer.pending:
                                peer.ack(ack, ts)
                            else:
                                last = peer.acked
                                if last is None or (ack - last) & 0xFFFFFFFF < HALF:
                                    peer.acked = ack
                        if wire:  # Reassembler.segment's in-order case
                            r.next_seq = (seq + wire) & 0xFFFFFFFF
                            r.offset += wire
                            r.sink.data(buf[pstart : pstart + wire], ts)
                else:
                    inline = False
            elif bulk is not None and bulk[i]:
                # only counted: visited for its sweep, or to forget its flow
                inline = True
                if forget is not None and forget[i]:
                    self.forget_flow(key)
            if not inline:
                # the general path sees the counts as they are at this packet
                cap.packets = g0 + i
                self._last_ts = int(before[i])
                self._since_sweep = (since + i) % SWEEP_EVERY
                start = starts[i] + 16
                slow(ts, linktype, buf[start : start + int(caplens[i])], int(origlens[i]))
                taken.append(i)
            elif i == next_sweep:
                cap.packets = g0 + i + 1
                self._last_ts = int(latest[i])
                self.sweep(ts)
            if i >= next_sweep:
                next_sweep += SWEEP_EVERY
        # the counts of the packets not taken by the general path
        counted = np.ones(count, dtype=bool)
        counted[taken] = False
        cap.packets = g0 + count
        cap.bytes += int(origlens[counted].sum())
        cap.tcp_packets += count - len(taken) - arps - udps
        if arps:
            cap.skipped[SKIP_ARP] = cap.skipped.get(SKIP_ARP, 0) + arps
        if udps:
            cap.skipped[SKIP_UDP] = cap.skipped.get(SKIP_UDP, 0) + udps
        cap.timestamps_out_of_order += int(disorder[counted].sum())
        self._last_ts = int(latest[-1])
        self._since_sweep = (since + count) % SWEEP_EVERY
        return pos

    def new_conn(self, ts: int, src: bytes, sport: int, dst: bytes, dport: int) -> tuple:
        key = src + dst + _PORTS(sport, dport)
        old = self.flows.get(key)
        if old is not None:
            if not old[0].done:
                self.finalise(old[0], ts)
            old[0].release()  # its flows are about to be this connection's
        addrs = (format_addr(src, sport), format_addr(dst, dport))
        conn = Conn(self, self.next_id, ts, addrs)
        self.opened_at[conn.conn_id] = self.capture.packets
        self.next_id += 1
        self.live[conn.conn_id] = conn
        conn.keys = (key, reverse_key(key))
        # what feed_pcap's fast path needs of a packet's side, in one tuple:
        # (conn, side, its reassembler, the peer's, its stats, its tcp and
        # payload silences and the connection's)
        for side, (d, peer) in enumerate((conn.dirs, conn.dirs[::-1])):
            self.flows[conn.keys[side]] = (
                conn,
                side,
                d.reasm,
                peer.reasm,
                d.stats,
                d.tcp_sil,
                conn.tcp_sil,
                d.pay_sil,
                conn.pay_sil,
            )
        return self.flows[key]

    def forget_flow(self, key: bytes) -> None:
        """Forget both directions of a flow another shard analyses, at its
        FIN or RST, as a finished connection's flows are forgotten."""
        self.flows.pop(key, None)
        self.flows.pop(reverse_key(key), None)

    def finalise(self, c: Conn, ts: int) -> None:
        """Turn a connection's live state into its record and let it go."""
        self.records[c.conn_id] = c.finish(ts)
        self.live.pop(c.conn_id, None)

    def sweep(self, ts: int) -> None:
        """Finalise connections closed long enough ago, freeing their state."""
        self._since_sweep = 0
        keep = []
        for c in self.closing:
            if c.done:
                continue
            if ts - c.closed_ts > SWEEP_AFTER:
                self.finalise(c, c.last)
                for key in c.keys:
                    if self.flows.get(key, (None,))[0] is c:
                        del self.flows[key]
                c.release()
            else:
                keep.append(c)
        self.closing = keep

    def response_only_handshake(self, conn_id: int, resp: Response) -> Handshake:
        """A handshake whose request was not captured, from its 101."""
        hs = Handshake.without_request(conn_id, resp.ts)
        self.fill_response(hs, resp)
        self.handshakes.append(hs)
        return hs

    def new_handshake(self, conn_id: int, req: Request) -> Handshake:
        red = self.redact
        protocols = req.joined("sec-websocket-protocol")
        hs = Handshake(
            conn_id=conn_id,
            ts_request=req.ts,
            method=req.method,
            uri=redact_uri(req.target) if red else req.target,
            http_version=req.version,
            host=req.get("host"),
            origin=req.get("origin"),
            user_agent=req.get("user-agent"),
            upgrade=req.joined("upgrade"),
            connection=req.joined("connection"),
            key=req.get("sec-websocket-key"),
            version=req.joined("sec-websocket-version"),
            protocols_offered=redact_tokens(protocols) if red and protocols else protocols,
            extensions_offered=req.joined("sec-websocket-extensions"),
            request_headers=[(k, redact_header(k, v) if red else v) for k, v in req.headers],
        )
        self.handshakes.append(hs)
        return hs

    def fill_response(self, hs: Handshake, resp: Response) -> None:
        red = self.redact
        hs.ts_response = resp.ts
        hs.status = resp.status
        hs.reason = resp.reason
        hs.response_upgrade = resp.joined("upgrade")
        hs.response_connection = resp.joined("connection")
        hs.response_headers = [(k, redact_header(k, v) if red else v) for k, v in resp.headers]
        if resp.status == 101:
            hs.accept = resp.get("sec-websocket-accept")
            if hs.key is not None:
                hs.accept_expected = expected_accept(hs.key)
                hs.accept_valid = hs.accept is not None and hs.accept.strip() == hs.accept_expected
            else:
                hs.accept_valid = None
            sp = resp.get("sec-websocket-protocol")
            hs.subprotocol = redact_tokens(sp) if red and sp else sp
            hs.extensions = resp.joined("sec-websocket-extensions")
            accepted = parse_extensions(resp.get_all("sec-websocket-extensions"))
            params = deflate_params(accepted)
            hs.compressed = params is not None
            hs.deflate = asdict(params) if params is not None else None
            hs.deflate_params = params
            # e.g. x-webkit-deflate-frame: RSV1 without permessage-deflate's rules
            hs.other_extensions = any(name != "permessage-deflate" for name, _ in accepted)
            hs.outcome = HS_OK if hs.accept_valid is not False else HS_BAD_ACCEPT
        else:
            hs.outcome = HS_REJECTED

    def finish(self, damage: str | None = None) -> Analysis:
        """No more packets: finalise every connection and build the model."""
        cap = self.capture
        cap.damage = damage
        end = self._last_ts
        for c in list(self.live.values()):
            self.finalise(c, end)
        connections = [self.records[i] for i in sorted(self.records)]
        cap.last_ts = end if cap.packets else None
        for hs in self.handshakes:
            if hs.status is None:
                hs.outcome = HS_UNANSWERED
        for ent in self.flows.values():
            if ent is not OTHER_SHARD and ent[1] == 0:
                ent[0].release()
        self.flows.clear()
        canonical_order(self.handshakes, self.store)
        return Analysis(cap, connections, self.handshakes, self.store)


def canonical_order(handshakes: list[Handshake], store: Store) -> None:
    """Put every list of records in the model's order: by time, then by
    connection; records equal in both keep the order they were made in
    (they belong to one connection).  The order then depends only on what
    the capture holds, not on the order connections were parsed in, which
    lets a capture be analysed in shards and merged."""
    handshakes.sort(key=lambda h: (h.ts_request, h.conn_id))
    for records in (store.violations, store.gaps, store.heartbeats):
        records.sort(key=lambda r: (r.ts, r.conn_id))  # type: ignore[attr-defined]
    store.frames.sort()
    store.messages.sort()


def analyze(
    path: str | os.PathLike[str],
    keep_frames: bool = True,
    max_message: int = DEFAULT_MAX_MESSAGE,
    redact: bool = True,
    keep_messages: bool | None = None,
    fast: bool = True,
    jobs: int | None = 1,
) -> Analysis:
    """Read and analyse a capture file (``"-"`` for standard input).

    ``keep_frames=False`` keeps no per-frame rows and, unless
    ``keep_messages`` says otherwise, no per-message rows either: memory
    then depends on the connections, not on the traffic.

    ``jobs``: how many processes analyse the capture, each a shard of its
    connections (:mod:`wscap.parallel`); None picks by the input's size and
    the CPUs available.  The result is the same for any number.

    Raises :class:`~wscap.errors.CaptureError` when the input is missing,
    not a capture, or has no link type wscap can decode.  Damage part-way
    through does not raise: it is recorded in ``analysis.capture.damage``.
    """
    reader = PacketReader(path)
    options = dict(
        keep_frames=keep_frames,
        max_message=max_message,
        redact=redact,
        keep_messages=keep_messages,
        fast=fast,
    )
    if jobs is None:
        from .parallel import auto_jobs

        jobs = auto_jobs(reader)
    if jobs > 1:
        from .parallel import analyze_sharded

        return analyze_sharded(reader, jobs, options)
    return analyze_shard(reader, options)[0]


def analyze_shard(
    reader: PacketReader, options: dict, shard: tuple[int, int] | None = None
) -> tuple[Analysis, dict[int, int]]:
    """Run an :class:`Analyzer` (with ``options``, on ``shard``) over
    ``reader`` and finish it; the reader is closed afterwards.  Returns the
    analysis and :attr:`Analyzer.opened_at`."""
    an = Analyzer(reader.name, shard=shard, **options)
    with reader:
        an.read(reader)
    an.capture.link_types = sorted(set(reader.link_types))
    if reader.link_types and not any(lt in SUPPORTED_LINKTYPES for lt in reader.link_types):
        names = ", ".join(str(lt) for lt in sorted(set(reader.link_types)))
        raise CaptureError(f"{reader.name}: unsupported link type {names}")
    return an.finish(reader.damage), an.opened_at
