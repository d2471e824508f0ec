#!/usr/bin/env python3
"""Side-by-side benchmark of wscap against tshark (and optionally pyshark) on the same captures.

For each capture file (normally made by ``benchmarks/gen.py``, which writes ``NAME.truth.json``
beside it) this runs, several times each and every run in a fresh subprocess:

* ``python -m wscap analyze FILE --json --no-frames`` (from the file with its default number of
  processes and with ``-j1``, and with ``--pipe`` also
  ``cat FILE | python -m wscap analyze - --json --no-frames``);
* ``tshark -n -r FILE -Y websocket -T fields -e websocket.opcode -e websocket.mask
  -e tcp.analysis.retransmission`` (plus ``-d tcp.port==P,http`` for the generator's non-HTTP
  server ports);
* optionally pyshark ``FileCapture(display_filter="websocket")`` on files up to
  ``--pyshark-max-mb``.

Runs are interleaved (the first of every tool and mode, then the second of each, ...), so that
the machine speeding up or slowing down over minutes weighs on all of them alike; with
``--wscap-rev`` repeated, several versions of wscap are measured side by side that way.
It reports the median wall time, packets/s, MB/s (10**6 bytes) and the peak RSS of each run's
largest process (GNU time's %M; for pyshark that is the larger of Python and its tshark child)
and of all its processes together (sampled from /proc every 50 ms), the
wscap/tshark throughput ratio, and checks the counts:
tshark's WebSocket frame count against the generator's truth (the generator's check against an
independent dissector) and wscap's packets, WebSocket connections, frames and messages against the
truth, down to each connection. Output is markdown suitable for ``benchmarks/RESULTS.md``.

tshark dissects the payload of some retransmitted segments a second time (a fast retransmission
that starts at a frame boundary re-reports the frames it holds), so frames reported on packets that
tshark itself flags ``tcp.analysis.retransmission`` are counted apart; the raw count is shown too.

Usage::

    python benchmarks/bench.py benchmarks/data/ws-100M-s1.pcap --runs 3 --pipe
    python benchmarks/bench.py FILE --tools tshark --runs 1 --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = "/usr/bin/time"  # GNU time, for the peak RSS of the measured process alone
REPO = os.path.dirname(HERE)
OPNAMES = {"0": "continuation", "1": "text", "2": "binary", "8": "close", "9": "ping",
           "10": "pong"}
DIRS = ("client_to_server", "server_to_client")

PYSHARK_SCRIPT = r"""
import sys, pyshark
path, ports = sys.argv[1], sys.argv[2:]
cap = pyshark.FileCapture(path, display_filter="websocket", keep_packets=False,
                          decode_as={f"tcp.port=={p}": "http" for p in ports})
n = 0
for pkt in cap:
    n += len(pkt.get_multiple_layers("websocket"))
cap.close()
print(n)
"""


@dataclass
class Run:
    """One timed run of one tool: wall seconds, peak RSS (bytes), exit status, output file."""

    wall: float
    rss: int
    status: int
    out: str
    tree_rss: int = 0  # peak of the sum over the tool's processes, sampled every 50 ms


@dataclass
class Result:
    """All runs of one tool in one mode on one file, with the counts it reported."""

    tool: str
    mode: str
    runs: list[Run] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        """Median wall time of the successful runs (inf if none)."""
        ok = [r.wall for r in self.runs if r.status == 0]
        return statistics.median(ok) if ok else float("inf")

    @property
    def rss(self) -> int:
        """Median peak RSS (bytes) of the successful runs."""
        ok = [r.rss for r in self.runs if r.status == 0]
        return int(statistics.median(ok)) if ok else 0

    @property
    def tree_rss(self) -> int:
        """Median of the sampled peak RSS summed over the tool's processes."""
        ok = [r.tree_rss for r in self.runs if r.status == 0]
        return int(statistics.median(ok)) if ok else 0


