"""The ``wscap`` command."""

from __future__ import annotations

import gc
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
@click.option(
    "--no-frames",
    is_flag=True,
    help="Keep no per-frame and per-message rows (big captures: memory then depends on the "
    "connections only; per-connection counts stay).",
)
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
@click.option(
    "--timeout",
    "timeouts",
    multiple=True,
    metavar="[NAME=]SECONDS",
    help="A timeout on the path, e.g. 60, nginx-read=60, alb=350, x=5m (repeatable).",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="NAME",
    help="Documented defaults of a proxy or load balancer on the path (see `wscap profiles`).",
)
@click.option(
    "--ingress",
    "ingress",
    multiple=True,
    metavar="FILE.yaml",
    help="Kubernetes Ingress manifests / ingress-nginx ConfigMap to take timeouts from.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    show_default="0: one per CPU (at most 4) for inputs of 64 MiB or more and pipes",
    help="Processes that share the analysis (the result is the same for any number).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default=None,
    help="Exit with status 1 when a finding this serious (or worse) exists.",
)
def analyze(
    capture: str,
    as_json: bool,
    no_frames: bool,
    max_message: int,
    show_secrets: bool,
    timeouts: tuple[str, ...],
    profiles: tuple[str, ...],
    ingress: tuple[str, ...],
    fail_on: str | None,
    jobs: int,
) -> None:
    """Analyse CAPTURE (pcap or pcapng, optionally gzip'd; - for stdin).

    The report opens with the verdict: findings, most serious first, each
    with its evidence and the setting that explains it.

    Exit status: 0 on success; 1 with --fail-on when such a finding exists;
    2 when the input cannot be read, or was damaged part-way (everything
    before the damage is still reported).
    """
    from .analyzer import analyze as run
    from .diagnose import WARNING, Finding
    from .profiles import parse_timeout_option, profile
    from .render import render_text, write_json

    configured = []
    extra: list[Finding] = []
    try:
        for name in profiles:
            configured.extend(profile(name))
        configured.extend(parse_timeout_option(t) for t in timeouts)
        if ingress:
            from .ingress import load_manifests

            found, issues = load_manifests(list(ingress))
            configured.extend(found)
            extra = [
                Finding(i.code, i.severity, [], None, i.summary, dict(i.evidence), i.advice)
                for i in issues
            ]
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    try:
        a = run(
            capture,
            keep_frames=not no_frames,
            max_message=max_message << 20,
            redact=not show_secrets,
            jobs=jobs or None,
        )
    except CaptureError as exc:
        _fail(str(exc))
    except MemoryError:
        _fail(f"{capture}: out of memory")
    except Exception as exc:  # a bug: still one line, never a traceback
        _fail(f"{capture}: internal error ({type(exc).__name__}: {exc}); please report it")
    # The model lives until this process exits.  Diagnosing and rendering
    # allocate many small objects, and every full pass of the cyclic
    # collector would walk the whole model again (0.2 s of 0.3 s on 1 GB);
    # frozen, it is no longer walked (its objects are still freed).
    gc.freeze()
    a.timeouts = configured
    a.config_findings = extra
    try:
        findings = a.diagnose()
    except Exception as exc:
        _fail(f"{capture}: internal error ({type(exc).__name__}: {exc}); please report it")
    try:
        if as_json:
            write_json(a, sys.stdout, frames=not no_frames)
        else:
            sys.stdout.write(render_text(a))
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:
        _fail(f"{capture}: internal error ({type(exc).__name__}: {exc}); please report it")
    if fail_on is not None:
        worst = {"error": ("error",), "warning": ("error", WARNING)}[fail_on]
        failing = any(f.severity in worst for f in findings)
    else:
        failing = False
    if a.capture.damage:
        _fail(
            f"{a.capture.path}: {a.capture.damage}; analysed the "
            f"{a.capture.packets} packets before it"
        )

    if failing:
        sys.exit(1)


@main.command("profiles")
def profiles_cmd() -> None:
    """List the documented timeout defaults usable with --profile and --timeout."""
    from .profiles import format_profiles

    sys.stdout.write(format_profiles())


def _fail(message: str) -> NoReturn:
    """One line on stderr (control characters in file names escaped), exit 2."""
    from .render import _clean

    click.echo(f"wscap: {_clean(message, None)}", err=True)
    sys.exit(2)


def run() -> None:
    """Entry point: Ctrl-C ends with status 130 and one line, no traceback
    (click's own handling would say "Aborted!" and exit 1)."""
    try:
        main(standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("wscap: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: click's message, status 2
        exc.show()
        sys.exit(exc.exit_code)
