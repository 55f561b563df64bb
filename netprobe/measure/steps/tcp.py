"""TCP connect attempts, direct or through a proxy, and whether this host has IPv6.

obs = await connect("192.0.2.7", 443, "local", timeout=10, t_origin=t_origin)
obs = await connect_via_proxy("e1.whatsapp.net", 5222, "socks5://127.0.0.1:9050", ...)
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import struct
from urllib.parse import SplitResult, unquote, urlsplit

from netprobe.model.observations import (
    CONNECTION_REFUSED,
    GENERIC_TIMEOUT,
    HOST_UNREACHABLE,
    NETWORK_UNREACHABLE,
    PROXY_ERROR,
    Role,
    TCPObservation,
)

from ._clock import Stopwatch
from ._errors import failure_from_exception

__all__ = ["connect", "connect_via_proxy", "host_has_ipv6"]

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


async def connect_via_proxy(
    host: str, port: int, proxy: str, *, timeout: float, t_origin: float
) -> TCPObservation:
    """Ask ``proxy`` (``http://`` CONNECT, or ``socks5://``/``socks5h://``) to open a TCP
    connection to ``host``:``port``, and close it at once. The proxy resolves the name.

    Never raises for network failures: a refusal by the proxy is the failure the proxy
    reports (``connection_refused``, ``host_unreachable``…, else ``proxy_error: …``).
    """
    clock = Stopwatch(t_origin)
    parts = urlsplit(proxy)
    failure: str | None
    try:
        async with asyncio.timeout(timeout):
            default_port = 1080 if parts.scheme.startswith("socks") else 8080
            reader, writer = await asyncio.open_connection(
                parts.hostname, parts.port or default_port
            )
            try:
                if parts.scheme.startswith("socks"):
                    failure = await _socks5_connect(reader, writer, host, port, parts)
                else:
                    failure = await _http_connect(reader, writer, host, port)
            finally:
                writer.close()
    except Exception as exc:
        failure = failure_from_exception(exc)
    return TCPObservation(
        host, port, "control", clock.t0, clock.elapsed_ms(), failure, proxied=True
    )


async def _http_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
) -> str | None:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
    await writer.drain()
    status = (await reader.readline()).decode("latin-1").strip()
    if status.split(" ", 2)[1:2] == ["200"]:
        return None
    return f"{PROXY_ERROR}: {status[:80] or 'no answer'}"


# RFC 1928 reply codes, as the failures they stand for.
_SOCKS_FAILURES = {
    3: NETWORK_UNREACHABLE,
    4: HOST_UNREACHABLE,
    5: CONNECTION_REFUSED,
    6: GENERIC_TIMEOUT,
}


async def _socks5_connect(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    port: int,
    proxy: SplitResult,
) -> str | None:
    """RFC 1928 CONNECT, without authentication or with a user name and password (RFC 1929)."""
    username, password = unquote(proxy.username or ""), unquote(proxy.password or "")
    writer.write(b"\x05\x02\x00\x02" if username else b"\x05\x01\x00")
    version, method = await reader.readexactly(2)
    if version != 5 or method not in (0, 2):
        return f"{PROXY_ERROR}: SOCKS proxy offers no usable authentication"
    if method == 2:
        user, word = username.encode(), password.encode()
        writer.write(bytes([1, len(user)]) + user + bytes([len(word)]) + word)
        if (await reader.readexactly(2))[1] != 0:
            return f"{PROXY_ERROR}: SOCKS authentication refused"
    try:
        packed = ipaddress.ip_address(host).packed
        address = (b"\x01" if len(packed) == 4 else b"\x04") + packed
    except ValueError:
        name = host.encode("idna")
        address = b"\x03" + bytes([len(name)]) + name
    writer.write(b"\x05\x01\x00" + address + struct.pack(">H", port))
    _, reply, _, kind = await reader.readexactly(4)
    if reply != 0:
        return _SOCKS_FAILURES.get(reply, f"{PROXY_ERROR}: SOCKS reply {reply}")
    # The bound address that follows is not needed; reading it keeps the exchange clean.
    length = {1: 4, 4: 16}.get(kind) or (await reader.readexactly(1))[0]
    await reader.readexactly(length + 2)
    return None


@functools.cache
def host_has_ipv6() -> bool:
    """Whether this host has an IPv6 route to the Internet (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.connect((_GLOBAL_IPV6, 53))
    except OSError:
        return False
    return True
