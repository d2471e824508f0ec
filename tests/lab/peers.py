"""Peers that record their own truth.

* ``websockets`` client and server, instrumented: every frame is seen twice by
  two pass-through "extensions" put around the negotiated ones, once as it is
  on the wire (after permessage-deflate) and once as the application sees it;
  the asyncio transport is wrapped to note when this end sent FIN and when it
  received FIN or RST.
* Raw peers built on asyncio streams / sockets for what the library refuses to
  do: a wrong ``Sec-WebSocket-Accept``, unmasked client frames, a server that
  never answers pings, a client that aborts with RST (SO_LINGER 0).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.extensions.base import Extension
from websockets.frames import Frame

from .truth import ConnLog, FrameRec, close_code_of, expected_accept, fmt_addr, opcode_name


# --------------------------------------------------------------------------
# websockets instrumentation
# --------------------------------------------------------------------------
class _Tap(Extension):
    """A pass-through extension that records frames.

    The ``wire`` tap is last in the list (encode: sees the frame after
    compression; decode: sees it first, as received); the ``app`` tap is first
    (encode: sees the frame before compression; decode: sees it last).
    """

    name = "lab-tap"  # type: ignore[assignment]

    def __init__(self, log: ConnLog, stage: str, state: dict[str, Any]) -> None:
        self.log = log
        self.stage = stage
        self.state = state
        self.masked = log.side == "client"

    def encode(self, frame: Frame) -> Frame:
        if self.stage == "app":
            self.state["plain_out"] = len(frame.data)
        else:
            op = opcode_name(int(frame.opcode))
            self.log.frame(
                True,
                FrameRec(
                    t=time.time(),
                    direction=self.log.side,
                    opcode=op,
                    fin=frame.fin,
                    rsv1=frame.rsv1,
                    masked=self.masked,
                    payload_len=len(frame.data),
                    plain_len=self.state.pop("plain_out", len(frame.data)),
                    close_code=close_code_of(op, frame.data),
                    close_reason=frame.data[2:].decode("utf-8", "replace")
                    if op == "close"
                    else None,
                ),
            )
        return frame

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if self.stage == "wire":
            self.state["wire_in"] = (len(frame.data), frame.rsv1, time.time())
        else:
            wire_len, rsv1, t = self.state.pop(
                "wire_in", (len(frame.data), frame.rsv1, time.time())
            )
            op = opcode_name(int(frame.opcode))
            other = "server" if self.log.side == "client" else "client"
            self.log.frame(
                False,
                FrameRec(
                    t=t,
                    direction=other,
                    opcode=op,
                    fin=frame.fin,
                    rsv1=rsv1,
                    masked=not self.masked,
                    payload_len=wire_len,
                    plain_len=len(frame.data),
                    close_code=close_code_of(op, frame.data),
                    close_reason=frame.data[2:].decode("utf-8", "replace")
                    if op == "close"
                    else None,
                ),
            )
        return frame


def _deflate_params(ext: Any) -> dict[str, Any]:
    return {
        "name": ext.name,
        "remote_no_context_takeover": ext.remote_no_context_takeover,
        "local_no_context_takeover": ext.local_no_context_takeover,
        "remote_max_window_bits": ext.remote_max_window_bits,
        "local_max_window_bits": ext.local_max_window_bits,
    }


def _ext_get(self: Any) -> list[Extension]:
    return self.__dict__.get("_lab_ext", [])


def _ext_set(self: Any, value: list[Extension]) -> None:
    real = [e for e in value if not isinstance(e, _Tap)]
    log: ConnLog = self.__dict__["_lab_log"]
    state: dict[str, Any] = {}
    if real:
        log.deflate = None
        for e in real:
            if e.name == "permessage-deflate":
                p = _deflate_params(e)
                side = log.side
                other = "server" if side == "client" else "client"
                # express it per sender: who may not keep its context
                log.deflate = {
                    f"{side}_no_context_takeover": p["local_no_context_takeover"],
                    f"{other}_no_context_takeover": p["remote_no_context_takeover"],
                    f"{side}_max_window_bits": p["local_max_window_bits"],
                    f"{other}_max_window_bits": p["remote_max_window_bits"],
                }
    self.__dict__["_lab_ext"] = [_Tap(log, "app", state), *real, _Tap(log, "wire", state)]


_TAPPED: dict[type, type] = {}


def _tap_protocol(proto: Any, log: ConnLog) -> None:
    base = type(proto)
    cls = _TAPPED.get(base)
    if cls is None:
        cls = type("Lab" + base.__name__, (base,), {"extensions": property(_ext_get, _ext_set)})
        _TAPPED[base] = cls
    existing = proto.__dict__.pop("extensions", [])
    proto.__class__ = cls
    proto.__dict__["_lab_log"] = log
    proto.extensions = existing


def peer_end_pending(sock: Any) -> str | None:
    """Has the peer's FIN or RST already reached this socket (not yet read)?

    Looked at just before this end sends its own FIN, so that "who closed
    first" is what the kernel saw, not when the event loop got round to
    running our EOF callback.  On loopback a FIN is queued at the receiver by
    the time the sender's close() returns.
    """
    if sock is None:
        return None
    try:
        # asyncio hands out a TransportSocket wrapper without recv(): use a dup
        # of the descriptor (same kernel socket)
        with socket.socket(fileno=os.dup(sock.fileno())) as dup:
            data = dup.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return None
    except ConnectionResetError:
        return "rst"
    except OSError:
        return None
    return "fin" if data == b"" else None


def _note_close(log: ConnLog, sock: Any) -> None:
    if log.sent_end is None:
        pending = peer_end_pending(sock)
        if pending is not None:
            log.mark_received_end(pending)
    log.mark_sent_end("fin")


def _wrap_transport(transport: Any, log: ConnLog) -> None:
    sock = transport.get_extra_info("socket")
    for name in ("write_eof", "close", "abort"):
        orig = getattr(transport, name)

        def wrapped(*a: Any, _orig: Any = orig, _name: str = name) -> Any:
            if transport.is_closing() and _name != "abort":
                return _orig(*a)
            _note_close(log, sock)
            return _orig(*a)

        setattr(transport, name, wrapped)


class _LabMixin:
    lab_logs: list[ConnLog]
    lab_side: str

    def _lab_init(self) -> None:
        self.lab_log = ConnLog(side=self.lab_side, peer_kind="websockets")
        self.lab_logs.append(self.lab_log)
        _tap_protocol(self.protocol, self.lab_log)  # type: ignore[attr-defined]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        log = self.lab_log
        log.connected_at = time.time()
        log.local = fmt_addr(transport.get_extra_info("sockname"))
        log.remote = fmt_addr(transport.get_extra_info("peername"))
        _wrap_transport(transport, log)
        super().connection_made(transport)  # type: ignore[misc]

    def eof_received(self) -> None:
        self.lab_log.mark_received_end("fin")
        super().eof_received()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError):
            self.lab_log.mark_received_end("rst")
        super().connection_lost(exc)  # type: ignore[misc]
        self.lab_finish()
        self.lab_log.finished = True

    def lab_finish(self) -> None:
        """Fill in the handshake and close codes once the connection is over."""
        log = self.lab_log
        req = self.request  # type: ignore[attr-defined]
        resp = self.response  # type: ignore[attr-defined]
        hs: dict[str, Any] = log.handshake
        if req is not None:
            key = req.headers.get("Sec-WebSocket-Key")
            hs.update(
                {
                    # an opening-handshake attempt: Upgrade: websocket, or a
                    # Sec-WebSocket-Key whose Upgrade header a proxy dropped
                    "upgrade_requested": "websocket" in req.headers.get("Upgrade", "").lower()
                    or key is not None,
                    "upgrade_header": req.headers.get("Upgrade"),
                    "connection_header": req.headers.get("Connection"),
                    "method": "GET",
                    "uri": req.path,
                    "host": req.headers.get("Host"),
                    "key": key,
                    "request_headers": dict(req.headers.raw_items()),
                    "extensions_offered": req.headers.get("Sec-WebSocket-Extensions"),
                }
            )
        if resp is not None:
            accept = resp.headers.get("Sec-WebSocket-Accept")
            key = hs.get("key")
            hs.update(
                {
                    "status": resp.status_code,
                    "reason": resp.reason_phrase,
                    "accept": accept,
                    "accept_valid": (accept == expected_accept(key)) if accept and key else None,
                    "extensions_accepted": resp.headers.get("Sec-WebSocket-Extensions"),
                    "subprotocol": resp.headers.get("Sec-WebSocket-Protocol"),
                    "response_headers": dict(resp.headers.raw_items()),
                }
            )
        if hs.get("status") == 101 and log.close_observed is None:
            log.close_observed = self.close_code  # type: ignore[attr-defined]
        exc = self.protocol.handshake_exc  # type: ignore[attr-defined]
        if exc is not None:
            log.error = f"{type(exc).__name__}: {exc}"


def client_class(logs: list[ConnLog]) -> type[ClientConnection]:
    """A ClientConnection subclass that appends its ConnLog to ``logs``."""

    class LabClientConnection(_LabMixin, ClientConnection):
        lab_logs = logs
        lab_side = "client"

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self._lab_init()

    return LabClientConnection


def server_class(logs: list[ConnLog], reject_linger: float = 0.0) -> type[ServerConnection]:
    """A ServerConnection subclass that appends its ConnLog to ``logs``.

    ``reject_linger``: after rejecting a handshake, wait this long before
    closing TCP (so that the other side's FIN comes first, deterministically).
    """

    class LabServerConnection(_LabMixin, ServerConnection):
        lab_logs = logs
        lab_side = "server"

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            if reject_linger <= 0:
                return
            log = self.lab_log
            for name in ("write_eof", "close"):
                orig = getattr(transport, name)

                def later(*a: Any, _orig: Any = orig) -> Any:
                    status = log.handshake.get("status")
                    if status is None or status == 101:
                        return _orig(*a)
                    if "reject_linger_s" not in log.handshake:
                        log.handshake["reject_linger_s"] = reject_linger
                        log.notes.append(f"server lingers {reject_linger}s after rejecting")
                    asyncio.get_running_loop().call_later(reject_linger, _orig, *a)
                    return None

                setattr(transport, name, later)

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self._lab_init()
            proto = self.protocol
            orig = proto.send_response

            def send_response(response: Any) -> None:
                self.response = response
                self.lab_log.handshake["status"] = response.status_code
                exc = proto.handshake_exc
                if exc is not None and self.request is None:
                    self.lab_log.handshake["request_error"] = f"{type(exc).__name__}: {exc}"
                    self.lab_log.handshake["upgrade_requested"] = True
                orig(response)

            proto.send_response = send_response  # type: ignore[method-assign]

    return LabServerConnection


# --------------------------------------------------------------------------
# raw peers
# --------------------------------------------------------------------------
def build_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bool, rsv1: bool = False
) -> bytes:
    head1 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", head1, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", head1, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", head1, m | 127, n)
    if mask:
        key = os.urandom(4)
        body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return hdr + key + body
    return hdr + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bool, bool, bool, bytes]:
    """Read one frame: (opcode, fin, rsv1, masked, unmasked payload)."""
    b1, b2 = await reader.readexactly(2)
    n = b2 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    masked = bool(b2 & 0x80)
    key = await reader.readexactly(4) if masked else b""
    data = await reader.readexactly(n)
    if masked:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return b1 & 0x0F, bool(b1 & 0x80), bool(b1 & 0x40), masked, data


class RawEnd:
    """A raw-socket endpoint that records what it sends and receives."""

    def __init__(
        self,
        side: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        logs: list[ConnLog],
    ) -> None:
        self.side = side
        self.reader = reader
        self.writer = writer
        self.log = ConnLog(side=side, peer_kind="raw")
        self.log.connected_at = time.time()
        self.log.local = fmt_addr(writer.get_extra_info("sockname"))
        self.log.remote = fmt_addr(writer.get_extra_info("peername"))
        logs.append(self.log)

    async def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool | None = None
    ) -> None:
        if mask is None:
            mask = self.side == "client"
        op = opcode_name(opcode)
        self.writer.write(build_frame(opcode, payload, fin=fin, mask=mask))
        self.log.frame(
            True,
            FrameRec(
                t=time.time(),
                direction=self.side,
                opcode=op,
                fin=fin,
                rsv1=False,
                masked=mask,
                payload_len=len(payload),
                plain_len=len(payload),
                close_code=close_code_of(op, payload),
                close_reason=payload[2:].decode("utf-8", "replace") if op == "close" else None,
            ),
        )
        await self.writer.drain()

    async def recv_frame(self) -> tuple[str, bytes] | None:
        """One frame, or None on EOF/RST (recorded)."""
        try:
            op, fin, rsv1, masked, data = await read_frame(self.reader)
        except asyncio.IncompleteReadError:
            self.log.mark_received_end("fin")
            return None
        except ConnectionResetError:
            self.log.mark_received_end("rst")
            return None
        name = opcode_name(op)
        other = "server" if self.side == "client" else "client"
        if name == "close" and self.log.close_observed is None:
            self.log.close_observed = close_code_of(name, data) or 1005
        self.log.frame(
            False,
            FrameRec(
                t=time.time(),
                direction=other,
                opcode=name,
                fin=fin,
                rsv1=rsv1,
                masked=masked,
                payload_len=len(data),
                plain_len=len(data),
                close_code=close_code_of(name, data),
                close_reason=data[2:].decode("utf-8", "replace") if name == "close" else None,
            ),
        )
        return name, data

    async def wait_eof(self, timeout: float) -> None:
        """Read (and record frames) until the peer's FIN/RST or ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while await self.recv_frame() is not None:
                    pass
        except TimeoutError:
            self.log.notes.append(f"{self.side}: no EOF within {timeout}s")

    async def close(self) -> None:
        """Close with FIN."""
        _note_close(self.log, self.writer.get_extra_info("socket"))
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def abort_rst(self) -> None:
        """Close with RST: SO_LINGER on, timeout 0."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.log.mark_sent_end("rst")
        self.writer.transport.abort()


async def read_http_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


async def raw_client_handshake(
    end: RawEnd, host: str, path: str = "/"
) -> tuple[int, dict[str, str]]:
    """Send an Upgrade request (no extensions), read the response head."""
    key = new_key()
    req = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\nUser-Agent: wscap-lab-raw\r\n\r\n"
    )
    end.writer.write(req.encode())
    await end.writer.drain()
    status_line, headers = await read_http_head(end.reader)
    status = int(status_line.split()[1])
    accept = headers.get("sec-websocket-accept")
    end.log.handshake = {
        "upgrade_requested": True,
        "method": "GET",
        "uri": path,
        "host": host,
        "key": key,
        "status": status,
        "accept": accept,
        "accept_valid": accept == expected_accept(key) if accept else None,
        "extensions_offered": None,
        "extensions_accepted": headers.get("sec-websocket-extensions"),
        "subprotocol": None,
    }
    return status, headers


async def raw_server_handshake(end: RawEnd, *, wrong_accept: bool = False) -> None:
    """Read an Upgrade request and answer 101 (optionally with a wrong Accept)."""
    line, headers = await read_http_head(end.reader)
    key = headers.get("sec-websocket-key", "")
    accept = expected_accept(key)
    if wrong_accept:
        accept = expected_accept(key + "x")
    end.writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\nServer: wscap-lab-raw\r\n\r\n"
        ).encode()
    )
    await end.writer.drain()
    end.log.handshake = {
        "upgrade_requested": True,
        "method": line.split()[0],
        "uri": line.split()[1],
        "host": headers.get("host"),
        "key": key,
        "status": 101,
        "accept": accept,
        "accept_valid": accept == expected_accept(key),
        "extensions_offered": headers.get("sec-websocket-extensions"),
        "extensions_accepted": None,
        "subprotocol": None,
    }
