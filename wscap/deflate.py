"""permessage-deflate (RFC 7692): negotiated parameters and the inflater.

One :class:`Inflater` per direction.  Output is counted (and handed to a
callback for UTF-8 checking) in bounded pieces and never kept, and each
message's output is capped, so a decompression bomb costs bounded memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: appended before inflating
PIECE = 1 << 20
DEFAULT_MAX_MESSAGE = 64 << 20


@dataclass(slots=True, frozen=True)
class DeflateParams:
    """Accepted permessage-deflate parameters (RFC 7692 section 7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def for_sender(self, is_client: bool) -> tuple[bool, int]:
        """(no_context_takeover, window_bits) for messages sent by that side."""
        if is_client:
            return self.client_no_context_takeover, self.client_max_window_bits
        return self.server_no_context_takeover, self.server_max_window_bits


def parse_extensions(values: list[str]) -> list[tuple[str, dict[str, str | None]]]:
    """Parse Sec-WebSocket-Extensions header values (RFC 6455 9.1).

    Returns ``[(name, {param: value_or_None})]`` in order; tolerant of
    whitespace, quoting and repeated headers.
    """
    out: list[tuple[str, dict[str, str | None]]] = []
    for value in values:
        for ext in value.split(","):
            parts = [p.strip() for p in ext.split(";")]
            if not parts or not parts[0]:
                continue
            params: dict[str, str | None] = {}
            for p in parts[1:]:
                if not p:
                    continue
                k, eq, v = p.partition("=")
                params[k.strip().lower()] = v.strip().strip('"') if eq else None
            out.append((parts[0].lower(), params))
    return out


def deflate_params(accepted: list[tuple[str, dict[str, str | None]]]) -> DeflateParams | None:
    """The permessage-deflate parameters from a server's accepted extensions,
    or None when it was not accepted."""
    for name, p in accepted:
        if name == "permessage-deflate":
            return DeflateParams(
                server_no_context_takeover="server_no_context_takeover" in p,
                client_no_context_takeover="client_no_context_takeover" in p,
                server_max_window_bits=_window_bits(p.get("server_max_window_bits")),
                client_max_window_bits=_window_bits(p.get("client_max_window_bits")),
            )
    return None


def _window_bits(value: str | None) -> int:
    """A *_max_window_bits value; absent or invalid means the default 15."""
    try:
        bits = int(value) if value is not None else 15
    except ValueError:
        return 15
    return bits if 8 <= bits <= 15 else 15


class Inflater:
    """Inflates one direction's compressed messages.

    ``feed`` returns the number of bytes the compressed chunk produced;
    ``on_output`` receives each output piece (for UTF-8 checking).  After a
    decoding error or a capture gap inside a compressed message, the
    context is lost: with context takeover every later message of that
    direction is undecodable (:attr:`broken`), without it the next message
    starts afresh.
    """

    def __init__(
        self,
        no_context_takeover: bool,
        window_bits: int,
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self.no_context_takeover = no_context_takeover
        # zlib accepts 9..15 for raw inflate; 8 is decoded with a 9-bit window
        self.window_bits = max(9, window_bits)
        self.max_message = max_message
        self._z = zlib.decompressobj(-self.window_bits)
        self.broken = False
        self.produced = 0  # output of the current message
        self.capped_bytes = 0  # compressed bytes not inflated because of the cap
        self.error: str | None = None

    def start_message(self) -> None:
        self.produced = 0
        self.capped_bytes = 0
        self.error = None
        if self._z.eof and not self.broken:
            # the last message ended with a BFINAL block (RFC 7692 7.2.3.4):
            # this one starts a new DEFLATE stream
            self._z = zlib.decompressobj(-self.window_bits)
        elif self.no_context_takeover:
            self._z = zlib.decompressobj(-self.window_bits)
            self.broken = False

    def feed(self, data: bytes, on_output: Callable[[bytes], None] | None) -> None:
        if self.broken:
            if self.produced >= self.max_message:
                self.capped_bytes += len(data)
            return
        z = self._z
        while data:
            room = self.max_message - self.produced
            if room <= 0:
                self.capped_bytes += len(data)
                self.broken = True  # the window no longer matches the sender's
                return
            try:
                out = z.decompress(data, min(PIECE, room))
            except zlib.error as exc:
                self.error = str(exc)
                self.broken = True
                return
            self.produced += len(out)
            if on_output is not None and out:
                on_output(out)
            data = z.unconsumed_tail

    def message(self, data: bytes, collect: bool) -> list[bytes]:
        """A whole message in one piece: :meth:`start_message`, :meth:`feed`
        and :meth:`end_message`; returns the output pieces if ``collect``.

        The common case (a decodable message whose output is far below the
        cap) takes one ``decompress`` call for the message and its tail,
        without :meth:`feed`'s loop.  If that call leaves input unconsumed
        (more than a piece of output), the rest, tail included, goes
        through :meth:`feed`, as it would have; a decoding error leaves the
        state :meth:`feed` leaves.  As in :meth:`last`, an error the tail
        brings out discards the output of the call."""
        out: list[bytes] = []
        self.start_message()
        if self.broken or self.max_message < 2 * PIECE or not data:
            # (with room for two pieces, feed's min(PIECE, room) is PIECE)
            cb = out.append if collect else None
            if data:
                self.feed(data, cb)
            self.end_message(cb)
            return out
        z = self._z
        try:
            # the message and its tail in one call: zlib reads a stream, so
            # the output is what end_message's separate call would add to it
            piece = z.decompress(data + TAIL, PIECE)
        except zlib.error as exc:
            self.error = str(exc)
            self.broken = True
            return out
        self.produced = len(piece)
        if collect and piece:
            out.append(piece)
        if z.unconsumed_tail:  # more than a piece: feed's loop from here (tail included)
            self.feed(z.unconsumed_tail, out.append if collect else None)
        return out

    def last(self, data: bytes, on_output: Callable[[bytes], None] | None) -> None:
        """The message's last bytes and its tail (RFC 7692 7.2.2: appended
        to the message, then inflated), in one call, as :meth:`message`
        inflates a whole message: when the tail brings out an error, the
        output of those last bytes is discarded with it, whichever path
        inflated them.  No :meth:`end_message` follows."""
        self.feed(data + TAIL, on_output)

    def end_message(self, on_output: Callable[[bytes], None] | None) -> None:
        """The tail, when the message's last bytes did not come with it
        (its last frame is empty, say)."""
        self.feed(TAIL, on_output)

    def lose(self) -> None:
        """Bytes of a compressed message were not captured."""
        self.broken = True
