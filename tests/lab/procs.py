"""Processes, tools and ports for the capture lab.

Every process the lab starts is a :class:`Managed` process: started in its own
session (so its PID is also its process-group id) and stopped by that id, never
by name.  :class:`ProcessSet` stops everything it started, also when the
scenario raised.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

TOOLS = ("tcpdump", "dumpcap", "nginx", "haproxy")


class LabUnavailable(RuntimeError):
    """The lab cannot run here (not root, or a tool is missing)."""


def which(tool: str) -> str | None:
    """Find ``tool`` on PATH or in the sbin directories (nginx lives there)."""
    found = shutil.which(tool)
    if found:
        return found
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        p = Path(d) / tool
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def check_environment(tools: tuple[str, ...] = TOOLS) -> None:
    """Raise :class:`LabUnavailable` naming what is missing."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (packet capture on loopback)")
    missing = [t for t in tools if which(t) is None]
    if missing:
        problems.append(
            "missing tools: " + ", ".join(missing) + " (see tests/lab/apt-packages.txt)"
        )
    try:
        import websockets  # noqa: F401
    except ImportError:
        problems.append("python package 'websockets' is not installed")
    if problems:
        raise LabUnavailable("; ".join(problems))


def free_port(family: int = socket.AF_INET) -> int:
    """A port that was free a moment ago on the loopback address of ``family``.

    The kernel picks it (bind to port 0), so parallel runs do not collide
    except in the short window before the caller binds it again.
    """
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Managed:
    """One child process, in its own process group, stopped by its PID."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path | None = None,
        stderr_path: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.stderr_path = stderr_path
        self._stderr: IO[bytes] | None = None
        if stderr_path is not None:
            self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._stderr or subprocess.DEVNULL,
            stderr=self._stderr or subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Signal the process group ``self.pid``; SIGKILL it after ``timeout``."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        else:
            # the leader is gone; make sure no child of its group survives
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return int(self.proc.returncode)


class ProcessSet:
    """Processes started for one scenario; ``stop_all`` stops them by PID."""

    def __init__(self) -> None:
        self.procs: list[Managed] = []

    def start(self, name: str, argv: list[str], **kw: object) -> Managed:
        m = Managed(name, argv, **kw)  # type: ignore[arg-type]
        self.procs.append(m)
        return m

    def stop_all(self) -> None:
        for m in reversed(self.procs):
            try:
                m.stop()
            except Exception:  # keep stopping the others
                pass
        self.procs.clear()


def wait_for(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``pred()`` until true or raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_open(host: str, port: int) -> bool:
    """True once something listens on ``host:port``.

    Tested by trying to bind the port ourselves rather than by connecting, so
    the proxy's log and the capture see no probe connection.
    """
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
        return False
