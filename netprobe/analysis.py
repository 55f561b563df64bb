"""Analysis: a pure function from one target's observations to a verdict.

Nothing here touches the network. :func:`analyse` walks the steps in the order
they happen (DNS → TCP → TLS → HTTP) for each hop of the redirect chain; the first
step that shows interference names the blocking. Run-wide facts (is this network
up at all, which untrusted certificate issuers turned up on several unrelated
targets, the ASN of an address) come in through :class:`RunContext`.

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
tls.reset          handshake reset with the target's SNI, completes with    blocked [1]
                   an innocuous SNI on the same address
tls.timeout        handshake stalls with the SNI, completes without it      blocked [1]
tls.failure        handshake fails otherwise, completes without it          blocked [1]
tls.mitm           certificate does not verify on an address DNS and        blocked [2]
                   control agree on
http.reset         request reset/closed, the same address answers an        blocked [1]
                   innocuous Host
http.timeout       request stalls, the same address answers an innocuous    blocked [1]
                   Host
http.blockpage     the response matches a blockpage fingerprint             blocked
http.diff          plain-HTTP page differs from the site's HTTPS page       anomaly
=================  =======================================================  ===========

[1] ``anomaly`` when the innocuous retry could not confirm that the name is targeted.
[2] when the issuer is a known interception root or signs certificates for unrelated
    targets in the same run; otherwise ``anomaly`` (a misconfigured site looks the same).
[3] ``blocked`` when a second reply to the same UDP query agrees with control: the first
    was forged by an injector racing the resolver.

``site_down`` is given when the control view fails the same way (the name does
not exist at the control resolver either); ``network_down`` when the run found
that nothing answers from this network at all.

With a control proxy (a fetch of the target from the uncensored side), OONI's
control rules apply on top: a failure seen only locally is ``blocked`` whatever
its type (a connect timeout becomes conclusive); seen through the proxy too, it
is ``site_down``; a plain-HTTP page is compared with the control page.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from netprobe import fingerprints
from netprobe.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVFAIL,
    GENERIC_TIMEOUT,
    HOST_UNREACHABLE,
    NETWORK_UNREACHABLE,
    SSL_FAILED_HANDSHAKE,
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)

__all__ = [
    "BLOCKINGS",
    "VERDICTS",
    "Analysis",
    "Blocking",
    "PartAnalysis",
    "RunContext",
    "ServiceAnalysis",
    "Verdict",
    "analyse",
    "analyse_service",
    "anything_answered",
    "is_address",
    "is_bogon",
    "network_is_down",
    "registrable_domain",
    "shared_untrusted_issuers",
    "url_endpoint",
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
    "http.reset",
    "http.timeout",
    "http.blockpage",
    "http.diff",
]
VERDICTS: Final[tuple[Verdict, ...]] = get_args(Verdict)
BLOCKINGS: Final[tuple[Blocking, ...]] = get_args(Blocking)


@dataclass(frozen=True, slots=True)
class Analysis:
    verdict: Verdict
    blocking: Blocking | None = None
    evidence: str | None = None
    """A sentence a person can read, naming what was seen (and the hop, past the first)."""


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


# IANA special-purpose ranges. 198.18.0.0/15 is left out on purpose: test beds use it
# to emulate the internet, and an answer there still fails the consistency check.
_BOGON_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "2001:db8::/32",
    )
)


def is_bogon(address: str) -> bool:
    """Whether ``address`` is in an IANA special-purpose range (unparseable counts as bogon)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _BOGON_NETWORKS)


_SECOND_LEVEL_LABELS: Final = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "or"})


def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def registrable_domain(domain: str) -> str:
    """An approximation of the registrable domain, good enough to tell unrelated sites apart."""
    labels = domain.lower().rstrip(".").split(".")
    keep = (
        3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL_LABELS else 2
    )
    return ".".join(labels[-keep:])


_NO_REPLY_FAILURES: Final = frozenset({GENERIC_TIMEOUT, HOST_UNREACHABLE, NETWORK_UNREACHABLE})


