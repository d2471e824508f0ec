"""The ``wscap analyze`` command: text and JSON on the sample captures,
stdin, errors, redaction and terminal safety.

Expected facts come from captures/README.md, ../shared/captures/MANIFEST.tsv
(Zeek's and pcap2har's own logs), from dpkt reading the same files, and from
captures the tests build themselves."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import dpkt
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers_packets import (
    accept_for,
    build_pcap,
    close_payload,
    tcp_conversation,
    upgrade_request,
    upgrade_response,
    ws_frame,
)

import wscap
from wscap.cli import main

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
BROKER = CAPTURES / "zeek-broker-websocket.pcap"
WRONG_ACCEPT = CAPTURES / "zeek-wrong-accept-header.pcap"
PCAP2HAR = CAPTURES / "pcap2har-websocket.pcap"
SURICATA = CAPTURES / "suricata-websocket-compressed.pcap"
SAMPLES = [BROKER, WRONG_ACCEPT, PCAP2HAR, SURICATA]
MASK = b"\x37\xfa\x21\x3d"


def run(*args: str | Path, input: bytes | None = None) -> tuple[int, str, str]:
    """Invoke the CLI in-process; (exit status, stdout, stderr)."""
    res = CliRunner().invoke(main, ["analyze", *map(str, args)], input=input)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def run_proc(*args: str | Path, stdin: object = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """The real command in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "wscap", "analyze", *map(str, args)],
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )


def analyze_json(*args: str | Path) -> dict:
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def dpkt_flows(path: Path) -> list[tuple[str, str]]:
    """(client, server) of each SYN without ACK, read by dpkt."""
    out = []
    for _, buf in dpkt.pcap.Reader(open(path, "rb")):
        ip = dpkt.ethernet.Ethernet(buf).data
        t = ip.data
        if t.flags & dpkt.tcp.TH_SYN and not t.flags & dpkt.tcp.TH_ACK:
            src = f"{dpkt.utils.inet_to_str(ip.src)}:{t.sport}"
            dst = f"{dpkt.utils.inet_to_str(ip.dst)}:{t.dport}"
            out.append((src, dst))
    return out


HEAD_RE = re.compile(
    r"^(?P<path>.*): (?P<fmt>\S+), (?P<packets>\d+) packets(?:, [^;]+)?; "
    r"(?P<tcp>\d+) TCP connections, (?P<ws>\d+) (?:with a )?WebSocket"
)


def head(text: str) -> tuple[str, str, int, int, int]:
    """(path, format, packets, TCP connections, WebSockets) from the capture
    summary line (the first line after the verdict)."""
    lines = text.splitlines()
    assert lines[0].startswith("Verdict: "), lines[0]
    for line in lines:
        m = HEAD_RE.match(line)
        if m:
            return m["path"], m["fmt"], int(m["packets"]), int(m["tcp"]), int(m["ws"])
    raise AssertionError(f"no capture summary line in {text!r}")


def block_lines(text: str) -> dict[str, str]:
    """The lines of a connection block keyed by their label."""
    out = {}
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            label, _, rest = line.strip().partition(" ")
            out[label] = rest.strip()
    return out


# -- the helper's frame encoder against RFC 6455 section 5.7 -----------------------


def test_ws_frame_matches_rfc6455_examples():
    assert ws_frame(1, b"Hello") == bytes.fromhex("810548656c6c6f")
    assert ws_frame(1, b"Hello", mask=MASK) == bytes.fromhex("818537fa213d7f9f4d5158")
    assert ws_frame(1, b"Hel", fin=False) == bytes.fromhex("010348656c")
    assert ws_frame(0, b"lo") == bytes.fromhex("80026c6f")
    assert ws_frame(9, b"Hello") == bytes.fromhex("890548656c6c6f")
    assert ws_frame(2, bytes(256))[:4] == bytes.fromhex("827e0100")
    assert ws_frame(2, bytes(65536))[:10] == bytes.fromhex("827f0000000000010000")
    assert ws_frame(1, b"x", rsv=4)[0] == 0xC1  # RSV1 (permessage-deflate)
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# -- text output on the sample captures ---------------------------------------------


