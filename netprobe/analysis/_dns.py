"""The DNS rules: the local answer against control's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import netprobe.analysis.fingerprints as fingerprints
from netprobe.analysis._common import CONFIRMING_ATTEMPTS, NO_CONTROL, at_hop
from netprobe.analysis._http import blockpage_of
from netprobe.model.addresses import is_bogon, is_fake_ip
from netprobe.model.observations import (
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVFAIL,
    GENERIC_TIMEOUT,
    DNSObservation,
    Observations,
)
from netprobe.model.results import (
    Analysis,
    Blocking,
    RunContext,
    Verdict,
)


@dataclass(frozen=True, slots=True)
class _DNSView:
    addresses: frozenset[str]
    nxdomain: bool
    """The name does not exist there (and no query of this view found an address)."""
    failure: str | None
    """The failure of the A query (or of the first query) when there are no addresses."""
    failures: int
    """Queries that failed this same way (repeats included)."""

    @property
    def answered(self) -> bool:
        """A view that counts: addresses, or NXDOMAIN. SERVFAIL, REFUSED, an empty answer
        and silence say nothing about the name."""
        return bool(self.addresses) or self.nxdomain

    @classmethod
    def of(cls, queries: Sequence[DNSObservation]) -> _DNSView:
        addresses = frozenset(a for q in queries for a in q.addresses)
        nxdomain = not addresses and any(q.rcode == "NXDOMAIN" for q in queries)
        ordered = sorted(queries, key=lambda q: q.query_type != "A")
        failure = None if addresses or not ordered else ordered[0].failure
        if nxdomain:
            failure = DNS_NXDOMAIN
        failures = sum(q.failure == failure for q in queries if q.query_type == "A")
        return cls(addresses, nxdomain, failure, failures)


_DNS_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {
    DNS_NXDOMAIN: "dns.nxdomain",
    GENERIC_TIMEOUT: "dns.timeout",
    DNS_SERVFAIL: "dns.servfail",
    DNS_REFUSED: "dns.refused",
}


def dns_rule(obs: Observations, ctx: RunContext, host: str, hop: int) -> Analysis | None:
    queries = [d for d in obs.dns if d.domain == host]
    if not queries:
        return None
    local = _DNSView.of([d for d in queries if d.role == "local"])
    control = _DNSView.of([d for d in queries if d.role == "control"])
    if not local.addresses:
        return _local_dns_failure(local, control, host, hop)
    if ctx.fake_ip and all(is_fake_ip(a, ctx.routable) for a in local.addresses):
        return Analysis(
            "error",
            evidence=at_hop(
                f"the resolver under test answers {host} with {', '.join(sorted(local.addresses))}"
                ", from a local fake-IP proxy: this run cannot see this network's DNS",
                hop,
                host,
            ),
        )
    if control.nxdomain:
        return _ghost_domain(obs, ctx, local.addresses, host, hop)
    if not control.addresses:
        bogons = sorted(a for a in local.addresses if is_bogon(a, ctx.routable))
        if bogons:
            return Analysis(
                "anomaly",
                "dns.bogon",
                at_hop(
                    f"the resolver under test answers {host} with the bogon "
                    f"{', '.join(bogons)}; {NO_CONTROL}",
                    hop,
                    host,
                ),
            )
        return None
    if all(is_bogon(a, ctx.routable) for a in local.addresses | control.addresses):
        return Analysis(
            "site_down",
            evidence=at_hop(
                f"{host} resolves to the bogon {', '.join(sorted(control.addresses))} "
                "at the control resolver too",
                hop,
                host,
            ),
        )
    if _verified_at(obs, host, local.addresses):
        return None
    outside = _outside_expected_networks(obs, ctx, host, local.addresses)
    if outside is not None:
        return Analysis("anomaly", "dns.inconsistent", at_hop(outside, hop, host))
    if _consistent(ctx, local.addresses, control.addresses):
        return None
    return _inconsistent_dns(obs, ctx, local.addresses, control.addresses, host, hop)


def _local_dns_failure(local: _DNSView, control: _DNSView, host: str, hop: int) -> Analysis:
    failure = local.failure or "no address"
    if control.nxdomain:
        return Analysis(
            "site_down",
            evidence=at_hop(
                f"{host} does not exist at the control resolver either "
                f"(local: {failure}; control: {DNS_NXDOMAIN})",
                hop,
                host,
            ),
        )
    blocking = _DNS_FAILURE_BLOCKING.get(failure, "dns.inconsistent")
    # An NXDOMAIN is an answer, not a lost packet; other failures must repeat.
    confirmed = blocking == "dns.nxdomain" or local.failures >= CONFIRMING_ATTEMPTS
    if not control.addresses:
        why = f"{NO_CONTROL} ({control.failure})" if control.failure else NO_CONTROL
        return Analysis(
            "anomaly",
            blocking,
            at_hop(f"the resolver under test fails for {host} ({failure}); {why}", hop, host),
            confirmed,
        )
    verdict: Verdict = "blocked" if blocking == "dns.nxdomain" else "anomaly"
    shown = ", ".join(sorted(control.addresses)[:3])
    return Analysis(
        verdict,
        blocking,
        at_hop(
            f"the resolver under test fails for {host} ({failure}) while the control "
            f"resolver answers {shown}",
            hop,
            host,
        ),
        confirmed,
    )


def _verified_at(obs: Observations, host: str, local: frozenset[str]) -> bool:
    """A handshake with the name's SNI verified on an address the local DNS gave: whatever
    else is odd about the answer, it leads to the real site."""
    return any(
        t.purpose == "target"
        and t.sni == host
        and t.address in local
        and t.failure is None
        and t.handshake_completed
        for t in obs.tls
    )


def _outside_expected_networks(
    obs: Observations, ctx: RunContext, host: str, local: frozenset[str]
) -> str | None:
    """Evidence when every local answer is known to lie outside the service's own networks."""
    if not obs.expected_asns or host != obs.domain or any(is_bogon(a, ctx.routable) for a in local):
        return None
    asns = {a: ctx.asn_of(a) for a in sorted(local)}
    if any(asn is None or asn in obs.expected_asns for asn in asns.values()):
        return None
    found = ", ".join(f"{a} (AS{asn})" for a, asn in asns.items())
    wanted = ", ".join(f"AS{n}" for n in sorted(obs.expected_asns))
    return (
        f"the resolver under test answers {host} with {found}, outside {wanted} where this "
        "service's addresses are"
    )


