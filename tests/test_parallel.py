"""Several processes, each analysing a shard of the connections, give
exactly the model one process gives (wscap.parallel)."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers_packets import (
    build_pcap,
    tcp_conversation,
    upgrade_request,
    upgrade_response,
    ws_frame,
)
from test_fastpath import BUNDLED, PUBLIC, ROOT, generated, model, plain_model

from wscap import pcapfile
from wscap.analyzer import analyze_shard, shard_of
from wscap.parallel import analyze_sharded
from wscap.pcapfile import PacketReader, SharedWindows


def assert_same_sharded(path: Path, jobs: int, **kw: object) -> dict[str, object]:
    one = model(path, jobs=1, **kw)
    many = model(path, jobs=jobs, **kw)
    for key in one:
        assert many[key] == one[key], f"{key} differs with {jobs} processes"
    return one


@pytest.mark.parametrize("path", BUNDLED + PUBLIC, ids=lambda p: p.name)
def test_real_captures(path: Path) -> None:
    assert_same_sharded(path, 2)


@pytest.mark.parametrize("jobs", [2, 3])
def test_generated_capture(tmp_path: Path, jobs: int) -> None:
    path = generated(tmp_path, 15000, 3)
    m = assert_same_sharded(path, jobs)
    total = len(m["connections"])  # type: ignore[arg-type]
    assert total > 100
    # each shard gets a fair part of the connections
    options = {"keep_frames": False}
    for k in range(jobs):
        a, _opened = analyze_shard(PacketReader(str(path)), options, (k, jobs))
        assert len(a.connection_list) > total / jobs / 2


def test_violation_codes_in_the_same_order(tmp_path: Path) -> None:
    """The frames table names its violation codes in one order whatever
    the shards.  Here the second process's connection shows its violation
    first and the parent's another one later: listed by first appearance,
    one process would name them in capture order and the merge of two in
    the order of the shards, the other way round."""
    ports = [p for p in range(50000, 50100) if shard_of(p, 80, 2) == 1][:1]
    ports += [p for p in range(50000, 50100) if shard_of(p, 80, 2) == 0][:1]
    handshake = [("c", upgrade_request()), ("s", upgrade_response())]
    packets = []
    for n, (port, bad) in enumerate(
        zip(ports, [ws_frame(1, b"rsv2", rsv=2), ws_frame(3, b"reserved")], strict=True)
    ):
        packets += tcp_conversation(
            ("10.0.0.1", port),
            exchanges=handshake + [("s", bad)],
            start_ns=1_700_000_000_000_000_000 + n * 10**9,
        )
    path = tmp_path / "two.pcap"
    path.write_bytes(build_pcap(sorted(packets)))
    m = assert_same_sharded(path, 2)
    assert m["frames.codes"] == [None, "reserved-opcode", "rsv-without-extension"]


def test_shards_spread_even_client_ports() -> None:
    """Linux prefers even ports for connect(): the split must not follow parity."""
    for jobs in (2, 3, 4):
        shards = [shard_of(p, 443, jobs) for p in range(40000, 42000, 2)]
        assert all(shards.count(k) > len(shards) / jobs / 2 for k in range(jobs))


def _cli_json(args: list[str], stdin: bytes | None = None) -> dict[str, object]:
    r = subprocess.run(
        [sys.executable, "-m", "wscap", "analyze", "--json", *args],
        input=stdin,
        capture_output=True,
        check=True,
    )
    doc = json.loads(r.stdout)
    doc["capture"].pop("path")  # type: ignore[attr-defined]
    doc["capture"].pop("format")  # type: ignore[attr-defined]
    return doc


def test_pipe_is_shared_with_the_other_processes() -> None:
    """From standard input (gzip'd too), the parent passes the bytes on."""
    raw = (ROOT / "captures" / "lab" / "fifty-connections.pcap").read_bytes()
    alone = _cli_json(["--jobs", "1", str(ROOT / "captures" / "lab" / "fifty-connections.pcap")])
    assert _cli_json(["--jobs", "2", "-"], stdin=raw) == alone
    assert _cli_json(["--jobs", "3", "-"], stdin=gzip.compress(raw)) == alone


def test_damaged_capture(tmp_path: Path) -> None:
    """Damage part-way: every process stops at the same record."""
    raw = (ROOT / "captures" / "lab" / "fifty-connections.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    m = assert_same_sharded(cut, 2)
    assert m["capture"]["damage"]  # type: ignore[index]


def test_unsupported_link_type_is_one_error(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    header = bytes.fromhex("d4c3b2a1020004000000000000000000ffff0000")
    p.write_bytes(header + (147).to_bytes(4, "little"))  # link type 147: user-defined
    r = subprocess.run(
        [sys.executable, "-m", "wscap", "analyze", "--jobs", "2", str(p)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unsupported link type 147" in r.stderr


# -- a stream (a pipe): the parent's windows, shared ---------------------------


def stream_model(raw: bytes, tmp_path: Path, jobs: int) -> dict[str, object]:
    """The model of the capture ``raw`` read as a stream, as from a pipe
    (the reader has no path to open again), by ``jobs`` processes."""
    p = tmp_path / "stream"
    p.write_bytes(raw)
    reader = PacketReader.from_file(open(p, "rb"), "<stdin>")
    options = {"keep_frames": True, "fast": True}
    a = analyze_sharded(reader, jobs, options) if jobs > 1 else analyze_shard(reader, options)[0]
    m = plain_model(a)
    m["capture"].pop("path")  # type: ignore[attr-defined]
    return m


def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of 64 KiB in two slots: the parent waits for the others often."""
    monkeypatch.setattr(pcapfile, "WINDOW", 1 << 16)
    monkeypatch.setattr(SharedWindows, "SLOTS", 2)


@pytest.mark.parametrize("jobs", [2, 3])
def test_stream_windows_are_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int):
    """A pcap stream read by several processes from the parent's shared
    windows gives the model of one process reading the file."""
    small_windows(monkeypatch)
    path = generated(tmp_path, 15000, 3)
    raw = path.read_bytes()
    expected = model(path, jobs=1)
    expected["capture"].pop("path")  # type: ignore[attr-defined]
    expected["capture"]["format"] = "pcap"  # type: ignore[index]
    assert stream_model(raw, tmp_path, jobs) == expected
    expected["capture"]["format"] = "pcap.gz"  # type: ignore[index]
    assert stream_model(gzip.compress(raw, 1), tmp_path, jobs) == expected


@pytest.mark.parametrize("how", ["cut", "gzip damaged"])
def test_damaged_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Damage in a stream: the shared windows stop where one process stops."""
    small_windows(monkeypatch)
    raw = generated(tmp_path, 8000, 5).read_bytes()
    if how == "cut":
        raw = raw[: len(raw) * 2 // 3 + 5]
    else:
        packed = bytearray(gzip.compress(raw, 1))
        packed[len(packed) // 2 : len(packed) // 2 + 64] = bytes(64)
        raw = bytes(packed)
    alone = stream_model(raw, tmp_path, 1)
    assert alone["capture"]["damage"]  # type: ignore[index]
    assert alone["capture"]["packets"] > 1000  # type: ignore[index]
    assert stream_model(raw, tmp_path, 2) == alone


def test_a_reader_that_ends_early_is_not_waited_for() -> None:
    """When a reading process ends (an error), the writer goes on: the
    parent then reports the error instead of hanging."""
    shared = SharedWindows(64, 1)
    ctx = multiprocessing.get_context("fork")
    seen = ctx.SimpleQueue()

    def reader() -> None:
        shared.enter_reader(0)
        for start, end in shared.windows(0):
            seen.put(bytes(shared.memory[start:end]))
            os._exit(0)  # gone after its first window

    proc = ctx.Process(target=reader)
    proc.start()
    shared.forked()

    def write() -> None:
        for i in range(3 * SharedWindows.SLOTS):
            at = shared.acquire()
            shared.memory[at : at + 5] = b"w%04d" % i
            shared.publish(at, at + 5)
        shared.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(10)
    proc.join(10)
    assert not writer.is_alive(), "the writer waits for a reader that has ended"
    assert seen.get() == b"w0000"
