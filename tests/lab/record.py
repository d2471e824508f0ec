"""Run a scenario: start peers/proxies/capture, record, write capture + truth."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, serve

from .capture import Capture, CaptureSpec
from .peers import client_class, server_class
from .procs import ProcessSet, free_port
from .proxies import HAProxy, Nginx, Proxy
from .truth import ConnLog, build_truth, connection_truth, dumps_truth


@dataclass
class Lab:
    """Everything one scenario run owns; handed to the scenario function."""

    name: str
    workdir: Path
    procs: ProcessSet = field(default_factory=ProcessSet)
    logs: list[ConnLog] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    capture: Capture | None = None
    proxy: Proxy | None = None
    planned: dict[str, Any] = field(default_factory=dict)
    idle: list[dict[str, Any]] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)

    # -- ports and servers ---------------------------------------------------
    def port(self, family: int = socket.AF_INET) -> int:
        p = free_port(family)
        self.ports.append(p)
        return p

    @property
    def client_cls(self) -> Any:
        return client_class(self.logs)

    async def ws_server(
        self, handler: Callable[[Any], Awaitable[None]], host: str = "127.0.0.1", **kw: Any
    ) -> tuple[Server, int]:
        """A websockets server on a fresh loopback port (instrumented)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        port = self.port(family)
        linger = float(kw.pop("reject_linger", 0.0))
        srv = await serve(
            handler,
            host,
            port,
            create_connection=server_class(self.logs, reject_linger=linger),
            **kw,
        )
        self.servers.append(srv)
        return srv, port

    async def raw_server(
        self,
        handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
        host: str = "127.0.0.1",
    ) -> tuple[asyncio.Server, int]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        port = self.port(family)
        srv = await asyncio.start_server(handler, host, port)
        self.servers.append(srv)  # type: ignore[arg-type]
        return srv, port

    # -- proxies -----------------------------------------------------------
    async def nginx(
        self, backend_port: int, read_timeout: float = 3.0, send_timeout: float = 3.0
    ) -> Nginx:
        px = Nginx(
            self.workdir,
            self.procs,
            self.port(),
            f"127.0.0.1:{backend_port}",
            {"proxy_read_timeout": read_timeout, "proxy_send_timeout": send_timeout},
        )
        await asyncio.to_thread(px.start)
        self.proxy = px
        return px

    async def haproxy(
        self, backend_port: int, tunnel: float = 1.5, client: float = 5.0, server: float = 5.0
    ) -> HAProxy:
        px = HAProxy(
            self.workdir,
            self.procs,
            self.port(),
            f"127.0.0.1:{backend_port}",
            {"timeout_tunnel": tunnel, "timeout_client": client, "timeout_server": server},
        )
        await asyncio.to_thread(px.start)
        self.proxy = px
        return px

    # -- capture -----------------------------------------------------------
    async def start_capture(self, spec: CaptureSpec, ip6: bool = False) -> Capture:
        ports = " or ".join(f"port {p}" for p in self.ports)
        bpf = f"{'ip6' if ip6 else 'ip'} and tcp and ({ports})"
        cap = Capture(spec, self.workdir / f"{self.name}{spec.suffix}", bpf, self.procs)
        await asyncio.to_thread(cap.start)
        self.capture = cap
        return cap

    # -- timing ------------------------------------------------------------
    async def idle_for(self, seconds: float, label: str) -> None:
        """Sleep with nothing sent by the scenario; record planned vs actual."""
        t0 = time.time()
        await asyncio.sleep(seconds)
        self.idle.append(
            {
                "label": label,
                "planned_s": seconds,
                "t": round(t0, 6),
                "actual_s": round(time.time() - t0, 6),
            }
        )


@dataclass
class Scenario:
    name: str
    description: str
    run: Callable[[Lab], Awaitable[None]]
    capture: CaptureSpec
    keep: bool = True  # small enough to keep in captures/lab/
    timeout: float = 30.0
    # what the diagnosis (issue 4) should say: finding codes that must be
    # present; ``healthy`` = no finding of severity error or warning
    findings: tuple[str, ...] = ()
    healthy: bool = False
    # run-to-run tolerance for relative times (tests/lab/consistency.py);
    # timing_median: compare the median over connections of each event
    timing_tolerance: float = 0.025
    timing_median: bool = False


