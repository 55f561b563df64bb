"""Map exceptions raised by the network stack to OONI failure strings.

    failure_from_exception(exc)  # -> "connection_reset", "ssl_invalid_hostname", ...

httpx wraps httpcore's exceptions, which wrap anyio's, ssl's and the OS's; the meaningful
one is usually at the bottom, so the ``__cause__``/``__context__`` chain is walked from
the outside in and the first exception that says something specific decides.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Iterator

import anyio
import httpcore
import httpx

from netprobe.model.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    HOST_UNREACHABLE,
    NETWORK_UNREACHABLE,
    PROXY_ERROR,
    SSL_FAILED_HANDSHAKE,
    SSL_INVALID_CERTIFICATE,
    SSL_INVALID_HOSTNAME,
    SSL_UNKNOWN_AUTHORITY,
)

__all__ = ["failure_from_exception"]

# OpenSSL X509_V_ERR_* codes (``SSLCertVerificationError.verify_code``).
_HOSTNAME_MISMATCH = frozenset({62, 64})  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_UNKNOWN_AUTHORITY = frozenset(
    {
        2,  # UNABLE_TO_GET_ISSUER_CERT
        18,  # DEPTH_ZERO_SELF_SIGNED_CERT
        19,  # SELF_SIGNED_CERT_IN_CHAIN
        20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    }
)

_BY_ERRNO = {
    errno.ECONNRESET: CONNECTION_RESET,
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ETIMEDOUT: GENERIC_TIMEOUT,
    errno.EHOSTUNREACH: HOST_UNREACHABLE,
    errno.ENETUNREACH: NETWORK_UNREACHABLE,
}

# httpcore's words for "the peer closed the connection" (a FIN where data was due).
_EOF_MESSAGES = ("Server disconnected", "peer closed connection")

_UNKNOWN_TEXT_MAX = 160


def failure_from_exception(exc: BaseException) -> str:
    """The OONI failure string for ``exc``; ``unknown_failure: <text>`` when nothing matches."""
    for cause in _chain(exc):
        failure = _classify(cause)
        if failure is not None:
            return failure
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"unknown_failure: {text[:_UNKNOWN_TEXT_MAX]}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps, breadth first, each exception once."""
    pending = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _classify(exc: BaseException) -> str | None:
    # ssl errors are OSErrors whose errno is an SSL_ERROR_* code: test them first.
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _HOSTNAME_MISMATCH:
            return SSL_INVALID_HOSTNAME
        if exc.verify_code in _UNKNOWN_AUTHORITY:
            return SSL_UNKNOWN_AUTHORITY
        return SSL_INVALID_CERTIFICATE
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return EOF_ERROR
    if isinstance(exc, ssl.SSLError):
        return SSL_FAILED_HANDSHAKE
    if isinstance(exc, TimeoutError | httpx.TimeoutException | httpcore.TimeoutException):
        return GENERIC_TIMEOUT
    if isinstance(exc, ConnectionResetError):
        # asyncio reports a FIN during a TLS handshake (or a lost connection) as a
        # ConnectionResetError without errno: that is an EOF, not a RST.
        return CONNECTION_RESET if exc.errno == errno.ECONNRESET else EOF_ERROR
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, OSError) and exc.errno in _BY_ERRNO:
        return _BY_ERRNO[exc.errno]
    # asyncio.IncompleteReadError is an EOFError.
    if isinstance(exc, EOFError | anyio.EndOfStream):
        return EOF_ERROR
    if isinstance(exc, httpx.RemoteProtocolError | httpcore.RemoteProtocolError) and str(
        exc
    ).startswith(_EOF_MESSAGES):
        return EOF_ERROR
    if isinstance(exc, httpx.ProxyError | httpcore.ProxyError):
        # The proxy could not open the tunnel: it says why in its status line.
        return f"{PROXY_ERROR}: {str(exc)[:80]}"
    return None
