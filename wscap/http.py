"""HTTP/1.x message heads and body framing, enough to follow a connection up
to its WebSocket Upgrade (sans-IO).

:class:`HttpStream` takes one direction's bytes and returns events: parsed
:class:`Request` or :class:`Response` heads, and :class:`Switched` when the
bytes stop being HTTP (after a ``101``).  Bodies are skipped by their
framing (Content-Length, chunked, until close), keeping only a short
snippet of each response body for the report.  Keep-alive connections with
requests before the upgrade are followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024  # a head longer than this is not HTTP we follow
MAX_HELD = 1 << 20  # client bytes held while an upgrade waits for its answer
BODY_SNIPPET = 256

_REQUEST_START = re.compile(rb"[A-Z][A-Z-]{1,19} ")
_REQUEST_LINE = re.compile(r"([A-Z][A-Z-]{1,19}) (\S+) (HTTP/\d\.\d)$")
_STATUS_LINE = re.compile(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?$")


def looks_like_request(data: bytes) -> bool:
    """Could ``data`` be the start of an HTTP request?"""
    return _REQUEST_START.match(data[:21]) is not None


def looks_like_response(data: bytes) -> bool:
    """Could ``data`` be the start of an HTTP response?"""
    return data[:5] == b"HTTP/"[: len(data[:5])] and len(data) >= 1


_METHOD_PREFIX = re.compile(rb"[A-Z][A-Z-]{0,19}")


def undecided(data: bytes) -> bool:
    """Too short to tell: ``data`` is the beginning of a request line (a
    method not yet followed by a space) or of ``HTTP/``."""
    if len(data) < 5 and b"HTTP/".startswith(data):
        return True
    return len(data) <= 20 and _METHOD_PREFIX.fullmatch(data) is not None


class _Headers:
    __slots__ = ()

    headers: list[tuple[str, str]]
    index: dict[str, list[str]] | None

    def _index(self) -> dict[str, list[str]]:
        """Values by lower-cased name, built at the first look-up."""
        idx = self.index
        if idx is None:
            idx = self.index = {}
            for k, v in self.headers:
                low = k.lower()
                if low in idx:
                    idx[low].append(v)
                else:
                    idx[low] = [v]
        return idx

    def get(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        vals = self._index().get(name.lower())
        return vals[0] if vals else None

    def get_all(self, name: str) -> list[str]:
        return list(self._index().get(name.lower(), ()))

    def joined(self, name: str) -> str | None:
        """All values of a repeated header joined with ', ' (RFC 9110 5.3)."""
        vals = self.get_all(name)
        return ", ".join(vals) if vals else None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of a header, lower-cased, over repetitions."""
        out = []
        for v in self.get_all(name):
            out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out


@dataclass(slots=True)
class Request(_Headers):
    ts: int
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    head_bytes: int = 0
    index: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def is_upgrade(self) -> bool:
        """Asks for a WebSocket: an Upgrade header, or WebSocket key headers
        left behind by a proxy that dropped Upgrade/Connection."""
        return "websocket" in self.tokens("upgrade") or self.get("sec-websocket-key") is not None


@dataclass(slots=True)
class Response(_Headers):
    ts: int
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    head_bytes: int = 0
    index: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    body: bytearray = field(default_factory=bytearray)
    body_len: int = 0


@dataclass(slots=True)
class Switched:
    """The HTTP part of this direction is over; ``rest`` is what follows."""

    ts: int
    rest: bytes


@dataclass(slots=True)
class HttpError:
    """This direction stopped being parseable HTTP; no more events follow."""

    ts: int
    reason: str


def parse_head(raw: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """Split a message head into its start line and header list.

    Header names keep their case; obs-fold continuation lines are joined.
    Returns None when the head is not HTTP.
    """
    text = raw.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return None
    start = lines[0]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip())
            continue
        k, sep, v = line.partition(":")
        if not sep or not k or k != k.strip():
            return None
        headers.append((k, v.strip()))
    return start, headers


# states of HttpStream
(HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILER, UNTIL_CLOSE, HOLD, SWITCHED, BROKEN) = (
    range(10)
)