def test_text_broker():
    code, out, err = run(BROKER)
    assert code == 0 and err == ""
    assert head(out) == (str(BROKER), "pcap", 22, 1, 1)
    assert f"\n{BROKER}: pcap, 22 packets, 49.6 ms; " in out
    # MANIFEST: the client sends close 1000, the server never answers it
    assert out.startswith("Verdict: 1 problem(s) found\nWARN  close-not-answered: conn 1 ")
    # websocket.log: 127.0.0.1:38776 -> 127.0.0.1:27599, host localhost:27599
    assert "conn 1  127.0.0.1:38776 → 127.0.0.1:27599" in out
    b = block_lines(out)
    assert b["request"] == "GET /v1/messages/json host localhost:27599"
    assert b["handshake"].startswith("ok (101 Switching Protocols) in ")
    # O:text/24, 3x O:text/361, O:close(1000); R: 4 text frames, never a close
    assert b["client"] == "5 frames, 4 messages (4 text, 1 close)"
    assert b["server"] == "4 frames, 4 messages (4 text)"
    # conn history ShADadfF: the responder's FIN (f) came before the originator's (F)
    # last frame (client close) at .185012, server FIN at .185264: 0.25 ms
    assert (
        b["close"] == "client sent close 1000; TCP ended by fin-server 0.3 ms after the last frame"
    )
    assert "server sent close" not in out
    assert "violations" not in out


def test_text_wrong_accept():
    code, out, _ = run(WRONG_ACCEPT)
    assert code == 0
    ((client, server),) = dpkt_flows(WRONG_ACCEPT)
    assert server == "127.0.0.1:8080"
    assert f"conn 1  {client} → {server}" in out
    b = block_lines(out)
    expected = accept_for("VMueuJIhu60C0hDKL+vS6g==")
    assert expected == "N8ntNYkX6Qerw4tK3s/CYzpSZNc="  # as Zeek's weird.log says
    assert b["handshake"].startswith("bad-accept (101 Switching Protocols)")
    assert f"Sec-WebSocket-Accept {expected}-wrong should be {expected}" in b["handshake"]
    assert b["negotiated"].startswith("subprotocol v1,")
    assert b["server"] == "1 frames, 0 messages (1 ping)"
    assert b["client"] == "0 frames, 0 messages"
    # the client drops TCP about 250 ms later without a close frame
    assert b["close"].startswith("no close frame; TCP ended by fin-client 25")
    assert b["idle"].startswith("longest silence 25")


def test_text_pcap2har():
    code, out, _ = run(PCAP2HAR)
    assert code == 0
    assert "conn 1  192.168.43.1:50999 → 192.168.43.135:12345  (2 min 3 s)" in out
    b = block_lines(out)
    assert b["handshake"].startswith("ok (101 ")
    assert b["client"] == "2 frames, 2 messages (2 text)"
    assert b["server"] == "3 frames, 3 messages (3 text)"
    assert b["close"] == "no close frame; TCP still open at end of capture"
    # MANIFEST: max idle gap 44.802 s between packets; the last data frame is
    # followed by 61.7 s of TCP keep-alives until the capture ends
    assert b["idle"].startswith("longest silence 44.8 s (no packet), 61.7 s (no data)")


def test_text_suricata_compressed():
    code, out, _ = run(SURICATA)
    assert code == 0
    b = block_lines(out)
    assert b["request"] == "GET /toggle host app:5000"
    assert b["negotiated"] == (
        "subprotocol -, extensions permessage-deflate; client_max_window_bits=15"
    )
    assert b["server"] == "10 frames, 10 messages (10 text)"
    assert b["client"] == "0 frames, 0 messages"


def test_text_empty_reason_phrase_has_no_stray_space():
    _, out, _ = run(SURICATA)
    assert block_lines(out)["handshake"].startswith("ok (101) in ")