def _pair(lab: Lab) -> list[dict[str, Any]]:
    """Pair client and server logs of the same TCP connection; label roles."""
    clients = [lg for lg in lab.logs if lg.side == "client"]
    servers = [lg for lg in lab.logs if lg.side == "server"]
    proxy_listen = lab.proxy.listen if lab.proxy else None
    by_addr = {(s.remote, s.local): s for s in servers}
    out: list[tuple[float, str, ConnLog | None, ConnLog | None]] = []
    used: set[int] = set()
    for c in clients:
        s = by_addr.get((c.local, c.remote))
        if s is not None:
            used.add(id(s))
        role = "client-proxy" if c.remote == proxy_listen else "direct"
        out.append((c.connected_at or 0.0, role, c, s))
    for s in servers:
        if id(s) not in used:
            out.append(
                (s.connected_at or 0.0, "proxy-backend" if proxy_listen else "direct", None, s)
            )
    out.sort(key=lambda x: x[0])
    return [connection_truth(f"c{i + 1}", role, c, s) for i, (_, role, c, s) in enumerate(out)]


def _linktype(path: Path) -> int | None:
    data = path.read_bytes()[:4096]
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return int(struct.unpack("<I", data[20:24])[0] & 0xFFFF)
    if magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        return int(struct.unpack(">I", data[20:24])[0] & 0xFFFF)
    if magic == b"\x0a\x0d\x0d\x0a":  # pcapng: SHB then IDB
        bo = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        shb_len = struct.unpack(bo + "I", data[4:8])[0]
        btype, _ = struct.unpack(bo + "II", data[shb_len : shb_len + 8])
        if btype == 1:
            return int(struct.unpack(bo + "H", data[shb_len + 8 : shb_len + 10])[0])
    return None


LINKTYPES = {1: "EN10MB", 113: "LINUX_SLL", 276: "LINUX_SLL2", 0: "NULL", 101: "RAW"}


def record(sc: Scenario, outdir: Path) -> tuple[Path, Path]:
    """Record ``sc``; write NAME.pcap[ng] and NAME.truth.json into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"wscap-lab-{sc.name}-"))
    lab = Lab(sc.name, workdir)
    try:

        async def main() -> None:
            try:
                async with asyncio.timeout(sc.timeout):
                    await sc.run(lab)
                    # let connection_lost callbacks land
                    deadline = time.monotonic() + 3
                    while (
                        any(
                            lg.peer_kind == "websockets" and lg.connected_at and not lg.finished
                            for lg in lab.logs
                        )
                        and time.monotonic() < deadline
                    ):
                        await asyncio.sleep(0.02)
            finally:
                for srv in lab.servers:
                    srv.close()
                for srv in lab.servers:
                    try:
                        async with asyncio.timeout(3):
                            await srv.wait_closed()
                    except TimeoutError:
                        pass

        asyncio.run(main())
        for lg in lab.logs:
            # a raw end that saw no close frame observed an abnormal closure
            if (
                lg.peer_kind == "raw"
                and lg.close_observed is None
                and lg.handshake.get("status") == 101
            ):
                lg.close_observed = 1006
        if lab.capture is None:
            raise RuntimeError(f"scenario {sc.name} started no capture")
        lab.capture.stop()
        if lab.proxy is not None:
            lab.proxy.stop()
        cap = lab.capture.describe()
        lt = _linktype(lab.capture.path)
        cap["linktype"] = LINKTYPES.get(lt, str(lt)) if lt is not None else cap["linktype"]
        conns = _pair(lab)
        for c in conns:
            c["started_before_capture"] = bool(
                c["connected_at"] and c["connected_at"] < lab.capture.started
            )
        cap["started_after_handshake"] = any(c["started_before_capture"] for c in conns)
        truth = build_truth(
            sc.name,
            sc.description,
            cap,
            conns,
            lab.proxy.describe() if lab.proxy else None,
            {**lab.planned, "idle": lab.idle},
            {"expect": {"findings": list(sc.findings), "healthy": sc.healthy}},
        )
        cap_out = outdir / lab.capture.path.name
        shutil.copyfile(lab.capture.path, cap_out)
        truth_out = outdir / f"{sc.name}.truth.json"
        truth_out.write_text(dumps_truth(truth))
        return cap_out, truth_out
    finally:
        lab.procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