def _consistent(ctx: RunContext, local: frozenset[str], control: frozenset[str]) -> bool:
    if local & control:
        return True
    local_asns = {ctx.asn_of(a) for a in local} - {None, 0}
    control_asns = {ctx.asn_of(a) for a in control} - {None, 0}
    return bool(local_asns & control_asns)


def _ghost_domain(
    obs: Observations, ctx: RunContext, local: frozenset[str], host: str, hop: int
) -> Analysis | None:
    """The resolver under test answers a name that does not exist at control: a censor's
    resolver keeps answering for the names on its list long after they died."""
    if _verified_at(obs, host, local):
        return None  # a name of this network's own (split horizon), with its certificate
    ghost = f"{host} does not exist at the control resolver (NXDOMAIN)"
    lie = _answer_lie(obs, ctx, local, host, hop, f"{ghost}; it answers")
    if lie is not None:
        return lie
    answered = ", ".join(sorted(local)[:3])
    said = f"the resolver under test answers {answered} for {host}, but {ghost}"
    if ctx.resolver_invents_answers is False:
        return Analysis(
            "blocked",
            "dns.inconsistent",
            at_hop(
                f"{said}, and it gives no address for made-up names: {host} is on a list",
                hop,
                host,
            ),
            True,
        )
    unknown = (
        "it invents addresses for made-up names too (NXDOMAIN hijacking)"
        if ctx.resolver_invents_answers
        else "whether it invents addresses for any made-up name is unknown"
    )
    return Analysis("anomaly", "dns.inconsistent", at_hop(f"{said}; {unknown}", hop, host))


def _answer_lie(
    obs: Observations,
    ctx: RunContext,
    local: frozenset[str],
    host: str,
    hop: int,
    control_said: str,
) -> Analysis | None:
    """A local answer that is a lie whatever control says: a bogon, a known blockpage
    address, or an address serving a blockpage."""
    bogons = sorted(a for a in local if is_bogon(a, ctx.routable))
    if bogons:
        return Analysis(
            "blocked",
            "dns.bogon",
            at_hop(
                f"the resolver under test answers {host} with the bogon {', '.join(bogons)}; "
                f"{control_said}",
                hop,
                host,
            ),
            True,
        )
    for address in sorted(local):
        known = fingerprints.blockpage_for_address(address)
        if known is not None:
            return Analysis(
                "blocked",
                "dns.blockpage",
                at_hop(
                    f"the resolver under test answers {host} with {address}, a known "
                    f"blockpage address ({known}); {control_said}",
                    hop,
                    host,
                ),
                True,
            )
    served = next(
        (
            (h.address, found)
            for h in obs.http
            if h.address in local and h.host == host and (found := blockpage_of(h))
        ),
        None,
    )
    if served is not None:
        address, found = served
        return Analysis(
            "blocked",
            "dns.blockpage",
            at_hop(
                f"the resolver under test answers {host} with {address}, which "
                f"serves a blockpage ({found}); {control_said}",
                hop,
                host,
            ),
            True,
        )
    return None


def _inconsistent_dns(
    obs: Observations,
    ctx: RunContext,
    local: frozenset[str],
    control: frozenset[str],
    host: str,
    hop: int,
) -> Analysis:
    answered = ", ".join(sorted(local)[:3])
    expected = ", ".join(sorted(control)[:3])
    lie = _answer_lie(obs, ctx, local, host, hop, f"the control resolver answers {expected}")
    if lie is not None:
        return lie
    injected = next(
        (
            late
            for query in obs.dns
            if query.domain == host and query.role == "local"
            for late in query.late_replies
            if set(late) & control
        ),
        None,
    )
    if injected is not None:
        return Analysis(
            "blocked",
            "dns.inconsistent",
            at_hop(
                f"two replies came to one query for {host}: first {answered}, then "
                f"{', '.join(injected)}, which agrees with control: a forged answer raced "
                "the resolver's",
                hop,
                host,
            ),
            True,
        )
    return Analysis(
        "anomaly",
        "dns.inconsistent",
        at_hop(
            f"the resolver under test answers {host} with {answered}, the control resolver "
            f"with {expected}: no shared address or network, no valid certificate for "
            f"{host} there",
            hop,
            host,
        ),
        True,
    )
