"""Orchestration: measure each target step by step, many targets at once.

For one target, :class:`_Measurement` runs the steps in dependency order and
collects their observations; independent steps run in parallel (the local and
control DNS queries; TCP connects to every address; the TLS consistency check
and the blockpage check of a suspect DNS answer). A redirect to another host
runs the same steps for that host, as a new hop.

:func:`probe` runs targets concurrently under a semaphore, analyses each one as
it finishes, and hands results to a callback at once, except those whose
verdict may still change with run-wide evidence (a possible network outage, an
untrusted certificate issuer that may turn up elsewhere): those are handed over
when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from netprobe._defaults import BODY_CAP, CONCURRENCY, STEP_TIMEOUT
from netprobe.analysis import (
    Analysis,
    RunContext,
    ServiceAnalysis,
    analyse,
    analyse_service,
    anything_answered,
    is_address,
    is_bogon,
    network_is_down,
    shared_untrusted_issuers,
    url_endpoint,
)
from netprobe.observations import (
    CONNECTION_RESET,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    DNSObservation,
    HTTPObservation,
    Observations,
    Role,
    TCPObservation,
    TLSObservation,
)
from netprobe.probe import dns, http, tcp, tls
from netprobe.targets import Service, Target

if TYPE_CHECKING:
    import httpx

    from netprobe.asn import ASInfo

__all__ = [
    "INNOCUOUS_NAME",
    "AddressNetworks",
    "Latency",
    "ProbeOptions",
    "RunResult",
    "ServiceResult",
    "TargetResult",
    "judge_services",
    "probe",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

INNOCUOUS_NAME = "example.org"
"""SNI and Host used to tell filtering by name apart from filtering by address."""

_RETRIED_HTTP_FAILURES = frozenset({CONNECTION_RESET, GENERIC_TIMEOUT, EOF_ERROR})


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    resolver: dns.ResolverSpec
    control_resolvers: tuple[dns.ResolverSpec, ...]
    verify: ssl.SSLContext
    timeout: float = STEP_TIMEOUT
    """Budget of each network step, in seconds."""
    concurrency: int = CONCURRENCY
    body_cap: int = BODY_CAP
    max_redirects: int = 10
    addresses_per_family: int = 2
    control_proxy: str | None = None
    """A proxy on the uncensored side (Tor, a VPN exit, a server abroad): every web target
    is also fetched through it, for the control view."""
    networks: AddressNetworks | None = None
    """Who announces each address (ASN): tags DNS answers and lets analysis treat answers in
    the same network as consistent. None: no ASN data."""


class AddressNetworks(Protocol):
    """ASN lookups, cached per run (:class:`netprobe.asn.ASNResolver` is one)."""

    async def lookup_async(self, address: str) -> ASInfo: ...

    def asn_of(self, address: str) -> int | None:
        """From the cache only: never waits."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Round-trip times (ms) of the first successful step of each kind."""

    dns: float | None
    connect: float | None
    tls: float | None
    ttfb: float | None

    @classmethod
    def of(cls, obs: Observations) -> Latency:
        return cls(
            dns=next((d.duration_ms for d in obs.dns if d.role == "local" and d.rcode), None),
            connect=next(
                (t.duration_ms for t in obs.tcp if t.failure is None and not t.proxied), None
            ),
            tls=next(
                (t.duration_ms for t in obs.tls if t.purpose == "target" and t.failure is None),
                None,
            ),
            ttfb=next((h.ttfb_ms for h in obs.http if h.purpose == "target" and h.ttfb_ms), None),
        )


@dataclass(frozen=True, slots=True)
class TargetResult:
    target: Target
    observations: Observations
    analysis: Analysis
    latency: Latency
    networks: Mapping[str, ASInfo] = field(default_factory=dict)
    """The AS of each address in the DNS answers, where known."""


@dataclass(frozen=True, slots=True)
class ServiceResult:
    service: Service
    analysis: ServiceAnalysis


@dataclass(slots=True)
class RunResult:
    started_at: datetime
    finished_at: datetime | None = None
    results: list[TargetResult] = field(default_factory=list)
    services: list[ServiceResult] = field(default_factory=list)
    network_down: bool = False
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    """What limits the run as a whole (no control view, ...), one line each."""


