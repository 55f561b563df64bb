"""Where the probe is: its public IP address, found several independent ways, and its AS.

    identity = await discover_probe(ip_services=None, resolver=ASNResolver(),
                                    asn_override=None, cc_override=None,
                                    timeout=4, verify=verify)

The public IP is asked of DNS services that echo the client's address (OpenDNS, Google's
name server, Cloudflare's ``whoami``) and of plain-text HTTPS echo services, in order, two
at a time, until two agree (:func:`choose_ip`). A user's ``--ip-service`` URLs replace all
of them. Every answer must be a public address: an interfering resolver or a captive portal
may answer anything.

The address itself is private: nothing here logs it or puts it in a note or an exception
(the report has it only when the user asks); logs name the method only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from netprobe.measure._dns_records import ask_records
from netprobe.model.addresses import IPNetwork, is_bogon

if TYPE_CHECKING:
    from netprobe.measure.steps.dns import ResolverSpec
    from netprobe.model.networks import ASInfo


class Networks(Protocol):
    """What finding the probe's network needs of the AS lookups (``asn.ASNResolver``):
    named here so that this module needs nothing of the one that uses it."""

    def as_name_of(self, asn: int) -> tuple[str | None, str | None]: ...

    async def lookup_async(self, address: str) -> ASInfo: ...


__all__ = [
    "DEFAULT_HTTP_ECHO_SERVICES",
    "DNSEcho",
    "HTTPEcho",
    "IPAnswer",
    "IPChoice",
    "IPDiscovery",
    "IPMethod",
    "Networks",
    "ProbeIdentity",
    "choose_ip",
    "default_ip_methods",
    "discover_probe",
    "discover_public_ip",
    "validate_ip_service",
]

log = logging.getLogger(__name__)

DEFAULT_HTTP_ECHO_SERVICES = (
    "https://api.ipify.org/",
    "https://ipv4.icanhazip.com/",
    "https://checkip.amazonaws.com/",
)
"""Plain-text echo services, IPv4 only like the DNS ones, so that the answers compare."""

_IN_FLIGHT = 2  # two answers can confirm each other; asking more services at once is a leak
_MAX_ECHO_BODY = 128
_NOT_PUBLIC = "not a public IP address"


@dataclass(frozen=True, slots=True)
class ProbeIdentity:
    """The probe's network: ``ip`` goes in the report only with ``--include-ip``."""

    ip: str | None
    ip_method: str | None
    """How ``ip`` was found, e.g. ``dns:myip.opendns.com@208.67.222.222 (unconfirmed)``."""
    asn: int | None
    as_name: str | None
    cc: str | None
    note: str | None
    """Why the IP or the ASN is unknown, in one line; None when both are known."""


@dataclass(frozen=True, slots=True)
class IPAnswer:
    """What one method said: a public address, or why not."""

    method: str
    ip: str | None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class IPChoice:
    ip: str
    method: str
    """The first method that gave ``ip``, with `` (unconfirmed)`` or ``(N of M answers
    differ)`` appended when no second method agreed or some disagreed."""
    confirmed: bool
    """Whether two methods or more gave ``ip``."""


@dataclass(frozen=True, slots=True)
class IPDiscovery:
    choice: IPChoice | None
    answers: tuple[IPAnswer, ...]
    """The answers of the methods asked, in the order of the methods."""


class IPMethod(Protocol):
    """One way of asking the network what our public address is."""

    @property
    def label(self) -> str: ...

    async def ask(
        self, *, timeout: float, verify: ssl.SSLContext, routable: tuple[IPNetwork, ...] = ()
    ) -> IPAnswer: ...


@dataclass(frozen=True, slots=True)
class DNSEcho:
    """A DNS name whose record, asked of ``server`` directly, is the asker's address."""

    name: str
    rdtype: Literal["A", "TXT"]
    server: ResolverSpec
    rdclass: Literal["IN", "CH"] = "IN"

    @property
    def label(self) -> str:
        where = self.server.address
        if self.server.port != 53:
            where = (
                f"[{where}]:{self.server.port}" if ":" in where else f"{where}:{self.server.port}"
            )
        return f"dns:{self.name}@{where}"

    async def ask(
        self, *, timeout: float, verify: ssl.SSLContext, routable: tuple[IPNetwork, ...] = ()
    ) -> IPAnswer:
        answer = await ask_records(
            self.name, self.rdtype, self.server, rdclass=self.rdclass, timeout=timeout
        )
        if answer.failure is not None:
            return IPAnswer(self.label, None, answer.failure)
        # Google adds an "edns0-client-subnet …" TXT record when the query carries one.
        ip = next((ip for r in answer.records if (ip := _public_ip(r, routable))), None)
        return IPAnswer(self.label, ip, None if ip else _NOT_PUBLIC)


