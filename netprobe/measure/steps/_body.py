"""Read a streamed httpx response body through a size cap, decompressing within the cap."""

from __future__ import annotations

import hashlib
import zlib

import httpx

__all__ = ["Body", "read_capped"]


class Body:
    """A body as it is read: all of it counted and hashed, only its first ``keep`` bytes
    held. Memory per response is bounded by ``keep``, not by the read cap, so hundreds
    of pages read at once cost hundreds of heads, not hundreds of whole pages."""

    __slots__ = ("_hash", "_keep", "head", "length")

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._hash = hashlib.sha256()
        self.head = bytearray()
        self.length = 0

    def add(self, data: bytes) -> None:
        self.length += len(data)
        self._hash.update(data)
        room = self._keep - len(self.head)
        if room > 0:
            self.head += data[:room]

    def sha256(self) -> str:
        return self._hash.hexdigest()


# zlib window bits: 16 + 15 reads gzip, 15 zlib-wrapped deflate, -15 raw deflate (which some
# servers send as "deflate").
_WINDOW_BITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


class _Decoder:
    """Decodes ``Content-Encoding`` with a bound on the output of every step, so that a
    small compressed body (a decompression bomb) never expands past the cap in memory."""

    def __init__(self, encoding: str | None) -> None:
        self._bits = _WINDOW_BITS.get((encoding or "").strip().lower())
        self._zlib = zlib.decompressobj(self._bits) if self._bits is not None else None
        self._started = False

    def decode(self, chunk: bytes, limit: int) -> tuple[bytes, bool]:
        """At most ``limit`` decoded bytes from ``chunk``; and whether input was left over."""
        if self._zlib is None:
            return chunk[:limit], len(chunk) > limit
        try:
            data = self._zlib.decompress(chunk, limit)
        except zlib.error:
            if self._bits != zlib.MAX_WBITS or self._started:
                raise
            # "deflate" without the zlib wrapper: start again as raw deflate.
            self._bits, self._zlib = -zlib.MAX_WBITS, zlib.decompressobj(-zlib.MAX_WBITS)
            data = self._zlib.decompress(chunk, limit)
        self._started = True
        return data, bool(self._zlib.unconsumed_tail)


async def read_capped(response: httpx.Response, into: Body, cap: int) -> bool:
    """Add the decoded body of the streamed ``response`` to ``into``, ``cap`` bytes at most.

    Returns whether the body was longer than the cap (reading stops there), or could not
    be decoded (what decoded is kept)::

        async with client.stream("GET", url) as response:
            truncated = await read_capped(response, body, 1 << 20)

    What was read stays in ``into`` when the reading is interrupted (timeout, reset).
    """
    decoder = _Decoder(response.headers.get("content-encoding"))
    async for chunk in response.aiter_raw():
        room = cap - into.length
        try:
            data, left_over = decoder.decode(chunk, room + 1)
        except zlib.error:
            return True
        into.add(data[:room])
        if len(data) > room or left_over:
            return True
    return False