def network_is_down(results: Iterable[Observations]) -> bool:
    """True when nothing at all answered: no DNS reply, no TCP peer, from any target.

    A reset or a refusal is an answer (something on the path is alive), so only
    silence and unreachability count as "down".
    """
    measured = False
    for obs in results:
        failures = [d.failure for d in obs.dns] + [t.failure for t in obs.tcp]
        measured = measured or bool(failures)
        if anything_answered(failures):
            return False
    return measured


def anything_answered(failures: Iterable[str | None]) -> bool:
    """Whether any of these steps got an answer: success, or a reset or refusal (something
    on the path is alive), as opposed to silence or unreachability."""
    return any(f not in _NO_REPLY_FAILURES for f in failures)


def _untrusted_issuer(tls: TLSObservation) -> str | None:
    if tls.purpose != "target" or not tls.handshake_completed or not tls.chain:
        return None
    if tls.failure is None or not tls.failure.startswith("ssl_"):
        return None
    if tls.failure == SSL_FAILED_HANDSHAKE:
        return None
    return tls.chain[0].issuer


def shared_untrusted_issuers(results: Iterable[Observations]) -> frozenset[str]:
    """Issuers of certificates that fail verification on two or more unrelated targets."""
    sites: defaultdict[str, set[str]] = defaultdict(set)
    for obs in results:
        for tls in obs.tls:
            issuer = _untrusted_issuer(tls)
            if issuer is not None:
                sites[issuer].add(registrable_domain(tls.sni))
    return frozenset(issuer for issuer, domains in sites.items() if len(domains) >= 2)


def analyse(obs: Observations, ctx: RunContext | None = None) -> Analysis:
    """Classify one target from its observations. Never raises on well-typed input."""
    ctx = ctx or RunContext()
    if ctx.network_down:
        return Analysis(
            "network_down",
            evidence="nothing answered from this network: no resolver reply, no TCP peer",
        )
    if not (obs.dns or obs.tcp):
        return Analysis("error", evidence="no measurement was made for this target")
    if obs.scheme in ("tcp", "tls"):
        local = _analyse_endpoint(obs, ctx, obs.domain, obs.scheme, obs.port, 0)
        return _with_control(obs, local or _reachable(obs))
    return _with_control(obs, _analyse_chain(obs, ctx))


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
    """OONI's control rules: a failure seen only here is blocking; seen through the control
    proxy too, the site is down."""
    view = _control_view(obs)
    if view is None or local.verdict not in _FAILED or local.blocking == "http.diff":
        return local
    failure, seen = view
    if failure is None:
        return Analysis("blocked", local.blocking, f"{local.evidence}; the control proxy {seen}")
    return Analysis(
        "site_down", None, f"{local.evidence}; it fails through the control proxy too ({failure})"
    )


def _analyse_chain(obs: Observations, ctx: RunContext) -> Analysis:
    """The local view of a web target: each hop of its redirect chain, step by step."""
    targets = sorted((h for h in obs.http if h.purpose == "target"), key=lambda h: h.hop)
    host, scheme, port = obs.domain, obs.scheme, obs.port
    hop = 0
    while True:
        found = _analyse_endpoint(obs, ctx, host, scheme, port, hop)
        if found is not None:
            return found
        exchange = next((h for h in targets if h.hop == hop), None)
        if exchange is None:
            return Analysis("error", evidence=_at_hop("no HTTP request was made", hop, host))
        outcome = _http_rule(obs, exchange, targets)
        if outcome is not None:
            return outcome
        following = next((h for h in targets if h.hop == hop + 1), None)
        if following is None:
            return _http_diff_rule(obs, exchange) or _accessible(exchange)
        host, scheme, port = _endpoint_of(following)
        hop += 1


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


def _endpoint_of(exchange: HTTPObservation) -> tuple[str, Literal["http", "https"], int]:
    scheme, _, port = url_endpoint(exchange.url)
    return exchange.host, scheme, port


def url_endpoint(url: str) -> tuple[Literal["http", "https"], str, int]:
    """Scheme, host (A-label, no trailing dot) and port of a web URL; a port that does not
    parse (a hostile redirect may carry one) counts as the scheme's default."""
    parts = urlsplit(url)
    scheme: Literal["http", "https"] = "https" if parts.scheme.lower() == "https" else "http"
    host = (parts.hostname or "").rstrip(".")
    if not host.isascii():
        # Left as it is when it is no valid IDN: resolving it will fail and say so.
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, host, port or (443 if scheme == "https" else 80)


