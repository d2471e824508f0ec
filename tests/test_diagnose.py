"""The diagnosis on conversations with known timing: each test builds the
exact silence, close or heartbeat pattern a cause leaves on the wire and
checks the finding code, the connection and the timeout it names."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers_packets import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    build_pcap,
    close_payload,
    tcp_packet,
    upgrade_request,
    upgrade_response,
    ws_frame,
)

import wscap
from wscap.profiles import parse_timeout_option

T0 = 1_700_000_000 * 10**9
MASK = b"\x01\x02\x03\x04"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


class Conv:
    """One TCP connection written event by event, at given times (seconds)."""

    def __init__(self, client=("10.0.0.1", 50000), server=("10.0.0.2", 80)) -> None:
        self.addr = {"c": (client, server), "s": (server, client)}
        self.seq = {"c": 1000, "s": 5000}
        self.packets: list[tuple[int, bytes]] = []

    def _emit(self, t: float, side: str, flags: int, payload: bytes = b"") -> None:
        other = "s" if side == "c" else "c"
        src, dst = self.addr[side]
        ack = self.seq[other] if flags & ACK else 0
        self.packets.append(
            (T0 + round(t * 1e9), tcp_packet(src, dst, self.seq[side], ack, flags, payload))
        )
        self.seq[side] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def connect(self, t: float) -> Conv:
        self._emit(t, "c", SYN)
        self._emit(t + 0.0001, "s", SYN | ACK)
        self._emit(t + 0.0002, "c", ACK)
        return self

    def send(self, t: float, side: str, data: bytes) -> Conv:
        self._emit(t, side, PSH | ACK, data)
        self._emit(t + 0.0001, "s" if side == "c" else "c", ACK)
        return self

    def upgrade(self, t: float, request: bytes | None = None, response: bytes | None = None):
        self.send(t, "c", request or upgrade_request(key=KEY))
        return self.send(t + 0.001, "s", response or upgrade_response(key=KEY))

    def frame(self, t: float, side: str, opcode: int, payload: bytes = b"") -> Conv:
        return self.send(t, side, ws_frame(opcode, payload, mask=MASK if side == "c" else None))

    def fin(self, t: float, side: str) -> Conv:
        other = "s" if side == "c" else "c"
        self._emit(t, side, FIN | ACK)
        self._emit(t + 0.0001, other, FIN | ACK)
        self._emit(t + 0.0002, side, ACK)
        return self

    def rst(self, t: float, side: str) -> Conv:
        self._emit(t, side, RST | ACK)
        return self


def analyse(tmp_path, *convs: Conv, timeouts=()) -> wscap.Analysis:
    packets = sorted(p for c in convs for p in c.packets)
    path = tmp_path / "x.pcap"
    path.write_bytes(build_pcap(packets))
    return wscap.load(path, timeouts=[parse_timeout_option(t) for t in timeouts])


def codes(a: wscap.Analysis, severities=("error", "warning")) -> list[str]:
    return [f.code for f in a.diagnose() if f.severity in severities]


def one(a: wscap.Analysis, code: str):
    found = [f for f in a.diagnose() if f.code == code]
    assert len(found) == 1, [f"{f.code}: {f.summary}" for f in a.diagnose()]
    return found[0]


def test_nginx_default_read_timeout_is_recognised_unconfigured(tmp_path):
    """60 s of silence, then the server side sends FIN with no close frame."""
    c = Conv().connect(0).upgrade(0.01)
    c.frame(1, "c", 1, b"hello").frame(1.01, "s", 1, b"world")
    c.fin(61.0, "s")
    a = analyse(tmp_path, c)
    f = one(a, "idle-timeout-close")
    assert f.severity == "error" and f.conn_ids == [1]
    assert f.evidence["timeout"] == "nginx-read" and f.evidence["timeout_s"] == 60
    assert f.evidence["measured_s"] == pytest.approx(59.99, abs=0.01)
    assert "closed by the server side (FIN) 60.0 s after the last data" in f.summary
    assert "1006" in f.summary and "proxy_read_timeout 60 s (nginx, default)" in f.summary
    assert "proxy-read-timeout" in f.summary  # ingress-nginx has the same default
    assert "abnormal-closure" not in codes(a)
    assert "heartbeat-missing" in codes(a)


def test_configured_timeout_wins_and_unmatched_silence_is_abnormal(tmp_path):
    c = Conv().connect(0).upgrade(0.01).frame(1, "c", 1, b"x")
    c.fin(1 + 42.0, "s")
    a = analyse(tmp_path, c, timeouts=["lb=42"])
    f = one(a, "idle-timeout-close")
    assert f.evidence["timeout"] == "lb" and f.evidence["timeout_origin"] == "option"
    b = analyse(tmp_path, c, timeouts=[])  # 42 s matches no documented default
    f = one(b, "abnormal-closure")
    assert "no known timeout matches" in f.summary and "42.0 s" in f.summary


def test_lifetime_cap(tmp_path):
    """Traffic every 5 s, closed at the age of 30 s: GCP's backend timeout."""
    c = Conv().connect(0).upgrade(0.001)
    for i in range(1, 6):
        c.frame(i * 5.0, "c", 1, b"tick").frame(i * 5.0 + 0.01, "s", 1, b"tock")
    c.fin(30.0, "s")
    a = analyse(tmp_path, c)
    f = one(a, "lifetime-cap-close")
    assert f.evidence["timeout"] == "gcp-backend"
    assert f.evidence["measured_s"] == pytest.approx(30.0, abs=0.01)


