"""TLS handshakes that record what the server presented, verified or not.

    verify = make_verify_context(None)
    obs = await handshake("192.0.2.7", 443, "example.com", "target",
                          verify=verify, timeout=10, t_origin=t_origin)

``purpose="target"`` verifies the certificate for ``sni``; when it does not verify, the
failure is an ``ssl_*`` string (the server did complete its part of the handshake) and the
presented chain comes from a second, unverified handshake. ``purpose="innocuous"`` accepts
any certificate: it only asks whether the address completes a handshake for another name.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from typing import Literal, NamedTuple

import certifi

from netprobe.model.observations import Certificate, TLSObservation

from ._certificates import chain_of
from ._clock import Stopwatch
from ._errors import failure_from_exception

__all__ = [
    "CABundleError",
    "handshake",
    "make_verify_context",
    "unverified_context",
    "with_extra_roots",
]


class CABundleError(ValueError):
    """The CA bundle to verify servers with could not be loaded."""


def make_verify_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A client context trusting ``ca_bundle``, else ``$SSL_CERT_FILE``, else certifi's CAs.

    Raises :class:`CABundleError` when the file is missing or holds no certificate.
    """
    path = ca_bundle or os.environ.get("SSL_CERT_FILE") or certifi.where()
    try:
        return ssl.create_default_context(cafile=path)
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise CABundleError(f"cannot load CA bundle {path}: {exc}") from exc


def with_extra_roots(base: ssl.SSLContext, extra_pem: str) -> ssl.SSLContext:
    """A new client context trusting ``base``'s CAs and those of ``extra_pem`` (roots a
    service pins, such as Signal's, next to the usual ones)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and checks the host name
    for der in base.get_ca_certs(binary_form=True):
        context.load_verify_locations(cadata=der)
    try:
        context.load_verify_locations(cafile=extra_pem)
    except OSError as exc:
        raise CABundleError(f"cannot load CA bundle {extra_pem}: {exc}") from exc
    return context


class _Session(NamedTuple):
    version: str | None
    cipher: str | None
    chain: tuple[Certificate, ...]


_NO_SESSION = _Session(None, None, ())


async def handshake(
    address: str,
    port: int,
    sni: str,
    purpose: Literal["target", "innocuous"],
    *,
    verify: ssl.SSLContext,
    timeout: float,
    t_origin: float,
) -> TLSObservation:
    """Connect to ``address`` (an IP literal) and complete a TLS handshake sending ``sni``.

    ``duration_ms`` covers the TCP connect and the (first) handshake. Never raises for
    network failures: they are the observation's ``failure``.
    """
    clock = Stopwatch(t_origin)
    deadline = asyncio.get_running_loop().time() + timeout
    context = verify if purpose == "target" else unverified_context()
    failure: str | None = None
    connection = _Connection()
    try:
        async with asyncio.timeout_at(deadline):
            session = await _handshake(address, port, sni, context, connection)
        duration_ms = clock.elapsed_ms()
    except ssl.SSLCertVerificationError as exc:
        failure = failure_from_exception(exc)
        duration_ms = clock.elapsed_ms()
        session = await _unverified_session(address, port, sni, deadline)
    except Exception as exc:
        return TLSObservation(
            address, port, sni, purpose, clock.t0, clock.elapsed_ms(),
            failure_from_exception(exc), connected=connection.opened,
        )  # fmt: skip
    return TLSObservation(
        address,
        port,
        sni,
        purpose,
        clock.t0,
        duration_ms,
        failure,
        handshake_completed=True,
        connected=True,
        version=session.version,
        cipher=session.cipher,
        chain=session.chain,
    )


async def _unverified_session(address: str, port: int, sni: str, deadline: float) -> _Session:
    """What the server presents when nothing is verified; nothing if that fails too."""
    try:
        async with asyncio.timeout_at(deadline):
            return await _handshake(address, port, sni, unverified_context())
    except Exception:
        return _NO_SESSION


class _Connection:
    """Whether the TCP connection under a handshake opened: known even when the handshake
    then fails or is cut by the deadline."""

    __slots__ = ("opened",)

    def __init__(self) -> None:
        self.opened = False


async def _handshake(
    address: str,
    port: int,
    sni: str,
    context: ssl.SSLContext,
    connection: _Connection | None = None,
) -> _Session:
    _, writer = await asyncio.open_connection(address, port)
    if connection is not None:
        connection.opened = True
    try:
        await writer.start_tls(context, server_hostname=sni)
        ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
        cipher = ssl_object.cipher()
        return _Session(ssl_object.version(), cipher[0] if cipher else None, chain_of(ssl_object))
    finally:
        # No close_notify exchange: asyncio would wait up to 30 s for the server's.
        writer.transport.abort()


@functools.cache
def unverified_context() -> ssl.SSLContext:
    """A client context that verifies nothing: for handshakes made to be timed or looked at,
    never for a page's verdict."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
