"""pandas DataFrames built from the model (the notebook API).

Timestamps are ``datetime64[ns, UTC]``; enumerations are categoricals;
integers and booleans that may be missing use pandas' nullable dtypes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .analysis import connection_dict, finding_dict, handshake_dict, heartbeat_dict
from .frames import OPCODE_NAMES
from .model import DIRECTIONS, HANDSHAKE_STATES, TCP_END_STATES

if TYPE_CHECKING:
    from .analysis import Analysis

_OPCODES = [OPCODE_NAMES[i] for i in range(16)]


def _ts(values: object) -> pd.Series | pd.DatetimeIndex:
    arr = np.asarray(values, dtype="int64")
    return pd.to_datetime(arr, unit="ns", utc=True)


def _cat(values: list, categories: list | tuple) -> pd.Categorical:
    return pd.Categorical(values, categories=list(categories))


def connections(a: Analysis) -> pd.DataFrame:
    rows = a.connection_list
    recs = [connection_dict(c) for c in rows]
    if not recs:
        return _empty_connections()
    df = pd.DataFrame(recs)
    df["start"] = _ts([c.start for c in rows])
    df["end"] = _ts([c.end for c in rows])
    for k, attr in (("close_ts_client", "client"), ("close_ts_server", "server")):
        df[k] = _opt_times([getattr(c, attr).close_ts for c in rows])
    for k, side, field in (
        ("syn_client", "client", "syn_ts"),
        ("fin_client", "client", "fin_ts"),
        ("fin_server", "server", "fin_ts"),
        ("rst_client", "client", "rst_ts"),
        ("rst_server", "server", "rst_ts"),
    ):
        df[k] = _opt_times([getattr(getattr(c, side), field) for c in rows])
    df["tcp_end_ts"] = _opt_times([c.tcp_end_ts for c in rows])
    df["last_frame_ts"] = _opt_times([c.last_frame_ts for c in rows])
    df["handshake"] = _cat(df["handshake"].tolist(), HANDSHAKE_STATES)
    df["tcp_end"] = _cat(df["tcp_end"].tolist(), TCP_END_STATES)
    df["first_close"] = _cat(df["first_close"].tolist(), DIRECTIONS)
    for k in ("http_status", "close_code_client", "close_code_server"):
        df[k] = pd.array(df[k].tolist(), dtype="Int64")
    df["accept_valid"] = pd.array(df["accept_valid"].tolist(), dtype="boolean")
    for k in ("subprotocol", "extensions", "close_reason_client", "close_reason_server"):
        df[k] = pd.array(df[k].tolist(), dtype="string")
    return df


def _opt_times(values: list[int | None]) -> pd.Series:
    s = pd.Series(pd.array(values, dtype="Int64"))
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    mask = s.notna()
    if mask.any():
        out[mask] = pd.to_datetime(s[mask].astype("int64").to_numpy(), unit="ns", utc=True)
    return out


def _empty_connections() -> pd.DataFrame:
    from .model import Connection, Side

    proto = connection_dict(Connection(0, Side(), Side(), 0, 0, ""))
    df = pd.DataFrame({k: pd.Series([], dtype=object) for k in proto})
    df["start"] = pd.Series([], dtype="datetime64[ns, UTC]")
    df["end"] = pd.Series([], dtype="datetime64[ns, UTC]")
    df["handshake"] = _cat([], HANDSHAKE_STATES)
    df["tcp_end"] = _cat([], TCP_END_STATES)
    df["first_close"] = _cat([], DIRECTIONS)
    return df


def handshakes(a: Analysis) -> pd.DataFrame:
    hs = a.handshake_list
    recs = [handshake_dict(h) for h in hs]
    if not recs:
        from .model import Handshake

        proto = handshake_dict(
            Handshake(0, 0, "", "", "", None, None, None, None, None, None, None, None, None, [])
        )
        df = pd.DataFrame({k: pd.Series([], dtype=object) for k in proto})
        df["outcome"] = _cat([], HANDSHAKE_STATES)
        return df
    df = pd.DataFrame(recs)
    df["ts_request"] = _opt_times([h.ts_request if h.method else None for h in hs])
    df["ts_response"] = _opt_times([h.ts_response for h in hs])
    df["outcome"] = _cat(df["outcome"].tolist(), HANDSHAKE_STATES)
    df["status"] = pd.array(df["status"].tolist(), dtype="Int64")
    df["accept_valid"] = pd.array(df["accept_valid"].tolist(), dtype="boolean")
    df["latency_s"] = pd.array(df["latency_s"].tolist(), dtype="Float64")
    return df


def frames(a: Analysis) -> pd.DataFrame:
    f = a.store.frames
    flags = np.frombuffer(f.flags, dtype=np.uint8) if len(f) else np.zeros(0, np.uint8)
    opcode = np.frombuffer(f.opcode, dtype=np.uint8) if len(f) else np.zeros(0, np.uint8)
    close = np.asarray(f.close_code, dtype="int64")
    viol = np.asarray(f.violation, dtype="int64")
    codes = [c for c in f.codes[1:]]
    df = pd.DataFrame(
        {
            "conn_id": np.asarray(f.conn_id, dtype="int64"),
            "ts": _ts(f.ts),
            "ts_end": _ts(f.ts_end),
            "direction": pd.Categorical.from_codes((flags & 1).astype("int8"), list(DIRECTIONS)),
            "opcode": pd.Categorical.from_codes(opcode.astype("int8"), _OPCODES),
            "fin": (flags & 2).astype(bool),
            "rsv1": (flags & 16).astype(bool),
            "rsv": ((flags >> 2) & 7).astype("int8"),
            "masked": (flags & 32).astype(bool),
            "payload_len": np.asarray(f.payload_len, dtype="uint64"),
            "close_code": pd.array(np.where(close >= 0, close, 0), dtype="Int64"),
            "violation": pd.Categorical.from_codes((viol - 1).astype("int16"), codes)
            if codes
            else pd.Categorical([None] * len(f), categories=[]),
            "complete": ~(flags & 64).astype(bool),
        }
    )
    df.loc[close < 0, "close_code"] = pd.NA
    # the six defined opcodes always, reserved ones only when present
    used = set(df["opcode"].cat.remove_unused_categories().cat.categories)
    df["opcode"] = df["opcode"].cat.set_categories(
        [c for c in _OPCODES if c in used or not c.startswith("reserved")]
    )
    return df


def messages(a: Analysis) -> pd.DataFrame:
    m = a.store.messages
    flags = np.frombuffer(m.flags, dtype=np.uint8) if len(m) else np.zeros(0, np.uint8)
    pb = np.asarray(m.payload_bytes, dtype="int64")
    binary = (flags & 2).astype(bool)
    unknown = (flags & 16).astype(bool) | binary
    utf8 = pd.array((flags & 8).astype(bool), dtype="boolean")
    utf8[unknown] = pd.NA
    payload = pd.array(pb, dtype="Int64")
    payload[pb < 0] = pd.NA
    return pd.DataFrame(
        {
            "conn_id": np.asarray(m.conn_id, dtype="int64"),
            "ts_first": _ts(m.ts_first),
            "ts_last": _ts(m.ts_last),
            "direction": pd.Categorical.from_codes((flags & 1).astype("int8"), list(DIRECTIONS)),
            "type": pd.Categorical.from_codes(binary.astype("int8"), ["text", "binary"]),
            "fragments": np.asarray(m.fragments, dtype="int64"),
            "wire_bytes": np.asarray(m.wire_bytes, dtype="int64"),
            "payload_bytes": payload,
            "compressed": (flags & 4).astype(bool),
            "utf8_valid": utf8,
            "complete": ~(flags & 64).astype(bool),
        }
    )


def gaps(a: Analysis) -> pd.DataFrame:
    g = a.store.gaps
    return pd.DataFrame(
        {
            "conn_id": np.asarray([x.conn_id for x in g], dtype="int64"),
            "direction": _cat([x.direction for x in g], DIRECTIONS),
            "offset": np.asarray([x.offset for x in g], dtype="int64"),
            "length": np.asarray([x.length for x in g], dtype="int64"),
            "ts": _ts([x.ts for x in g]),
        }
    )


def violations(a: Analysis) -> pd.DataFrame:
    v = a.store.violations
    return pd.DataFrame(
        {
            "conn_id": np.asarray([x.conn_id for x in v], dtype="int64"),
            "ts": _ts([x.ts for x in v]),
            "direction": _cat([x.direction for x in v], DIRECTIONS),
            "code": pd.Categorical([x.code for x in v]),
        }
    )


def heartbeats(a: Analysis) -> pd.DataFrame:
    hb = a.store.heartbeats
    df = pd.DataFrame(
        [heartbeat_dict(h) for h in hb],
        columns=["conn_id", "direction", "kind", "ts", "ts_answer", "rtt_s"],
    )
    df["conn_id"] = df["conn_id"].astype("int64")
    df["direction"] = _cat(df["direction"].tolist(), DIRECTIONS)
    df["kind"] = pd.Categorical(df["kind"].tolist())
    df["ts"] = _ts([h.ts for h in hb])
    df["ts_answer"] = _opt_times([h.ts_answer for h in hb])
    df["rtt_s"] = pd.array(df["rtt_s"].tolist(), dtype="Float64")
    return df


def findings(a: Analysis) -> pd.DataFrame:
    fs = a.diagnose()
    from .diagnose import SEVERITIES

    df = pd.DataFrame(
        [finding_dict(f) for f in fs],
        columns=["code", "severity", "conn_id", "conn_ids", "ts", "summary", "evidence", "advice"],
    )
    df["severity"] = _cat(df["severity"].tolist(), SEVERITIES)
    df["conn_id"] = pd.array([f.conn_id for f in fs], dtype="Int64")
    df["ts"] = _opt_times([f.ts for f in fs])
    return df
