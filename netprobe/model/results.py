"""What a run found: each target's and service's verdict, with the observations and
the run-wide facts it rests on, as plain records every layer shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, get_args

from netprobe.model.addresses import IPNetwork
from netprobe.model.networks import ASInfo
from netprobe.model.observations import (
    Observations,
)
from netprobe.model.targets import Service, Target

__all__ = [
    "BLOCKINGS",
    "VERDICTS",
    "Analysis",
    "Blocking",
    "Latency",
    "PartAnalysis",
    "RunContext",
    "RunResult",
    "ServiceAnalysis",
    "ServiceResult",
    "TargetResult",
    "Verdict",
    "asn_lookup",
]

Verdict = Literal["accessible", "blocked", "anomaly", "site_down", "network_down", "error"]
Blocking = Literal[
    "dns.nxdomain",
    "dns.bogon",
    "dns.blockpage",
    "dns.inconsistent",
    "dns.timeout",
    "dns.servfail",
    "dns.refused",
    "tcp.timeout",
    "tcp.refused",
    "tcp.reset",
    "tls.reset",
    "tls.timeout",
    "tls.mitm",
    "tls.failure",
    "tls.throttled",
    "http.reset",
    "http.timeout",
    "http.blockpage",
    "http.diff",
    "http.throttled",
]


VERDICTS: Final[tuple[Verdict, ...]] = get_args(Verdict)
BLOCKINGS: Final[tuple[Blocking, ...]] = get_args(Blocking)


@dataclass(frozen=True, slots=True)
class Analysis:
    verdict: Verdict
    blocking: Blocking | None = None
    evidence: str | None = None
    """A sentence a person can read, naming what was seen (and the hop, past the first)."""
    confirmed: bool = False
    """For a failure: it repeated on every attempt, or is an answer no loss can forge (a
    DNS lie, a reset), so chance is ruled out. Not part of the report: it is rebuilt
    from the observations."""


def _no_asn(_address: str) -> int | None:
    return None


@dataclass(frozen=True, slots=True)
class RunContext:
    """Run-wide facts the analysis of a single target may depend on."""

    network_down: bool = False
    asn_of: Callable[[str], int | None] = _no_asn
    """ASN of an address (None when unknown); injected so that analysis stays pure."""
    shared_untrusted_issuers: frozenset[str] = field(default=frozenset())
    """Issuers of unverifiable certificates seen on two or more unrelated targets."""
    routable: tuple[IPNetwork, ...] = ()
    """Special-purpose blocks this run treats as routable (a test network says so)."""
    resolver_invents_answers: bool | None = None
    """The resolver under test answers a made-up name with an address (True: NXDOMAIN
    hijacking), or with none (False: NXDOMAIN, or any reply without one); None when it
    did not reply."""
    fake_ip: bool = False
    """The resolver under test is a local fake-IP proxy (Clash, sing-box…)."""


@dataclass(frozen=True, slots=True)
class PartAnalysis:
    name: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class ServiceAnalysis:
    """A service's verdict, from its parts' (each from its endpoints')."""

    verdict: Verdict
    blocking: Blocking | None
    evidence: str
    parts: tuple[PartAnalysis, ...]


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
    context: RunContext = field(default_factory=RunContext)
    """The run-wide facts the analysis was made with (its ``asn_of`` reads ``networks``)."""


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


def asn_lookup(networks: Mapping[str, ASInfo]) -> Callable[[str], int | None]:
    """``asn_of`` for the analysis, from the ASes a result records for its addresses."""

    def asn_of(address: str) -> int | None:
        info = networks.get(address)
        return info.asn if info is not None else None

    return asn_of
