"""Text and JSON renderings of an :class:`~wscap.analysis.Analysis`."""

from __future__ import annotations

import json
from collections import Counter
from typing import IO, TYPE_CHECKING

from .diagnose import verdicts
from .frames import OPCODE_NAMES
from .model import DIRECTIONS

if TYPE_CHECKING:
    from .analysis import Analysis
    from .diagnose import Finding
    from .model import Connection


def write_json(a: Analysis, out: IO[str], frames: bool = True) -> None:
    """The model as one JSON document (``--json``), written as it is
    produced: frames and messages are never all turned into objects at once.
    ASCII only, so no raw control character (C1 included) reaches a terminal."""
    enc = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
    out.write("{")
    for i, (key, value) in enumerate(a.sections(frames)):
        out.write(("," if i else "") + enc(key) + ":")
        if isinstance(value, dict | int | list):
            out.write(enc(value))
            continue
        out.write("[")
        buf = []
        for n, row in enumerate(value):
            buf.append(enc(row))
            if len(buf) >= 4096:
                out.write(("," if n >= len(buf) else "") + ",".join(buf))
                buf = []
        if buf:
            out.write(("," if n >= len(buf) else "") + ",".join(buf))
        out.write("]")
    out.write("}\n")


def _dur(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    m, s = divmod(seconds, 60)
    if m < 120:
        return f"{int(m)} min {s:.0f} s"
    h, m = divmod(m, 60)
    return f"{int(h)} h {int(m)} min"


def _clean(text: object, limit: int | None = 120) -> str:
    """Make attacker-controlled text safe for a terminal: no control
    characters (escape sequences), bounded length."""
    s = str(text)
    s = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in s)
    return s if limit is None or len(s) <= limit else s[: limit - 1] + "…"


def _frame_counts(a: Analysis) -> dict[tuple[int, int], Counter]:
    counts: dict[tuple[int, int], Counter] = {}
    f = a.store.frames
    for cid, fl, op in zip(f.conn_id, f.flags, f.opcode, strict=True):
        key = (cid, fl & 1)
        c = counts.get(key)
        if c is None:
            c = counts[key] = Counter()
        c[op] += 1
    return counts


SEVERITY_MARK = {"error": "ERROR", "warning": "WARN ", "info": "info "}


PER_CODE = 3  # findings of one code shown in full before the rest are summed up


def render_findings(findings: list[Finding], limit: int | None = None) -> list[str]:
    """One line per finding, most serious first, with its advice indented.

    When many connections share a finding code, the first few are shown in
    full and the rest on one line, so the first screen stays readable.
    """
    out = []
    advised = set()
    by_code: dict[str, list[Finding]] = {}
    for f in findings:
        by_code.setdefault(f.code, []).append(f)
    shown = 0
    done: set[str] = set()
    for f in findings:
        if f.code in done:
            continue
        group = by_code[f.code]
        full = group if len(group) <= PER_CODE + 1 else group[:PER_CODE]
        for g in full:
            if limit is not None and shown >= limit:
                break
            out.append(f"{SEVERITY_MARK[g.severity]} {g.code}: {_clean(g.summary, None)}")
            shown += 1
            if g.advice and g.severity != "info" and g.advice not in advised:
                advised.add(g.advice)
                out.append(f"       → {_clean(g.advice, None)}")
        rest = group[len(full) :]
        if rest and (limit is None or shown < limit):
            ids = sorted({c for g in rest for c in g.conn_ids})
            shown_ids = ", ".join(map(str, ids[:10])) + (", …" if len(ids) > 10 else "")
            out.append(
                f"{SEVERITY_MARK[f.severity]} {f.code}: … and {len(rest)} more like these "
                f"(conn {shown_ids})"
            )
            shown += 1
        done.add(f.code)
    if limit is not None and shown >= limit and len(done) < len(by_code):
        out.append("… more findings: --json lists them all")
    return out


