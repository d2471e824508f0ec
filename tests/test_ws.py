"""Messages from frames (WsDirection): fragments, UTF-8, deflate, closes."""

from __future__ import annotations

import struct
import zlib

import pytest
from helpers_packets import ws_frame as encode
from test_frames import MASK

from wscap.deflate import PIECE, DeflateParams, Inflater, deflate_params, parse_extensions
from wscap.model import Side
from wscap.ws import Store, WsDirection


def direction(is_client=False, deflate=None, **kw) -> tuple[WsDirection, Store]:
    store = Store(**kw)
    return WsDirection(store, 1, Side(), is_client, deflate), store


def messages(store: Store) -> list[tuple]:
    m = store.messages
    return [
        (m.fragments[i], m.wire_bytes[i], m.payload_bytes[i], m.flags[i] >> 1 & 0x3F)
        for i in range(len(m))
    ]


def codes(store: Store) -> list[str]:
    return [v.code for v in store.violations]


def compress(data: bytes, z) -> bytes:
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


TEXT_OK = 0b0100  # flags >> 1: bit 0 binary, bit 1 compressed, bit 2 utf8 valid


def test_utf8_checked_across_fragments():
    d, store = direction()
    snow = "☃".encode()  # 3 bytes split over two frames
    d.data(encode(1, b"a" + snow[:2], fin=False) + encode(0, snow[2:] + b"b"), 0)
    assert messages(store) == [(2, 5, 5, TEXT_OK)]
    d.data(encode(1, b"\xff\xfe"), 1)
    assert messages(store)[1][3] == 0 and codes(store) == ["invalid-utf8-text"]


def test_truncated_utf8_at_message_end_is_invalid():
    d, store = direction()
    d.data(encode(1, "☃".encode()[:2]), 0)
    assert codes(store) == ["invalid-utf8-text"]


def test_fragmentation_rules():
    d, store = direction()
    d.data(encode(0, b"orphan"), 0)  # continuation without a start
    d.data(encode(1, b"one", fin=False), 1)
    d.data(encode(9, b"p"), 2)  # control frame between fragments: fine
    d.data(encode(2, b"two"), 3)  # new message inside the fragmented one
    assert codes(store) == ["continuation-without-start", "message-interleaved"]
    assert [(m[0], m[1]) for m in messages(store)] == [(1, 3), (1, 3)]
    assert store.messages.flags[0] & 64  # the first one is incomplete


def test_close_frames():
    d, store = direction()
    d.data(encode(8, struct.pack(">H", 1005)), 0)  # reserved, never sent
    d.data(encode(1, b"late"), 1)  # data after close
    assert codes(store) == ["invalid-close-code", "data-after-close"]
    assert d.side.close_code == 1005
    for body, code in (
        (b"\x03", "close-payload-one-byte"),
        (struct.pack(">H", 1000) + b"\xc3\x28", "invalid-utf8-close-reason"),
    ):
        d2, s2 = direction()
        d2.data(encode(8, body), 0)
        assert codes(s2) == [code]
    d3, s3 = direction()
    d3.data(encode(8, struct.pack(">H", 4001) + "bye ☃".encode()), 0)
    assert (d3.side.close_code, d3.side.close_reason, codes(s3)) == (4001, "bye ☃", [])


def test_deflate_context_takeover_and_fragments():
    params = deflate_params(parse_extensions(["permessage-deflate; client_max_window_bits"]))
    assert params == DeflateParams()
    d, store = direction(deflate=params)
    z = zlib.compressobj(wbits=-15)
    texts = [b"hello hello hello " * 20, b"hello hello hello " * 21]
    c1 = compress(texts[0], z)
    c2 = compress(texts[1], z)  # refers back to the first message
    d.data(encode(1, c1, rsv=4), 0)
    d.data(encode(1, c2[:3], rsv=4, fin=False) + encode(0, c2[3:]), 1)
    assert messages(store) == [
        (1, len(c1), len(texts[0]), 0b0110),
        (2, len(c2), len(texts[1]), 0b0110),
    ]
    assert codes(store) == []


