"""Did the scenario do what it says?  Checked on the truth alone (no wscap).

A capture is only a good test of wscap if the peers and proxies really
produced the situation: nginx's timer fired, HAProxy reset the backend, the
deflate context was kept, and so on.  Each check returns a list of problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Truth = dict[str, Any]


def _role(t: Truth, role: str) -> list[dict[str, Any]]:
    return [c for c in t["connections"] if c["role"] == role]


def _status(c: dict[str, Any]) -> Any:
    return (c.get("handshake") or {}).get("status")


def _data(c: dict[str, Any], d: str) -> list[dict[str, Any]]:
    return [f for f in c["directions"][d]["frames"] if f["opcode"] in ("text", "binary")]


def _silence_before_end(c: dict[str, Any]) -> float:
    frames = c["directions"]["client"]["frames"] + c["directions"]["server"]["frames"]
    last = max((f["t"] for f in frames), default=c["connected_at"])
    return float(c["tcp"]["first_end"]["t"] - last)


def _expect(errs: list[str], cond: bool, what: str) -> None:
    if not cond:
        errs.append(what)


def generic(t: Truth) -> list[str]:
    errs: list[str] = []
    _expect(errs, bool(t["connections"]), "no connection recorded")
    _expect(errs, (t["capture"]["packets_captured"] or 0) > 0, "no packet captured")
    _expect(errs, t["capture"]["packets_dropped"] == 0, "packets dropped")
    for c in t["connections"]:
        _expect(errs, c["tcp"]["tcp_end"] != "open", f"{c['id']} never ended")
    return errs


def nginx_healthy(t: Truth) -> list[str]:
    errs: list[str] = []
    for c in t["connections"]:
        _expect(errs, _status(c) == 101, f"{c['id']} not upgraded")
        _expect(errs, c["close"]["client_sent"] == 1000, f"{c['id']} client did not close 1000")
        pings = c["pings"]
        _expect(errs, len(pings["client"]) >= 5, f"{c['id']}: {len(pings['client'])} client pings")
        _expect(errs, len(pings["server"]) >= 3, f"{c['id']}: {len(pings['server'])} server pings")
        unanswered = [p for d in ("client", "server") for p in pings[d] if p["pong_t"] is None]
        _expect(errs, not unanswered, f"{c['id']}: unanswered pings {unanswered}")
        _expect(errs, len(c["directions"]["client"]["messages"]) == 6, f"{c['id']}: messages")
    return errs


def _proxy_timer(t: Truth, key: str) -> list[str]:
    errs: list[str] = []
    timeout = t["proxy"]["timeouts_s"][key]
    for c in t["connections"]:
        _expect(errs, _status(c) == 101, f"{c['id']} not upgraded")
        _expect(
            errs,
            c["close"]["client_sent"] is None and c["close"]["server_sent"] is None,
            f"{c['id']}: a close frame was sent",
        )
        s = _silence_before_end(c)
        _expect(errs, abs(s - timeout) < 0.1, f"{c['id']}: closed after {s:.3f}s, not {timeout}s")
    side = {"client-proxy": "server", "proxy-backend": "client"}
    for c in t["connections"]:
        _expect(
            errs,
            c["tcp"]["first_end"]["side"] == side[c["role"]],
            f"{c['id']}: the proxy did not close first",
        )
    return errs


def nginx_read_timeout(t: Truth) -> list[str]:
    errs = _proxy_timer(t, "proxy_read_timeout")
    log = "\n".join(t["proxy"]["logs"]["error_log"])
    _expect(errs, "upstream timed out" in log, "nginx error log has no 'upstream timed out'")
    return errs


def haproxy_tunnel_timeout(t: Truth) -> list[str]:
    errs = _proxy_timer(t, "timeout_tunnel")
    _expect(
        errs,
        [c["tcp"]["tcp_end"] for c in _role(t, "proxy-backend")] == ["rst-client"],
        "HAProxy did not reset the backend connection",
    )
    log = [ln for ln in t["proxy"]["logs"]["log"] if '"GET / HTTP/1.1"' in ln]
    # termination state 'cD': client-side timeout during the data phase
    _expect(errs, any(" cD" in ln for ln in log), f"no 'cD' termination in HAProxy log {log}")
    return errs


def nginx_oneway(t: Truth) -> list[str]:
    errs: list[str] = []
    timeout = t["proxy"]["timeouts_s"]["proxy_read_timeout"]
    for c in t["connections"]:
        _expect(errs, not _data(c, "client"), f"{c['id']}: the client sent data")
        _expect(errs, len(_data(c, "server")) == 8, f"{c['id']}: server messages")
        _expect(errs, c["close"]["client_sent"] == 1000, f"{c['id']}: not closed 1000 by client")
    idle = t["planned"]["idle"][0]["actual_s"]
    _expect(errs, idle > 2 * timeout, f"client silence {idle}s is not > 2 x {timeout}s")
    return errs


def nginx_no_upgrade(t: Truth) -> list[str]:
    errs: list[str] = []
    front = sorted(_status(c) for c in _role(t, "client-proxy"))
    _expect(errs, front == [426, 505], f"client-side statuses {front}")
    back = {c["handshake"]["uri"]: c["handshake"] for c in _role(t, "proxy-backend")}
    no_up = back.get("/no-upgrade") or {}
    _expect(errs, not no_up.get("upgrade_header"), "backend got an Upgrade header on /no-upgrade")
    _expect(errs, no_up.get("status") == 426, "backend did not answer 426")
    # the backend (websockets) rejects it: "unsupported HTTP version: HTTP/1.0"
    http10 = [c for c in _role(t, "proxy-backend") if "HTTP/1.0" in str(c["errors"])]
    _expect(errs, len(http10) == 1, "no HTTP/1.0 request reached the backend")
    return errs


def wrong_accept(t: Truth) -> list[str]:
    (c,) = t["connections"]
    return [] if c["handshake"]["accept_valid"] is False else ["the Accept was valid"]


def deflate(t: Truth) -> list[str]:
    errs: list[str] = []
    c1, c2 = t["connections"]
    m1 = c1["directions"]["client"]["messages"]
    _expect(errs, all(m["compressed"] for m in m1), "c1: uncompressed message")
    _expect(errs, m1[0]["wire_bytes"] > m1[1]["wire_bytes"], "c1: no context takeover gain")
    _expect(errs, any(m["fragments"] > 1 and m["compressed"] for m in m1), "c1: no fragments")
    _expect(errs, c2["deflate"]["client_no_context_takeover"] is True, "c2: takeover allowed")
    m2 = c2["directions"]["client"]["messages"]
    _expect(errs, len({m["wire_bytes"] for m in m2}) == 1, "c2: sizes vary without takeover")
    return errs


def ipv6_large(t: Truth) -> list[str]:
    errs: list[str] = []
    (c,) = t["connections"]
    _expect(errs, c["client"].startswith("[::1]:"), "not IPv6")
    (m,) = c["directions"]["client"]["messages"]
    size = t["planned"]["message_bytes"]
    _expect(errs, m["payload_bytes"] == size and not m["compressed"], f"message {m}")
    frag = t["planned"]["fragment_bytes"]
    _expect(errs, m["fragments"] >= size // frag, f"{m['fragments']} fragments")
    return errs


def close_1011_rst(t: Truth) -> list[str]:
    errs: list[str] = []
    c1, c2 = t["connections"]
    _expect(errs, c1["close"]["server_sent"] == 1011, "c1: server did not send 1011")
    _expect(errs, c1["close"]["client_observed"] == 1011, "c1: client did not see 1011")
    _expect(errs, c2["tcp"]["tcp_end"] == "rst-client", "c2: no client RST")
    return errs


def unanswered_pings(t: Truth) -> list[str]:
    errs: list[str] = []
    (c,) = t["connections"]
    answered = [p["pong_t"] is not None for p in c["pings"]["client"]]
    n = t["planned"]["pings_answered"]
    _expect(errs, answered == [True] * n + [False], f"pings answered: {answered}")
    _expect(errs, c["close"]["client_sent"] == 1011, "client did not close 1011")
    return errs


def mid_stream(t: Truth) -> list[str]:
    (c,) = t["connections"]
    return [] if c["started_before_capture"] else ["the handshake was captured"]


def snaplen(t: Truth) -> list[str]:
    return [] if t["capture"]["snaplen"] == 80 else ["snaplen is not 80"]


def fifty(t: Truth) -> list[str]:
    errs: list[str] = []
    for role in ("client-proxy", "proxy-backend"):
        cs = _role(t, role)
        _expect(errs, len(cs) == 50, f"{len(cs)} {role} connections")
        _expect(errs, all(_status(c) == 101 for c in cs), f"{role}: not all upgraded")
        _expect(errs, all(c["close"]["client_sent"] == 1000 for c in cs), f"{role}: not all 1000")
    return errs


def unmasked(t: Truth) -> list[str]:
    errs: list[str] = []
    (c,) = t["connections"]
    first = c["directions"]["client"]["frames"][0]
    _expect(errs, first["masked"] is False, "the raw client's frame was masked")
    _expect(errs, c["close"]["server_sent"] == 1002, "the server did not close 1002")
    return errs


CHECKS: dict[str, Callable[[Truth], list[str]]] = {
    "nginx-healthy": nginx_healthy,
    "nginx-read-timeout": nginx_read_timeout,
    "haproxy-tunnel-timeout": haproxy_tunnel_timeout,
    "nginx-oneway": nginx_oneway,
    "nginx-no-upgrade": nginx_no_upgrade,
    "wrong-accept": wrong_accept,
    "deflate": deflate,
    "ipv6-large-binary": ipv6_large,
    "close-1011-rst": close_1011_rst,
    "unanswered-pings": unanswered_pings,
    "mid-stream": mid_stream,
    "snaplen-80": snaplen,
    "fifty-connections": fifty,
    "unmasked-client": unmasked,
}


def check(truth: Truth) -> list[str]:
    """Problems with ``truth`` as a recording of its scenario (empty = fine)."""
    errs = generic(truth)
    specific = CHECKS.get(truth["scenario"])
    if specific is None:
        return errs + [f"no sanity check for scenario {truth['scenario']!r}"]
    try:
        return errs + specific(truth)
    except (KeyError, ValueError, IndexError, TypeError) as e:
        return errs + [f"truth does not have the expected shape: {type(e).__name__}: {e}"]
