"""Ground truth as the peers record it (never derived from a capture).

A :class:`ConnLog` is kept by each endpoint the lab controls: the TCP events it
saw (what it sent: FIN/RST; what it received: FIN/RST), the handshake as it saw
it, and every WebSocket frame it sent or received, both as it went on the wire
(after compression) and as the application saw it (before compression).

:func:`build_truth` merges the logs of both ends of each TCP connection into
the JSON document described in ``tests/lab/README.md``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "wscap-lab-truth/1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def opcode_name(op: int) -> str:
    return OPCODES.get(op, f"reserved-{op}")


def expected_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def close_code_of(opcode: str, data: bytes) -> int | None:
    if opcode != "close" or len(data) < 2:
        return None
    return int(struct.unpack("!H", data[:2])[0])


@dataclass
class FrameRec:
    """One frame as an endpoint saw it."""

    t: float
    direction: str  # 'client' or 'server': who SENT the frame
    opcode: str
    fin: bool
    rsv1: bool  # on the wire
    masked: bool  # on the wire
    payload_len: int  # on the wire (compressed, if compressed)
    plain_len: int  # as the application sent/received it
    close_code: int | None = None
    close_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 6),
            "opcode": self.opcode,
            "fin": self.fin,
            "rsv1": self.rsv1,
            "masked": self.masked,
            "payload_len": self.payload_len,
            "plain_len": self.plain_len,
            "close_code": self.close_code,
            "close_reason": self.close_reason,
        }


@dataclass
class ConnLog:
    """What one endpoint (``side`` = 'client' or 'server') saw of one TCP connection."""

    side: str
    peer_kind: str  # 'websockets', 'raw', ...
    local: str = ""  # ip:port of this endpoint
    remote: str = ""
    connected_at: float | None = None
    # TCP events as this endpoint saw them
    sent_end: str | None = None  # 'fin' or 'rst'
    sent_end_at: float | None = None
    received_end: str | None = None  # 'fin' or 'rst'
    received_end_at: float | None = None
    # handshake as this endpoint saw it
    handshake: dict[str, Any] = field(default_factory=dict)
    deflate: dict[str, Any] | None = None
    frames_sent: list[FrameRec] = field(default_factory=list)
    frames_received: list[FrameRec] = field(default_factory=list)
    close_sent: int | None = None
    close_received: int | None = None
    close_observed: int | None = None  # code the application saw (1006 if none)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    finished: bool = False  # websockets: connection_lost seen

    # -- recording helpers -------------------------------------------------
    def mark_sent_end(self, kind: str) -> None:
        if self.sent_end is None:
            self.sent_end, self.sent_end_at = kind, time.time()

    def mark_received_end(self, kind: str) -> None:
        if self.received_end is None:
            self.received_end, self.received_end_at = kind, time.time()

    def frame(self, sent: bool, rec: FrameRec) -> None:
        (self.frames_sent if sent else self.frames_received).append(rec)
        if rec.opcode == "close":
            if sent and self.close_sent is None:
                self.close_sent = rec.close_code if rec.close_code is not None else 1005
            if not sent and self.close_received is None:
                self.close_received = rec.close_code if rec.close_code is not None else 1005


def fmt_addr(addr: tuple[Any, ...]) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _other(side: str) -> str:
    return "server" if side == "client" else "client"


def _messages(frames: list[FrameRec]) -> list[dict[str, Any]]:
    """Assemble data frames into messages (control frames may interleave)."""
    out: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for f in frames:
        if f.opcode in ("text", "binary"):
            cur = {
                "type": f.opcode,
                "t_first": round(f.t, 6),
                "t_last": round(f.t, 6),
                "fragments": 1,
                "wire_bytes": f.payload_len,
                "payload_bytes": f.plain_len,
                "compressed": f.rsv1,
            }
        elif f.opcode == "continuation" and cur is not None:
            cur["fragments"] += 1
            cur["wire_bytes"] += f.payload_len
            cur["payload_bytes"] += f.plain_len
            cur["t_last"] = round(f.t, 6)
        else:
            continue
        if f.fin and cur is not None:
            out.append(cur)
            cur = None
    return out


def _pings(frames_by_dir: dict[str, list[FrameRec]]) -> dict[str, list[dict[str, Any]]]:
    """Pings each side sent, with the time the matching pong was sent back."""
    out: dict[str, list[dict[str, Any]]] = {}
    for d in ("client", "server"):
        pongs = [f for f in frames_by_dir[_other(d)] if f.opcode == "pong"]
        res = []
        for p in (f for f in frames_by_dir[d] if f.opcode == "ping"):
            pong = next((q for q in pongs if q.t >= p.t - 0.001), None)
            if pong is not None:
                pongs.remove(pong)
            res.append(
                {
                    "t": round(p.t, 6),
                    "payload_len": p.payload_len,
                    "pong_t": round(pong.t, 6) if pong else None,
                    "rtt_s": round(pong.t - p.t, 6) if pong else None,
                }
            )
        out[d] = res
    return out


def _gaps(frames: list[FrameRec]) -> dict[str, Any]:
    """Largest silence between consecutive frames (either direction)."""
    ts = sorted(f.t for f in frames)
    best = 0.0
    at = None
    for a, b in zip(ts, ts[1:], strict=False):
        if b - a > best:
            best, at = b - a, a
    return {"longest_frame_gap_s": round(best, 6), "after_t": None if at is None else round(at, 6)}


def connection_truth(
    cid: str, role: str, client: ConnLog | None, server: ConnLog | None
) -> dict[str, Any]:
    """Merge the two endpoint logs of one TCP connection (either may be None)."""
    ends = {"client": client, "server": server}
    known = [x for x in (client, server) if x is not None]
    if not known:
        raise ValueError("a connection needs at least one observed end")
    c_addr = client.local if client else server.remote  # type: ignore[union-attr]
    s_addr = client.remote if client else server.local  # type: ignore[union-attr]

    # frames per direction: the sender's own record if we control the sender,
    # else what the receiver saw.
    frames: dict[str, list[FrameRec]] = {}
    source: dict[str, str] = {}
    for d in ("client", "server"):
        sender, receiver = ends[d], ends[_other(d)]
        if sender is not None:
            frames[d], source[d] = sender.frames_sent, f"{d} (sender)"
        else:
            frames[d], source[d] = receiver.frames_received, f"{_other(d)} (receiver)"  # type: ignore[union-attr]

    # TCP end: the first FIN/RST, from the events both ends recorded.
    events: list[tuple[float, str, str]] = []  # (t, side that sent, kind)
    for side, log in ends.items():
        if log is None:
            continue
        if log.sent_end:
            events.append((log.sent_end_at or 0.0, side, log.sent_end))
        if log.received_end:
            events.append((log.received_end_at or 0.0, _other(side), log.received_end))
    events.sort()
    first = events[0] if events else None

    # close frames
    close_sent = {
        d: next(
            (
                f.close_code if f.close_code is not None else 1005
                for f in frames[d]
                if f.opcode == "close"
            ),
            None,
        )
        for d in ("client", "server")
    }
    first_close_t = {
        d: next((f.t for f in frames[d] if f.opcode == "close"), None) for d in ("client", "server")
    }
    fc = [d for d in ("client", "server") if first_close_t[d] is not None]
    first_close = min(fc, key=lambda d: first_close_t[d]) if fc else None  # type: ignore[arg-type,return-value]

    hs = client.handshake if client and client.handshake else server.handshake if server else {}
    if client and server and server.handshake:
        hs = {**server.handshake, **client.handshake}
    deflate = (
        client.deflate
        if client and client.deflate is not None
        else server.deflate
        if server
        else None
    )

    all_frames = frames["client"] + frames["server"]
    per_dir = {}
    for d in ("client", "server"):
        fl = frames[d]
        counts: dict[str, int] = {}
        for f in fl:
            counts[f.opcode] = counts.get(f.opcode, 0) + 1
        per_dir[d] = {
            "source": source[d],
            "frame_counts": counts,
            "frames": [f.as_json() for f in fl],
            "messages": _messages(fl),
        }
    return {
        "id": cid,
        "role": role,
        "client": c_addr,
        "server": s_addr,
        "observed_by": [s for s, lg in ends.items() if lg is not None],
        "peer_kinds": {s: lg.peer_kind for s, lg in ends.items() if lg is not None},
        "connected_at": min((lg.connected_at for lg in known if lg.connected_at), default=None),
        "tcp": {
            "first_end": None
            if first is None
            else {"side": first[1], "kind": first[2], "t": round(first[0], 6)},
            "tcp_end": "open" if first is None else f"{first[2]}-{first[1]}",
            "ends": {
                s: None
                if lg is None
                else {
                    "sent": lg.sent_end,
                    "sent_t": lg.sent_end_at,
                    "received": lg.received_end,
                    "received_t": lg.received_end_at,
                }
                for s, lg in ends.items()
            },
        },
        "websocket": bool(hs.get("upgrade_requested")),
        "handshake": hs or None,
        "deflate": deflate,
        "directions": per_dir,
        "close": {
            "client_sent": close_sent["client"],
            "server_sent": close_sent["server"],
            "client_observed": client.close_observed if client else None,
            "server_observed": server.close_observed if server else None,
            "first_close": first_close,
        },
        "pings": _pings(frames),
        "idle": _gaps(all_frames),
        "errors": {s: lg.error for s, lg in ends.items() if lg is not None and lg.error},
        "notes": [n for lg in known for n in lg.notes],
    }


def build_truth(
    scenario: str,
    description: str,
    capture: dict[str, Any],
    conns: list[dict[str, Any]],
    proxy: dict[str, Any] | None,
    planned: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc = {
        "schema": SCHEMA,
        "scenario": scenario,
        "description": description,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "capture": capture,
        "proxy": proxy,
        "planned": planned,
        "connections": conns,
    }
    if extra:
        doc.update(extra)
    return doc


def dumps_truth(doc: dict[str, Any]) -> str:
    """JSON with one line per frame, message and ping (files stay small and diffable)."""
    raw: list[str] = []

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if k in ("frames", "messages", "client", "server") and isinstance(v, list):
                    out[k] = []
                    for item in v:
                        raw.append(json.dumps(item, separators=(",", ":")))
                        out[k].append(f"@@RAW{len(raw) - 1}@@")
                elif isinstance(v, (dict, list)) and len(small := json.dumps(v)) <= 120:
                    raw.append(small)
                    out[k] = f"@@RAW{len(raw) - 1}@@"
                else:
                    out[k] = walk(v)
            return out
        if isinstance(x, list):
            return [walk(i) for i in x]
        return x

    text = json.dumps(walk(doc), indent=1)
    return re.sub(r'"@@RAW(\d+)@@"', lambda m: raw[int(m.group(1))], text) + "\n"