def judge_services(
    services: Iterable[Service], results: Iterable[TargetResult]
) -> list[ServiceResult]:
    """Each service's verdict from its endpoints' results (services none of whose endpoints
    was measured are left out)."""
    by_url = {r.target.url: r.analysis for r in results}
    judged = []
    for service in services:
        parts = [
            (part.name, [by_url[url] for url in part.endpoints if url in by_url])
            for part in service.parts
        ]
        if any(analyses for _, analyses in parts):
            measured = [(name, analyses) for name, analyses in parts if analyses]
            judged.append(ServiceResult(service, analyse_service(measured)))
    return judged


@dataclass(slots=True)
class _Resolution:
    local: list[str]
    control: list[str]

    @property
    def suspect(self) -> bool:
        """The local answer may be a lie: missing, a bogon, or sharing nothing with control."""
        if not self.local or any(is_bogon(a) for a in self.local):
            return True
        return bool(self.control) and not set(self.local) & set(self.control)


@dataclass(frozen=True, slots=True)
class _Shared:
    """What the measurements of one run share."""

    doh_client: httpx.AsyncClient | None
    dns_slots: dict[str, asyncio.Semaphore]
    """Per resolver: queries in flight are bounded, so that a burst of hundreds of targets
    does not overflow the resolver (or our socket buffers) and pass for DNS timeouts."""
    contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)

    def verify_with(self, base: ssl.SSLContext, extra_ca: str) -> ssl.SSLContext:
        """``base`` plus a service's own roots; built once per run and file."""
        if extra_ca not in self.contexts:
            self.contexts[extra_ca] = tls.with_extra_roots(base, extra_ca)
        return self.contexts[extra_ca]

    async def query(
        self,
        domain: str,
        qtype: Literal["A", "AAAA"],
        resolver: dns.ResolverSpec,
        role: Role,
        *,
        timeout: float,
        t_origin: float,
    ) -> DNSObservation:
        async with self.dns_slots[str(resolver)]:
            return await dns.query(
                domain, qtype, resolver, role, timeout=timeout, t_origin=t_origin,
                doh_client=self.doh_client,
            )  # fmt: skip


DNS_IN_FLIGHT = 64
"""Queries in flight to one resolver at a time."""


