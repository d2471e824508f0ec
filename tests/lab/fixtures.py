"""Helpers shared by tests/test_lab.py and tests/test_lab_recorded.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .procs import LabUnavailable, check_environment

REPO = Path(__file__).resolve().parents[2]
KEPT_DIR = REPO / "captures" / "lab"


def require_lab() -> None:
    """Skip (or, with CI=true, fail) when root or a lab tool is missing."""
    try:
        check_environment()
    except LabUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"capture lab cannot run in CI: {e}", pytrace=False)
        pytest.skip(f"capture lab unavailable: {e}")


def kept_truths() -> list[Path]:
    return sorted(KEPT_DIR.glob("*.truth.json"))


def load_truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def capture_of(truth_path: Path, truth: dict[str, Any]) -> Path:
    return truth_path.parent / truth["capture"]["file"]


def check_findings(truth: dict[str, Any], analysis: Any) -> list[str]:
    """The diagnosis (issue 4) against what the scenario was built to show."""
    expect = truth.get("expect") or {}
    findings = getattr(analysis, "findings", None)
    if findings is None:
        pytest.skip("wscap has no findings yet (diagnosis, issue 4)")
    codes = set(findings["code"].astype(str)) if len(findings) else set()
    errs = [
        f"finding {c!r} missing (found {sorted(codes)})"
        for c in expect.get("findings", [])
        if c not in codes
    ]
    if expect.get("healthy") and len(findings):
        bad = findings[findings["severity"].astype(str).isin(["error", "warning"])]
        errs += [
            f"false alarm on a healthy capture: {r.code} {r.summary}" for r in bad.itertuples()
        ]
    return errs


REQUIRED_KEYS = {
    "schema",
    "scenario",
    "description",
    "capture",
    "proxy",
    "planned",
    "connections",
    "expect",
}
REQUIRED_CONN_KEYS = {
    "id",
    "role",
    "client",
    "server",
    "observed_by",
    "tcp",
    "websocket",
    "handshake",
    "deflate",
    "directions",
    "close",
    "pings",
    "idle",
    "started_before_capture",
}


def schema_errors(truth: dict[str, Any]) -> list[str]:
    """Structural check of a truth file against tests/lab/README.md."""
    errs = [f"missing key {k!r}" for k in REQUIRED_KEYS - truth.keys()]
    for c in truth.get("connections", []):
        errs += [f"{c.get('id')}: missing key {k!r}" for k in REQUIRED_CONN_KEYS - c.keys()]
        for d in ("client", "server"):
            for f in c.get("directions", {}).get(d, {}).get("frames", []):
                if (
                    not {"t", "opcode", "fin", "rsv1", "masked", "payload_len", "plain_len"}
                    <= f.keys()
                ):
                    errs.append(f"{c.get('id')}: frame without required fields: {f}")
                    break
    if truth.get("capture", {}).get("packets_dropped") != 0:
        errs.append("capture dropped packets (or did not say)")
    return errs
