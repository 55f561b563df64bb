"""Read a streamed httpx response body through a size cap."""

from __future__ import annotations

import httpx

__all__ = ["read_capped"]


async def read_capped(response: httpx.Response, into: bytearray, cap: int) -> bool:
    """Append the (decoded) body of the streamed ``response`` to ``into``, ``cap`` bytes at most.

    Returns whether the body was longer than the cap (reading stops there)::

        async with client.stream("GET", url) as response:
            truncated = await read_capped(response, body, 1 << 20)

    What was read stays in ``into`` when the reading is interrupted (timeout, reset).
    """
    async for chunk in response.aiter_bytes():
        room = cap - len(into)
        into += chunk[:room]
        if len(chunk) > room:
            return True
    return False
