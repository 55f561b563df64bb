"""Typed observation records: what each network step tried and what happened.

Every step (DNS query, TCP connect, TLS handshake, HTTP fetch) returns one of
these frozen records. They hold facts only: no judgement about censorship is
made here (that is :mod:`netprobe.analysis`). Times are milliseconds; ``t0`` is
the start of the step relative to the start of the target's measurement.

Failures use OONI's standard failure strings (df-007-errors) so that data can
be joined with OONI's; ``None`` means the step succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CONNECTION_REFUSED",
    "CONNECTION_RESET",
    "DNS_BOGON",
    "DNS_NO_ANSWER",
    "DNS_NXDOMAIN",
    "DNS_REFUSED",
    "DNS_SERVER_MISBEHAVING",
    "DNS_SERVFAIL",
    "EOF_ERROR",
    "GENERIC_TIMEOUT",
    "HOST_UNREACHABLE",
    "NETWORK_UNREACHABLE",
    "PROXY_ERROR",
    "SSL_FAILED_HANDSHAKE",
    "SSL_INVALID_CERTIFICATE",
    "SSL_INVALID_HOSTNAME",
    "SSL_UNKNOWN_AUTHORITY",
    "Certificate",
    "DNSObservation",
    "HTTPObservation",
    "HTTPPurpose",
    "Observations",
    "Role",
    "TCPObservation",
    "TLSObservation",
]

# OONI failure strings (ooni/spec data-formats/df-007-errors.md).
CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
EOF_ERROR = "eof_error"
GENERIC_TIMEOUT = "generic_timeout_error"
HOST_UNREACHABLE = "host_unreachable"
NETWORK_UNREACHABLE = "network_unreachable"
DNS_NXDOMAIN = "dns_nxdomain_error"
DNS_NO_ANSWER = "dns_no_answer"
DNS_REFUSED = "dns_refused_error"
DNS_SERVFAIL = "dns_servfail_error"
DNS_BOGON = "dns_bogon_error"
DNS_SERVER_MISBEHAVING = "dns_server_misbehaving"
SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"
SSL_FAILED_HANDSHAKE = "ssl_failed_handshake"
PROXY_ERROR = "proxy_error"
"""Not OONI's: the control proxy refused to reach the site (followed by its status line)."""

Role = Literal["local", "control"]
HTTPPurpose = Literal[
    "target", "innocuous", "https_twin", "dns_check", "control", "rate", "rate_innocuous"
]
"""``local``: the resolver under test / addresses it returned; ``control``: trusted ones."""


@dataclass(frozen=True, slots=True)
class DNSObservation:
    """One query (one name, one record type) to one resolver."""

    domain: str
    query_type: Literal["A", "AAAA"]
    resolver: str
    """The resolver as a URL-like spec: ``udp://198.18.1.1:53``, ``https://…/dns-query``."""
    role: Role
    t0: float
    duration_ms: float | None
    failure: str | None
    rcode: str | None = None
    """``NOERROR``, ``NXDOMAIN``, ``SERVFAIL``, ``REFUSED``…; None when no reply came."""
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    """The CNAME chain from the queried name to the final name, in order."""
    ttl: int | None = None
    """Smallest TTL among the answer records."""
    late_replies: tuple[tuple[str, ...], ...] = ()
    """Address sets of further, different replies to the same UDP query (injection)."""


@dataclass(frozen=True, slots=True)
class TCPObservation:
    """One TCP connect attempt."""

    address: str
    port: int
    role: Role
    """Which DNS view the address came from (both when they agree: ``local``)."""
    t0: float
    duration_ms: float | None
    failure: str | None
    proxied: bool = False
    """Opened through the control proxy (``address`` is then the name it was asked for):
    the uncensored view of an endpoint."""


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    issuer: str
    sha256: str
    """Hex SHA-256 of the DER encoding."""


