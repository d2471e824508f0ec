"""Every public capture in ../shared/captures, checked against the facts
its MANIFEST lists and against tshark 4.0's dissection (oracle files).

Where wscap and tshark disagree, KNOWN_DIFFERENCES says why and what
wscap reports instead; any other difference fails.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pandas as pd
import pytest
from oracle import SHARED, manifest, tshark_frames, tshark_handshakes

import wscap
from wscap.frames import OPCODE_NAMES

_OPS = {v: k for k, v in OPCODE_NAMES.items()}
ROWS = manifest() if (SHARED / "MANIFEST.tsv").exists() else []

# Frames wscap finds that tshark 4.0 does not, with the reason.
KNOWN_DIFFERENCES = {
    # tshark dissects WebSocket only after a captured handshake; this
    # 5-packet excerpt starts mid-stream.  wscap recognises the frames
    # (masked from the client, unmasked from the server); the MANIFEST's
    # hand decoding lists the same five text frames and sizes.
    "ndpi/websocket.pcap": {
        ("192.168.43.1:50999", "192.168.43.135:12345"): [
            (1, True, 0, True, 12, None),
            (1, True, 0, True, 15, None),
        ],
        ("192.168.43.135:12345", "192.168.43.1:50999"): [
            (1, True, 0, False, 23, None),
            (1, True, 0, False, 50, None),
            (1, True, 0, False, 53, None),
        ],
    },
    # Stream 0 is the tail of an earlier connection whose handshake is not
    # in the file: a masked 8-byte frame from the client and a 4-byte one
    # from the server.  Both are close frames with code 1001 (going away),
    # which wscap recognises without the handshake; tshark cannot.
    "ndn-tools/ipv4-websocket-segmented.pcap": {
        ("131.179.196.220:59622", "131.179.196.46:9696"): [(8, True, 0, True, 2, 1001)],
        ("131.179.196.46:9696", "131.179.196.220:59622"): [(8, True, 0, False, 2, 1001)],
    },
}


# Handshakes tshark sees that wscap deliberately does not.
TUNNELLED = {
    # GTP-U over UDP: tshark decodes the tunnel; wscap counts GTP-U packets
    # as skipped (test_gtp_tunnel_is_counted_and_skipped) and says so.
    "ndpi/http_origin_different_than_host.pcap",
}


def ids(rows: list[dict[str, str]]) -> list[str]:
    return [r["path"] for r in rows]


@pytest.fixture(scope="module")
def analyses(shared):
    return {}


def load(shared, path: str, cache: dict) -> wscap.Analysis:
    if path not in cache:
        cache[path] = wscap.load(shared / path)
    return cache[path]


def our_frames(a: wscap.Analysis) -> dict[tuple[str, str], list[tuple]]:
    conns = {c.conn_id: c for c in a.connection_list}
    out: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for r in a.frames.itertuples():
        c = conns[r.conn_id]
        key = (
            (c.client.addr, c.server.addr)
            if r.direction == "client"
            else (c.server.addr, c.client.addr)
        )
        code = None if pd.isna(r.close_code) else int(r.close_code)
        out[key].append(
            (_OPS[r.opcode], bool(r.fin), int(r.rsv), bool(r.masked), int(r.payload_len), code)
        )
    return dict(out)


@pytest.mark.parametrize("row", ROWS, ids=ids(ROWS))
def test_frames_match_tshark(shared, analyses, row):
    a = load(shared, row["path"], analyses)
    expected = tshark_frames(row["path"])
    expected.update(KNOWN_DIFFERENCES.get(row["path"], {}))
    assert our_frames(a) == expected


@pytest.mark.parametrize("row", ROWS, ids=ids(ROWS))
def test_handshakes_match_oracle(shared, analyses, row):
    a = load(shared, row["path"], analyses)
    expected = [] if row["path"] in TUNNELLED else tshark_handshakes(row["path"])
    real = [h for h in a.handshake_list if h.method]
    assert len(real) == len(expected)
    for h, e in zip(real, expected, strict=True):
        assert h.method == e["method"]
        assert h.key == e["key"]
        if e["status"]:
            assert h.status == int(e["status"])
            assert h.accept_valid == (e["accept_ok"] == "True")
            assert h.outcome == ("ok" if e["accept_ok"] == "True" else "bad-accept")
            assert (h.subprotocol or "") == e["resp_proto"]
            assert (h.extensions or "") == e["resp_ext"]
        else:
            assert h.status is None and h.outcome == "unanswered"


def _endings(text: str) -> dict[str, tuple]:
    """'s0:22p,0.05s,gap0.041s,S2/F2/R0; ...' from the MANIFEST."""
    out = {}
    for part in text.split(";"):
        m = re.match(r"\s*s(\d+):(\d+)p,([\d.]+)s,gap([\d.]+)s,S(\d+)/F(\d+)/R(\d+)", part)
        if m:
            out[m.group(1)] = tuple(float(x) for x in m.groups()[1:])
    return out


@pytest.mark.parametrize("row", ROWS, ids=ids(ROWS))
def test_stream_endings_match_manifest(shared, analyses, row):
    """Packets, duration, longest silence and FIN/RST per WebSocket stream."""
    if row["path"] in TUNNELLED:
        pytest.skip("tunnelled: wscap skips GTP-U")
    a = load(shared, row["path"], analyses)
    endings = _endings(row["ws_stream_endings(pkts,dur,max_idle_gap,SYN/FIN/RST)"])
    for stream, (pkts, dur, gap, _syn, fins, rsts) in endings.items():
        c = a.connection_list[int(stream)]  # tshark numbers streams in order of first packet
        assert c.client.packets + c.server.packets == pkts
        assert abs((c.end - c.start) / 1e9 - dur) <= 0.0015
        assert abs(c.max_idle_ns / 1e9 - gap) <= 0.0015
        fin_seen = c.client.fin_ts is not None or c.server.fin_ts is not None
        rst_seen = c.client.rst_ts is not None or c.server.rst_ts is not None
        assert fin_seen == (fins > 0)
        assert rst_seen == (rsts > 0)


def test_gtp_tunnel_is_counted_and_skipped(shared, analyses):
    a = load(shared, "ndpi/http_origin_different_than_host.pcap", analyses)
    assert a.capture.packets == 4
    assert a.capture.skipped == {"GTP-U tunnel (not decoded)": 4}
    assert a.connection_list == []


def test_mid_stream_capture_is_recognised(shared, analyses):
    a = load(shared, "ndpi/websocket.pcap", analyses)
    (c,) = a.connection_list
    assert c.websocket and c.handshake == "not-captured"
    assert c.client.addr == "192.168.43.1:50999"  # the masking side
    assert c.roles_from == "masking"
    assert c.max_idle_ns / 1e9 == pytest.approx(61.7, abs=0.1)
    texts = a.messages
    assert list(texts["wire_bytes"]) == [23, 12, 50, 15, 53]
    assert texts["utf8_valid"].all()


def test_unmasked_client_frames_are_violations(shared, analyses):
    a = load(shared, "zeek/wstunnel-http.pcap", analyses)
    v = a.violations
    assert list(v["code"]) == ["client-frame-unmasked"] * 2
    assert (v["direction"] == "client").all()
    assert a.frames["violation"].notna().sum() == 2


def test_wrong_accept(shared, analyses):
    a = load(shared, "zeek/wrong-accept-header.pcap", analyses)
    (h,) = a.handshake_list
    assert h.accept == "N8ntNYkX6Qerw4tK3s/CYzpSZNc=-wrong"
    assert h.accept_expected == "N8ntNYkX6Qerw4tK3s/CYzpSZNc="
    assert a.connections.loc[0, "handshake"] == "bad-accept"


def test_unanswered_upgrade(shared, analyses):
    a = load(shared, "suricata-verify/http-request-header-multi--input.pcap", analyses)
    row = a.connections.iloc[0]
    assert row["handshake"] == "unanswered" and row["websocket"] and not row["upgraded"]
    assert a.handshakes.loc[0, "key"] == "d+6fZ7D9YNUakDccr9olWw=="


def test_permessage_deflate_both_directions(shared, analyses):
    """tshark inflates both messages to 1000/1350 bytes, as the generator says."""
    a = load(shared, "zeek-pr5646/websocket_compressed.pcap", analyses)
    m = a.messages
    assert list(zip(m["direction"], m["wire_bytes"], m["payload_bytes"], strict=True)) == [
        ("client", 32, 1000),
        ("server", 42, 1350),
    ]
    assert m["compressed"].all() and m["utf8_valid"].all()
    (h,) = a.handshake_list
    assert h.deflate["server_max_window_bits"] == 12
    assert h.deflate["client_max_window_bits"] == 12


def test_permessage_deflate_context_takeover(shared, analyses):
    """Ten server messages inflated with one shared context; the sizes are
    those of the texts tshark shows."""
    path = "suricata-verify/websocket-compressed--example_websocket.pcap"
    a = load(shared, path, analyses)
    texts = [
        ln.split("\t")[4]
        for ln in (SHARED / "oracle" / (path + ".tshark-text.txt")).read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert list(a.messages["payload_bytes"]) == [len(t) for t in texts]
    assert texts[-1] == "TOGGLE=5659131662f54334"


def test_control_frame_inside_fragmented_message(shared, analyses):
    a = load(shared, "suricata-verify/websocket-control-frag--input.pcap", analyses)
    m = a.messages
    assert len(m) == 1
    # 'MALWARE_DOWNLOAD cmd' + '.exe /c powershell -enc AAAA'
    assert (m.loc[0, "fragments"], m.loc[0, "payload_bytes"]) == (2, 48)
    assert a.violations.empty


def test_close_codes_and_reason(shared, analyses):
    a = load(shared, "zeek/message-too-big-status.pcap", analyses)
    c = a.connection_list[0]
    assert (c.client.close_code, c.server.close_code) == (1009, 1000)
    assert c.client.close_reason == "over size limit (4 > 2 bytes)"
    assert c.first_close == "client"


def test_two_sessions_raw_ip_big_endian(shared, analyses):
    a = load(shared, "wamp-wireshark/general--json_serializer2.pcap", analyses)
    assert a.capture.link_types == [101]
    ws = a.connections[a.connections["websocket"]]
    assert list(ws["subprotocol"]) == ["wamp.2.json.batched"] * 2
    assert list(ws["tcp_end"]) == ["rst-client", "rst-client"] or set(ws["tcp_end"]) <= {
        "rst-client",
        "rst-server",
    }


# What the diagnosis must say about each public capture (errors and
# warnings only), from the facts its MANIFEST row lists.
EXPECTED_PROBLEMS = {
    "zeek/broker-websocket.pcap": {"close-not-answered"},  # server never sends close
    "zeek/jupyter-websocket.pcap": set(),
    "zeek/message-too-big-status.pcap": {"close-code", "ping-unanswered"},  # 1009
    "zeek/reply-ping-separate.pcap": set(),
    "zeek/two-binary-fragments.pcap": set(),
    "zeek/wrong-accept-header.pcap": {"accept-mismatch", "abnormal-closure", "ping-unanswered"},
    "zeek/wstunnel-http.pcap": {"client-frame-unmasked"},  # no tool flags it
    "zeek/wstunnel-https.pcap": set(),
    "ndn-tools/ipv4-websocket-segmented.pcap": set(),
    "ndpi/http_origin_different_than_host.pcap": set(),
    "ndpi/tls_heur__vmess-websocket.pcapng": set(),
    "ndpi/websocket.pcap": {"heartbeat-missing"},  # 61.7 s silence, no pings
    "pcap2har/websocket.pcap": {"heartbeat-missing"},  # 44.8 s gaps, no pings
    "suricata-verify/http-request-header-multi--input.pcap": set(),  # capture stops at once
    "suricata-verify/websocket--basic_websockets.pcap": set(),
    "suricata-verify/websocket-compressed--example_websocket.pcap": set(),
    "suricata-verify/websocket-control-frag--input.pcap": set(),
    "wamp-wireshark/general--json_serializer2.pcap": {"abnormal-closure", "tcp-reset"},
    "wamp-wireshark/general--ws_ping.pcap": {"abnormal-closure", "tcp-reset"},
    "wamp-wireshark/pubsub--msgpack--psm2.pcap": {"abnormal-closure", "tcp-reset"},
    "wamp-wireshark/rpc--msgpack--rm4.pcap": set(),
    "zeek-pr5646/websocket_baseline.pcap": set(),
    "zeek-pr5646/websocket_compressed.pcap": set(),
}


@pytest.mark.parametrize("row", ROWS, ids=ids(ROWS))
def test_diagnosis_of_public_captures(shared, analyses, row):
    """No false alarms on the healthy ones; the right codes on the others."""
    a = load(shared, row["path"], analyses)
    problems = {f.code for f in a.diagnose() if f.severity in ("error", "warning")}
    assert problems == EXPECTED_PROBLEMS[row["path"]]
