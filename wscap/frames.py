"""WebSocket frame parsing (RFC 6455 section 5), sans-IO and incremental.

:class:`FrameParser` takes one direction's bytes as they come and returns
events: a :class:`FrameHeader` when a header is complete, payload chunks
(unmasked) when the layer above needs them, and the end of each frame.
Payload bytes that nobody needs (uncompressed binary data) are counted and
skipped, never copied, so a frame claiming 2**63 bytes costs nothing.

An analyzer does not stop at a protocol violation: each broken rule is
recorded on the header (:attr:`FrameHeader.violations`) and parsing goes
on.  After a capture gap the parser resynchronises on the next plausible
frame header instead of misreading payload as headers.
"""

from __future__ import annotations

import enum
import struct

import numpy as np

_u16 = struct.Struct(">H").unpack_from
_u64 = struct.Struct(">Q").unpack_from


class Opcode(enum.IntEnum):
    """Frame opcodes, RFC 6455 section 5.2 / 11.8."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OPCODE_NAMES = {
    0: "continuation",
    1: "text",
    2: "binary",
    8: "close",
    9: "ping",
    10: "pong",
}
for _op in range(16):
    OPCODE_NAMES.setdefault(_op, f"reserved-{_op}")

DATA_OPCODES = (0, 1, 2)
MAX_CONTROL_PAYLOAD = 125  # RFC 6455 5.5


class Violation(str, enum.Enum):
    """Broken RFC 6455 / 7692 rules a capture can show, as stable codes."""

    CLIENT_FRAME_UNMASKED = "client-frame-unmasked"  # 5.1
    SERVER_FRAME_MASKED = "server-frame-masked"  # 5.1
    RESERVED_OPCODE = "reserved-opcode"  # 5.2
    RSV_WITHOUT_EXTENSION = "rsv-without-extension"  # 5.2
    CONTROL_FRAME_TOO_LONG = "control-frame-too-long"  # 5.5
    CONTROL_FRAME_FRAGMENTED = "control-frame-fragmented"  # 5.5
    NON_MINIMAL_LENGTH = "non-minimal-length"  # 5.2
    LENGTH_TOP_BIT_SET = "length-top-bit-set"  # 5.2
    CONTINUATION_WITHOUT_START = "continuation-without-start"  # 5.4
    MESSAGE_INTERLEAVED = "message-interleaved"  # 5.4: new data frame inside a fragmented one
    RSV1_ON_CONTINUATION = "rsv1-on-continuation"  # RFC 7692 6.1
    INVALID_UTF8_TEXT = "invalid-utf8-text"  # 5.6, 8.1
    INVALID_CLOSE_CODE = "invalid-close-code"  # 7.4
    CLOSE_PAYLOAD_ONE_BYTE = "close-payload-one-byte"  # 5.5.1
    INVALID_UTF8_CLOSE_REASON = "invalid-utf8-close-reason"  # 5.5.1
    DATA_AFTER_CLOSE = "data-after-close"  # 5.5.1
    DEFLATE_ERROR = "deflate-error"  # RFC 7692 7.2.2
    FRAME_INCOMPLETE = "frame-incomplete"  # stream ended inside a frame


_NONE: list[str] = []  # never appended to: FrameHeader.violate replaces it


class FrameHeader:
    """One frame's header, plus what the parser learnt about it.

    ``ts`` is the capture time of the packet that completed the header,
    ``ts_end`` that of the packet holding its last payload byte.
    ``lost`` counts payload bytes that fell into a capture gap.
    """

    __slots__ = (
        "ts",
        "ts_end",
        "fin",
        "rsv",
        "opcode",
        "masked",
        "mask",
        "length",
        "header_len",
        "violations",
        "lost",
        "payload",
    )

    def __init__(
        self,
        ts: int,
        fin: bool,
        rsv: int,
        opcode: int,
        masked: bool,
        mask: bytes,
        length: int,
        header_len: int,
    ) -> None:
        self.ts = ts
        self.ts_end = ts
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.masked = masked
        self.mask = mask
        self.length = length
        self.header_len = header_len
        self.violations: list[str] = _NONE  # shared empty list until the first violation
        self.lost = 0
        self.payload: bytes | None = None  # kept for control frames only

    def violate(self, code: str) -> None:
        """Record a broken rule on this frame."""
        if self.violations is _NONE:
            self.violations = [code]
        else:
            self.violations.append(code)

    def __repr__(self) -> str:
        return (
            f"FrameHeader({OPCODE_NAMES[self.opcode]}, fin={self.fin}, rsv={self.rsv},"
            f" masked={self.masked}, length={self.length})"
        )


# From this payload size on, numpy XORs faster than one big integer does; below
# it, numpy's fixed cost (about 1.2 us) is more.  Measured: 256 bytes, 0.9 us
# by the integer against 1.2; 512, 1.4 against 1.3; 16 KiB, 30 against 2.7.
UNMASK_NUMPY_FROM = 512


def unmask(data: bytes, mask: bytes, pos: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` starting at mask offset ``pos``.

    Works on the whole buffer at once, not byte by byte: as one integer, or
    as a numpy array when it is large.
    """
    n = len(data)
    if not n:
        return data
    r = pos & 3
    key = (mask[r:] + mask[:r]) * (n // 4 + 1)
    if n >= UNMASK_NUMPY_FROM:
        return (np.frombuffer(data, np.uint8) ^ np.frombuffer(key, np.uint8, n)).tobytes()
    return (int.from_bytes(data, "big") ^ int.from_bytes(key[:n], "big")).to_bytes(n, "big")


def parse_header(buf: bytes, pos: int, ts: int) -> FrameHeader | None:
    """Parse a frame header at ``buf[pos:]``; None if it is not all there.

    Records length-encoding violations on the header; never raises.
    """
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0 = buf[pos]
    b1 = buf[pos + 1]
    masked = b1 & 0x80
    ln = b1 & 0x7F
    hl = 2
    if ln == 126:
        hl = 4
    elif ln == 127:
        hl = 10
    if masked:
        hl += 4
    if avail < hl:
        return None
    violation = None
    if ln == 126:
        ln = _u16(buf, pos + 2)[0]
        if ln < 126:
            violation = Violation.NON_MINIMAL_LENGTH.value
    elif ln == 127:
        ln = _u64(buf, pos + 2)[0]
        if ln >> 63:
            violation = Violation.LENGTH_TOP_BIT_SET.value
        elif ln < 65536:
            violation = Violation.NON_MINIMAL_LENGTH.value
    mask = buf[pos + hl - 4 : pos + hl] if masked else b""
    h = FrameHeader(ts, bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, bool(masked), mask, ln, hl)
    if violation:
        h.violations = [violation]
    return h


def plausible(h: FrameHeader, expect_masked: bool | None, rsv_ok: int) -> bool:
    """Could ``h`` be a real frame header (used to resynchronise and to
    recognise WebSocket without a handshake)?"""
    op = h.opcode
    if op not in OPCODE_NAMES or OPCODE_NAMES[op].startswith("reserved"):
        return False
    if h.rsv & ~rsv_ok or h.violations:
        return False
    if op >= 8 and (h.length > MAX_CONTROL_PAYLOAD or not h.fin):
        return False
    if expect_masked is not None and h.masked != expect_masked:
        return False
    return h.length < (1 << 40)


class FrameEvents:
    """Default handler: collects ``("start", h)``, ``("data", h, bytes)``
    and ``("end", h)`` tuples for :meth:`FrameParser.feed` to return.

    A consumer that wants no intermediate list (the analyzer's hot path)
    passes itself as the handler, with the same three methods.
    """

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def frame_start(self, h: FrameHeader) -> None:
        self.events.append(("start", h))

    def frame_data(self, h: FrameHeader, chunk: bytes) -> None:
        self.events.append(("data", h, chunk))

    def frame_end(self, h: FrameHeader) -> None:
        self.events.append(("end", h))

    def take(self) -> list[tuple]:
        ev, self.events = self.events, []
        return ev


# parser states
_HEADER, _PAYLOAD, _RESYNC = range(3)
_NO_EVENTS: list[tuple] = []  # returned when a handler gets the events; never mutated


class FrameParser:
    """Incremental frame parser for one direction.

    ``is_client`` says whether the sender is the client (its frames must be
    masked).  ``rsv_ok`` is the RSV bit mask the negotiated extensions allow
    (0x4 = RSV1 for permessage-deflate).

    Events go to ``handler`` (``frame_start(h)``, ``frame_data(h, bytes)``,
    ``frame_end(h)``); without one, :meth:`feed`, :meth:`gap` and
    :meth:`eof` return them as a list of tuples: ``("start", header)``,
    ``("data", header, unmasked_bytes)`` and ``("end", header)``.  Payload
    chunks are produced only for frames whose payload matters (control
    frames, text, compressed frames and the continuations of such
    messages); others are skipped.

    ``WsDirection.data`` (the analyzer's fast path) works on this state
    directly: it reads ``_buf``, ``_state``, ``_remaining`` and ``_want`` to
    know that the parser sits between frames, and updates ``_remaining``,
    ``_msg_want`` and ``frames`` for the frames it handles itself; and
    ``WsDirection.frame_data`` reads ``_remaining``, not yet reduced by the
    chunk it is handed, to know that the chunk ends its frame.  A change
    to this state machine must keep that in step (``tests/test_fastpath.py``
    compares the two).
    """

    def __init__(self, is_client: bool, rsv_ok: int = 0, handler: object = None) -> None:
        self._collect = FrameEvents() if handler is None else None
        self._h = handler if handler is not None else self._collect
        self.is_client = is_client
        self.rsv_ok = rsv_ok
        self._state = _HEADER
        self._buf = b""
        self._cur: FrameHeader | None = None
        self._remaining = 0
        self._want = False
        self._mpos = 0
        self._msg_want = False  # payload of the current fragmented message matters
        self.frames = 0
        self.skipped_bytes = 0  # bytes thrown away while resynchronising
        self.resyncs = 0

    def _events(self) -> list[tuple]:
        return self._collect.take() if self._collect is not None else _NO_EVENTS

    def feed(self, data: bytes, ts: int) -> list[tuple]:
        """Consume bytes received at ``ts``; return the events they complete
        (an empty list when a handler receives them)."""
        if self._buf:
            data = self._buf + data
            self._buf = b""
        if self._state == _RESYNC:
            data = self._resync(data)
        handler = self._h
        i = 0
        n = len(data)
        while i < n:
            remaining = self._remaining
            if remaining:
                take = remaining if remaining < n - i else n - i
                cur = self._cur
                if self._want:
                    chunk = data[i : i + take]
                    if cur.masked:
                        chunk = unmask(chunk, cur.mask, self._mpos)
                        self._mpos += take
                    handler.frame_data(cur, chunk)
                self._remaining = remaining - take
                i += take
                if take == remaining:
                    cur.ts_end = ts
                    self._cur = None
                    handler.frame_end(cur)
                continue
            h = parse_header(data, i, ts)
            if h is None:
                break
            self._start(h)
            i += h.header_len
        if i < n:
            self._buf = data[i:]
        return self._events()

    def gap(self, length: int, ts: int) -> list[tuple]:
        """``length`` bytes of this direction are missing from the capture."""
        cur = self._cur
        if self._state == _HEADER and self._remaining and length <= self._remaining:
            cur.lost += length
            self._remaining -= length
            if self._want:
                self._mpos += length
            if not self._remaining:
                cur.ts_end = ts
                self._cur = None
                self._h.frame_end(cur)
            return self._events()
        # the gap swallowed a frame boundary: what follows cannot be trusted
        if cur is not None:
            cur.lost += self._remaining
            cur.ts_end = ts
            self._cur = None
            self._h.frame_end(cur)
        self._remaining = 0
        self._buf = b""
        self._state = _RESYNC
        self.resyncs += 1
        return self._events()

    def eof(self, ts: int) -> list[tuple]:
        """The stream ended; a frame cut short is reported as incomplete."""
        cur = self._cur
        if cur is not None:
            cur.violate(Violation.FRAME_INCOMPLETE.value)
            cur.lost += self._remaining
            cur.ts_end = ts
            self._remaining = 0
            self._cur = None
            self._h.frame_end(cur)
        self.skipped_bytes += len(self._buf)
        self._buf = b""
        return self._events()

    @property
    def in_frame(self) -> bool:
        return self._cur is not None

    # -- internals ----------------------------------------------------------

    def _start(self, h: FrameHeader) -> None:
        self.frames += 1
        op = h.opcode
        if h.masked != self.is_client:
            h.violate(
                Violation.CLIENT_FRAME_UNMASKED.value
                if self.is_client
                else Violation.SERVER_FRAME_MASKED.value
            )
        if op >= 8:
            if op > 10:
                h.violate(Violation.RESERVED_OPCODE.value)
            if h.length > MAX_CONTROL_PAYLOAD:
                h.violate(Violation.CONTROL_FRAME_TOO_LONG.value)
            if not h.fin:
                h.violate(Violation.CONTROL_FRAME_FRAGMENTED.value)
            if h.rsv:
                h.violate(Violation.RSV_WITHOUT_EXTENSION.value)
            want = h.length <= MAX_CONTROL_PAYLOAD
        else:
            if h.rsv & ~self.rsv_ok:
                h.violate(Violation.RSV_WITHOUT_EXTENSION.value)
            if op == 0:
                want = self._msg_want
            elif op <= 2:
                want = op == 1 or bool(h.rsv & 4 & self.rsv_ok)
                self._msg_want = want
            else:
                h.violate(Violation.RESERVED_OPCODE.value)
                want = False
        self._h.frame_start(h)
        if h.length:
            self._cur = h
            self._remaining = h.length
            self._want = want
            self._mpos = 0
        else:
            self._h.frame_end(h)

    def _resync(self, data: bytes) -> bytes:
        """Find the next trustworthy frame header in ``data``.

        A candidate must be plausible, carry a payload if it is a data frame
        (``00 00`` is what zeros look like), and either end exactly at the
        end of the data seen so far (segments usually end on frame
        boundaries), be followed by another plausible header, or start right
        at the hole's end with a payload longer than what is here.
        """
        n = len(data)
        rsv_ok = self.rsv_ok
        expect = self.is_client
        for i in range(n):
            h = parse_header(data, i, 0)
            if h is None:
                if n - i < 14:
                    break  # could be a header cut short: decide when more comes
                continue
            if not plausible(h, expect, rsv_ok) or (h.opcode <= 2 and not h.length):
                continue
            end = i + h.header_len + h.length
            if end == n:
                ok = True
            elif end < n:
                h2 = parse_header(data, end, 0)
                if h2 is None and n - end < 14:
                    break  # decide when more bytes come
                ok = h2 is not None and plausible(h2, expect, rsv_ok)
            else:
                ok = i == 0  # a long frame right after the gap
            if ok:
                self.skipped_bytes += i
                self._state = _HEADER
                return data[i:]
        else:
            i = n
        keep = max(0, min(i, n - 13))  # a tail that could start a header
        self.skipped_bytes += keep
        self._buf = data[keep:]
        return b""
