"""Packet and capture builders for the tests, independent of wscap's code.

Link-layer frames are built with dpkt's packet classes, captures with
dpkt's pcap/pcapng writers (integer timestamps go through dpkt's record
header classes so nanoseconds stay exact), and WebSocket frames by
:func:`ws_frame`, written from RFC 6455 section 5.2.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import socket
import struct
from collections.abc import Iterable, Sequence

import dpkt

# A packet for build_pcap: (ts_ns, data) or (ts_ns, data, orig_len).
Packet = tuple[int, bytes] | tuple[int, bytes, int]

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3

CLIENT_MAC = b"\x02\x00\x00\x00\x00\x01"
SERVER_MAC = b"\x02\x00\x00\x00\x00\x02"


# -- WebSocket --------------------------------------------------------------


def ws_frame(
    opcode: int,
    payload: bytes,
    fin: bool = True,
    mask: bytes | None = None,
    rsv: int = 0,
    length_form: int | None = None,
) -> bytes:
    """One WebSocket frame as RFC 6455 section 5.2 lays it out.

    ``length_form`` (7, 16 or 64) forces a length encoding, minimal or not.

    Byte 0: FIN (bit 7), RSV1-3 (bits 6-4, ``rsv`` as a 3-bit number with
    RSV1 the most significant), opcode (bits 3-0).  Byte 1: MASK (bit 7) and
    the 7-bit payload length; 126 means a 16-bit length follows, 127 a
    64-bit one (most significant bit 0).  Then the 4-byte masking key if
    masked, then the payload, XORed with ``key[i % 4]`` when masked.
    """
    if not 0 <= opcode <= 15 or not 0 <= rsv <= 7:
        raise ValueError("opcode is 4 bits, rsv 3 bits")
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    form = length_form or (7 if n <= 125 else 16 if n <= 0xFFFF else 64)
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    if len(mask) != 4:
        raise ValueError("the masking key is 4 bytes")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def close_payload(code: int | None = None, reason: bytes = b"") -> bytes:
    """Body of a close frame (RFC 6455 section 5.5.1)."""
    if code is None:
        return b""
    return struct.pack("!H", code) + reason


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2, step 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + WS_GUID).digest()).decode()


def upgrade_request(
    uri: str = "/ws",
    host: str = "example.test",
    key: str = "dGhlIHNhbXBsZSBub25jZQ==",
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    """An HTTP/1.1 WebSocket Upgrade request head (RFC 6455 section 4.1)."""
    lines = [
        f"GET {uri} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def upgrade_response(
    key: str = "dGhlIHNhbXBsZSBub25jZQ==",
    accept: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
    reason: str = "Switching Protocols",
) -> bytes:
    """A ``101`` answer; ``accept`` defaults to the right value for ``key``."""
    lines = [
        f"HTTP/1.1 101 {reason}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept if accept is not None else accept_for(key)}",
    ]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- packets ----------------------------------------------------------------


def ip_bytes(addr: str) -> bytes:
    """4 or 16 address bytes for a textual IPv4/IPv6 address."""
    return ipaddress.ip_address(addr).packed


def tcp_segment(
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    options: bytes = b"",
    win: int = 65535,
) -> dpkt.tcp.TCP:
    """A dpkt TCP segment; ``options`` must be padded to 4 bytes."""
    if len(options) % 4:
        raise ValueError("TCP options must be a multiple of 4 bytes")
    return dpkt.tcp.TCP(
        sport=sport,
        dport=dport,
        seq=seq & 0xFFFFFFFF,
        ack=ack & 0xFFFFFFFF,
        flags=flags,
        win=win,
        off=5 + len(options) // 4,
        opts=options,
        data=payload,
    )


def ip_packet(src: str, dst: str, l4: dpkt.Packet | bytes, proto: int = 6) -> bytes:
    """An IPv4 or IPv6 packet (version from the addresses) around ``l4``."""
    if ipaddress.ip_address(src).version == 4:
        ip = dpkt.ip.IP(src=ip_bytes(src), dst=ip_bytes(dst), p=proto, ttl=64, data=l4)
        return bytes(ip)
    body = bytes(l4)
    ip6 = dpkt.ip6.IP6(
        src=ip_bytes(src), dst=ip_bytes(dst), nxt=proto, hlim=64, plen=len(body), data=body
    )
    ip6.extension_hdrs = {}
    return bytes(ip6)


def ethernet(ip: bytes, src_mac: bytes = CLIENT_MAC, dst_mac: bytes = SERVER_MAC) -> bytes:
    """An Ethernet II frame carrying an IP packet (type from its version)."""
    etype = dpkt.ethernet.ETH_TYPE_IP if ip[0] >> 4 == 4 else dpkt.ethernet.ETH_TYPE_IP6
    return bytes(dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, type=etype, data=ip))


def frame_ip(ip: bytes, linktype: int = 1) -> bytes:
    """Wrap an IP packet in the link layer of ``linktype`` (1, 101, 113, 276, 0)."""
    v6 = ip[0] >> 4 == 6
    etype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        return ethernet(ip)
    if linktype in (101, 12, 14, 228, 229):
        return ip
    if linktype == 113:
        return (
            bytes(dpkt.sll.SLL(type=0, hrd=1, hlen=6, hdr=CLIENT_MAC + b"\0\0", ethtype=etype))[:16]
            + ip
        )
    if linktype == 276:
        sll2 = dpkt.sll2.SLL2(
            ethtype=etype, intindex=1, hrd=1, type=0, hlen=6, hdr=CLIENT_MAC + b"\0\0"
        )
        return bytes(sll2)[:20] + ip
    if linktype == 0:
        return struct.pack("<I", 30 if v6 else socket.AF_INET) + ip
    raise ValueError(f"no framing for link type {linktype}")


def tcp_packet(
    src: tuple[str, int],
    dst: tuple[str, int],
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    linktype: int = 1,
) -> bytes:
    """A whole link-layer frame of one TCP segment."""
    seg = tcp_segment(src[1], dst[1], seq, ack, flags, payload)
    return frame_ip(ip_packet(src[0], dst[0], seg), linktype)


# -- conversations ----------------------------------------------------------

SYN = dpkt.tcp.TH_SYN
ACK = dpkt.tcp.TH_ACK
FIN = dpkt.tcp.TH_FIN
RST = dpkt.tcp.TH_RST
PSH = dpkt.tcp.TH_PUSH


def tcp_conversation(
    client: tuple[str, int] = ("10.0.0.1", 50000),
    server: tuple[str, int] = ("10.0.0.2", 80),
    exchanges: Iterable[tuple[str, bytes]] = (),
    *,
    start_ns: int = 1_700_000_000_000_000_000,
    step_ns: int = 1_000_000,
    isn: tuple[int, int] = (1000, 5000),
    handshake: bool = True,
    end: str | None = "fin",
    closer: str = "c",
    linktype: int = 1,
    mss: int | None = None,
) -> list[tuple[int, bytes]]:
    """Packets ``(ts_ns, frame)`` of one TCP connection.

    ``exchanges`` is a list of ``("c" | "s", payload)``: data the client or
    the server sends, split into segments of at most ``mss`` bytes, each
    with correct sequence and acknowledgement numbers.  ``end`` is "fin"
    (``closer`` sends FIN, the peer answers FIN, then the last ACK), "rst"
    (``closer`` resets) or None (left open).  Timestamps start at
    ``start_ns`` and advance ``step_ns`` per packet.
    """
    seq = {"c": isn[0], "s": isn[1]}
    addr = {"c": (client, server), "s": (server, client)}
    out: list[tuple[int, bytes]] = []
    ts = start_ns

    def emit(side: str, flags: int, payload: bytes = b"") -> None:
        nonlocal ts
        other = "s" if side == "c" else "c"
        src, dst = addr[side]
        ack = seq[other] if flags & ACK else 0
        out.append((ts, tcp_packet(src, dst, seq[side], ack, flags, payload, linktype)))
        ts += step_ns
        seq[side] = (seq[side] + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    if handshake:
        emit("c", SYN)
        emit("s", SYN | ACK)
        emit("c", ACK)
    for side, data in exchanges:
        if side not in ("c", "s"):
            raise ValueError("exchange side is 'c' or 's'")
        size = mss or max(len(data), 1)
        for i in range(0, len(data), size):
            emit(side, PSH | ACK, data[i : i + size])
    other = "s" if closer == "c" else "c"
    if end == "fin":
        emit(closer, FIN | ACK)
        emit(other, FIN | ACK)
        emit(closer, ACK)
    elif end == "rst":
        emit(closer, RST | ACK)
    elif end is not None:
        raise ValueError("end is 'fin', 'rst' or None")
    return out


# -- captures ---------------------------------------------------------------


def build_pcap(
    packets: Iterable[Packet],
    linktype: int = 1,
    nano: bool = True,
    snaplen: int = 262144,
) -> bytes:
    """A little-endian pcap file made by dpkt.

    ``packets`` holds ``(ts_ns, data)`` or ``(ts_ns, data, orig_len)``.
    dpkt's ``pcap.Writer`` writes the file header; records use dpkt's
    ``LEPktHdr`` with integer fields so timestamps are exact (``nano=False``
    requires whole microseconds).
    """
    f = io.BytesIO()
    dpkt.pcap.Writer(f, snaplen=snaplen, linktype=linktype, nano=nano)
    div = 1 if nano else 1000
    for p in packets:
        ts, data = p[0], p[1]
        orig = p[2] if len(p) > 2 else len(data)  # type: ignore[misc]
        sec, frac = divmod(ts, 1_000_000_000)
        if frac % div:
            raise ValueError(f"{ts} is not a whole number of microseconds")
        hdr = dpkt.pcap.LEPktHdr(tv_sec=sec, tv_usec=frac // div, caplen=len(data), len=orig)
        f.write(bytes(hdr) + data)
    return f.getvalue()


def pcapng_epb(data: bytes, ticks: int, iface: int = 0, orig_len: int | None = None) -> bytes:
    """A little-endian enhanced packet block with a raw tick count, made by
    dpkt's ``EnhancedPacketBlockLE``.  dpkt always writes the original length
    equal to the captured one, so a different ``orig_len`` is patched in."""
    blk = dpkt.pcapng.EnhancedPacketBlockLE(
        iface_id=iface, ts_high=ticks >> 32, ts_low=ticks & 0xFFFFFFFF, pkt_data=data
    )
    raw = bytearray(bytes(blk))
    if orig_len is not None:
        struct.pack_into("<I", raw, 24, orig_len)
    return bytes(raw)


def build_pcapng(packets: Iterable[Packet], linktype: int = 1, snaplen: int = 262144) -> bytes:
    """A little-endian pcapng file made by dpkt (one interface, microseconds)."""
    f = io.BytesIO()
    idb = dpkt.pcapng.InterfaceDescriptionBlockLE(linktype=linktype, snaplen=snaplen)
    dpkt.pcapng.Writer(f, idb=idb)
    for p in packets:
        ts, data = p[0], p[1]
        orig = p[2] if len(p) > 2 else None  # type: ignore[misc]
        if ts % 1000:
            raise ValueError("pcapng default resolution is microseconds")
        f.write(pcapng_epb(data, ts // 1000, orig_len=orig))
    return f.getvalue()
