"""What counts as a secret in what wscap shows."""

from __future__ import annotations

import pytest

from wscap.redact import redact_header, redact_text, redact_tokens, redact_uri

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", "Bearer abc"),
        ("Cookie", "session=xyz"),
        ("X-Forwarded-Authorization", "Bearer abc"),
        ("X-Amz-Security-Token", "FQoGZXIvYXdzEJr"),
        ("Api-Token", "abc123"),
        ("X-Session-Id", "s-42"),
    ],
)
def test_secret_headers(name, value):
    assert redact_header(name, value) == f"<redacted {len(value)} bytes>"


def test_public_headers_and_credentials_inside_values():
    assert redact_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") == (
        "dGhlIHNhbXBsZSBub25jZQ=="
    )
    assert redact_header("Host", "example.com") == "example.com"
    assert redact_header("X-Custom", "Bearer s3cr3t") == "Bearer <redacted 6 bytes>"
    assert JWT not in redact_header("X-Note", f"token is {JWT}")
    assert redact_header("Referer", "https://a.example/p?token=zz&x=1") == (
        "https://a.example/p?token=<redacted 2 bytes>&x=1"
    )


def test_query_strings():
    out = redact_uri(f"/ws?state={JWT}&t=opaque123&room=lobby&apikey=k&id=42&v=2")
    assert JWT not in out and "opaque123" not in out
    assert "room=lobby" in out and "id=42" in out and "v=2" in out
    assert "apikey=<redacted 1 bytes>" in out
    assert redact_uri("wss://user:pw@h/x") == "wss://<redacted 7 bytes>@h/x"
    # 16+ characters mixing letters and digits look like a token whatever the name
    assert "a1b2c3d4e5f6g7h8" not in redact_uri("/ws?x=a1b2c3d4e5f6g7h8")


def test_subprotocol_lists():
    assert redact_tokens("v1, authorization.bearer.SECRETSECRET") == (
        "v1, authorization.bearer.<redacted 12 bytes>"
    )
    assert redact_tokens("access_token, opaqueSECRET, chat") == (
        "access_token, <redacted 12 bytes>, chat"
    )
    k8s = "base64url.bearer.authorization.k8s.io.ZXlKaGJH"
    assert "ZXlKaGJH" not in redact_tokens(f"v4.channel.k8s.io, {k8s}")


def test_free_text():
    assert redact_text(f"invalid token {JWT}: Basic dXNlcjpwdw==") == (
        "invalid token <redacted 49 bytes>: Basic <redacted 12 bytes>"
    )
