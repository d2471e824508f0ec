"""wscap.decode.decode_tcp on packets built with dpkt and struct.

Every expected value (addresses, ports, sequence numbers, payload offset
and length) is computed from how the test built the packet, never from
wscap."""

from __future__ import annotations

import socket
import struct

import dpkt
import pytest
from helpers_packets import ethernet, ip_bytes, ip_packet, tcp_segment
from hypothesis import given, settings
from hypothesis import strategies as st

from wscap.decode import (
    SKIP_ARP,
    SKIP_FRAGMENT,
    SKIP_GTP,
    SKIP_ICMP,
    SKIP_LINKTYPE,
    SKIP_MALFORMED,
    SKIP_NON_IP,
    SKIP_OTHER_IP,
    SKIP_SHORT,
    SKIP_UDP,
    decode_tcp,
)

SKIPS = {
    SKIP_ARP,
    SKIP_FRAGMENT,
    SKIP_GTP,
    SKIP_ICMP,
    SKIP_LINKTYPE,
    SKIP_MALFORMED,
    SKIP_NON_IP,
    SKIP_OTHER_IP,
    SKIP_SHORT,
    SKIP_UDP,
}
LINKTYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276]

C4, S4 = "192.0.2.10", "198.51.100.20"
C6, S6 = "2001:db8::10", "2001:db8:1::20"
PAYLOAD = b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n"
SPORT, DPORT, SEQ, ACK_NO = 51234, 8080, 0xFFFFFF00, 123456789
FLAGS = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH
TCP_OPTS = b"\x01\x01\x08\x0a" + struct.pack("!II", 1, 2)  # NOP NOP timestamps: 12 bytes
MAC_A, MAC_B = b"\x02\0\0\0\0\x0a", b"\x02\0\0\0\0\x0b"


def tcp(payload: bytes = PAYLOAD, opts: bytes = b"", flags: int = FLAGS) -> dpkt.tcp.TCP:
    return tcp_segment(SPORT, DPORT, SEQ, ACK_NO, flags, payload, options=opts)


def v4(payload: bytes = PAYLOAD, opts: bytes = b"") -> bytes:
    return ip_packet(C4, S4, tcp(payload, opts))


def v6(payload: bytes = PAYLOAD) -> bytes:
    return ip_packet(C6, S6, tcp(payload))


def expect(src: str, dst: str, start: int, payload: bytes = PAYLOAD, flags: int = FLAGS) -> tuple:
    return (ip_bytes(src), ip_bytes(dst), SPORT, DPORT, SEQ, ACK_NO, flags, start, len(payload))


def eth_header(etype: int) -> bytes:
    return MAC_B + MAC_A + struct.pack("!H", etype)


# -- link layers --------------------------------------------------------------


def test_ethernet_ipv4_built_by_dpkt():
    frame = ethernet(v4())
    r = decode_tcp(1, frame)
    assert r == expect(C4, S4, 14 + 20 + 20)
    assert frame[r[7] : r[7] + r[8]] == PAYLOAD


def test_ethernet_ipv6():
    frame = ethernet(v6())
    assert decode_tcp(1, frame) == expect(C6, S6, 14 + 40 + 20)


def test_tcp_options_move_the_payload():
    frame = ethernet(v4(opts=TCP_OPTS))
    r = decode_tcp(1, frame)
    assert r == expect(C4, S4, 14 + 20 + 32)
    assert frame[r[7] :] == PAYLOAD


def test_syn_flags_and_empty_payload():
    seg = tcp(b"", flags=dpkt.tcp.TH_SYN)
    frame = ethernet(ip_packet(C4, S4, seg))
    assert decode_tcp(1, frame) == expect(C4, S4, 54, b"", dpkt.tcp.TH_SYN)


def test_8021q_vlan():
    frame = eth_header(0x8100) + struct.pack("!HH", 0x2064, 0x0800) + v4()
    assert decode_tcp(1, frame) == expect(C4, S4, 18 + 40)


def test_qinq_88a8_outer_8100_inner():
    tags = struct.pack("!HH", 0x0071, 0x8100) + struct.pack("!HH", 0x0005, 0x86DD)
    frame = eth_header(0x88A8) + tags + v6()
    assert decode_tcp(1, frame) == expect(C6, S6, 22 + 60)