# -- JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_json_agrees_with_load(path):
    d = analyze_json(path)
    assert d["schema_version"] == 1
    for key in ("capture", "connections", "handshakes", "frames", "messages"):
        assert key in d
    a = wscap.load(path)
    conns = a.connections
    assert len(d["connections"]) == len(conns)
    for row, j in zip(conns.itertuples(), d["connections"], strict=True):
        for col in (
            "client",
            "server",
            "frames_client",
            "frames_server",
            "messages_client",
            "messages_server",
            "bytes_client",
            "bytes_server",
        ):
            assert j[col] == getattr(row, col), col
        assert j["handshake"] == row.handshake
        for side in ("client", "server"):
            cc = getattr(row, f"close_code_{side}")
            assert j[f"close_code_{side}"] == (None if pd.isna(cc) else int(cc))
    assert len(d["frames"]) == len(a.frames)
    assert [f["opcode"] for f in d["frames"]] == list(a.frames.opcode.astype(str))
    assert [f["payload_len"] for f in d["frames"]] == [int(x) for x in a.frames.payload_len]
    assert len(d["messages"]) == len(a.messages)
    assert len(d["handshakes"]) == len(a.handshakes)
    assert d["capture"]["packets"] == a.capture.packets
    assert sum(c["frames_client"] + c["frames_server"] for c in d["connections"]) == len(
        d["frames"]
    )


def test_json_broker_facts():
    d = analyze_json(BROKER)
    assert d["capture"]["packets"] == 22
    assert d["capture"]["link_types"] == [1]
    assert d["capture"]["damage"] is None
    (c,) = d["connections"]
    assert (c["client"], c["server"]) == ("127.0.0.1:38776", "127.0.0.1:27599")
    assert c["close_code_client"] == 1000 and c["close_code_server"] is None
    assert c["tcp_end"] == "fin-server"
    (h,) = d["handshakes"]
    assert h["uri"] == "/v1/messages/json"
    assert h["user_agent"] == "Python/3.10 websockets/12.0"
    assert h["extensions_offered"] == "permessage-deflate; client_max_window_bits"
    assert h["extensions"] is None and h["accept_valid"] is True
    assert h["accept"] == accept_for(h["key"])
    # Zeek's frame list: O:text/24 R:text/91 R:text/533 O:text/361 R:text/533
    # O:text/361 R:text/533 O:text/361 O:close/2(1000)
    frames = [
        (f["direction"][0].upper(), f["opcode"], f["payload_len"], f["close_code"])
        for f in d["frames"]
    ]
    assert frames == [
        ("C", "text", 24, None),
        ("S", "text", 91, None),
        ("S", "text", 533, None),
        ("C", "text", 361, None),
        ("S", "text", 533, None),
        ("C", "text", 361, None),
        ("S", "text", 533, None),
        ("C", "text", 361, None),
        ("C", "close", 2, 1000),
    ]
    assert [f["masked"] for f in d["frames"]] == [f[0] == "C" for f in frames]


def test_json_suricata_decompressed_sizes():
    """Message sizes after inflating the server's frames ourselves with zlib."""
    data = b""
    for _, buf in dpkt.pcap.Reader(open(SURICATA, "rb")):
        t = dpkt.ethernet.Ethernet(buf).data.data
        if t.sport == 5000:
            data += bytes(t.data)
    data = data[data.index(b"\r\n\r\n") + 4 :]
    z = zlib.decompressobj(-15)  # context takeover: one stream for all messages
    sizes, wire = [], []
    while data:
        n, off = data[1] & 0x7F, 2
        if n == 126:
            n, off = int.from_bytes(data[2:4], "big"), 4
        wire.append(n)
        sizes.append(len(z.decompress(data[off : off + n] + b"\x00\x00\xff\xff")))
        data = data[off + n :]
    assert len(sizes) == 10
    d = analyze_json(SURICATA)
    msgs = d["messages"]
    assert [m["payload_bytes"] for m in msgs] == sizes
    assert [m["wire_bytes"] for m in msgs] == wire
    assert all(m["compressed"] and m["direction"] == "server" for m in msgs)
    assert d["connections"][0]["compressed"] is True