def test_no_context_takeover_resets_per_message():
    params = deflate_params(
        parse_extensions(
            ["permessage-deflate; server_no_context_takeover; server_max_window_bits=10"]
        )
    )
    assert params.server_no_context_takeover and params.server_max_window_bits == 10
    d, store = direction(deflate=params)
    for i in range(3):
        z = zlib.compressobj(wbits=-10)
        d.data(encode(2, compress(b"x" * 1000 + bytes([i]), z), rsv=4), i)
    assert [m[2] for m in messages(store)] == [1001] * 3


def test_decompression_is_capped():
    d, store = direction(deflate=DeflateParams(), max_message=1 << 20)
    z = zlib.compressobj(wbits=-15)
    bomb = compress(b"\0" * (8 << 20), z)  # 8 MiB from ~8 KiB
    d.data(encode(2, bomb, rsv=4), 0)
    ((frags, wire, payload, flags),) = messages(store)
    assert payload == -1 and flags & 0b10000  # size unknown
    assert store.capped_messages == 1 and store.capped_bytes > 0


def test_deflate_error_is_a_violation():
    d, store = direction(deflate=DeflateParams())
    d.data(encode(1, b"\xff\xff\xff\xff", rsv=4), 0)
    assert codes(store) == ["deflate-error"]


def test_rsv1_on_continuation():
    d, store = direction(deflate=DeflateParams())
    z = zlib.compressobj(wbits=-15)
    c = compress(b"abcdef" * 10, z)
    d.data(encode(1, c[:2], rsv=4, fin=False) + encode(0, c[2:], rsv=4), 0)
    assert codes(store) == ["rsv1-on-continuation"]


def test_client_masked_text_is_unmasked_before_checking():
    d, store = direction(is_client=True)
    d.data(encode(1, "grüße".encode(), mask=MASK), 0)
    assert messages(store) == [(1, 7, 7, TEXT_OK)]


def _inflater_state(inf: Inflater) -> tuple[object, ...]:
    return inf.produced, inf.capped_bytes, inf.error, inf.broken


@pytest.mark.parametrize("no_context", [False, True])
@pytest.mark.parametrize("cap", [64, PIECE, PIECE * 2, 1 << 24])
def test_inflater_message_is_start_feed_end(no_context: bool, cap: int) -> None:
    """Inflater.message (the fast path's one-piece message) gives the output
    and leaves the state of start_message, feed and end_message, message
    after message: small ones, one of more than a PIECE, one ending a DEFLATE stream
    (BFINAL), empty ones, corrupt ones, and after a corrupt one."""
    c = zlib.compressobj(wbits=-15)
    texts = [b"hello" * 3, bytes(range(256)) * 300, b"", b"x" * (PIECE + 5000), b"tail"]
    messages = []
    for t in texts:
        if no_context:
            c = zlib.compressobj(wbits=-15)
        messages.append((c.compress(t) + c.flush(zlib.Z_SYNC_FLUSH))[:-4])
    messages.insert(2, b"\xff\xff\xff\xff")  # not DEFLATE
    final = zlib.compressobj(wbits=-15)
    messages.append(final.compress(b"last") + final.flush())  # BFINAL, then a new stream
    messages.append(messages[0])  # after the stream's end
    one, steps = Inflater(no_context, 15, cap), Inflater(no_context, 15, cap)
    for m in messages:
        for collect in (True, False):
            got = one.message(m, collect)
            out: list[bytes] = []
            steps.start_message()
            if m:
                steps.feed(m, out.append if collect else None)
            steps.end_message(out.append if collect else None)
            assert b"".join(got) == b"".join(out)
            assert _inflater_state(one) == _inflater_state(steps)
