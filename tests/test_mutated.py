"""Damaged and hostile captures: real and generated captures with random
bytes changed (headers, payloads, record headers) or cut short.

On every one, as on the intact captures (``test_fastpath``,
``test_parallel``): the fast path gives exactly the general path's model,
two shards merged give exactly one process's, and nothing raises but
:class:`~wscap.errors.CaptureError` (a file no longer readable as a
capture).  The changes are drawn from fixed seeds, so a failure names the
seed that reproduces it.  Differential runs like these found the two
differences that ``test_violation_codes_in_the_same_order`` and
``test_inflate_error_in_the_tail`` now pin down.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from test_fastpath import BUNDLED, generated, plain_model

from wscap.analyzer import analyze, analyze_shard
from wscap.errors import CaptureError
from wscap.parallel import merge
from wscap.pcapfile import PacketReader

SEEDS = range(200)


def records(data: bytes) -> list[tuple[int, int]]:
    """Where each record's packet starts in a pcap file, and its length
    (none for pcapng)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):  # microseconds, nanoseconds
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        return []
    out = []
    pos = 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(order + "I", data, pos + 8)[0]
        out.append((pos + 16, caplen))
        pos += 16 + caplen
    return out


def mutate(data: bytes, rnd: random.Random) -> bytes:
    """``data`` with 1 to 50 bytes changed (a bit flipped or a byte
    replaced), and now and then cut short.  In a pcap file most changes
    fall inside packets (their headers or payloads), so that the capture
    still reads to its end; the others anywhere past the file header."""
    b = bytearray(data)
    packets = [r for r in records(data) if r[1]]
    for _ in range(rnd.choice([1, 3, 10, 50])):
        if packets and rnd.random() < 0.9:
            start, length = rnd.choice(packets)
            at = start + rnd.randrange(length)
        else:
            at = rnd.randrange(24, len(b))
        if rnd.random() < 0.5:
            b[at] ^= 1 << rnd.randrange(8)
        else:
            b[at] = rnd.randrange(256)
    if rnd.random() < 0.1:
        del b[rnd.randrange(24, len(b)) :]
    return bytes(b)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The bundled captures, and as many times a generated one (hundreds
    of connections with deflate, fragments, retransmissions, pings, closes
    and noise), which is where shards differ most."""
    return BUNDLED + [generated(tmp_path_factory.mktemp("gen"), 3000, 11)] * len(BUNDLED)


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_capture(tmp_path: Path, bases: list[Path], seed: int) -> None:
    rnd = random.Random(seed)
    base = rnd.choice(bases)
    path = tmp_path / f"mutated{base.suffix}"
    path.write_bytes(mutate(base.read_bytes(), rnd))
    keep = seed % 3 != 0
    try:
        fast = plain_model(analyze(path, keep_frames=keep))
    except CaptureError:
        return  # no longer a capture: one clear error (test_cli checks its form)
    ref = plain_model(analyze(path, fast=False, keep_frames=keep))
    for key in ref:
        assert fast[key] == ref[key], f"{key}: fast and general path differ ({base.name})"
    options = {"keep_frames": keep}
    shards = merge([analyze_shard(PacketReader(str(path)), options, (k, 2)) for k in range(2)])
    two = plain_model(shards)
    for key in fast:
        assert two[key] == fast[key], f"{key}: two shards and one process differ ({base.name})"
