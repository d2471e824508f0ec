"""The lab's scenarios: each one short (timeouts of 1-3 s), one capture each."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from .capture import CaptureSpec
from .peers import RawEnd, raw_client_handshake, raw_server_handshake
from .record import Lab, Scenario


def payload(n: int, seed: int) -> bytes:
    """Incompressible-looking but reproducible bytes (same sizes on every run)."""
    return random.Random(seed).randbytes(n)


ANY2 = CaptureSpec("tcpdump", "any", "LINUX_SLL2")
ANY1 = CaptureSpec("tcpdump", "any", "LINUX_SLL")  # Linux cooked v1
LO = CaptureSpec("tcpdump", "lo")
DUMPCAP = CaptureSpec("dumpcap", "lo")
SNAP80 = CaptureSpec("tcpdump", "lo", snaplen=80)


async def echo(ws: Any) -> None:
    try:
        async for msg in ws:
            await ws.send(msg)
    except ConnectionClosed:
        pass


async def wait_closed(ws: Any, timeout: float) -> None:
    """Read until the connection closes (frames are recorded by the taps)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except (ConnectionClosed, TimeoutError):
        pass


# ---------------------------------------------------------------------------
async def nginx_healthy(lab: Lab) -> None:
    # Pings: client every 0.4 s, server every 0.7 s; messages at times chosen
    # >= 0.1 s away from any ping, so frame order is the same on every run.
    _, bport = await lab.ws_server(echo, ping_interval=0.7, ping_timeout=2)
    px = await lab.nginx(bport, read_timeout=3)
    at = (0.1, 0.25, 0.55, 1.0, 1.1, 1.85)
    lab.planned.update(
        ping_interval_client_s=0.4, ping_interval_server_s=0.7, messages_at_s=at, close_at_s=2.6
    )
    await lab.start_capture(ANY2)
    async with connect(
        f"ws://{px.listen}/ws", create_connection=lab.client_cls, ping_interval=0.4, ping_timeout=2
    ) as ws:
        t_open = time.monotonic()
        for i, t in enumerate(at):
            await asyncio.sleep(max(0.0, t_open + t - time.monotonic()))
            msg: str | bytes = f"hello {i} " * (10 * (i + 1)) if i % 3 else payload(300 * i + 50, i)
            await ws.send(msg)
            await ws.recv()
        await lab.idle_for(t_open + 2.6 - time.monotonic(), "pings only")
    await asyncio.sleep(0.2)


async def _idle_until_proxy_closes(lab: Lab, url: str, timeout: float) -> None:
    async with connect(
        url, create_connection=lab.client_cls, ping_interval=None, close_timeout=1
    ) as ws:
        await ws.send("one message, then silence")
        await ws.recv()
        t0 = time.time()
        await wait_closed(ws, timeout + 3)
        lab.idle.append(
            {
                "label": "silence until the proxy closed",
                "planned_s": timeout,
                "t": round(t0, 6),
                "actual_s": round(time.time() - t0, 6),
            }
        )


async def nginx_read_timeout(lab: Lab) -> None:
    _, bport = await lab.ws_server(echo, ping_interval=None)
    px = await lab.nginx(bport, read_timeout=1.5)
    lab.planned.update(expected_timeout="nginx proxy_read_timeout", timeout_s=1.5)
    await lab.start_capture(LO)
    await _idle_until_proxy_closes(lab, f"ws://{px.listen}/ws", 1.5)
    await asyncio.sleep(0.2)


async def haproxy_tunnel_timeout(lab: Lab) -> None:
    _, bport = await lab.ws_server(echo, ping_interval=None)
    px = await lab.haproxy(bport, tunnel=1.5)
    lab.planned.update(expected_timeout="haproxy timeout tunnel", timeout_s=1.5)
    await lab.start_capture(DUMPCAP)
    await _idle_until_proxy_closes(lab, f"ws://{px.listen}/", 1.5)
    await asyncio.sleep(0.2)