@dataclass(frozen=True, slots=True)
class HTTPEcho:
    """A URL whose plain-text body is the client's address."""

    url: str

    @property
    def label(self) -> str:
        return f"http:{self.url}"

    async def ask(
        self, *, timeout: float, verify: ssl.SSLContext, routable: tuple[IPNetwork, ...] = ()
    ) -> IPAnswer:
        from netprobe.measure.steps._errors import failure_from_exception

        try:
            async with asyncio.timeout(timeout):
                status, body = await self._get(verify)
        except Exception as exc:
            return IPAnswer(self.label, None, failure_from_exception(exc))
        if status != 200:
            return IPAnswer(self.label, None, f"HTTP status {status}")
        ip = _public_ip(body.decode("ascii", errors="replace"), routable)
        return IPAnswer(self.label, ip, None if ip else _NOT_PUBLIC)

    async def _get(self, verify: ssl.SSLContext) -> tuple[int, bytes]:
        import httpx

        from netprobe.measure.steps.http import REQUEST_HEADERS

        headers = {"User-Agent": REQUEST_HEADERS["User-Agent"], "Accept": "text/plain"}
        body = bytearray()
        async with (
            httpx.AsyncClient(verify=verify, trust_env=False, timeout=None) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > _MAX_ECHO_BODY:  # an address is short: this is something else
                    break
        return response.status_code, bytes(body)


def validate_ip_service(url: str) -> str:
    """``url`` if it can be an echo service (``http://`` or ``https://``), else ValueError."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"invalid IP echo service {url!r}: give an http:// or https:// URL")
    return url.strip()


def default_ip_methods() -> tuple[IPMethod, ...]:
    """The methods tried when the user names no echo service, in the order tried."""
    from netprobe.measure.steps.dns import parse_resolver

    opendns, opendns2 = parse_resolver("208.67.222.222"), parse_resolver("208.67.220.220")
    return (
        DNSEcho("myip.opendns.com", "A", opendns),
        # Google's authoritative server (ns1.google.com): a recursive resolver in between
        # would make the answer the resolver's address.
        DNSEcho("o-o.myaddr.l.google.com", "TXT", parse_resolver("216.239.32.10")),
        DNSEcho("whoami.cloudflare", "TXT", parse_resolver("1.1.1.1"), "CH"),
        *(HTTPEcho(url) for url in DEFAULT_HTTP_ECHO_SERVICES),
        # Last: it can only confirm the first method's operator.
        DNSEcho("myip.opendns.com", "A", opendns2),
    )


def choose_ip(answers: Sequence[IPAnswer]) -> IPChoice | None:
    """The address most methods gave (the earliest-asked on a tie), None if none did.

    ``answers`` are in the order the methods are tried. Pure, for the cross-check's tests.
    """
    given = [answer for answer in answers if answer.ip is not None]
    if not given:
        return None
    votes = Counter(answer.ip for answer in given)
    best = max(votes.values())
    first = next(answer for answer in given if votes[answer.ip] == best)
    assert first.ip is not None
    others = len(given) - best
    if others:
        method = f"{first.method} ({others} of {len(given)} answers differ)"
    elif best == 1:
        method = f"{first.method} (unconfirmed)"
    else:
        method = first.method
    return IPChoice(first.ip, method, confirmed=best >= 2)


async def discover_public_ip(
    methods: Sequence[IPMethod],
    *,
    timeout: float,
    verify: ssl.SSLContext,
    routable: tuple[IPNetwork, ...] = (),
) -> IPDiscovery:
    """Ask ``methods`` in order, two at a time, until two agree or all have answered.

    ``timeout`` bounds each method. The methods never raise.
    """
    answers: list[IPAnswer] = []
    # In pairs: two answers can confirm each other, and every service asked learns our
    # address, so no third one is asked while a pair may still agree.
    for start in range(0, len(methods), _IN_FLIGHT):
        pair = methods[start : start + _IN_FLIGHT]
        for answer in await asyncio.gather(
            *(m.ask(timeout=timeout, verify=verify, routable=routable) for m in pair)
        ):
            log.debug("public IP by %s: %s", answer.method, answer.failure or "answered")
            answers.append(answer)
        choice = choose_ip(answers)
        if choice is not None and choice.confirmed:
            break
    return IPDiscovery(choose_ip(answers), tuple(answers))


async def discover_probe(
    *,
    ip_services: Sequence[str] | None,
    resolver: Networks,
    asn_override: int | None = None,
    cc_override: str | None = None,
    timeout: float,
    verify: ssl.SSLContext,
    routable: tuple[IPNetwork, ...] = (),
) -> ProbeIdentity:
    """The probe's public IP, ASN, AS name and country.

    ``ip_services`` (echo URLs) replace the default methods. With ``asn_override`` nothing
    is sent: the AS name comes from the local AS names file, if any. ``cc_override`` wins
    over the registry's country. ``timeout`` bounds each IP method. Never raises for
    network failures: what could not be found is None, and ``note`` says why.
    """
    if asn_override is not None:
        name, cc = resolver.as_name_of(asn_override)
        return ProbeIdentity(None, None, asn_override, name, cc_override or cc, None)
    methods: tuple[IPMethod, ...] = (
        tuple(HTTPEcho(validate_ip_service(url)) for url in ip_services)
        if ip_services
        else default_ip_methods()
    )
    found = await discover_public_ip(methods, timeout=timeout, verify=verify, routable=routable)
    if found.choice is None:
        reasons = "; ".join(f"{answer.method}: {answer.failure}" for answer in found.answers)
        note = f"public IP unknown: no IP echo service answered ({reasons})"
        log.warning("%s", note)
        return ProbeIdentity(None, None, None, None, cc_override, note)
    log.info("public IP found by %s", found.choice.method)
    info = await resolver.lookup_async(found.choice.ip)
    return ProbeIdentity(
        ip=found.choice.ip,
        ip_method=found.choice.method,
        asn=info.asn,
        as_name=info.as_name,
        cc=cc_override or info.cc,
        note=None if info.asn is not None else f"ASN unknown: {info.note}",
    )


def _public_ip(text: str, routable: tuple[IPNetwork, ...]) -> str | None:
    """``text`` as a canonical public address; None if it is not one."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return None if is_bogon(str(ip), routable) else str(ip)
