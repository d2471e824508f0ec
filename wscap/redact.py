"""Keeping secrets out of what wscap shows.

Cookies, credentials and tokens travel in WebSocket handshakes (headers,
query strings, even ``Sec-WebSocket-Protocol``).  By default the model
keeps them as ``<redacted N bytes>`` so no output can leak them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-xsrf-token",
        "sec-websocket-key",  # not secret, but kept: needed to check Accept
    }
) - {"sec-websocket-key"}

_SECRET_PARAM = re.compile(
    r"(token|auth|key|secret|password|passwd|pwd|session|sid|signature|sig|jwt|credential|ticket"
    r"|code|bearer)",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def mark(value: str) -> str:
    return f"<redacted {len(value.encode('utf-8', 'replace'))} bytes>"


def redact_header(name: str, value: str) -> str:
    """The value to show for header ``name``."""
    if name.lower() in SECRET_HEADERS:
        return mark(value)
    if name.lower() == "sec-websocket-protocol":
        return redact_tokens(value)
    if "?" in value or "@" in value:  # Referer, Location, X-Original-URI, ...
        value = redact_uri(value)
    return _JWT.sub(lambda m: mark(m.group(0)), value)


def redact_tokens(value: str) -> str:
    """Redact bearer tokens and JWTs inside a comma-separated list."""
    out = []
    for item in value.split(","):
        s = item.strip()
        low = s.lower()
        if _JWT.search(s):
            s = _JWT.sub(lambda m: mark(m.group(0)), s)
        elif low.startswith(("authorization.bearer.", "bearer.", "base64url.bearer.")):
            prefix, _, tok = s.rpartition(".")
            s = f"{prefix}.{mark(tok)}"
        out.append(s)
    return ", ".join(out)


def redact_uri(uri: str) -> str:
    """Redact query parameters whose names suggest a secret, and userinfo."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{mark(userinfo)}@{hostport}"
    query = parts.query
    if query:
        items = []
        for item in query.split("&"):
            k, eq, v = item.partition("=")
            if eq and v and _SECRET_PARAM.search(k):
                item = f"{k}={mark(v)}"
            items.append(item)
        query = "&".join(items)
    path = _JWT.sub(lambda m: mark(m.group(0)), parts.path)
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))