def tree_rss(pid: int) -> int:
    """VmRSS (bytes) of ``pid`` and all its descendants, summed, from /proc."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return total


def run_measured(cmd: list[str], out_path: str, stdin_file: str | None = None,
                 env: dict | None = None, cwd: str | None = None,
                 timeout: float | None = None) -> Run:
    """Run ``cmd`` with stdout to ``out_path``; return its wall time and its own peak RSS.

    The peak RSS is measured by ``/usr/bin/time -f %M`` when it exists, else by ``os.wait4``
    on the child. The small ``time`` process in between matters: Linux carries the RSS high-water
    mark of a forked process across ``exec``, so a tool forked straight from this (by then large,
    having parsed big JSON outputs) process would inherit this process's peak RSS.
    With ``stdin_file`` the input is streamed through a pipe from a separate ``cat`` process.
    """
    rss_file = out_path + ".rss"
    if os.path.exists(TIME):
        cmd = [TIME, "-f", "%M", "-o", rss_file] + cmd
    with open(out_path, "wb") as out, open(out_path + ".err", "wb") as err:
        cat = None
        t0 = time.perf_counter()
        if stdin_file:
            cat = subprocess.Popen(["cat", stdin_file], stdout=subprocess.PIPE)
            p = subprocess.Popen(cmd, stdin=cat.stdout, stdout=out, stderr=err, env=env, cwd=cwd)
            cat.stdout.close()  # so that cat gets SIGPIPE if the reader exits early
        else:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                 cwd=cwd)
        deadline = None if timeout is None else t0 + timeout
        tree = 0
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                p.kill()
            # several processes (wscap --jobs, pyshark's tshark): GNU time
            # reports the largest one's peak, this samples their sum
            tree = max(tree, tree_rss(p.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if cat is not None:
            cat.wait()
    rss = ru.ru_maxrss * 1024
    if os.path.exists(TIME):
        with open(rss_file) as f:
            rss = int(f.read().split()[-1]) * 1024
        os.unlink(rss_file)
    return Run(wall, rss, p.returncode, out_path, max(tree, rss))


def count_tshark(path: str) -> dict:
    """Count WebSocket frames in tshark's ``-T fields`` output (opcode, mask, retransmission)."""
    by = Counter()
    raw = retx = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or not parts[0]:
                continue
            ops, masks = parts[0].split(","), parts[1].split(",")
            raw += len(ops)
            if parts[2]:
                retx += len(ops)
                continue
            for o, m in zip(ops, masks, strict=False):
                by[(DIRS[0] if m == "1" else DIRS[1], OPNAMES.get(o, o))] += 1
    return {"frames": raw - retx, "frames_raw": raw, "frames_in_retransmissions": retx,
            "by": {f"{d}/{o}": n for (d, o), n in sorted(by.items())}}


def count_wscap(path: str) -> dict:
    """Extract packets, connections, frames and messages from wscap's JSON output."""
    with open(path) as f:
        doc = json.load(f)
    conns = doc.get("connections", [])
    ws = [c for c in conns if c.get("websocket") and c.get("handshake") == "ok"]
    per = {c["client"]: c for c in conns}
    msgs = doc.get("messages", [])
    return {
        "packets": doc.get("capture", {}).get("packets"),
        "tcp_connections": len(conns),
        "ws_connections": len(ws),
        "frames": sum(c.get("frames_client", 0) + c.get("frames_server", 0) for c in conns),
        "messages": sum(c.get("messages_client", 0) + c.get("messages_server", 0)
                        for c in conns),
        "messages_listed": len(msgs),
        # --no-frames leaves the message rows out; the per-connection counts stay
        "messages_compressed": sum(
            c.get("compressed_messages_client", 0) + c.get("compressed_messages_server", 0)
            for c in conns
        ) if "compressed_messages_client" in (conns[0] if conns else {}) else sum(
            1 for m in msgs if m.get("compressed")
        ),
        "gaps": len(doc.get("gaps", [])),
        "violations": len(doc.get("violations", [])),
        "per_conn": per,
    }