def test_no_frames_omits_frames_and_messages():
    code, out, _ = run(BROKER, "--json", "--no-frames")
    assert code == 0
    d = json.loads(out)
    assert "frames" not in d and "messages" not in d
    assert d["capture"]["frames_kept"] is False and d["capture"]["messages_kept"] is False
    c = d["connections"][0]
    assert c["frames_client"] == 5  # counts are still kept
    assert (c["messages_client"], c["messages_server"]) == (4, 4)
    # websocket.log / tshark: client texts 24 + 3 x 361, server 91 + 3 x 533
    assert (c["payload_bytes_client"], c["payload_bytes_server"]) == (24 + 3 * 361, 91 + 3 * 533)
    code, text, _ = run(BROKER, "--no-frames")
    assert code == 0
    assert "(4 text, 1 close)" not in text
    assert block_lines(text)["client"].startswith("5 frames, 4 messages")


def test_pcapng_and_gzip_copies_give_the_same_json(tmp_path):
    """The broker capture rewritten by dpkt as pcapng, and gzipped."""
    f = io.BytesIO()
    w = dpkt.pcapng.Writer(f, snaplen=65535, linktype=1)
    for ts, buf in dpkt.pcap.Reader(open(BROKER, "rb")):
        w.writepkt(buf, ts=ts)
    ng = tmp_path / "b.pcapng"
    ng.write_bytes(f.getvalue())
    gz = tmp_path / "b.pcap.gz"
    gz.write_bytes(gzip.compress(BROKER.read_bytes()))
    base = analyze_json(BROKER)
    for path, fmt in ((ng, "pcapng"), (gz, "pcap.gz")):
        d = analyze_json(path)
        assert d["capture"].pop("format") == fmt
        assert d["capture"].pop("path") == str(path)
        b = json.loads(json.dumps(base))
        b["capture"].pop("format")
        b["capture"].pop("path")
        assert d == b


def test_stdin_gives_the_same_json_as_the_file():
    with open(BROKER, "rb") as f:
        p = run_proc("-", "--json", stdin=f)
    assert p.returncode == 0, p.stderr
    from_pipe = json.loads(p.stdout)
    from_file = analyze_json(BROKER)
    assert from_pipe["capture"].pop("path") == "<stdin>"
    from_file["capture"].pop("path")
    assert from_pipe == from_file


def test_stdin_gzip_through_a_real_pipe():
    proc = subprocess.Popen(
        [sys.executable, "-m", "wscap", "analyze", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = proc.communicate(gzip.compress(WRONG_ACCEPT.read_bytes()), timeout=60)
    assert proc.returncode == 0, err
    text = out.decode()
    assert head(text) == ("<stdin>", "pcap.gz", 12, 1, 1)
    assert "bad-accept" in text


# -- errors -------------------------------------------------------------------------


def error_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    text = tmp / "notes.txt"
    text.write_text("not a capture at all\n")
    empty = tmp / "empty.pcap"
    empty.write_bytes(b"")
    tiny = tmp / "tiny.pcap"
    tiny.write_bytes(b"\xd4\xc3\xb2")
    badgz = tmp / "bad.pcap.gz"
    badgz.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    odd = tmp / "usb.pcap"
    odd.write_bytes(build_pcap([(10**18, b"\0" * 30)], linktype=189))
    return {
        "missing": (tmp / "missing.pcap", "no such file"),
        "directory": (tmp, "directory"),
        "text": (text, "not a pcap or pcapng capture"),
        "empty": (empty, "empty"),
        "three-bytes": (tiny, "too short"),
        "link-type": (odd, "unsupported link type 189"),
        "bad-gzip": (badgz, "damaged gzip data"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "text", "empty", "three-bytes", "link-type", "bad-gzip"]
)
def test_unreadable_input_one_line_exit_2(tmp_path, case):
    path, problem = error_cases(tmp_path)[case]
    code, out, err = run(path)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"wscap: {path}")
    assert problem in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("case", ["missing", "text"])
def test_unreadable_input_in_a_real_process(tmp_path, case):
    path, problem = error_cases(tmp_path)[case]
    p = run_proc(path, "--json")
    assert p.returncode == 2
    assert p.stdout == b""
    err = p.stderr.decode()
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"wscap: {path}") and problem in err