class _Measurement:
    """The observations of one target, collected step by step."""

    def __init__(self, target: Target, options: ProbeOptions, shared: _Shared) -> None:
        self.target = target
        self.options = options
        self.shared = shared
        self.t_origin = time.monotonic()
        self.dns: list[DNSObservation] = []
        self.tcp: list[TCPObservation] = []
        self.tls: list[TLSObservation] = []
        self.http: list[HTTPObservation] = []
        self._resolutions: dict[str, _Resolution] = {}
        self._connected: dict[tuple[str, int], list[str]] = {}

    @property
    def _verify(self) -> ssl.SSLContext:
        """The run's CA bundle, with the roots the target's service adds, if any."""
        if self.target.extra_ca is None:
            return self.options.verify
        return self.shared.verify_with(self.options.verify, self.target.extra_ca)

    def observations(self) -> Observations:
        return Observations(
            url=self.target.url,
            domain=self.target.domain,
            scheme=self.target.scheme,
            port=self.target.port,
            dns=tuple(self.dns),
            tcp=tuple(self.tcp),
            tls=tuple(self.tls),
            http=tuple(self.http),
            local_resolver=str(self.options.resolver),
            control_resolvers=tuple(str(r) for r in self.options.control_resolvers),
            expected_asns=self.target.expected_asns,
        )

    async def run(self) -> Observations:
        if self.target.is_endpoint:
            proxy = self.options.control_proxy
            await asyncio.gather(
                self._prepare(self.target.scheme, self.target.domain, self.target.port),
                *([self._connect_via(proxy)] if proxy else []),
            )
            return self.observations()
        url, twin = self.target.url, None
        control = None
        if self.options.control_proxy is not None:
            control = asyncio.create_task(self._fetch_control(url, self.options.control_proxy))
        for hop in range(self.options.max_redirects + 1):
            scheme, host, port = url_endpoint(url)
            address = await self._prepare(scheme, host, port)
            if address is None:
                break
            if hop == 0 and scheme == "http":
                twin = asyncio.create_task(self._fetch_https_twin(url, address, host))
            exchange = await self._fetch(url, address, host, hop)
            if exchange.location is None or exchange.status is None:
                break
            if not 300 <= exchange.status < 400 or not exchange.location.startswith("http"):
                break
            url = exchange.location
        for task in (twin, control):
            if task is not None:
                await task
        return self.observations()

    # -- DNS, TCP and TLS for one host ------------------------------------------------------

    async def _prepare(self, scheme: str, host: str, port: int) -> str | None:
        """Run the steps before HTTP; return the address to fetch from, or None to stop."""
        resolution = await self._resolve(host)
        # A suspect answer gets checked alongside the connects: does the address serve a
        # blockpage over plain HTTP, does it hold a valid certificate for the name?
        checks: list[Awaitable[object]] = []
        suspect = [a for a in resolution.local if not is_bogon(a)] if resolution.suspect else []
        if suspect and scheme == "https":
            checks.append(self._http(f"http://{host}/", suspect[0], host, "dns_check", 0))
        if suspect and scheme == "http":
            checks.append(self._tls_pair(suspect[0], 443, host))
        running_checks = asyncio.gather(*checks)
        connected = await self._connect(host, port, resolution)
        address = connected[0] if connected else None
        if scheme in _TLS_SCHEMES and connected:
            verified = await asyncio.gather(*(self._tls_pair(a, port, host) for a in connected))
            address = next((a for a, ok in zip(connected, verified, strict=True) if ok), None)
        await running_checks
        return address

    async def _resolve(self, host: str) -> _Resolution:
        if host in self._resolutions:
            return self._resolutions[host]
        if is_address(host):
            # An address needs no resolution (Telegram's data centres are given as such).
            self._resolutions[host] = _Resolution([host], [host])
            return self._resolutions[host]
        opts = self.options
        queries = [
            self.shared.query(
                host, qtype, resolver, role, timeout=opts.timeout, t_origin=self.t_origin
            )
            for resolver, role in self._roles([opts.resolver], opts.control_resolvers)
            for qtype in ("A", "AAAA")
        ]
        answers = await asyncio.gather(*queries)
        self.dns.extend(answers)
        resolution = _Resolution(
            local=self._usable(a for a in answers if a.role == "local"),
            control=self._usable(a for a in answers if a.role == "control"),
        )
        self._resolutions[host] = resolution
        return resolution

    @staticmethod
    def _roles(local: Iterable[_T], control: Iterable[_T]) -> list[tuple[_T, Role]]:
        return [(x, "local") for x in local] + [(x, "control") for x in control]

    def _usable(self, answers: Iterable[DNSObservation]) -> list[str]:
        """Addresses worth connecting to: bounded per family, IPv6 only where routable."""
        per_family: dict[str, list[str]] = {"A": [], "AAAA": []}
        for answer in answers:
            if answer.query_type == "AAAA" and not tcp.host_has_ipv6():
                continue
            bucket = per_family[answer.query_type]
            for address in answer.addresses:
                if address not in bucket and len(bucket) < self.options.addresses_per_family:
                    bucket.append(address)
        return per_family["A"] + per_family["AAAA"]

    async def _connect(self, host: str, port: int, resolution: _Resolution) -> list[str]:
        """Connect to the local addresses (and control's when the local answer is suspect)."""
        key = (host, port)
        if key in self._connected:
            return self._connected[key]
        # Never connect to a bogon: 127.0.0.1 would probe this very machine.
        local = [a for a in resolution.local if not is_bogon(a)]
        control = (
            [a for a in resolution.control if a not in local and not is_bogon(a)]
            if resolution.suspect
            else []
        )
        attempts = [
            tcp.connect(a, port, role, timeout=self.options.timeout, t_origin=self.t_origin)
            for a, role in self._roles(local, control)
        ]
        results = await asyncio.gather(*attempts)
        self.tcp.extend(results)
        connected = [r.address for r in results if r.role == "local" and r.failure is None]
        self._connected[key] = connected
        return connected

    async def _tls_pair(self, address: str, port: int, host: str) -> bool:
        """Handshake with the host's SNI; if it fails short of a certificate, try an innocuous
        SNI on the same address. True when the handshake verified."""
        opts = self.options
        first = await tls.handshake(
            address, port, host, "target", verify=self._verify, timeout=opts.timeout,
            t_origin=self.t_origin,
        )  # fmt: skip
        self.tls.append(first)
        if first.failure is not None and not first.handshake_completed:
            retry = await tls.handshake(
                address, port, INNOCUOUS_NAME, "innocuous", verify=opts.verify,
                timeout=opts.timeout, t_origin=self.t_origin,
            )  # fmt: skip
            self.tls.append(retry)
        return first.failure is None

    # -- HTTP -------------------------------------------------------------------------------

    async def _http(
        self,
        url: str,
        address: str | None,
        host: str,
        purpose: Literal["target", "innocuous", "https_twin", "dns_check", "control"],
        hop: int,
        proxy: str | None = None,
    ) -> HTTPObservation:
        exchange = await http.fetch(
            url,
            address=address,
            host=host,
            purpose=purpose,
            hop=hop,
            verify=self._verify,
            timeout=self.options.timeout,
            t_origin=self.t_origin,
            body_cap=self.options.body_cap,
            proxy=proxy,
        )
        self.http.append(exchange)
        return exchange

    async def _connect_via(self, proxy: str) -> None:
        """The endpoint opened through the control proxy: the uncensored view."""
        target = self.target
        self.tcp.append(
            await tcp.connect_via_proxy(
                target.domain, target.port, proxy, timeout=self.options.timeout,
                t_origin=self.t_origin,
            )
        )  # fmt: skip

    async def _fetch_control(self, url: str, proxy: str) -> None:
        """The target through the control proxy, redirects followed: the uncensored view."""
        for hop in range(self.options.max_redirects + 1):
            exchange = await self._http(url, None, url_endpoint(url)[1], "control", hop, proxy)
            location, status = exchange.location, exchange.status
            if location is None or status is None or not 300 <= status < 400:
                return
            url = location

    async def _fetch(self, url: str, address: str, host: str, hop: int) -> HTTPObservation:
        exchange = await self._http(url, address, host, "target", hop)
        if (
            url.startswith("http:")
            and exchange.status is None
            and exchange.failure in _RETRIED_HTTP_FAILURES
        ):
            scheme, _, port = url_endpoint(url)
            await self._http(f"{scheme}://{INNOCUOUS_NAME}:{port}/", address, INNOCUOUS_NAME,
                             "innocuous", hop)  # fmt: skip
        return exchange

    async def _fetch_https_twin(self, url: str, address: str, host: str) -> None:
        """The https:// page of an http:// target, for the plain-HTTP comparison."""
        twin = "https://" + url.removeprefix("http://")
        if url_endpoint(twin)[2] == 443:
            await self._http(twin, address, host, "https_twin", 0)


