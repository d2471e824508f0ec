"""Documented timeout defaults of the proxies and load balancers a WebSocket crosses.

Each :class:`Timeout` says how long it is, whether it measures silence (``idle``)
or the connection's age (``lifetime``), what re-arms it, what its expiry looks
like on the wire, how to raise it, and where the default is documented.
``PROFILES`` groups them under the names users type (``--profile aws-alb``);
``parse_timeout_option`` turns ``--timeout`` values into the same type.

Values checked against the vendors' documentation in November 2026; where the
vendor documents no default (HAProxy ``timeout tunnel``) the entry says so in
``setting``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

__all__ = [
    "EXPIRY_PATTERNS",
    "KINDS",
    "PROFILES",
    "Timeout",
    "all_timeouts",
    "find_timeout",
    "format_profiles",
    "parse_timeout_option",
    "profile",
]

#: What ``Timeout.kind`` can be. ``connect`` only bounds the proxy's TCP connect
#: to the backend (it can fail a handshake, never an established connection);
#: it appears only in timeouts read from ingress-nginx manifests.
KINDS = ("idle", "lifetime", "connect")

#: What ``Timeout.expiry`` can be (the wire pattern when the timer fires).
EXPIRY_PATTERNS = (
    "fin-both",  # FIN to both sides at once, no close frame
    "fin-client-rst-server",  # FIN to the client, RST to the server
    "silent-rst-next",  # nothing at expiry; the next packet either way gets RST
    "silent-drop",  # nothing at expiry; later packets vanish
    "rst-both",  # RST to both sides at expiry
    "close-frame",  # a WebSocket close frame
    "unknown",  # not documented
)


@dataclass(frozen=True, slots=True)
class Timeout:
    """One timer on the path of a connection, with what it looks like when it fires."""

    name: str
    seconds: float
    kind: str
    product: str
    setting: str
    resets_on: str
    on_expiry: str
    expiry: str
    advice: str
    source: str
    origin: str = "profile"


# --- sources (official documentation pages) -----------------------------------

_SRC_NGINX_WS = "https://nginx.org/en/docs/http/websocket.html"
_SRC_NGINX_PROXY_SEND = (
    "https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_send_timeout"
)
_SRC_INGRESS_NGINX_CM = (
    "https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/configmap/"
)
_SRC_HAPROXY = "https://docs.haproxy.org/2.8/configuration.html#4-timeout%20tunnel"
_SRC_ENVOY = "https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts"
_SRC_ALB = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/"
    "edit-load-balancer-attributes.html#connection-idle-timeout"
)
_SRC_ELB = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-idle-timeout.html"
)
_SRC_NLB = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html"
)
_SRC_AZURE_LB = "https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-tcp-reset"
_SRC_AFD = "https://learn.microsoft.com/en-us/azure/frontdoor/standard-premium/websocket"
_SRC_HEROKU = "https://devcenter.heroku.com/articles/http-routing#timeouts"
_SRC_CLOUDFLARE = "https://developers.cloudflare.com/fundamentals/reference/connection-limits/"
_SRC_GCP_LB = "https://cloud.google.com/load-balancing/docs/https#timeout-bes"
_SRC_CLOUD_RUN = "https://cloud.google.com/run/docs/triggering/websockets"
_SRC_APIGW = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/"
    "apigateway-execution-service-websocket-limits-table.html"
)
_SRC_KUBE_PROXY = "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/"

_ANY_BYTE = "any byte in either direction once upgraded"


def _nginx(name: str, which: str, product: str, setting: str, advice_knob: str) -> Timeout:
    return Timeout(
        name=name,
        seconds=60.0,
        kind="idle",
        product=product,
        setting=setting,
        resets_on=_ANY_BYTE,
        on_expiry=f"proxy_{which}_timeout fires: nginx closes both connections at once "
        "(FIN to client and backend), no close frame; the client sees 1006",
        expiry="fin-both",
        advice=f"Raise {advice_knob} or send pings more often than every 60 s.",
        source=_SRC_NGINX_WS if which == "read" else _SRC_NGINX_PROXY_SEND,
    )


# nginx: "By default, the connection will be closed if the proxied server does not
# transmit any data within 60 seconds" (websocket.html); proxy_read_timeout and
# proxy_send_timeout both default to 60s (ngx_http_proxy_module).
_NGINX_READ = _nginx(
    "nginx-read",
    "read",
    "nginx",
    "proxy_read_timeout",
    "proxy_read_timeout (e.g. proxy_read_timeout 3600s;)",
)
_NGINX_SEND = _nginx(
    "nginx-send",
    "send",
    "nginx",
    "proxy_send_timeout",
    "proxy_send_timeout (e.g. proxy_send_timeout 3600s;)",
)
# ingress-nginx ConfigMap reference: proxy-read-timeout int 60, proxy-send-timeout
# int 60, proxy-connect-timeout int 5 (values are unitless seconds).
_INGRESS_READ = replace(
    _nginx(
        "ingress-nginx-read",
        "read",
        "ingress-nginx",
        "proxy-read-timeout (nginx.ingress.kubernetes.io/proxy-read-timeout)",
        'nginx.ingress.kubernetes.io/proxy-read-timeout (unitless seconds, e.g. "3600")',
    ),
    source=_SRC_INGRESS_NGINX_CM,
)
_INGRESS_SEND = replace(
    _nginx(
        "ingress-nginx-send",
        "send",
        "ingress-nginx",
        "proxy-send-timeout (nginx.ingress.kubernetes.io/proxy-send-timeout)",
        'nginx.ingress.kubernetes.io/proxy-send-timeout (unitless seconds, e.g. "3600")',
    ),
    source=_SRC_INGRESS_NGINX_CM,
)

# HAProxy: "timeout tunnel" has no default value (when unset, timeout client /
# timeout server keep applying after the upgrade). The configuration manual's
# example for WebSocket is "timeout tunnel 1h"; the entry uses that example.
_HAPROXY_TUNNEL = Timeout(
    name="haproxy-tunnel",
    seconds=3600.0,
    kind="idle",
    product="HAProxy",
    setting="timeout tunnel (no default: 3600 s is the manual's example `timeout tunnel 1h`; "
    "when unset, timeout client/server apply)",
    resets_on=_ANY_BYTE,
    on_expiry="HAProxy closes the tunnel: FIN to the client, RST to the server, no close frame",
    expiry="fin-client-rst-server",
    advice="Set or raise `timeout tunnel` in the defaults or backend section, or send pings "
    "more often than it.",
    source=_SRC_HAPROXY,
)

# Envoy FAQ "How do I configure timeouts?": the HTTP connection manager's
# stream_idle_timeout defaults to 5 minutes; an upgraded WebSocket is a stream.
_ENVOY_STREAM_IDLE = Timeout(
    name="envoy-stream-idle",
    seconds=300.0,
    kind="idle",
    product="Envoy",
    setting="stream_idle_timeout (HttpConnectionManager; per route: route.idle_timeout)",
    resets_on="any data on the stream in either direction",
    on_expiry="Envoy resets the stream and closes both connections, no close frame "
    "(FIN or RST not documented)",
    expiry="unknown",
    advice="Raise stream_idle_timeout (or the route's idle_timeout; 0 disables it) or send "
    "pings more often than every 300 s.",
    source=_SRC_ENVOY,
)

# ALB user guide, "Connection idle timeout": default 60 seconds; send at least
# 1 byte before each idle period elapses.
_ALB_IDLE = Timeout(
    name="alb-idle",
    seconds=60.0,
    kind="idle",
    product="AWS Application Load Balancer",
    setting="idle_timeout.timeout_seconds (load balancer attribute)",
    resets_on="any byte sent or received on the connection (TCP keep-alives do not count)",
    on_expiry="the load balancer closes the client and target connections, no close frame "
    "(FIN or RST not documented)",
    expiry="unknown",
    advice="Raise the ALB attribute idle_timeout.timeout_seconds (1-4000 s) or send pings more "
    "often than every 60 s.",
    source=_SRC_ALB,
)

# Classic Load Balancer guide: 60-second idle connection timeout for front-end
# and back-end connections by default.
_ELB_IDLE = Timeout(
    name="elb-idle",
    seconds=60.0,
    kind="idle",
    product="AWS Classic Load Balancer",
    setting="ConnectionSettings.IdleTimeout",
    resets_on="any byte sent or received on the connection (TCP keep-alives do not count)",
    on_expiry="the load balancer closes the front-end and back-end connections, no close frame "
    "(FIN or RST not documented)",
    expiry="unknown",
    advice="Raise the Classic Load Balancer's idle timeout (ConnectionSettings.IdleTimeout, "
    "1-3600 s) or send pings more often than every 60 s.",
    source=_SRC_ELB,
)

# NLB guide, "Update the TCP idle timeout": default 350 seconds for TCP flows
# (fixed at 350 s for TLS listeners); after it a client or target that sends
# data receives a TCP RST.
_NLB_IDLE = Timeout(
    name="nlb-tcp-idle",
    seconds=350.0,
    kind="idle",
    product="AWS Network Load Balancer",
    setting="tcp.idle_timeout.seconds (TCP listener attribute; TLS listeners: fixed 350 s)",
    resets_on="any data in either direction (TCP keep-alives count: they carry a segment "
    "through the flow)",
    on_expiry="silent: nothing is sent at expiry; the next packet from either side is "
    "answered with RST",
    expiry="silent-rst-next",
    advice="Raise the listener attribute tcp.idle_timeout.seconds (60-6000 s) or send pings "
    "or TCP keep-alives more often than every 350 s.",
    source=_SRC_NLB,
)

# Azure Load Balancer "TCP Reset and Idle Timeout": default idle timeout 4
# minutes; the default behaviour silently drops the flow; with TCP reset
# enabled it sends bidirectional RSTs at expiry.
_AZURE_LB_IDLE = Timeout(
    name="azure-lb-idle",
    seconds=240.0,
    kind="idle",
    product="Azure Load Balancer",
    setting="idleTimeoutInMinutes (on the load-balancing / inbound NAT / outbound rule; "
    "TCP reset disabled)",
    resets_on="any packet of the flow in either direction (TCP keep-alives count)",
    on_expiry="silent drop: nothing is sent at expiry; later packets of the flow are dropped "
    "and the peers find out by retransmission timeout",
    expiry="silent-drop",
    advice="Raise the rule's idle timeout (4-100 min), enable TCP reset so both sides learn "
    "of it, or send pings or TCP keep-alives more often than every 240 s.",
    source=_SRC_AZURE_LB,
)
_AZURE_LB_IDLE_RST = replace(
    _AZURE_LB_IDLE,
    name="azure-lb-idle-rst",
    setting="idleTimeoutInMinutes (on the rule, with enableTcpReset true)",
    on_expiry="RST to both the client and the backend at expiry, no close frame",
    expiry="rst-both",
    advice="Raise the rule's idle timeout (4-100 min) or send pings or TCP keep-alives more "
    "often than every 240 s.",
)

# Azure Front Door (Standard/Premium) WebSocket: idle timeout 5 minutes with no
# data from origin or client; connections stay open at most 4 hours.
_AFD_IDLE = Timeout(
    name="afd-ws-idle",
    seconds=300.0,
    kind="idle",
    product="Azure Front Door",
    setting="WebSocket idle timeout (fixed)",
    resets_on="any data from the client or the origin",
    on_expiry="Front Door closes the connection, no close frame documented",
    expiry="unknown",
    advice="The idle timeout is fixed: send pings more often than every 300 s.",
    source=_SRC_AFD,
)
_AFD_MAX = Timeout(
    name="afd-ws-max",
    seconds=14400.0,
    kind="lifetime",
    product="Azure Front Door",
    setting="WebSocket maximum connection time (fixed, 4 h; maintenance can end it sooner)",
    resets_on="nothing: counts from the connection's start",
    on_expiry="Front Door closes the connection, no close frame documented",
    expiry="unknown",
    advice="Reconnect before 4 hours (clients must reconnect anyway).",
    source=_SRC_AFD,
)

# Heroku HTTP routing, Timeouts: after the initial response each byte sent or
# received restarts a rolling 55-second window.
_HEROKU_IDLE = Timeout(
    name="heroku-idle",
    seconds=55.0,
    kind="idle",
    product="Heroku router",
    setting="rolling 55-second window (fixed, logged as H15)",
    resets_on="any byte from the client or the app",
    on_expiry="the router terminates the connection, no close frame; router log H15 "
    "(idle connection)",
    expiry="unknown",
    advice="The window is fixed: send pings more often than every 55 s.",
    source=_SRC_HEROKU,
)

# Cloudflare connection limits, between Cloudflare and the origin: Proxy Read
# Timeout 120 s (configurable on Enterprise). Older Cloudflare answers and
# guides give 100 s for WebSockets; the current reference table says 120.
_CLOUDFLARE_READ = Timeout(
    name="cloudflare-read",
    seconds=120.0,
    kind="idle",
    product="Cloudflare proxy",
    setting="Proxy Read Timeout (Enterprise plans can change it; formerly documented as 100 s)",
    resets_on="data from the origin (the timer waits between two reads from the origin)",
    on_expiry="Cloudflare closes the connection, no close frame documented",
    expiry="unknown",
    advice="Have the server (origin) send pings more often than every 100 s (the older "
    "documented value, to be safe).",
    source=_SRC_CLOUDFLARE,
)

# GCP external Application Load Balancer, backend service timeout: default 30 s;
# for WebSocket it is the maximum time the connection may stay open, idle or not.
_GCP_BACKEND = Timeout(
    name="gcp-backend",
    seconds=30.0,
    kind="lifetime",
    product="Google Cloud external Application Load Balancer",
    setting="backend service timeoutSec (GKE: BackendConfig spec.timeoutSec)",
    resets_on="nothing: for WebSocket it caps the connection's age, idle or not",
    on_expiry="the load balancer closes the connection at a fixed age, no close frame documented",
    expiry="unknown",
    advice="Raise the backend service timeout (gcloud compute backend-services update "
    "--timeout=3600, or BackendConfig spec.timeoutSec) above the longest session.",
    source=_SRC_GCP_LB,
)

# Cloud Run: WebSocket streams are HTTP requests subject to the request timeout
# (default 5 minutes, maximum 60 minutes).
_CLOUD_RUN = Timeout(
    name="cloud-run-request",
    seconds=300.0,
    kind="lifetime",
    product="Google Cloud Run",
    setting="request timeout (--timeout on the service)",
    resets_on="nothing: caps the request's (the WebSocket's) age, idle or not",
    on_expiry="Cloud Run ends the request at a fixed age, no close frame documented",
    expiry="unknown",
    advice="Raise the service's request timeout (gcloud run services update --timeout=3600, "
    "at most 60 min) and make clients reconnect.",
    source=_SRC_CLOUD_RUN,
)

# API Gateway WebSocket API quotas: idle connection timeout 10 minutes,
# connection duration 2 hours; neither can be increased.
_APIGW_IDLE = Timeout(
    name="apigw-ws-idle",
    seconds=600.0,
    kind="idle",
    product="Amazon API Gateway (WebSocket API)",
    setting="Idle Connection Timeout (fixed quota)",
    resets_on="any message in either direction",
    on_expiry="API Gateway closes the connection (close frame not documented)",
    expiry="unknown",
    advice="The quota is fixed: send pings or messages more often than every 600 s.",
    source=_SRC_APIGW,
)
_APIGW_MAX = Timeout(
    name="apigw-ws-max",
    seconds=7200.0,
    kind="lifetime",
    product="Amazon API Gateway (WebSocket API)",
    setting="Connection duration for WebSocket API (fixed quota)",
    resets_on="nothing: counts from the connection's start",
    on_expiry="API Gateway closes the connection at 2 h (close frame not documented)",
    expiry="unknown",
    advice="The quota is fixed: reconnect before 2 hours.",
    source=_SRC_APIGW,
)

# kube-proxy reference: --ipvs-tcp-timeout "The timeout for idle IPVS TCP
# connections, 0 to leave as-is"; left as-is, the kernel's IPVS established-TCP
# timeout is 900 s (ipvsadm -L --timeout: 900 120 300).
_IPVS_TCP = Timeout(
    name="ipvs-tcp",
    seconds=900.0,
    kind="idle",
    product="kube-proxy (IPVS mode)",
    setting="--ipvs-tcp-timeout / ipvs.tcpTimeout (default 0 = keep the kernel's 900 s)",
    resets_on="any packet of the connection in either direction (TCP keep-alives count)",
    on_expiry="silent: the IPVS entry is forgotten; the next packet is not forwarded and "
    "is usually answered with RST from the node",
    expiry="silent-rst-next",
    advice="Send pings or TCP keep-alives more often than every 900 s, or raise kube-proxy's "
    "ipvs.tcpTimeout.",
    source=_SRC_KUBE_PROXY,
)

#: Profile name -> its timeouts, in the order ``wscap profiles`` lists them.
PROFILES: dict[str, tuple[Timeout, ...]] = {
    "nginx": (_NGINX_READ, _NGINX_SEND),
    "ingress-nginx": (_INGRESS_READ, _INGRESS_SEND),
    "haproxy": (_HAPROXY_TUNNEL,),
    "envoy": (_ENVOY_STREAM_IDLE,),
    "aws-alb": (_ALB_IDLE,),
    "aws-elb": (_ELB_IDLE,),
    "aws-nlb": (_NLB_IDLE,),
    "azure-lb": (_AZURE_LB_IDLE,),
    "azure-lb-tcp-reset": (_AZURE_LB_IDLE_RST,),
    "azure-front-door": (_AFD_IDLE, _AFD_MAX),
    "heroku": (_HEROKU_IDLE,),
    "cloudflare": (_CLOUDFLARE_READ,),
    "gcp-lb": (_GCP_BACKEND,),
    "cloud-run": (_CLOUD_RUN,),
    "aws-apigw-websocket": (_APIGW_IDLE, _APIGW_MAX),
    "kube-proxy-ipvs": (_IPVS_TCP,),
}


def profile(name: str) -> tuple[Timeout, ...]:
    """Return the timeouts of profile *name* (case-insensitive).

    Raises:
        ValueError: ``unknown profile 'x'; known: a, b, ...`` for a name not in PROFILES.
    """
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[key]


def all_timeouts() -> tuple[Timeout, ...]:
    """Every profile entry once, in ``PROFILES`` order."""
    seen: dict[str, Timeout] = {}
    for entries in PROFILES.values():
        for t in entries:
            seen.setdefault(t.name, t)
    return tuple(seen.values())


def find_timeout(name: str) -> Timeout | None:
    """The profile entry that *name* designates, or None.

    *name* may be an entry name (``nginx-read``), a profile with a single entry
    (``aws-alb``), or a prefix naming exactly one entry (``alb`` -> ``alb-idle``).
    """
    key = name.strip().lower()
    entries = all_timeouts()
    for t in entries:
        if t.name == key:
            return t
    if key in PROFILES and len(PROFILES[key]) == 1:
        return PROFILES[key][0]
    prefixed = [t for t in entries if t.name.startswith(key + "-")]
    if len(prefixed) == 1:
        return prefixed[0]
    return None


_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_VALUE_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[smh]?)$", re.IGNORECASE)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


def _parse_seconds(text: str, original: str) -> float:
    m = _VALUE_RE.match(text.strip())
    if not m:
        raise ValueError(
            f"--timeout {original!r}: {text.strip()!r} is not a duration "
            "(seconds, or a number with s, m or h, e.g. 60, 1.5, 90s, 5m, 1h)"
        )
    seconds = float(m.group("num")) * _UNITS[m.group("unit").lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"--timeout {original!r}: the duration must be greater than zero")
    return seconds


def parse_timeout_option(value: str) -> Timeout:
    """Parse one ``--timeout`` value: ``SECONDS`` or ``NAME=SECONDS``.

    SECONDS is a positive number, optionally followed by ``s``, ``m`` or ``h``
    (``60``, ``1.5``, ``90s``, ``5m``, ``1h``). Without a name the timeout is
    called ``timeout``. A NAME that designates a profile entry (``nginx-read``,
    ``aws-alb``, ``alb``; see :func:`find_timeout`) keeps that entry's kind,
    wire pattern and advice with the new value; any other name gives a generic
    idle timeout whose expiry is ``unknown``. The result has origin ``option``.

    Raises:
        ValueError: one line naming the bad value, for an empty value, an empty
            or malformed name, or a duration that is not a positive number with
            an optional s/m/h unit.
    """
    original = value
    text = value.strip()
    if not text:
        raise ValueError("--timeout '': expected SECONDS or NAME=SECONDS (e.g. 60, nginx-read=60)")
    if "=" in text:
        name, _, amount = text.partition("=")
        name = name.strip()
        if not name or not _NAME_RE.match(name):
            raise ValueError(
                f"--timeout {original!r}: the name must be letters, digits and . _ : / - "
                "(e.g. nginx-read=60)"
            )
    else:
        name, amount = "timeout", text
    seconds = _parse_seconds(amount, original)
    shown = f"{seconds:g} s"
    base = find_timeout(name) if name != "timeout" else None
    if base is not None:
        return replace(
            base,
            name=name,
            seconds=seconds,
            setting=f"{base.setting} (set to {shown} by --timeout)",
            advice=_retime_advice(base, seconds),
            origin="option",
        )
    return Timeout(
        name=name,
        seconds=seconds,
        kind="idle",
        product="configured timeout",
        setting=f"{name} (--timeout {text})",
        resets_on="assumed: any byte in either direction",
        on_expiry="not known: the close is matched on timing only",
        expiry="unknown",
        advice=f"Raise the timeout behind '{name}' or send pings more often than every {shown}.",
        source="",
        origin="option",
    )


def _retime_advice(base: Timeout, seconds: float) -> str:
    """The base entry's advice with its default value replaced by *seconds*."""
    old = f"every {base.seconds:g} s"
    if old in base.advice:
        return base.advice.replace(old, f"every {seconds:g} s")
    return base.advice


