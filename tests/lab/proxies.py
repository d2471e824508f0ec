"""nginx and HAProxy, started by the lab with their own config in a temp dir."""

from __future__ import annotations

import time
from pathlib import Path
from string import Template as _Template
from typing import Any

from .procs import ProcessSet, port_open, wait_for, which

TEMPLATES = Path(__file__).parent / "templates"


class Template(_Template):
    """``@{name}`` placeholders: nginx already uses ``$`` for its variables."""

    delimiter = "@"


class Proxy:
    """A running proxy: its config, logs and timeouts."""

    kind: str = ""

    def __init__(
        self,
        workdir: Path,
        procs: ProcessSet,
        listen_port: int,
        backend: str,
        timeouts: dict[str, float],
    ) -> None:
        self.workdir = workdir
        self.procs = procs
        self.listen_port = listen_port
        self.backend = backend
        self.timeouts = timeouts
        self.config_text = ""
        self.proc: Any = None

    @property
    def listen(self) -> str:
        return f"127.0.0.1:{self.listen_port}"

    def logs(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "listen": self.listen,
            "backend": self.backend,
            "timeouts_s": self.timeouts,
            "config": self.config_text.splitlines(),
            "logs": self.logs(),
        }


class Nginx(Proxy):
    kind = "nginx"

    def start(self) -> None:
        prefix = self.workdir / "nginx"
        for d in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "logs"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.config_text = Template((TEMPLATES / "nginx.conf.tmpl").read_text()).substitute(
            prefix=prefix,
            listen=self.listen,
            backend=self.backend,
            read_timeout=_num(self.timeouts["proxy_read_timeout"]),
            send_timeout=_num(self.timeouts["proxy_send_timeout"]),
        )
        conf = prefix / "nginx.conf"
        conf.write_text(self.config_text)
        exe = which("nginx") or "nginx"
        self.proc = self.procs.start(
            "nginx",
            [exe, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stderr_path=prefix / "stderr.log",
        )
        wait_for(
            lambda: port_open("127.0.0.1", self.listen_port) or not self.proc.running(),
            10,
            "nginx to listen",
        )
        if not self.proc.running():
            raise RuntimeError(
                "nginx exited: " + self.proc.stderr_text() + _read(prefix / "error.log")
            )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            time.sleep(0.05)

    def logs(self) -> dict[str, list[str]]:
        return {
            "access_log": _read(self.prefix / "access.log").splitlines(),
            "error_log": _read(self.prefix / "error.log").splitlines(),
        }


class HAProxy(Proxy):
    kind = "haproxy"

    def start(self) -> None:
        d = self.workdir / "haproxy"
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.config_text = Template((TEMPLATES / "haproxy.cfg.tmpl").read_text()).substitute(
            listen=self.listen,
            backend=self.backend,
            tunnel_timeout=_num(self.timeouts["timeout_tunnel"]),
            client_timeout=_num(self.timeouts["timeout_client"]),
            server_timeout=_num(self.timeouts["timeout_server"]),
        )
        conf = d / "haproxy.cfg"
        conf.write_text(self.config_text)
        exe = which("haproxy") or "haproxy"
        self.proc = self.procs.start(
            "haproxy", [exe, "-db", "-f", str(conf)], stderr_path=d / "stderr.log"
        )
        wait_for(
            lambda: port_open("127.0.0.1", self.listen_port) or not self.proc.running(),
            10,
            "haproxy to listen",
        )
        if not self.proc.running():
            raise RuntimeError("haproxy exited: " + self.proc.stderr_text())

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def logs(self) -> dict[str, list[str]]:
        return {"log": _read(self.dir / "stderr.log").splitlines()}


def _num(x: float) -> str:
    """A duration in the unit both nginx and HAProxy accept: milliseconds."""
    return f"{int(round(float(x) * 1000))}ms"


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except FileNotFoundError:
        return ""
