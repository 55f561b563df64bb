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
import secrets
import ssl
import time
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Sequence,
)
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from netprobe._defaults import (
    BODY_CAP,
    CONCURRENCY,
    MAX_REDIRECTS,
    STEP_TIMEOUT,
    TARGET_DEADLINE_STEPS,
)
from netprobe.analysis import (
    CONFIRMING_ATTEMPTS,
    RATE_BYTES,
    RATE_SECONDS,
    analyse,
    anything_answered,
    attempts_needed,
    judge_services,
    looks_slow,
    network_is_down,
    shared_untrusted_issuers,
)
from netprobe.measure.steps import dns, http, tcp, tls
from netprobe.model.addresses import (
    FAKE_IP_NETWORK,
    IPNetwork,
    is_address,
    is_bogon,
    is_fake_ip,
    url_endpoint,
)
from netprobe.model.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVFAIL,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    SSL_INVALID_HOSTNAME,
    SSL_UNKNOWN_AUTHORITY,
    DNSObservation,
    HTTPObservation,
    HTTPPurpose,
    Observations,
    Role,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import (
    Analysis,
    Latency,
    RunContext,
    RunResult,
    TargetResult,
    asn_lookup,
)
from netprobe.model.targets import Service, Target

if TYPE_CHECKING:
    import httpx

    from netprobe.model.networks import ASInfo

__all__ = ["INNOCUOUS_NAME", "AddressNetworks", "ProbeOptions", "probe"]

log = logging.getLogger(__name__)

_Step = TypeVar("_Step", TLSObservation, HTTPObservation)
_R = TypeVar("_R")

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
    addresses_per_family: int = 2
    control_proxy: str | None = None
    """A proxy on the uncensored side (Tor, a VPN exit, a server abroad): every web target
    is also fetched through it, for the control view."""
    networks: AddressNetworks | None = None
    """Who announces each address (ASN): tags DNS answers and lets analysis treat answers in
    the same network as consistent. None: no ASN data."""
    deadline: float | None = None
    """Most seconds one target may take, all its steps and redirects together (None:
    :data:`TARGET_DEADLINE_STEPS` step timeouts); past it, it ends with what it has."""
    routable: tuple[IPNetwork, ...] = ()
    """Special-purpose blocks to treat as routable (a test network that emulates the
    internet there says so); never set by default."""


class AddressNetworks(Protocol):
    """ASN lookups, cached per run (:class:`netprobe.measure.asn.ASNResolver` is one)."""

    async def lookup_async(self, address: str) -> ASInfo: ...

    def asn_of(self, address: str) -> int | None:
        """From the cache only: never waits."""


@dataclass(frozen=True, slots=True)
class _Control:
    """What the control resolvers said of a name."""

    addresses: list[str]
    nxdomain: bool


@dataclass(slots=True)
class _Resolution:
    local: list[str]
    control: list[str]
    routable: tuple[IPNetwork, ...]
    control_nxdomain: bool = False
    """The name does not exist at the control resolvers."""

    @property
    def suspect(self) -> bool:
        """The local answer may be a lie: missing, a bogon, sharing nothing with control, or
        an answer for a name that does not exist (a ghost domain)."""
        if not self.local or any(is_bogon(a, self.routable) for a in self.local):
            return True
        if self.control_nxdomain:
            return True
        return bool(self.control) and not set(self.local) & set(self.control)

    def connectable(self, addresses: Iterable[str]) -> list[str]:
        # Never connect to a bogon: 127.0.0.1 would probe this very machine.
        return [a for a in addresses if not is_bogon(a, self.routable)]


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

    async def query_early(
        self,
        domain: str,
        qtype: Literal["A", "AAAA"],
        resolver: dns.ResolverSpec,
        role: Role,
        *,
        timeout: float,
        t_origin: float,
    ) -> tuple[DNSObservation, asyncio.Future[DNSObservation]]:
        """The first reply, and the observation to come once late replies were listened
        for (:func:`netprobe.measure.steps.dns.query_early`). A query holds its resolver's slot
        until its first reply only: listening costs the resolver nothing."""
        async with self.dns_slots[str(resolver)]:
            return await dns.query_early(
                domain, qtype, resolver, role, timeout=timeout, t_origin=t_origin,
                doh_client=self.doh_client,
            )  # fmt: skip