async def nginx_oneway(lab: Lab) -> None:
    async def ticker(ws: Any) -> None:
        try:
            for i in range(8):
                await ws.send(f"tick {i}")
                await asyncio.sleep(0.5)
            await ws.wait_closed()
        except ConnectionClosed:
            pass

    _, bport = await lab.ws_server(ticker, ping_interval=None)
    px = await lab.nginx(bport, read_timeout=1.5)
    lab.planned.update(
        timeout_s=1.5,
        server_message_every_s=0.5,
        note="client sends nothing for 4 s > proxy_read_timeout; "
        "server->client data keeps nginx's timer alive",
    )
    await lab.start_capture(ANY2)
    async with connect(
        f"ws://{px.listen}/ws", create_connection=lab.client_cls, ping_interval=None
    ) as ws:
        t0 = time.time()
        for _ in range(8):
            await ws.recv()
        lab.idle.append(
            {
                "label": "client silent while receiving",
                "planned_s": 3.5,
                "t": round(t0, 6),
                "actual_s": round(time.time() - t0, 6),
            }
        )
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.2)


async def nginx_no_upgrade(lab: Lab) -> None:
    # The backend waits 0.2 s after a rejection before closing, so nginx's FIN
    # (it closes the upstream once it has the response) is first on every run.
    _, bport = await lab.ws_server(echo, ping_interval=None, reject_linger=0.2)
    px = await lab.nginx(bport, read_timeout=3)
    lab.planned.update(
        paths={
            "/no-upgrade": "HTTP/1.1 without Upgrade/Connection -> 426",
            "/http10": "HTTP/1.0 to the backend",
        }
    )
    await lab.start_capture(ANY2)
    for path in ("/no-upgrade", "/http10"):
        try:
            async with connect(
                f"ws://{px.listen}{path}", create_connection=lab.client_cls, ping_interval=None
            ):
                pass
        except InvalidStatus:
            pass
        await asyncio.sleep(0.3)
    await asyncio.sleep(0.3)


async def wrong_accept(lab: Lab) -> None:
    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        end = RawEnd("server", reader, writer, lab.logs)
        await raw_server_handshake(end, wrong_accept=True)
        await end.wait_eof(3)
        await end.close()

    _, port = await lab.raw_server(server)
    await lab.start_capture(LO)
    try:
        async with connect(
            f"ws://127.0.0.1:{port}/", create_connection=lab.client_cls, ping_interval=None
        ):
            pass
    except InvalidHandshake:
        pass
    await asyncio.sleep(0.3)


async def deflate(lab: Lab) -> None:
    _, port = await lab.ws_server(echo, ping_interval=None)
    lab.planned.update(
        connections=[
            "default permessage-deflate: context takeover both ways",
            "client_no_context_takeover + server_no_context_takeover",
        ]
    )
    await lab.start_capture(ANY2)
    text = "The quick brown fox jumps over the lazy dog. " * 20
    async with connect(
        f"ws://127.0.0.1:{port}/", create_connection=lab.client_cls, ping_interval=None
    ) as ws:
        for _ in range(4):
            await ws.send(text)  # same text: shrinks with context takeover
            await ws.recv()
        await ws.send([text[:300], text[300:600], text[600:]])  # fragmented, compressed
        await ws.recv()
        await ws.send(text.encode())
        await ws.recv()
    await asyncio.sleep(0.2)
    factory = ClientPerMessageDeflateFactory(
        client_no_context_takeover=True, server_no_context_takeover=True
    )
    async with connect(
        f"ws://127.0.0.1:{port}/",
        create_connection=lab.client_cls,
        ping_interval=None,
        extensions=[factory],
        compression=None,
    ) as ws:
        for _ in range(3):
            await ws.send(text)
            await ws.recv()
    await asyncio.sleep(0.2)


async def ipv6_large(lab: Lab) -> None:
    async def server(ws: Any) -> None:
        try:
            msg = await ws.recv()
            await ws.send(f"got {len(msg)} bytes")
            await ws.wait_closed()
        except ConnectionClosed:
            pass

    _, port = await lab.ws_server(
        server, host="::1", ping_interval=None, compression=None, max_size=2**20
    )
    size, frag = 160 * 1024, 16 * 1024
    lab.planned.update(message_bytes=size, fragment_bytes=frag)
    await lab.start_capture(LO, ip6=True)
    data = payload(size, 6)
    async with connect(
        f"ws://[::1]:{port}/",
        create_connection=lab.client_cls,
        ping_interval=None,
        compression=None,
    ) as ws:
        await ws.send([data[i : i + frag] for i in range(0, size, frag)])
        await ws.recv()
    await asyncio.sleep(0.2)


