"""Messages from frames: one :class:`WsDirection` per direction of an
upgraded connection.

Takes the :class:`~wscap.frames.FrameParser` events, assembles fragmented
messages (control frames may come between fragments), inflates
permessage-deflate messages, checks UTF-8 across fragments and close
reasons, reads close codes, and records every frame, message and
violation into the shared :class:`Store`.  No I/O.
"""

from __future__ import annotations

import codecs
import re
import struct

from .deflate import DEFAULT_MAX_MESSAGE, DeflateParams, Inflater
from .frames import MAX_CONTROL_PAYLOAD, FrameHeader, FrameParser, Violation, unmask
from .model import FrameTable, Gap, Heartbeat, MessageTable, Side, ViolationRecord

_utf8 = codecs.getincrementaldecoder("utf-8")
_u64 = struct.Struct(">Q").unpack_from

# RFC 6455 7.4.1 plus the IANA-registered 1012-1014; 3000-4999 are for
# libraries, frameworks and applications.
VALID_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def close_code_valid(code: int) -> bool:
    """May ``code`` be sent in a close frame (RFC 6455 7.4)?"""
    return code in VALID_CLOSE_CODES or 3000 <= code <= 4999


MAX_INT64 = (1 << 63) - 1
# Text messages up to this size are checked for application heartbeats;
# app_heartbeat answers None for any longer text without looking at it.
SMALL_TEXT = 64

# Heartbeats sent one way by design: no answer is expected.
ONE_WAY_HEARTBEATS = frozenset({"app:signalr", "app:stomp", "app:graphql-ka", "app:phoenix"})

# Application-level heartbeats: (name, is_answer) by exact payload.
_APP_HEARTBEATS = {
    b"2": ("socket.io", False),  # Engine.IO ping
    b"3": ("socket.io", True),  # Engine.IO pong
    b'{"type":6}\x1e': ("signalr", False),  # SignalR ping (either side)
    b"\n": ("stomp", False),  # STOMP heart-beat (EOL)
    b"\r\n": ("stomp", False),
    b'{"type":"ka"}': ("graphql-ka", False),  # subscriptions-transport-ws keep-alive
    b'{"type":"ping"}': ("graphql-ws", False),  # graphql-transport-ws
    b'{"type":"pong"}': ("graphql-ws", True),
}
_APP_PING = re.compile(rb"\b(ping|heartbeat|keep-?alive|hb)\b")
_APP_PONG = re.compile(rb"\bpong\b")
# a quick test first: any of the words the patterns above look for
_APP_WORDS = re.compile(rb"ping|pong|heartbeat|keep-?alive|hb|phoenix")


def app_heartbeat(payload: bytes) -> tuple[str, bool] | None:
    """(protocol, is_answer) when a short text message looks like an
    application heartbeat (Socket.IO 2/3, SignalR type 6, STOMP EOL,
    GraphQL keep-alives, small texts saying ping/pong/heartbeat)."""
    if len(payload) > SMALL_TEXT:
        return None  # longer than every known heartbeat and than the texts below
    known = _APP_HEARTBEATS.get(payload)
    if known is not None:
        return known
    low = payload.lower()
    if not _APP_WORDS.search(low):
        return None
    if b"phoenix" in low and b"heartbeat" in low:
        return ("phoenix", False)
    if _APP_PONG.search(low):
        return ("text", True)
    if len(low) <= 32 and _APP_PING.search(low):
        return ("text", False)
    return None


def _valid_utf8(data: bytes) -> bool:
    """Is ``data`` valid UTF-8?"""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Store:
    """Where every direction of every connection writes its records."""

    def __init__(
        self,
        keep_frames: bool = True,
        max_message: int = DEFAULT_MAX_MESSAGE,
        keep_messages: bool = True,
        fast: bool = True,
    ) -> None:
        self.keep_frames = keep_frames
        # False: every frame through FrameParser and the handler methods (the
        # reference path the fast one is tested against)
        self.fast = fast
        self.keep_messages = keep_messages
        self.max_message = max_message
        self.frames = FrameTable()
        self.messages = MessageTable()
        self.violations: list[ViolationRecord] = []
        self.gaps: list[Gap] = []
        self.heartbeats: list[Heartbeat] = []
        self.capped_messages = 0
        self.capped_bytes = 0