def _at_hop(sentence: str, hop: int, host: str) -> str:
    return sentence if hop == 0 else f"{sentence} (redirect hop {hop}, {host})"


def _accessible(final: HTTPObservation) -> Analysis:
    where = f" from {final.address}" if final.address else ""
    return Analysis("accessible", evidence=f"HTTP {final.status}{where} for {final.url}")


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


_FAILED: Final = ("blocked", "anomaly")


def analyse_service(parts: Sequence[tuple[str, Sequence[Analysis]]]) -> ServiceAnalysis:
    """Judge a service by its parts: ``(part name, its endpoints' analyses)`` each.

    A part works when any of its endpoints is accessible (an app falls back from one
    port or host to the next); it fails when its endpoints fail (``blocked`` if one of
    them is). The service is ``blocked`` when parts fail and none works, an ``anomaly``
    (partly blocked) when some fail and some work, ``accessible`` when none fails. Parts
    that cannot be judged (down at the control view too, local errors) count for neither.
    Its blocking is the commonest among the failed endpoints.
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
    if not working:
        said = f"no part works: {listed}{more} fail{aside}"
        return ServiceAnalysis("blocked", blocking, said, judged)
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
    replied: bool
    """At least one reply (any rcode) came back from a resolver of this role."""
    failure: str | None
    """The failure of the A query (or of the first query) when there are no addresses."""

    @classmethod
    def of(cls, queries: Sequence[DNSObservation]) -> _DNSView:
        addresses = frozenset(a for q in queries for a in q.addresses)
        replied = any(q.rcode is not None for q in queries)
        ordered = sorted(queries, key=lambda q: q.query_type != "A")
        failure = None if addresses or not ordered else ordered[0].failure
        nxdomain = any(q.failure == DNS_NXDOMAIN for q in queries)
        return cls(addresses, replied, DNS_NXDOMAIN if nxdomain and not addresses else failure)


_DNS_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {
    DNS_NXDOMAIN: "dns.nxdomain",
    GENERIC_TIMEOUT: "dns.timeout",
    DNS_SERVFAIL: "dns.servfail",
    DNS_REFUSED: "dns.refused",
}


def _dns_rule(obs: Observations, ctx: RunContext, host: str, hop: int) -> Analysis | None:
    queries = [d for d in obs.dns if d.domain == host]
    if not queries:
        return None
    local = _DNSView.of([d for d in queries if d.role == "local"])
    control = _DNSView.of([d for d in queries if d.role == "control"])
    if not local.addresses:
        return _local_dns_failure(local, control, host, hop)
    if control.replied and not control.addresses:
        return Analysis(
            "site_down",
            evidence=_at_hop(
                f"the control resolver has no address for {host} ({control.failure})", hop, host
            ),
        )
    if not control.addresses:
        bogons = sorted(a for a in local.addresses if is_bogon(a))
        if bogons:
            return Analysis(
                "anomaly",
                "dns.bogon",
                _at_hop(
                    f"the resolver under test answers {host} with the bogon "
                    f"{', '.join(bogons)}; no control answer to compare",
                    hop,
                    host,
                ),
            )
        return None
    if all(is_bogon(a) for a in local.addresses | control.addresses):
        return Analysis(
            "site_down",
            evidence=_at_hop(
                f"{host} resolves to the bogon {', '.join(sorted(control.addresses))} "
                "at the control resolver too",
                hop,
                host,
            ),
        )
    outside = _outside_expected_networks(obs, ctx, host, local.addresses)
    if outside is not None:
        return Analysis("anomaly", "dns.inconsistent", _at_hop(outside, hop, host))
    if _consistent(obs, ctx, host, local.addresses, control.addresses):
        return None
    return _inconsistent_dns(obs, local.addresses, control.addresses, host, hop)


def _local_dns_failure(local: _DNSView, control: _DNSView, host: str, hop: int) -> Analysis:
    failure = local.failure or "no address"
    if control.replied and not control.addresses:
        return Analysis(
            "site_down",
            evidence=_at_hop(
                f"{host} fails at the control resolver too "
                f"(local: {failure}; control: {control.failure})",
                hop,
                host,
            ),
        )
    blocking = _DNS_FAILURE_BLOCKING.get(failure, "dns.inconsistent")
    if not control.addresses:
        return Analysis(
            "anomaly",
            blocking,
            _at_hop(
                f"the resolver under test fails for {host} ({failure}); "
                "no control answer to compare",
                hop,
                host,
            ),
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
    )


def _outside_expected_networks(
    obs: Observations, ctx: RunContext, host: str, local: frozenset[str]
) -> str | None:
    """Evidence when every local answer is known to lie outside the service's own networks."""
    if not obs.expected_asns or host != obs.domain or any(is_bogon(a) for a in local):
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


