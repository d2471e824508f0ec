"""Keeping secrets out of what wscap shows.

Cookies, credentials and tokens travel in WebSocket handshakes (headers,
query strings, even ``Sec-WebSocket-Protocol``) and in error bodies.  By
default the model keeps them as ``<redacted N bytes>``, so no output can
leak them; ``--show-secrets`` keeps them.

What counts as a secret: the values of credential headers and of any
header or query parameter whose name says token/auth/key/secret/session
(and the like); ``Bearer``/``Basic`` credentials and JWTs anywhere; token
lookalikes (16+ characters of base64/hex mixing letters and digits, or
8+ under a one- or two-letter name such as ``?t=``) in query strings;
in ``Sec-WebSocket-Protocol``, bearer items and the item that follows an
``access_token``-like marker.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
# Header names that match the secret pattern but are not secrets.
PUBLIC_HEADERS = frozenset(
    {
        "sec-websocket-key",  # kept: needed to check the Accept value
        "sec-websocket-accept",
        "sec-websocket-protocol",  # redacted item by item
        "sec-websocket-extensions",
        "sec-websocket-version",
        "keep-alive",
    }
)

_SECRET_NAME = re.compile(
    r"(token|auth|key|secret|password|passwd|pwd|session|sid|signature|sig|jwt|credential"
    r"|ticket|code|bearer|cookie)",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_CREDENTIAL = re.compile(r"\b([Bb]earer|BEARER|[Bb]asic|Digest|Negotiate)\s+([^\s,;\"'<]+)")
_TOKENLIKE = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/=_%.-]{16,}$")
_SHORT_TOKENLIKE = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/=_%.-]{8,}$")
_PROTOCOL_MARKERS = frozenset({"access_token", "token", "authorization", "bearer", "auth"})


def mark(value: str) -> str:
    return f"<redacted {len(value.encode('utf-8', 'replace'))} bytes>"


def redact_text(text: str) -> str:
    """JWTs and ``Bearer``/``Basic`` credentials inside free text."""
    text = _JWT.sub(lambda m: mark(m.group(0)), text)
    return _CREDENTIAL.sub(
        lambda m: f"{m.group(1)} {mark(m.group(0)[len(m.group(1)) + 1 :])}", text
    )


def redact_header(name: str, value: str) -> str:
    """The value to show for header ``name``."""
    low = name.lower()
    if low in SECRET_HEADERS or (low not in PUBLIC_HEADERS and _SECRET_NAME.search(low)):
        return mark(value)
    if low == "sec-websocket-protocol":
        return redact_tokens(value)
    if "?" in value or "@" in value:  # Referer, Location, X-Original-URI, ...
        value = redact_uri(value)
    return redact_text(value)


def redact_tokens(value: str) -> str:
    """Redact credentials inside a comma-separated subprotocol list."""
    out = []
    after_marker = False
    for item in value.split(","):
        s = item.strip()
        low = s.lower()
        if after_marker:
            s = mark(s)
        elif _JWT.search(s):
            s = _JWT.sub(lambda m: mark(m.group(0)), s)
        elif ".bearer." in low or low.startswith("bearer."):
            prefix, _, tok = s.rpartition(".")
            s = f"{prefix}.{mark(tok)}"
        after_marker = low in _PROTOCOL_MARKERS
        out.append(s)
    return ", ".join(out)


def redact_uri(uri: str) -> str:
    """Redact userinfo, secret-named or token-like query values, JWTs."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return redact_text(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{mark(userinfo)}@{hostport}"
    query = parts.query
    if query:
        items = []
        for item in query.split("&"):
            k, eq, v = item.partition("=")
            if (
                eq
                and v
                and (
                    _SECRET_NAME.search(k)
                    or _TOKENLIKE.match(v)
                    or _JWT.search(v)
                    or (len(k) <= 2 and _SHORT_TOKENLIKE.match(v))  # ?t=..., ?k=...
                )
            ):
                item = f"{k}={mark(v)}"
            items.append(item)
        query = "&".join(items)
    path = _JWT.sub(lambda m: mark(m.group(0)), parts.path)
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))