def format_profiles() -> str:
    """The text ``wscap profiles`` prints: one table per profile, then the sources.

    Columns: name, seconds, kind, on expiry, product / setting (last, so that
    long settings are never cut).
    """
    headers = ("name", "seconds", "kind", "on expiry", "product / setting")
    rows: list[tuple[str, ...]] = [
        ("  " + t.name, f"{t.seconds:g}", t.kind, t.expiry, f"{t.product}: {t.setting}")
        for entries in PROFILES.values()
        for t in entries
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers[:4])]

    def fmt(r: tuple[str, ...]) -> str:
        return "  ".join(
            [
                r[0].ljust(widths[0]),
                r[1].rjust(widths[1]),
                r[2].ljust(widths[2]),
                r[3].ljust(widths[3]),
                r[4],
            ]
        ).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths) + "  " + "-" * len(headers[4])]
    for pname, entries in PROFILES.items():
        lines.append(f"[{pname}]")
        for t in entries:
            lines.append(
                fmt(
                    ("  " + t.name, f"{t.seconds:g}", t.kind, t.expiry, f"{t.product}: {t.setting}")
                )
            )
    lines += [
        "",
        "kind: idle = reset by traffic; lifetime = caps the connection's age, idle or not.",
        "on expiry: " + ", ".join(EXPIRY_PATTERNS) + ".",
        "",
        "Sources:",
    ]
    lines += [f"  {t.name}: {t.source}" for t in all_timeouts()]
    return "\n".join(lines) + "\n"