def test_damaged_capture_is_analysed_and_exits_2(tmp_path):
    raw = BROKER.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:-10])
    p = run_proc(cut)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"wscap: {cut}: last record cut short")
    assert lines[0].endswith("analysed the 21 packets before it")
    out = p.stdout.decode()
    assert head(out) == (str(cut), "pcap", 21, 1, 1)
    assert "CAPTURE DAMAGED" in out
    assert "conn 1  127.0.0.1:38776 → 127.0.0.1:27599" in out


def test_damaged_capture_json(tmp_path):
    raw = bytearray(BROKER.read_bytes())
    raw[24 + 8 : 24 + 12] = (0x7FFFFFFF).to_bytes(4, "little")  # first record's caplen
    bad = tmp_path / "corrupt.pcap"
    bad.write_bytes(bytes(raw))
    code, out, err = run(bad, "--json")
    assert code == 2
    d = json.loads(out)
    assert d["capture"]["packets"] == 0
    assert "corrupt record" in d["capture"]["damage"]
    assert len(err.splitlines()) == 1 and err.startswith(f"wscap: {bad}: corrupt record")


# -- redaction ------------------------------------------------------------------------

KEY = "x3JJHMbDL1EzLkh9GBhXDw=="
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz"
SECRETS = ["SECRET123", "COOKIEVAL77", "BEARERTOKEN99", "PROTOTOKEN55", "SETCOOKIE88", JWT]


def ws_session(
    uri: str,
    request_extra: list[tuple[str, str]],
    response_extra: list[tuple[str, str]],
    server_close_reason: bytes = b"bye",
) -> bytes:
    req = upgrade_request(uri=uri, host="chat.example", key=KEY, extra=request_extra)
    resp = upgrade_response(key=KEY, extra=response_extra)
    conv = tcp_conversation(
        client=("10.1.1.1", 40001),
        server=("10.2.2.2", 8080),
        exchanges=[
            ("c", req),
            ("s", resp),
            ("c", ws_frame(1, b"hello", mask=MASK)),
            ("s", ws_frame(1, b"world")),
            ("c", ws_frame(8, close_payload(1000), mask=MASK)),
            ("s", ws_frame(8, close_payload(4001, server_close_reason))),
        ],
        end="fin",
        closer="s",
    )
    return build_pcap(conv)


@pytest.fixture()
def secret_capture(tmp_path: Path) -> Path:
    p = tmp_path / "secrets.pcap"
    p.write_bytes(
        ws_session(
            "/ws?token=SECRET123&room=5",
            [
                ("Cookie", "session=COOKIEVAL77; theme=dark"),
                ("Authorization", "Bearer BEARERTOKEN99"),
                ("Sec-WebSocket-Protocol", "chat, bearer.PROTOTOKEN55"),
                ("X-Debug", JWT),
            ],
            [("Set-Cookie", "sid=SETCOOKIE88; HttpOnly"), ("Sec-WebSocket-Protocol", "chat")],
        )
    )
    return p


def test_secrets_redacted_by_default(secret_capture):
    code, text, err = run(secret_capture)
    assert code == 0, err
    code, js, _ = run(secret_capture, "--json")
    assert code == 0
    for out in (text, js, err):
        for s in SECRETS:
            assert s not in out
    # the analysis itself is intact
    b = block_lines(text)
    assert b["request"] == "GET /ws?token=<redacted 9 bytes>&room=5 host chat.example"
    assert b["handshake"].startswith("ok (101 Switching Protocols)")
    assert b["close"] == (
        "client sent close 1000; server sent close 4001 'bye'; "
        "TCP ended by fin-server 1.0 ms after the last frame"
    )
    d = json.loads(js)
    (h,) = d["handshakes"]
    assert h["uri"] == "/ws?token=<redacted 9 bytes>&room=5"
    headers = dict(h["request_headers"])
    assert headers["Cookie"].startswith("<redacted ")
    assert headers["Authorization"] == "<redacted 20 bytes>"
    assert headers["Host"] == "chat.example"
    assert dict(h["response_headers"])["Set-Cookie"].startswith("<redacted ")
    assert h["subprotocol"] == "chat"


