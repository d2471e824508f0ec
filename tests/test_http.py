"""HTTP/1.x up to the Upgrade, on its own."""

from __future__ import annotations

from wscap.http import HttpError, HttpStream, Request, Response, Switched, parse_head

UPGRADE = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
    b"Connection: keep-alive\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def feed_all(stream: HttpStream, data: bytes, step: int) -> list[object]:
    out: list[object] = []
    for i in range(0, len(data), step):
        out += stream.feed(data[i : i + step], i)
    return out


def test_keep_alive_requests_before_the_upgrade():
    data = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n0\r\nX: y\r\n\r\n"
        + UPGRADE
        + b"\x81\x85"  # the first frame, held until the answer comes
    )
    for step in (1, 7, len(data)):
        s = HttpStream(is_request=True)
        events = feed_all(s, data, step)
        reqs = [e for e in events if isinstance(e, Request)]
        assert [r.target for r in reqs] == ["/a", "/b", "/c", "/chat?room=1"]
        assert [r.is_upgrade for r in reqs] == [False, False, False, True]
        held, _ = s.release(True, 0)
        assert b"".join(x for x in held if isinstance(x, bytes)) == b"\x81\x85"


def test_headers_case_insensitive_and_repeated():
    s = HttpStream(is_request=True)
    (req,) = s.feed(UPGRADE, 0)
    assert req.get("HOST") == "example.com"
    assert req.tokens("connection") == ["keep-alive", "upgrade"]
    assert req.joined("Connection") == "keep-alive, Upgrade"


def test_response_101_and_first_frames_in_one_segment():
    s = HttpStream(is_request=False)
    resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi"
    events = s.feed(resp, 5)
    assert isinstance(events[0], Response) and events[0].status == 101
    assert isinstance(events[1], Switched) and events[1].rest == b"\x81\x02hi"


def test_rejection_keeps_body_snippet_and_follows_keep_alive():
    s = HttpStream(is_request=False)
    s.expect(Request(0, "GET", "/ws", "HTTP/1.1", []))
    s.expect(Request(0, "GET", "/x", "HTTP/1.1", []))
    body = b"Upgrade Required" * 40
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: %d\r\n\r\n"
        % len(body)
        + body
        + b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    events = feed_all(s, data, 13)
    resps = [e for e in events if isinstance(e, Response)]
    assert [r.status for r in resps] == [100, 426, 204]
    assert resps[1].body == body[:256] and resps[1].body_len == len(body)


def test_head_response_has_no_body():
    s = HttpStream(is_request=False)
    s.expect(Request(0, "HEAD", "/", "HTTP/1.1", []))
    events = s.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 0)
    assert [e.status for e in events if isinstance(e, Response)] == [200, 200]


def test_not_http_is_an_error_event():
    s = HttpStream(is_request=True)
    (ev,) = s.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0)
    assert isinstance(ev, HttpError)


def test_obs_fold_and_bare_lf():
    start, headers = parse_head(b"GET / HTTP/1.0\nX-Long: a\n  b\nHost: h")
    assert start == "GET / HTTP/1.0"
    assert headers == [("X-Long", "a b"), ("Host", "h")]


def test_gap_in_held_upgrade_bytes_is_kept_in_order():
    s = HttpStream(is_request=True)
    s.feed(UPGRADE + b"ab", 0)
    assert s.gap(10, 1) == []
    s.feed(b"cd", 2)
    held, _ = s.release(True, 3)
    assert held == [b"ab", 10, b"cd"]