def test_heartbeat_too_slow(tmp_path):
    c = Conv().connect(0).upgrade(0.01)
    for i in range(4):
        t = 1 + 90.0 * i
        c.frame(t, "c", 9, b"p%d" % i).frame(t + 0.002, "s", 10, b"p%d" % i)
    c.frame(300, "c", 8, close_payload(1000)).frame(300.01, "s", 8, close_payload(1000))
    c.fin(300.02, "s")
    a = analyse(tmp_path, c, timeouts=["nginx-read=60"])
    f = one(a, "heartbeat-too-slow")
    assert f.evidence["interval_s"] == pytest.approx(90.0, abs=0.01)
    assert f.evidence["timeout"] == "nginx-read"
    hb = a.heartbeats
    assert list(hb["kind"]) == ["ws-ping"] * 4
    assert hb["rtt_s"].tolist() == pytest.approx([0.002] * 4, abs=1e-6)
    # 90 s silences longer than the configured 60 s without a close: not on this path
    assert one(a, "idle-gap-exceeds-timeout").evidence["timeout_s"] == 60


def test_healthy_connection_has_no_error_or_warning(tmp_path):
    c = Conv().connect(0).upgrade(0.01)
    for i in range(10):
        t = 1 + 20.0 * i
        c.frame(t, "s", 9, b"k").frame(t + 0.001, "c", 10, b"k")
        c.frame(t + 5, "c", 1, b'{"op":"data"}')
    c.frame(210, "c", 8, close_payload(1000)).frame(210.001, "s", 8, close_payload(1000))
    c.fin(210.002, "s")
    a = analyse(tmp_path, c, timeouts=["nginx-read=60"])
    assert codes(a) == []
    assert a.connections.loc[0, "first_close"] == "client"


def test_client_reset_and_close_not_answered(tmp_path):
    c = Conv().connect(0).upgrade(0.01)
    c.frame(1, "s", 8, close_payload(1011, b"boom"))
    c.rst(1.2, "c")
    a = analyse(tmp_path, c)
    assert one(a, "close-code").evidence["code"] == 1011
    f = one(a, "close-not-answered")
    assert "server sent a close frame (1011)" in f.summary
    assert a.connections.loc[0, "tcp_end"] == "rst-client"


def test_ping_unanswered_then_1011(tmp_path):
    c = Conv().connect(0).upgrade(0.01)
    c.frame(20, "c", 9, b"a").frame(20.001, "s", 10, b"a")
    c.frame(40, "c", 9, b"b")  # never answered
    c.frame(60, "c", 8, close_payload(1011, b"keepalive ping timeout"))
    c.fin(60.01, "c")
    a = analyse(tmp_path, c)
    f = one(a, "ping-unanswered")
    assert f.evidence == {"unanswered": 1, "pings": 2, "first_unanswered": T0 + 40 * 10**9 + 0}
    assert "keepalive ping timeout" in f.summary  # the close is folded in
    assert "close-code" not in codes(a)


def test_proxy_dropped_upgrade_headers_on_a_two_leg_capture(tmp_path):
    front = Conv(("10.0.0.1", 40000), ("10.0.0.9", 80)).connect(0)
    back = Conv(("10.0.0.9", 51000), ("10.0.0.20", 8080)).connect(0.002)
    front.send(0.01, "c", upgrade_request(uri="/chat", key=KEY))
    stripped = (
        f"GET /chat HTTP/1.1\r\nHost: backend\r\nSec-WebSocket-Key: {KEY}\r\n"
        "Sec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n"
    ).encode()
    back.send(0.011, "c", stripped)
    body = b"Upgrade Required"
    answer = b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 16\r\n\r\n" + body
    back.send(0.012, "s", answer)
    front.send(0.013, "s", answer)
    back.fin(0.02, "s")
    front.fin(0.03, "c")
    a = analyse(tmp_path, front, back)
    f = one(a, "upgrade-headers-missing")
    assert f.conn_ids == [1, 2]
    assert "the proxy at 10.0.0.9" in f.summary and "did not pass them" in f.summary
    r = one(a, "handshake-rejected")
    assert r.conn_ids == [2, 1] and "relayed it to the client (conn 1)" in r.summary
    assert a.handshakes["upgrade"].isna().tolist() == [False, True]