def test_vlan_tag_cut_short():
    assert decode_tcp(1, eth_header(0x8100) + b"\x00\x01") == SKIP_SHORT


def test_linux_cooked_v1_built_by_dpkt():
    sll = dpkt.sll.SLL(type=4, hrd=1, hlen=6, hdr=MAC_A + b"\0\0", ethtype=0x0800, data=v4())
    frame = bytes(sll)
    assert len(frame) == 16 + len(v4())
    assert decode_tcp(113, frame) == expect(C4, S4, 16 + 40)


def test_linux_cooked_v1_ipv6():
    frame = struct.pack("!HHH8sH", 0, 772, 0, b"", 0x86DD) + v6()
    assert decode_tcp(113, frame) == expect(C6, S6, 16 + 60)


def test_linux_cooked_v2_built_by_dpkt():
    sll2 = dpkt.sll2.SLL2(
        ethtype=0x86DD, intindex=3, hrd=1, type=0, hlen=6, hdr=MAC_A + b"\0\0", data=v6()
    )
    frame = bytes(sll2)
    assert len(frame) == 20 + len(v6())
    assert decode_tcp(276, frame) == expect(C6, S6, 20 + 60)


def test_linux_cooked_v2_ipv4_by_hand():
    frame = struct.pack("!HHiHBB8s", 0x0800, 0, 1, 772, 0, 0, b"") + v4()
    assert decode_tcp(276, frame) == expect(C4, S4, 20 + 40)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("af", [24, 28, 30])
def test_bsd_null_ipv6(order, af):
    frame = struct.pack(order + "I", af) + v6()
    assert decode_tcp(0, frame) == expect(C6, S6, 4 + 60)


@pytest.mark.parametrize("order", ["<", ">"])
def test_bsd_null_ipv4(order):
    frame = struct.pack(order + "I", 2) + v4()
    assert decode_tcp(0, frame) == expect(C4, S4, 4 + 40)


def test_bsd_null_built_by_dpkt_loopback():
    lo = dpkt.loopback.Loopback(family=socket.AF_INET, data=v4())
    assert decode_tcp(0, bytes(lo)) == expect(C4, S4, 44)


@pytest.mark.parametrize("af,ip", [(2, "v4"), (24, "v6"), (30, "v6")])
def test_openbsd_loop_network_order(af, ip):
    pkt = v4() if ip == "v4" else v6()
    exp = expect(C4, S4, 44) if ip == "v4" else expect(C6, S6, 64)
    assert decode_tcp(108, struct.pack("!I", af) + pkt) == exp


def test_bsd_null_unknown_family():
    assert decode_tcp(0, struct.pack("<I", 7) + v4()) == SKIP_NON_IP


@pytest.mark.parametrize("lt", [101, 12, 14, 228])
def test_raw_ipv4(lt):
    assert decode_tcp(lt, v4()) == expect(C4, S4, 40)


@pytest.mark.parametrize("lt", [101, 12, 14, 229])
def test_raw_ipv6(lt):
    assert decode_tcp(lt, v6()) == expect(C6, S6, 60)


def test_raw_ip_bad_version():
    assert decode_tcp(101, b"\x50" + v4()[1:]) == SKIP_NON_IP


# -- IPv4 details -------------------------------------------------------------


def test_ipv4_options():
    # router alert, NOPs, end of list: 8 option bytes, ihl 7
    opts = b"\x94\x04\x00\x00" + b"\x01\x01\x01\x00"
    ip = dpkt.ip.IP(src=ip_bytes(C4), dst=ip_bytes(S4), p=6, hl=7, opts=opts, data=tcp())
    raw = bytes(ip)
    assert raw[0] == 0x47
    frame = ethernet(raw)
    r = decode_tcp(1, frame)
    assert r == expect(C4, S4, 14 + 28 + 20)
    assert frame[r[7] : r[7] + r[8]] == PAYLOAD


def test_ethernet_padding_not_in_payload():
    ip = v4(b"")  # 40 bytes: Ethernet pads the frame to 60
    frame = ethernet(ip) + b"\0" * 6
    assert len(frame) == 60
    assert decode_tcp(1, frame) == expect(C4, S4, 54, b"")
    frame = ethernet(v4(b"hi")) + b"\xaa" * 4
    r = decode_tcp(1, frame)
    assert r[8] == 2 and frame[r[7] : r[7] + r[8]] == b"hi"


