"""Analysis: a pure function from one target's observations to a verdict.

Nothing here touches the network. :func:`analyse` walks the steps in the order
they happen (DNS → TCP → TLS → HTTP) for each hop of the redirect chain; the hop
where the chain stopped names the blocking. Run-wide facts (is this network up at
all, which untrusted certificate issuers turned up on several unrelated targets,
the ASN of an address, whether the resolver under test answers made-up names)
come in through :class:`RunContext`.

Verdicts, and when each blocking type is ``blocked`` rather than an ``anomaly``:

=================  =======================================================  ===========
blocking           what was observed                                        verdict
=================  =======================================================  ===========
dns.nxdomain       the resolver under test says NXDOMAIN, control resolves  blocked
dns.bogon          it answers a bogon (127.0.0.1, 0.0.0.0…), control not    blocked
dns.blockpage      its answer is a known blockpage address / serves one     blocked
dns.inconsistent   answers disagree with control (no shared address or      anomaly [3]
                   ASN, no valid certificate for the name on them)
dns.timeout        the resolver under test never answers for this name      anomaly
dns.servfail       … answers SERVFAIL                                       anomaly
dns.refused        … answers REFUSED                                        anomaly
tcp.timeout        connecting to the (consistent) addresses times out       anomaly
tcp.refused        connecting is refused (RST or ICMP unreachable)          anomaly
tcp.reset          the connection is reset after connect whatever is sent   anomaly
tls.reset          handshakes with the target's SNI are reset, those with   blocked [1]
                   an innocuous SNI to the same address complete
tls.timeout        … stall, the innocuous ones complete                     blocked [1]
tls.failure        … fail otherwise, the innocuous ones complete; or a      blocked [1]
                   trusted CA's certificate is expired or for another name  anomaly
tls.mitm           a certificate that chains to no trusted root, on an      blocked [2]
                   address DNS and control agree on
http.reset         plain-HTTP requests with the target's Host are reset,    blocked [1]
                   those with an innocuous Host to the same address answer
http.timeout       … stall, the innocuous ones answer                       blocked [1]
http.blockpage     the response matches a blockpage fingerprint             blocked
http.diff          plain-HTTP page differs from the site's HTTPS page       anomaly
=================  =======================================================  ===========

[1] Only on a pattern chance does not produce: the failure repeats with the target's
    name (:data:`CONFIRMING_ATTEMPTS` times, same kind each time) while the innocuous
    name succeeds every time in between, the innocuous attempt first. Otherwise an
    ``anomaly`` of the same type, saying what could not be confirmed (an address that
    stops taking any connection right after the first attempt is residual censorship
    or a server going away: the evidence says so).
[2] when the issuer is a known interception root or signs certificates for unrelated
    targets on other addresses in the same run; otherwise ``anomaly`` (a misconfigured
    site looks the same).
[3] ``blocked`` when a second reply to the same UDP query agrees with control (the first
    was forged by an injector racing the resolver), and for a ghost domain: a name that
    does not exist at the control resolvers, which the resolver under test answers
    although it gives no address for a made-up name.

``site_down`` is given when the control view fails the same way (the name does
not exist at the control resolver either); ``network_down`` when the run found
that nothing answers from this network at all. A redirect loop, or a chain longer
than the redirects followed, never delivers a page: ``error``, with OONI's failure
string for it (:data:`TOO_MANY_REDIRECTS`).

The control resolvers count only when they answer with addresses or NXDOMAIN:
SERVFAIL, REFUSED, an empty answer or silence is no control view, and the evidence
says so.

With a control proxy (a fetch of the target from the uncensored side), OONI's
control rules apply on top: a failure seen only locally, and repeated on every
attempt, is ``blocked`` whatever its type (a connect timeout becomes conclusive); a
failure seen once stays an ``anomaly``; seen through the proxy too, it is
``site_down``; a plain-HTTP page is compared with the control page.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from netprobe import fingerprints
from netprobe._defaults import MAX_REDIRECTS
from netprobe.model.addresses import is_address, is_bogon, is_fake_ip, url_endpoint
from netprobe.model.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVFAIL,
    GENERIC_TIMEOUT,
    HOST_UNREACHABLE,
    NETWORK_UNREACHABLE,
    SSL_UNKNOWN_AUTHORITY,
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import (
    Analysis,
    Blocking,
    PartAnalysis,
    RunContext,
    ServiceAnalysis,
    Verdict,
)

__all__ = [
    "CONFIRMING_ATTEMPTS",
    "TOO_MANY_REDIRECTS",
    "Analysis",
    "Blocking",
    "PartAnalysis",
    "RunContext",
    "ServiceAnalysis",
    "Verdict",
    "analyse",
    "analyse_service",
    "anything_answered",
    "blockpage_of",
    "network_is_down",
    "registrable_domain",
    "shared_untrusted_issuers",
]


CONFIRMING_ATTEMPTS: Final = 3
"""Attempts with the target's name that must all fail the same way (with the innocuous
name succeeding in between) before a name-targeted failure is called ``blocked``. One
stalled handshake in a few hundred is normal on a lossy mobile link; three in a row,
each beside a success, is not chance."""

TOO_MANY_REDIRECTS: Final = "unknown_failure: stopped after too many redirects"
"""OONI's failure string (webconnectivitylte) for a chain that never ends in a page."""