def compare_wscap(counts: dict, truth: dict) -> list[str]:
    """Return human-readable differences between wscap's counts and the generator's truth."""
    diffs = []
    pairs = [("packets", truth["packets"]), ("ws_connections", truth["ws_connections"]),
             ("tcp_connections", truth["tcp_connections"]),
             ("frames", truth["frames_total"]), ("messages", truth["messages_total"]),
             ("messages_compressed", truth["messages_compressed"])]
    for key, want in pairs:
        if counts.get(key) != want:
            diffs.append(f"{key}: wscap {counts.get(key)} vs truth {want}")
    shown = 0
    for tc in truth.get("connections", []):
        wc = counts["per_conn"].get(tc["client"])
        if wc is None:
            diffs.append(f"connection {tc['client']} missing in wscap output")
            shown += 1
        else:
            got = ([wc.get("frames_client"), wc.get("frames_server")],
                   [wc.get("messages_client"), wc.get("messages_server")])
            if got != (tc["frames"], tc["messages"]):
                diffs.append(f"connection {tc['client']}->{tc['server']} ({tc['profile']}, "
                             f"deflate={tc['deflate']}): frames c/s {got[0]} vs {tc['frames']}, "
                             f"messages c/s {got[1]} vs {tc['messages']}")
                shown += 1
        if shown >= 15:
            diffs.append("... (more connections differ)")
            break
    return diffs


def compare_tshark(counts: dict, truth: dict) -> list[str]:
    """Return differences between tshark's frame counts and the generator's truth."""
    diffs = []
    if counts["frames"] != truth["frames_total"]:
        diffs.append(f"frames: tshark {counts['frames']} vs truth {truth['frames_total']}")
    for d in DIRS:
        for op, want in truth["frames"][d].items():
            got = counts["by"].get(f"{d}/{op}", 0)
            if got != want:
                diffs.append(f"{d}/{op}: tshark {got} vs truth {want}")
    return diffs