def test_ipv4_total_length_zero_uses_captured_length():
    raw = bytearray(v4(b"x" * 3000))
    struct.pack_into("!H", raw, 2, 0)  # TSO: the sender's capture shows 0
    assert decode_tcp(101, bytes(raw)) == expect(C4, S4, 40, b"x" * 3000)


def test_snaplen_truncated_packet_keeps_wire_length():
    frame = ethernet(v4(b"y" * 1400))
    cut = frame[:96]
    r = decode_tcp(1, cut)
    assert r == expect(C4, S4, 54, b"y" * 1400)
    assert r[8] > len(cut) - r[7]


def test_snaplen_cut_inside_tcp_options():
    frame = ethernet(v4(b"z" * 10, opts=TCP_OPTS))
    r = decode_tcp(1, frame[: 14 + 20 + 24])  # base header + 4 option bytes
    assert r == expect(C4, S4, 14 + 20 + 32, b"z" * 10)


@pytest.mark.parametrize(
    "frag_field", [0x2000, 0x0001, 0x20B9, 0x4010], ids=["MF", "offset", "MF+offset", "DF+offset"]
)
def test_ipv4_fragments_skipped(frag_field):
    raw = bytearray(v4())
    struct.pack_into("!H", raw, 6, frag_field)
    assert decode_tcp(101, bytes(raw)) == SKIP_FRAGMENT


def test_ipv4_dont_fragment_is_not_a_fragment():
    raw = bytearray(v4())
    struct.pack_into("!H", raw, 6, 0x4000)
    assert decode_tcp(101, bytes(raw)) == expect(C4, S4, 40)


def test_ipv4_bad_ihl_and_bad_version():
    raw = bytearray(v4())
    raw[0] = 0x44
    assert decode_tcp(101, bytes(raw)) == SKIP_MALFORMED
    assert decode_tcp(1, eth_header(0x0800) + b"\x65" + v4()[1:]) == SKIP_MALFORMED


def test_ipv4_total_length_below_header_is_malformed():
    raw = bytearray(v4())
    struct.pack_into("!H", raw, 2, 30)  # less than 20 IP + 20 TCP
    assert decode_tcp(101, bytes(raw)) == SKIP_MALFORMED


def test_tcp_data_offset_below_five_is_malformed():
    raw = bytearray(v4())
    raw[20 + 12] = 0x40
    assert decode_tcp(101, bytes(raw)) == SKIP_MALFORMED


# -- IPv6 extension headers ------------------------------------------------------


def ipv6_with_ext(exts: list[tuple[int, bytes]], first: int, payload: bytes = PAYLOAD) -> bytes:
    """IPv6 header, the given extension headers (already carrying their
    next-header byte), then TCP."""
    seg = bytes(tcp(payload))
    body = b"".join(e for _, e in exts) + seg
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(body), first, 64, ip_bytes(C6), ip_bytes(S6))
    return hdr + body


def opts_header(nxt: int, units: int = 0) -> bytes:
    """Hop-by-hop or destination options: 8*(units+1) bytes, PadN filled."""
    size = 8 * (units + 1)
    return bytes([nxt, units, 1, size - 4]) + b"\0" * (size - 4)


def frag_header(nxt: int, offset: int, more: bool, ident: int = 0xABCDEF) -> bytes:
    return struct.pack("!BBHI", nxt, 0, (offset << 3) | int(more), ident)


def test_ipv6_hop_by_hop_and_destination_options():
    exts = [(0, opts_header(60)), (60, opts_header(6, units=1))]
    pkt = ipv6_with_ext(exts, first=0)
    r = decode_tcp(229, pkt)
    assert r == expect(C6, S6, 40 + 8 + 16 + 20)
    assert pkt[r[7] : r[7] + r[8]] == PAYLOAD


def test_ipv6_routing_header_then_tcp():
    routing = bytes([6, 0, 0, 0]) + b"\0" * 4
    pkt = ipv6_with_ext([(43, routing)], first=43)
    assert decode_tcp(101, pkt) == expect(C6, S6, 40 + 8 + 20)


def test_ipv6_atomic_fragment_decodes():
    pkt = ipv6_with_ext([(44, frag_header(6, 0, False))], first=44)
    assert decode_tcp(229, ethernet(pkt)[14:]) == expect(C6, S6, 48 + 20)


