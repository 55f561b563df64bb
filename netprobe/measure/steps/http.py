"""One HTTP request, no redirect followed, its response recorded through a body cap.

    fetched = await fetch("https://example.com/", address="192.0.2.7", host="example.com",
                          purpose="target", hop=0, verify=verify, timeout=10,
                          t_origin=t_origin)
    fetched.exchange  # the HTTPObservation; fetched.handshake: its TLS handshake, if any

With an ``address``, the connection goes to that IP while ``host`` is sent as Host (and
SNI for https), so that the runner, not the system resolver, picks the server. The whole
exchange (connect, TLS, headers, body) shares one ``timeout``; a body cut by it or by the
cap keeps what was read and sets ``body_truncated``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import httpx

from netprobe.analysis.fingerprints import SMALL_BODY_BYTES, blockpage_excerpt
from netprobe.model.observations import HTTPObservation, HTTPPurpose, TLSObservation

from ._body import Body, Transfer, read_capped
from ._certificates import chain_of
from ._clock import Stopwatch
from ._errors import failure_from_exception
from ._html import TITLE_SCAN_BYTES, extract_title
from ._trace import ConnectionTrace

__all__ = ["BODY_KEPT", "REQUEST_HEADERS", "Fetched", "fetch"]

BODY_KEPT = max(SMALL_BODY_BYTES, TITLE_SCAN_BYTES)
"""Bytes of each body held in memory, for its title and the blockpage excerpt (a page
longer than this is no blockpage); the rest is only counted and hashed."""

REQUEST_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    ),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Accept-Encoding": "gzip, deflate",
}
"""Sent with every request: what a browser sends, so that servers and filters see one."""

_MAX_HEADERS = 100
_MAX_HEADER_TEXT = 1024


class Fetched(NamedTuple):
    exchange: HTTPObservation
    handshake: TLSObservation | None
    """The TLS handshake the request made (https only): verified, or failed before any
    certificate was seen (reset, stalled...). None otherwise: no handshake began, or the
    certificate did not verify (a handshake of its own records that chain)."""


async def fetch(
    url: str,
    *,
    address: str | None,
    host: str,
    purpose: HTTPPurpose,
    hop: int,
    verify: ssl.SSLContext,
    timeout: float,
    t_origin: float,
    body_cap: int = 1 << 20,
    proxy: str | None = None,
    sni: str | None = None,
    read_for: float | None = None,
) -> Fetched:
    """GET ``url`` (connecting to ``address`` when given) and record the response, and the
    TLS handshake the request made as an observation of its own (``purpose="target"``), so
    that an https page needs one handshake, not two.

    With ``proxy`` (``http://`` or ``socks5://``), the request goes through it and the
    proxy resolves the name (``address`` must then be None). Reads at most ``body_cap``
    bytes of the (decoded) body, for at most ``read_for`` seconds once the response has
    begun when given (a speed sample, not a failure: ``body_truncated``). ``sni`` replaces
    ``host`` in the TLS handshake only. Never raises for network failures: they are the
    observation's ``failure``, and ``tls_failure`` too when the TLS handshake is where it
    happened.
    """
    clock = Stopwatch(t_origin)
    exchange = _Exchange(transfer=Transfer(clock.started), read_for=read_for)
    failure: str | None = None
    try:
        async with asyncio.timeout(timeout):
            await _request(
                exchange, url, address, (host, sni or host), verify, body_cap, clock, proxy
            )
    except Exception as exc:
        failure = failure_from_exception(exc)
        # Cut while reading the body: what was read is kept, but it is not the whole body.
        exchange.body_truncated = exchange.status is not None
        await exchange.trace.close_abandoned()
    duration_ms = clock.elapsed_ms()
    responded = exchange.status is not None
    headers = tuple(exchange.headers)
    head = bytes(exchange.body.head)
    length = exchange.body.length
    exchange_observed = HTTPObservation(
        url=url,
        address=address or exchange.trace.peer,
        host=host,
        purpose=purpose,
        hop=hop,
        t0=clock.t0,
        duration_ms=duration_ms,
        failure=failure,
        ttfb_ms=exchange.ttfb_ms,
        status=exchange.status,
        headers=headers,
        title=extract_title(head, exchange.charset) if responded else None,
        body_length=length if responded else None,
        body_sha256=exchange.body.sha256() if responded else None,
        body_truncated=exchange.body_truncated,
        location=exchange.location,
        body_excerpt=_excerpt(exchange.status, headers, head, length),
        tls_failure=failure if exchange.trace.in_tls_handshake else None,
        # Through a proxy, the connection traced is the one to the proxy, not to the site.
        connected=None if proxy is not None else exchange.trace.connected,
        sni=sni if sni != host else None,
        handshake_ms=_handshake_ms(exchange.trace) if url.lower().startswith("https:") else None,
        transfer=exchange.transfer.samples(),
    )
    handshake = _handshake(exchange.trace, failure, address, sni or host, url, t_origin)
    return Fetched(exchange_observed, handshake)


def _handshake_ms(trace: ConnectionTrace) -> float | None:
    if trace.connect_started is None or trace.tls_done is None:
        return None
    return round((trace.tls_done - trace.connect_started) * 1000, 1)


def _handshake(
    trace: ConnectionTrace,
    failure: str | None,
    address: str | None,
    host: str,
    url: str,
    t_origin: float,
) -> TLSObservation | None:
    started = trace.connect_started
    if started is None or address is None or not url.lower().startswith("https:"):
        return None
    observed = TLSObservation(
        address=address,
        port=httpx.URL(url).port or 443,
        sni=host,
        purpose="target",
        t0=(started - t_origin) * 1000,
        duration_ms=((trace.tls_done or time.monotonic()) - started) * 1000,
        failure=None,
        connected=True,
    )
    ssl_object = trace.tls_object
    if ssl_object is not None:
        cipher = ssl_object.cipher()
        return replace(
            observed,
            handshake_completed=True,
            version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            chain=chain_of(ssl_object),
        )
    if trace.in_tls_handshake and failure is not None and not failure.startswith("ssl_"):
        return replace(observed, failure=failure)
    return None


@dataclass(slots=True)
class _Exchange:
    """What is known so far; it survives the exception that ends the exchange early."""

    trace: ConnectionTrace = field(default_factory=ConnectionTrace)
    ttfb_ms: float | None = None
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    charset: str | None = None
    location: str | None = None
    body: Body = field(default_factory=lambda: Body(BODY_KEPT))
    body_truncated: bool = False
    transfer: Transfer = field(default_factory=lambda: Transfer(time.monotonic()))
    read_for: float | None = None

    def record_response(self, url: httpx.URL, response: httpx.Response, ttfb_ms: float) -> None:
        self.ttfb_ms = ttfb_ms
        self.status = response.status_code
        self.headers = [
            (_text(name).lower(), _text(value))
            for name, value in response.headers.raw[:_MAX_HEADERS]
        ]
        self.charset = response.charset_encoding
        # From the whole header value: redirect URLs may be longer than what is recorded.
        location = response.headers.get("location")
        if response.is_redirect and location is not None:
            self.location = _absolute(url, location)


async def _request(
    exchange: _Exchange,
    url: str,
    address: str | None,
    names: tuple[str, str],
    verify: ssl.SSLContext,
    body_cap: int,
    clock: Stopwatch,
    proxy: str | None,
) -> None:
    host, sni = names
    target = httpx.URL(url)
    extensions: dict[str, Any] = {"trace": exchange.trace}
    if target.scheme == "https":
        extensions["sni_hostname"] = sni
    request = httpx.Request(
        "GET",
        target if address is None else target.copy_with(host=address),
        headers={**REQUEST_HEADERS, "Host": target.copy_with(host=host).netloc.decode()},
        extensions=extensions,
    )
    # A bare transport rather than a client: a fresh connection pool for this one request
    # (pools are keyed by origin, not by address and SNI), and no redirect handling, which
    # would turn an unparseable Location into an error instead of a recorded response.
    async with httpx.AsyncHTTPTransport(verify=verify, trust_env=False, proxy=proxy) as transport:
        response = await transport.handle_async_request(request)
        try:
            exchange.record_response(target, response, clock.elapsed_ms())
            until = None if exchange.read_for is None else time.monotonic() + exchange.read_for
            exchange.body_truncated = await read_capped(
                response, exchange.body, body_cap, exchange.transfer, until
            )
        finally:
            await response.aclose()


def _excerpt(
    status: int | None, headers: tuple[tuple[str, str], ...], head: bytes, length: int
) -> bytes | None:
    if status is None:
        return None
    content_type = next((v for k, v in headers if k == "content-type"), None)
    content_length = next((v for k, v in headers if k == "content-length"), None)
    return blockpage_excerpt(status, content_type, content_length, head, length)


def _text(raw: bytes) -> str:
    return raw[:_MAX_HEADER_TEXT].decode("utf-8", errors="backslashreplace")


def _absolute(base: httpx.URL, reference: str) -> str | None:
    """``reference`` resolved against ``base``; None if it is not a usable URL."""
    try:
        return str(base.join(reference.strip()))
    except (httpx.InvalidURL, UnicodeError):
        return None
