"""Several processes, each analysing a shard of the connections, give
exactly the model one process gives (wscap.parallel)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_fastpath import BUNDLED, PUBLIC, ROOT, generated, model

from wscap.analyzer import analyze_shard, shard_of
from wscap.pcapfile import PacketReader


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
