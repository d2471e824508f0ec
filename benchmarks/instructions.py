#!/usr/bin/env python3
"""Instructions one analysis of a capture executes, counted by valgrind: a measure that does
not move with the machine's load, for comparing two versions of wscap's hot path.

Wall and CPU times on a shared machine vary by 15-35 % from run to run (see RESULTS.md), more
than most single changes to the hot path gain. The number of instructions executed varies by
well under 1 % (with ``OPENBLAS_NUM_THREADS=1``: OpenBLAS's idle thread otherwise spins for a
varying time). It is not a time: memory stalls and instructions of different cost weigh the same.
So it tells whether a change does less work, and bench.py tells what that is worth in seconds.

For each version (the working tree, or a git revision whose ``wscap/`` is extracted with
``git archive``) it runs ``valgrind --tool=cachegrind`` twice on a Python process that imports
wscap and analyses the capture (``--no-frames``, one process, or one shard of ``--shard K/N``)
0 times and once, and prints the difference: the analysis alone, without start-up and imports.
Under valgrind the analysis runs about 13 times slower than normal: the 100 MB capture takes
about 30 s per version.

Usage::

    python benchmarks/instructions.py benchmarks/data/ws-100M-s1.pcap HEAD~3 HEAD .
    python benchmarks/instructions.py benchmarks/data/ws-20M-s1.pcap --shard 0/2 .
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ANALYSE = """
import sys
sys.path.insert(0, sys.argv[1])
from wscap.analyzer import analyze_shard
from wscap.pcapfile import PacketReader
path, times, shard = sys.argv[2], int(sys.argv[3]), sys.argv[4]
k, n = (int(x) for x in shard.split("/"))
for _ in range(times):
    analyze_shard(PacketReader(path), {"keep_frames": False}, (k, n) if n > 1 else None)
"""


def instructions(src: str, capture: str, times: int, shard: str) -> int:
    """Instructions valgrind counts for a process analysing ``capture`` ``times`` times with
    the wscap package found in ``src``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    with tempfile.NamedTemporaryFile(prefix="cachegrind-") as out:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={out.name}",
                sys.executable,
                "-c",
                ANALYSE,
                src,
                capture,
                str(times),
                shard,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode or not found:
        sys.exit(f"valgrind failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    return int(found.group(1).replace(",", ""))


def packets(capture: str) -> int:
    """How many records the capture has (for the per-packet figure)."""
    sys.path.insert(0, REPO)
    from wscap.pcapfile import PacketReader

    with PacketReader(capture) as reader:
        return sum(1 for _ in reader)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument(
        "versions",
        nargs="*",
        default=["."],
        help="git revisions, or . for the working tree (default)",
    )
    ap.add_argument("--shard", default="0/1", help="K/N: analyse shard K of N (default 0/1)")
    args = ap.parse_intermixed_args(argv)  # options before or after the versions
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    capture = os.path.abspath(args.capture)
    count = packets(capture)
    with tempfile.TemporaryDirectory(prefix="wscap-instructions-") as tmp:
        for version in args.versions:
            src = REPO
            if version != ".":
                src = os.path.join(tmp, version.replace("/", "_"))
                os.mkdir(src)
                archive = subprocess.run(
                    ["git", "archive", version, "wscap"], cwd=REPO, capture_output=True, check=True
                ).stdout
                subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
            base = instructions(src, capture, 0, args.shard)
            total = instructions(src, capture, 1, args.shard) - base
            print(
                f"{version}: {total / 1e6:,.0f} M instructions for {os.path.basename(capture)}"
                f" (shard {args.shard}), {total / count:,.0f} per packet",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