_SECOND_LEVEL_LABELS: Final = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "or"})


def registrable_domain(domain: str) -> str:
    """An approximation of the registrable domain, good enough to tell unrelated sites apart."""
    labels = domain.lower().rstrip(".").split(".")
    keep = (
        3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL_LABELS else 2
    )
    return ".".join(labels[-keep:])


_NO_REPLY_FAILURES: Final = frozenset({GENERIC_TIMEOUT, HOST_UNREACHABLE, NETWORK_UNREACHABLE})


def network_is_down(results: Iterable[Observations]) -> bool:
    """True when nothing at all answered: no DNS reply, no TCP peer, no TLS or HTTP peer,
    from any target.

    A reset or a refusal is an answer (something on the path is alive), so only
    silence and unreachability count as "down".
    """
    measured = False
    for obs in results:
        failures = (
            [d.failure for d in obs.dns]
            + [t.failure for t in obs.tcp]
            + [t.failure for t in obs.tls]
            + [h.failure for h in obs.http]
        )
        measured = measured or bool(failures)
        if anything_answered(failures):
            return False
    return measured


def anything_answered(failures: Iterable[str | None]) -> bool:
    """Whether any of these steps got an answer: success, or a reset or refusal (something
    on the path is alive), as opposed to silence or unreachability."""
    return any(f not in _NO_REPLY_FAILURES for f in failures)


def _interception_issuer(tls: TLSObservation) -> str | None:
    """The issuer that may be an interception root: a completed handshake whose chain
    reaches no trusted root. A trusted CA's expired or wrong-name certificate is a
    broken site, never interception."""
    if tls.purpose != "target" or not tls.handshake_completed or not tls.chain:
        return None
    if tls.failure != SSL_UNKNOWN_AUTHORITY:
        return None
    return tls.chain[0].issuer


def _issuer_key(tls: TLSObservation) -> str:
    """What two interception certificates share: their issuer, unless the leaf signed
    itself (then each is its own root, and only the very same certificate is shared)."""
    leaf = tls.chain[0]
    return f"sha256:{leaf.sha256}" if leaf.issuer == leaf.subject else leaf.issuer


def shared_untrusted_issuers(results: Iterable[Observations]) -> frozenset[str]:
    """Issuers of untrusted certificates presented for two or more unrelated targets, on
    two or more addresses (one shared host's default certificate is no interception)."""
    domains: defaultdict[str, set[str]] = defaultdict(set)
    addresses: defaultdict[str, set[str]] = defaultdict(set)
    for obs in results:
        for tls in obs.tls:
            if _interception_issuer(tls) is not None:
                key = _issuer_key(tls)
                domains[key].add(registrable_domain(tls.sni))
                addresses[key].add(tls.address)
    return frozenset(k for k in domains if len(domains[k]) >= 2 and len(addresses[k]) >= 2)