@dataclass(frozen=True, slots=True)
class TLSObservation:
    """One TLS handshake over a fresh TCP connection."""

    address: str
    port: int
    sni: str
    purpose: Literal["target", "innocuous"]
    """``innocuous``: the retry with an unrelated SNI that tells SNI filtering apart."""
    t0: float
    duration_ms: float | None
    failure: str | None
    """Handshake or verification failure; ``ssl_*`` strings mean the handshake completed
    but the certificate did not verify for ``sni``."""
    handshake_completed: bool = False
    version: str | None = None
    cipher: str | None = None
    chain: tuple[Certificate, ...] = ()
    """Presented chain, leaf first (recorded even when verification fails)."""
    connected: bool | None = None
    """The TCP connection under the handshake opened (None: not recorded, older reports).
    Tells a handshake that failed from an address that stopped taking connections."""


@dataclass(frozen=True, slots=True)
class HTTPObservation:
    """One HTTP request/response exchange (one hop of a redirect chain)."""

    url: str
    address: str | None
    """The address connected to, when known."""
    host: str
    """The Host header (and SNI for https) sent."""
    purpose: HTTPPurpose
    """``innocuous``: retry with an unrelated Host; ``https_twin``: the https:// version of
    an http:// target, fetched for comparison; ``dns_check``: a plain-HTTP fetch from an
    address the local DNS gave that disagrees with control (does it serve a blockpage?);
    ``control``: the target fetched through the control proxy (the uncensored view);
    ``rate`` and ``rate_innocuous``: the page downloaded again, with the target's name and
    with an unrelated one, to compare their speeds (a first download looked slow)."""
    hop: int
    """0 for the first request; n for the n-th redirect followed."""
    t0: float
    duration_ms: float | None
    failure: str | None
    ttfb_ms: float | None = None
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Response headers, names lower-cased, in order."""
    title: str | None = None
    body_length: int | None = None
    body_sha256: str | None = None
    body_truncated: bool = False
    """The body was longer than the read cap, or its reading was cut by the timeout."""
    location: str | None = None
    """Resolved absolute redirect target for 3xx responses."""
    body_excerpt: bytes | None = None
    """What of the body the blockpage fingerprints look at, kept so that the response can
    be matched again with tomorrow's fingerprints: all of a small page, the start of an
    error page, nothing of a large 2xx page (see ``blockpage_excerpt`` in
    :mod:`netprobe.analysis.fingerprints`)."""
    tls_failure: str | None = None
    """For https hops: the TLS failure that stopped the request, if that was the cause."""
    connected: bool | None = None
    """The TCP connection under the request opened (None: not recorded, older reports)."""
    sni: str | None = None
    """The SNI sent, when it was not ``host`` (a speed comparison with an unrelated SNI)."""
    handshake_ms: float | None = None
    """How long connecting and the TLS handshake under this request took (https)."""
    transfer: tuple[tuple[float, int], ...] = ()
    """The body's download over time: (ms since ``t0``, bytes received so far on the
    wire), one sample per 50 ms at most while the body was read."""


@dataclass(frozen=True, slots=True)
class Observations:
    """Everything measured for one target: the input of :func:`netprobe.analysis.analyse`."""

    url: str
    domain: str
    scheme: Literal["http", "https", "tcp", "tls"]
    """``tcp`` and ``tls`` targets are endpoints: checked up to the connection only."""
    port: int
    dns: tuple[DNSObservation, ...] = ()
    tcp: tuple[TCPObservation, ...] = ()
    tls: tuple[TLSObservation, ...] = ()
    http: tuple[HTTPObservation, ...] = ()
    expected_asns: frozenset[int] = field(default=frozenset())
    """Networks the target's addresses should be in (a service's own AS), if known."""
    deadline_passed: bool = False
    """The target's overall deadline ended its measurement: these are the steps it made."""
    internal_error: str | None = None
    """A bug in netprobe ended the measurement (the exception, in a line): these are the
    steps made before it, and no verdict can be drawn from them."""