def test_show_secrets(secret_capture):
    code, text, _ = run(secret_capture, "--show-secrets")
    assert code == 0
    assert "GET /ws?token=SECRET123&room=5 host chat.example" in text
    code, js, _ = run(secret_capture, "--json", "--show-secrets")
    assert code == 0
    for s in SECRETS:
        assert s in js
    h = json.loads(js)["handshakes"][0]
    assert dict(h["request_headers"])["Authorization"] == "Bearer BEARERTOKEN99"


# -- terminal escapes -------------------------------------------------------------------


def test_escape_sequences_never_reach_the_terminal(tmp_path):
    p = tmp_path / "esc.pcap"
    p.write_bytes(
        ws_session(
            "/ws?room=\x1b[31mred\x9b2J",
            [("User-Agent", "evil\x1b]0;title\x07")],
            [],
            server_close_reason=b"bye\x1b[31m",
        )
    )
    code, text, _ = run(p)
    assert code == 0
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    b = block_lines(text)
    # the fields are shown, made harmless
    assert "room=\\x1b[31mred\\x9b2J" in b["request"]
    assert "server sent close 4001" in b["close"] and "x1b[31m" in b["close"]
    code, js, _ = run(p, "--json")
    assert code == 0
    assert "\x1b" not in js and "\x07" not in js
    d = json.loads(js)
    assert d["handshakes"][0]["uri"] == "/ws?room=\x1b[31mred\x9b2J"
    assert d["connections"][0]["close_reason_server"] == "bye\x1b[31m"


def test_token_in_uri_valued_headers_is_redacted(tmp_path):
    p = tmp_path / "ref.pcap"
    p.write_bytes(
        ws_session(
            "/ws",
            [
                ("Referer", "https://app.example/chat?token=REFSECRET1"),
                ("X-Original-URI", "/ws?access_token=ORIGSECRET2"),
            ],
            [],
        )
    )
    code, js, _ = run(p, "--json")
    assert code == 0
    assert "/ws" == json.loads(js)["handshakes"][0]["uri"]
    assert "REFSECRET1" not in js
    assert "ORIGSECRET2" not in js


# -- more of the text summary ------------------------------------------------------------


def test_summary_lines_for_skipped_truncated_and_plain_tcp(tmp_path):
    ws = tcp_conversation(
        client=("10.0.0.1", 40000),
        server=("10.0.0.2", 80),
        exchanges=[
            ("c", upgrade_request(key=KEY)),
            ("s", upgrade_response(key=KEY)),
            ("s", ws_frame(2, b"\x00" * 300)),
            ("c", ws_frame(9, b"hb", mask=MASK)),
            ("s", ws_frame(10, b"hb")),
        ],
        end="rst",
        closer="c",
    )
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"b" * 1000
    plain = tcp_conversation(
        client=("10.0.0.1", 40002),
        server=("10.0.0.3", 80),
        exchanges=[("c", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), ("s", body)],
        start_ns=1_700_000_001_000_000_000,
    )
    # cut the server's data segment to 100 captured bytes, as a snaplen would
    packets: list = list(ws)
    for ts, frame in plain:
        if len(frame) > 1000:
            packets.append((ts, frame[:100], len(frame)))
            missing = len(frame) - 100
        else:
            packets.append((ts, frame))
    udp = dpkt.udp.UDP(sport=5353, dport=5353, data=b"mdns")
    udp.ulen = 12
    ip = dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\xe0\0\0\xfb", p=17, data=udp)
    eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x01" * 6, type=0x0800, data=ip)
    arp = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\xff" * 6, type=0x0806, data=b"\0" * 28)
    end = packets[-1][0]
    packets += [(end + 1000, bytes(eth)), (end + 2000, bytes(arp))]
    p = tmp_path / "mixed.pcap"
    p.write_bytes(build_pcap(packets))
    code, out, err = run(p)
    assert code == 0, err
    lines = out.splitlines()
    n = len(packets)
    assert head(out) == (str(p), "pcap", n, 2, 1)
    assert "  skipped 2 packets: " in out
    skipped = out.split("  skipped 2 packets: ")[1].splitlines()[0]
    assert sorted(skipped.split(", ")) == ["1 ARP", "1 UDP"]
    assert f"  1 packets cut by the snaplen ({missing} bytes not captured, treated as gaps)" in out
    assert lines[-1] == "1 other TCP connections without WebSocket"
    b = block_lines(out)
    assert b["server"] == "2 frames, 1 messages (1 binary, 1 pong)"
    assert b["client"] == "1 frames, 0 messages (1 ping)"
    assert b["close"].startswith("no close frame; TCP ended by rst-client")
    d = json.loads(run(p, "--json")[1])
    assert d["capture"]["truncated_bytes"] == missing
    assert d["capture"]["skipped"] == {"UDP": 1, "ARP": 1}
    assert d["capture"]["tcp_packets"] == n - 2


