"""``python -m tests.lab record [--out DIR] [NAME ...]`` / ``python -m tests.lab list``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .procs import LabUnavailable, check_environment


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list the scenarios")
    rec = sub.add_parser("record", help="record scenarios (root, tcpdump, nginx, haproxy)")
    rec.add_argument("--out", type=Path, default=Path("captures/lab"))
    rec.add_argument("names", nargs="*")
    args = ap.parse_args(argv)

    from .scenarios import SCENARIOS

    if args.cmd == "list":
        for s in SCENARIOS.values():
            print(f"{s.name:24} {s.capture.tool} -i {s.capture.interface}  {s.description}")
        return 0
    try:
        check_environment()
    except LabUnavailable as e:
        print(f"lab unavailable: {e}", file=sys.stderr)
        return 2
    from .record import record

    names = args.names or list(SCENARIOS)
    for n in names:
        t0 = time.monotonic()
        cap, truth = record(SCENARIOS[n], args.out)
        print(f"{n:24} {time.monotonic() - t0:5.1f}s  {cap} ({cap.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