class HttpStream:
    """One direction of an HTTP/1.x connection.

    ``is_request`` selects the request (client) or response (server) side.
    The response side must be told, with :meth:`expect`, the request each
    response answers (HEAD and upgrade requests change the framing).
    """

    def __init__(self, is_request: bool) -> None:
        self.is_request = is_request
        self.state = HEAD
        self._buf = b""  # a chunk-size line being read
        self._head = bytearray()  # a message head being read
        self._remaining = 0
        self._current: Response | None = None
        self._expected: list[Request] = []
        self._held: list[bytes | int] = []  # bytes, or the length of a capture gap
        self.held_bytes = 0
        self.dropped_bytes = 0
        self.messages = 0

    def expect(self, request: Request) -> None:
        """The response side learns that ``request`` was sent."""
        self._expected.append(request)

    # -- input --------------------------------------------------------------

    def feed(self, data: bytes, ts: int) -> list[object]:
        """Consume bytes; return the events they complete."""
        events: list[object] = []
        while data:
            st = self.state
            if st == HEAD:
                data = self._feed_head(data, ts, events)
            elif st == BODY or st == CHUNK_DATA:
                take = min(self._remaining, len(data))
                self._snip(data[:take])
                self._remaining -= take
                data = data[take:]
                if not self._remaining:
                    self.state = CHUNK_CRLF if st == CHUNK_DATA else HEAD
                    if st == BODY:
                        self._end_message()
            elif st in (CHUNK_SIZE, CHUNK_CRLF, TRAILER):
                data = self._feed_chunk_line(data, ts, events)
            elif st == UNTIL_CLOSE:
                self._snip(data)
                data = b""
            elif st == HOLD:
                room = MAX_HELD - self.held_bytes
                if room > 0:
                    self._held.append(data[:room])
                    self.held_bytes += min(room, len(data))
                self.dropped_bytes += max(0, len(data) - max(room, 0))
                data = b""
            elif st == SWITCHED:
                events.append(Switched(ts, data))
                data = b""
            else:  # BROKEN
                self.dropped_bytes += len(data)
                data = b""
        return events

    def gap(self, length: int, ts: int) -> list[object]:
        """``length`` bytes of this direction were not captured."""
        st = self.state
        if (st == BODY or st == CHUNK_DATA) and length <= self._remaining:
            self._remaining -= length
            if self._current is not None:
                self._current.body_len += length
            if not self._remaining:
                self.state = CHUNK_CRLF if st == CHUNK_DATA else HEAD
                if st == BODY:
                    self._end_message()
            return []
        if st == UNTIL_CLOSE:
            if self._current is not None:
                self._current.body_len += length
            return []
        if st == HOLD:
            self._held.append(length)
            return []
        if st == HEAD and not self._head:
            # a hole between messages: the next bytes may start a new head
            return []
        self.state = BROKEN
        self.dropped_bytes += length
        return [HttpError(ts, f"{length} bytes missing inside an HTTP message")]

    def release(self, accepted: bool, ts: int) -> tuple[list[bytes | int], list[object]]:
        """The held upgrade request was answered.

        If ``accepted``, switches and returns what the client sent after the
        request (its first WebSocket frames): byte strings, and ints for
        capture gaps.  Otherwise HTTP parsing resumes on those bytes and
        their events are returned.
        """
        held = self._held
        self._held = []
        self.held_bytes = 0
        if accepted:
            self.state = SWITCHED
            return held, []
        self.state = HEAD
        events: list[object] = []
        for item in held:
            events.extend(self.feed(item, ts) if isinstance(item, bytes) else self.gap(item, ts))
        return [], events

    # -- internals ----------------------------------------------------------

    def _snip(self, data: bytes) -> None:
        cur = self._current
        if cur is not None:
            cur.body_len += len(data)
            room = BODY_SNIPPET - len(cur.body)
            if room > 0:
                cur.body += data[:room]

    def _end_message(self) -> None:
        self._current = None

    def _feed_head(self, data: bytes, ts: int, events: list[object]) -> bytes:
        head = self._head
        start = 0
        if head:
            start = max(0, len(head) - 3)  # the blank line may straddle the chunks
            head += data
            buf: bytes | bytearray = head
        else:
            # skip stray CRLFs between messages (RFC 9112 2.2)
            buf = data.lstrip(b"\r\n")
            if not buf:
                return b""
            ok = looks_like_request(buf) if self.is_request else looks_like_response(buf)
            if not ok and len(buf) >= 5:
                self.state = BROKEN
                self.dropped_bytes += len(buf)
                events.append(HttpError(ts, "bytes that are not an HTTP message head"))
                return b""
        end = buf.find(b"\r\n\r\n", start)
        sep = 4
        if end < 0:
            end = buf.find(b"\n\n", start)
            sep = 2
        if end < 0:
            if len(buf) > MAX_HEAD:
                self.state = BROKEN
                self._head = bytearray()
                self.dropped_bytes += len(buf)
                events.append(HttpError(ts, f"message head longer than {MAX_HEAD} bytes"))
                return b""
            if not head:
                head += buf
            return b""
        raw, rest = bytes(buf[:end]), bytes(buf[end + sep :])
        self._head = bytearray()
        parsed = parse_head(raw)
        if parsed is None:
            self.state = BROKEN
            self.dropped_bytes += len(buf)
            events.append(HttpError(ts, "malformed HTTP message head"))
            return b""
        start, headers = parsed
        self.messages += 1
        if self.is_request:
            m = _REQUEST_LINE.match(start)
            if not m:
                self.state = BROKEN
                events.append(HttpError(ts, f"malformed request line {start[:80]!r}"))
                return b""
            req = Request(ts, m.group(1), m.group(2), m.group(3), headers, end + sep)
            events.append(req)
            self._start_body(req, None)
            if req.is_upgrade and self.state == HEAD:
                self.state = HOLD
        else:
            m = _STATUS_LINE.match(start)
            if not m:
                self.state = BROKEN
                events.append(HttpError(ts, f"malformed status line {start[:80]!r}"))
                return b""
            resp = Response(ts, m.group(1), int(m.group(2)), m.group(3) or "", headers, end + sep)
            events.append(resp)
            if resp.status == 101:
                if self._expected:
                    self._expected.pop(0)
                self.state = SWITCHED
                return rest
            if 100 <= resp.status < 200:
                return rest  # informational: the final response follows
            req = self._expected.pop(0) if self._expected else None
            self._current = resp
            self._start_body(resp, req)
        return rest

    def _start_body(self, msg: Request | Response, req: Request | None) -> None:
        if isinstance(msg, Response):
            if (req is not None and req.method == "HEAD") or msg.status in (204, 304):
                self._current = None
                return
        te = msg.tokens("transfer-encoding")
        if te and te[-1] == "chunked":
            self.state = CHUNK_SIZE
            return
        cl = msg.get("content-length")
        if cl is not None:
            try:
                n = int(cl.split(",")[0].strip())
            except ValueError:
                n = -1
            if n > 0:
                self._remaining = n
                self.state = BODY
                return
            if n == 0:
                self._current = None
                return
        if isinstance(msg, Response):
            self.state = UNTIL_CLOSE  # body runs to the end of the connection
        # a request without length has no body

    def _feed_chunk_line(self, data: bytes, ts: int, events: list[object]) -> bytes:
        buf = self._buf + data if self._buf else data
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > 4096:
                self.state = BROKEN
                events.append(HttpError(ts, "malformed chunked body"))
                return b""
            self._buf = buf
            return b""
        line, rest = buf[:nl].rstrip(b"\r"), buf[nl + 1 :]
        self._buf = b""
        st = self.state
        if st == CHUNK_CRLF:
            self.state = CHUNK_SIZE
        elif st == TRAILER:
            if not line:
                self.state = HEAD
                self._end_message()
        else:
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.state = BROKEN
                events.append(HttpError(ts, "malformed chunk size"))
                return b""
            if size == 0:
                self.state = TRAILER
            else:
                self._remaining = size
                self.state = CHUNK_DATA
        return rest