def analyse(obs: Observations, ctx: RunContext | None = None) -> Analysis:
    """Classify one target from its observations. Never raises on well-typed input."""
    ctx = ctx or RunContext()
    if obs.internal_error is not None:
        return Analysis(
            "error", evidence=f"internal error while measuring (see the log): {obs.internal_error}"
        )
    if ctx.network_down:
        return Analysis(
            "network_down",
            evidence="nothing answered from this network: no resolver reply, no TCP peer",
        )
    if not (obs.dns or obs.tcp):
        found = Analysis("error", evidence="no measurement was made for this target")
    elif obs.scheme in ("tcp", "tls"):
        local = _analyse_endpoint(obs, ctx, obs.domain, obs.scheme, obs.port, 0)
        found = _with_control(obs, local or _reachable(obs))
    else:
        found = _with_control(obs, _analyse_chain(obs, ctx))
    if obs.deadline_passed:
        said = f"{found.evidence}; " if found.evidence else ""
        return replace(found, evidence=f"{said}the target's deadline ended its measurement")
    return found


# A proxy answers these itself when it cannot reach the site.
_GATEWAY_ERRORS: Final = frozenset({502, 504})


def _control_page(obs: Observations) -> HTTPObservation | None:
    """The last response through the control proxy, if the proxy was used."""
    control = [h for h in obs.http if h.purpose == "control"]
    return max(control, key=lambda h: h.hop) if control else None


def _control_view(obs: Observations) -> tuple[str | None, str] | None:
    """What the control proxy saw: (failure or None, what it saw), or None without one."""
    tunnel = next((t for t in obs.tcp if t.proxied), None)
    if tunnel is not None:
        return tunnel.failure, f"opens {tunnel.address}:{tunnel.port}"
    control = _control_page(obs)
    if control is None:
        return None
    if control.status is not None and control.status not in _GATEWAY_ERRORS:
        return None, f"answers HTTP {control.status}"
    return control.failure or f"HTTP {control.status} from the proxy", ""


def _with_control(obs: Observations, local: Analysis) -> Analysis:
    """OONI's control rules: a failure seen only here, on every attempt, is blocking; seen
    through the control proxy too, the site is down."""
    view = _control_view(obs)
    if view is None or local.verdict not in _FAILED or local.blocking == "http.diff":
        return local
    failure, seen = view
    if failure is not None:
        return Analysis(
            "site_down",
            None,
            f"{local.evidence}; it fails through the control proxy too ({failure})",
        )
    if local.confirmed:
        return replace(
            local, verdict="blocked", evidence=f"{local.evidence}; the control proxy {seen}"
        )
    return replace(
        local,
        evidence=f"{local.evidence}; the control proxy {seen}, but the failure here was not "
        "seen on every attempt: could be chance",
    )


def _analyse_chain(obs: Observations, ctx: RunContext) -> Analysis:
    """The local view of a web target: each hop of its redirect chain, step by step, until
    the hop where the chain stopped."""
    targets = [h for h in obs.http if h.purpose == "target"]
    host, scheme, port = obs.domain, obs.scheme, obs.port
    visited: list[str] = []
    hop = 0
    while True:
        found = _analyse_endpoint(obs, ctx, host, scheme, port, hop)
        if found is not None:
            return found
        exchange = _exchange_at(targets, hop)
        if exchange is None:
            if hop > MAX_REDIRECTS:
                return _too_many_redirects(visited, hop)
            return Analysis("error", evidence=_at_hop("no HTTP request was made", hop, host))
        outcome = _http_rule(obs, exchange)
        if outcome is not None:
            return outcome
        visited.append(exchange.url)
        following = _redirect_target(exchange)
        if following is None:
            return _http_diff_rule(obs, exchange) or _accessible(exchange)
        if following in visited:
            return _redirect_loop(visited, following, hop)
        scheme, host, port = url_endpoint(following)
        hop += 1


def _exchange_at(targets: Sequence[HTTPObservation], hop: int) -> HTTPObservation | None:
    """The request of this hop that decides: one that got a response, else the first."""
    here = sorted((h for h in targets if h.hop == hop), key=lambda h: h.t0)
    return next((h for h in here if h.status is not None), here[0] if here else None)


def _redirect_target(exchange: HTTPObservation) -> str | None:
    """Where a redirect leads, when it is one the chain follows (3xx with a usable
    http(s) Location, absolute, relative or scheme-relative once resolved)."""
    if exchange.status is None or not 300 <= exchange.status < 400:
        return None
    location = exchange.location
    return location if location and location.startswith(("http://", "https://")) else None


