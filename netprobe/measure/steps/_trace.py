"""Follow the connection steps of one httpx request, through httpcore's ``trace`` extension."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpcore

__all__ = ["ConnectionTrace"]


class ConnectionTrace:
    """Passed as the ``trace`` extension of a request::

        trace = ConnectionTrace()
        try:
            await client.get(url, extensions={"trace": trace})
        finally:
            await trace.close_abandoned()

    Tells the peer address, whether the TCP connection opened, whether the TLS
    handshake was under way when the request ended, and the session it made.
    """

    __slots__ = (
        "_stream",
        "connect_started",
        "connected",
        "in_tls_handshake",
        "peer",
        "tls_done",
        "tls_object",
    )

    def __init__(self) -> None:
        self.peer: str | None = None
        self.connected = False
        self.in_tls_handshake = False
        self.connect_started: float | None = None
        """``time.monotonic()`` when the TCP connect began."""
        self.tls_done: float | None = None
        """``time.monotonic()`` when the TLS handshake completed."""
        self.tls_object: ssl.SSLObject | None = None
        """The TLS session of a completed handshake (verified: httpx checks it)."""
        self._stream: httpcore.AsyncNetworkStream | None = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started":
            self.connect_started = time.monotonic()
        elif event == "connection.connect_tcp.complete":
            self._stream = info["return_value"]
            self.connected = True
            server = self._stream.get_extra_info("server_addr") if self._stream else None
            self.peer = server[0] if server else None
        elif event == "connection.start_tls.started":
            self.in_tls_handshake = True
        elif event == "connection.start_tls.complete":
            self.in_tls_handshake = False
            self.tls_done = time.monotonic()
            stream = info["return_value"]
            ssl_object = stream.get_extra_info("ssl_object") if stream else None
            self.tls_object = ssl_object if isinstance(ssl_object, ssl.SSLObject) else None

    async def close_abandoned(self) -> None:
        """Close the TCP connection of a TLS handshake that was cancelled (a timeout).

        httpcore closes it when the handshake fails, but not when it is cancelled: the
        socket would stay open until garbage collection.
        """
        if self.in_tls_handshake and self._stream is not None:
            await self._stream.aclose()
