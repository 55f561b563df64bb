"""DNS lookups over UDP, TCP, TLS (DoT) and HTTPS (DoH): one name, one record type.

    resolver = parse_resolver("https://dns.google/dns-query")
    obs = await query("example.com", "A", resolver, "control", timeout=4, t_origin=t_origin)

Replies are recorded as they came: whether an address is a bogon or disagrees with the
control is for :mod:`netprobe.analysis` to say. Over UDP the query is re-sent while
unanswered (loss is not censorship), and the socket stays open for a moment after the
first reply to catch a second, different one: an injector racing the real resolver.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import re
import ssl
import struct
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rrset
import httpx

from netprobe.model.observations import (
    DNS_NO_ANSWER,
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVER_MISBEHAVING,
    DNS_SERVFAIL,
    DNSObservation,
    Role,
)

from ._body import Body, read_capped
from ._clock import Stopwatch
from ._errors import failure_from_exception
from ._trace import ConnectionTrace
from .tls import make_verify_context

__all__ = [
    "LATE_REPLY_WINDOW",
    "UDP_RESEND_INTERVAL",
    "WELL_KNOWN_BOOTSTRAP",
    "ResolverSpec",
    "ResolverSpecError",
    "ServerMisbehavingError",
    "Transport",
    "exchange",
    "parse_resolver",
    "query",
    "query_early",
    "system_resolver",
]

Transport = Literal["udp", "tcp", "tls", "https"]

UDP_RESEND_INTERVAL = 1.0
"""Seconds between re-sends of an unanswered UDP query."""

LATE_REPLY_WINDOW = 0.3
"""Seconds to keep listening after the first UDP reply, for injected duplicates."""

WELL_KNOWN_BOOTSTRAP = {
    "dns.google": "8.8.8.8",
    "cloudflare-dns.com": "1.1.1.1",
    "dns.quad9.net": "9.9.9.9",
}
"""Addresses of public DoH/DoT servers, so that their names need no lookup."""

_DEFAULT_PORTS: dict[Transport, int] = {"udp": 53, "tcp": 53, "tls": 853, "https": 443}
_DOH_PATH = "/dns-query"
_DNS_MESSAGE = "application/dns-message"
_MAX_MESSAGE = 65535
_EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: avoids fragmentation
_MAX_CNAMES = 16
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_WINDOWS = sys.platform == "win32"  # no /etc/resolv.conf: only the system's configuration
_RCODE_FAILURES = {
    dns.rcode.NXDOMAIN: DNS_NXDOMAIN,
    dns.rcode.SERVFAIL: DNS_SERVFAIL,
    dns.rcode.REFUSED: DNS_REFUSED,
}


class ResolverSpecError(ValueError):
    """A resolver spec that cannot be used; the message is one line, fit for users."""


@dataclass(frozen=True, slots=True)
class ResolverSpec:
    """Where and how to send queries; ``str()`` gives the canonical spec, which parses back."""

    transport: Transport
    host: str
    """The server: an IP literal, or for ``tls``/``https`` a name (SNI, certificate, Host)."""
    port: int
    url: str | None
    """For DoH, ``https://host[:port]/path``: what the queries are posted to."""
    address: str
    """The IP literal connected to: ``host`` itself, or the bootstrap address of a name."""

    def __str__(self) -> str:
        spec = self.url or f"{self.transport}://{_authority(self.host, self.port)}"
        return spec if self.host == self.address else f"{spec}#{self.address}"