async def close_1011_and_rst(lab: Lab) -> None:
    async def server(ws: Any) -> None:
        try:
            async for msg in ws:
                if msg == "fail":
                    await ws.close(1011, "lab: internal error")
                    return
                await ws.send(msg)
        except ConnectionClosed:
            pass

    _, port = await lab.ws_server(server, ping_interval=None)
    await lab.start_capture(DUMPCAP)
    # 1) the server closes with 1011
    async with connect(
        f"ws://127.0.0.1:{port}/", create_connection=lab.client_cls, ping_interval=None
    ) as ws:
        await ws.send("hello")
        await ws.recv()
        await ws.send("fail")
        await wait_closed(ws, 3)
    await asyncio.sleep(0.3)
    # 2) a raw client that aborts with RST
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    end = RawEnd("client", reader, writer, lab.logs)
    await raw_client_handshake(end, f"127.0.0.1:{port}")
    await end.send_frame(1, b"hello before the reset")
    await end.recv_frame()
    await asyncio.sleep(0.2)
    end.abort_rst()
    await asyncio.sleep(0.3)


async def unanswered_pings(lab: Lab) -> None:
    answered = 2

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        end = RawEnd("server", reader, writer, lab.logs)
        await raw_server_handshake(end)
        pongs = 0
        # answer the first pings, then go silent: no pong, no close reply
        while (fr := await end.recv_frame()) is not None:
            if fr[0] == "ping" and pongs < answered:
                await end.send_frame(10, fr[1])
                pongs += 1
        await end.close()

    _, port = await lab.raw_server(server)
    lab.planned.update(
        ping_interval_s=0.4, ping_timeout_s=0.8, close_timeout_s=0.5, pings_answered=answered
    )
    await lab.start_capture(ANY2)
    async with connect(
        f"ws://127.0.0.1:{port}/",
        create_connection=lab.client_cls,
        ping_interval=0.4,
        ping_timeout=0.8,
        close_timeout=0.5,
        compression=None,
    ) as ws:
        await wait_closed(ws, 5)
    await asyncio.sleep(0.3)


async def mid_stream(lab: Lab) -> None:
    _, port = await lab.ws_server(echo, ping_interval=None, compression=None)
    async with connect(
        f"ws://127.0.0.1:{port}/",
        create_connection=lab.client_cls,
        ping_interval=None,
        compression=None,
    ) as ws:
        t_open = time.monotonic()
        await ws.send("before the capture")
        await ws.recv()
        await lab.start_capture(LO)
        # traffic resumes at a fixed time after the connect, however long the
        # capture took to start (it must start well within that time)
        resume = 1.0
        lab.planned.update(resume_after_connect_s=resume)
        if time.monotonic() - t_open > resume - 0.2:
            raise RuntimeError("the capture took too long to start")
        await asyncio.sleep(t_open + resume - time.monotonic())
        for i in range(5):
            await ws.send(f"message {i} " * (i + 1) * 5)
            await ws.recv()
            await ws.send(payload(200 + i, i))
            await ws.recv()
    await asyncio.sleep(0.2)


async def snaplen(lab: Lab) -> None:
    _, port = await lab.ws_server(echo, ping_interval=None, compression=None)
    await lab.start_capture(SNAP80)
    async with connect(
        f"ws://127.0.0.1:{port}/",
        create_connection=lab.client_cls,
        ping_interval=None,
        compression=None,
    ) as ws:
        for n in (5, 100, 1000, 5000, 20000):
            await ws.send("x" * n)
            await ws.recv()
    await asyncio.sleep(0.2)


async def fifty(lab: Lab) -> None:
    _, bport = await lab.ws_server(echo, ping_interval=None)
    px = await lab.nginx(bport, read_timeout=3)
    lab.planned.update(connections=50)
    await lab.start_capture(ANY1)

    async def one(i: int) -> None:
        async with connect(
            f"ws://{px.listen}/ws",
            create_connection=lab.client_cls,
            ping_interval=None,
            open_timeout=10,
        ) as ws:
            for j in range(2):
                await ws.send(f"client {i} message {j}")
                await ws.recv()
            await asyncio.sleep(0.5)

    await asyncio.gather(*(one(i) for i in range(50)))
    await asyncio.sleep(0.3)