def render_text(a: Analysis, findings: list[Finding] | None = None) -> str:
    """Human summary: the verdict (findings, most serious first), the
    capture, then one block per WebSocket connection."""
    cap = a.capture
    lines: list[str] = []
    if findings is None:
        findings = a.diagnose()
    verdict = verdicts(a, findings)
    serious = [f for f in findings if f.severity != "info"]
    if serious:
        lines.append(f"Verdict: {len(serious)} problem(s) found")
        lines.extend(render_findings(serious, limit=20))
    elif a.websockets:
        lines.append("Verdict: no problems found")
    else:
        lines.append("Verdict: no WebSocket traffic in this capture")
    infos = [f for f in findings if f.severity == "info"]
    if infos:
        lines.extend(render_findings(infos, limit=5))
    if a.timeouts:
        lines.append(
            "Timeouts on the path: "
            + ", ".join(f"{t.name} {t.seconds:g} s ({t.origin})" for t in a.timeouts)
        )
    lines.append("")
    ws = a.websockets
    d = a.capture_dict()
    dur = f", {_dur(d['duration_s'])}" if d["duration_s"] is not None else ""
    lines.append(
        f"{_clean(cap.path)}: {cap.format}, {cap.packets} packets{dur}; "
        f"{len(a.connection_list)} TCP connections, {len(ws)} WebSocket "
        f"({sum(c.upgraded for c in ws)} upgraded)"
    )
    if cap.skipped:
        parts = ", ".join(f"{n} {reason}" for reason, n in d["skipped"].items())
        lines.append(f"  skipped {sum(cap.skipped.values())} packets: {parts}")
    if cap.truncated_packets:
        lines.append(
            f"  {cap.truncated_packets} packets cut by the snaplen "
            f"({cap.truncated_bytes} bytes not captured, treated as gaps)"
        )
    if d["capture_gaps"]:
        lines.append(
            f"  {d['capture_gaps']} capture gaps, {d['capture_gap_bytes']} bytes missing "
            "from TCP streams"
        )
    if cap.damage:
        lines.append(f"  CAPTURE DAMAGED: {cap.damage}; analysed the packets before it")
    if a.store.capped_messages:
        lines.append(
            f"  {a.store.capped_messages} messages decompressed past the size cap (sizes unknown)"
        )
    counts = _frame_counts(a) if a.store.keep_frames else {}
    viol = Counter((v.conn_id, v.code) for v in a.store.violations)
    for c in ws:
        lines.append("")
        lines.extend(_conn_block(a, c, counts, viol, verdict.get(c.conn_id, "ok")))
    others = len(a.connection_list) - len(ws)
    if others:
        lines.append("")
        lines.append(f"{others} other TCP connections without WebSocket")
    return "\n".join(lines) + "\n"


def _heartbeat_line(hb: list, c: Connection) -> str:
    if not hb:
        ka = c.client.keepalives + c.server.keepalives
        return "none" + (f" (only {ka} TCP keep-alives)" if ka else "")
    parts = []
    for kind in sorted({h.kind for h in hb}):
        items = [h for h in hb if h.kind == kind]
        dirs = "/".join(sorted({h.direction for h in items}))
        answered = [h for h in items if h.ts_answer is not None]
        line = f"{len(items)} {kind} from {dirs}"
        if len(items) > 1:
            gaps = [(b.ts - a.ts) / 1e9 for a, b in zip(items, items[1:], strict=False)]
            line += f" every ~{_dur(sorted(gaps)[len(gaps) // 2])}"
        if kind != "ws-pong-unsolicited":
            line += f", {len(answered)} answered"
            if answered:
                rtt = max(h.rtt_s for h in answered)
                line += f" (rtt ≤ {_dur(rtt)})"
        parts.append(line)
    return "; ".join(parts)


