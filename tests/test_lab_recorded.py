"""wscap against the truth of the lab captures kept in captures/lab/.

Fast: no root, no proxy.  The truth was written by the peers while recording
(tests/lab/README.md); ``pytest -m lab`` re-records it all from scratch.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lab import sanity
from lab.compare import compare
from lab.consistency import compare_runs
from lab.fixtures import (
    KEPT_DIR,
    analyze_json,
    capture_of,
    check_findings,
    check_timeout_findings,
    kept_truths,
    load_truth,
    schema_errors,
    timeout_options,
)
from lab.scenarios import SCENARIOS

import wscap

KEPT = kept_truths()
IDS = [p.name.removesuffix(".truth.json") for p in KEPT]


def test_every_kept_scenario_is_present() -> None:
    names = {p.name.removesuffix(".truth.json") for p in KEPT}
    missing = [n for n, s in SCENARIOS.items() if s.keep and n not in names]
    assert not missing, f"no kept capture for {missing}: run python -m tests.lab record"


def test_kept_captures_are_small() -> None:
    total = sum(p.stat().st_size for p in KEPT_DIR.iterdir() if p.is_file())
    assert total < 2_000_000, f"captures/lab holds {total} bytes"


@pytest.mark.parametrize("truth_path", KEPT, ids=IDS)
def test_truth_file_is_well_formed(truth_path: Path) -> None:
    truth = load_truth(truth_path)
    assert truth["scenario"] == truth_path.name.removesuffix(".truth.json")
    assert capture_of(truth_path, truth).exists()
    assert schema_errors(truth) == []


@pytest.mark.parametrize("truth_path", KEPT, ids=IDS)
def test_scenario_did_what_it_says(truth_path: Path) -> None:
    """The kept recording shows its situation (timer fired, RST sent, ...)."""
    errs = sanity.check(load_truth(truth_path))
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("truth_path", KEPT, ids=IDS)
def test_wscap_matches_truth(truth_path: Path) -> None:
    truth = load_truth(truth_path)
    a = wscap.load(capture_of(truth_path, truth))
    errs = compare(truth, a)
    assert not errs, f"{len(errs)} mismatches:\n" + "\n".join(errs)


@pytest.mark.parametrize("truth_path", KEPT, ids=IDS)
def test_findings_match_scenario(truth_path: Path) -> None:
    truth = load_truth(truth_path)
    doc = analyze_json(capture_of(truth_path, truth))
    errs = check_findings(truth, doc)
    assert not errs, "\n".join(errs)


PROXIED = [(p, i) for p, i in zip(KEPT, IDS, strict=True) if load_truth(p).get("proxy")]


@pytest.mark.parametrize("truth_path", [p for p, _ in PROXIED], ids=[i for _, i in PROXIED])
def test_findings_with_the_proxy_timeout(truth_path: Path) -> None:
    """`--timeout` set to the proxy's configured value, as a user would."""
    truth = load_truth(truth_path)
    doc = analyze_json(capture_of(truth_path, truth), *timeout_options(truth))
    errs = check_findings(truth, doc, scenario_codes=False) + check_timeout_findings(truth, doc)
    assert not errs, "\n".join(errs)


def test_cli_json_agrees_with_truth() -> None:
    """`wscap analyze --json` on a kept capture: connections and frame counts."""
    truth_path = KEPT_DIR / "nginx-healthy.truth.json"
    if not truth_path.exists():
        pytest.skip("nginx-healthy not kept")
    truth = load_truth(truth_path)
    out = subprocess.run(
        [sys.executable, "-m", "wscap", "analyze", str(capture_of(truth_path, truth)), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    doc = json.loads(out.stdout)
    got = {
        (c["client"], c["server"]): (c["frames_client"], c["frames_server"])
        for c in doc["connections"]
    }
    want = {
        (c["client"], c["server"]): (
            len(c["directions"]["client"]["frames"]),
            len(c["directions"]["server"]["frames"]),
        )
        for c in truth["connections"]
    }
    assert got == want


# -- the checks themselves must be able to fail --------------------------------
def _first_ws(truth: dict) -> dict:
    return next(
        c
        for c in truth["connections"]
        if c["directions"]["client"]["frames"] and not c["started_before_capture"]
    )


def test_compare_catches_a_wrong_frame_size() -> None:
    truth_path = KEPT_DIR / "deflate.truth.json"
    if not truth_path.exists():
        pytest.skip("deflate not kept")
    truth = load_truth(truth_path)
    a = wscap.load(capture_of(truth_path, truth))
    bad = copy.deepcopy(truth)
    _first_ws(bad)["directions"]["client"]["frames"][0]["payload_len"] += 1
    assert len(compare(bad, a)) > len(compare(truth, a))


def test_compare_catches_a_wrong_close_side() -> None:
    truth_path = KEPT_DIR / "nginx-read-timeout.truth.json"
    if not truth_path.exists():
        pytest.skip("nginx-read-timeout not kept")
    truth = load_truth(truth_path)
    a = wscap.load(capture_of(truth_path, truth))
    bad = copy.deepcopy(truth)
    c = bad["connections"][0]
    c["tcp"]["tcp_end"] = "fin-client" if c["tcp"]["tcp_end"] != "fin-client" else "fin-server"
    errs = compare(bad, a)
    assert any("tcp_end" in e for e in errs)


def test_consistency_catches_a_missing_ping() -> None:
    truth_path = KEPT_DIR / "nginx-healthy.truth.json"
    if not truth_path.exists():
        pytest.skip("nginx-healthy not kept")
    truth = load_truth(truth_path)
    assert compare_runs(truth, truth) == []
    bad = copy.deepcopy(truth)
    frames = bad["connections"][0]["directions"]["client"]["frames"]
    frames.remove(next(f for f in frames if f["opcode"] == "ping"))
    assert compare_runs(truth, bad, tolerance=None) != []
    late = copy.deepcopy(truth)
    late["connections"][0]["directions"]["client"]["frames"][-1]["t"] += 0.1
    assert compare_runs(truth, late) != []