DNS_IN_FLIGHT = 256
"""Queries in flight to one resolver at a time."""


class _Measurement:
    """The observations of one target, collected step by step."""

    def __init__(self, target: Target, options: ProbeOptions, shared: _Shared) -> None:
        self.target = target
        self.options = options
        self.shared = shared
        self.t_origin = time.monotonic()
        self.dns: list[tuple[DNSObservation, asyncio.Future[DNSObservation]]] = []
        """Each query's first reply, and its final observation (late replies) to come."""
        self.tcp: list[TCPObservation] = []
        self.tls: list[TLSObservation] = []
        self.http: list[HTTPObservation] = []
        self._lookups: dict[str, tuple[asyncio.Future[list[str]], asyncio.Future[_Control]]] = {}
        self._connected: dict[tuple[str, int, Role], list[str]] = {}
        self._local_ipv6: set[str] = set()
        self._background: list[asyncio.Task[Any]] = []
        """Names the resolver under test gave IPv6 addresses for."""

    @property
    def _verify(self) -> ssl.SSLContext:
        """The run's CA bundle, with the roots the target's service adds, if any."""
        if self.target.extra_ca is None:
            return self.options.verify
        return self.shared.verify_with(self.options.verify, self.target.extra_ca)

    def observations(self, *, deadline_passed: bool = False) -> Observations:
        return Observations(
            url=self.target.url,
            domain=self.target.domain,
            scheme=self.target.scheme,
            port=self.target.port,
            dns=tuple(_final(first, final) for first, final in self.dns),
            tcp=tuple(self.tcp),
            tls=tuple(self.tls),
            http=tuple(self.http),
            expected_asns=self.target.expected_asns,
            deadline_passed=deadline_passed,
        )

    def stop(self) -> None:
        """End the steps still running beside the one cut short (twin page, control view,
        lookups), so that nothing outlives the target's deadline."""
        for task in self._background:
            task.cancel()

    async def run(self) -> Observations:
        await self._steps()
        await asyncio.gather(*(final for _, final in self.dns), return_exceptions=True)
        return self.observations()

    async def _steps(self) -> None:
        if self.target.is_endpoint:
            proxy = self.options.control_proxy
            await asyncio.gather(
                self._prepare_endpoint(), *([self._connect_via(proxy)] if proxy else [])
            )
            return
        url, twin = self.target.url, None
        control = None
        if self.options.control_proxy is not None:
            control = self._beside(self._fetch_control(url, self.options.control_proxy))
        visited: set[str] = set()
        for hop in range(MAX_REDIRECTS + 1):
            scheme, host, port = url_endpoint(url)
            connected = await self._prepare(scheme, host, port)
            if not connected:
                break
            if scheme == "https":
                exchange = await self._fetch_secure(url, connected, host, port, hop)
                if exchange is None:
                    break
            else:
                if hop == 0:
                    twin = self._beside(self._fetch_https_twin(url, connected[0], host))
                exchange = await self._fetch(url, connected[0], host, hop)
            visited.add(url)
            following = _redirect_target(exchange)
            if following is None:
                await self._speed_samples(exchange)
                break  # a page, or a failure: the chain ends here
            if following in visited:
                break  # a redirect loop
            url = following
        for task in (twin, control):
            if task is not None:
                await task

    # -- DNS, TCP and TLS for one host ------------------------------------------------------

    async def _prepare(self, scheme: str, host: str, port: int) -> list[str]:
        """Run the steps before TLS and HTTP; return the local addresses that connected.

        Connecting needs only the local answer: it starts as soon as that is in, while the
        control answers (needed to judge, and to connect to control's addresses when the
        local answer is suspect) may still be on their way."""
        local_answer, control_answer = self._lookup(host)
        local = await local_answer
        connecting = asyncio.ensure_future(self._connect(host, port, local, "local"))
        control = await control_answer
        resolution = _Resolution(local, control.addresses, self.options.routable, control.nxdomain)
        # A suspect answer gets checked alongside the connects: does the address serve a
        # blockpage over plain HTTP, does it hold a valid certificate for the name? Control's
        # own addresses are connected to as well.
        checks: list[Awaitable[object]] = []
        if resolution.suspect:
            suspect = resolution.connectable(resolution.local)
            if suspect and scheme == "https":
                checks.append(self._http(f"http://{host}/", suspect[0], host, "dns_check", 0))
            if suspect and scheme == "http":
                checks.append(self._tls_pair(suspect[0], 443, host))
            others = [a for a in resolution.control if a not in local]
            checks.append(self._connect(host, port, others, "control"))
        running_checks = asyncio.gather(*checks)
        connected = await connecting
        await running_checks
        return connected

    async def _secure(self, host: str, port: int, connected: list[str]) -> str | None:
        """The first of ``connected`` that completes a verified handshake for ``host``."""
        verified = await asyncio.gather(*(self._tls_pair(a, port, host) for a in connected))
        return next((a for a, ok in zip(connected, verified, strict=True) if ok), None)

    def _beside(self, step: Coroutine[Any, Any, _R]) -> asyncio.Task[_R]:
        """``step`` run as a task of this target's (ended with it: see :meth:`stop`)."""
        task = asyncio.ensure_future(step)
        self._background.append(task)
        return task

    def _lookup(self, host: str) -> tuple[asyncio.Future[list[str]], asyncio.Future[_Control]]:
        """The local and the control answers for ``host``, each on its way (once per host)."""
        if host not in self._lookups:
            if is_address(host):
                # An address needs no resolution (Telegram's data centres are given as such).
                local: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
                local.set_result([host])
                control: asyncio.Future[_Control] = asyncio.get_running_loop().create_future()
                control.set_result(_Control([host], nxdomain=False))
            else:
                local = self._beside(self._local_answer(host))
                control = self._beside(self._control_answer(host, local))
            self._lookups[host] = (local, control)
        return self._lookups[host]

    async def _local_answer(self, host: str) -> list[str]:
        opts = self.options
        answers = list(
            await asyncio.gather(
                *(self._query(host, q, opts.resolver, "local") for q in ("A", "AAAA"))
            )
        )
        if (
            opts.control_proxy is not None
            and not answers[0].addresses
            and answers[0].rcode != "NXDOMAIN"
        ):
            # With a control proxy, a local failure seen on every try is conclusive: try
            # again (only here, where it decides something).
            answers += await asyncio.gather(
                *(
                    self._query(host, "A", opts.resolver, "local")
                    for _ in range(CONFIRMING_ATTEMPTS - 1)
                )
            )
        if answers[1].addresses:
            self._local_ipv6.add(host)
        return self._usable(answers)

    async def _control_answer(self, host: str, local: asyncio.Future[list[str]]) -> _Control:
        """Control's A answer; its AAAA one only when the local answer has IPv6 addresses
        to judge (a quarter of the queries spared for names without them)."""
        resolvers = self.options.control_resolvers
        answers = list(
            await asyncio.gather(*(self._query(host, "A", r, "control") for r in resolvers))
        )
        await local
        if host in self._local_ipv6:
            answers += await asyncio.gather(
                *(self._query(host, "AAAA", r, "control") for r in resolvers)
            )
        found = any(a.addresses for a in answers)
        return _Control(
            self._usable(answers),
            nxdomain=not found and any(a.failure == DNS_NXDOMAIN for a in answers),
        )

    async def _query(
        self, host: str, qtype: Literal["A", "AAAA"], resolver: dns.ResolverSpec, role: Role
    ) -> DNSObservation:
        """The first reply; the final observation is kept for :meth:`observations`."""
        first, final = await self.shared.query_early(
            host, qtype, resolver, role, timeout=self.options.timeout, t_origin=self.t_origin
        )
        self.dns.append((first, final))
        return first

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

    async def _connect(self, host: str, port: int, addresses: list[str], role: Role) -> list[str]:
        """Connect to ``addresses`` (bogons never); the ones that connected."""
        key = (host, port, role)
        if key in self._connected:
            return self._connected[key]
        usable = [a for a in addresses if not is_bogon(a, self.options.routable)]
        results = list(await asyncio.gather(*(self._tcp(a, port, role) for a in usable)))
        connected = [r.address for r in results if r.failure is None]
        if usable and not connected and role == "local" and self.options.control_proxy is not None:
            # With a control proxy, a failure seen on every try is conclusive: try again.
            results += await asyncio.gather(
                *(self._tcp(a, port, role) for a in usable for _ in range(CONFIRMING_ATTEMPTS - 1))
            )
            connected = [r.address for r in results if r.failure is None]
        self.tcp.extend(results)
        self._connected[key] = list(dict.fromkeys(connected))
        return self._connected[key]

    def _tcp(self, address: str, port: int, role: Role) -> Awaitable[TCPObservation]:
        return tcp.connect(
            address, port, role, timeout=self.options.timeout, t_origin=self.t_origin
        )

    async def _tls_pair(
        self, address: str, port: int, host: str, first: TLSObservation | None = None
    ) -> bool:
        """Handshake with the host's SNI (unless ``first`` was made already); if it fails
        short of a certificate, find out whether the name is targeted (see
        :meth:`_confirm`). True when a handshake verified."""
        if first is None:
            first = await self._handshake(address, port, host, "target")
        else:
            self.tls.append(first)
        if first.failure is None or first.handshake_completed:
            return first.failure is None
        done = await self._confirm(
            lambda: self._handshake(address, port, host, "target"),
            lambda: self._handshake(address, port, INNOCUOUS_NAME, "innocuous"),
            lambda t: t.handshake_completed,
            first.failure,
        )
        return done is not None and done.failure is None

    async def _handshake(
        self, address: str, port: int, sni: str, purpose: Literal["target", "innocuous"]
    ) -> TLSObservation:
        verify = self._verify if purpose == "target" else self.options.verify
        attempt = await tls.handshake(
            address, port, sni, purpose, verify=verify, timeout=self.options.timeout,
            t_origin=self.t_origin,
        )  # fmt: skip
        self.tls.append(attempt)
        return attempt

    @staticmethod
    async def _confirm(
        named: Callable[[], Awaitable[_Step]],
        innocuous: Callable[[], Awaitable[_Step]],
        succeeded: Callable[[_Step], bool],
        failure: str | None,
    ) -> _Step | None:
        """After a ``failure`` with the target's name: alternate attempts, the innocuous
        name first, until the name succeeds (chance: the step that succeeded is returned),
        the innocuous name fails (nothing more to learn), or the name has failed as many
        times as :func:`attempts_needed` asks for that failure, each beside an innocuous
        success (targeted). Some censors block the address for minutes after a trigger,
        so the innocuous attempt must come before the name is sent again."""
        for _ in range(attempts_needed(failure) - 1):
            if not succeeded(await innocuous()):
                return None
            again = await named()
            if succeeded(again):
                return again
        return None

    # -- HTTP -------------------------------------------------------------------------------

    async def _http(
        self,
        url: str,
        address: str | None,
        host: str,
        purpose: HTTPPurpose,
        hop: int,
        proxy: str | None = None,
    ) -> HTTPObservation:
        fetched = await http.fetch(
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
        self.http.append(fetched.exchange)
        return fetched.exchange

    async def _speed_samples(self, page: HTTPObservation) -> None:
        """A page whose download looked slow, downloaded again with its name and with an
        unrelated one on the same address, alternately (the unrelated one first), so that
        a name held back by a policer is told from a slow path (see analysis/_throttle)."""
        if not looks_slow(page) or page.address is None:
            return
        for _ in range(CONFIRMING_ATTEMPTS - 1):
            await self._speed_sample(page, unrelated=True)
            await self._speed_sample(page, unrelated=False)

    async def _speed_sample(self, page: HTTPObservation, *, unrelated: bool) -> None:
        secure = page.url.startswith("https:")
        host, sni = page.host, None
        if unrelated and secure:
            # The page's own Host inside, an unrelated SNI outside: the same page, and a
            # name a censor on the path cannot see. No certificate can verify for it.
            sni = INNOCUOUS_NAME
        elif unrelated:
            host = INNOCUOUS_NAME
        fetched = await http.fetch(
            page.url, address=page.address, host=host,
            purpose="rate_innocuous" if unrelated else "rate", hop=page.hop,
            verify=tls.unverified_context() if sni else self._verify,
            timeout=self.options.timeout, t_origin=self.t_origin, body_cap=RATE_BYTES,
            sni=sni, read_for=RATE_SECONDS,
        )  # fmt: skip
        self.http.append(fetched.exchange)

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
        visited: set[str] = set()
        for hop in range(MAX_REDIRECTS + 1):
            exchange = await self._http(url, None, url_endpoint(url)[1], "control", hop, proxy)
            visited.add(url)
            following = _redirect_target(exchange)
            if following is None or following in visited:
                return
            url = following

    async def _prepare_endpoint(self) -> None:
        target = self.target
        connected = await self._prepare(target.scheme, target.domain, target.port)
        if target.scheme == "tls" and connected:
            await self._secure(target.domain, target.port, connected)

    async def _fetch_secure(
        self, url: str, connected: list[str], host: str, port: int, hop: int
    ) -> HTTPObservation | None:
        """An https page, its TLS handshake checked on the way: one handshake, not two,
        when all is well. When the handshake does not verify, it is looked at on its own
        (chain, innocuous name, repeats) on every address; None when none verifies."""
        fetched = await http.fetch(
            url, address=connected[0], host=host, purpose="target", hop=hop,
            verify=self._verify, timeout=self.options.timeout, t_origin=self.t_origin,
            body_cap=self.options.body_cap,
        )  # fmt: skip
        self.http.append(fetched.exchange)
        handshake = fetched.handshake
        if handshake is not None and handshake.failure is None:
            self.tls.append(handshake)
            return await self._again_if_failed(fetched.exchange)
        verified = await asyncio.gather(
            self._tls_pair(connected[0], port, host, first=handshake),
            *(self._tls_pair(a, port, host) for a in connected[1:]),
        )
        address = next((a for a, ok in zip(connected, verified, strict=True) if ok), None)
        return None if address is None else await self._fetch(url, address, host, hop)

    async def _fetch(self, url: str, address: str, host: str, hop: int) -> HTTPObservation:
        return await self._again_if_failed(await self._http(url, address, host, "target", hop))

    async def _again_if_failed(self, exchange: HTTPObservation) -> HTTPObservation:
        """A request that stalled or was reset, tried again: once inside a verified TLS
        session (no name can be told apart there: a lossy link does that), and for plain
        HTTP alternating with an innocuous Host (see :meth:`_confirm`)."""
        url, address, host, hop = exchange.url, exchange.address, exchange.host, exchange.hop
        if (
            address is None
            or exchange.status is not None
            or exchange.failure not in _RETRIED_HTTP_FAILURES
        ):
            return exchange
        if not url.startswith("http:"):
            return await self._http(url, address, host, "target", hop)
        scheme, _, port = url_endpoint(url)
        innocuous = f"{scheme}://{INNOCUOUS_NAME}:{port}/"
        again = await self._confirm(
            lambda: self._http(url, address, host, "target", hop),
            lambda: self._http(innocuous, address, INNOCUOUS_NAME, "innocuous", hop),
            lambda h: h.status is not None,
            exchange.failure,
        )
        return again or exchange

    async def _fetch_https_twin(self, url: str, address: str, host: str) -> None:
        """The https:// page of an http:// target, for the plain-HTTP comparison."""
        twin = "https://" + url.removeprefix("http://")
        if url_endpoint(twin)[2] == 443:
            await self._http(twin, address, host, "https_twin", 0)


def _final(first: DNSObservation, final: asyncio.Future[DNSObservation]) -> DNSObservation:
    """A query's observation with its late replies, or its first reply if still listening."""
    if not final.done() or final.cancelled() or final.exception() is not None:
        return first
    return final.result()


def _redirect_target(exchange: HTTPObservation) -> str | None:
    """The URL a redirect response leads to, if the chain follows it."""
    location, status = exchange.location, exchange.status
    if location is None or status is None or not 300 <= status < 400:
        return None
    return location if location.startswith(("http://", "https://")) else None


async def _measure(target: Target, options: ProbeOptions, shared: _Shared) -> Observations:
    measurement = _Measurement(target, options, shared)
    deadline = options.deadline or TARGET_DEADLINE_STEPS * options.timeout
    try:
        async with asyncio.timeout(deadline) as cut:
            return await measurement.run()
    except TimeoutError:
        # Every step has its own timeout and never raises one: this is the deadline.
        if not cut.expired():
            raise
        log.info("%s: the target's deadline (%.0f s) ended its measurement", target.url, deadline)
        return measurement.observations(deadline_passed=True)
    except Exception as exc:
        # A bug in one target must not cost the others: keep what was measured.
        log.exception("measuring %s failed", target.url)
        failed = replace(measurement.observations(), internal_error=f"{type(exc).__name__}: {exc}")
        raise _MeasurementError(failed) from None
    finally:
        measurement.stop()


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
    tags: dict[int, dict[str, ASInfo]] = {}
    semaphore = asyncio.Semaphore(max(1, options.concurrency))
    measured: dict[int, Observations] = {}
    held: list[int] = []

    def context(check: _ResolverCheck, network_down: bool = False) -> RunContext:
        return RunContext(
            network_down=network_down,
            shared_untrusted_issuers=shared_untrusted_issuers(measured.values()),
            routable=options.routable,
            resolver_invents_answers=check.invents_answers,
            fake_ip=check.fake_ip,
        )

    def result(index: int, ctx: RunContext) -> TargetResult:
        obs, tagged = measured[index], tags.get(index, {})
        # The ASNs the analysis reads are the ones the result records: judged again from
        # the report, it sees the same.
        ctx = replace(ctx, asn_of=asn_lookup(tagged))
        return TargetResult(targets[index], obs, analyse(obs, ctx), Latency.of(obs), tagged, ctx)

    async def one(index: int, shared: _Shared) -> None:
        async with semaphore:
            try:
                measured[index] = await _measure(targets[index], options, shared)
            except _MeasurementError as exc:
                measured[index] = exc.partial
            if networks is not None:
                tags[index] = await _networks_of(measured[index], networks, options.routable)
        provisional = result(index, context(await checking))
        if _holds_back(provisional.observations, provisional.analysis):
            held.append(index)
        else:
            run.results.append(provisional)
            if on_result:
                on_result(provisional)

    async with _doh_client(options) as doh_client:
        resolvers = (options.resolver, *options.control_resolvers)
        shared = _Shared(doh_client, {str(r): asyncio.Semaphore(DNS_IN_FLIGHT) for r in resolvers})
        # Alongside the targets: what the resolvers say of names everyone knows (or nobody
        # has), so that targets given by address, all blackholed, do not pass for an outage
        # while a resolver still answers, and a resolver's habits are known when judging.
        checking = asyncio.ensure_future(_check_resolvers(shared, options))
        await asyncio.gather(*(one(i, shared) for i in range(len(targets))))
        check = await checking

    run.network_down = (
        not check.local_answers and not check.control_answers and network_is_down(measured.values())
    )
    for note in check.notes(options, measured.values()):
        log.warning("%s", note)
        run.notes.append(note)
    final = context(check, run.network_down)
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


@dataclass(frozen=True, slots=True)
class _ResolverCheck:
    """What the resolvers answered for a name everyone knows and for a made-up one."""

    local: DNSObservation
    made_up: DNSObservation
    control: tuple[DNSObservation, ...]
    routable: tuple[IPNetwork, ...]

    @property
    def local_answers(self) -> bool:
        return anything_answered((self.local.failure, self.made_up.failure))

    @property
    def control_answers(self) -> bool:
        return anything_answered(q.failure for q in self.control)

    @property
    def invents_answers(self) -> bool | None:
        """Whether the resolver under test answers names that do not exist with an address
        (NXDOMAIN hijacking); None when it did not reply."""
        if self.made_up.addresses:
            return True
        return None if self.made_up.rcode is None else False

    @property
    def fake_ip(self) -> bool:
        return bool(self.local.addresses) and all(
            is_fake_ip(a, self.routable) for a in self.local.addresses
        )

    def notes(self, options: ProbeOptions, measured: Iterable[Observations]) -> list[str]:
        """What the report must say about how clearly this run could see."""
        notes = []
        if self.fake_ip:
            notes.append(
                f"DNS answers come from a local fake-IP proxy (the resolver under test answers "
                f"{INNOCUOUS_NAME} with {', '.join(self.local.addresses)}, in "
                f"{FAKE_IP_NETWORK}, as Clash and sing-box do): this run measures the proxy, "
                "not this network"
            )
        if self.invents_answers:
            notes.append(
                f"the resolver under test answers {', '.join(self.made_up.addresses)} for a "
                "made-up name (NXDOMAIN hijacking): answers for names that do not exist prove "
                "nothing here"
            )
        why = _controls_failed(options, measured)
        if why is not None:
            notes.append(why)
        return notes


def _controls_failed(options: ProbeOptions, measured: Iterable[Observations]) -> str | None:
    """Why no control resolver gave a usable answer for any target, with what to try."""
    queries = [d for obs in measured for d in obs.dns if d.role == "control"]
    if not queries or any(d.addresses or d.rcode == "NXDOMAIN" for d in queries):
        return None
    reasons = []
    for resolver in options.control_resolvers:
        failures = Counter(
            d.failure or "no address" for d in queries if d.resolver == str(resolver)
        )
        if failures:
            failure = failures.most_common(1)[0][0]
            reasons.append(f"{resolver}: {_CONTROL_FAILURE_MEANS.get(failure, failure)}")
    return (
        "no control view: no control resolver gave an address or NXDOMAIN for any target ("
        + "; ".join(reasons)
        + "); try another one (--control-resolver tls://IP or https://…#IP) or an uncensored "
        "path (--control-proxy)"
    )


_CONTROL_FAILURE_MEANS: Final = {
    SSL_INVALID_HOSTNAME: "its certificate names another host: encrypted DNS to it is "
    "intercepted on this network",
    SSL_UNKNOWN_AUTHORITY: "its certificate is from an untrusted authority: encrypted DNS to "
    "it is intercepted on this network",
    GENERIC_TIMEOUT: "no answer (generic_timeout_error): it may be blocked",
    DNS_SERVFAIL: "it answers SERVFAIL",
    DNS_REFUSED: "it answers REFUSED",
    CONNECTION_REFUSED: "connection refused: it may be blocked",
    CONNECTION_RESET: "connection reset: it may be blocked",
}


async def _check_resolvers(shared: _Shared, options: ProbeOptions) -> _ResolverCheck:
    made_up = f"nx-{secrets.token_hex(6)}.{INNOCUOUS_NAME}"

    async def ask(name: str, resolver: dns.ResolverSpec, role: Role) -> DNSObservation:
        _, final = await shared.query_early(
            name, "A", resolver, role, timeout=options.timeout, t_origin=0.0
        )
        return await final

    local, unknown, *control = await asyncio.gather(
        ask(INNOCUOUS_NAME, options.resolver, "local"),
        ask(made_up, options.resolver, "local"),
        *(ask(INNOCUOUS_NAME, r, "control") for r in options.control_resolvers),
    )
    return _ResolverCheck(local, unknown, tuple(control), options.routable)


async def _networks_of(
    obs: Observations, networks: AddressNetworks, routable: tuple[IPNetwork, ...]
) -> dict[str, ASInfo]:
    """Look up the AS of every answer address (bogons are nobody's: not looked up)."""
    addresses = sorted({a for d in obs.dns for a in d.addresses if not is_bogon(a, routable)})
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
