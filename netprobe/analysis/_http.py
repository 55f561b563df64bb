"""The HTTP rules: blockpages, failures, a plain-HTTP page against the site's own."""

from __future__ import annotations

import re
from typing import Final

import netprobe.analysis.fingerprints as fingerprints
from netprobe.analysis._common import at_hop
from netprobe.analysis._control import control_page
from netprobe.analysis._tls import Attempt, judge_name
from netprobe.model.observations import (
    CONNECTION_RESET,
    GENERIC_TIMEOUT,
    HTTPObservation,
    Observations,
)
from netprobe.model.results import (
    Analysis,
    Blocking,
)


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


_HTTP_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {GENERIC_TIMEOUT: "http.timeout"}


def http_rule(obs: Observations, exchange: HTTPObservation) -> Analysis | None:
    """``exchange``: the request of its hop that decides (see :func:`_exchange_at`)."""
    host, hop = exchange.host, exchange.hop
    blockpage = blockpage_of(exchange)
    if blockpage is not None:
        return Analysis(
            "blocked",
            "http.blockpage",
            at_hop(
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
            "anomaly", blocking, at_hop(f"{said} after a valid TLS handshake{again}", hop, host)
        )
    here = [
        Attempt(h.purpose == "innocuous", h.t0, h.status is not None, h.failure, h.connected)
        for h in obs.http
        if h.address == exchange.address and h.hop == hop and h.purpose in ("target", "innocuous")
    ]
    innocuous = next((h.host for h in obs.http if h.purpose == "innocuous"), "another name")
    return judge_name(
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


def http_diff_rule(obs: Observations, final: HTTPObservation) -> Analysis | None:
    """Compare a plain-HTTP page with the site's HTTPS page, the way OONI does."""
    if not final.url.startswith("http:"):
        return None
    control = control_page(obs)
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
        at_hop(
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
