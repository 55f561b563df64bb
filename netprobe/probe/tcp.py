"""TCP connect attempts, and whether this host can reach IPv6 at all.

obs = await connect("192.0.2.7", 443, "local", timeout=10, t_origin=t_origin)
"""

from __future__ import annotations

import asyncio
import functools
import socket

from netprobe.observations import Role, TCPObservation

from ._clock import Stopwatch
from ._errors import failure_from_exception

__all__ = ["connect", "host_has_ipv6"]

# Any global unicast address: connect() on a UDP socket only picks a route, sends nothing.
_GLOBAL_IPV6 = "2001:4860:4860::8888"


async def connect(
    address: str, port: int, role: Role, *, timeout: float, t_origin: float
) -> TCPObservation:
    """Open a TCP connection to ``address`` (an IP literal) and close it at once.

    Never raises for network failures: they are the observation's ``failure``.
    """
    clock = Stopwatch(t_origin)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
    except Exception as exc:
        return TCPObservation(
            address, port, role, clock.t0, clock.elapsed_ms(), failure_from_exception(exc)
        )
    duration_ms = clock.elapsed_ms()
    writer.close()
    return TCPObservation(address, port, role, clock.t0, duration_ms, None)


@functools.cache
def host_has_ipv6() -> bool:
    """Whether this host has an IPv6 route to the Internet (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect((_GLOBAL_IPV6, 53))
    except OSError:
        return False
    return True
