"""The capture lab: re-record every scenario with real peers and check wscap.

``pytest -m lab`` (root, tcpdump, dumpcap, nginx, haproxy; see tests/lab/README.md).
Without them the tests skip, except with CI=true where they fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lab import sanity
from lab.capture import CaptureError
from lab.compare import compare
from lab.consistency import compare_runs
from lab.fixtures import (
    KEPT_DIR,
    analyze_json,
    check_findings,
    check_timeout_findings,
    load_truth,
    require_lab,
    timeout_options,
)
from lab.scenarios import SCENARIOS

import wscap

pytestmark = pytest.mark.lab
NAMES = list(SCENARIOS)


def _record(name: str, outdir: Path) -> tuple[Path, dict[str, Any]]:
    from lab.record import record

    try:
        cap, truth = record(SCENARIOS[name], outdir)
    except CaptureError:
        # the kernel dropped packets (a loaded machine): record once more
        cap, truth = record(SCENARIOS[name], outdir)
    return cap, load_truth(truth)


@pytest.fixture(scope="session")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Record each scenario once per session, on demand."""
    require_lab()
    runs: dict[str, tuple[Path, dict[str, Any]]] = {}
    base = tmp_path_factory.mktemp("lab-run1")

    def get(name: str) -> tuple[Path, dict[str, Any]]:
        if name not in runs:
            runs[name] = _record(name, base)
        return runs[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_scenario_did_what_it_says(name: str, fresh: Any) -> None:
    """The peers and proxies produced the situation (before judging wscap)."""
    _, truth = fresh(name)
    errs = sanity.check(truth)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("name", NAMES)
def test_wscap_matches_fresh_truth(name: str, fresh: Any) -> None:
    cap, truth = fresh(name)
    errs = compare(truth, wscap.load(cap))
    assert not errs, f"{len(errs)} mismatches:\n" + "\n".join(errs)


@pytest.mark.parametrize("name", NAMES)
def test_findings_on_fresh_capture(name: str, fresh: Any) -> None:
    cap, truth = fresh(name)
    errs = check_findings(truth, analyze_json(cap))
    if truth.get("proxy"):
        doc = analyze_json(cap, *timeout_options(truth))
        errs += check_findings(truth, doc, scenario_codes=False)
        errs += check_timeout_findings(truth, doc)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("name", NAMES)
def test_truth_consistent_across_two_runs(name: str, fresh: Any, tmp_path: Path) -> None:
    """Counts identical, relative times within a few milliseconds."""
    _, first = fresh(name)
    _, second = _record(name, tmp_path)
    sc = SCENARIOS[name]
    errs = compare_runs(first, second, sc.timing_tolerance, median=sc.timing_median)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("name", [n for n in NAMES if SCENARIOS[n].keep])
def test_fresh_truth_matches_kept_copy(name: str, fresh: Any) -> None:
    """The kept capture in captures/lab/ is what the lab records today (counts)."""
    kept = KEPT_DIR / f"{name}.truth.json"
    if not kept.exists():
        pytest.fail(f"{kept} missing: run python -m tests.lab record")
    _, truth = fresh(name)
    errs = compare_runs(load_truth(kept), truth, tolerance=None)
    assert not errs, "\n".join(errs)