def parse_resolver(spec: str) -> ResolverSpec:
    """Parse a resolver given by the user.

    Accepts ``IP``, ``IP:PORT``, ``[IPv6]:PORT`` (all UDP), ``udp://``/``tcp://IP[:PORT]``,
    ``tls://HOST[:PORT]`` and ``https://HOST[:PORT][/PATH]``. A ``tls``/``https`` server given
    by name needs its address, after a ``#`` (``https://dns.google/dns-query#8.8.8.8``)
    unless it is in :data:`WELL_KNOWN_BOOTSTRAP`. Raises :class:`ResolverSpecError`.
    """
    text = spec.strip()
    if "://" not in text:
        text = f"udp://[{text}]" if _ip(text) and ":" in text else f"udp://{text}"

    def invalid(reason: str) -> ResolverSpecError:
        return ResolverSpecError(f"invalid resolver {spec!r}: {reason}")

    try:
        parts = urllib.parse.urlsplit(text)
        explicit_port = parts.port
    except ValueError as exc:
        raise invalid(str(exc)) from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise invalid(f"unknown scheme {parts.scheme!r} (use udp, tcp, tls or https)")
    transport: Transport = parts.scheme
    if parts.username is not None or parts.password is not None:
        raise invalid("credentials are not supported")
    if explicit_port == 0:
        raise invalid("port 0")
    port = explicit_port or _DEFAULT_PORTS[transport]
    host = parts.hostname or ""
    ip = _ip(host)
    if ip is None and not _is_hostname(host):
        raise invalid(f"{host!r} is neither an IP address nor a host name")
    if transport in ("udp", "tcp"):
        if ip is None:
            raise invalid(f"{transport} resolvers are given by IP address")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise invalid("unexpected path")
        return ResolverSpec(transport, ip, port, None, ip)

    host = ip or host
    if transport == "tls" and (parts.path not in ("", "/") or parts.query):
        raise invalid("unexpected path")
    url = None
    if transport == "https":
        path = parts.path or _DOH_PATH
        url = urllib.parse.urlunsplit(
            ("https", _authority(host, None if port == 443 else port), path, parts.query, "")
        )
    if parts.fragment:
        address = _ip(parts.fragment.strip("[]"))
        if address is None:
            raise invalid(f"bootstrap {parts.fragment!r} is not an IP address")
    else:
        address = ip or WELL_KNOWN_BOOTSTRAP.get(host)
        if address is None:
            raise invalid(f"give the address of {host} after '#', as in {transport}://{host}#IP")
    return ResolverSpec(transport, host, port, url, address)


def system_resolver(
    path: str = "/etc/resolv.conf",
    *,
    configured: Callable[[], Sequence[str]] | None = None,
) -> ResolverSpec:
    """The system's resolver, over UDP port 53. Raises :class:`ResolverSpecError`.

    The first usable ``nameserver`` of ``path`` (not read on Windows), else the first IP
    address among the nameservers of the system's configuration: ``configured()``, by default
    what dnspython reads (the registry on Windows, ``/etc/resolv.conf`` elsewhere). Entries
    that are not plain addresses (DoH URLs) are skipped; an IPv6 zone (``fe80::1%eth0``) is
    dropped. ``configured`` returns nameservers as text, or raises :class:`ResolverSpecError`
    saying why it has none.
    """
    if _WINDOWS:
        from_file = None
    else:
        try:
            lines = Path(path).read_text(errors="replace").splitlines()
        except OSError as exc:
            from_file = f"cannot read {path} ({exc.strerror or exc})"
        else:
            fields = [line.split() for line in lines]
            ip = _first_address(f[1] for f in fields if len(f) >= 2 and f[0] == "nameserver")
            if ip is not None:
                return ResolverSpec("udp", ip, 53, None, ip)
            from_file = f"no nameserver in {path}"
    try:
        nameservers = list((configured or _dnspython_nameservers)())
    except ResolverSpecError as exc:
        why = str(exc)
    else:
        ip = _first_address(nameservers)
        if ip is not None:
            return ResolverSpec("udp", ip, 53, None, ip)
        shown = ", ".join(nameservers[:3]) + (", ..." if len(nameservers) > 3 else "")
        why = f"no plain address among {shown}" if nameservers else "it lists none"
    why = " ".join(why.split())  # one line
    if from_file is None:
        raise ResolverSpecError(f"no nameserver in the system's configuration ({why})")
    raise ResolverSpecError(f"{from_file} and none in the system's configuration ({why})")


def _first_address(nameservers: Iterable[str]) -> str | None:
    """The first of ``nameservers`` that is an IP address, canonical and without IPv6 zone."""
    for text in nameservers:
        ip = _ip(text.partition("%")[0])  # drop an IPv6 zone: fe80::1%eth0
        if ip is not None:
            return ip
    return None


