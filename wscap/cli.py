"""The ``wscap`` command."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from . import __version__
from .errors import CaptureError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wscap")
def main() -> None:
    """wscap: why did this WebSocket fail or drop? Answers from a packet capture."""


@main.command()
@click.argument("capture", metavar="CAPTURE")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON on stdout.")
@click.option("--no-frames", is_flag=True, help="Leave the per-frame table out (for big captures).")
@click.option(
    "--max-message",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Decompress at most this many MiB of each message.",
)
@click.option(
    "--show-secrets",
    is_flag=True,
    help="Do not redact cookies, Authorization headers and tokens.",
)
def analyze(
    capture: str, as_json: bool, no_frames: bool, max_message: int, show_secrets: bool
) -> None:
    """Analyse CAPTURE (pcap or pcapng, optionally gzip'd; - for stdin).

    Exit status: 0 on success; 2 when the input cannot be read, or was
    damaged part-way (everything before the damage is still reported).
    """
    from .analyzer import analyze as run
    from .render import render_text, write_json

    try:
        a = run(
            capture,
            keep_frames=not no_frames,
            max_message=max_message << 20,
            redact=not show_secrets,
        )
    except CaptureError as exc:
        _fail(str(exc))
    except MemoryError:
        _fail(f"{capture}: out of memory")
    try:
        if as_json:
            write_json(a, sys.stdout, frames=not no_frames)
        else:
            sys.stdout.write(render_text(a))
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    if a.capture.damage:
        _fail(
            f"{a.capture.path}: {a.capture.damage}; analysed the "
            f"{a.capture.packets} packets before it"
        )


def _fail(message: str) -> NoReturn:
    """One line on stderr (control characters in file names escaped), exit 2."""
    from .render import _clean

    click.echo(f"wscap: {_clean(message, None)}", err=True)
    sys.exit(2)


def run() -> None:
    """Entry point that never shows a traceback for Ctrl-C."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
