"""Link, IP and TCP header decoding for the hot path.

A flat function over ``struct.unpack_from`` that returns a tuple for a TCP
segment and a short reason string for anything else.  dpkt's packet classes
build an object per layer (about 14 µs a packet); this path builds one tuple
and one slice, which is what lets wscap read hundreds of thousands of
packets a second.  Checksums are never verified: captures taken on the
sending host (inside pods, on loopback) carry offloaded, wrong checksums.
"""

from __future__ import annotations

import struct

# Link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
DLT_RAW_12 = 12  # DLT_RAW on most BSDs
DLT_RAW_14 = 14  # DLT_RAW on OpenBSD

SUPPORTED_LINKTYPES = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    DLT_RAW_12: "raw IP",
    DLT_RAW_14: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked v1",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
}

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_VLAN_TAGS = (0x8100, 0x88A8, 0x9100, 0x9200)

# TCP flags
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10

# Reasons a packet is skipped (counted in the capture summary).
SKIP_LINKTYPE = "unsupported link type"
SKIP_ARP = "ARP"
SKIP_NON_IP = "not IP"
SKIP_UDP = "UDP"
SKIP_GTP = "GTP-U tunnel (not decoded)"
SKIP_ICMP = "ICMP"
SKIP_OTHER_IP = "other IP protocol"
SKIP_FRAGMENT = "IP fragment"
SKIP_SHORT = "truncated before the TCP header"
SKIP_MALFORMED = "malformed header"

_u16 = struct.Struct(">H").unpack_from
_tcp = struct.Struct(">HHIIBB").unpack_from
_ipv4 = struct.Struct(">BxHHHBB").unpack_from

# IPv6 extension headers that are skipped to reach TCP.
_IPV6_EXT = {0, 43, 60, 135, 139, 140, 253, 254}
GTP_U_PORT = 2152


def decode_tcp(linktype: int, data: bytes) -> tuple | str:
    """Decode one packet down to TCP.

    Returns ``(src, dst, sport, dport, seq, ack, flags, start, wire_len)``
    where ``src``/``dst`` are the raw address bytes (4 or 16), ``start`` is
    the offset of the TCP payload in ``data`` and ``wire_len`` is the payload
    length from the IP header (it can exceed what was captured when the
    snaplen cut the packet).  For anything that is not TCP it returns one of
    the ``SKIP_*`` reason strings.  Never raises on malformed input.
    """
    n = len(data)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return SKIP_SHORT
        etype = (data[12] << 8) | data[13]
        off = 14
    elif linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            return SKIP_SHORT
        etype = (data[0] << 8) | data[1]
        off = 20
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            return SKIP_SHORT
        etype = (data[14] << 8) | data[15]
        off = 16
    elif linktype in (LINKTYPE_RAW, DLT_RAW_12, DLT_RAW_14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if n < 1:
            return SKIP_SHORT
        v = data[0] >> 4
        etype = ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0
        off = 0
    elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if n < 4:
            return SKIP_SHORT
        # BSD loopback: address family in host (NULL) or network (LOOP) byte
        # order; 2 is IPv4 everywhere, IPv6 is 24, 28 or 30 by platform.
        af = data[0] or data[3]
        etype = ETH_IPV4 if af == 2 else ETH_IPV6 if af in (24, 28, 30) else 0
        off = 4
    else:
        return SKIP_LINKTYPE
    # 802.1Q/QinQ tags (libpcap also puts them back into cooked captures)
    while etype in ETH_VLAN_TAGS:
        if n < off + 4:
            return SKIP_SHORT
        etype = (data[off + 2] << 8) | data[off + 3]
        off += 4

    if etype == ETH_IPV4:
        if n < off + 20:
            return SKIP_SHORT
        vihl, total, _ident, frag, _ttl, proto = _ipv4(data, off)
        if vihl >> 4 != 4:
            return SKIP_MALFORMED
        ihl = (vihl & 15) * 4
        if ihl < 20:
            return SKIP_MALFORMED
        if frag & 0x3FFF:  # MF set or non-zero offset
            return SKIP_FRAGMENT
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        # total length 0 is what TSO segments look like when captured on the sender
        ip_payload = (total - ihl) if total else (n - off - ihl)
        off += ihl
        if ip_payload < 0:
            return SKIP_MALFORMED
    elif etype == ETH_IPV6:
        if n < off + 40:
            return SKIP_SHORT
        plen = _u16(data, off + 4)[0]
        proto = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        off += 40
        ip_payload = plen if plen else n - off
        while proto in _IPV6_EXT or proto == 44 or proto == 51:
            if n < off + 8:
                return SKIP_SHORT
            if proto == 44:  # fragment header
                if _u16(data, off + 2)[0] & 0xFFF9:  # offset or M flag
                    return SKIP_FRAGMENT
                hl = 8
            elif proto == 51:  # AH: length in 4-octet units
                hl = (data[off + 1] + 2) * 4
            else:
                hl = (data[off + 1] + 1) * 8
            proto = data[off]
            off += hl
            ip_payload -= hl
        if ip_payload < 0:
            return SKIP_MALFORMED
    elif etype == ETH_ARP:
        return SKIP_ARP
    else:
        return SKIP_NON_IP

    if proto != 6:
        if proto == 17:
            if n >= off + 4 and (
                _u16(data, off)[0] == GTP_U_PORT or _u16(data, off + 2)[0] == GTP_U_PORT
            ):
                return SKIP_GTP
            return SKIP_UDP
        if proto == 1 or proto == 58:
            return SKIP_ICMP
        return SKIP_OTHER_IP
    if n < off + 20:
        return SKIP_SHORT
    sport, dport, seq, ack, doff, flags = _tcp(data, off)
    thl = (doff >> 4) * 4
    if thl < 20 or thl > ip_payload:
        return SKIP_MALFORMED
    return (src, dst, sport, dport, seq, ack, flags, off + thl, ip_payload - thl)


def format_addr(ip: bytes, port: int) -> str:
    """``a.b.c.d:port`` or ``[v6]:port``."""
    if len(ip) == 4:
        return f"{ip[0]}.{ip[1]}.{ip[2]}.{ip[3]}:{port}"
    import ipaddress

    return f"[{ipaddress.IPv6Address(ip).compressed}]:{port}"