class WsDirection:
    """One direction of a WebSocket connection, as a stream sink."""

    def __init__(
        self,
        store: Store,
        conn_id: int,
        side: Side,
        is_client: bool,
        deflate: DeflateParams | None,
        resync: bool = False,
        unknown_ext: bool = False,
        conn: object = None,
    ) -> None:
        """``unknown_ext``: the handshake was not captured, so RSV1 may mean
        a compressed message that cannot be inflated (no context)."""
        self.store = store
        self.conn_id = conn_id
        self.side = side
        self.is_client = is_client
        self.direction = "client" if is_client else "server"
        self.dir_bit = 0 if is_client else 1
        self.unknown_ext = unknown_ext
        # shared with the other direction: activity over both, heartbeat pairing
        self.hb = conn.heartbeats if conn is not None else None
        # silences of frames and data frames: this direction, and both (shared)
        self.sil_frame = side.activity["frame"]
        self.sil_data = side.activity["data"]
        self.both_frame = conn.act["frame"] if conn is not None else None
        self.both_data = conn.act["data"] if conn is not None else None
        # what a frame marks, and a data frame
        self.sils_frame = [x for x in (self.sil_frame, self.both_frame) if x is not None]
        self.sils_data = self.sils_frame + [
            x for x in (self.sil_data, self.both_data) if x is not None
        ]
        self.parser = FrameParser(
            is_client, rsv_ok=4 if deflate or unknown_ext else 0, handler=self
        )
        self.inflater: Inflater | None = None
        if deflate is not None:
            nct, bits = deflate.for_sender(is_client)
            self.inflater = Inflater(nct, bits, store.max_message)
        if resync:
            self.parser.gap(0, 0)
        if not store.fast:
            self.data = self.parser.feed  # type: ignore[method-assign]
        # first header byte of a whole message, unfragmented and uncompressed
        # (FIN + opcode), and the mask bit a well-behaved sender sets
        self.mask_bit = 0x80 if is_client else 0
        # what the fast path of data() reads, in one tuple (none of it changes)
        self.constants = (
            self.side,
            self.mask_bit,
            self.inflater,
            store,
            store.keep_frames,
            store.keep_messages,
            self.hb,
            conn_id,
            self.dir_bit,
        )
        # the message being assembled
        self.msg_open = False
        self.msg_binary = False
        self.msg_compressed = False
        # the inflater has had the message's tail: the fast path inflated the
        # whole message, or Inflater.last its last bytes
        self.msg_tail_done = False
        self.msg_ts = 0
        self.msg_frames = 0
        self.msg_wire = 0
        self.msg_payload = 0
        self.msg_size_known = True
        # while text is checked: True (all ASCII so far), then a decoder
        self.msg_utf8: object = None
        self.msg_utf8_state = 0  # 0 valid so far, 1 invalid, 2 unknown
        self.msg_frame: FrameHeader | None = None  # frame whose payload is flowing in
        self.msg_small: bytearray | None = None  # payload of a short text message

    # -- sink interface -----------------------------------------------------

    def data(self, data: bytes, ts: int) -> None:
        """In-order bytes of this direction, received at ``ts``.

        The fast path: while the parser sits between frames, whole frames
        of the common kinds (an unfragmented text or binary message,
        compressed or not, a ping, a pong) that break no rule are handled
        here, without a :class:`FrameHeader`, with the same records and
        counters as the general path (``FrameParser.feed`` calling
        :meth:`frame_start`, :meth:`frame_data`, :meth:`frame_end`), which
        is the reference for it.  At the first frame of another kind, a
        frame not complete in ``data``, or anything that breaks a rule, the
        rest goes to the general path.  Bytes inside the payload of a frame
        go to :meth:`frame_data` without the parser, or, when nobody reads
        its content (uncompressed binary), are only counted; the parser ends
        such a frame, and the frames after it in ``data`` take the fast path
        again.  So does a header cut short at the end of the last bytes,
        once the rest of it comes.
        """
        p = self.parser
        rem = p._remaining
        if rem:
            n = len(data)
            if n < rem:  # inside a payload: FrameParser.feed's case, inlined
                if p._want:  # read: unmasked and handed over
                    cur = p._cur
                    if cur.masked:
                        data = unmask(data, cur.mask, p._mpos)
                        p._mpos += n
                    self.frame_data(cur, data)
                p._remaining = rem - n  # (nobody reads it: only counted)
                return
            if n == rem:
                p.feed(data, ts)
                return
            # the frame ends inside data: the parser ends it, and the frames
            # after it may take the fast path
            p.feed(data[:rem], ts)
            data = data[rem:]
        elif p._buf:
            if p._state:  # resynchronising
                p.feed(data, ts)
                return
            # a header cut short at the end of the last bytes: as feed does
            data = p._buf + data
            p._buf = b""
        side, mask_bit, inflater, store, keep_frames, keep_messages, hb, conn_id, dir_bit = (
            self.constants
        )
        if p._state or self.msg_open or side.close_ts is not None:
            p.feed(data, ts)
            return
        n = len(data)
        i = 0
        frames = messages = payload = 0
        data_frames = False
        want = None
        while i + 2 <= n:
            b0 = data[i]
            b1 = data[i + 1]
            if b1 & 0x80 != mask_bit:
                break
            ln = b1 & 0x7F
            if ln < 126:
                hl = 2
            elif ln == 126:
                if i + 4 > n:
                    break
                ln = (data[i + 2] << 8) | data[i + 3]
                if ln < 126:
                    break
                hl = 4
            else:
                if i + 10 > n:
                    break
                ln = _u64(data, i + 2)[0]
                if ln < 65536 or ln >> 63:
                    break
                hl = 10
            if mask_bit:
                hl += 4
            start = i + hl
            end = start + ln
            if end > n:
                break
            if b0 == 0x81 or b0 == 0x82:  # FIN, no RSV: a whole message, uncompressed
                if b0 == 0x81:
                    text = data[start:end]
                    if mask_bit and ln:
                        text = unmask(text, data[start - 4 : start])
                    if not (text.isascii() or _valid_utf8(text)):
                        break  # the general path records it
                    if ln <= SMALL_TEXT and hb is not None:
                        self._app_heartbeat(text, ts, ts)
                    want = True
                    mflags = dir_bit | 8
                else:
                    want = False
                    mflags = dir_bit | 2
                size = ln
            elif (b0 == 0xC1 or b0 == 0xC2) and inflater is not None:  # FIN, RSV1: compressed
                if inflater.broken and not inflater.no_context_takeover:
                    break  # undecodable: the general path knows how to say so
                chunk = data[start:end]
                if mask_bit and ln:
                    chunk = unmask(chunk, data[start - 4 : start])
                out = inflater.message(chunk, b0 == 0xC1)
                text = b"".join(out) if b0 == 0xC1 else b""
                want = True
                if (
                    inflater.error is not None
                    or inflater.capped_bytes
                    or inflater.broken
                    or not (text.isascii() or _valid_utf8(text))
                ):
                    self._inflated_otherwise(b0, ln, hl, data[start - 4 : start], out, ts)
                    p.frames += 1
                    i = end
                    continue
                size = inflater.produced
                if b0 == 0xC1:
                    if size <= SMALL_TEXT and hb is not None:
                        self._app_heartbeat(text, ts, ts)
                    mflags = dir_bit | 12
                else:
                    mflags = dir_bit | 6
                side.compressed_messages += 1
            elif (b0 == 0x89 or b0 == 0x8A) and ln <= MAX_CONTROL_PAYLOAD:  # ping, pong
                body = data[start:end]
                if mask_bit and ln:
                    body = unmask(body, data[start - 4 : start])
                if b0 == 0x89:
                    side.pings += 1
                    if hb is not None:
                        hb.ping(self.direction, ts, body)
                else:
                    side.pongs += 1
                    if hb is not None:
                        hb.pong(self.direction, ts, body)
                size = -1  # not a message
            else:
                break
            # the frame's row; a whole message's too
            frames += 1
            if keep_frames:
                f = store.frames
                f.conn_id.append(conn_id)
                f.ts.append(ts)
                f.ts_end.append(ts)
                f.flags.append(dir_bit | 2 | ((b0 & 0x70) >> 2) | (mask_bit >> 2))
                f.opcode.append(b0 & 0x0F)
                f.payload_len.append(ln)
                f.close_code.append(-1)
                f.violation.append(0)
            i = end
            if size < 0:
                continue
            messages += 1
            payload += size
            data_frames = True
            if keep_messages:
                m = store.messages
                m.conn_id.append(conn_id)
                m.ts_first.append(ts)
                m.ts_last.append(ts)
                m.flags.append(mflags)
                m.fragments.append(1)
                m.wire_bytes.append(ln)
                m.payload_bytes.append(size)
        if frames:
            p.frames += frames
            if want is not None:
                p._msg_want = want
            side.frames += frames
            side.messages += messages
            side.payload_bytes += payload
            side.last_frame_ts = ts
            # silences of frames and of data frames: every frame here came at
            # ts.  The connection's frame silence is marked with every frame
            # of either kind and direction (and all four were started with
            # the connection), so its last mark is the latest of the four:
            # when ts is not before it, ts is not before any, and
            # Silence.mark comes down to the lines below, inlined.
            bf = self.both_frame
            if bf is not None and bf.last is not None and ts >= bf.last:
                sil = self.sil_frame
                gap = ts - sil.last
                if gap > sil.longest:
                    sil.longest = gap
                    sil.since = sil.last
                sil.last = ts
                gap = ts - bf.last
                if gap > bf.longest:
                    bf.longest = gap
                    bf.since = bf.last
                bf.last = ts
                if data_frames:
                    sil = self.sil_data
                    gap = ts - sil.last
                    if gap > sil.longest:
                        sil.longest = gap
                        sil.since = sil.last
                    sil.last = ts
                    sil = self.both_data
                    gap = ts - sil.last
                    if gap > sil.longest:
                        sil.longest = gap
                        sil.since = sil.last
                    sil.last = ts
            else:  # out of time order, or no connection
                for sil in self.sils_data if data_frames else self.sils_frame:
                    sil.mark(ts)
        if i < n:
            p.feed(data[i:] if i else data, ts)

    def _app_heartbeat(self, text: bytes, ts_first: int, ts_last: int) -> None:
        """A short text message: note it if it is an application heartbeat
        (a ping at its first frame, an answer at its last)."""
        kind = app_heartbeat(text)
        if kind is not None:
            name, is_answer = kind
            if is_answer:
                self.hb.pong(self.direction, ts_last, b"", "app:" + name)  # type: ignore[union-attr]
            else:
                self.hb.ping(self.direction, ts_first, b"", "app:" + name)  # type: ignore[union-attr]

    def _inflated_otherwise(
        self, b0: int, ln: int, hl: int, mask: bytes, out: list[bytes], ts: int
    ) -> None:
        """A whole compressed message the fast path inflated, whose outcome
        is not the common one (an inflate error, the size cap, invalid
        UTF-8): recorded by the general path's handler methods, replaying
        the inflater's output instead of inflating again."""
        h = FrameHeader(ts, True, 4, b0 & 0x0F, bool(self.mask_bit), mask, ln, hl)
        self.frame_start(h, inflated=True)
        if b0 == 0xC1:
            for piece in out:
                self._check_utf8(piece)
        self.frame_end(h)

    def gap(self, length: int, ts: int) -> None:
        if self.msg_open and self.parser.in_frame:
            self._lose_payload()
        self.parser.gap(length, ts)
        if self.msg_open and self.parser._state != 0:  # resynchronising: message lost
            self._lose_payload()

    def eof(self, ts: int) -> None:
        self.parser.eof(ts)
        if self.msg_open:
            self._finish_message(ts, incomplete=True)
        self.side.unparsed_bytes += self.parser.skipped_bytes

    # -- frame events (FrameParser handler) ---------------------------------

    def frame_data(self, h: FrameHeader, chunk: bytes) -> None:
        if h.opcode >= 8:
            h.payload = chunk if h.payload is None else h.payload + chunk
        elif h is self.msg_frame:
            if self.msg_compressed:
                inf = self.inflater
                if inf is not None:
                    out = self._check_utf8 if not self.msg_binary else None
                    # the parser has not yet counted this chunk: when it is all
                    # that remains of a final frame, it ends the message
                    if h.fin and self.parser._remaining == len(chunk):
                        inf.last(chunk, out)
                        self.msg_tail_done = True
                    else:
                        inf.feed(chunk, out)
            elif not self.msg_binary:
                self._check_utf8(chunk)

    def frame_start(self, h: FrameHeader, inflated: bool = False) -> None:
        """A frame header.  ``inflated``: the fast path has already inflated
        this (whole, compressed) message and replays its output."""
        op = h.opcode
        if self.side.close_ts is not None:
            h.violate(Violation.DATA_AFTER_CLOSE.value)
        if op == 1 or op == 2:
            if self.msg_open:
                h.violate(Violation.MESSAGE_INTERLEAVED.value)
                self._finish_message(h.ts, incomplete=True)
            self.msg_open = True
            self.msg_size_known = True
            self.msg_binary = op == 2
            self.msg_compressed = bool(h.rsv & 4) and (
                self.inflater is not None or self.unknown_ext
            )
            if self.msg_compressed and self.inflater is None:
                self.msg_size_known = False
            self.msg_ts = h.ts
            self.msg_frames = 0
            self.msg_wire = 0
            self.msg_payload = 0
            # True: checking, no decoder yet (ASCII needs none); a decoder once
            # non-ASCII bytes come
            self.msg_utf8 = None if self.msg_binary or self.msg_compressed else True
            self.msg_small = None if self.msg_binary or h.length > SMALL_TEXT else bytearray()
            self.msg_utf8_state = 0
            if self.msg_compressed and self.inflater is not None:
                self.msg_utf8 = None if self.msg_binary else True
                self.msg_small = None if self.msg_binary else bytearray()
                self.msg_tail_done = inflated
                if not inflated:
                    self.inflater.start_message()
                    if self.inflater.broken:
                        self._lose_payload()
            self.msg_frame = h
        elif op == 0:
            if not self.msg_open:
                h.violate(Violation.CONTINUATION_WITHOUT_START.value)
                self.msg_frame = None
            else:
                if h.rsv & 4:
                    h.violate(Violation.RSV1_ON_CONTINUATION.value)
                self.msg_frame = h

    def frame_end(self, h: FrameHeader) -> None:
        op = h.opcode
        side = self.side
        store = self.store
        close_code = -1
        if op == 8:
            close_code = self._close(h)
        elif op <= 2 and h is self.msg_frame:
            self.msg_frames += 1
            self.msg_wire += h.length
            if h.lost:
                self._lose_payload()
            if not self.msg_compressed:
                self.msg_payload += h.length  # known from the header even if bytes were lost
            if h.fin:
                cut = Violation.FRAME_INCOMPLETE.value in h.violations  # stream ended inside
                self._finish_message(h.ts_end, incomplete=cut, last=h)
            self.msg_frame = None
        side.frames += 1
        side.last_frame_ts = h.ts_end
        self.sil_frame.mark(h.ts)
        if op <= 2:
            self.sil_data.mark(h.ts)
        if self.both_frame is not None:
            self.both_frame.mark(h.ts)
            if op <= 2:
                self.both_data.mark(h.ts)
        if op == 9 or op == 10:
            if op == 9:
                side.pings += 1
            else:
                side.pongs += 1
            hb = self.hb
            if hb is not None:
                if op == 9:
                    hb.ping(self.direction, h.ts, h.payload or b"")
                else:
                    hb.pong(self.direction, h.ts, h.payload or b"")
        first = None
        if h.violations:
            first = h.violations[0]
            for code in h.violations:
                store.violations.append(ViolationRecord(self.conn_id, h.ts, self.direction, code))
        if store.keep_frames:
            f = store.frames
            f.conn_id.append(self.conn_id)
            f.ts.append(h.ts)
            f.ts_end.append(h.ts_end)
            f.flags.append(
                self.dir_bit | (h.fin << 1) | (h.rsv << 2) | (h.masked << 5) | ((h.lost > 0) << 6)
            )
            f.opcode.append(h.opcode)
            f.payload_len.append(h.length)
            f.close_code.append(close_code)
            f.violation.append(0 if first is None else f.code_index(first))

    def _close(self, h: FrameHeader) -> int:
        payload = h.payload or b""
        code = -1
        reason = None
        if h.lost or len(payload) < h.length:
            pass  # close payload not (fully) captured
        elif len(payload) == 1:
            h.violate(Violation.CLOSE_PAYLOAD_ONE_BYTE.value)
        elif len(payload) >= 2:
            code = (payload[0] << 8) | payload[1]
            if not close_code_valid(code):
                h.violate(Violation.INVALID_CLOSE_CODE.value)
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                h.violate(Violation.INVALID_UTF8_CLOSE_REASON.value)
                reason = payload[2:].decode("utf-8", "replace")
        side = self.side
        if side.close_ts is None:
            side.close_ts = h.ts
            side.close_code = code if code >= 0 else None
            side.close_reason = reason
        return code

    # -- messages -----------------------------------------------------------

    def _check_utf8(self, data: bytes) -> None:
        small = self.msg_small
        if small is not None:
            if len(small) + len(data) <= SMALL_TEXT:
                small += data
            else:
                self.msg_small = None
        dec = self.msg_utf8
        if dec is None:
            return
        if dec is True:
            if data.isascii():
                return  # nothing pending from an earlier chunk: ASCII is valid UTF-8
            dec = self.msg_utf8 = _utf8()
        try:
            dec.decode(data)
        except UnicodeDecodeError:
            self.msg_utf8_state = 1
            self.msg_utf8 = None
            if self.msg_frame is not None:
                self.msg_frame.violate(Violation.INVALID_UTF8_TEXT.value)

    def _lose_payload(self) -> None:
        """Part of the current message's payload is missing."""
        self.msg_size_known = self.msg_size_known and not self.msg_compressed
        if self.msg_utf8_state == 0:
            self.msg_utf8_state = 2
        self.msg_utf8 = None
        if self.msg_compressed and self.inflater is not None:
            self.inflater.lose()
            self.msg_size_known = False

    def _finish_message(self, ts: int, incomplete: bool, last: FrameHeader | None = None) -> None:
        inf = self.inflater
        if self.msg_compressed and inf is not None:
            if not incomplete and not self.msg_tail_done:
                inf.end_message(self._check_utf8 if not self.msg_binary else None)
            if inf.error is not None and last is not None:
                last.violate(Violation.DEFLATE_ERROR.value)
            if inf.capped_bytes:
                self.store.capped_messages += 1
                self.store.capped_bytes += inf.capped_bytes
                self.msg_size_known = False
            elif inf.broken:
                self.msg_size_known = False
            self.msg_payload = inf.produced
        dec = self.msg_utf8
        if dec is not None:
            if incomplete:
                if self.msg_utf8_state == 0:
                    self.msg_utf8_state = 2  # the rest is not known
            elif dec is not True:  # True: all ASCII, valid
                try:
                    dec.decode(b"", True)  # an unfinished sequence at the end
                except UnicodeDecodeError:
                    self.msg_utf8_state = 1
                    if last is not None:
                        last.violate(Violation.INVALID_UTF8_TEXT.value)
        if self.msg_compressed and not self.msg_size_known and self.msg_utf8_state == 0:
            self.msg_utf8_state = 2
        small = self.msg_small
        if small is not None and not incomplete and self.hb is not None:
            self._app_heartbeat(bytes(small), self.msg_ts, ts)
        self.msg_small = None
        self.msg_open = False
        self.msg_utf8 = None
        self.msg_frame = None
        side = self.side
        side.messages += 1
        size_known = self.msg_size_known
        if self.msg_compressed:
            side.compressed_messages += 1
        if size_known:
            side.payload_bytes += self.msg_payload
        else:
            side.payload_unknown += 1
        if not self.store.keep_messages:
            return
        m = self.store.messages
        m.conn_id.append(self.conn_id)
        m.ts_first.append(self.msg_ts)
        m.ts_last.append(ts)
        m.flags.append(
            self.dir_bit
            | (self.msg_binary << 1)
            | (self.msg_compressed << 2)
            | ((self.msg_utf8_state == 0 and not self.msg_binary) << 3)
            | ((self.msg_utf8_state == 2 and not self.msg_binary) << 4)
            | ((not size_known) << 5)
            | (incomplete << 6)
        )
        m.fragments.append(self.msg_frames)
        # lengths claimed by hostile headers can exceed int64: clamp
        m.wire_bytes.append(min(self.msg_wire, MAX_INT64))
        m.payload_bytes.append(min(self.msg_payload, MAX_INT64) if size_known else -1)