@pytest.mark.parametrize("offset,more", [(0, True), (185, False), (185, True)])
def test_ipv6_real_fragment_skipped(offset, more):
    pkt = ipv6_with_ext([(44, frag_header(6, offset, more))], first=44)
    assert decode_tcp(229, pkt) == SKIP_FRAGMENT


def test_ipv6_ext_headers_then_udp_and_icmpv6():
    udp = struct.pack("!HHHH", 5353, 5353, 8, 0)
    body = opts_header(17) + udp
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(body), 0, 64, ip_bytes(C6), ip_bytes(S6))
    assert decode_tcp(229, hdr + body) == SKIP_UDP
    icmp6 = dpkt.icmp6.ICMP6(type=128, code=0, data=b"\0\0\0\0")
    assert decode_tcp(229, ip_packet(C6, S6, icmp6, proto=58)) == SKIP_ICMP


def test_ipv6_no_next_header():
    hdr = struct.pack("!IHBB16s16s", 0x60000000, 0, 59, 64, ip_bytes(C6), ip_bytes(S6))
    assert decode_tcp(229, hdr) == SKIP_OTHER_IP


def test_ipv6_extension_header_cut_short():
    pkt = ipv6_with_ext([(0, opts_header(6))], first=0)
    assert decode_tcp(229, pkt[:44]) == SKIP_SHORT


def test_ipv6_payload_length_zero_uses_captured_length():
    pkt = bytearray(v6(b"j" * 100))
    struct.pack_into("!H", pkt, 4, 0)
    assert decode_tcp(229, bytes(pkt)) == expect(C6, S6, 60, b"j" * 100)


# -- not TCP --------------------------------------------------------------------


def udp_packet(sport: int, dport: int, data: bytes = b"data") -> bytes:
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    u.ulen = 8 + len(data)
    return ip_packet(C4, S4, u, proto=17)


def test_udp():
    assert decode_tcp(1, ethernet(udp_packet(5000, 53))) == SKIP_UDP


@pytest.mark.parametrize("sport,dport", [(2152, 2152), (40000, 2152), (2152, 40000)])
def test_gtp_u(sport, dport):
    inner = v4()
    gtp = struct.pack("!BBHI", 0x30, 0xFF, len(inner), 7) + inner
    assert decode_tcp(1, ethernet(udp_packet(sport, dport, gtp))) == SKIP_GTP


def test_gtp_u_behind_qinq():
    inner = v4()
    gtp = struct.pack("!BBHI", 0x30, 0xFF, len(inner), 7) + inner
    tags = struct.pack("!HH", 113, 0x8100) + struct.pack("!HH", 113, 0x0800)
    frame = eth_header(0x88A8) + tags + udp_packet(34536, 2152, gtp)
    assert decode_tcp(1, frame) == SKIP_GTP


def test_icmp():
    icmp = dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"ping"))
    assert decode_tcp(1, ethernet(ip_packet(C4, S4, icmp, proto=1))) == SKIP_ICMP


def test_other_ip_protocol():
    sctp = b"\0" * 12
    assert decode_tcp(101, ip_packet(C4, S4, sctp, proto=132)) == SKIP_OTHER_IP


def test_arp():
    arp = dpkt.arp.ARP(sha=MAC_A, spa=ip_bytes(C4), tha=b"\0" * 6, tpa=ip_bytes(S4))
    frame = bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=b"\xff" * 6, type=0x0806, data=arp))
    assert decode_tcp(1, frame) == SKIP_ARP
    sll = struct.pack("!HHH8sH", 1, 1, 6, MAC_A, 0x0806) + bytes(arp)
    assert decode_tcp(113, sll) == SKIP_ARP


def test_ethernet_non_ip():
    assert decode_tcp(1, eth_header(0x88CC) + b"\0" * 40) == SKIP_NON_IP  # LLDP
    assert decode_tcp(1, eth_header(0x0026) + b"\0" * 40) == SKIP_NON_IP  # 802.3 length


@pytest.mark.parametrize("lt", [105, 127, 147, 2, 9, 10, 1000])
def test_unknown_link_type(lt):
    assert decode_tcp(lt, ethernet(v4())) == SKIP_LINKTYPE


