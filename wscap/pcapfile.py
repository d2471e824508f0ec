"""Streaming reader for pcap and pcapng files, plain or gzip-compressed.

One pass, no seeking, so a pipe works.  Records are parsed with
``struct.unpack_from`` over a chunk buffer (or, for the analyzer's bulk
reading of a pcap capture, over the memory-mapped file or the windows a
stream is read into: see :meth:`PacketReader.read_pcap`) instead of
dpkt's reader: dpkt's
``pcap.Reader`` drops the original length (needed to see snaplen cuts) and
builds an object per record, and its ``pcapng.Reader`` knows only the first
interface's link type.  dpkt's writers are used in the tests to produce
independent input for this reader.

Damage does not raise: the reader stops at the first record it cannot trust
and describes it in :attr:`PacketReader.damage`, so the caller can analyse
everything before it.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

from .errors import CaptureError

CHUNK = 1 << 20
# what read_pcap hands over at a time from a mapped file: the consumer's
# fixed cost per call (the analyzer's numpy calls) is spread over more
# records
WINDOW = 4 << 20
# A record longer than this is taken as corruption, not as a packet.
MAX_RECORD = 1 << 18
# Timestamps must fit datetime64[ns] (until 2262); later ones are corruption.
MAX_TS = 1 << 63

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"

# pcapng block types
BT_IDB = 1
BT_PB = 2
BT_SPB = 3
BT_EPB = 6
BT_SHB = 0x0A0D0D0A


class _Source:
    """Bytes from a file object, transparently gunzipped, in chunks."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._z: zlib._Decompress | None = None
        self._damage: str | None = None
        self.raw_bytes = 0
        self.copies: list[BinaryIO] = []  # where every chunk read is written too
        self._back = b""  # put back by unread()
        first = self._read_raw()
        if first[:2] == GZIP_MAGIC:
            self._z = zlib.decompressobj(wbits=47)
            self.compressed = True
            self._pending = self._inflate(first)
        else:
            self.compressed = False
            self._pending = first

    def _read_raw(self) -> bytes:
        data = self._f.read(CHUNK)
        self.raw_bytes += len(data)
        return data

    def _inflate(self, data: bytes) -> bytes:
        """Inflate; on damage, return what came before it (within 64 KiB)
        and raise :class:`_GzipDamage` at the next read."""
        out = []
        z = self._z
        assert z is not None
        while data and self._damage is None:
            piece, data = data[:65536], data[65536:]
            saved = z.copy()
            try:
                out.append(z.decompress(piece))
            except zlib.error as exc:
                self._damage = str(exc)
                out.append(_salvage(saved, piece))
                break
            if z.eof:  # concatenated gzip members
                data = z.unused_data + data
                z = self._z = zlib.decompressobj(wbits=47)
        return b"".join(out)

    def read(self) -> bytes:
        """Next chunk of decompressed bytes, b'' at the end; also written to
        each of :attr:`copies`."""
        if self._back:
            data, self._back = self._back, b""
            return data  # written to the copies already
        data = self._next()
        for out in self.copies:
            out.write(data)
        return data

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` with the next bytes, as far as the input goes; how
        many.  Plain input is read straight into it, without a chunk."""
        if self._back or self._pending or self._z is not None or self.copies:
            data = self.read()
            took = min(len(data), len(view))
            view[:took] = data[:took] if took < len(data) else data
            if took < len(data):
                self.unread(data[took:])
            return took
        got = self._f.readinto(view) or 0  # type: ignore[attr-defined]
        self.raw_bytes += got
        return got

    def unread(self, data: bytes) -> None:
        """Put back the end of the last chunk read: the next read returns it."""
        self._back = data + self._back

    def _next(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        while self._damage is None:
            raw = self._read_raw()
            if not raw:
                return b""
            if self._z is None:
                return raw
            data = self._inflate(raw)
            if data:
                return data
        raise _GzipDamage(self._damage)


class _GzipDamage(Exception):
    pass


def _salvage(z: zlib._Decompress, piece: bytes) -> bytes:
    """What ``piece`` inflates to before the point where it is damaged."""
    out = []
    for i in range(0, len(piece), 256):
        step = piece[i : i + 256]
        saved = z.copy()
        try:
            out.append(z.decompress(step))
        except zlib.error:
            for j in range(len(step)):  # the last good bytes, one at a time
                try:
                    out.append(saved.decompress(step[j : j + 1]))
                except zlib.error:
                    break
            break
    return b"".join(out)


def window_room(max_caplen: int) -> int:
    """Bytes a window of records may need: :data:`WINDOW`, and after it the
    longest record the file allows (a window is filled until its first
    record is whole)."""
    return WINDOW + 16 + max_caplen


_WINDOW_AT = struct.Struct("<qq")  # a window's start and end in the shared memory


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            return None
        data += more
    return data


class SharedWindows:
    """The windows of records of a pcap stream read by one process (the
    writer) and analysed by it and by ``readers`` processes forked after
    this is made, all from the same anonymous shared memory: the readers
    copy nothing, unlike pipes, which cost the writer a copy into the pipe
    and each reader one out of it.

    The memory holds :attr:`SLOTS` windows of ``room`` bytes.  The writer
    tells each reader where every window is through a pipe of its own
    (:meth:`publish`); the reader answers a byte through another pipe when
    it is done with it (:meth:`windows`), and a slot is written again only
    when every reader still running is done with the window it held
    (:meth:`acquire`).  The end of the windows is the end of the writer's
    pipe (:meth:`close`); a reader that ends early (an error) closes its
    answering pipe, and is no longer waited for.
    """

    SLOTS = 4

    def __init__(self, room: int, readers: int) -> None:
        self.room = room
        # anonymous and shared (MAP_SHARED): forked processes see the writes
        self.memory = mmap.mmap(-1, room * self.SLOTS)
        self._to = [os.pipe() for _ in range(readers)]  # (read, write): windows
        self._back = [os.pipe() for _ in range(readers)]  # (read, write): done
        self._sent = 0
        self._done = [0] * readers
        self._live = [True] * readers
        self._closed = False

    # -- around the fork ----------------------------------------------------

    def enter_reader(self, k: int) -> None:
        """In reader ``k``, just forked: close every pipe end but its own
        two, so that each pipe ends when the process holding it does."""
        for j, ((to_r, to_w), (back_r, back_w)) in enumerate(
            zip(self._to, self._back, strict=True)
        ):
            os.close(to_w)
            os.close(back_r)
            if j != k:
                os.close(to_r)
                os.close(back_w)

    def forked(self) -> None:
        """In the writer, once every reader is forked: close their ends."""
        for (to_r, _), (_, back_w) in zip(self._to, self._back, strict=True):
            os.close(to_r)
            os.close(back_w)

    # -- the writer ---------------------------------------------------------

    def acquire(self) -> int:
        """Offset of the slot for the next window, once every running reader
        is done with the window it held."""
        w = self._sent
        for k, (back_r, _) in enumerate(self._back):
            while self._live[k] and self._done[k] <= w - self.SLOTS:
                got = os.read(back_r, 4096)
                if not got:  # the reader ended
                    self._live[k] = False
                self._done[k] += len(got)
        return (w % self.SLOTS) * self.room

    def publish(self, start: int, end: int) -> None:
        """The window ``memory[start:end]`` is written: to every reader."""
        message = _WINDOW_AT.pack(start, end)
        for k, (_, to_w) in enumerate(self._to):
            if self._live[k]:
                try:
                    os.write(to_w, message)  # 16 bytes: never more than SLOTS unread
                except BrokenPipeError:
                    self._live[k] = False
        self._sent += 1

    def close(self) -> None:
        """No more windows."""
        if not self._closed:
            self._closed = True
            for _, to_w in self._to:
                os.close(to_w)

    # -- a reader -----------------------------------------------------------

    def windows(self, k: int) -> Iterator[tuple[int, int]]:
        """Reader ``k``'s windows, as (start, end) in :attr:`memory`, until
        the writer has no more; each is given back when the next is asked
        for."""
        to_r, back_w = self._to[k][0], self._back[k][1]
        while True:
            message = _read_exactly(to_r, _WINDOW_AT.size)
            if message is None:
                return
            yield _WINDOW_AT.unpack(message)
            os.write(back_w, b".")


def _open(path: str | os.PathLike[str]) -> tuple[BinaryIO, str]:
    if str(path) == "-":
        return sys.stdin.buffer, "<stdin>"
    name = os.fspath(path)
    try:
        if os.path.isdir(name):
            raise CaptureError(f"{name}: is a directory, not a capture file")
        return open(name, "rb"), name
    except FileNotFoundError:
        raise CaptureError(f"{name}: no such file") from None
    except PermissionError:
        raise CaptureError(f"{name}: permission denied") from None
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open: {exc.strerror or exc}") from None


class PacketReader:
    """Iterate over the packets of a pcap or pcapng capture.

    Iteration yields ``(ts_ns, linktype, data, orig_len)``: the timestamp in
    integer nanoseconds since the epoch, the link type of the packet's
    interface, the captured bytes and the length the packet had on the wire.

    Raises :class:`CaptureError` on construction when the input is missing or
    is not a capture at all.  Damage found later (a record cut short, a
    corrupt length) ends the iteration and is described in :attr:`damage`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._setup(*_open(path))
        # a path another process can open again (None for standard input)
        self.path: str | None = None if str(path) == "-" else os.fspath(path)

    @classmethod
    def from_file(cls, f: BinaryIO, name: str) -> PacketReader:
        """A reader of an open binary file (or pipe) ``f``, called ``name``."""
        reader = cls.__new__(cls)
        reader._setup(f, name)
        reader.path = None
        return reader

    def fileno(self) -> int:
        return self._file.fileno()

    def tee(self, outputs: list[BinaryIO]) -> None:
        """Also write every chunk read from now on (after decompression) to
        each of ``outputs``: other processes reading the same pipe."""
        self._src.copies = outputs

    def share(self, readers: int) -> SharedWindows:
        """Read a pcap stream's file header now, and return the windows in
        which :meth:`read_pcap` will hand over its records, shared with
        ``readers`` processes to be forked next (each calls
        :meth:`read_shared` in its copy of this reader)."""
        if not self.format.startswith("pcap") or self.format.startswith("pcapng"):
            raise ValueError("share needs a pcap capture")
        try:
            self._rest = self._pcap_header()
        except _GzipDamage as exc:
            self._rest = b""
            self.damage = f"damaged gzip data after {self.offset} bytes: {exc}"
            self.max_caplen = MAX_RECORD
        self._shared = SharedWindows(window_room(self.max_caplen), readers)
        return self._shared

    def read_shared(self, shared: SharedWindows, k: int) -> None:
        """In reader ``k`` of ``shared`` (a copy of the writer's reader,
        forked): take the records from the windows, not from the input."""
        shared.enter_reader(k)
        self._shared = None
        self._shared_reader = (shared, k)

    def _setup(self, f: BinaryIO, name: str) -> None:
        self._file, self.name = f, name
        try:
            self._src = _Source(self._file)
        except _GzipDamage as exc:
            self.close()
            raise CaptureError(f"{self.name}: damaged gzip data: {exc}") from None
        head = self._src._pending[:4]
        if len(head) < 4 and self._src._damage is not None:
            self.close()
            raise CaptureError(f"{self.name}: damaged gzip data: {self._src._damage}")
        if len(head) < 4:
            self.close()
            if not head:
                raise CaptureError(f"{self.name}: empty file, not a capture")
            raise CaptureError(f"{self.name}: too short to be a capture")
        if head in PCAP_MAGICS:
            self.format = "pcap"
        elif head == PCAPNG_SHB:
            self.format = "pcapng"
        else:
            self.close()
            raise CaptureError(
                f"{self.name}: not a pcap or pcapng capture (starts with {head.hex()})"
            )
        if self._src.compressed:
            self.format += ".gz"
        self.damage: str | None = None
        self.link_types: list[int] = []
        self.snaplens: list[int] = []
        self.offset = 0  # bytes of (decompressed) capture consumed
        self._rest: bytes | None = None  # read after the pcap file header, by share()
        self._shared: SharedWindows | None = None  # the windows this process writes
        self._shared_reader: tuple[SharedWindows, int] | None = None  # or reads

    def close(self) -> None:
        if self._file is not sys.stdin.buffer:
            self._file.close()

    def __enter__(self) -> PacketReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[int, int, bytes, int]]:
        try:
            if self.format.startswith("pcapng"):
                yield from self._iter_pcapng()
            else:
                yield from self._iter_pcap()
        except _GzipDamage as exc:
            self.damage = f"damaged gzip data after {self.offset} bytes: {exc}"

    def _end_of_input(self, what: str, base: int, pos: int, n: int) -> None:
        """The input ended with ``buf[pos:n]`` unread (file offset ``base``
        of ``buf[0]``): nothing left is clean, anything left is a cut."""
        self.offset = base + pos
        if pos < n:
            self.damage = (
                f"last {what} cut short at byte {base + pos} ({n - pos} bytes of it present)"
            )

    # -- pcap ---------------------------------------------------------------

    def _pcap_header(self) -> bytes:
        """Read the pcap file header; return the bytes after it."""
        read = self._src.read
        buf = read()
        while len(buf) < 24:
            more = read()
            if not more:
                raise CaptureError(f"{self.name}: pcap file header cut short")
            buf += more
        endian, self.ts_mult = PCAP_MAGICS[buf[:4]]
        snaplen, linktype = struct.unpack_from(endian + "II", buf, 16)
        linktype &= 0x0FFFFFFF  # upper bits carry FCS information
        self.link_types = [linktype]
        self.snaplens = [snaplen]
        self.record = struct.Struct(endian + "IIII")
        # a record claiming more than this is corruption, not a packet
        self.max_caplen = max(MAX_RECORD, snaplen if snaplen < (1 << 28) else 0)
        self.offset = 24
        return buf[24:]

    def _iter_pcap(self) -> Iterator[tuple[int, int, bytes, int]]:
        buf = self._pcap_header()
        linktype = self.link_types[0]
        ts_mult = self.ts_mult
        limit = self.max_caplen
        unpack_rec = self.record.unpack_from
        pos = 0
        base = 24  # file offset of buf[0]
        n = len(buf)
        while True:
            if pos + 16 <= n:
                sec, frac, caplen, origlen = unpack_rec(buf, pos)
                if caplen > limit:
                    self._corrupt_record(base + pos, caplen)
                    return
                start = pos + 16
                end = start + caplen
                if end <= n:
                    pos = end
                    yield sec * 1_000_000_000 + frac * ts_mult, linktype, buf[start:end], origlen
                    continue
            refill = self._refill(buf, pos, base)
            if refill is None:
                return
            buf, base = refill
            pos = 0
            n = len(buf)

    def _refill(self, buf: bytes, pos: int, base: int) -> tuple[bytes, int] | None:
        """The unread rest of ``buf`` (whose first byte is at file offset
        ``base``) followed by the next chunk, and the rest's file offset; None
        at the end of the input, with anything left over noted as damage."""
        self.offset = base + pos
        more = self._src.read()
        if not more:
            self._end_of_input("record", base, pos, len(buf))
            return None
        return buf[pos:] + more, base + pos

    def _corrupt_record(self, at: int, caplen: int) -> None:
        self.offset = at
        self.damage = f"corrupt record at byte {at} (claims {caplen} captured bytes)"

    def read_pcap(self, consume: Callable[[bytes, int, int], int]) -> None:
        """Hand a pcap file's records to ``consume`` a buffer at a time.

        The bulk alternative to iterating, for a consumer that walks the
        records itself (the analyzer's fast path): ``consume(buf, pos, n)``
        reads the records of ``buf`` from ``pos`` and returns the offset of
        the first one it did not take: one not complete within ``buf[:n]``,
        or one claiming more than :attr:`max_caplen` bytes, which is damage.
        Before the first call, :attr:`record` (the record header's struct),
        :attr:`ts_mult`, :attr:`max_caplen` and :attr:`link_types` are set.
        Damage is reported in :attr:`damage` as with iteration.
        """
        if self.format.startswith("pcapng"):
            raise ValueError("read_pcap needs a pcap file")
        if self._shared_reader is not None:  # another process reads the input
            shared, k = self._shared_reader
            for start, end in shared.windows(k):
                consume(shared.memory, start, end)  # type: ignore[arg-type]
            return
        mapped = self._mapped()
        if mapped is not None:
            self._pcap_header()
            try:
                self._read_mapped(mapped, consume)
            finally:
                try:
                    mapped.close()
                except BufferError:  # a view of it still alive: freed with it
                    pass
            return
        try:
            if self._rest is None:
                rest = self._pcap_header()
            elif self.damage is None:  # share() read the header
                rest, self._rest = self._rest, None
            else:  # share() found the gzip data damaged within the header
                return
            self._read_windows(rest, consume, self._shared)
        except _GzipDamage as exc:
            self.damage = f"damaged gzip data after {self.offset} bytes: {exc}"
        finally:
            if self._shared is not None:
                self._shared.close()

    def _read_windows(
        self,
        rest: bytes,
        consume: Callable[[bytes, int, int], int],
        shared: SharedWindows | None,
    ) -> None:
        """read_pcap over a stream (a pipe, gzip data): the records are
        copied into a window of memory, about :data:`WINDOW` bytes at a time
        (more for a longer record), after what the last window left
        unread; ``rest`` is what came after the file header.  With
        ``shared``, the windows are in its memory, where the processes it
        was made for analyse them too."""
        room = window_room(self.max_caplen)
        memory = shared.memory if shared is not None else mmap.mmap(-1, room)
        view = memoryview(memory)
        unpack_rec = self.record.unpack_from
        limit = self.max_caplen
        readinto = self._src.readinto
        base = 24  # file offset of carry[0]
        carry = b""  # the last window's unread end: less than a record
        if rest:
            self._src.unread(rest)
        ended = False
        damaged: str | None = None
        while True:
            at = shared.acquire() if shared is not None else 0
            memory[at : at + len(carry)] = carry
            n = len(carry)
            want = WINDOW
            while not ended:
                if n >= 16:  # room for the first record, whole
                    caplen = unpack_rec(memory, at)[2]
                    if caplen <= limit:
                        want = max(WINDOW, 16 + caplen)
                if n >= want:
                    break
                try:
                    got = readinto(view[at + n : at + want])
                except _GzipDamage as exc:  # what came before it is analysed
                    damaged = str(exc)
                    got = 0
                if not got:
                    ended = True
                    break
                n += got
            if shared is not None:
                shared.publish(at, at + n)
            pos = consume(memory, at, at + n) if n else at  # type: ignore[arg-type]
            if pos + 16 <= at + n:
                caplen = unpack_rec(memory, pos)[2]
                if caplen > limit:
                    self._corrupt_record(base + pos - at, caplen)
                    return
            if damaged is not None:
                self.offset = base + pos - at
                self.damage = f"damaged gzip data after {self.offset} bytes: {damaged}"
                return
            if ended:
                self._end_of_input("record", base - at, pos, at + n)
                return
            carry = memory[pos : at + n]
            base += pos - at

    def _mapped(self) -> mmap.mmap | None:
        """The whole file, memory-mapped, if it is a plain capture file opened
        by its path (not compressed, not a pipe, not a copy for other
        processes), else None.

        Reading a mapped file costs a third less than reading it in chunks
        (no copy from the page cache, none to join a chunk to the rest of
        the last one): 0.6 s instead of 0.95 s for a 1 GB capture.  A file cut
        shorter while it is read (a ring buffer of tcpdump -W wrapping
        around) is damage, found between windows (:meth:`_shrunk`); a
        file that grows is read as it was when opened.
        """
        if self.path is None or self._src.compressed or self._src.copies:
            return None
        try:
            fd = self._file.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, AttributeError):
            return None  # not mappable (an empty file, an odd file system)
        if hasattr(mm, "madvise"):
            mm.madvise(mmap.MADV_SEQUENTIAL)
        return mm

    def _read_mapped(self, mm: mmap.mmap, consume: Callable[[bytes, int, int], int]) -> None:
        """read_pcap over a mapped file: ``consume`` gets the map itself
        with a window of about :data:`WINDOW` bytes (wider for a longer
        record) and absolute offsets.  Pages read are let go of as the
        windows move on, so that the resident memory stays that of one
        window (the page cache keeps them for other processes)."""
        size = len(mm)
        unpack_rec = self.record.unpack_from
        limit = self.max_caplen
        fd = self._file.fileno()
        pos = 24
        released = 0
        while pos + 16 <= size:
            if self._shrunk(fd, size, pos):
                return
            caplen = unpack_rec(mm, pos)[2]
            if caplen > limit:
                self._corrupt_record(pos, caplen)
                return
            end = min(pos + max(WINDOW, 16 + caplen), size)
            new = consume(mm, pos, end)  # type: ignore[arg-type]
            if new == pos:
                break  # the record at pos (its length checked above) is cut short
            pos = new
            drop = pos & ~0xFFFFF
            if drop > released and hasattr(mm, "madvise"):
                mm.madvise(mmap.MADV_DONTNEED, released, drop - released)
                released = drop
        self._end_of_input("record", 0, pos, size)

    def _shrunk(self, fd: int, size: int, pos: int) -> bool:
        """Has the mapped file been cut shorter than ``size`` (a tcpdump -W
        ring buffer wrapping around onto it)?  Then it is damage, found
        before any page past the new end is touched: that would end the
        process with SIGBUS.  Checked before each window, so only a cut in
        the time one window takes to analyse can still do that."""
        now = os.fstat(fd).st_size
        if now >= size:
            return False
        self.offset = pos
        self.damage = f"the file shrank to {now} bytes while being read, at byte {pos}"
        return True

    # -- pcapng -------------------------------------------------------------

    def _iter_pcapng(self) -> Iterator[tuple[int, int, bytes, int]]:
        read = self._src.read
        buf = b""
        pos = 0
        base = 0
        endian = "<"
        # per interface: (linktype, snaplen, ts_num, ts_shift_or_div, ts_offset_ns)
        ifaces: list[tuple[int, int, int, int, int]] = []
        while True:
            n = len(buf)
            if pos + 12 <= n:
                if buf[pos : pos + 4] == PCAPNG_SHB:
                    bom = buf[pos + 8 : pos + 12]
                    if bom == b"\x4d\x3c\x2b\x1a":
                        endian = "<"
                    elif bom == b"\x1a\x2b\x3c\x4d":
                        endian = ">"
                    else:
                        self.offset = base + pos
                        self.damage = f"bad pcapng section header at byte {base + pos}"
                        return
                btype, blen = struct.unpack_from(endian + "II", buf, pos)
                if blen < 12 or blen % 4 or blen > MAX_RECORD + 65536:
                    self.offset = base + pos
                    self.damage = f"corrupt pcapng block at byte {base + pos} (length {blen})"
                    return
                if pos + blen <= n:
                    if btype == BT_SHB:
                        ifaces = []
                else:
                    btype = -1
            else:
                btype = -1
            if btype == -1:
                more = read()
                if not more:
                    self._end_of_input("block", base, pos, n)
                    return
                buf = buf[pos:] + more
                base += pos
                pos = 0
                continue
            body = pos + 8
            end = pos + blen
            if btype == BT_EPB or btype == BT_PB:
                if btype == BT_EPB:
                    iface, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                        endian + "IIIII", buf, body
                    )
                else:  # the obsolete packet block: a 16-bit interface id and drops
                    iface, _drops, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                        endian + "HHIIII", buf, body
                    )
                data_start = body + 20
                if iface >= len(ifaces) or data_start + caplen > end - 4:
                    self.offset = base + pos
                    self.damage = f"corrupt packet block at byte {base + pos}"
                    return
                lt, _snap, num, shift, off = ifaces[iface]
                ts = _ticks_to_ns((ts_hi << 32) | ts_lo, num, shift) + off
                if not 0 <= ts < MAX_TS:
                    self.offset = base + pos
                    self.damage = f"timestamp out of range in the packet block at byte {base + pos}"
                    return
                yield ts, lt, buf[data_start : data_start + caplen], origlen
            elif btype == BT_SPB:
                if not ifaces:
                    self.offset = base + pos
                    self.damage = f"packet block before any interface at byte {base + pos}"
                    return
                lt, snap, _num, _shift, _off = ifaces[0]
                origlen = struct.unpack_from(endian + "I", buf, body)[0]
                caplen = min(origlen, blen - 16, snap or origlen)
                # simple packet blocks carry no timestamp
                yield 0, lt, buf[body + 4 : body + 4 + caplen], origlen
            elif btype == BT_IDB:
                lt, _res, snap = struct.unpack_from(endian + "HHI", buf, body)
                num, shift, off = _idb_time_options(buf, body + 8, end - 4, endian)
                ifaces.append((lt, snap, num, shift, off))
                self.link_types.append(lt)
                self.snaplens.append(snap)
            pos = end


def _idb_time_options(buf: bytes, pos: int, end: int, endian: str) -> tuple[int, int, int]:
    """(multiplier, shift-or-divisor, offset_ns) from an IDB's options.

    Timestamps in ticks convert to ns as ``ticks * mult // div`` for decimal
    resolutions and ``(ticks * 10**9) >> shift`` for binary ones, where the
    second value is ``~shift`` (negative) for binary resolutions.
    """
    mult, div, off = 1000, 1, 0  # default resolution: microseconds
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            break
        val = pos + 4
        if code == 9 and length >= 1:  # if_tsresol
            r = buf[val]
            if r & 0x80:
                # binary: ticks are 2**-n s; div holds ~n (never 0, even for n = 0)
                mult, div = 10**9, ~(r & 0x7F)
            else:
                exp = r & 0x7F
                if exp <= 9:
                    mult, div = 10 ** (9 - exp), 1
                else:
                    mult, div = 1, 10 ** (exp - 9)
        elif code == 14 and length >= 8:  # if_tsoffset, seconds
            off = struct.unpack_from(endian + "q", buf, val)[0] * 1_000_000_000
        pos = val + ((length + 3) & ~3)
    return mult, div, off


def _ticks_to_ns(ticks: int, mult: int, div: int) -> int:
    if div == 1:
        return ticks * mult
    if div < 0:
        return (ticks * mult) >> ~div
    return ticks * mult // div
