"""The frame parser on its own: bytes in, events out."""

from __future__ import annotations

import os
import struct
import tracemalloc

import pytest
from helpers_packets import ws_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from wscap.frames import UNMASK_NUMPY_FROM, FrameParser, Opcode, Violation, unmask


def run(parser: FrameParser, chunks: list[bytes]) -> list[tuple]:
    """Events as comparable tuples: headers and the joined payload per frame."""
    out = []
    payloads: dict[int, bytes] = {}
    for c in chunks:
        for ev in parser.feed(c, 0):
            h = ev[1]
            if ev[0] == "data":
                payloads[id(h)] = payloads.get(id(h), b"") + ev[2]
            elif ev[0] == "end":
                out.append(
                    (
                        h.opcode,
                        h.fin,
                        h.rsv,
                        h.masked,
                        h.length,
                        payloads.pop(id(h), None),
                        tuple(h.violations),
                    )
                )
    return out


MASK = b"\x37\xfa\x21\x3d"
STREAM = (
    ws_frame(1, b"Hello", mask=MASK)
    + ws_frame(1, b"frag-", fin=False, mask=MASK)
    + ws_frame(9, b"ping!", mask=MASK)
    + ws_frame(0, b"ment", mask=MASK)
    + ws_frame(2, os.urandom(300), mask=MASK)
    + ws_frame(8, struct.pack(">H", 1000) + b"bye", mask=MASK)
)


def test_client_stream_events():
    events = run(FrameParser(is_client=True), [STREAM])
    assert [(e[0], e[1], e[4]) for e in events] == [
        (1, True, 5),
        (1, False, 5),
        (9, True, 5),
        (0, True, 4),
        (2, True, 300),
        (8, True, 5),
    ]
    assert events[0][5] == b"Hello"  # unmasked
    assert events[2][5] == b"ping!"
    assert events[4][5] is None  # binary payload is skipped, not copied
    assert all(e[6] == () for e in events)


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=60))
@settings(max_examples=200, deadline=None)
def test_any_split_gives_the_same_frames(cuts):
    whole = run(FrameParser(is_client=True), [STREAM])
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(STREAM[pos : pos + c])
        pos += c
    chunks.append(STREAM[pos:])
    assert run(FrameParser(is_client=True), chunks) == whole


def test_masking_rules():
    assert run(FrameParser(is_client=True), [ws_frame(1, b"x")])[0][6] == (
        Violation.CLIENT_FRAME_UNMASKED.value,
    )
    assert run(FrameParser(is_client=False), [ws_frame(1, b"x", mask=MASK)])[0][6] == (
        Violation.SERVER_FRAME_MASKED.value,
    )


def test_header_violations():
    p = FrameParser(is_client=False)
    ev = run(
        p,
        [
            ws_frame(9, b"x" * 126),  # control frame too long
            ws_frame(10, b"", fin=False),  # fragmented control frame
            ws_frame(3, b"abc"),  # reserved opcode
            ws_frame(2, b"abc", rsv=4),  # RSV1 without extension
            ws_frame(2, b"abc", length_form=16),  # non-minimal 16-bit length
            ws_frame(2, b"a" * 200, length_form=64),  # non-minimal 64-bit length
        ],
    )
    assert [e[6] for e in ev] == [
        ("control-frame-too-long",),
        ("control-frame-fragmented",),
        ("reserved-opcode",),
        ("rsv-without-extension",),
        ("non-minimal-length",),
        ("non-minimal-length",),
    ]


def test_rsv1_allowed_with_deflate():
    ev = run(FrameParser(is_client=False, rsv_ok=4), [ws_frame(1, b"\xf2\x48\x05\x00", rsv=4)])
    assert ev[0][6] == () and ev[0][5] == b"\xf2\x48\x05\x00"


def test_huge_claimed_length_costs_no_memory():
    """A frame header claiming 2**63 - 1 bytes, then a megabyte of payload."""
    p = FrameParser(is_client=False)
    head = bytes([0x82, 127]) + struct.pack(">Q", (1 << 63) - 1)
    tracemalloc.start()
    events = p.feed(head, 1)
    for _ in range(16):
        events += p.feed(b"\0" * 65536, 2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [e[0] for e in events] == ["start"]
    assert events[0][1].length == (1 << 63) - 1
    assert peak < 512 * 1024  # the 64 KiB chunks are not accumulated
    end = p.eof(3)
    assert end[0][1].violations == ["frame-incomplete"]


def test_length_top_bit():
    head = bytes([0x82, 127]) + struct.pack(">Q", 1 << 63)
    events = FrameParser(is_client=False).feed(head, 0)
    assert events[0][1].violations == ["length-top-bit-set"]


def test_gap_inside_payload_keeps_sync():
    p = FrameParser(is_client=False)
    data = ws_frame(2, b"A" * 1000) + ws_frame(1, b"after")
    events = p.feed(data[:100], 0)
    events += p.gap(500, 1)
    events += p.feed(data[600:], 2)
    ends = [e[1] for e in events if e[0] == "end"]
    assert [(h.opcode, h.length, h.lost) for h in ends] == [(2, 1000, 500), (1, 5, 0)]


def test_gap_across_a_boundary_resynchronises():
    p = FrameParser(is_client=True)
    frames = [ws_frame(1, f"message {i}".encode(), mask=MASK) for i in range(6)]
    data = b"".join(frames)
    cut = len(frames[0]) + 3  # the gap ends inside frame 1
    lost_to = len(frames[0]) + len(frames[1]) + 4  # ...and runs into frame 2
    events = p.feed(data[:cut], 0)
    events += p.gap(lost_to - cut, 1)
    events += p.feed(data[lost_to:], 2)
    ends = [e[1] for e in events if e[0] == "end"]
    # frame 0 intact, frames 1-2 lost, frames 3-5 found again
    assert [h.length for h in ends] == [9, 9, 9, 9]
    assert p.resyncs == 1
    assert p.skipped_bytes == len(frames[2]) - 4


@pytest.mark.parametrize("size", [1, 3, 1001, UNMASK_NUMPY_FROM - 1, UNMASK_NUMPY_FROM, 70001])
def test_unmask_matches_bytewise_xor(size: int) -> None:
    """Both ways of unmasking (one integer, numpy from UNMASK_NUMPY_FROM on)."""
    data = os.urandom(size)
    for pos in range(4):
        expected = bytes(b ^ MASK[(i + pos) % 4] for i, b in enumerate(data))
        assert unmask(data, MASK, pos) == expected
        assert unmask(bytearray(data), MASK, pos) == expected


def test_opcode_enum_names_rfc_values():
    assert (Opcode.TEXT, Opcode.CLOSE, Opcode.PONG) == (1, 8, 10)