def _consistent(
    obs: Observations,
    ctx: RunContext,
    host: str,
    local: frozenset[str],
    control: frozenset[str],
) -> bool:
    if local & control:
        return True
    local_asns = {ctx.asn_of(a) for a in local} - {None, 0}
    control_asns = {ctx.asn_of(a) for a in control} - {None, 0}
    if local_asns & control_asns:
        return True
    return any(
        t.purpose == "target"
        and t.sni == host
        and t.address in local
        and t.failure is None
        and t.handshake_completed
        for t in obs.tls
    )


def _inconsistent_dns(
    obs: Observations, local: frozenset[str], control: frozenset[str], host: str, hop: int
) -> Analysis:
    answered = ", ".join(sorted(local)[:3])
    expected = ", ".join(sorted(control)[:3])
    bogons = sorted(a for a in local if is_bogon(a))
    if bogons:
        return Analysis(
            "blocked",
            "dns.bogon",
            _at_hop(
                f"the resolver under test answers {host} with the bogon {', '.join(bogons)}; "
                f"the control resolver answers {expected}",
                hop,
                host,
            ),
        )
    for address in sorted(local):
        known = fingerprints.blockpage_for_address(address)
        if known is not None:
            return Analysis(
                "blocked",
                "dns.blockpage",
                _at_hop(
                    f"the resolver under test answers {host} with {address}, a known "
                    f"blockpage address ({known}); control answers {expected}",
                    hop,
                    host,
                ),
            )
    served = next(
        (h for h in obs.http if h.address in local and h.host == host and h.blockpage), None
    )
    if served is not None:
        return Analysis(
            "blocked",
            "dns.blockpage",
            _at_hop(
                f"the resolver under test answers {host} with {served.address}, which "
                f"serves a blockpage ({served.blockpage}); control answers {expected}",
                hop,
                host,
            ),
        )
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
    attempts: Sequence[TCPObservation], host: str, port: int, hop: int
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
    where = ", ".join(f"{t.address}:{port}" for t in attempts[:3])
    return Analysis(
        "anomaly",
        blocking,
        _at_hop(
            f"TCP connect to {where} failed ({', '.join(failures)})"
            + ("" if is_address(host) else f" although DNS for {host} agrees with control"),
            hop,
            host,
        ),
    )


# --- TLS ---------------------------------------------------------------------------------

_TLS_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {
    CONNECTION_RESET: "tls.reset",
    GENERIC_TIMEOUT: "tls.timeout",
}
_ADDRESS_LEVEL: Final[dict[str, Blocking]] = {
    CONNECTION_RESET: "tcp.reset",
    GENERIC_TIMEOUT: "tcp.timeout",
}


