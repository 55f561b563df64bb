"""One target's verdict: its steps judged in order, hop by hop along the redirect chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from netprobe._defaults import MAX_REDIRECTS
from netprobe.analysis._common import at_hop
from netprobe.analysis._control import with_control
from netprobe.analysis._dns import dns_rule
from netprobe.analysis._http import http_diff_rule, http_rule
from netprobe.analysis._tcp import endpoint_addresses, tcp_rule
from netprobe.analysis._throttle import slow_path_note, throttle_rule
from netprobe.analysis._tls import tls_rule
from netprobe.model.addresses import url_endpoint
from netprobe.model.observations import (
    HTTPObservation,
    Observations,
)
from netprobe.model.results import (
    Analysis,
    RunContext,
)

__all__ = ["TOO_MANY_REDIRECTS", "analyse"]


TOO_MANY_REDIRECTS: Final = "unknown_failure: stopped after too many redirects"
"""OONI's failure string (webconnectivitylte) for a chain that never ends in a page."""


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
        found = with_control(obs, local or _reachable(obs))
    else:
        found = with_control(obs, _analyse_chain(obs, ctx))
    if obs.deadline_passed:
        said = f"{found.evidence}; " if found.evidence else ""
        return replace(found, evidence=f"{said}the target's deadline ended its measurement")
    return found


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
            return Analysis("error", evidence=at_hop("no HTTP request was made", hop, host))
        outcome = http_rule(obs, exchange)
        if outcome is not None:
            return outcome
        visited.append(exchange.url)
        following = _redirect_target(exchange)
        if following is None:
            found = http_diff_rule(obs, exchange) or throttle_rule(obs.http, exchange)
            return found or _accessible(exchange, slow_path_note(obs.http, exchange))
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


def _accessible(final: HTTPObservation, note: str | None = None) -> Analysis:
    where = f" from {final.address}" if final.address else ""
    said = f"HTTP {final.status}{where} for {final.url}"
    return Analysis("accessible", evidence=f"{said}; {note}" if note else said)


def _analyse_endpoint(
    obs: Observations, ctx: RunContext, host: str, scheme: str, port: int, hop: int
) -> Analysis | None:
    dns = dns_rule(obs, ctx, host, hop)
    if dns is not None:
        return dns
    local, control = endpoint_addresses(obs, host)
    attempts = [t for t in obs.tcp if t.address in local and t.port == port and not t.proxied]
    tcp = tcp_rule(attempts, host, port, hop, control_seen=bool(control))
    if tcp is not None:
        return tcp
    if scheme not in ("https", "tls"):
        return None
    return tls_rule(obs, ctx, host, port, hop, dns_checked=bool(control))