def _too_many_redirects(visited: Sequence[str], hop: int) -> Analysis:
    return Analysis(
        "error",
        evidence=f"{visited[0]} never leads to a page: the chain stopped after {hop} "
        f"redirects, at {visited[-1]} ({TOO_MANY_REDIRECTS})",
    )


def _redirect_loop(visited: Sequence[str], back_to: str, hop: int) -> Analysis:
    return Analysis(
        "error",
        evidence=f"{visited[0]} never leads to a page: after {hop + 1} redirects, "
        f"{visited[-1]} leads back to {back_to}, a redirect loop ({TOO_MANY_REDIRECTS})",
    )


def _reachable(obs: Observations) -> Analysis:
    """An endpoint target (``tcp://``, ``tls://``) that connected, and verified for ``tls``."""
    if obs.scheme == "tls":
        done = next((t for t in obs.tls if t.purpose == "target" and t.failure is None), None)
        if done is not None:
            said = f"TLS handshake with SNI {done.sni} to {done.address}:{done.port} verified"
            return Analysis("accessible", evidence=said)
    else:
        tcp = next((t for t in obs.tcp if t.failure is None and not t.proxied), None)
        if tcp is not None:
            return Analysis(
                "accessible", evidence=f"TCP connect to {tcp.address}:{tcp.port} succeeded"
            )
    # Nothing was tried: the only addresses were reserved ones, which are never probed.
    return Analysis("error", evidence=f"no usable address to connect to for {obs.domain}")


def _at_hop(sentence: str, hop: int, host: str) -> str:
    return sentence if hop == 0 else f"{sentence} (redirect hop {hop}, {host})"


def _accessible(final: HTTPObservation) -> Analysis:
    where = f" from {final.address}" if final.address else ""
    return Analysis("accessible", evidence=f"HTTP {final.status}{where} for {final.url}")


_FAILED: Final = ("blocked", "anomaly")


def analyse_service(parts: Sequence[tuple[str, Sequence[Analysis]]]) -> ServiceAnalysis:
    """Judge a service by its parts: ``(part name, its endpoints' analyses)`` each.

    A part works when any of its endpoints is accessible (an app falls back from one
    port or host to the next); it fails when its endpoints fail (``blocked`` if one of
    them is). The service is ``blocked`` when at least one part is conclusively blocked
    and none works, an ``anomaly`` when parts fail without that (some work, or the
    failures are unconfirmed), ``accessible`` when none fails. Parts that cannot be
    judged (down at the control view too, local errors) count for neither. Its blocking
    is the commonest among the failed endpoints.
    """
    judged = tuple(PartAnalysis(name, _part_verdict(results)) for name, results in parts)
    failed = [p for p in judged if p.verdict in _FAILED]
    working = sum(p.verdict == "accessible" for p in judged)
    verdicts = {p.verdict for p in judged}
    if not judged:
        return ServiceAnalysis("error", None, "the service has no parts", judged)
    if verdicts == {"network_down"}:
        return ServiceAnalysis("network_down", None, "this network has no connectivity", judged)
    if not failed:
        if working:
            said = f"{working} of {len(judged)} parts work"
            return ServiceAnalysis("accessible", None, said, judged)
        only: Verdict = "site_down" if verdicts == {"site_down"} else "error"
        return ServiceAnalysis(
            only,
            None,
            "no part could be reached from the control view either"
            if only == "site_down"
            else "no part could be measured",
            judged,
        )
    causes = Counter(
        a.blocking
        for (_, results), part in zip(parts, judged, strict=True)
        if part.verdict in _FAILED
        for a in results
        if a.blocking is not None
    )
    blocking = causes.most_common(1)[0][0] if causes else None
    listed = ", ".join(f"{p.name} ({p.verdict})" for p in failed[:6])
    more = f" and {len(failed) - 6} more" if len(failed) > 6 else ""
    unknown = len(judged) - len(failed) - working
    aside = f"; {unknown} could not be judged ({_unjudged(judged)})" if unknown else ""
    if not working and any(p.verdict == "blocked" for p in failed):
        said = f"no part works: {listed}{more} fail{aside}"
        return ServiceAnalysis("blocked", blocking, said, judged)
    if not working:
        said = f"no part works, but no failure is conclusive: {listed}{more}{aside}"
        return ServiceAnalysis("anomaly", blocking, said, judged)
    said = f"{len(failed)} of {len(judged)} parts fail: {listed}{more}; {working} work{aside}"
    return ServiceAnalysis("anomaly", blocking, said, judged)


