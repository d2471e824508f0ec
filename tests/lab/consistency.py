"""Are two truth files of the same scenario consistent?

Counts must be identical; times (relative to the first connection's connect)
must agree within a tolerance.  Addresses, ports, keys and absolute times are
ignored: they differ on every run.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from typing import Any

# Default tolerance for relative times.  Scenario events are driven by timers
# (sleeps, ping intervals, proxy timeouts) on an otherwise idle loopback.
TIME_TOLERANCE_S = 0.025


def signature(c: dict[str, Any]) -> tuple[Any, ...]:
    """Everything countable about one connection, as a hashable value."""
    hs = c.get("handshake") or {}
    dirs = c["directions"]

    def msgs(d: str) -> tuple[Any, ...]:
        return tuple(
            (m["type"], m["fragments"], m["wire_bytes"], m["payload_bytes"], m["compressed"])
            for m in dirs[d]["messages"]
        )

    def frames(d: str) -> tuple[Any, ...]:
        return tuple(
            (f["opcode"], f["fin"], f["rsv1"], f["masked"], f["plain_len"], f["close_code"])
            for f in dirs[d]["frames"]
        )

    pings = c.get("pings") or {}
    return (
        ("role", c["role"]),
        ("websocket", c["websocket"]),
        ("status", hs.get("status")),
        ("accept_valid", hs.get("accept_valid")),
        ("deflate", tuple(sorted((c.get("deflate") or {}).items()))),
        ("tcp_end", c["tcp"]["tcp_end"]),
        ("close", tuple(sorted(c["close"].items()))),
        ("frames_client", frames("client")),
        ("frames_server", frames("server")),
        ("messages_client", msgs("client")),
        ("messages_server", msgs("server")),
        (
            "pings",
            tuple(
                (d, len(p), sum(1 for x in p if x["pong_t"] is not None))
                for d, p in sorted(pings.items())
            ),
        ),
        ("started_before_capture", c.get("started_before_capture")),
    )


def _t0(truth: dict[str, Any]) -> float:
    return min(c["connected_at"] for c in truth["connections"] if c["connected_at"])


def timings(truth: dict[str, Any]) -> dict[str, float]:
    """Named relative times: connects (from the first connect), and each
    connection's frames and first FIN/RST from that connection's first frame
    (its connect if it has none).

    Not from the connect: the time the Upgrade handshake takes is not
    something a scenario sets, and it varies (61 ms once in a CI run, under
    1 ms usually); scenarios time what they do from the open WebSocket.
    """
    t0 = _t0(truth)
    out: dict[str, float] = {}
    seen: Counter[str] = Counter()
    for c in sorted(truth["connections"], key=lambda c: c["connected_at"] or 0):
        k = f"{c['role']}#{seen[c['role']]}"
        seen[c["role"]] += 1
        out[f"{k} connect"] = c["connected_at"] - t0
        sent = [f["t"] for d in ("client", "server") for f in c["directions"][d]["frames"]]
        tc = min(sent) if sent else c["connected_at"]
        fe = c["tcp"]["first_end"]
        if fe:
            out[f"{k} first {fe['kind']}"] = fe["t"] - tc
        for d in ("client", "server"):
            for i, f in enumerate(c["directions"][d]["frames"]):
                out[f"{k} {d} frame#{i} {f['opcode']}"] = f["t"] - tc
    for i, g in enumerate(truth["planned"].get("idle", [])):
        out[f"idle#{i} {g['label']}"] = g["actual_s"]
    return out


def median_timings(truth: dict[str, Any]) -> dict[str, float]:
    """:func:`timings` with the connection index dropped, median per name.

    For many simultaneous connections: which socket the kernel and the event
    loop serve first changes from run to run, the typical time does not.
    """
    groups: dict[str, list[float]] = {}
    for k, v in timings(truth).items():
        groups.setdefault(re.sub(r"#\d+ ", " ", k, count=1), []).append(v)
    return {k: statistics.median(v) for k, v in groups.items()}


def compare_runs(
    a: dict[str, Any],
    b: dict[str, Any],
    tolerance: float | None = TIME_TOLERANCE_S,
    median: bool = False,
) -> list[str]:
    """Differences between two truth files of one scenario (empty = consistent).

    ``tolerance=None`` compares counts only; ``median=True`` compares the
    median time of each event over the connections (:func:`median_timings`).
    """
    errs: list[str] = []
    if a["scenario"] != b["scenario"]:
        return [f"different scenarios: {a['scenario']} vs {b['scenario']}"]
    sa = Counter(signature(c) for c in a["connections"])
    sb = Counter(signature(c) for c in b["connections"])
    if sa != sb:
        for sig in sa - sb:
            errs.append(f"only in run A ({(sa - sb)[sig]}x): {dict(sig)}")
        for sig in sb - sa:
            errs.append(f"only in run B ({(sb - sa)[sig]}x): {dict(sig)}")
    if tolerance is None or errs:
        return errs
    fn = median_timings if median else timings
    ta, tb = fn(a), fn(b)
    for k in sorted(set(ta) | set(tb)):
        if k not in ta or k not in tb:
            errs.append(f"timing {k!r} present in one run only")
        elif abs(ta[k] - tb[k]) > tolerance:
            errs.append(
                f"timing {k!r}: {ta[k]:.4f}s vs {tb[k]:.4f}s "
                f"(more than {tolerance * 1000:.0f} ms apart)"
            )
    return errs