_TLS_SCHEMES = frozenset({"https", "tls"})


async def _measure(target: Target, options: ProbeOptions, shared: _Shared) -> Observations:
    measurement = _Measurement(target, options, shared)
    try:
        return await measurement.run()
    except Exception:
        # A bug in one target must not cost the others: keep what was measured.
        log.exception("measuring %s failed", target.url)
        raise _MeasurementError(measurement.observations()) from None


class _MeasurementError(Exception):
    def __init__(self, partial: Observations) -> None:
        super().__init__("measurement failed")
        self.partial = partial


def _holds_back(obs: Observations, analysis: Analysis) -> bool:
    """Whether a verdict may still change with evidence from the rest of the run."""
    return network_is_down([obs]) or (
        analysis.blocking == "tls.mitm" and analysis.verdict == "anomaly"
    )


async def probe(
    targets: Sequence[Target],
    options: ProbeOptions,
    *,
    on_result: Callable[[TargetResult], None] | None = None,
    run: RunResult | None = None,
    services: Sequence[Service] = (),
) -> RunResult:
    """Measure and analyse every target; results keep the order of ``targets``.

    ``services`` whose endpoints are among the targets are judged at the end. ``run``
    may be passed in so that a caller interrupted mid-way still holds every result
    measured so far (:func:`judge_services` then judges what there is).
    """
    run = run or RunResult(started_at=datetime.now(UTC))
    if options.control_proxy is not None:
        unreachable = await _proxy_unreachable(options.control_proxy, options.timeout)
        if unreachable is not None:
            note = f"no control view: the control proxy is unreachable ({unreachable})"
            log.warning("%s", note)
            run.notes.append(note)
            options = replace(options, control_proxy=None)
    networks = options.networks
    asn_of = networks.asn_of if networks else (lambda _address: None)
    tags: dict[int, dict[str, ASInfo]] = {}
    semaphore = asyncio.Semaphore(max(1, options.concurrency))
    measured: dict[int, Observations] = {}
    errors: dict[int, str] = {}
    held: list[int] = []

    def context() -> RunContext:
        return RunContext(
            asn_of=asn_of, shared_untrusted_issuers=shared_untrusted_issuers(measured.values())
        )

    def result(index: int, ctx: RunContext) -> TargetResult:
        obs = measured[index]
        analysis = (
            Analysis("error", evidence=errors[index]) if index in errors else analyse(obs, ctx)
        )
        return TargetResult(targets[index], obs, analysis, Latency.of(obs), tags.get(index, {}))

    async def one(index: int, shared: _Shared) -> None:
        async with semaphore:
            try:
                measured[index] = await _measure(targets[index], options, shared)
            except _MeasurementError as exc:
                measured[index] = exc.partial
                errors[index] = f"internal error while measuring (see the log): {exc.__cause__}"
            if networks is not None:
                tags[index] = await _networks_of(measured[index], networks)
        provisional = result(index, context())
        if _holds_back(provisional.observations, provisional.analysis):
            held.append(index)
        else:
            run.results.append(provisional)
            if on_result:
                on_result(provisional)

    async with _doh_client(options) as doh_client:
        resolvers = (options.resolver, *options.control_resolvers)
        shared = _Shared(doh_client, {str(r): asyncio.Semaphore(DNS_IN_FLIGHT) for r in resolvers})
        # Alongside the targets: targets given by address, all blackholed, must not pass
        # for an outage while the control resolver still answers.
        control_check = asyncio.ensure_future(_control_answers(shared, options))
        await asyncio.gather(*(one(i, shared) for i in range(len(targets))))
        control_answers = await control_check

    run.network_down = not control_answers and network_is_down(measured.values())
    final = RunContext(
        network_down=run.network_down,
        asn_of=asn_of,
        shared_untrusted_issuers=shared_untrusted_issuers(measured.values()),
    )
    for index in held:
        late = result(index, final)
        run.results.append(late)
        if on_result:
            on_result(late)
    order = {id(t): i for i, t in enumerate(targets)}
    run.results.sort(key=lambda r: order[id(r.target)])
    run.services = judge_services(services, run.results)
    run.finished_at = datetime.now(UTC)
    return run


