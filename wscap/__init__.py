"""wscap: WebSocket packet-capture analyzer.

>>> import wscap
>>> a = wscap.load("ws.pcap")
>>> a.connections, a.handshakes, a.frames, a.messages   # pandas DataFrames
"""

from __future__ import annotations

import os

from .analysis import Analysis
from .analyzer import Analyzer, analyze
from .errors import CaptureError
from .profiles import Timeout, parse_timeout_option, profile

__version__ = "0.1.0"


def load(
    path: str | os.PathLike[str],
    *,
    frames: bool = True,
    messages: bool | None = None,
    max_message: int = 64 << 20,
    redact: bool = True,
    timeouts: list[Timeout] | None = None,
    jobs: int | None = None,
) -> Analysis:
    """Analyse a capture (pcap, pcapng, optionally gzip'd; ``"-"`` = stdin).

    ``frames=False`` keeps no per-frame table and, unless ``messages=True``,
    no per-message table (for big captures: memory then grows with the
    connections, not the traffic);
    ``max_message`` caps the decompressed size counted per message;
    ``redact=False`` keeps cookies, credentials and tokens in the model;
    ``timeouts`` are the timeouts on the path, for the diagnosis
    (``a.findings``): see :mod:`wscap.profiles`;
    ``jobs`` processes share the work (None: one per CPU, at most 4, for
    inputs of 64 MiB or more; the result is the same for any number).

    Raises :class:`CaptureError` if the input cannot be read as a capture.
    """
    a = analyze(
        path,
        keep_frames=frames,
        max_message=max_message,
        redact=redact,
        keep_messages=messages,
        jobs=jobs,
    )
    a.timeouts = list(timeouts or [])
    return a


__all__ = [
    "Analysis",
    "Analyzer",
    "CaptureError",
    "Timeout",
    "analyze",
    "load",
    "parse_timeout_option",
    "profile",
    "__version__",
]
