"""One capture analysed by several processes, each a shard of its TCP
connections, merged into the model one process would have built.

Every process reads the whole capture (reading and decoding headers is the
cheap part of the work: a plain pcap file is memory-mapped, and the other
shards' packets are decoded and counted by numpy, in bulk, never one by one
in Python) and analyses only the connections of its shard, chosen by their
ports (:func:`~wscap.analyzer.shard_of`), while counting every packet in
the capture summary; Zeek clusters split traffic among workers by flow in
the same way.  The merge renumbers the connections in the
order they were opened in the capture and puts every list of records in
the model's canonical order (:func:`~wscap.analyzer.canonical_order`), so
the result does not depend on the number of processes: the tests require
it to be equal, value for value, to a one-process analysis.

A regular file is opened by every process.  Standard input (or another
stream) is read once, by the parent.  A pcap stream's records reach the
other processes in the windows the parent reads them into, in shared memory
(:class:`~wscap.pcapfile.SharedWindows`); a pcapng stream's bytes
(decompressed) are copied to them through pipes.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import stat
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np

from .analysis import Analysis
from .analyzer import analyze_shard, canonical_order
from .pcapfile import CHUNK, PacketReader, SharedWindows
from .ws import Store

# Smaller regular files are analysed in one process: starting another one
# and merging costs more than it saves.
MIN_PARALLEL_BYTES = 64 << 20
MAX_AUTO_JOBS = 4


def auto_jobs(reader: PacketReader) -> int:
    """How many processes for ``reader``'s input: one per CPU available (at
    most 4) for a big file or a pipe, one for a small file."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    if cpus < 2 or not can_fork():
        return 1
    st = os.fstat(reader.fileno())
    if stat.S_ISREG(st.st_mode) and st.st_size < MIN_PARALLEL_BYTES:
        return 1
    return min(cpus, MAX_AUTO_JOBS)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def analyze_sharded(reader: PacketReader, jobs: int, options: dict[str, Any]) -> Analysis:
    """Analyse ``reader``'s capture in ``jobs`` processes (this one and
    ``jobs - 1`` forked ones) and merge their shards.  Where processes
    cannot be forked (Windows), one process does it all."""
    if not can_fork():
        return analyze_shard(reader, options)[0]
    ctx = multiprocessing.get_context("fork")
    path = reader.path
    regular = path is not None and stat.S_ISREG(os.fstat(reader.fileno()).st_mode)
    children = []
    tees: list[BinaryIO] = []
    shared = None
    if not regular and reader.format in ("pcap", "pcap.gz") and options.get("fast", True):
        shared = reader.share(jobs - 1)
    try:
        for k in range(1, jobs):
            results, sender = ctx.Pipe(duplex=False)
            tee_r = tee_w = -1
            if not regular and shared is None:
                tee_r, tee_w = os.pipe()
                _widen(tee_w)
            # write ends the child must not hold open: its own pipe would never
            # end, nor would the pipes of the children forked before it
            not_mine = [tee_w] + [t.fileno() for t in tees] if tee_w >= 0 else []
            source = path if regular else (reader, shared) if shared is not None else None
            proc = ctx.Process(
                target=_child,
                args=(sender, source, tee_r, not_mine, options, (k, jobs)),
                daemon=True,
            )
            proc.start()
            sender.close()
            if tee_w >= 0:
                os.close(tee_r)
                tees.append(os.fdopen(tee_w, "wb"))
            children.append((proc, results))
        if shared is not None:
            shared.forked()
        if tees:
            reader.tee(tees)
        parts = [analyze_shard(reader, options, (0, jobs))]
        for tee in tees:
            tee.close()
        tees = []
        with _collector_paused():
            for proc, results in children:
                status, value = results.recv()
                if status == "error":
                    raise value
                parts.append(value)
                proc.join()
    finally:
        if shared is not None:
            shared.close()
        for tee in tees:
            try:
                tee.close()
            except OSError:
                pass
        for proc, _ in children:
            if proc.is_alive():
                proc.terminate()
                proc.join()
    with _collector_paused():
        return merge(parts)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the shards are unpickled and
    merged: they are hundreds of thousands of new objects and no garbage,
    yet every few thousand of them the collector would walk the young ones
    again, and now and then the whole heap (on 1 GB, 0.2 of the 0.25 s
    unpickling takes, and 0.13 of the 0.15 s of the merge)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _widen(fd: int) -> None:
    """Let a pipe hold a whole read chunk (Linux), so that the parent can
    read ahead of a child that is busy instead of waiting for it."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), CHUNK)
    except (ImportError, OSError):
        pass  # a smaller pipe only costs some waiting


def _child(
    sender: Any,
    source: str | tuple[PacketReader, SharedWindows] | None,
    tee_fd: int,
    not_mine: list[int],
    options: dict[str, Any],
    shard: tuple[int, int],
) -> None:
    """Analyse ``shard`` of the capture: a file opened again by its path,
    the parent's windows of a pcap stream (``source`` is the parent's reader,
    as forked, and the windows), or the stream the parent copies to
    ``tee_fd``; send back the result."""
    for fd in not_mine:
        os.close(fd)
    try:
        if isinstance(source, str):
            reader = PacketReader(source)
        elif source is not None:
            reader, shared = source
            reader.read_shared(shared, shard[0] - 1)
        else:
            reader = PacketReader.from_file(os.fdopen(tee_fd, "rb"), "<stdin>")
        sender.send(("ok", analyze_shard(reader, options, shard)))
    except BrokenPipeError:
        pass  # the parent stopped first: it reports why
    except BaseException as exc:  # the parent re-raises it
        sender.send(("error", exc))
    finally:
        sender.close()


def merge(parts: list[tuple[Analysis, dict[int, int]]]) -> Analysis:
    """One analysis from the shards' analyses and the capture position at
    which each of their connections was opened."""
    base = parts[0][0]
    # new connection ids: in the order the connections were opened
    opened = sorted(
        (at, w, cid) for w, (_a, where) in enumerate(parts) for cid, at in where.items()
    )
    ids: list[dict[int, int]] = [{} for _ in parts]
    for new, (_at, w, cid) in enumerate(opened, 1):
        ids[w][cid] = new
    first = base.store
    store = Store(
        keep_frames=first.keep_frames,
        max_message=first.max_message,
        keep_messages=first.keep_messages,
        fast=first.fast,
    )
    connections = []
    handshakes = []
    for (a, _where), mapping in zip(parts, ids, strict=True):
        for rec in (
            a.connection_list,
            a.handshake_list,
            a.store.violations,
            a.store.gaps,
            a.store.heartbeats,
        ):
            for r in rec:
                r.conn_id = mapping[r.conn_id]
        connections += a.connection_list
        handshakes += a.handshake_list
        s = a.store
        store.violations += s.violations
        store.gaps += s.gaps
        store.heartbeats += s.heartbeats
        store.capped_messages += s.capped_messages
        store.capped_bytes += s.capped_bytes
        lookup = np.zeros(max(mapping, default=0) + 1, dtype=np.int64)
        for old, new in mapping.items():
            lookup[old] = new
        codes = np.array([store.frames.code_index(c) for c in s.frames.codes], dtype=np.int64)
        for table, mine in ((store.frames, s.frames), (store.messages, s.messages)):
            for name in mine.__slots__:
                col = getattr(mine, name)
                if not isinstance(col, array):
                    continue
                if name == "conn_id":
                    col = _remap(col, lookup)
                elif name == "violation":
                    col = _remap(col, codes)
                getattr(table, name).extend(col)
    connections.sort(key=lambda c: c.conn_id)
    canonical_order(handshakes, store)
    return Analysis(base.capture, connections, handshakes, store)


def _remap(col: array, lookup: np.ndarray) -> array:
    """``col`` with every value ``v`` replaced by ``lookup[v]``."""
    if not len(col):
        return col
    values = np.frombuffer(col, dtype=col.typecode if col.typecode != "l" else np.int_)
    return array(col.typecode, lookup[values].astype(values.dtype).tobytes())
