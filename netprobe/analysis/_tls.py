"""The TLS rules: the target's name against an innocuous one, certificates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import netprobe.analysis.fingerprints as fingerprints
from netprobe.analysis._common import CONFIRMING_ATTEMPTS, at_hop, attempts_needed
from netprobe.analysis._run import issuer_key, untrusted_issuer
from netprobe.model.observations import (
    CONNECTION_RESET,
    GENERIC_TIMEOUT,
    Observations,
    TLSObservation,
)
from netprobe.model.results import (
    Analysis,
    Blocking,
    RunContext,
)

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
class Attempt:
    """One try of a step, with the target's name or the innocuous one, on one address."""

    innocuous: bool
    t0: float
    succeeded: bool
    failure: str | None
    connected: bool | None


def judge_name(
    said: str,
    blocking: Blocking,
    attempts: Sequence[Attempt],
    *,
    name: str,
    innocuous_success: str,
    hop: int,
    host: str,
) -> Analysis:
    """A step that failed with the target's name, judged by the attempts that followed on
    the same address, in time order: innocuous name first, then the two alternating.

    ``blocked`` only when every attempt with the name failed the same way (at least
    :func:`attempts_needed` of them: more for a stall) and every innocuous one in between
    succeeded.
    """
    ordered = sorted(attempts, key=lambda a: a.t0)
    named = [a for a in ordered if not a.innocuous]
    innocuous = [a for a in ordered if a.innocuous]
    first = named[0]
    alternating = all(a.innocuous == (i % 2 == 1) for i, a in enumerate(ordered))
    same = all(a.failure == first.failure for a in named)
    needed = attempts_needed(first.failure)
    if not innocuous:
        return Analysis(
            "anomaly",
            blocking,
            at_hop(f"{said}; could not confirm that the {name} is targeted", hop, host),
        )
    if all(a.succeeded for a in innocuous):
        if alternating and same and len(named) >= needed:
            return Analysis(
                "blocked",
                blocking,
                at_hop(
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
            at_hop(
                f"{said}; {innocuous_success}, but the failure was not repeated "
                f"{needed} times: could be chance",
                hop,
                host,
            ),
        )
    after = innocuous[0]
    if first.connected and after.connected is False:
        return Analysis(
            "anomaly",
            blocking,
            at_hop(
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
            at_hop(
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
        at_hop(
            f"{said}; the attempt with an innocuous {name} failed too ({after.failure}): "
            f"could not confirm that the {name} is targeted",
            hop,
            host,
        ),
    )


def tls_rule(
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
        Attempt(t.purpose == "innocuous", t.t0, t.handshake_completed, t.failure, t.connected)
        for t in obs.tls
        if t.address == first.address
        and t.port == port
        and (t.purpose == "innocuous" or t.sni == host)
    ]
    innocuous = next((t.sni for t in obs.tls if t.purpose == "innocuous"), "another name")
    return judge_name(
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
    if untrusted_issuer(tls) is None:
        return Analysis(
            "anomaly",
            "tls.failure",
            at_hop(
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
            at_hop(f"{said}, a known interception root ({known})", hop, host),
            True,
        )
    if issuer_key(tls) in ctx.shared_untrusted_issuers and dns_checked:
        return Analysis(
            "blocked",
            "tls.mitm",
            at_hop(
                f"{said}, which also signs certificates for unrelated targets on other "
                "addresses in this run",
                hop,
                host,
            ),
            True,
        )
    return Analysis("anomaly", "tls.mitm", at_hop(said, hop, host), True)
