"""TCP stream reassembly for one direction of a connection (sans-IO).

Segments go in with their sequence number and capture time; in-order bytes
and gaps come out through a *sink* with two methods, ``data(bytes, ts)`` and
``gap(length, ts)``.  Nothing here reads files or sockets.

What a capture throws at it: retransmissions and duplicates (``tcpdump -i
any`` sees many segments twice), overlaps, sequence wrap-around, segments
out of order, segments the capture never saw, and segments cut by the
snaplen.  Bytes that are lost for good become a *gap*: a length the parsers
above skip and resynchronise after, never bytes they would misparse.

A hole is declared lost (rather than waited for) when the receiver's ACK
shows it got past the hole, when too much data is waiting behind it, or at
the end of the stream.
"""

from __future__ import annotations

import heapq
from typing import Protocol

MOD = 1 << 32
HALF = 1 << 31
# Out-of-order bytes (and segments) buffered per direction before a hole is
# given up on.
MAX_PENDING = 8 << 20
MAX_PENDING_SEGMENTS = 65536


class Sink(Protocol):
    def data(self, data: bytes, ts: int) -> None: ...

    def gap(self, length: int, ts: int) -> None: ...


class Reassembler:
    """Orders one direction's segments and hands contiguous bytes to ``sink``.

    ``offset`` is the stream offset of the next byte to deliver (0 = first
    byte after the SYN, or the first byte captured when the SYN was not).
    Gaps are also recorded in :attr:`gaps` as ``(offset, length, ts)``.
    """

    __slots__ = (
        "sink",
        "next_seq",
        "started",
        "offset",
        "pending",
        "heap",
        "pending_bytes",
        "acked",
        "fin_seq",
        "gaps",
        "gap_bytes",
        "dup_bytes",
        "ack_evidence",
    )

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.next_seq = 0
        self.started = False
        self.offset = 0
        # out-of-order segments by stream offset, and a heap of those offsets
        self.pending: dict[int, tuple[bytes, int]] = {}
        self.heap: list[int] = []
        self.pending_bytes = 0
        self.acked: int | None = None  # highest ACK the peer sent for this direction
        self.fin_seq: int | None = None
        self.gaps: list[tuple[int, int, int]] = []
        self.gap_bytes = 0
        self.dup_bytes = 0
        self.ack_evidence = False  # an ACK already showed the current hole received

    def syn(self, seq: int) -> None:
        """A SYN with sequence number ``seq``: data starts at ``seq + 1``."""
        if not self.started:
            self.next_seq = (seq + 1) % MOD
            self.started = True

    def fin(self, seq: int, length: int) -> None:
        """A FIN on a segment at ``seq`` carrying ``length`` bytes."""
        self.fin_seq = (seq + length) % MOD

    def segment(self, seq: int, data: bytes, missing: int, ts: int) -> None:
        """A segment at ``seq`` with captured ``data`` and ``missing`` bytes
        that the snaplen cut off its end."""
        size = len(data) + missing
        if not size:
            return
        if not self.started:
            self.next_seq = seq
            self.started = True
        d = (seq - self.next_seq) % MOD
        if d == 0 and not missing and not self.pending:  # the common case, inlined
            self.next_seq = (seq + size) % MOD
            self.offset += size
            self.sink.data(data, ts)
            return
        if d == 0 or d >= HALF:
            self._accept(d, data, missing, ts)
            if self.pending:
                self._drain(ts)
            return
        off = self.offset + d  # stream offset: no wrap-around to care about
        old = self.pending.get(off)
        if old is not None:
            if len(old[0]) + old[1] >= size:
                self.dup_bytes += size
                return
            self.pending_bytes -= len(old[0]) + old[1]
        else:
            heapq.heappush(self.heap, off)
        self.pending[off] = (data, missing)
        self.pending_bytes += size
        if (
            self.pending_bytes > MAX_PENDING
            or len(self.pending) > MAX_PENDING_SEGMENTS
            or self._acked_past(seq)
            and self._hole_proven()
        ):
            self._skip_to_pending(ts)

    def ack(self, ack: int, ts: int) -> None:
        """The peer acknowledged everything before ``ack``."""
        if self.acked is None or (ack - self.acked) % MOD < HALF:
            self.acked = ack
        if self.pending and self._acked_past(self._first_pending()) and self._hole_proven():
            self._skip_to_pending(ts)

    def flush(self, ts: int) -> None:
        """End of stream (FIN, RST, end of capture): give up on every hole."""
        while self.pending:
            self._skip_to_pending(ts)
        if self.started and self.acked is not None:
            d = (self.acked - self.next_seq) % MOD
            if self.fin_seq is not None and self.acked == (self.fin_seq + 1) % MOD:
                d -= 1
            if 0 < d < HALF:
                self._gap(d, ts)

    # -- internals ----------------------------------------------------------

    def _accept(self, d: int, data: bytes, missing: int, ts: int) -> None:
        """Deliver a segment starting ``d`` bytes after ``next_seq`` (0) or
        before it (``d >= HALF``), trimming what was already delivered."""
        if d:
            over = MOD - d
            size = len(data) + missing
            if over >= size:
                self.dup_bytes += size
                return
            self.dup_bytes += over
            if over <= len(data):
                data = data[over:]
            else:
                missing -= over - len(data)
                data = b""
        if data:
            self.next_seq = (self.next_seq + len(data)) % MOD
            self.offset += len(data)
            self.sink.data(data, ts)
        if missing:
            self._gap(missing, ts)

    def _gap(self, length: int, ts: int) -> None:
        self.gaps.append((self.offset, length, ts))
        self.gap_bytes += length
        self.next_seq = (self.next_seq + length) % MOD
        self.offset += length
        self.sink.gap(length, ts)

    def _acked_past(self, seq: int) -> bool:
        """True when the peer has acknowledged bytes at or beyond ``seq``."""
        if self.acked is None:
            return False
        return 0 < (self.acked - seq) % MOD < HALF or self.acked == seq

    def _hole_proven(self) -> bool:
        """The peer's ACK says the hole was received; give up on it at the
        second piece of such evidence, not the first: ``tcpdump -i any``
        can record an ACK before the segment it acknowledges (per-CPU
        buffers), and that segment then fills the hole."""
        if self.ack_evidence:
            return True
        self.ack_evidence = True
        return False

    def _first_pending(self) -> int:
        """Sequence number of the earliest pending segment."""
        return (self.next_seq + self.heap[0] - self.offset) % MOD

    def _skip_to_pending(self, ts: int) -> None:
        hole = self.heap[0] - self.offset
        if hole > 0:
            self._gap(hole, ts)
        self._drain(ts)

    def _drain(self, ts: int) -> None:
        """Deliver pending segments that have become contiguous (or overlap
        what was delivered), earliest first."""
        pending = self.pending
        heap = self.heap
        while heap and heap[0] <= self.offset:
            off = heapq.heappop(heap)
            data, missing = pending.pop(off)
            self.pending_bytes -= len(data) + missing
            self.ack_evidence = False
            over = self.offset - off  # bytes of it already delivered
            self._accept(MOD - over if over else 0, data, missing, ts)
