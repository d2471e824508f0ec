"""TCP reassembly of one direction, on its own."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from wscap.tcp import Reassembler


class Recorder:
    def __init__(self) -> None:
        self.items: list[bytes | int] = []

    def data(self, data: bytes, ts: int) -> None:
        if self.items and isinstance(self.items[-1], bytes):
            self.items[-1] += data
        else:
            self.items.append(data)

    def gap(self, length: int, ts: int) -> None:
        self.items.append(length)


PAYLOAD = bytes(range(256)) * 40


def segments(isn: int, data: bytes, size: int) -> list[tuple[int, bytes]]:
    return [((isn + 1 + i) % (1 << 32), data[i : i + size]) for i in range(0, len(data), size)]


def test_in_order():
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(1000)
    for seq, d in segments(1000, PAYLOAD, 100):
        r.segment(seq, d, 0, 0)
    assert rec.items == [PAYLOAD]


@given(st.integers(0, (1 << 32) - 1), st.integers(5, 700), st.integers(0, 2**32))
@settings(max_examples=150, deadline=None)
def test_duplicates_reordering_overlaps_and_wraparound(isn, size, seed):
    """Whatever the order, duplication and overlap, the bytes come out once
    and in order (the ISN ranges over the whole space, so wrap-around is
    covered)."""
    rnd = random.Random(seed)
    segs = segments(isn, PAYLOAD, size)
    # overlapping retransmissions that span segment boundaries
    for _ in range(len(segs) // 3):
        start = rnd.randrange(len(PAYLOAD))
        n = rnd.randrange(1, 2 * size + 1)
        segs.append(((isn + 1 + start) % (1 << 32), PAYLOAD[start : start + n]))
    segs += rnd.sample(segs, k=len(segs) // 2)  # duplicates (tcpdump -i any)
    first = segs[0]
    rest = segs[1:]
    rnd.shuffle(rest)
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(isn)
    for seq, d in [first, *rest]:
        r.segment(seq, d, 0, 0)
    r.flush(1)
    assert rec.items == [PAYLOAD]
    assert r.gap_bytes == 0 and not r.pending


def test_hole_declared_when_peer_acks_past_it_twice():
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(0)
    segs = segments(0, PAYLOAD[:1000], 100)
    for i, (seq, d) in enumerate(segs):
        if i != 3:
            r.segment(seq, d, 0, i)
    assert rec.items == [PAYLOAD[:300]]  # waiting for segment 3
    r.ack(1 + 500, 10)  # the receiver got past the hole...
    assert rec.items == [PAYLOAD[:300]]  # ...but tcpdump -i any may show the ACK early
    r.ack(1 + 600, 11)  # a second ACK past it: the hole will never be filled
    assert rec.items == [PAYLOAD[:300], 100, PAYLOAD[400:1000]]
    assert r.gaps == [(300, 100, 11)]


def test_ack_recorded_before_the_segment_it_acknowledges():
    """tcpdump -i any: B, then the peer's ACK covering A and B, then A."""
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(0)
    r.segment(1 + 70, PAYLOAD[70:140], 0, 1)  # B
    r.ack(1 + 140, 2)
    r.segment(1, PAYLOAD[:70], 0, 3)  # A
    r.flush(4)
    assert rec.items == [PAYLOAD[:140]] and r.gap_bytes == 0


def test_many_out_of_order_segments_stay_linear():
    """10 000 segments arriving in reverse order: the heap keeps it fast."""
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(0)
    data = bytes(range(256)) * 40
    segs = segments(0, data, 1)
    for seq, d in reversed(segs):
        r.segment(seq, d, 0, 0)
    assert rec.items == [data]


def test_hole_waits_for_retransmission_until_then():
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(0)
    r.segment(1, b"a" * 10, 0, 0)
    r.segment(21, b"c" * 10, 0, 1)
    r.ack(11, 2)  # ACK only up to the hole: still waiting
    assert rec.items == [b"a" * 10]
    r.segment(11, b"b" * 10, 0, 3)  # the retransmission arrives
    assert rec.items == [b"a" * 10 + b"b" * 10 + b"c" * 10]


def test_snaplen_cut_becomes_gap():
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(0)
    r.segment(1, b"x" * 20, 1380, 0)  # 1400 bytes on the wire, 20 captured
    r.segment(1401, b"y" * 5, 0, 1)
    assert rec.items == [b"x" * 20, 1380, b"y" * 5]


def test_lost_tail_found_at_flush_from_ack():
    rec = Recorder()
    r = Reassembler(rec)
    r.syn(0)
    r.segment(1, b"z" * 10, 0, 0)
    r.ack(31, 1)  # 20 more bytes were received but never captured
    r.fin(31, 0)
    r.ack(32, 2)  # the FIN's sequence number is not a missing byte
    r.flush(3)
    assert rec.items == [b"z" * 10, 20]


def test_no_syn_starts_at_first_segment():
    rec = Recorder()
    r = Reassembler(rec)
    r.segment(5000, b"mid-stream", 0, 0)
    r.segment(5010, b"!", 0, 1)
    assert rec.items == [b"mid-stream!"]
    assert r.offset == 11
