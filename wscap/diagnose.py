"""Why did this WebSocket fail or drop?  Findings from the model.

:func:`diagnose` reads an :class:`~wscap.analysis.Analysis` (never the
capture) and the timeouts known to be on the path, and returns
:class:`Finding` records, most serious first.  Each names its
connection(s), the evidence (times, sizes, codes) and, where it can, the
setting that explains it and what to change.

Timeouts come from ``--timeout``, ``--profile`` and ``--ingress``
(*configured*); closes are also compared with every documented default
(:func:`wscap.profiles.all_timeouts`), so an unconfigured nginx 60 s timeout
is still recognised.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .profiles import Timeout, all_timeouts
from .ws import ONE_WAY_HEARTBEATS

if TYPE_CHECKING:
    from .analysis import Analysis
    from .model import Connection, Handshake

ERROR, WARNING, INFO = "error", "warning", "info"
HOP_FORWARD_NS = 10 * 10**9  # a proxy forwards an Upgrade request within this
SEVERITIES = (ERROR, WARNING, INFO)
_RANK = {ERROR: 0, WARNING: 1, INFO: 2}

NGINX_UPGRADE_ADVICE = (
    "nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
    'proxy_set_header Connection "upgrade" (ingress-nginx does this by itself; '
    "check for a configuration or a second proxy that overrides it)"
)

# What RFC 6455 violations mean for a user, by code.
VIOLATION_TEXT = {
    "client-frame-unmasked": "client frames not masked (RFC 6455 5.1); a server must close",
    "server-frame-masked": "server frames masked (RFC 6455 5.1); a client must close",
    "reserved-opcode": "frames with a reserved opcode",
    "rsv-without-extension": "RSV bits set without a negotiated extension",
    "control-frame-too-long": "control frames longer than 125 bytes",
    "control-frame-fragmented": "fragmented control frames",
    "non-minimal-length": "payload lengths not minimally encoded",
    "length-top-bit-set": "64-bit lengths with the top bit set",
    "continuation-without-start": "continuation frames without a message to continue",
    "message-interleaved": "a new data message inside a fragmented one",
    "rsv1-on-continuation": "RSV1 on continuation frames (RFC 7692 6.1)",
    "invalid-utf8-text": "text messages that are not valid UTF-8 (peers close with 1007)",
    "invalid-close-code": "close frames with a code that must not be sent",
    "close-payload-one-byte": "close frames with a 1-byte body",
    "invalid-utf8-close-reason": "close reasons that are not valid UTF-8",
    "data-after-close": "frames sent after the sender's close frame",
    "deflate-error": "compressed messages that do not inflate",
    "frame-incomplete": "frames cut off by the end of the stream",
}

# Close codes worth a word (RFC 6455 7.4.1 and the IANA registry).
CLOSE_CODE_TEXT = {
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension missing",
    1011: "internal error; Python websockets also sends it when a keepalive ping times out",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
}


@dataclass(slots=True)
class Finding:
    """One diagnosis: what, where, the numbers behind it, what to do."""

    code: str
    severity: str
    conn_ids: list[int]
    ts: int | None
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    advice: str = ""

    @property
    def conn_id(self) -> int | None:
        return self.conn_ids[0] if self.conn_ids else None


def tolerance(seconds: float) -> float:
    """Timer slack allowed when matching a silence to a timeout: timers fire
    a little late (event loops, coarse wheels), and captures add jitter."""
    return max(0.25, 0.03 * seconds)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 600:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _who(c: Connection) -> str:
    return f"conn {c.conn_id} ({c.client.addr} → {c.server.addr})"


def _s(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e9


class _Diagnosis:
    def __init__(self, a: Analysis, configured: Sequence[Timeout]) -> None:
        self.a = a
        self.configured = list(configured)
        names = {t.name for t in self.configured}
        self.known = self.configured + [t for t in all_timeouts() if t.name not in names]
        self.findings: list[Finding] = []
        self.handshakes: dict[int, list[Handshake]] = defaultdict(list)
        for h in a.handshake_list:
            self.handshakes[h.conn_id].append(h)
        self.heartbeats = defaultdict(list)
        for hb in a.store.heartbeats:
            self.heartbeats[hb.conn_id].append(hb)
        self.pairs = self._pair_hops()

    def add(
        self,
        code: str,
        severity: str,
        conns: list[int],
        ts: int | None,
        summary: str,
        evidence: dict[str, Any] | None = None,
        advice: str = "",
    ) -> Finding:
        f = Finding(code, severity, conns, ts, summary, evidence or {}, advice)
        self.findings.append(f)
        return f

    # -- multi-hop ----------------------------------------------------------

    def _pair_hops(self) -> dict[int, tuple[int, str]]:
        """conn_id -> (the other leg's conn_id, 'front' or 'back').

        The same WebSocket seen on both sides of a proxy carries the same
        Sec-WebSocket-Key and request URI, at overlapping times; the front
        leg is the one whose request came first.
        """
        conns = {c.conn_id: c for c in self.a.connection_list}
        by_key: dict[tuple[str, str], list[Handshake]] = defaultdict(list)
        for h in self.a.handshake_list:
            if h.key:
                by_key[(h.key, h.uri)].append(h)
        pairs: dict[int, tuple[int, str]] = {}
        for hs in by_key.values():
            if len(hs) < 2:
                continue
            hs = sorted(hs, key=lambda h: h.ts_request)
            for front, back in zip(hs, hs[1:], strict=False):
                if front.conn_id == back.conn_id or front.conn_id in pairs:
                    continue
                # a proxy forwards the request at once, and both legs live
                # together (a client reusing a fixed key later is not a hop)
                fc, bc = conns[front.conn_id], conns[back.conn_id]
                if back.ts_request - front.ts_request > HOP_FORWARD_NS:
                    continue
                if bc.start > fc.end or bc.end < fc.start:
                    continue
                pairs[front.conn_id] = (back.conn_id, "front")
                pairs[back.conn_id] = (front.conn_id, "back")
        return pairs

    def _reported_by_hop(self, c: Connection) -> bool:
        """A back leg whose front leg had the headers: ``_hops`` names the proxy."""
        pair = self.pairs.get(c.conn_id)
        if pair is None or pair[1] != "back":
            return False
        front = self.handshakes[pair[0]][-1]
        return _has(front.upgrade, "websocket")

    # -- the analyses -------------------------------------------------------

    def run(self) -> list[Finding]:
        conns = {c.conn_id: c for c in self.a.connection_list}
        self._capture_quality()
        closes: list[tuple[Connection, Timeout, float, str]] = []
        for c in self.a.connection_list:
            if not c.websocket:
                continue
            self._handshake(c)
            if not c.upgraded:
                continue
            match = self._close(c)
            if match is not None:
                closes.append((c, *match))
            self._heartbeats(c)
        self._timeout_closes(closes, conns)
        self._gaps_over_timeouts(conns)
        self._hops(conns)
        self._violations()
        self._merge()
        self.findings.sort(key=lambda f: (_RANK[f.severity], f.ts or 0, f.code))
        return self.findings

    def _merge(self) -> None:
        """Fold findings that tell one story into one line."""
        by = defaultdict(list)
        for f in self.findings:
            by[(f.code, f.conn_id)].append(f)
        drop: set[int] = set()
        # a rejection the proxy relayed: report it once, on the backend leg
        for cid, (other, role) in self.pairs.items():
            if role != "front":
                continue
            front = by.get(("handshake-rejected", cid), [])
            back = by.get(("handshake-rejected", other), [])
            relayed = bool(
                front and back and front[0].evidence.get("status") == back[0].evidence.get("status")
            )
            if relayed:
                back[0].summary += f"; the proxy relayed it to the client (conn {cid})"
                back[0].conn_ids.append(cid)
                drop.add(id(front[0]))
        # a client that gave up on unanswered pings and said so in its close frame
        for (code, cid), fs in by.items():
            if code != "close-code":
                continue
            unanswered = by.get(("ping-unanswered", cid))
            if unanswered and fs[0].evidence.get("code") == 1011:
                unanswered[0].summary += "; then " + fs[0].summary.split(": ", 1)[1]
                drop.add(id(fs[0]))
        self.findings = [f for f in self.findings if id(f) not in drop]

    def _capture_quality(self) -> None:
        cap = self.a.capture
        if cap.damage:
            self.add(
                "capture-damaged",
                WARNING,
                [],
                cap.last_ts,
                f"the capture file is damaged ({cap.damage}); everything after it is missing",
                {"damage": cap.damage},
            )
        if cap.truncated_packets:
            self.add(
                "truncated-packets",
                WARNING,
                [],
                None,
                f"{cap.truncated_packets} packets were cut by the capture's snaplen "
                f"({cap.truncated_bytes} bytes missing): payload after the cut is unknown",
                {"packets": cap.truncated_packets, "bytes": cap.truncated_bytes},
                "Capture with -s 0 (full packets).",
            )
        gaps = self.a.store.gaps
        if gaps:
            by_conn = sorted({g.conn_id for g in gaps})
            total = sum(g.length for g in gaps)
            self.add(
                "capture-gap",
                WARNING,
                by_conn,
                gaps[0].ts,
                f"{len(gaps)} capture gaps ({total} bytes the capture does not have) on "
                f"{len(by_conn)} connection(s): frames there are unknown",
                {"gaps": len(gaps), "bytes": total},
                "The capture dropped packets: capture closer to the pod, with a larger "
                "buffer (tcpdump -B 16384) or a capture filter.",
            )

    def _handshake(self, c: Connection) -> None:
        if c.handshake == "not-captured":
            self.add(
                "handshake-not-captured",
                INFO,
                [c.conn_id],
                c.start,
                f"{_who(c)}: the capture starts after the handshake; frames were "
                "recognised by their shape, extensions are unknown",
                {"roles_from": c.roles_from},
            )
        for h in self.handshakes.get(c.conn_id, []):
            if not h.method:
                continue  # the request was not captured: nothing to check it against
            ev = {
                "method": h.method,
                "uri": h.uri,
                "status": h.status,
                "upgrade": h.upgrade,
                "connection": h.connection,
                "version": h.version,
                "http_version": h.http_version,
            }
            missing = []
            if not _has(h.upgrade, "websocket"):
                missing.append("Upgrade: websocket")
            if not _has(h.connection, "upgrade"):
                missing.append("Connection: Upgrade")
            if h.http_version == "HTTP/1.0":
                self.add(
                    "upgrade-over-http10",
                    ERROR,
                    [c.conn_id],
                    h.ts_request,
                    f"{_who(c)}: the Upgrade request was sent as HTTP/1.0; a WebSocket "
                    "needs HTTP/1.1" + (f" (answered {h.status})" if h.status else ""),
                    ev,
                    NGINX_UPGRADE_ADVICE,
                )
            elif missing and h.status != 101 and not self._reported_by_hop(c):
                self.add(
                    "upgrade-headers-missing",
                    ERROR,
                    [c.conn_id],
                    h.ts_request,
                    f"{_who(c)}: the request that reached {c.server.addr} has no "
                    f"{' and no '.join(missing)} (it still carries Sec-WebSocket-Key): "
                    "a proxy in front does not forward them"
                    + (f"; answered {h.status} {h.reason or ''}".rstrip() if h.status else ""),
                    ev,
                    NGINX_UPGRADE_ADVICE,
                )
            if h.version and h.version.strip() != "13":
                self.add(
                    "version-unsupported",
                    ERROR,
                    [c.conn_id],
                    h.ts_request,
                    f"{_who(c)}: Sec-WebSocket-Version {h.version!r}; RFC 6455 servers speak 13",
                    ev,
                )
            if h.outcome == "rejected":
                body = h.body_snippet.decode("utf-8", "replace").strip()
                self.add(
                    "handshake-rejected",
                    ERROR,
                    [c.conn_id],
                    h.ts_response,
                    f"{_who(c)}: handshake rejected with {h.status} {h.reason or ''}".rstrip()
                    + (f"; body: {body[:120]!r}" if body else ""),
                    {**ev, "reason": h.reason, "body": body[:256]},
                    _rejection_advice(h.status),
                )
            elif h.outcome == "unanswered":
                capture_end = self.a.capture.last_ts or c.end
                ended = c.tcp_end != "open"
                waited = _s((c.tcp_end_ts if ended else capture_end) - h.ts_request)
                # still open when the capture stopped soon after: maybe just not yet
                early = not ended and waited is not None and waited < 10
                self.add(
                    "handshake-unanswered",
                    INFO if early else ERROR,
                    [c.conn_id],
                    h.ts_request,
                    f"{_who(c)}: the Upgrade request got no answer "
                    + (
                        f"before the capture stopped ({_fmt(waited)} later)"
                        if early
                        else f"in {_fmt(waited)}"
                        + (f", then TCP ended ({c.tcp_end})" if ended else "")
                    ),
                    {**ev, "waited_s": waited, "tcp_end": c.tcp_end},
                    "Check that the backend is up and reachable from the proxy "
                    "(proxy-connect-timeout, readiness).",
                )
            elif h.outcome == "bad-accept":
                self.add(
                    "accept-mismatch",
                    ERROR,
                    [c.conn_id],
                    h.ts_response,
                    f"{_who(c)}: Sec-WebSocket-Accept is {h.accept!r}, should be "
                    f"{h.accept_expected!r}: clients fail the connection",
                    {"key": h.key, "accept": h.accept, "expected": h.accept_expected},
                    "Something between client and server rewrites the handshake, or the "
                    "server computes the accept value wrongly (RFC 6455 4.2.2).",
                )
            if h.status == 101:
                offered = [p.strip() for p in (h.protocols_offered or "").split(",") if p.strip()]
                if h.subprotocol and h.subprotocol not in offered:
                    self.add(
                        "subprotocol-mismatch",
                        WARNING,
                        [c.conn_id],
                        h.ts_response,
                        f"{_who(c)}: the server chose subprotocol {h.subprotocol!r}, which "
                        "the client did not offer",
                        {"offered": offered, "chosen": h.subprotocol},
                    )
                ext_off = {
                    e.split(";")[0].strip().lower()
                    for e in (h.extensions_offered or "").split(",")
                    if e.strip()
                }
                ext_acc = {
                    e.split(";")[0].strip().lower()
                    for e in (h.extensions or "").split(",")
                    if e.strip()
                }
                if ext_acc - ext_off:
                    self.add(
                        "extension-mismatch",
                        WARNING,
                        [c.conn_id],
                        h.ts_response,
                        f"{_who(c)}: the server accepted extensions the client did not "
                        f"offer: {', '.join(sorted(ext_acc - ext_off))}",
                        {"offered": sorted(ext_off), "accepted": sorted(ext_acc)},
                    )

    def _silence_before_end(self, c: Connection, kind: str) -> float | None:
        at = c.end_last.get("at")
        last = c.end_last.get(kind)
        if at is None or last is None:
            return None
        return (at - last) / 1e9

    def _close(self, c: Connection) -> tuple[Timeout, float, str] | None:
        """How the connection ended; returns a timeout match for idle/lifetime
        closes, reported together by :meth:`_timeout_closes`."""
        cl, sv = c.client, c.server
        end = c.tcp_end
        end_ts = c.tcp_end_ts
        ev: dict[str, Any] = {
            "tcp_end": end,
            "close_code_client": cl.close_code,
            "close_code_server": sv.close_code,
            "duration_s": (c.end - c.start) / 1e9,
        }
        for kind in ("payload", "frame", "data"):
            ev[f"silence_before_end_{kind}_s"] = self._silence_before_end(c, kind)
        first = c.first_close
        # close frames
        if first is not None:
            sender, other = (cl, sv) if first == "client" else (sv, cl)
            other_name = "server" if first == "client" else "client"
            code = sender.close_code
            if code is not None and code in CLOSE_CODE_TEXT:
                sev = INFO if code in (1001, 1012) else WARNING
                self.add(
                    "close-code",
                    sev,
                    [c.conn_id],
                    sender.close_ts,
                    f"{_who(c)}: {first} closed with {code} ({CLOSE_CODE_TEXT[code]})"
                    + (f", reason {sender.close_reason!r}" if sender.close_reason else ""),
                    {**ev, "code": code, "reason": sender.close_reason},
                )
            if other.close_ts is None and end != "open":
                self.add(
                    "close-not-answered",
                    WARNING,
                    [c.conn_id],
                    sender.close_ts,
                    f"{_who(c)}: the {first} sent a close frame ({code or 'no code'}) "
                    f"and the {other_name} never answered with its own before TCP ended "
                    f"({end})",
                    ev,
                    "The peer should echo the close frame (RFC 6455 5.5.1).",
                )
            return None
        if end == "open":
            return None
        # no close frame at all: an abnormal closure (1006 for the application)
        silence = self._silence_before_end(c, "payload")
        who = end.split("-")[1]
        how = "RST" if end.startswith("rst") else "FIN"
        match = self._match(c, silence)
        if match is not None:
            t, kind = match
            if kind == "idle" and silence is not None:
                return t, silence, kind
            return t, (c.end_last["at"] - c.start) / 1e9, kind
        sev = ERROR
        self.add(
            "abnormal-closure",
            sev,
            [c.conn_id],
            end_ts,
            f"{_who(c)}: closed by the {who} side with {how} {_fmt(silence)} after the last "
            "data in either direction, no close frame (the application sees 1006)"
            + ("" if silence is None or silence < 1 else "; no known timeout matches this silence"),
            ev,
            "Look for the process or middlebox that closed it: the silence does not "
            "match a configured or default timeout."
            if silence and silence >= 1
            else "",
        )
        if how == "RST":
            self.add(
                "tcp-reset",
                WARNING,
                [c.conn_id],
                end_ts,
                f"{_who(c)}: the {who} reset the connection (RST)",
                ev,
            )
        return None

    def _match(self, c: Connection, silence: float | None) -> tuple[Timeout, str] | None:
        """The timeout whose expiry explains this close: an idle timeout
        equal to the silence before it, or a lifetime cap equal to the
        connection's age.  Configured timeouts come first; among the rest,
        one whose documented wire pattern agrees with the close is preferred
        (a nginx timer sends FIN, an NLB's silent expiry sends nothing)."""
        at = c.end_last.get("at")
        age = (at - c.start) / 1e9 if at is not None else None
        found = []
        for order, t in enumerate(self.known):
            if t.kind == "idle" and silence is not None:
                if abs(silence - t.seconds) <= tolerance(t.seconds):
                    found.append((t, "idle", order))
            elif t.kind == "lifetime" and age is not None:
                if abs(age - t.seconds) <= tolerance(t.seconds):
                    found.append((t, "lifetime", order))
        if not found:
            return None
        configured = {id(t) for t in self.configured}

        def rank(item: tuple[Timeout, str, int]) -> tuple[int, int, int]:
            t, _kind, order = item
            wire = self._wire_matches(t, c)
            return (0 if id(t) in configured else 1, {True: 0, None: 1, False: 2}[wire], order)

        t, kind, _ = min(found, key=rank)
        return t, kind

    def _wire_matches(self, t: Timeout, c: Connection) -> bool | None:
        """Does the close look like what ``t``'s expiry puts on the wire?
        None when that is not documented or cannot be told from one leg."""
        end = c.tcp_end
        pair = self.pairs.get(c.conn_id)
        proxy_side = None if pair is None else ("server" if pair[1] == "front" else "client")
        if t.expiry in ("silent-rst-next", "silent-drop"):
            return False  # such a timer sends nothing when it fires
        if t.expiry == "rst-both":
            return end.startswith("rst")
        if t.expiry == "fin-both":
            if end.startswith("rst"):
                return False
            return None if proxy_side is None else end == f"fin-{proxy_side}"
        if t.expiry == "fin-client-rst-server":
            if proxy_side is None:
                return None
            return end == ("fin-server" if proxy_side == "server" else "rst-client")
        return None

    def _timeout_closes(self, closes: list, conns: dict[int, Connection]) -> None:
        groups: dict[tuple[str, str], list[tuple[Connection, float]]] = defaultdict(list)
        timeouts: dict[str, Timeout] = {}
        for c, t, value, kind in closes:
            groups[(t.name, kind)].append((c, value))
            timeouts[t.name] = t
        for (name, kind), items in groups.items():
            t = timeouts[name]
            # both legs of one WebSocket through a proxy: report it once, on the client's leg
            ids = {c.conn_id for c, _ in items}
            items = [
                (c, v)
                for c, v in items
                if not (
                    self.pairs.get(c.conn_id, (0, ""))[1] == "back"
                    and self.pairs[c.conn_id][0] in ids
                )
            ]
            also = [
                o
                for o in self.known
                if o is not t
                and o.kind == t.kind
                and abs(o.seconds - t.seconds) <= tolerance(t.seconds)
            ]
            origin = {"option": "configured", "ingress": "from the Ingress manifests"}.get(
                t.origin, "default"
            )
            where = f"{t.setting.split(' (')[0]} {t.seconds:g} s ({t.product}, {origin})"
            for c, value in items:
                end = c.tcp_end
                who = end.split("-")[1] if "-" in end else end
                how = "RST" if end.startswith("rst") else "FIN"
                hop = self._hop_note(c, conns)
                if kind == "idle":
                    summary = (
                        f"{_who(c)}: closed by the {who} side ({how}) {_fmt(value)} after "
                        "the last data in either direction, no close frame (the client "
                        f"sees 1006) — matches {where}"
                    )
                    code = "idle-timeout-close"
                else:
                    summary = (
                        f"{_who(c)}: closed by the {who} side ({how}) at the age of "
                        f"{_fmt(value)}, idle or not — matches the lifetime cap {where}"
                    )
                    code = "lifetime-cap-close"
                wire = self._wire_matches(t, c)
                if wire is False:
                    summary += (
                        f"; but {t.product} expiry looks different ({t.on_expiry}): "
                        f"the wire shows {how} from the {who} side, so another timer of "
                        "the same length may be at work"
                    )
                if hop:
                    summary += f"; {hop}"
                if len(items) > 1:
                    others = [x.conn_id for x, _ in items if x is not c]
                    summary += (
                        f"; {len(items)} WebSockets closed after the same "
                        f"{'silence' if kind == 'idle' else 'age'} "
                        f"(also conn {', '.join(map(str, others[:8]))})"
                    )
                if also and t.origin != "option":
                    summary += "; also the default of " + ", ".join(
                        f"{o.product} {o.setting.split(' (')[0]}" for o in also[:3]
                    )
                pair = self.pairs.get(c.conn_id)
                self.add(
                    code,
                    ERROR,
                    [c.conn_id] + ([pair[0]] if pair and pair[0] in ids else []),
                    c.tcp_end_ts,
                    summary,
                    {
                        "timeout": t.name,
                        "timeout_s": t.seconds,
                        "measured_s": value,
                        "tolerance_s": tolerance(t.seconds),
                        "tcp_end": end,
                        "timeout_origin": t.origin,
                        "expected_on_wire": t.on_expiry,
                        "wire_matches": self._wire_matches(t, c),
                        "same_close": [x.conn_id for x, _ in items],
                        "source": t.source,
                    },
                    t.advice,
                )

    def _hop_note(self, c: Connection, conns: dict[int, Connection]) -> str:
        pair = self.pairs.get(c.conn_id)
        if pair is None:
            return ""
        other = conns.get(pair[0])
        if other is None or other.tcp_end == "open":
            return ""
        front, back = (c, other) if pair[1] == "front" else (other, c)
        fe, be = front.tcp_end_ts, back.tcp_end_ts
        if fe is None or be is None:
            return ""
        proxy = back.client.addr.rsplit(":", 1)[0]
        if (
            front.tcp_end.endswith("server")
            and back.tcp_end.endswith("client")
            and abs(fe - be) <= 50_000_000
        ):
            return (
                f"the proxy ({proxy}) closed both legs (conn {front.conn_id} and "
                f"conn {back.conn_id}) within {_fmt(abs(fe - be) / 1e9)}: its own timeout"
            )
        first = "backend" if be < fe else "client"
        return f"the {first} side's leg closed first ({_fmt(abs(fe - be) / 1e9)} earlier)"

    def _heartbeats(self, c: Connection) -> None:
        hbs = self.heartbeats.get(c.conn_id, [])
        pair = self.pairs.get(c.conn_id)
        if pair is not None and pair[1] == "back" and not hbs:
            return  # the client's leg carries the same (missing) heartbeats
        # pings that expect an answer: WebSocket pings, and application pings
        # of a kind that was answered at least once on this connection
        answered_kinds = {h.kind for h in hbs if h.ts_answer is not None}
        pings = [
            h
            for h in hbs
            if h.kind == "ws-ping"
            or (
                h.kind.startswith("app:")
                and h.kind not in ONE_WAY_HEARTBEATS
                and h.kind in answered_kinds
            )
        ]
        at_end = c.end_last.get("at") or c.end
        if c.tcp_end == "open":
            # the capture may have stopped before the pong: only older pings count
            capture_end = self.a.capture.last_ts or c.end
            unanswered = [
                h for h in pings if h.ts_answer is None and capture_end - h.ts > 2_000_000_000
            ]
        else:
            unanswered = [h for h in pings if h.ts_answer is None]
        if unanswered:
            by = sorted({h.direction for h in unanswered})
            rtts = [h.rtt_s for h in pings if h.rtt_s is not None]
            self.add(
                "ping-unanswered",
                WARNING,
                [c.conn_id],
                unanswered[0].ts,
                f"{_who(c)}: {len(unanswered)} of {len(pings)} pings from the "
                f"{'/'.join(by)} got no pong"
                + (f" (answered ones took {_fmt(max(rtts))} at most)" if rtts else ""),
                {
                    "unanswered": len(unanswered),
                    "pings": len(pings),
                    "first_unanswered": unanswered[0].ts,
                },
                "The peer (or a proxy buffering the connection) is not answering: "
                "check its event loop and the path.",
            )
        times = sorted(h.ts for h in hbs)
        idle_timeouts = [t for t in self.configured if t.kind == "idle"]
        shortest = min(idle_timeouts, key=lambda t: t.seconds) if idle_timeouts else None
        life = (at_end - c.start) / 1e9
        data_idle = c.activity["data"].longest / 1e9
        if not times:
            # at risk when data stops for half the shortest idle timeout on the
            # path (30 s, half the common 60 s default, when none is known)
            limit = shortest.seconds / 2 if shortest else 30.0
            if data_idle >= limit:
                ka = c.client.keepalives + c.server.keepalives
                self.add(
                    "heartbeat-missing",
                    WARNING,
                    [c.conn_id],
                    c.start,
                    f"{_who(c)}: no WebSocket ping/pong or application heartbeat in "
                    f"{_fmt(life)}; the longest silence without data was "
                    f"{_fmt(data_idle)}"
                    + (
                        f" (TCP keep-alives seen: {ka}; they do not count for proxies "
                        "that time data)"
                        if ka
                        else ""
                    ),
                    {
                        "lifetime_s": life,
                        "longest_data_silence_s": data_idle,
                        "tcp_keepalives": ka,
                        "shortest_timeout": shortest.name if shortest else None,
                    },
                    "Send WebSocket pings (or application heartbeats) more often than the "
                    "shortest idle timeout on the path.",
                )
            return
        intervals = [(b - a) / 1e9 for a, b in zip(times, times[1:], strict=False)]
        if intervals and shortest is not None:
            typical = statistics.median(intervals)
            if typical > shortest.seconds:
                self.add(
                    "heartbeat-too-slow",
                    WARNING,
                    [c.conn_id],
                    times[0],
                    f"{_who(c)}: heartbeats every {_fmt(typical)}, slower than "
                    f"{shortest.setting} {shortest.seconds:g} s ({shortest.product})",
                    {
                        "interval_s": typical,
                        "timeout": shortest.name,
                        "timeout_s": shortest.seconds,
                    },
                    f"Ping at least every {shortest.seconds / 2:g} s.",
                )

    def _gaps_over_timeouts(self, conns: dict[int, Connection]) -> None:
        idle = [t for t in self.configured if t.kind == "idle"]
        explained = {
            f.conn_id
            for f in self.findings
            if f.code in ("idle-timeout-close", "lifetime-cap-close")
        }
        for c in conns.values():
            if not c.upgraded or c.conn_id in explained:
                continue
            s = c.activity["payload"]
            longest = s.longest / 1e9
            for t in sorted(idle, key=lambda t: t.seconds):
                if longest > t.seconds + tolerance(t.seconds):
                    self.add(
                        "idle-gap-exceeds-timeout",
                        WARNING,
                        [c.conn_id],
                        s.since,
                        f"{_who(c)}: silent for {_fmt(longest)} (no data either way), "
                        f"longer than {t.setting.split(' (')[0]} {t.seconds:g} s — yet the "
                        "connection "
                        "was not closed then: that timeout is not on this path, or is "
                        "longer than configured",
                        {
                            "silence_s": longest,
                            "since": s.since,
                            "timeout": t.name,
                            "timeout_s": t.seconds,
                        },
                    )
                    break
            if not idle and longest >= 30:
                # nothing configured: point at the silence and the defaults it would trip
                tripped = [
                    t
                    for t in self.known
                    if t.kind == "idle" and longest > t.seconds + tolerance(t.seconds)
                ]
                self.add(
                    "idle-gap",
                    INFO,
                    [c.conn_id],
                    s.since,
                    f"{_who(c)}: the longest silence (no data either way) was {_fmt(longest)}"
                    + (
                        "; longer than the default of "
                        + ", ".join(f"{t.product} ({t.seconds:g} s)" for t in tripped[:4])
                        + ", so those are not on the path or are set higher"
                        if tripped
                        else ""
                    ),
                    {
                        "silence_s": longest,
                        "since": s.since,
                        "longer_than": [t.name for t in tripped],
                    },
                )

    def _hops(self, conns: dict[int, Connection]) -> None:
        done = set()
        for cid, (other, role) in self.pairs.items():
            if role != "front" or cid in done:
                continue
            done.add(cid)
            front, back = conns.get(cid), conns.get(other)
            if front is None or back is None:
                continue
            fh = self.handshakes[front.conn_id][-1]
            bh = self.handshakes[back.conn_id][-1]
            lost = [
                name
                for name, fv, bv in (
                    ("Upgrade", _has(fh.upgrade, "websocket"), _has(bh.upgrade, "websocket")),
                    ("Connection", _has(fh.connection, "upgrade"), _has(bh.connection, "upgrade")),
                )
                if fv and not bv
            ]
            proxy = back.client.addr.rsplit(":", 1)[0]
            if lost:
                self.add(
                    "upgrade-headers-missing",
                    ERROR,
                    [front.conn_id, back.conn_id],
                    bh.ts_request,
                    f"conn {front.conn_id} → conn {back.conn_id}: the proxy at {proxy} "
                    f"received {' and '.join(lost)} from the client but did not pass "
                    f"{'it' if len(lost) == 1 else 'them'} to the backend "
                    f"{back.server.addr}" + (f", which answered {bh.status}" if bh.status else ""),
                    {
                        "front": front.conn_id,
                        "back": back.conn_id,
                        "lost": lost,
                        "front_upgrade": fh.upgrade,
                        "back_upgrade": bh.upgrade,
                        "back_status": bh.status,
                    },
                    NGINX_UPGRADE_ADVICE,
                )
            else:
                self.add(
                    "hop-pair",
                    INFO,
                    [front.conn_id, back.conn_id],
                    fh.ts_request,
                    f"conn {front.conn_id} (client side) and conn {back.conn_id} (backend "
                    f"side) are the same WebSocket through the proxy at {proxy}",
                    {"front": front.conn_id, "back": back.conn_id, "key": fh.key},
                )

    def _violations(self) -> None:
        by_code: dict[str, list] = defaultdict(list)
        for v in self.a.store.violations:
            by_code[v.code].append(v)
        for code, vs in by_code.items():
            conns = sorted({v.conn_id for v in vs})
            dirs = sorted({v.direction for v in vs})
            self.add(
                code,
                WARNING,
                conns,
                vs[0].ts,
                f"{len(vs)} × {VIOLATION_TEXT.get(code, code)} "
                f"(from the {'/'.join(dirs)}; conn {', '.join(map(str, conns[:8]))}"
                f"{'…' if len(conns) > 8 else ''})",
                {"count": len(vs), "directions": dirs},
            )


def _has(header: str | None, token: str) -> bool:
    """Does a comma-separated header value contain ``token`` (any case)?"""
    return token in [t.strip().lower() for t in (header or "").split(",")]


def _rejection_advice(status: int | None) -> str:
    if status in (400, 426, 505):
        # the backend did not get a valid HTTP/1.1 Upgrade request
        return NGINX_UPGRADE_ADVICE
    if status in (401, 403):
        return "Authentication or Origin check failed: check credentials and allowed origins."
    if status == 404:
        return "Wrong path: check the WebSocket URL and the proxy's routing."
    if status in (502, 503, 504):
        return "The proxy could not reach the backend: check that it is up and its timeouts."
    return ""


def diagnose(
    a: Analysis, timeouts: Sequence[Timeout] = (), extra: Sequence[Finding] = ()
) -> list[Finding]:
    """Findings, most serious first.

    ``timeouts`` are those known to be on the path (from ``--timeout``,
    ``--profile``, ``--ingress``); documented defaults are always tried too
    when explaining a close.  ``extra`` findings (about the configuration,
    e.g. Ingress manifests) are ranked in with the rest.
    """
    found = _Diagnosis(a, timeouts).run() + list(extra)
    found.sort(key=lambda f: _RANK[f.severity])  # stable: keeps the order within
    return found


def verdicts(a: Analysis, findings: list[Finding]) -> dict[int, str]:
    """One word or phrase per WebSocket connection: its worst finding, or ok."""
    out: dict[int, str] = {}
    for c in a.connection_list:
        if c.websocket:
            out[c.conn_id] = "ok"
    for f in sorted(findings, key=lambda f: _RANK[f.severity], reverse=True):
        if f.severity == INFO:
            continue
        for cid in f.conn_ids:
            if cid in out:
                out[cid] = f"{f.severity}: {f.code}"
    return out