def _tls_rule(
    obs: Observations, ctx: RunContext, host: str, port: int, hop: int, dns_checked: bool
) -> Analysis | None:
    attempts = [t for t in obs.tls if t.purpose == "target" and t.sni == host and t.port == port]
    if not attempts or any(t.failure is None for t in attempts):
        return None
    first = attempts[0]
    if _untrusted_issuer(first) is not None:
        return _mitm_rule(first, ctx, host, hop, dns_checked)
    failure = first.failure or ""
    retry = next(
        (
            t
            for t in obs.tls
            if t.purpose == "innocuous" and t.address == first.address and t.port == port
        ),
        None,
    )
    what = {CONNECTION_RESET: "reset", GENERIC_TIMEOUT: "stalled"}.get(
        failure, f"failed ({failure})"
    )
    said = f"TLS handshake with SNI {host} to {first.address}:{port} {what}"
    return _judge_retry(
        said,
        failure,
        _TLS_FAILURE_BLOCKING.get(failure, "tls.failure"),
        retry=None
        if retry is None
        else _Retry(
            retry.handshake_completed,
            retry.failure,
            f"the same address completes a handshake with SNI {retry.sni}",
            f"a handshake with SNI {retry.sni}",
        ),
        name="SNI",
        hop=hop,
        host=host,
    )


@dataclass(frozen=True, slots=True)
class _Retry:
    """The same step repeated with an innocuous name (SNI or Host), to the same address."""

    succeeded: bool
    failure: str | None
    success: str
    """What the retry achieved, as a clause of the evidence."""
    attempt: str
    """What the retry was, as the subject of a clause."""


def _judge_retry(
    said: str,
    failure: str,
    blocking: Blocking,
    *,
    retry: _Retry | None,
    name: str,
    hop: int,
    host: str,
) -> Analysis:
    """A failed step, judged by its innocuous retry: targeted at the name (blocked), at the
    address (failing the same way whatever the name), or unconfirmed."""
    if retry is not None and retry.succeeded:
        return Analysis("blocked", blocking, _at_hop(f"{said}; {retry.success}", hop, host))
    if retry is not None and retry.failure == failure and failure in _ADDRESS_LEVEL:
        return Analysis(
            "anomaly",
            _ADDRESS_LEVEL[failure],
            _at_hop(
                f"{said}, and so did {retry.attempt}: the address itself is unreachable "
                "past the TCP handshake",
                hop,
                host,
            ),
        )
    return Analysis(
        "anomaly",
        blocking,
        _at_hop(f"{said}; could not confirm that the {name} is targeted", hop, host),
    )


def _mitm_rule(
    tls: TLSObservation, ctx: RunContext, host: str, hop: int, dns_checked: bool
) -> Analysis:
    issuer = tls.chain[0].issuer
    said = (
        f"the certificate presented for {host} at {tls.address} does not verify "
        f"({tls.failure}); issuer: {issuer}"
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
        )
    if issuer in ctx.shared_untrusted_issuers and dns_checked:
        return Analysis(
            "blocked",
            "tls.mitm",
            _at_hop(
                f"{said}, which also signs certificates for unrelated targets in this run",
                hop,
                host,
            ),
        )
    return Analysis("anomaly", "tls.mitm", _at_hop(said, hop, host))


# --- HTTP --------------------------------------------------------------------------------

_HTTP_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {GENERIC_TIMEOUT: "http.timeout"}


def _http_rule(
    obs: Observations, exchange: HTTPObservation, chain: Sequence[HTTPObservation]
) -> Analysis | None:
    host, hop = exchange.host, exchange.hop
    if exchange.blockpage is not None:
        return Analysis(
            "blocked",
            "http.blockpage",
            _at_hop(
                f"{exchange.url} answers HTTP {exchange.status} with a blockpage "
                f"({exchange.blockpage})",
                hop,
                host,
            ),
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
        return Analysis(
            "anomaly", blocking, _at_hop(f"{said} after a valid TLS handshake", hop, host)
        )
    retry = next(
        (
            h
            for h in obs.http
            if h.purpose == "innocuous" and h.hop == hop and h.address == exchange.address
        ),
        None,
    )
    return _judge_retry(
        said,
        failure,
        blocking,
        retry=None
        if retry is None
        else _Retry(
            retry.status is not None,
            retry.failure,
            f"the same address {exchange.address} answers HTTP {retry.status} "
            f"for Host {retry.host}",
            f"a request with Host {retry.host}",
        ),
        name="Host",
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
    tcp = _tcp_rule(attempts, host, port, hop)
    if tcp is not None:
        return tcp
    if scheme not in ("https", "tls"):
        return None
    return _tls_rule(obs, ctx, host, port, hop, dns_checked=bool(control))
