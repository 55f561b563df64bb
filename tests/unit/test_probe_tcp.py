"""TCP connect: accepted, refused, and silently dropped (timeout) on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from netprobe.measure.steps.tcp import connect, connect_via_proxy, host_has_ipv6


async def test_accepted(loopback) -> None:
    async with loopback.serve_tcp(loopback.hold) as port:
        obs = await connect("127.0.0.1", port, "local", timeout=1, t_origin=time.monotonic())
    assert obs.failure is None
    assert (obs.address, obs.port, obs.role) == ("127.0.0.1", port, "local")
    assert obs.duration_ms is not None and 0 <= obs.duration_ms < 1000
    assert obs.t0 >= 0


async def test_refused(loopback) -> None:
    obs = await connect(
        "127.0.0.1", loopback.closed_port(), "control", timeout=1, t_origin=time.monotonic()
    )
    assert obs.failure == "connection_refused"
    assert obs.role == "control"


@contextlib.contextmanager
def _full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: Linux drops further SYNs (no RST, no reply)."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port


async def test_timeout_is_bounded() -> None:
    with _full_backlog() as port:
        started = time.monotonic()
        obs = await connect("127.0.0.1", port, "local", timeout=0.5, t_origin=started)
        elapsed = time.monotonic() - started
    if obs.failure is None:
        pytest.skip("this kernel accepted a connection beyond a full backlog")
    assert obs.failure == "generic_timeout_error"
    assert 0.45 <= elapsed < 0.8
    assert obs.duration_ms is not None and obs.duration_ms >= 450


def test_host_has_ipv6_is_a_cached_bool() -> None:
    assert isinstance(host_has_ipv6(), bool)
    assert host_has_ipv6.cache_info().currsize == 1


# -- through a proxy: HTTP CONNECT and SOCKS5, against loopback proxies -------------------


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _http_proxy(status: bytes, seen: list[bytes]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(status + b"\r\n\r\n")
        await writer.drain()
        await reader.read()

    return handle


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (b"HTTP/1.1 200 Connection established", None),
        (b"HTTP/1.1 502 Bad Gateway", "proxy_error: HTTP/1.1 502 Bad Gateway"),
    ],
)
async def test_http_connect(loopback, status: bytes, failure: str | None) -> None:
    seen: list[bytes] = []
    async with loopback.serve_tcp(_http_proxy(status, seen)) as port:
        obs = await connect_via_proxy(
            "e1.whatsapp.net", 5222, f"http://127.0.0.1:{port}", timeout=2,
            t_origin=time.monotonic(),
        )  # fmt: skip
    assert (obs.address, obs.port, obs.role, obs.proxied, obs.failure) == (
        "e1.whatsapp.net", 5222, "control", True, failure,
    )  # fmt: skip
    assert seen[0].startswith(b"CONNECT e1.whatsapp.net:5222 HTTP/1.1\r\n")


def _socks_proxy(reply: int, seen: list[bytes]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if 2 in methods:
            writer.write(b"\x05\x02")
            _, size = await reader.readexactly(2)
            user = await reader.readexactly(size)
            password = await reader.readexactly((await reader.readexactly(1))[0])
            seen.append(user + b":" + password)
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        head = await reader.readexactly(4)
        name = await reader.readexactly((await reader.readexactly(1))[0]) if head[3] == 3 else b""
        port = await reader.readexactly(2)
        seen.append(name + b":" + str(int.from_bytes(port)).encode())
        writer.write(bytes([5, reply, 0, 1]) + bytes(4) + b"\x00\x00")
        await writer.drain()
        await reader.read()

    return handle


@pytest.mark.parametrize(
    ("proxy", "reply", "failure", "login"),
    [
        ("socks5h://127.0.0.1:{port}", 0, None, None),
        ("socks5://user:p%40ss@127.0.0.1:{port}", 0, None, b"user:p@ss"),
        ("socks5h://127.0.0.1:{port}", 5, "connection_refused", None),
        ("socks5h://127.0.0.1:{port}", 4, "host_unreachable", None),
        ("socks5h://127.0.0.1:{port}", 2, "proxy_error: SOCKS reply 2", None),
    ],
)
async def test_socks5_connect(
    loopback, proxy: str, reply: int, failure: str | None, login: bytes | None
) -> None:
    seen: list[bytes] = []
    async with loopback.serve_tcp(_socks_proxy(reply, seen)) as port:
        obs = await connect_via_proxy(
            "e1.whatsapp.net", 443, proxy.format(port=port), timeout=2, t_origin=time.monotonic()
        )
    assert (obs.failure, obs.proxied) == (failure, True)
    assert seen == ([login] if login else []) + [b"e1.whatsapp.net:443"]


async def test_unreachable_proxy(loopback) -> None:
    obs = await connect_via_proxy(
        "e1.whatsapp.net", 443, f"http://127.0.0.1:{loopback.closed_port()}", timeout=1,
        t_origin=time.monotonic(),
    )  # fmt: skip
    assert obs.failure == "connection_refused"
