"""Helpers shared by tests/test_lab.py and tests/test_lab_recorded.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def analyze_json(capture: Path, *options: str) -> dict[str, Any]:
    """``wscap analyze FILE --json [options]`` (the CLI contract), parsed."""
    out = subprocess.run(
        [sys.executable, "-m", "wscap", "analyze", str(capture), "--json", *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise AssertionError(f"wscap analyze exited {out.returncode}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def timeout_options(truth: dict[str, Any]) -> list[str]:
    """``--timeout`` options for the proxy the scenario ran, from its truth."""
    proxy = truth.get("proxy") or {}
    t = proxy.get("timeouts_s") or {}
    if proxy.get("kind") == "nginx":
        return [f"--timeout=nginx-read={t['proxy_read_timeout']:g}"]
    if proxy.get("kind") == "haproxy":
        return [f"--timeout=haproxy-tunnel={t['timeout_tunnel']:g}"]
    return []


def closed_by_proxy_timer(c: dict[str, Any]) -> float | None:
    """Silence (s) before the proxy closed ``c`` on its own, else None.

    From the peers' records: a proxied WebSocket with no close frame either way
    whose first FIN/RST came from the proxy's side.
    """
    hs = c.get("handshake") or {}
    if c["role"] not in ("client-proxy", "proxy-backend") or hs.get("status") != 101:
        return None
    if c["close"]["client_sent"] is not None or c["close"]["server_sent"] is not None:
        return None
    fe = c["tcp"]["first_end"]
    proxy_side = "server" if c["role"] == "client-proxy" else "client"
    if not fe or fe["side"] != proxy_side:
        return None
    frames = c["directions"]["client"]["frames"] + c["directions"]["server"]["frames"]
    last = max((f["t"] for f in frames), default=c["connected_at"])
    return float(fe["t"] - last)


def _conn_ids(doc: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(c["client"], c["server"]): int(c["conn_id"]) for c in doc["connections"]}


def _named(findings: list[dict[str, Any]], code: str, cid: int | None) -> list[dict[str, Any]]:
    out = []
    for f in findings:
        ids = f.get("conn_ids") or ([f["conn_id"]] if f.get("conn_id") is not None else [])
        if f["code"] == code and (cid is None or cid in ids):
            out.append(f)
    return out


def check_findings(
    truth: dict[str, Any], doc: dict[str, Any], scenario_codes: bool = True
) -> list[str]:
    """The diagnosis (issue 4) in ``doc`` (``--json``) against the truth.

    Expected from what the scenario was built to show (``expect``) and, per
    connection, from what the peers recorded: an RST -> ``tcp-reset``; a
    WebSocket that ended without any close frame -> ``abnormal-closure`` (or,
    with the proxy timeout given, ``idle-timeout-close``); a wrong Accept ->
    ``accept-mismatch``; a ping without pong -> ``ping-unanswered``; a
    handshake before the capture -> ``handshake-not-captured``; a raw peer's
    unmasked client frame -> ``client-frame-unmasked``. ``scenario_codes=False``
    leaves out ``expect.findings`` (they are for a run without ``--timeout``).
    """
    if "findings" not in doc:
        pytest.skip("wscap reports no findings yet (diagnosis, issue 4)")
    findings = doc["findings"]
    codes = {f["code"] for f in findings}
    expect = truth.get("expect") or {}
    errs = [
        f"finding {c!r} missing (found {sorted(codes)})"
        for c in expect.get("findings", [])
        if c not in codes and scenario_codes
    ]
    if expect.get("healthy"):
        errs += [
            f"false alarm on a healthy capture: {f['code']}: {f['summary']}"
            for f in findings
            if f["severity"] in ("error", "warning")
        ]
    ids = _conn_ids(doc)
    timeouts_given = any(t.get("origin") == "option" for t in doc.get("timeouts") or [])
    for c in truth["connections"]:
        cid = ids.get((c["client"], c["server"]))
        if cid is None:
            continue  # compare() reports missing connections
        hs = c.get("handshake") or {}
        want: list[str] = []
        timer = closed_by_proxy_timer(c) is not None and timeouts_given
        if c["tcp"]["tcp_end"].startswith("rst") and not timer:
            # (an RST that is the proxy timer's own pattern, e.g. HAProxy's
            # tunnel timeout, may be explained by idle-timeout-close instead)
            want.append("tcp-reset")
        if c.get("started_before_capture"):
            want.append("handshake-not-captured")
        if hs.get("status") == 101 and hs.get("accept_valid") is False:
            want.append("accept-mismatch")
        if any(
            p["pong_t"] is None for p in c["pings"].get("client", []) + c["pings"].get("server", [])
        ):
            want.append("ping-unanswered")
        if any(not f["masked"] for f in c["directions"]["client"]["frames"]):
            want.append("client-frame-unmasked")
        no_close = c["close"]["client_sent"] is None and c["close"]["server_sent"] is None
        if hs.get("status") == 101 and no_close and c["tcp"]["tcp_end"] != "open":
            want.append("idle-timeout-close" if timer else "abnormal-closure")
        for code in want:
            if not _named(findings, code, cid):
                errs.append(f"{c['id']} (wscap conn {cid}): no {code!r} finding")
    return errs


def check_timeout_findings(truth: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """With the proxy's own timeout given: every connection the proxy timer
    closed gets ``idle-timeout-close`` naming that timeout and the silence the
    peers saw; no other connection does."""
    errs: list[str] = []
    if "findings" not in doc:
        pytest.skip("wscap reports no findings yet (diagnosis, issue 4)")
    proxy = truth["proxy"]
    key = {"nginx": "proxy_read_timeout", "haproxy": "timeout_tunnel"}[proxy["kind"]]
    configured = proxy["timeouts_s"][key]
    ids = _conn_ids(doc)
    for c in truth["connections"]:
        cid = ids.get((c["client"], c["server"]))
        if cid is None:
            continue
        silence = closed_by_proxy_timer(c)
        got = _named(doc["findings"], "idle-timeout-close", cid)
        if silence is None:
            errs += [
                f"{c['id']}: idle-timeout-close but the peers closed it: {f['summary']}"
                for f in got
            ]
            continue
        if not got:
            errs.append(
                f"{c['id']} (wscap conn {cid}): closed by the proxy after {silence:.3f}s "
                f"of silence; no idle-timeout-close"
            )
            continue
        ev = got[0].get("evidence") or {}
        if ev.get("timeout_s") != configured:
            errs.append(
                f"{c['id']}: names timeout {ev.get('timeout_s')!r}, configured {configured}"
            )
        measured = ev.get("measured_s")
        if measured is None or abs(float(measured) - silence) > 0.05:
            errs.append(f"{c['id']}: measured silence {measured!r}, peers saw {silence:.3f}s")
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
