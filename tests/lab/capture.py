"""Packet capture with tcpdump or dumpcap, with a drain and a drop check."""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .procs import ProcessSet, which

_TCPDUMP_DROPS = re.compile(r"(\d+) packets? dropped by kernel")
_TCPDUMP_CAPTURED = re.compile(r"(\d+) packets? captured")
_DUMPCAP_CAPTURED = re.compile(r"Packets captured:\s*(\d+)")
_DUMPCAP_DROPS = re.compile(r"Packets received/dropped on interface '[^']*':\s*(\d+)/(\d+)")


FULL_SNAPLEN = 65600  # > loopback MTU + link header: nothing is cut


class CaptureError(RuntimeError):
    """The capture tool failed, or dropped packets."""


@dataclass
class CaptureSpec:
    """How to capture: tool, interface, link type, snaplen."""

    tool: str = "tcpdump"  # 'tcpdump' or 'dumpcap'
    interface: str = "lo"  # 'lo' or 'any'
    linktype: str | None = None  # e.g. 'LINUX_SLL2' for tcpdump -i any
    snaplen: int | None = None  # None = tool default (262144)

    @property
    def suffix(self) -> str:
        return ".pcapng" if self.tool == "dumpcap" else ".pcap"


@dataclass
class Capture:
    """A running capture; :meth:`stop` drains it and checks for drops."""

    spec: CaptureSpec
    path: Path
    bpf: str
    procs: ProcessSet
    started: float = 0.0
    stopped: float = 0.0
    packets_captured: int | None = None
    packets_dropped: int | None = None
    stderr: str = ""
    _proc: Any = field(default=None, repr=False)

    def start(self, ready_timeout: float = 10.0) -> None:
        s = self.spec
        errpath = self.path.with_name(self.path.name + ".stderr")
        if s.tool == "tcpdump":
            # In immediate mode libpcap uses TPACKET_V2: one fixed slot of about
            # snaplen bytes per packet, so the default 2 MiB ring holds only 8
            # packets at snaplen 262144.  Loopback's MTU is 65536, so a snaplen of
            # 65600 cuts nothing; with a 128 MiB ring that is ~2000 slots.
            argv = [
                which("tcpdump") or "tcpdump",
                "-i",
                s.interface,
                "-U",
                "-B",
                "131072",
                "--immediate-mode",
                "-n",
                "-w",
                str(self.path),
            ]
            if s.linktype:
                argv += ["-y", s.linktype]
            argv += ["-s", str(s.snaplen or FULL_SNAPLEN)]
            # tcpdump drops root to user 'tcpdump' by default; keep root so it
            # can write into the lab's temp directory.
            argv += ["-Z", "root", self.bpf]
            ready = "listening on"
        elif s.tool == "dumpcap":
            argv = [
                which("dumpcap") or "dumpcap",
                "-i",
                s.interface,
                "-n",
                "-w",
                str(self.path),
                "-f",
                self.bpf,
            ]
            if s.snaplen:
                argv += ["-s", str(s.snaplen)]
            ready = "Capturing on"
        else:
            raise ValueError(f"unknown capture tool {s.tool!r}")
        self._proc = self.procs.start(f"capture-{s.tool}", argv, stderr_path=errpath)
        deadline = time.monotonic() + ready_timeout
        while ready not in self._proc.stderr_text():
            if not self._proc.running():
                raise CaptureError(f"{s.tool} exited: {self._proc.stderr_text().strip()}")
            if time.monotonic() > deadline:
                raise CaptureError(f"{s.tool} did not start: {self._proc.stderr_text().strip()}")
            time.sleep(0.02)
        # the socket is open; give the kernel a moment to attach the filter
        time.sleep(0.2)
        self.started = time.time()

    def stop(self, drain: float = 0.5) -> None:
        """Wait ``drain`` seconds, SIGINT, parse the tool's counters, check drops."""
        time.sleep(drain)
        self.stopped = time.time()
        self._proc.stop(signal.SIGINT, timeout=10)
        self.stderr = self._proc.stderr_text()
        if self.spec.tool == "tcpdump":
            m = _TCPDUMP_DROPS.search(self.stderr)
            c = _TCPDUMP_CAPTURED.search(self.stderr)
            self.packets_dropped = int(m.group(1)) if m else None
            self.packets_captured = int(c.group(1)) if c else None
        else:
            c = _DUMPCAP_CAPTURED.search(self.stderr)
            self.packets_captured = int(c.group(1)) if c else None
            drops = _DUMPCAP_DROPS.findall(self.stderr)
            self.packets_dropped = sum(int(d) for _, d in drops) if drops else None
        if self.packets_dropped is None:
            raise CaptureError(f"{self.spec.tool} did not report drops: {self.stderr.strip()}")
        if self.packets_dropped:
            raise CaptureError(
                f"{self.spec.tool} dropped {self.packets_dropped} packets; re-record: "
                f"{self.stderr.strip()}"
            )
        if not self.path.exists() or self.path.stat().st_size == 0:
            raise CaptureError(f"{self.spec.tool} wrote no file: {self.stderr.strip()}")

    def describe(self) -> dict[str, Any]:
        s = self.spec
        linktype = s.linktype
        if linktype is None:
            linktype = (
                "EN10MB"
                if s.interface == "lo"
                else ("LINUX_SLL2" if s.tool == "dumpcap" else "LINUX_SLL")
            )
        return {
            "file": self.path.name,
            "format": "pcapng" if s.tool == "dumpcap" else "pcap",
            "tool": s.tool,
            "interface": s.interface,
            "linktype": linktype,
            "snaplen": s.snaplen or (FULL_SNAPLEN if s.tool == "tcpdump" else 262144),
            "filter": self.bpf,
            "started": self.started,
            "stopped": self.stopped,
            "packets_captured": self.packets_captured,
            "packets_dropped": self.packets_dropped,
        }