def _unjudged(parts: Sequence[PartAnalysis]) -> str:
    return ", ".join(
        f"{p.name}: {p.verdict}" for p in parts if p.verdict not in (*_FAILED, "accessible")
    )


def _part_verdict(results: Sequence[Analysis]) -> Verdict:
    verdicts = {a.verdict for a in results}
    for verdict in ("accessible", "blocked", "anomaly", "network_down", "site_down"):
        if verdict in verdicts:
            return verdict
    return "error"


# --- DNS ---------------------------------------------------------------------------------


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

_NO_CONTROL: Final = "no control view: the control resolvers gave no address and no NXDOMAIN"


def _dns_rule(obs: Observations, ctx: RunContext, host: str, hop: int) -> Analysis | None:
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
            evidence=_at_hop(
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
                _at_hop(
                    f"the resolver under test answers {host} with the bogon "
                    f"{', '.join(bogons)}; {_NO_CONTROL}",
                    hop,
                    host,
                ),
            )
        return None
    if all(is_bogon(a, ctx.routable) for a in local.addresses | control.addresses):
        return Analysis(
            "site_down",
            evidence=_at_hop(
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
        return Analysis("anomaly", "dns.inconsistent", _at_hop(outside, hop, host))
    if _consistent(ctx, local.addresses, control.addresses):
        return None
    return _inconsistent_dns(obs, ctx, local.addresses, control.addresses, host, hop)


def _local_dns_failure(local: _DNSView, control: _DNSView, host: str, hop: int) -> Analysis:
    failure = local.failure or "no address"
    if control.nxdomain:
        return Analysis(
            "site_down",
            evidence=_at_hop(
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
        why = f"{_NO_CONTROL} ({control.failure})" if control.failure else _NO_CONTROL
        return Analysis(
            "anomaly",
            blocking,
            _at_hop(f"the resolver under test fails for {host} ({failure}); {why}", hop, host),
            confirmed,
        )
    verdict: Verdict = "blocked" if blocking == "dns.nxdomain" else "anomaly"
    shown = ", ".join(sorted(control.addresses)[:3])
    return Analysis(
        verdict,
        blocking,
        _at_hop(
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
            _at_hop(
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
    return Analysis("anomaly", "dns.inconsistent", _at_hop(f"{said}; {unknown}", hop, host))


def blockpage_of(exchange: HTTPObservation) -> str | None:
    """The blockpage fingerprint a response matches, from what was kept of it (its
    excerpt; a large 2xx page has none, and is matched on its title, headers, status)."""
    if exchange.status is None:
        return None
    return fingerprints.match_blockpage(
        exchange.status,
        exchange.headers,
        exchange.body_excerpt or b"",
        exchange.body_length,
        None if exchange.body_excerpt else exchange.title or "",
    )


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
            _at_hop(
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
                _at_hop(
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
            _at_hop(
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
            _at_hop(
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
        _at_hop(
            f"the resolver under test answers {host} with {answered}, the control resolver "
            f"with {expected}: no shared address or network, no valid certificate for "
            f"{host} there",
            hop,
            host,
        ),
        True,
    )


# --- TCP ---------------------------------------------------------------------------------


def _endpoint_addresses(obs: Observations, host: str) -> tuple[frozenset[str], frozenset[str]]:
    """The local and control addresses of ``host``; an address stands for itself in both."""
    if is_address(host):
        return frozenset({host}), frozenset({host})
    local = frozenset(
        a for d in obs.dns if d.domain == host and d.role == "local" for a in d.addresses
    )
    control = frozenset(
        a for d in obs.dns if d.domain == host and d.role == "control" for a in d.addresses
    )
    return local, control


_TCP_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {
    GENERIC_TIMEOUT: "tcp.timeout",
    CONNECTION_REFUSED: "tcp.refused",
    HOST_UNREACHABLE: "tcp.refused",
    NETWORK_UNREACHABLE: "tcp.refused",
    CONNECTION_RESET: "tcp.reset",
}


def _tcp_rule(
    attempts: Sequence[TCPObservation], host: str, port: int, hop: int, control_seen: bool
) -> Analysis | None:
    if not attempts or any(t.failure is None for t in attempts):
        return None
    failures = sorted({t.failure or "" for t in attempts})
    blocking: Blocking = next(
        (
            _TCP_FAILURE_BLOCKING[f]
            for f in (
                CONNECTION_REFUSED,
                CONNECTION_RESET,
                GENERIC_TIMEOUT,
                HOST_UNREACHABLE,
                NETWORK_UNREACHABLE,
            )
            if f in failures
        ),
        "tcp.timeout",
    )
    where = ", ".join(sorted({f"{t.address}:{port}" for t in attempts})[:3])
    if is_address(host):
        context = ""
    elif control_seen:
        context = f" although DNS for {host} agrees with control"
    else:
        context = f" ({_NO_CONTROL} for {host})"
    per_address = Counter(t.address for t in attempts)
    return Analysis(
        "anomaly",
        blocking,
        _at_hop(f"TCP connect to {where} failed ({', '.join(failures)}){context}", hop, host),
        confirmed=min(per_address.values()) >= CONFIRMING_ATTEMPTS,
    )


# --- TLS and HTTP: is the name targeted? ------------------------------------------------

_TLS_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {
    CONNECTION_RESET: "tls.reset",
    GENERIC_TIMEOUT: "tls.timeout",
}
_ADDRESS_LEVEL: Final[dict[str, Blocking]] = {
    CONNECTION_RESET: "tcp.reset",
    GENERIC_TIMEOUT: "tcp.timeout",
}
_WHAT: Final = {CONNECTION_RESET: "reset", GENERIC_TIMEOUT: "stalled"}


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One try of a step, with the target's name or the innocuous one, on one address."""

    innocuous: bool
    t0: float
    succeeded: bool
    failure: str | None
    connected: bool | None


def _judge_name(
    said: str,
    blocking: Blocking,
    attempts: Sequence[_Attempt],
    *,
    name: str,
    innocuous_success: str,
    hop: int,
    host: str,
) -> Analysis:
    """A step that failed with the target's name, judged by the attempts that followed on
    the same address, in time order: innocuous name first, then the two alternating.

    ``blocked`` only when every attempt with the name failed the same way (at least
    :data:`CONFIRMING_ATTEMPTS` of them) and every innocuous one in between succeeded.
    """
    ordered = sorted(attempts, key=lambda a: a.t0)
    named = [a for a in ordered if not a.innocuous]
    innocuous = [a for a in ordered if a.innocuous]
    first = named[0]
    alternating = all(a.innocuous == (i % 2 == 1) for i, a in enumerate(ordered))
    same = all(a.failure == first.failure for a in named)
    if not innocuous:
        return Analysis(
            "anomaly",
            blocking,
            _at_hop(f"{said}; could not confirm that the {name} is targeted", hop, host),
        )
    if all(a.succeeded for a in innocuous):
        if alternating and same and len(named) >= CONFIRMING_ATTEMPTS:
            return Analysis(
                "blocked",
                blocking,
                _at_hop(
                    f"{said}, {len(named)} times out of {len(named)}; in between, "
                    f"{innocuous_success} ({len(innocuous)} of {len(innocuous)})",
                    hop,
                    host,
                ),
                True,
            )
        return Analysis(
            "anomaly",
            blocking,
            _at_hop(
                f"{said}; {innocuous_success}, but the failure was not repeated "
                f"{CONFIRMING_ATTEMPTS} times: could be chance",
                hop,
                host,
            ),
        )
    after = innocuous[0]
    if first.connected and after.connected is False:
        return Analysis(
            "anomaly",
            blocking,
            _at_hop(
                f"{said}; right after, the address took no connection at all, even for an "
                f"innocuous {name} ({after.failure}): residual censorship after a trigger "
                "looks like this, and so does a server going away",
                hop,
                host,
            ),
        )
    if after.failure == first.failure and first.failure in _ADDRESS_LEVEL:
        return Analysis(
            "anomaly",
            _ADDRESS_LEVEL[first.failure],
            _at_hop(
                f"{said}, and so did the attempt with an innocuous {name}: the address "
                "itself is unreachable past the TCP handshake",
                hop,
                host,
            ),
            confirmed=len([a for a in ordered if not a.succeeded]) >= CONFIRMING_ATTEMPTS,
        )
    return Analysis(
        "anomaly",
        blocking,
        _at_hop(
            f"{said}; the attempt with an innocuous {name} failed too ({after.failure}): "
            f"could not confirm that the {name} is targeted",
            hop,
            host,
        ),
    )


def _tls_rule(
    obs: Observations, ctx: RunContext, host: str, port: int, hop: int, dns_checked: bool
) -> Analysis | None:
    attempts = sorted(
        (t for t in obs.tls if t.purpose == "target" and t.sni == host and t.port == port),
        key=lambda t: t.t0,
    )
    if not attempts or any(t.failure is None for t in attempts):
        return None
    first = attempts[0]
    if first.handshake_completed:
        return _certificate_rule(first, ctx, host, hop, dns_checked)
    failure = first.failure or ""
    said = (
        f"TLS handshake with SNI {host} to {first.address}:{port} "
        f"{_WHAT.get(failure, f'failed ({failure})')}"
    )
    here = [
        _Attempt(t.purpose == "innocuous", t.t0, t.handshake_completed, t.failure, t.connected)
        for t in obs.tls
        if t.address == first.address
        and t.port == port
        and (t.purpose == "innocuous" or t.sni == host)
    ]
    innocuous = next((t.sni for t in obs.tls if t.purpose == "innocuous"), "another name")
    return _judge_name(
        said,
        _TLS_FAILURE_BLOCKING.get(failure, "tls.failure"),
        here,
        name="SNI",
        innocuous_success=f"handshakes with SNI {innocuous} to the same address completed",
        hop=hop,
        host=host,
    )


def _certificate_rule(
    tls: TLSObservation, ctx: RunContext, host: str, hop: int, dns_checked: bool
) -> Analysis:
    """A handshake that completed with a certificate that does not verify for ``host``."""
    leaf = tls.chain[0] if tls.chain else None
    issuer = leaf.issuer if leaf else "unknown"
    said = (
        f"the certificate presented for {host} at {tls.address} does not verify "
        f"({tls.failure}); issuer: {issuer}"
    )
    if _interception_issuer(tls) is None:
        return Analysis(
            "anomaly",
            "tls.failure",
            _at_hop(
                f"{said}, which chains to a trusted root: an expired or misissued "
                "certificate of the site itself looks the same",
                hop,
                host,
            ),
        )
    known = next(
        (
            k
            for c in tls.chain
            if (k := fingerprints.interception_issuer(c.issuer))
            or (k := fingerprints.interception_certificate(c.sha256))
        ),
        None,
    )
    if known is not None and dns_checked:
        return Analysis(
            "blocked",
            "tls.mitm",
            _at_hop(f"{said}, a known interception root ({known})", hop, host),
            True,
        )
    if _issuer_key(tls) in ctx.shared_untrusted_issuers and dns_checked:
        return Analysis(
            "blocked",
            "tls.mitm",
            _at_hop(
                f"{said}, which also signs certificates for unrelated targets on other "
                "addresses in this run",
                hop,
                host,
            ),
            True,
        )
    return Analysis("anomaly", "tls.mitm", _at_hop(said, hop, host), True)


_HTTP_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {GENERIC_TIMEOUT: "http.timeout"}


def _http_rule(obs: Observations, exchange: HTTPObservation) -> Analysis | None:
    """``exchange``: the request of its hop that decides (see :func:`_exchange_at`)."""
    host, hop = exchange.host, exchange.hop
    blockpage = blockpage_of(exchange)
    if blockpage is not None:
        return Analysis(
            "blocked",
            "http.blockpage",
            _at_hop(
                f"{exchange.url} answers HTTP {exchange.status} with a blockpage ({blockpage})",
                hop,
                host,
            ),
            True,
        )
    if exchange.status is not None:
        return None
    failure = exchange.failure or "no response"
    blocking = _HTTP_FAILURE_BLOCKING.get(failure, "http.reset")
    said = {
        GENERIC_TIMEOUT: f"the request for {exchange.url} stalled",
        CONNECTION_RESET: f"the request for {exchange.url} was reset",
    }.get(failure, f"the request for {exchange.url} failed ({failure})")
    if exchange.url.startswith("https:"):
        tries = sum(h.purpose == "target" and h.hop == hop for h in obs.http)
        again = f", {tries} times out of {tries}" if tries > 1 else ""
        return Analysis(
            "anomaly", blocking, _at_hop(f"{said} after a valid TLS handshake{again}", hop, host)
        )
    here = [
        _Attempt(h.purpose == "innocuous", h.t0, h.status is not None, h.failure, h.connected)
        for h in obs.http
        if h.address == exchange.address and h.hop == hop and h.purpose in ("target", "innocuous")
    ]
    innocuous = next((h.host for h in obs.http if h.purpose == "innocuous"), "another name")
    return _judge_name(
        said,
        blocking,
        here,
        name="Host",
        innocuous_success=f"the same address {exchange.address} answered requests for "
        f"Host {innocuous}",
        hop=hop,
        host=host,
    )


# Header names too common to say two pages come from the same server (OONI's list).
_COMMON_HEADERS: Final = frozenset(
    {
        "date",
        "content-type",
        "server",
        "cache-control",
        "vary",
        "set-cookie",
        "location",
        "expires",
        "x-powered-by",
        "content-encoding",
        "last-modified",
        "accept-ranges",
        "pragma",
        "x-frame-options",
        "etag",
        "x-content-type-options",
        "age",
        "via",
        "p3p",
        "x-xss-protection",
        "content-language",
        "cf-ray",
        "strict-transport-security",
        "link",
        "x-varnish",
        "content-length",
        "connection",
        "transfer-encoding",
        "keep-alive",
    }
)
_TITLE_WORD: Final = re.compile(r"\w{5,}")


def _http_diff_rule(obs: Observations, final: HTTPObservation) -> Analysis | None:
    """Compare a plain-HTTP page with the site's HTTPS page, the way OONI does."""
    if not final.url.startswith("http:"):
        return None
    control = _control_page(obs)
    twin = (
        control
        if control is not None and control.status is not None
        else next((h for h in obs.http if h.purpose == "https_twin" and h.status is not None), None)
    )
    if twin is None or twin.status is None or not 200 <= twin.status < 300:
        return None
    reference = "the control proxy's page" if twin is control else "the site's HTTPS page"
    if final.status != twin.status:
        reasons = [f"status {final.status} instead of {twin.status}"]
    else:
        body, headers, title = (
            _body_match(final, twin),
            _headers_match(final, twin),
            _title_match(final, twin),
        )
        if body is not False or headers or title:
            return None
        reasons = ["a body of a different length", "different headers", "a different title"]
    return Analysis(
        "anomaly",
        "http.diff",
        _at_hop(
            f"the plain-HTTP page {final.url} differs from {reference} ({', '.join(reasons)})",
            final.hop,
            final.host,
        ),
    )


def _body_match(a: HTTPObservation, b: HTTPObservation) -> bool | None:
    if a.body_truncated or b.body_truncated or not a.body_length or not b.body_length:
        return None
    return min(a.body_length, b.body_length) / max(a.body_length, b.body_length) > 0.7


def _headers_match(a: HTTPObservation, b: HTTPObservation) -> bool:
    names_a, names_b = {n for n, _ in a.headers}, {n for n, _ in b.headers}
    return names_a == names_b or bool((names_a & names_b) - _COMMON_HEADERS)


def _title_match(a: HTTPObservation, b: HTTPObservation) -> bool:
    expected = {w.lower() for w in _TITLE_WORD.findall(b.title or "")}
    if not expected:
        return False
    return expected <= {w.lower() for w in _TITLE_WORD.findall(a.title or "")}


# --- one endpoint (host, port) of the chain ------------------------------------------------


def _analyse_endpoint(
    obs: Observations, ctx: RunContext, host: str, scheme: str, port: int, hop: int
) -> Analysis | None:
    dns = _dns_rule(obs, ctx, host, hop)
    if dns is not None:
        return dns
    local, control = _endpoint_addresses(obs, host)
    attempts = [t for t in obs.tcp if t.address in local and t.port == port and not t.proxied]
    tcp = _tcp_rule(attempts, host, port, hop, control_seen=bool(control))
    if tcp is not None:
        return tcp
    if scheme not in ("https", "tls"):
        return None
    return _tls_rule(obs, ctx, host, port, hop, dns_checked=bool(control))
