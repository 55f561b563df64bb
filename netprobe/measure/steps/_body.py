"""Read a streamed httpx response body through a size cap, decompressing within the cap."""

from __future__ import annotations

import hashlib
import time
import zlib

import httpx

__all__ = ["Body", "Transfer", "read_capped"]


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


class Transfer:
    """The bytes of a body received on the wire over time, sampled: what a download's rate
    looked like, second by second (a policer holds it flat; congestion makes it vary)."""

    __slots__ = ("_last", "_origin", "_samples", "received")

    SAMPLE_EVERY = 0.05
    """Seconds between two samples kept."""

    def __init__(self, origin: float) -> None:
        """``origin``: the ``time.monotonic()`` the samples' times count from."""
        self._origin = origin
        self._samples: list[tuple[float, int]] = []
        self._last: tuple[float, int] | None = None
        self.received = 0

    def add(self, size: int) -> None:
        self.received += size
        now = time.monotonic()
        self._last = (round((now - self._origin) * 1000, 1), self.received)
        if not self._samples or now - self._origin - self._samples[-1][0] / 1000 >= (
            self.SAMPLE_EVERY
        ):
            self._samples.append(self._last)

    def samples(self) -> tuple[tuple[float, int], ...]:
        """The samples kept, and the last byte's time as the final one."""
        if self._last is not None and (not self._samples or self._samples[-1] != self._last):
            return (*self._samples, self._last)
        return tuple(self._samples)


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


async def read_capped(
    response: httpx.Response,
    into: Body,
    cap: int,
    transfer: Transfer | None = None,
    until: float | None = None,
) -> bool:
    """Add the decoded body of the streamed ``response`` to ``into``, ``cap`` bytes at most.

    Returns whether the body was longer than the cap (reading stops there), was still
    coming at ``until`` (a ``time.monotonic()``: reading stops then too), or could not be
    decoded (what decoded is kept). ``transfer`` records the wire bytes as they come::

        async with client.stream("GET", url) as response:
            truncated = await read_capped(response, body, 1 << 20)

    What was read stays in ``into`` when the reading is interrupted (timeout, reset).
    """
    decoder = _Decoder(response.headers.get("content-encoding"))
    async for chunk in response.aiter_raw():
        if transfer is not None:
            transfer.add(len(chunk))
        room = cap - into.length
        try:
            data, left_over = decoder.decode(chunk, room + 1)
        except zlib.error:
            return True
        into.add(data[:room])
        if len(data) > room or left_over:
            return True
        if until is not None and time.monotonic() >= until:
            return True
    return False
