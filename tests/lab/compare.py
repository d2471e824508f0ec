"""Compare wscap's analysis of a lab capture with the peers' truth.

:func:`compare` returns a list of human-readable mismatches (empty = agrees).
It only uses the documented data model of ``wscap.load`` (issue 2).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# A peer stamps a frame when it hands it to / gets it from its socket; the
# capture stamps it in the kernel.  On loopback they differ by well under this.
TS_TOLERANCE_S = 0.05
# The peers note a connection's start in connection_made(), an event-loop
# callback: with fifty connections opening at once on two cores it ran up
# to 78 ms after the SYN (seen in a full test run), so starts get more room.
START_TOLERANCE_S = 0.25


def _na(x: Any) -> Any:
    """pandas NA/NaN/None -> None; numpy scalars -> Python scalars."""
    if x is None:
        return None
    try:
        if pd.isna(x):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(x, "item"):
        return x.item()
    return x


def _ts(x: Any) -> float | None:
    x = _na(x)
    if x is None:
        return None
    return float(pd.Timestamp(x).value) / 1e9


def truncated(truth: dict[str, Any]) -> bool:
    """A small snaplen: payload is cut, wscap sees capture gaps, not data."""
    return int(truth["capture"].get("snaplen") or 262144) < 1500


def window(truth: dict[str, Any], frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames sent while the capture ran."""
    start = truth["capture"]["started"]
    return [f for f in frames if f["t"] >= start]


