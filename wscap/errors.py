"""The one exception type wscap raises for bad input."""

from __future__ import annotations


class CaptureError(Exception):
    """The input cannot be read as a capture (missing, not a capture, unsupported).

    The message is one line meant for the user; the CLI prints it as
    ``wscap: <message>`` and exits with status 2.
    """
