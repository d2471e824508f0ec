"""The data model every output renders: capture, connections, handshakes,
frames, messages, gaps and violations.

Records are plain dataclasses; frames and messages, which can number in
the millions, are kept column-wise in compact arrays
(:class:`FrameTable`, :class:`MessageTable`) rather than as an object
each.  Timestamps are integer nanoseconds since the epoch (UTC).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter

import numpy as np

SCHEMA_VERSION = 1

# handshake outcomes
HS_OK = "ok"
HS_BAD_ACCEPT = "bad-accept"  # 101, but Sec-WebSocket-Accept is wrong or missing
HS_REJECTED = "rejected"  # answered with something other than 101
HS_UNANSWERED = "unanswered"
HS_NOT_CAPTURED = "not-captured"  # WebSocket recognised from its frames alone
HANDSHAKE_STATES = (HS_OK, HS_BAD_ACCEPT, HS_REJECTED, HS_UNANSWERED, HS_NOT_CAPTURED)

TCP_END_STATES = ("fin-client", "fin-server", "rst-client", "rst-server", "open")
DIRECTIONS = ("client", "server")


@dataclass(slots=True)
class CaptureInfo:
    """What was read, and what could not be used."""

    path: str
    format: str = ""
    link_types: list[int] = field(default_factory=list)
    packets: int = 0
    bytes: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    tcp_packets: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> packets
    truncated_packets: int = 0  # cut by the snaplen
    truncated_bytes: int = 0
    damage: str | None = None  # why reading stopped early, if it did
    timestamps_out_of_order: int = 0


@dataclass(slots=True)
class Handshake:
    """One HTTP request asking for a WebSocket upgrade, and its answer."""

    conn_id: int
    ts_request: int
    method: str
    uri: str
    http_version: str
    host: str | None
    origin: str | None
    user_agent: str | None
    upgrade: str | None  # the request's Upgrade header as sent
    connection: str | None
    key: str | None
    version: str | None
    protocols_offered: str | None
    extensions_offered: str | None
    request_headers: list[tuple[str, str]]
    ts_response: int | None = None
    status: int | None = None
    reason: str | None = None
    response_upgrade: str | None = None
    response_connection: str | None = None
    accept: str | None = None
    accept_expected: str | None = None
    accept_valid: bool | None = None
    subprotocol: str | None = None
    extensions: str | None = None  # as accepted by the server
    compressed: bool = False
    deflate: dict[str, object] | None = None
    # the accepted permessage-deflate parameters (a DeflateParams), and whether
    # another accepted extension may use the RSV bits too
    deflate_params: object = None
    other_extensions: bool = False
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body_snippet: bytes = b""
    body_len: int = 0
    outcome: str = HS_UNANSWERED

    @classmethod
    def without_request(cls, conn_id: int, ts: int, outcome: str = HS_NOT_CAPTURED) -> Handshake:
        """A handshake whose request the capture does not have."""
        return cls(
            conn_id=conn_id,
            ts_request=ts,
            method="",
            uri="",
            http_version="",
            host=None,
            origin=None,
            user_agent=None,
            upgrade=None,
            connection=None,
            key=None,
            version=None,
            protocols_offered=None,
            extensions_offered=None,
            request_headers=[],
            outcome=outcome,
        )

    @property
    def latency_s(self) -> float | None:
        if self.ts_response is None:
            return None
        return (self.ts_response - self.ts_request) / 1e9


@dataclass(slots=True)
class Gap:
    """Bytes of one direction the capture does not have."""

    conn_id: int
    direction: str
    offset: int  # stream offset of the first missing byte
    length: int
    ts: int


@dataclass(slots=True)
class ViolationRecord:
    conn_id: int
    ts: int
    direction: str
    code: str
    detail: str = ""


class Silence:
    """Longest time without a given kind of activity.

    ``mark(ts)`` is called at each occurrence; ``longest`` is the longest
    interval between two occurrences and ``since`` when it began.
    """

    __slots__ = ("last", "longest", "since")

    def __init__(self) -> None:
        self.last: int | None = None
        self.longest = 0
        self.since: int | None = None

    def mark(self, ts: int) -> None:
        last = self.last
        if last is None:
            self.last = ts
        elif ts > last:
            if ts - last > self.longest:
                self.longest = ts - last
                self.since = last
            self.last = ts

    def start(self, ts: int) -> None:
        """Silence is measured from ``ts`` (an upgrade, a connection's start)."""
        if self.last is None:
            self.last = ts

    def close(self, ts: int) -> None:
        """The end (first FIN/RST, or the end of the capture): the silence
        running up to it counts too."""
        last = self.last
        if last is not None and ts - last > self.longest:
            self.longest = ts - last
            self.since = last

    def __repr__(self) -> str:
        return f"Silence(longest={self.longest / 1e9:.3f}s, since={self.since})"

    def __reduce__(self) -> tuple:
        return (_silence, (self.last, self.longest, self.since))


def _silence(last: int | None, longest: int, since: int | None) -> Silence:
    s = Silence()
    s.last, s.longest, s.since = last, longest, since
    return s


# Kinds of activity whose silences are measured, per direction and for both.
ACTIVITY = ("tcp", "payload", "frame", "data")


def activity() -> dict[str, Silence]:
    """A fresh tracker for each kind of activity."""
    return {k: Silence() for k in ACTIVITY}


@dataclass(slots=True)
class Heartbeat:
    """A WebSocket ping (or application heartbeat) and its answer."""

    conn_id: int
    direction: str  # who sent the ping
    kind: str  # "ws-ping", "ws-pong-unsolicited", or "app:<name>"
    ts: int
    ts_answer: int | None = None

    @property
    def rtt_s(self) -> float | None:
        return None if self.ts_answer is None else (self.ts_answer - self.ts) / 1e9


@dataclass(slots=True)
class Side:
    """Per-direction facts of a connection (named by who sends)."""

    addr: str = ""
    packets: int = 0
    bytes: int = 0  # TCP payload bytes on the wire (captured or not)
    syn_ts: int | None = None
    fin_ts: int | None = None
    rst_ts: int | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    frames: int = 0
    last_frame_ts: int | None = None
    compressed_messages: int = 0
    payload_bytes: int = 0  # message payload after decompression, where known
    payload_unknown: int = 0  # messages whose payload size is not known
    messages: int = 0
    close_ts: int | None = None
    close_code: int | None = None
    close_reason: str | None = None
    gaps: int = 0
    gap_bytes: int = 0
    dup_bytes: int = 0  # retransmitted or duplicated (tcpdump -i any) bytes dropped
    unparsed_bytes: int = 0
    keepalives: int = 0  # TCP keep-alive probes (no data: proxies that time data ignore them)
    pings: int = 0
    pongs: int = 0
    activity: dict[str, Silence] = field(default_factory=activity)


@dataclass(slots=True)
class Connection:
    conn_id: int
    client: Side
    server: Side
    start: int
    end: int
    roles_from: str  # how client/server was decided: syn, http, masking, port
    websocket: bool = False  # a WebSocket handshake was attempted, or frames were recognised
    upgraded: bool = False  # frames could flow: 101, or frames seen without a handshake
    handshake: str | None = None
    http_status: int | None = None
    accept_valid: bool | None = None
    subprotocol: str | None = None
    extensions: str | None = None
    compressed: bool = False
    http_requests: int = 0
    activity: dict[str, Silence] = field(default_factory=activity)  # both directions
    # when the first FIN/RST came, the last activity of each kind before it
    end_last: dict[str, int | None] = field(default_factory=dict)

    @property
    def first_close(self) -> str | None:
        c, s = self.client.close_ts, self.server.close_ts
        if c is None and s is None:
            return None
        if s is None or (c is not None and c <= s):
            return "client"
        return "server"

    @property
    def max_idle_ns(self) -> int:
        """Longest time with no TCP segment in either direction."""
        return self.activity["tcp"].longest

    @property
    def last_frame_ts(self) -> int | None:
        """When the last WebSocket frame (either direction) was complete."""
        ts = [t for t in (self.client.last_frame_ts, self.server.last_frame_ts) if t is not None]
        return max(ts) if ts else None

    def _first_end(self) -> tuple[int, str] | None:
        """The first FIN or RST from either side: (time, 'fin-client'...)."""
        events = []
        for name, side in (("client", self.client), ("server", self.server)):
            if side.fin_ts is not None:
                events.append((side.fin_ts, "fin-" + name))
            if side.rst_ts is not None:
                events.append((side.rst_ts, "rst-" + name))
        return min(events) if events else None

    @property
    def tcp_end_ts(self) -> int | None:
        """When the first FIN or RST (either side) was seen."""
        first = self._first_end()
        return first[0] if first else None

    @property
    def tcp_end(self) -> str:
        """How TCP ended first: fin-/rst- and the side, or open."""
        first = self._first_end()
        return first[1] if first else "open"


def _by_fields(self: object) -> tuple:
    """Pickle a record as its class and field values, positionally: several
    times faster than the default for slots (shards of one analysis come
    back from other processes pickled; see wscap.parallel).  The values are
    read by one attrgetter call, not a getattr each."""
    cls = self.__class__
    return (cls, _VALUES[cls](self))


_VALUES: dict[type, Callable[[object], tuple]] = {}
for _cls in (CaptureInfo, Handshake, Gap, ViolationRecord, Heartbeat, Side, Connection):
    _VALUES[_cls] = attrgetter(*(f.name for f in fields(_cls)))  # every class has several
    _cls.__reduce__ = _by_fields  # type: ignore[method-assign, assignment]


class FrameTable:
    """Frames, column-wise: about 40 bytes a frame."""

    __slots__ = (
        "conn_id",
        "ts",
        "ts_end",
        "flags",
        "opcode",
        "payload_len",
        "close_code",
        "violation",
        "codes",
    )

    def __init__(self) -> None:
        self.conn_id = array("l")
        self.ts = array("q")
        self.ts_end = array("q")
        # bit 0 direction (1 = server), bit 1 fin, bits 2-4 rsv (RSV1 = bit 4),
        # bit 5 masked, bit 6 incomplete
        self.flags = array("B")
        self.opcode = array("B")
        self.payload_len = array("Q")
        self.close_code = array("l")  # -1 = none
        self.violation = array("H")  # index into codes, 0 = none
        self.codes: list[str | None] = [None]

    def __len__(self) -> int:
        return len(self.ts)

    def sort(self) -> None:
        """Order rows by start time, then connection; rows that tie on both
        keep the order they were parsed in (per direction).  The violation
        codes are put in order of name, not of first appearance, which
        depends on the order the connections were parsed in (a shard's
        first code may come later in the capture than another's)."""
        _sort_columns(self, "ts")
        self._sort_codes()

    def _sort_codes(self) -> None:
        codes = self.codes
        order = sorted(range(1, len(codes)), key=codes.__getitem__)  # type: ignore[arg-type]
        if order == list(range(1, len(codes))):
            return
        lookup = np.zeros(len(codes), dtype=np.uint16)
        lookup[order] = np.arange(1, len(codes), dtype=np.uint16)
        viol = np.frombuffer(self.violation, dtype=np.uint16)
        self.violation = array("H", lookup[viol].tobytes())
        self.codes = [None] + [codes[i] for i in order]

    def code_index(self, code: str | None) -> int:
        if code is None:
            return 0
        try:
            return self.codes.index(code)
        except ValueError:
            self.codes.append(code)
            return len(self.codes) - 1


class MessageTable:
    """Messages, column-wise."""

    __slots__ = (
        "conn_id",
        "ts_first",
        "ts_last",
        "flags",
        "fragments",
        "wire_bytes",
        "payload_bytes",
    )

    def __init__(self) -> None:
        self.conn_id = array("l")
        self.ts_first = array("q")
        self.ts_last = array("q")
        # bit 0 direction (1 = server), bit 1 binary, bit 2 compressed,
        # bit 3 utf8 valid, bit 4 utf8 unknown, bit 5 payload size unknown, bit 6 incomplete
        self.flags = array("B")
        self.fragments = array("l")
        self.wire_bytes = array("q")
        self.payload_bytes = array("q")

    def __len__(self) -> int:
        return len(self.ts_first)

    def sort(self) -> None:
        """Order rows by first-frame time, then connection (stable)."""
        _sort_columns(self, "ts_first")


def _sort_columns(table: FrameTable | MessageTable, key: str) -> None:
    """Reorder every array column of ``table`` by column ``key``, then by
    connection, keeping the order of rows equal in both."""
    columns = [name for name in table.__slots__ if isinstance(getattr(table, name), array)]
    ts = np.frombuffer(getattr(table, key), dtype=np.int64)
    conn = np.frombuffer(table.conn_id, dtype=np.int_)
    if len(ts) < 2:
        return
    later = ts[1:] > ts[:-1]
    if bool(np.all(later | ((ts[1:] == ts[:-1]) & (conn[1:] >= conn[:-1])))):
        return
    order = np.lexsort((conn, ts))  # stable: ties keep their order
    for name in columns:
        col = getattr(table, name)
        arr = np.frombuffer(col, dtype=col.typecode if col.typecode != "l" else np.int_)
        setattr(table, name, array(col.typecode, arr[order].tobytes()))
