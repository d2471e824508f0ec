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

__version__ = "0.1.0"


def load(
    path: str | os.PathLike[str],
    *,
    frames: bool = True,
    max_message: int = 64 << 20,
    redact: bool = True,
) -> Analysis:
    """Analyse a capture (pcap, pcapng, optionally gzip'd; ``"-"`` = stdin).

    ``frames=False`` keeps no per-frame table (for big captures);
    ``max_message`` caps the decompressed size counted per message;
    ``redact=False`` keeps cookies, credentials and tokens in the model.

    Raises :class:`CaptureError` if the input cannot be read as a capture.
    """
    return analyze(path, keep_frames=frames, max_message=max_message, redact=redact)


__all__ = ["Analysis", "Analyzer", "CaptureError", "analyze", "load", "__version__"]
