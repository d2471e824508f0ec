"""The result of an analysis: the model, and its DataFrame and JSON views.

Every output (text, JSON, DataFrames) renders this object; none of them
re-reads the capture.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .frames import OPCODE_NAMES
from .model import (
    DIRECTIONS,
    HANDSHAKE_STATES,
    SCHEMA_VERSION,
    TCP_END_STATES,
    CaptureInfo,
    Connection,
    Handshake,
    Heartbeat,
)

if TYPE_CHECKING:
    import pandas as pd

    from .diagnose import Finding
    from .profiles import Timeout
    from .ws import Store


_iso_seconds: dict[int, str] = {}


def _iso(ts: int | None) -> str | None:
    """ISO 8601 UTC with nanoseconds: ``2024-01-12T17:15:32.663081000Z``."""
    if ts is None:
        return None
    sec, ns = divmod(ts, 1_000_000_000)
    prefix = _iso_seconds.get(sec)
    if prefix is None:
        if len(_iso_seconds) > 4096:
            _iso_seconds.clear()
        d = _dt.datetime.fromtimestamp(sec, _dt.timezone.utc)
        prefix = _iso_seconds[sec] = d.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{prefix}{ns:09d}Z"


class Analysis:
    """Connections, handshakes, frames and messages found in one capture.

    The ``connections``, ``handshakes``, ``frames``, ``messages``, ``gaps``
    and ``violations`` properties are pandas DataFrames, built on first use.
    The records behind them are in ``connection_list``, ``handshake_list``
    and ``store``.
    """

    def __init__(
        self,
        capture: CaptureInfo,
        connections: list[Connection],
        handshakes: list[Handshake],
        store: Store,
    ) -> None:
        self.capture = capture
        self.connection_list = connections
        self.handshake_list = handshakes
        self.store = store
        self.timeouts: list[Timeout] = []  # configured for the path (diagnosis)
        self._cache: dict[str, pd.DataFrame] = {}
        self._findings: list[Finding] | None = None
        # findings about the configuration given (e.g. --ingress manifests)
        self.config_findings: list[Finding] = []

    def __repr__(self) -> str:
        ws = sum(1 for c in self.connection_list if c.upgraded)
        return (
            f"<Analysis {self.capture.path!r}: {self.capture.packets} packets, "
            f"{len(self.connection_list)} TCP connections, {ws} WebSocket, "
            f"{len(self.store.frames)} frames>"
        )

    @property
    def websockets(self) -> list[Connection]:
        """Connections that carried (or tried to carry) a WebSocket."""
        return [c for c in self.connection_list if c.websocket]

    # -- DataFrames ---------------------------------------------------------

    def _df(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            from . import tables

            self._cache[name] = getattr(tables, name)(self)
        return self._cache[name]

    @property
    def connections(self) -> pd.DataFrame:
        return self._df("connections")

    @property
    def handshakes(self) -> pd.DataFrame:
        return self._df("handshakes")

    @property
    def frames(self) -> pd.DataFrame:
        return self._df("frames")

    @property
    def messages(self) -> pd.DataFrame:
        return self._df("messages")

    @property
    def gaps(self) -> pd.DataFrame:
        return self._df("gaps")

    @property
    def violations(self) -> pd.DataFrame:
        return self._df("violations")

    @property
    def heartbeats(self) -> pd.DataFrame:
        return self._df("heartbeats")

    # -- diagnosis ----------------------------------------------------------

    def diagnose(self, timeouts: list[Timeout] | None = None) -> list[Finding]:
        """Findings, most serious first (see :mod:`wscap.diagnose`).

        ``timeouts`` replaces the configured timeouts (``load(timeouts=...)``).
        """
        from .diagnose import diagnose

        if timeouts is not None:
            self.timeouts = list(timeouts)
            self._findings = None
            self._cache.pop("findings", None)
        if self._findings is None:
            self._findings = diagnose(self, self.timeouts, self.config_findings)
        return self._findings

    @property
    def finding_list(self) -> list[Finding]:
        return self.diagnose()

    @property
    def findings(self) -> pd.DataFrame:
        return self._df("findings")

    # -- plain data (JSON) --------------------------------------------------

    def capture_dict(self) -> dict[str, Any]:
        c = self.capture
        dur = None
        if c.first_ts is not None and c.last_ts is not None:
            dur = (c.last_ts - c.first_ts) / 1e9
        return {
            "path": c.path,
            "format": c.format,
            "link_types": c.link_types,
            "packets": c.packets,
            "bytes": c.bytes,
            "start": _iso(c.first_ts),
            "end": _iso(c.last_ts),
            "duration_s": dur,
            "tcp_packets": c.tcp_packets,
            "skipped_packets": sum(c.skipped.values()),
            "skipped": dict(sorted(c.skipped.items(), key=lambda kv: (-kv[1], kv[0]))),
            "truncated_packets": c.truncated_packets,
            "truncated_bytes": c.truncated_bytes,
            "timestamps_out_of_order": c.timestamps_out_of_order,
            "capture_gaps": len(self.store.gaps),
            "capture_gap_bytes": sum(g.length for g in self.store.gaps),
            "capped_messages": self.store.capped_messages,
            "capped_compressed_bytes": self.store.capped_bytes,
            "damage": c.damage,
            "frames_kept": self.store.keep_frames,
            "messages_kept": self.store.keep_messages,
        }

    def iter_frame_dicts(self) -> Iterator[dict[str, Any]]:
        """Frames one at a time (a JSON writer need not hold them all)."""
        f = self.store.frames
        codes = f.codes
        for i in range(len(f)):
            fl = f.flags[i]
            cc = f.close_code[i]
            yield (
                {
                    "conn_id": f.conn_id[i],
                    "ts": _iso(f.ts[i]),
                    "direction": DIRECTIONS[fl & 1],
                    "opcode": OPCODE_NAMES[f.opcode[i]],
                    "fin": bool(fl & 2),
                    "rsv1": bool(fl & 16),
                    "rsv": (fl >> 2) & 7,
                    "masked": bool(fl & 32),
                    "payload_len": f.payload_len[i],
                    "close_code": cc if cc >= 0 else None,
                    "violation": codes[f.violation[i]],
                    "complete": not fl & 64,
                }
            )

    def iter_message_dicts(self) -> Iterator[dict[str, Any]]:
        """Messages one at a time."""
        m = self.store.messages
        for i in range(len(m)):
            fl = m.flags[i]
            pb = m.payload_bytes[i]
            yield (
                {
                    "conn_id": m.conn_id[i],
                    "ts_first": _iso(m.ts_first[i]),
                    "ts_last": _iso(m.ts_last[i]),
                    "direction": DIRECTIONS[fl & 1],
                    "type": "binary" if fl & 2 else "text",
                    "fragments": m.fragments[i],
                    "wire_bytes": m.wire_bytes[i],
                    "payload_bytes": pb if pb >= 0 else None,
                    "compressed": bool(fl & 4),
                    "utf8_valid": None if (fl & 2 or fl & 16) else bool(fl & 8),
                    "complete": not fl & 64,
                }
            )

    def to_dict(self, frames: bool = True) -> dict[str, Any]:
        """The whole model as JSON-ready data (``--json``)."""
        return {k: v if isinstance(v, dict | int) else list(v) for k, v in self.sections(frames)}

    def sections(self, frames: bool = True) -> list[tuple[str, Any]]:
        """The JSON document's top-level keys in order; the lists that grow
        with the capture as iterators, so a writer can stream them."""
        d: list[tuple[str, Any]] = [
            ("schema_version", SCHEMA_VERSION),
            ("capture", self.capture_dict()),
            ("timeouts", [timeout_dict(t) for t in self.timeouts]),
            ("findings", [finding_dict(f) for f in self.diagnose()]),
            ("connections", (connection_dict(c) for c in self.connection_list)),
            ("handshakes", (handshake_dict(h) for h in self.handshake_list)),
        ]
        if frames and self.store.keep_frames:
            d.append(("frames", self.iter_frame_dicts()))
        if self.store.keep_messages:
            d.append(("messages", self.iter_message_dicts()))
        gaps = [
            {
                "conn_id": g.conn_id,
                "direction": g.direction,
                "offset": g.offset,
                "length": g.length,
                "ts": _iso(g.ts),
            }
            for g in self.store.gaps
        ]
        d.append(("gaps", gaps))
        d.append(("heartbeats", (heartbeat_dict(h) for h in self.store.heartbeats)))
        d.append(
            (
                "violations",
                [
                    {
                        "conn_id": v.conn_id,
                        "ts": _iso(v.ts),
                        "direction": v.direction,
                        "code": v.code,
                    }
                    for v in self.store.violations
                ],
            )
        )
        return d


def connection_dict(c: Connection) -> dict[str, Any]:
    return {
        "conn_id": c.conn_id,
        "client": c.client.addr,
        "server": c.server.addr,
        "start": _iso(c.start),
        "end": _iso(c.end),
        "duration_s": (c.end - c.start) / 1e9,
        "websocket": c.websocket,
        "upgraded": c.upgraded,
        "handshake": c.handshake,
        "http_status": c.http_status,
        "accept_valid": c.accept_valid,
        "subprotocol": c.subprotocol,
        "extensions": c.extensions,
        "compressed": c.compressed,
        "frames_client": c.client.frames,
        "frames_server": c.server.frames,
        "messages_client": c.client.messages,
        "messages_server": c.server.messages,
        "compressed_messages_client": c.client.compressed_messages,
        "compressed_messages_server": c.server.compressed_messages,
        "payload_bytes_client": c.client.payload_bytes,
        "payload_bytes_server": c.server.payload_bytes,
        "bytes_client": c.client.bytes,
        "bytes_server": c.server.bytes,
        "packets_client": c.client.packets,
        "packets_server": c.server.packets,
        "close_code_client": c.client.close_code,
        "close_code_server": c.server.close_code,
        "close_reason_client": c.client.close_reason,
        "close_reason_server": c.server.close_reason,
        "close_ts_client": _iso(c.client.close_ts),
        "close_ts_server": _iso(c.server.close_ts),
        "first_close": c.first_close,
        "tcp_end": c.tcp_end,
        "tcp_end_ts": _iso(c.tcp_end_ts),
        "last_frame_ts": _iso(c.last_frame_ts),
        "syn_client": _iso(c.client.syn_ts),
        "fin_client": _iso(c.client.fin_ts),
        "fin_server": _iso(c.server.fin_ts),
        "rst_client": _iso(c.client.rst_ts),
        "rst_server": _iso(c.server.rst_ts),
        "capture_gaps": c.client.gaps + c.server.gaps,
        "capture_gap_bytes": c.client.gap_bytes + c.server.gap_bytes,
        "unparsed_bytes": c.client.unparsed_bytes + c.server.unparsed_bytes,
        "duplicate_bytes": c.client.dup_bytes + c.server.dup_bytes,
        "max_idle_s": c.max_idle_ns / 1e9,
        **_silences(c),
        "keepalives_client": c.client.keepalives,
        "keepalives_server": c.server.keepalives,
        "pings_client": c.client.pings,
        "pings_server": c.server.pings,
        "pongs_client": c.client.pongs,
        "pongs_server": c.server.pongs,
        "roles_from": c.roles_from,
        "http_requests": c.http_requests,
    }


def _silences(c: Connection) -> dict[str, Any]:
    """Longest silences (seconds) by kind of activity, both directions and
    per direction, and the silence before the first FIN/RST."""
    out: dict[str, Any] = {}
    for kind, s in c.activity.items():
        out[f"idle_{kind}_s"] = s.longest / 1e9
    for name, side in (("client", c.client), ("server", c.server)):
        for kind, s in side.activity.items():
            out[f"idle_{kind}_{name}_s"] = s.longest / 1e9
    at = c.end_last.get("at")
    for kind in ("payload", "frame", "data"):
        last = c.end_last.get(kind)
        out[f"silence_before_end_{kind}_s"] = (
            (at - last) / 1e9 if at is not None and last is not None else None
        )
    return out


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity,
        "conn_id": f.conn_id,
        "conn_ids": f.conn_ids,
        "ts": _iso(f.ts),
        "summary": f.summary,
        "evidence": {k: _plain(v) for k, v in f.evidence.items()},
        "advice": f.advice,
    }


def timeout_dict(t: Timeout) -> dict[str, Any]:
    return {
        "name": t.name,
        "seconds": t.seconds,
        "kind": t.kind,
        "product": t.product,
        "setting": t.setting,
        "origin": t.origin,
        "source": t.source,
    }


def _plain(v: Any) -> Any:
    """Evidence values as JSON-ready data (timestamps as ISO strings)."""
    if isinstance(v, int) and not isinstance(v, bool) and v > 10**17:
        return _iso(v)
    return v


def heartbeat_dict(h: Heartbeat) -> dict[str, Any]:
    return {
        "conn_id": h.conn_id,
        "direction": h.direction,
        "kind": h.kind,
        "ts": _iso(h.ts),
        "ts_answer": _iso(h.ts_answer),
        "rtt_s": h.rtt_s,
    }


def handshake_dict(h: Handshake) -> dict[str, Any]:
    return {
        "conn_id": h.conn_id,
        "ts_request": _iso(h.ts_request) if h.method else None,
        "ts_response": _iso(h.ts_response),
        "latency_s": h.latency_s,
        "outcome": h.outcome,
        "method": h.method or None,
        "uri": h.uri or None,
        "http_version": h.http_version or None,
        "host": h.host,
        "origin": h.origin,
        "user_agent": h.user_agent,
        "upgrade": h.upgrade,
        "connection": h.connection,
        "key": h.key,
        "version": h.version,
        "protocols_offered": h.protocols_offered,
        "extensions_offered": h.extensions_offered,
        "status": h.status,
        "reason": h.reason,
        "response_upgrade": h.response_upgrade,
        "response_connection": h.response_connection,
        "accept": h.accept,
        "accept_expected": h.accept_expected,
        "accept_valid": h.accept_valid,
        "subprotocol": h.subprotocol,
        "extensions": h.extensions,
        "compressed": h.compressed,
        "deflate": h.deflate,
        "body_snippet": h.body_snippet.decode("utf-8", "replace") if h.body_snippet else None,
        "body_len": h.body_len,
        "request_headers": [list(kv) for kv in h.request_headers],
        "response_headers": [list(kv) for kv in h.response_headers],
    }


__all__ = ["Analysis", "HANDSHAKE_STATES", "TCP_END_STATES"]