def _conn_block(
    a: Analysis,
    c: Connection,
    counts: dict[tuple[int, int], Counter],
    viol: Counter,
    verdict: str,
) -> list[str]:
    hs = None
    for h in a.handshake_list:
        if h.conn_id == c.conn_id:
            hs = h  # the last one on the connection
    dur = (c.end - c.start) / 1e9
    out = [f"conn {c.conn_id}  {c.client.addr} → {c.server.addr}  ({_dur(dur)})  [{verdict}]"]
    if hs is not None and hs.method:
        uri = _clean(hs.uri, 100)
        host = f" host {_clean(hs.host, 60)}" if hs.host else ""
        out.append(f"  request    {_clean(hs.method, 10)} {uri}{host}")
    status = c.handshake or "-"
    if hs is not None and hs.status is not None:
        reason = _clean(hs.reason or "", 40)
        status += f" ({hs.status} {reason})" if reason else f" ({hs.status})"
        if hs.latency_s is not None:
            status += f" in {_dur(hs.latency_s)}"
    if c.accept_valid is False and hs is not None:
        status += f"; Sec-WebSocket-Accept {_clean(hs.accept, 60)!s} should be {hs.accept_expected}"
    if c.handshake == "rejected" and hs is not None and hs.body_snippet:
        snippet = _clean(hs.body_snippet.decode("utf-8", "replace"), 80)
        status += f"; body: {snippet}"
    out.append(f"  handshake  {status}")
    if c.subprotocol or c.extensions:
        out.append(
            f"  negotiated subprotocol {_clean(c.subprotocol or '-', 60)}, "
            f"extensions {_clean(c.extensions or '-', 80)}"
        )
    for bit, side in enumerate((c.client, c.server)):
        name = DIRECTIONS[bit]
        cnt = counts.get((c.conn_id, bit))
        if cnt:
            detail = ", ".join(f"{n} {OPCODE_NAMES[op]}" for op, n in sorted(cnt.items()))
        else:
            detail = "no per-frame table" if not a.store.keep_frames else ""
        out.append(
            f"  {name:<7}    {side.frames} frames, {side.messages} messages"
            + (f" ({detail})" if detail and side.frames else "")
        )
    close = []
    for name, side in (("client", c.client), ("server", c.server)):
        if side.close_ts is not None:
            code = side.close_code if side.close_code is not None else "no code"
            reason = f" '{_clean(side.close_reason, 60)}'" if side.close_reason else ""
            close.append(f"{name} sent close {code}{reason}")
    if not close and c.upgraded:
        close.append("no close frame")
    end = c.tcp_end
    tcp = {"open": "TCP still open at end of capture"}.get(end, f"TCP ended by {end}")
    if end != "open" and c.last_frame_ts is not None and c.tcp_end_ts is not None:
        after = (c.tcp_end_ts - c.last_frame_ts) / 1e9
        if after >= 0:
            tcp += f" {_dur(after)} after the last frame"
    out.append(f"  close      {'; '.join(close + [tcp])}")
    act = c.activity
    idle = (
        f"  idle       longest silence {_dur(act['tcp'].longest / 1e9)} (no packet), "
        f"{_dur(act['payload'].longest / 1e9)} (no data)"
    )
    if c.upgraded:
        idle += f", {_dur(act['data'].longest / 1e9)} (no data frame)"
    out.append(idle)
    hb = [h for h in a.store.heartbeats if h.conn_id == c.conn_id]
    if hb or c.upgraded:
        out.append("  heartbeat  " + _heartbeat_line(hb, c))
    if c.client.gaps or c.server.gaps:
        out.append(
            f"  gaps       {c.client.gaps + c.server.gaps} capture gaps, "
            f"{c.client.gap_bytes + c.server.gap_bytes} bytes missing"
        )
    codes = sorted((code, n) for (cid, code), n in viol.items() if cid == c.conn_id)
    if codes:
        out.append("  violations " + ", ".join(f"{code} ×{n}" for code, n in codes))
    return out