def count_packets(path: str) -> int:
    """Count the records of a classic pcap file (used when no truth sidecar exists)."""
    import struct

    n = 0
    with open(path, "rb") as f:
        hdr = f.read(24)
        end = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        rec = struct.Struct(end + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return n
            f.seek(rec.unpack(h)[2], 1)
            n += 1


def machine_info(wscap_revs: list[str]) -> dict:
    """Describe the machine, interpreter, tshark and the measured wscap revisions."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def sh(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    tshark = sh(["tshark", "--version"]).splitlines()
    if wscap_revs:
        described = []
        for wscap_rev in wscap_revs:
            rev = sh(["git", "rev-parse", "--short", wscap_rev])
            last = sh(["git", "log", "-1", "--format=%h %s", wscap_rev, "--", "wscap"])
            described.append(f"wscap/ as of commit {last} (a clean copy from `git archive "
                             f"{wscap_rev}` = {rev})")
        wscap = "; ".join(described)
    else:
        last = sh(["git", "log", "-1", "--format=%h %s", "--", "wscap"])
        dirty = sh(["git", "status", "--porcelain", "--", "wscap"])
        wscap = (f"working tree; last commit touching wscap/: {last}"
                 + (" (+ uncommitted changes in wscap/)" if dirty else ""))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "tshark": tshark[0].rstrip(".") if tshark else "not found",
        "wscap": wscap,
        "nice": os.nice(0),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def fmt_rate(x: float) -> str:
    """Format a rate with k/M suffixes."""
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def bench_file(path: str, args: argparse.Namespace, tmp: str,
               sources: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Benchmark every selected tool on one file (wscap imported from each ``(label, src)`` of
    ``sources``); return (table rows, notes).  The runs are interleaved: the first run of every
    tool and mode, then the second of each, and so on, so that a machine slowing down or speeding
    up over minutes affects them all alike."""
    tp = path[:-5] + ".truth.json" if path.endswith(".pcap") else path + ".truth.json"
    truth = None
    if os.path.exists(tp):
        with open(tp) as f:
            truth = json.load(f)
    size = os.path.getsize(path)
    packets = truth["packets"] if truth else count_packets(path)
    ports = truth["generator"].get("non_http_ports", []) if truth else []
    name = os.path.basename(path)
    if truth:
        g = truth["generator"]
        notes_pre = [f"{name}: generated by gen.py v{g['version']} (seed {g['seed']}, "
                     f"mix {g.get('mix', 'default')}, target "
                     f"{g['target_size'] or g['target_packets']}) in {g['seconds']} s: "
                     f"{truth['ws_connections']} WebSocket connections, "
                     f"{truth['frames_total']:,} frames, {truth['messages_total']:,} messages, "
                     f"{truth['capture_seconds']:.0f} s of traffic"]
    else:
        notes_pre = []
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=False)  # warm the page cache
    tools = args.tools.split(",")
    # (tool, mode, command, stdin file, wscap source directory: PYTHONPATH and working directory)
    plan = []
    if "wscap" in tools:
        base = [sys.executable, "-m", "wscap", "analyze"]
        for label, src in sources:
            at = f" {label}" if len(sources) > 1 else ""
            plan.append(("wscap", "file" + at, base + [path, "--json", "--no-frames"], None, src))
            plan.append(("wscap", "file -j1" + at, base + [path, "--json", "--no-frames", "-j1"],
                         None, src))
            if args.pipe:
                plan.append(("wscap", "pipe" + at, base + ["-", "--json", "--no-frames"], path,
                             src))
    here = sources[0][1]
    if "tshark" in tools:
        decode = [x for p in ports for x in ("-d", f"tcp.port=={p},http")]
        fields = ["-Y", "websocket", "-T", "fields", "-e", "websocket.opcode", "-e",
                  "websocket.mask", "-e", "tcp.analysis.retransmission"]
        plan.append(("tshark", "file", ["tshark", "-n", "-r", path] + decode + fields, None,
                     here))
        if args.pipe and args.pipe_tshark:
            plan.append(("tshark", "pipe", ["tshark", "-n", "-r", "-"] + decode + fields, path,
                         here))
    if "pyshark" in tools:
        try:
            import pyshark  # noqa: F401
        except ImportError:
            pyshark = None
        if pyshark is None:
            print("pyshark not installed: skipped", file=sys.stderr)
        elif size > args.pyshark_max_mb * 1e6:
            print(f"pyshark skipped on {name}: larger than {args.pyshark_max_mb} MB",
                  file=sys.stderr)
        else:
            plan.append(("pyshark", "file",
                         [sys.executable, "-c", PYSHARK_SCRIPT, path] + [str(p) for p in ports],
                         None, here))
    results = [Result(tool, mode) for tool, mode, _c, _s, _src in plan]
    failed: set[int] = set()
    for i in range(args.runs):
        for k, (tool, mode, cmd, stdin, src) in enumerate(plan):
            runs = 1 if tool == "pyshark" else args.runs
            if i >= runs or k in failed:
                continue
            res = results[k]
            env = dict(os.environ)
            env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"]
                                       if env.get("PYTHONPATH") else "")
            out = os.path.join(tmp, re.sub(r"[^\w.-]", "_", f"{tool}-{mode}-{i}.out"))
            r = run_measured(cmd, out, stdin_file=stdin, env=env, cwd=src, timeout=args.timeout)
            res.runs.append(r)
            print(f"  {name} {tool:7s} {mode:4s} run {i + 1}/{runs}: {r.wall:8.2f} s  "
                  f"rss {r.rss / 2**20:7.1f} MiB  exit {r.status}", file=sys.stderr)
            if r.status != 0:
                failed.add(k)
                with open(out + ".err", errors="replace") as ef:
                    res.notes.append(f"{tool} {mode} exit {r.status}: {ef.read()[-500:]}")
    for res in results:
        if not res.runs:
            continue
        last = res.runs[-1]
        if last.status == 0:
            try:
                if res.tool == "wscap":
                    res.counts = count_wscap(last.out)
                elif res.tool == "tshark":
                    res.counts = count_tshark(last.out)
                else:
                    with open(last.out) as f:
                        res.counts = {"frames": int(f.read().split()[-1])}
            except (ValueError, KeyError, IndexError, OSError) as e:
                res.notes.append(f"{res.tool} {res.mode}: could not read counts: {e!r}")
        for r in res.runs[:-1]:
            os.unlink(r.out)

    rows, notes = [], notes_pre
    tshark_wall = next((r.wall for r in results if r.tool == "tshark" and r.mode == "file"), None)
    tshark_rss = next((r.rss for r in results if r.tool == "tshark" and r.mode == "file"), None)
    for res in results:
        wall = res.wall
        ok = wall != float("inf")
        frames = res.counts.get("frames")
        if truth and frames is not None:
            check = "= truth" if frames == truth["frames_total"] else \
                f"{frames - truth['frames_total']:+d} vs truth"
        else:
            check = "-"
        ratio = "-"
        if ok and tshark_wall and res.tool != "tshark":
            x = tshark_wall / wall
            ratio = f"{x:.1f}x packets/s" if x >= 1 else f"{x:.2f}x packets/s"
            if tshark_rss and res.rss:
                ratio += f", {res.rss / tshark_rss:.2f}x RSS"
        nruns = sum(1 for r in res.runs if r.status == 0)
        rows.append(
            f"| {name} | {size / 1e6:,.0f} | {packets:,} | {res.tool} | {res.mode} | {nruns} | "
            + (f"{wall:.2f} | {fmt_rate(packets / wall)} | {size / 1e6 / wall:.1f} | "
               f"{res.rss / 2**20:,.0f} | {res.tree_rss / 2**20:,.0f} | " if ok
               else "failed | - | - | - | - | ")
            + f"{frames if frames is not None else '-'} | {check} | {ratio} |")
        notes.extend(res.notes)
        if truth and res.counts:
            if res.tool == "tshark":
                diffs = compare_tshark(res.counts, truth)
                notes.append(f"{name}: tshark frames {res.counts['frames']} "
                             f"(raw {res.counts['frames_raw']}, of which "
                             f"{res.counts['frames_in_retransmissions']} re-reported in "
                             f"retransmitted segments) vs truth {truth['frames_total']}: "
                             + ("per opcode and direction equal" if not diffs else
                                "; ".join(diffs)))
            elif res.tool == "wscap":
                diffs = compare_wscap(res.counts, truth)
                c = res.counts
                notes.append(f"{name}: wscap ({res.mode}) packets {c['packets']}, WebSocket "
                             f"connections {c['ws_connections']}, frames {c['frames']}, messages "
                             f"{c['messages']} (compressed {c['messages_compressed']}), gaps "
                             f"{c['gaps']}, violations {c['violations']}: "
                             + ("all equal to truth, per connection too" if not diffs
                                else "; ".join(diffs)))
            elif res.tool == "pyshark":
                notes.append(f"{name}: pyshark frames {res.counts.get('frames')} vs truth "
                             f"{truth['frames_total']} (retransmitted segments not excluded)")
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: benchmark the files and print markdown."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="pcap files (with NAME.truth.json beside them)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and mode (median)")
    ap.add_argument("--tools", default="wscap,tshark,pyshark",
                    help="comma-separated subset of wscap,tshark,pyshark")
    ap.add_argument("--pipe", action="store_true", help="also run wscap from a pipe (cat |)")
    ap.add_argument("--pipe-tshark", action="store_true", help="with --pipe, tshark -r - too")
    ap.add_argument("--pyshark-max-mb", type=float, default=20,
                    help="run pyshark only on files up to this size (MB)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run")
    ap.add_argument("--markdown", help="also append the markdown to this file")
    ap.add_argument("--wscap-rev", action="append", default=[],
                    help="measure wscap/ as committed at this git revision (extracted with git "
                    "archive) instead of the working tree; repeat it to measure several "
                    "revisions side by side, their runs interleaved (the input column names "
                    "the revision)")
    args = ap.parse_args(argv)
    info = machine_info(args.wscap_rev)
    lines = [
        f"### Run of {info['date']}",
        "",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{info['tshark']}, niceness {info['nice']}, load average at start {info['load']}",
        f"- wscap measured: {info['wscap']}",
        f"- command: `python benchmarks/bench.py {' '.join(argv or sys.argv[1:])}`",
        f"- {args.runs} run(s) per tool and mode, median wall time; peak RSS: of the largest "
        "process (GNU time %M), and summed over all the tool's processes (sampled every 50 ms); "
        "wscap `file` uses its default number of processes (one per CPU, at most 4, for inputs "
        "of 64 MiB or more, and pipes), `file -j1` one; MB = 10^6 bytes; packets/s counts "
        "every packet in the file",
        "",
        "| file | MB | packets | tool | input | runs | wall s | packets/s | MB/s | peak RSS MiB "
        "| all processes MiB | WS frames | frames check | vs tshark (file) |",
        "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wscap-bench-") as tmp:
        sources = [("", REPO)]
        if args.wscap_rev:
            sources = []
            for k, rev in enumerate(args.wscap_rev):
                src = os.path.join(tmp, f"src{k}")
                os.mkdir(src)
                archive = subprocess.run(["git", "archive", rev, "wscap"], cwd=REPO,
                                         capture_output=True, check=True).stdout
                subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
                sources.append((rev, src))
        for path in args.files:
            rows, n = bench_file(os.path.abspath(path), args, tmp, sources)
            lines += rows
            notes += n
    lines.append("")
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
