"""Run-wide facts drawn from all targets' observations: is the network up at all, which
untrusted issuers turn up on unrelated sites."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Final

from netprobe.model.observations import (
    GENERIC_TIMEOUT,
    HOST_UNREACHABLE,
    NETWORK_UNREACHABLE,
    SSL_UNKNOWN_AUTHORITY,
    Observations,
    TLSObservation,
)

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


def untrusted_issuer(tls: TLSObservation) -> str | None:
    """The issuer that may be an interception root: a completed handshake whose chain
    reaches no trusted root. A trusted CA's expired or wrong-name certificate is a
    broken site, never interception."""
    if tls.purpose != "target" or not tls.handshake_completed or not tls.chain:
        return None
    if tls.failure != SSL_UNKNOWN_AUTHORITY:
        return None
    return tls.chain[0].issuer


def issuer_key(tls: TLSObservation) -> str:
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
            if untrusted_issuer(tls) is not None:
                key = issuer_key(tls)
                domains[key].add(registrable_domain(tls.sni))
                addresses[key].add(tls.address)
    return frozenset(k for k in domains if len(domains[k]) >= 2 and len(addresses[k]) >= 2)
