"""Shared fixtures: loopback servers started by the tests themselves, and test CAs.

Nothing here sends a packet beyond loopback (127.0.0.1, ::1).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trustme

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Loopback:
    """Helpers to stage network conditions on 127.0.0.1."""

    @staticmethod
    @contextlib.asynccontextmanager
    async def serve_tcp(
        handler: StreamHandler, *, ssl: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> AsyncIterator[int]:
        """``async with loopback.serve_tcp(handler) as port``: ``handler`` per connection."""
        tasks: set[asyncio.Task[object]] = set()

        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            # The probe hanging up is a normal end of a scenario, and so is the teardown's
            # cancellation (asyncio logs handlers that end cancelled).
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
                await handler(reader, writer)
            writer.transport.abort()

        server = await asyncio.start_server(guarded, host, 0, ssl=ssl)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            server.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()

    @staticmethod
    def server_context(
        ca: trustme.CA, *identities: str, sni_seen: list[str] | None = None, **issue: object
    ) -> ssl.SSLContext:
        """A server context with a certificate from ``ca`` for ``identities``; records SNIs."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*identities, **issue).configure_cert(context)
        if sni_seen is not None:

            def record(_: object, name: str | None, __: object) -> None:
                sni_seen.append(name or "")

            context.sni_callback = record
        return context

    @staticmethod
    def closed_port() -> int:
        """A loopback port nobody listens on: connections to it are refused."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        return port

    @staticmethod
    def reset(writer: asyncio.StreamWriter) -> None:
        """Close with a RST instead of a FIN."""
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @staticmethod
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Accept, then never answer."""
        await asyncio.Event().wait()


@pytest.fixture
def loopback() -> type[Loopback]:
    return Loopback


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA the probe is told to trust."""
    return trustme.CA()


@pytest.fixture(scope="session")
def other_ca() -> trustme.CA:
    """A CA the probe does not know."""
    return trustme.CA()


@pytest.fixture(scope="session")
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts ``ca`` only (what ``verify=`` gets in the tests)."""
    return ssl.create_default_context(cadata=ca.cert_pem.bytes().decode("ascii"))