async def unmasked_client(lab: Lab) -> None:
    _, port = await lab.ws_server(echo, ping_interval=None, compression=None)
    await lab.start_capture(LO)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    end = RawEnd("client", reader, writer, lab.logs)
    await raw_client_handshake(end, f"127.0.0.1:{port}")
    await end.send_frame(1, b"this client frame is not masked", mask=False)
    while (fr := await end.recv_frame()) is not None:
        if fr[0] == "close":
            await end.send_frame(8, fr[1][:2])
    await end.close()
    await asyncio.sleep(0.2)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "nginx-healthy",
            "client -> nginx -> websockets echo; text and binary "
            "messages, pings every 0.4 s (client) and 0.7 s (server); client closes 1000",
            nginx_healthy,
            ANY2,
            healthy=True,
        ),
        Scenario(
            "nginx-read-timeout",
            "one message, then silence: nginx proxy_read_timeout 1.5 s "
            "closes both connections (no close frame)",
            nginx_read_timeout,
            LO,
            findings=("abnormal-closure",),
            # nginx checks its timers when its event loop wakes, with the time
            # it cached then: the timeout fired 1.503 s and 1.539 s after the
            # last data in two runs of one CI job
            timing_tolerance=0.1,
        ),
        Scenario(
            "haproxy-tunnel-timeout",
            "one message, then silence: HAProxy timeout tunnel 1.5 s closes both connections",
            haproxy_tunnel_timeout,
            DUMPCAP,
            findings=("abnormal-closure", "tcp-reset"),
            timing_tolerance=0.1,  # a proxy's timer, like nginx-read-timeout
        ),
        Scenario(
            "nginx-oneway",
            "server sends every 0.5 s, client never sends; nginx "
            "proxy_read_timeout 1.5 s does not fire",
            nginx_oneway,
            ANY2,
            healthy=True,
        ),
        Scenario(
            "nginx-no-upgrade",
            "nginx without Upgrade/Connection headers (backend answers "
            "426) and with HTTP/1.0 to the backend",
            nginx_no_upgrade,
            ANY2,
            findings=("handshake-rejected", "upgrade-headers-missing"),
        ),
        Scenario(
            "wrong-accept",
            "raw server answers 101 with a wrong Sec-WebSocket-Accept; "
            "the websockets client gives up",
            wrong_accept,
            LO,
            findings=("accept-mismatch",),
        ),
        Scenario(
            "deflate",
            "permessage-deflate with context takeover (repeated text shrinks), a "
            "fragmented compressed message, then a no-context-takeover connection",
            deflate,
            ANY2,
            healthy=True,
        ),
        Scenario(
            "ipv6-large-binary",
            "a 160 KiB binary message in 16 KiB fragments over [::1]",
            ipv6_large,
            LO,
            healthy=True,
        ),
        Scenario(
            "close-1011-rst",
            "server closes with 1011; a raw client aborts with RST (SO_LINGER 0)",
            close_1011_and_rst,
            DUMPCAP,
            findings=("tcp-reset",),
        ),
        Scenario(
            "unanswered-pings",
            "raw server answers two pings, then stops answering; "
            "the websockets client closes with 1011 after its ping timeout",
            unanswered_pings,
            ANY2,
            findings=("ping-unanswered",),
        ),
        Scenario(
            "mid-stream",
            "the capture starts after the handshake",
            mid_stream,
            LO,
            findings=("handshake-not-captured",),
        ),
        Scenario(
            "snaplen-80",
            "tcpdump -s 80: payloads cut after 14 bytes",
            snaplen,
            SNAP80,
            findings=("truncated-packets",),
        ),
        Scenario(
            "fifty-connections",
            "50 clients at once through nginx",
            fifty,
            ANY1,
            healthy=True,
            # 100 sockets served by one event loop, nginx and tcpdump on 2
            # cores: when each connection gets its turn varies by up to ~50 ms
            # between runs, per connection and even in the median
            timing_tolerance=0.1,
            timing_median=True,
        ),
        Scenario(
            "unmasked-client",
            "raw client sends an unmasked frame; the server closes 1002",
            unmasked_client,
            LO,
            findings=("client-frame-unmasked",),
        ),
    ]
}