def test_fail_on_sets_exit_status(tmp_path):
    c = Conv().connect(0).upgrade(0.01).frame(1, "c", 1, b"x").rst(2, "s")
    path = tmp_path / "rst.pcap"
    path.write_bytes(build_pcap(c.packets))

    def status(*args: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "wscap", "analyze", str(path), *args],
            capture_output=True,
            check=False,
        ).returncode

    assert status() == 0
    assert status("--fail-on", "error") == 1
    assert status("--fail-on", "warning") == 1
    h = tmp_path / "ok.pcap"
    ok = Conv().connect(0).upgrade(0.01)
    ok.frame(1, "c", 8, close_payload(1000)).frame(1.001, "s", 8, close_payload(1000))
    h.write_bytes(build_pcap(ok.fin(1.002, "s").packets))
    assert (
        subprocess.run(
            [sys.executable, "-m", "wscap", "analyze", str(h), "--fail-on", "warning"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def test_findings_dataframe_and_json(tmp_path):
    c = Conv().connect(0).upgrade(0.01).frame(1, "c", 1, b"x").fin(61.0, "s")
    a = analyse(tmp_path, c)
    df = a.findings
    assert list(df.columns[:4]) == ["code", "severity", "conn_id", "conn_ids"]
    assert str(df["severity"].dtype) == "category"
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    d = a.to_dict(frames=False)
    assert d["findings"][0]["code"] == "idle-timeout-close"
    assert d["findings"][0]["evidence"]["timeout"] == "nginx-read"


def test_unanswered_upgrade_then_fin_is_an_error(tmp_path):
    c = Conv().connect(0).send(0.01, "c", upgrade_request(key=KEY)).fin(5.01, "s")
    f = one(analyse(tmp_path, c), "handshake-unanswered")
    assert f.severity == "error" and "in 5.0 s, then TCP ended (fin-server)" in f.summary


def test_many_alike_findings_are_summed_up_in_the_text(tmp_path):
    from wscap.render import render_text

    convs = [
        Conv(("10.0.0.1", 40000 + i)).connect(i).upgrade(i + 0.01).rst(i + 0.5, "s")
        for i in range(6)
    ]
    a = analyse(tmp_path, *convs)
    assert [f.code for f in a.diagnose()].count("tcp-reset") == 6
    lines = [ln for ln in render_text(a).splitlines() if ln.startswith("WARN  tcp-reset")]
    assert len(lines) == 4
    assert lines[-1] == "WARN  tcp-reset: … and 3 more like these (conn 4, 5, 6)"


def test_wire_pattern_is_checked_against_the_matched_timeout(tmp_path):
    """A FIN exactly 350 s after the last data matches the AWS NLB idle
    timeout by length, but an NLB sends nothing when it expires: say so."""
    c = Conv().connect(0).upgrade(0.01).frame(1, "c", 1, b"x")
    c.fin(1 + 350.0, "s")
    f = one(analyse(tmp_path, c), "idle-timeout-close")
    assert f.evidence["timeout"] == "nlb-tcp-idle"
    assert f.evidence["wire_matches"] is False
    assert "another timer of the same length may be at work" in f.summary
    # the nginx default closes with FIN: no such remark
    c2 = Conv().connect(0).upgrade(0.01).frame(1, "c", 1, b"x").fin(61.0, "s")
    g = one(analyse(tmp_path, c2), "idle-timeout-close")
    assert g.evidence["wire_matches"] is None and "another timer" not in g.summary


def test_duplicated_segments_are_counted_not_parsed_twice(tmp_path):
    c = Conv().connect(0).upgrade(0.01)
    c.frame(1, "c", 1, b"hello")
    ts, pkt = c.packets[-2]  # the data segment, as tcpdump -i any records it twice
    c.packets.append((ts + 1000, pkt))
    a = analyse(tmp_path, c)
    row = a.connections.iloc[0]
    assert row["frames_client"] == 1
    assert row["duplicate_bytes"] == len(ws_frame(1, b"hello", mask=MASK))


def test_ingress_manifest_through_the_cli(tmp_path):
    """--ingress: the manifest's timeout is used and its pitfalls are findings."""
    import json

    c = Conv().connect(0).upgrade(0.01).frame(1, "c", 1, b"x").fin(61.0, "s")
    path = tmp_path / "x.pcap"
    path.write_bytes(build_pcap(c.packets))
    manifest = "tests/data/ingress/chat-unit.yaml"  # proxy-read-timeout: "3600s"
    out = subprocess.run(
        [sys.executable, "-m", "wscap", "analyze", str(path), "--json", "--ingress", manifest],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    d = json.loads(out)
    codes = [f["code"] for f in d["findings"]]
    assert "ingress-timeout-has-unit" in codes
    assert any(t["origin"] == "ingress" for t in d["timeouts"])
    # the unit makes ingress-nginx fall back to 60 s: that is what closed it
    close = next(f for f in d["findings"] if f["code"] == "idle-timeout-close")
    assert close["evidence"]["timeout_origin"] == "ingress"
    assert close["evidence"]["timeout_s"] == 60