def _subsequence(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> bool:
    it = iter(want)
    return all(any(g == w for w in it) for g in got)


def compare(truth: dict[str, Any], a: Any) -> list[str]:
    """Every way in which ``a`` (a wscap analysis) disagrees with ``truth``."""
    errs: list[str] = []
    conns = a.connections
    cut = truncated(truth)
    tconns = truth["connections"]
    if len(conns) != len(tconns):
        errs.append(f"capture: {len(conns)} TCP connections in wscap, {len(tconns)} in truth")
    for tc in tconns:
        errs += [
            f"{tc['id']} {tc['client']}->{tc['server']}: {e}"
            for e in _compare_conn(truth, tc, a, cut)
        ]
    return errs


def _row(conns: pd.DataFrame, tc: dict[str, Any]) -> tuple[pd.Series | None, str | None]:
    m = conns[(conns["client"] == tc["client"]) & (conns["server"] == tc["server"])]
    if len(m) == 1:
        return m.iloc[0], None
    r = conns[(conns["client"] == tc["server"]) & (conns["server"] == tc["client"])]
    if len(r) == 1:
        return None, "found with client and server swapped"
    return None, f"not found in wscap (matches: {len(m)})"


def _eq(errs: list[str], what: str, got: Any, want: Any) -> None:
    got = _na(got)
    if got != want:
        errs.append(f"{what}: wscap {got!r}, truth {want!r}")


def _compare_conn(truth: dict[str, Any], tc: dict[str, Any], a: Any, cut: bool) -> list[str]:
    errs: list[str] = []
    row, why = _row(a.connections, tc)
    if row is None:
        return [str(why)]
    cid = row["conn_id"]
    hs = tc.get("handshake") or {}
    before = bool(tc.get("started_before_capture"))

    # -- TCP ---------------------------------------------------------------
    if not before and tc.get("connected_at"):
        dt = abs((_ts(row["start"]) or 0.0) - tc["connected_at"])
        if dt > START_TOLERANCE_S:
            errs.append(f"start: {dt:.3f}s away from the peer's connect time")
    _eq(errs, "tcp_end", row["tcp_end"], tc["tcp"]["tcp_end"])
    if cut:
        if not _na(row["capture_gaps"]):
            errs.append("capture_gaps: wscap 0, but the snaplen cut payload")
    else:
        _eq(errs, "capture_gaps", row["capture_gaps"], 0)

    # -- handshake ------------------------------------------------------------
    upgrade = bool(hs.get("upgrade_requested"))
    if not cut:
        _eq(errs, "websocket", row["websocket"], upgrade)
    if not upgrade:
        return errs
    status = hs.get("status")
    if before:
        _eq(errs, "handshake", row["handshake"], "not-captured")
    elif not cut:
        _eq(errs, "http_status", row["http_status"], status)
        if status == 101:
            _eq(errs, "accept_valid", row["accept_valid"], hs.get("accept_valid"))
            if hs.get("accept_valid"):
                _eq(errs, "handshake", row["handshake"], "ok")
        elif status is not None:
            _eq(errs, "handshake", row["handshake"], "rejected")
        _eq(errs, "compressed", row["compressed"], tc["deflate"] is not None)
        if status == 101:
            _eq(errs, "extensions", row["extensions"], hs.get("extensions_accepted"))
            _eq(errs, "subprotocol", row["subprotocol"], hs.get("subprotocol"))
        hrows = a.handshakes[a.handshakes["conn_id"] == cid]
        if len(hrows) != 1:
            errs.append(f"handshakes: {len(hrows)} rows for this connection, truth 1")
        else:
            _eq(errs, "handshakes.key", hrows.iloc[0]["key"], hs.get("key"))
            _eq(errs, "handshakes.status", hrows.iloc[0]["status"], status)
            _eq(
                errs,
                "handshakes.accept_valid",
                hrows.iloc[0]["accept_valid"],
                hs.get("accept_valid") if status == 101 else _na(hrows.iloc[0]["accept_valid"]),
            )
    if status != 101:
        return errs

    # -- frames -------------------------------------------------------------------
    frames = a.frames[a.frames["conn_id"] == cid]
    messages = a.messages[a.messages["conn_id"] == cid]
    for d in ("client", "server"):
        want = window(truth, tc["directions"][d]["frames"])
        got = frames[frames["direction"] == d]
        if cut:
            gk = [(_na(r.opcode), int(r.payload_len)) for r in got.itertuples()]
            wk = [(f["opcode"], f["payload_len"]) for f in want]
            if not _subsequence(gk, wk):
                errs.append(
                    f"frames {d}: wscap reports frames the peers never sent: {gk} vs truth {wk}"
                )
            continue
        _eq(errs, f"frames_{d}", row[f"frames_{d}"], len(want))
        gk = [
            (_na(r.opcode), bool(r.fin), bool(r.masked), int(r.payload_len), _na(r.close_code))
            for r in got.itertuples()
        ]
        wk = [(f["opcode"], f["fin"], f["masked"], f["payload_len"], f["close_code"]) for f in want]
        if gk != wk:
            first = next(
                (i for i, (g, w) in enumerate(zip(gk, wk, strict=False)) if g != w),
                min(len(gk), len(wk)),
            )
            errs.append(
                f"frames {d} differ from #{first} (opcode, fin, masked, payload_len, "
                f"close_code): wscap {gk[first : first + 3]}, truth {wk[first : first + 3]}"
                f" ({len(gk)} vs {len(wk)} frames)"
            )
        else:
            g1 = [bool(r.rsv1) for r in got.itertuples()]
            w1 = [bool(f["rsv1"]) for f in want]
            if g1 != w1:
                k = next(i for i, (g, w) in enumerate(zip(g1, w1, strict=False)) if g != w)
                n = sum(g != w for g, w in zip(g1, w1, strict=False))
                errs.append(
                    f"frames {d}: rsv1 differs on {n} of {len(w1)} frames, first #{k} "
                    f"({want[k]['opcode']}): wscap {g1[k]}, truth {w1[k]}"
                )
            # masking is the one RFC 6455 rule the lab breaks on purpose (raw
            # peers); every other frame the peers sent is valid
            for i, (r, f) in enumerate(zip(got.itertuples(), want, strict=False)):
                bad_mask = f["masked"] != (d == "client")
                has_violation = _na(r.violation) is not None
                if bad_mask != has_violation:
                    errs.append(
                        f"frame {d} #{i} ({f['opcode']}, masked={f['masked']}): "
                        f"violation {_na(r.violation)!r}, expected "
                        f"{'a masking violation' if bad_mask else 'none'}"
                    )
            for i, (r, f) in enumerate(zip(got.itertuples(), want, strict=False)):
                dt = abs((_ts(r.ts) or 0.0) - f["t"])
                if dt > TS_TOLERANCE_S:
                    errs.append(f"frame {d} #{i} ({f['opcode']}): ts off by {dt:.3f}s")
                    break
        # messages
        wm = [
            m
            for m in tc["directions"][d]["messages"]
            if m["t_first"] >= truth["capture"]["started"]
        ]
        gm_rows = messages[messages["direction"] == d]
        gm = [
            (
                _na(r.type),
                int(r.fragments),
                int(r.wire_bytes),
                _na(r.payload_bytes),
                bool(r.compressed),
            )
            for r in gm_rows.itertuples()
        ]
        wmk = [
            (m["type"], m["fragments"], m["wire_bytes"], m["payload_bytes"], m["compressed"])
            for m in wm
        ]
        if before and tc["deflate"] is not None:
            # extension state unknown mid-stream: payload size after inflate unknowable
            gm = [g[:3] for g in gm]
            wmk = [w[:3] for w in wmk]
        if gm != wmk:
            first = next(
                (i for i, (g, w) in enumerate(zip(gm, wmk, strict=False)) if g != w),
                min(len(gm), len(wmk)),
            )
            errs.append(
                f"messages {d} differ from #{first} (type, fragments, wire_bytes, "
                f"payload_bytes, compressed): wscap {gm[first : first + 3]}, "
                f"truth {wmk[first : first + 3]} ({len(gm)} vs {len(wmk)} messages)"
            )
    if cut:
        return errs

    # -- close ----------------------------------------------------------------
    close = tc["close"]
    _eq(errs, "close_code_client", row["close_code_client"], close["client_sent"])
    _eq(errs, "close_code_server", row["close_code_server"], close["server_sent"])
    _eq(errs, "first_close", row["first_close"], close["first_close"])
    return errs