def _dnspython_nameservers() -> list[str]:
    """The nameservers of the system's configuration, as dnspython reads it, as text.

    Raises :class:`ResolverSpecError` when dnspython cannot read it. Imports dnspython's
    resolver only when called: it is slow to import and seldom needed.
    """
    import dns.exception
    import dns.nameserver
    import dns.resolver

    try:
        # POSIX (macOS included): /etc/resolv.conf; Windows: the registry (or WMI).
        resolver = dns.resolver.Resolver(configure=True)
    except (dns.exception.DNSException, OSError, ValueError, NotImplementedError) as exc:
        # NoResolverConfiguration (no file, no nameserver), unreadable registry keys,
        # invalid entries or domain names, or a platform dnspython cannot read.
        raise ResolverSpecError(str(exc) or type(exc).__name__) from None
    texts = []
    for nameserver in resolver.nameservers:  # dnspython >= 2.4: text or Nameserver objects
        if isinstance(nameserver, str):
            texts.append(nameserver)
        elif isinstance(nameserver, dns.nameserver.Do53Nameserver) and nameserver.port == 53:
            texts.append(nameserver.address)
        else:  # DoH, DoT, DoQ, or Do53 on another port: "https://...", "DoT:1.1.1.1@853"
            texts.append(str(nameserver))
    return texts


async def query(
    domain: str,
    query_type: Literal["A", "AAAA"],
    resolver: ResolverSpec,
    role: Role,
    *,
    timeout: float,
    t_origin: float,
    doh_client: httpx.AsyncClient | None = None,
    verify: ssl.SSLContext | None = None,
) -> DNSObservation:
    """Ask ``resolver`` for the ``query_type`` records of ``domain``.

    DoH goes through ``doh_client`` (a temporary client when None) to the resolver's
    bootstrap address, with its name as Host and SNI. ``verify`` checks DoT servers
    (default: :func:`~netprobe.measure.steps.tls.make_verify_context` with no bundle); do not share
    a context with httpx, which sets its ALPN to ``http/1.1``. ``duration_ms`` runs to the
    first reply; over UDP, late replies are listened for :data:`LATE_REPLY_WINDOW` after
    it. Never raises for network failures or malformed replies.
    """
    _, final = await query_early(
        domain, query_type, resolver, role, timeout=timeout, t_origin=t_origin,
        doh_client=doh_client, verify=verify,
    )  # fmt: skip
    return await final


async def query_early(
    domain: str,
    query_type: Literal["A", "AAAA"],
    resolver: ResolverSpec,
    role: Role,
    *,
    timeout: float,
    t_origin: float,
    doh_client: httpx.AsyncClient | None = None,
    verify: ssl.SSLContext | None = None,
) -> tuple[DNSObservation, asyncio.Future[DNSObservation]]:
    """As :func:`query`, but returns at the first reply: its observation, and the final one
    (with any late replies) still to come. Whoever only needs the answer to go on (to
    connect) need not wait out the window in which injected duplicates may arrive::

        first, final = await query_early("example.com", "A", resolver, "local", ...)
        connect_to(first.addresses)
        observation = await final
    """
    clock = Stopwatch(t_origin)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def observed(
        answer: _Answer, duration_ms: float, late: tuple[tuple[str, ...], ...] = ()
    ) -> DNSObservation:
        return DNSObservation(
            domain=domain,
            query_type=query_type,
            resolver=str(resolver),
            role=role,
            t0=clock.t0,
            duration_ms=duration_ms,
            failure=answer.failure,
            rcode=answer.rcode,
            addresses=answer.addresses,
            cnames=answer.cnames,
            ttl=answer.ttl,
            late_replies=late,
        )

    channel: _UDPChannel | None = None
    try:
        message = dns.message.make_query(domain, query_type, use_edns=0, payload=_EDNS_PAYLOAD)
        if resolver.transport == "udp":
            channel = await _UDPChannel.open(message, resolver)
            reply = await channel.first_reply(deadline)
        else:
            async with asyncio.timeout_at(deadline):
                reply = await _exchange(message, resolver, doh_client, verify)
        duration_ms = clock.elapsed_ms()
        answer = _read_answer(reply, message)
    except Exception as exc:
        if channel is not None:
            channel.close()
        failure = (
            DNS_SERVER_MISBEHAVING
            if isinstance(exc, ServerMisbehavingError)
            else failure_from_exception(exc)
        )
        return _done(observed(_Answer(failure), clock.elapsed_ms()))
    first = observed(answer, duration_ms)
    if channel is None:
        return first, _done(first)[1]

    async def listen(udp: _UDPChannel) -> DNSObservation:
        try:
            late = await udp.late_replies(reply, min(loop.time() + LATE_REPLY_WINDOW, deadline))
        finally:
            udp.close()
        return observed(answer, duration_ms, late) if late else first

    return first, asyncio.ensure_future(listen(channel))