@pytest.mark.parametrize(
    "lt,n",
    [(1, 13), (1, 14 + 19), (1, 14 + 39), (113, 15), (276, 19), (0, 3), (108, 3), (101, 0)],
)
def test_too_short(lt, n):
    full = {1: ethernet(v4()), 113: b"\0" * 14 + b"\x08\x00" + v4(), 101: v4()}
    full[276] = b"\x08\x00" + b"\0" * 18 + v4()
    full[0] = struct.pack("<I", 2) + v4()
    full[108] = struct.pack("!I", 2) + v4()
    assert decode_tcp(lt, full[lt][:n]) == SKIP_SHORT


def test_ipv6_header_cut_short():
    assert decode_tcp(1, ethernet(v6())[: 14 + 39]) == SKIP_SHORT


# -- never raises ------------------------------------------------------------------


def _check(r: object, data: bytes) -> None:
    if isinstance(r, str):
        assert r in SKIPS
        return
    assert isinstance(r, tuple) and len(r) == 9
    src, dst, sport, dport, seq, ack, flags, start, wire = r
    assert len(src) in (4, 16) and len(dst) == len(src)
    assert 0 <= sport < 65536 and 0 <= dport < 65536
    assert 0 <= seq < 2**32 and 0 <= ack < 2**32 and 0 <= flags < 256
    assert start >= 20 and wire >= 0


@settings(max_examples=400, deadline=None)
@given(lt=st.sampled_from(LINKTYPES), data=st.binary(max_size=200))
def test_random_bytes_never_raise(lt, data):
    _check(decode_tcp(lt, data), data)


_PREFIXES = [
    (1, eth_header(0x0800)),
    (1, eth_header(0x86DD)),
    (1, eth_header(0x8100) + b"\0\1\x86\xdd"),
    (1, eth_header(0x88A8) + b"\0\1\x81\x00\0\2\x08\x00"),
    (113, b"\0" * 14 + b"\x86\xdd"),
    (276, b"\x08\x00" + b"\0" * 18),
    (0, struct.pack("<I", 30)),
    (0, struct.pack(">I", 2)),
    (108, struct.pack("!I", 24)),
    (101, b""),
    (229, b""),
]


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(_PREFIXES),
    version=st.sampled_from([b"\x45", b"\x46", b"\x4f", b"\x60", b"\x41"]),
    nxt=st.sampled_from([0, 6, 17, 43, 44, 51, 58, 60, 59, 135]),
    rest=st.binary(max_size=120),
)
def test_plausible_headers_with_random_rest_never_raise(prefix, version, nxt, rest):
    """Reach the IP, extension-header and TCP code with random fields."""
    lt, head = prefix
    body = bytearray(version + rest)
    if version == b"\x60" and len(body) > 6:
        body[6] = nxt  # IPv6 next header
    elif len(body) > 9:
        body[9] = nxt  # IPv4 protocol
    data = head + bytes(body)
    _check(decode_tcp(lt, data), data)


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=300),
    cut=st.integers(min_value=0, max_value=400),
    lt=st.sampled_from([1, 113, 276, 0, 101]),
)
def test_valid_packets_cut_anywhere(payload, cut, lt):
    from helpers_packets import frame_ip

    frame = frame_ip(v4(payload), lt)
    hdr = len(frame) - len(payload)
    r = decode_tcp(lt, frame[:cut])
    if cut >= hdr:
        assert r == expect(C4, S4, hdr, payload)
    else:
        assert r == SKIP_SHORT


def test_ipv6_authentication_header_then_tcp():
    # AH: next header, payload length in 4-octet units minus 2 (here 4 -> 24 bytes)
    ah = bytes([6, 4, 0, 0]) + struct.pack("!II", 0x1000, 1) + b"\0" * 12
    assert len(ah) == 24
    pkt = ipv6_with_ext([(51, ah)], first=51)
    assert decode_tcp(229, pkt) == expect(C6, S6, 40 + 24 + 20)


def test_ethernet_9100_tag():
    frame = eth_header(0x9100) + struct.pack("!HH", 7, 0x0800) + v4()
    assert decode_tcp(1, frame) == expect(C4, S4, 18 + 40)


def test_ipv6_in_ipv4_is_other_ip():
    assert decode_tcp(101, ip_packet(C4, S4, v6(), proto=41)) == SKIP_OTHER_IP