def test_max_message_caps_decompression(tmp_path):
    c = zlib.compressobj(wbits=-15)
    deflated = c.compress(b"a" * (2 << 20)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert deflated.endswith(b"\x00\x00\xff\xff")
    conv = tcp_conversation(
        exchanges=[
            (
                "c",
                upgrade_request(
                    key=KEY, extra=[("Sec-WebSocket-Extensions", "permessage-deflate")]
                ),
            ),
            (
                "s",
                upgrade_response(
                    key=KEY, extra=[("Sec-WebSocket-Extensions", "permessage-deflate")]
                ),
            ),
            ("s", ws_frame(1, deflated[:-4], rsv=4)),  # RFC 7692 7.2.1: tail removed
        ],
        end=None,
    )
    p = tmp_path / "bomb.pcap"
    p.write_bytes(build_pcap(conv))
    full = analyze_json(p)
    (m,) = full["messages"]
    assert m["payload_bytes"] == 2 << 20 and m["compressed"] and m["utf8_valid"] is True
    assert m["wire_bytes"] == len(deflated) - 4
    assert full["capture"]["capped_messages"] == 0
    capped = analyze_json(p, "--max-message", "1")
    assert capped["messages"][0]["payload_bytes"] is None
    assert capped["capture"]["capped_messages"] == 1
    code, text, _ = run(p, "--max-message", "1")
    assert code == 0
    assert "  1 messages decompressed past the size cap (sizes unknown)" in text


def test_empty_stdin_names_stdin():
    code, out, err = run("-", input=b"")
    assert code == 2 and out == ""
    assert err == "wscap: <stdin>: empty file, not a capture\n"


def test_pcap_header_cut_short_is_an_error(tmp_path):
    p = tmp_path / "short.pcap"
    p.write_bytes(build_pcap([])[:20])
    code, out, err = run(p)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"wscap: {p}: ") and "cut short" in err


