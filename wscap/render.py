"""Text and JSON renderings of an :class:`~wscap.analysis.Analysis`."""

from __future__ import annotations

import json
from collections import Counter
from typing import IO, TYPE_CHECKING

from .frames import OPCODE_NAMES
from .model import DIRECTIONS

if TYPE_CHECKING:
    from .analysis import Analysis
    from .model import Connection


def write_json(a: Analysis, out: IO[str], frames: bool = True) -> None:
    """The model as one JSON document (``--json``)."""
    # ensure_ascii: no raw control characters (C1 included) reach a terminal
    json.dump(a.to_dict(frames=frames), out, ensure_ascii=True, separators=(",", ":"))
    out.write("\n")


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


def render_text(a: Analysis) -> str:
    """Human summary: the capture, then one block per WebSocket connection."""
    cap = a.capture
    lines: list[str] = []
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
        lines.extend(_conn_block(a, c, counts, viol))
    others = len(a.connection_list) - len(ws)
    if others:
        lines.append("")
        lines.append(f"{others} other TCP connections without WebSocket")
    return "\n".join(lines) + "\n"


def _conn_block(
    a: Analysis, c: Connection, counts: dict[tuple[int, int], Counter], viol: Counter
) -> list[str]:
    hs = None
    for h in a.handshake_list:
        if h.conn_id == c.conn_id:
            hs = h  # the last one on the connection
    dur = (c.end - c.start) / 1e9
    out = [f"conn {c.conn_id}  {c.client.addr} → {c.server.addr}  ({_dur(dur)})"]
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
    out.append(f"  idle       longest silence {_dur(c.max_idle_ns / 1e9)}")
    if c.client.gaps or c.server.gaps:
        out.append(
            f"  gaps       {c.client.gaps + c.server.gaps} capture gaps, "
            f"{c.client.gap_bytes + c.server.gap_bytes} bytes missing"
        )
    codes = sorted((code, n) for (cid, code), n in viol.items() if cid == c.conn_id)
    if codes:
        out.append("  violations " + ", ".join(f"{code} ×{n}" for code, n in codes))
    return out