async def _proxy_unreachable(proxy: str, timeout: float) -> str | None:
    """Why the proxy cannot be connected to, or None when it can."""
    parts = urlsplit(proxy)
    default_port = 1080 if parts.scheme.startswith("socks") else 8080
    attempt = await tcp.connect(
        parts.hostname or "", parts.port or default_port, "control", timeout=timeout,
        t_origin=time.monotonic(),
    )  # fmt: skip
    return attempt.failure


async def _control_answers(shared: _Shared, options: ProbeOptions) -> bool:
    """Whether any control resolver answers at all (any reply, or an active refusal)."""
    checks = [
        shared.query(INNOCUOUS_NAME, "A", r, "control", timeout=options.timeout, t_origin=0.0)
        for r in options.control_resolvers
    ]
    return anything_answered(q.failure for q in await asyncio.gather(*checks))


async def _networks_of(obs: Observations, networks: AddressNetworks) -> dict[str, ASInfo]:
    """Look up the AS of every answer address (bogons are nobody's: not looked up)."""
    addresses = sorted({a for d in obs.dns for a in d.addresses if not is_bogon(a)})
    infos = await asyncio.gather(*(networks.lookup_async(a) for a in addresses))
    return dict(zip(addresses, infos, strict=True))


@contextlib.asynccontextmanager
async def _doh_client(options: ProbeOptions) -> AsyncIterator[httpx.AsyncClient | None]:
    if not any(r.transport == "https" for r in (options.resolver, *options.control_resolvers)):
        yield None
        return
    import httpx

    # DoH servers are public services: verify them against the default bundle, not the
    # one under test.
    verify = tls.make_verify_context(None)
    async with httpx.AsyncClient(verify=verify, trust_env=False, timeout=options.timeout) as client:
        yield client