def test_pcapng_with_one_unsupported_interface_skips_its_packets(tmp_path):
    e = dpkt.pcapng
    f = io.BytesIO()
    idbs = [e.InterfaceDescriptionBlockLE(linktype=1), e.InterfaceDescriptionBlockLE(linktype=147)]
    w = e.Writer(f, idb=idbs)
    conv = tcp_conversation(exchanges=[("c", b"x")])
    for ts, frame in conv:
        w.writepkt(e.EnhancedPacketBlockLE(iface_id=0, pkt_data=frame), ts=ts / 1e9)
    w.writepkt(e.EnhancedPacketBlockLE(iface_id=1, pkt_data=b"\0" * 40), ts=conv[-1][0] / 1e9)
    p = tmp_path / "mixed.pcapng"
    p.write_bytes(f.getvalue())
    code, out, err = run(p, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["capture"]["link_types"] == [1, 147]
    assert d["capture"]["skipped"] == {"unsupported link type": 1}
    assert d["capture"]["tcp_packets"] == len(conv)


def test_error_line_with_hostile_file_name(tmp_path):
    p = tmp_path / "evil\x1b[31m\nname.txt"
    p.write_text("not a capture\n")
    code, _, err = run(p)
    assert code == 2
    assert err.count("\n") == 1
    assert "\x1b" not in err


def test_broken_pipe_is_quiet(tmp_path):
    """``wscap analyze big.pcap --json | head -c 100``: no traceback, status 0."""
    ex = [("c", upgrade_request(key=KEY)), ("s", upgrade_response(key=KEY))]
    ex += [("s", ws_frame(1, b"tick"))] * 1200
    p = tmp_path / "many.pcap"
    p.write_bytes(build_pcap(tcp_conversation(exchanges=ex)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "wscap", "analyze", str(p), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"{")
    proc.stdout.close()  # the reader goes away with most of 200 kB unread
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in proc.stderr.read()
    proc.stderr.close()


def test_capture_start_and_duration_count_every_packet(tmp_path):
    udp = dpkt.udp.UDP(sport=53, dport=53, data=b"q")
    udp.ulen = 9
    dns = dpkt.ethernet.Ethernet(
        src=b"\x02" * 6,
        dst=b"\x04" * 6,
        type=0x0800,
        data=dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x35", p=17, data=udp),
    )
    t0 = 1_700_000_000 * 10**9
    conv = tcp_conversation(start_ns=t0 + 10 * 10**9)
    p = tmp_path / "dns-first.pcap"
    p.write_bytes(build_pcap([(t0, bytes(dns)), *conv, (t0 + 20 * 10**9, bytes(dns))]))
    cap = analyze_json(p)["capture"]
    assert cap["start"] == "2023-11-14T22:13:20.000000000Z"
    assert cap["end"] == "2023-11-14T22:13:40.000000000Z"
    assert cap["duration_s"] == 20.0
    only_udp = tmp_path / "udp.pcap"
    only_udp.write_bytes(build_pcap([(t0, bytes(dns)), (t0 + 5 * 10**9, bytes(dns))]))
    assert analyze_json(only_udp)["capture"]["duration_s"] == 5.0


def test_ipv6_linux_cooked_v2_with_any_duplicates(tmp_path):
    """``tcpdump -i any`` on loopback: SLL2, IPv6, every packet recorded twice."""
    ex = [
        ("c", upgrade_request(key=KEY)),
        ("s", upgrade_response(key=KEY)),
        ("c", ws_frame(1, b"hi", mask=MASK)),
        ("s", ws_frame(1, b"yo")),
        ("s", ws_frame(8, close_payload(1001, b"going"))),
    ]
    conv = tcp_conversation(
        client=("2001:db8::10", 51234),
        server=("2001:db8:1::20", 443),
        exchanges=ex,
        linktype=276,
        closer="s",
    )
    twice = [pkt for ts, f in conv for pkt in ((ts, f), (ts + 1000, f))]
    p = tmp_path / "any.pcap"
    p.write_bytes(build_pcap(twice, linktype=276))
    code, out, err = run(p)
    assert code == 0, err
    assert head(out) == (str(p), "pcap", 2 * len(conv), 1, 1)
    assert "conn 1  [2001:db8::10]:51234 → [2001:db8:1::20]:443" in out
    b = block_lines(out)
    assert b["handshake"].startswith("ok (101 Switching Protocols)")
    assert b["client"] == "1 frames, 1 messages (1 text)"
    assert b["server"] == "2 frames, 1 messages (1 text, 1 close)"
    assert b["close"].startswith("server sent close 1001 'going'; TCP ended by fin-server")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_is_status_130_and_one_line(jobs: str) -> None:
    """Ctrl-C (SIGINT to the process group) while reading a pipe: status 130,
    one line on stderr, and no process left behind."""
    import os
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "wscap", "analyze", "--jobs", jobs, "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # the shell that started the tests may ignore SIGINT; Ctrl-C does not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdin is not None
    proc.stdin.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    proc.stdin.flush()  # a pcap header, then nothing: wscap waits for packets
    time.sleep(1.5)
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    proc.stdin.close()
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["wscap: interrupted"]
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # the whole group is gone