def _done(observation: DNSObservation) -> tuple[DNSObservation, asyncio.Future[DNSObservation]]:
    final: asyncio.Future[DNSObservation] = asyncio.get_running_loop().create_future()
    final.set_result(observation)
    return observation, final


class ServerMisbehavingError(Exception):
    """The resolver answered with something that is not a reply to our query."""


async def exchange(
    message: dns.message.Message,
    resolver: ResolverSpec,
    *,
    timeout: float,
    doh_client: httpx.AsyncClient | None = None,
    verify: ssl.SSLContext | None = None,
) -> dns.message.Message:
    """Send ``message`` to ``resolver`` over its transport; return the first valid reply.

    For callers that want the reply itself (TXT and CH lookups) rather than an observation.
    UDP queries are re-sent until answered. Raises :class:`ServerMisbehavingError` for an
    unusable reply, ``TimeoutError`` past ``timeout``, and network errors as they come.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    if resolver.transport == "udp":
        async with _udp_channel(message, resolver) as channel:
            return await channel.first_reply(deadline)
    async with asyncio.timeout_at(deadline):
        return await _exchange(message, resolver, doh_client, verify)


class _Answer(NamedTuple):
    failure: str | None
    rcode: str | None = None
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    ttl: int | None = None


def _read_answer(reply: dns.message.Message, query: dns.message.Message) -> _Answer:
    question = query.question[0]
    cnames, final = _follow_cnames(reply, question.name, question.rdtype)
    addresses = tuple(rdata.to_text() for rdata in final or ())
    rcode = reply.rcode()
    if rcode != dns.rcode.NOERROR:
        failure: str | None = _RCODE_FAILURES.get(rcode, DNS_SERVER_MISBEHAVING)
    else:
        failure = None if addresses else DNS_NO_ANSWER
    ttls = [rrset.ttl for rrset in (*cnames, final) if rrset is not None]
    return _Answer(
        failure,
        dns.rcode.to_text(rcode),
        addresses,
        tuple(_target(rrset).to_text(omit_final_dot=True) for rrset in cnames),
        min(ttls, default=None),
    )


def _follow_cnames(
    reply: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> tuple[list[dns.rrset.RRset], dns.rrset.RRset | None]:
    """The CNAME records from ``name`` on, and the ``rdtype`` records of the last name."""
    cnames: list[dns.rrset.RRset] = []
    for _ in range(_MAX_CNAMES):
        final = reply.get_rrset(reply.answer, name, dns.rdataclass.IN, rdtype)
        if final is not None:
            return cnames, final
        cname = reply.get_rrset(reply.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is None:
            break
        cnames.append(cname)
        name = _target(cname)
    return cnames, None


def _target(cname: dns.rrset.RRset) -> dns.name.Name:
    return cast(dns.rdtypes.ANY.CNAME.CNAME, cname[0]).target


def _parse_reply(wire: bytes, query: dns.message.Message) -> dns.message.Message:
    try:
        reply = dns.message.from_wire(wire)
    except Exception as exc:  # dnspython raises many kinds of error on malformed input
        raise ServerMisbehavingError from exc
    if not query.is_response(reply):
        raise ServerMisbehavingError
    return reply


class _UDPChannel(asyncio.DatagramProtocol):
    """One query on its own connected UDP socket: sent, re-sent until answered, replies read."""

    def __init__(self, query: dns.message.Message) -> None:
        self._query = query
        self._wire = query.to_wire()
        self._inbox: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self._transport: asyncio.DatagramTransport | None = None
        self._resend: asyncio.TimerHandle | None = None
        self._unusable = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._transport.sendto(self._wire)
        self._resend = asyncio.get_running_loop().call_later(UDP_RESEND_INTERVAL, self._send)

    def _stop_resending(self) -> None:
        if self._resend is not None:
            self._resend.cancel()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._inbox.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on the connected socket: port or host unreachable.
        self._inbox.put_nowait(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_resending()

    @classmethod
    async def open(cls, query: dns.message.Message, resolver: ResolverSpec) -> _UDPChannel:
        """A channel whose socket is connected to ``resolver``; the query is on its way."""
        loop = asyncio.get_running_loop()
        _, channel = await loop.create_datagram_endpoint(
            lambda: cls(query), remote_addr=(resolver.address, resolver.port)
        )
        return channel

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def first_reply(self, deadline: float) -> dns.message.Message:
        """The first reply to the query; garbage and replies to other queries are skipped."""
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    item = await self._inbox.get()
                    if isinstance(item, Exception):
                        raise item
                    reply = self._reply(item)
                    if reply is not None:
                        self._stop_resending()
                        return reply
        except TimeoutError:
            if self._unusable:
                raise ServerMisbehavingError from None
            raise

    async def late_replies(
        self, first: dns.message.Message, until: float
    ) -> tuple[tuple[str, ...], ...]:
        """Address sets of the replies, until loop time ``until``, that differ from ``first``."""
        seen = [frozenset(_read_answer(first, self._query).addresses)]
        late: list[tuple[str, ...]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(until):
                while True:
                    item = await self._inbox.get()
                    reply = None if isinstance(item, Exception) else self._reply(item)
                    if reply is None:
                        continue
                    addresses = _read_answer(reply, self._query).addresses
                    if frozenset(addresses) not in seen:
                        seen.append(frozenset(addresses))
                        late.append(addresses)
        return tuple(late)

    def _reply(self, wire: bytes) -> dns.message.Message | None:
        try:
            return _parse_reply(wire, self._query)
        except ServerMisbehavingError:
            self._unusable = True
            return None


@contextlib.asynccontextmanager
async def _udp_channel(
    query: dns.message.Message, resolver: ResolverSpec
) -> AsyncIterator[_UDPChannel]:
    channel = await _UDPChannel.open(query, resolver)
    try:
        yield channel
    finally:
        channel.close()


async def _exchange(
    query: dns.message.Message,
    resolver: ResolverSpec,
    doh_client: httpx.AsyncClient | None,
    verify: ssl.SSLContext | None,
) -> dns.message.Message:
    if resolver.transport != "https":
        return await _exchange_stream(query, resolver, verify or _default_verify_context())
    if doh_client is not None:
        return await _exchange_doh(query, resolver, doh_client)
    # A fresh context, not the cached DoT one: httpx sets the ALPN of the context it is given.
    context = verify or make_verify_context(None)
    async with httpx.AsyncClient(verify=context, trust_env=False, timeout=None) as client:
        return await _exchange_doh(query, resolver, client)


async def _exchange_stream(
    query: dns.message.Message, resolver: ResolverSpec, verify: ssl.SSLContext
) -> dns.message.Message:
    """DNS over TCP (RFC 7766) or TLS (RFC 7858): messages prefixed by their length."""
    tls = resolver.transport == "tls"
    reader, writer = await asyncio.open_connection(
        resolver.address,
        resolver.port,
        ssl=verify if tls else None,
        server_hostname=resolver.host if tls else None,
    )
    try:
        wire = query.to_wire()
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        return _parse_reply(await reader.readexactly(size), query)
    finally:
        # No close_notify exchange for DoT: asyncio would wait up to 30 s for the server's.
        writer.transport.abort()


async def _exchange_doh(
    query: dns.message.Message, resolver: ResolverSpec, client: httpx.AsyncClient
) -> dns.message.Message:
    """DNS over HTTPS (RFC 8484): POST to the bootstrap address, the server's name as Host/SNI."""
    url = httpx.URL(cast(str, resolver.url))
    query.id = 0  # RFC 8484 section 4.1: lets HTTP caches share the reply
    trace = ConnectionTrace()
    body = Body(keep=_MAX_MESSAGE)
    try:
        async with client.stream(
            "POST",
            url.copy_with(host=resolver.address),
            content=query.to_wire(),
            headers={
                "Host": url.netloc.decode("ascii"),
                "Content-Type": _DNS_MESSAGE,
                "Accept": _DNS_MESSAGE,
            },
            extensions={"sni_hostname": resolver.host, "trace": trace},
        ) as response:
            if response.status_code != 200 or await read_capped(response, body, _MAX_MESSAGE):
                raise ServerMisbehavingError
    finally:
        await trace.close_abandoned()
    return _parse_reply(bytes(body.head), query)


@functools.cache
def _default_verify_context() -> ssl.SSLContext:
    return make_verify_context(None)


def _ip(text: str) -> str | None:
    """``text`` as a canonical IP literal, or None if it is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _is_hostname(text: str) -> bool:
    labels = text.removesuffix(".").split(".")
    return len(text) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _authority(host: str, port: int | None) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port is None else f"{bracketed}:{port}"
