"""The analysis rules, one table row per rule: observations in, verdict out."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netprobe import analysis
from netprobe.analysis import (
    TOO_MANY_REDIRECTS,
    analyse,
    analyse_service,
    network_is_down,
    registrable_domain,
    shared_untrusted_issuers,
)
from netprobe.analysis._common import attempts_needed
from netprobe.analysis._throttle import looks_slow, plateau, transfer_rate
from netprobe.model.addresses import is_bogon, parse_networks
from netprobe.model.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    DNS_REFUSED,
    DNS_SERVFAIL,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    SSL_FAILED_HANDSHAKE,
    SSL_INVALID_CERTIFICATE,
    SSL_INVALID_HOSTNAME,
    SSL_UNKNOWN_AUTHORITY,
    Certificate,
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import BLOCKINGS, VERDICTS, Analysis, RunContext
from tests.unit import strategies
from tests.unit.strategies import (
    BLOCKPAGE,
    IP,
    OTHER_IP,
    SITE,
    bursty,
    congested,
    policed,
    stepped,
)

MITM_ISSUER = "CN=Interception CA"
KNOWN_ROOT = "CN=Known State Root,O=State"


@pytest.fixture(autouse=True)
def _fingerprint_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Analysis reads two lookups from the fingerprint data; pin them for the table."""
    monkeypatch.setattr(
        analysis.fingerprints,
        "blockpage_for_address",
        lambda a: "xx.dns.sinkhole" if a == "89.222.160.10" else None,
    )
    monkeypatch.setattr(
        analysis.fingerprints,
        "interception_issuer",
        lambda i: "kz.qaznet" if i == KNOWN_ROOT else None,
    )
    monkeypatch.setattr(analysis.fingerprints, "interception_certificate", lambda _sha: None)


def dns(
    role: str = "local",
    addresses: tuple[str, ...] = (IP,),
    failure: str | None = None,
    rcode: str | None = "NOERROR",
    domain: str = SITE,
) -> DNSObservation:
    return DNSObservation(
        domain=domain,
        query_type="A",
        resolver="udp://198.18.1.1:53" if role == "local" else "udp://198.19.0.53:53",
        role=role,  # type: ignore[arg-type]
        t0=0.0,
        duration_ms=5.0,
        failure=failure,
        rcode=rcode,
        addresses=addresses,
        ttl=300,
    )


def tcp(address: str = IP, failure: str | None = None, port: int = 443) -> TCPObservation:
    return TCPObservation(address, port, "local", 5.0, 3.0, failure)


def tls(
    failure: str | None = None,
    purpose: str = "target",
    completed: bool | None = None,
    issuer: str = "CN=Test CA",
    sni: str = SITE,
    address: str = IP,
    port: int = 443,
    t0: float = 8.0,
    connected: bool | None = True,
) -> TLSObservation:
    done = failure is None or failure.startswith("ssl_") if completed is None else completed
    return TLSObservation(
        address=address,
        port=port,
        sni=sni if purpose == "target" else "example.org",
        purpose=purpose,  # type: ignore[arg-type]
        t0=t0,
        duration_ms=10.0,
        failure=failure,
        handshake_completed=done,
        connected=connected,
        chain=(Certificate(f"CN={sni}", issuer, "0" * 64),) if done else (),
    )


def tls_pattern(
    failure: str, *, named: int | None = None, address: str = IP
) -> tuple[TLSObservation, ...]:
    """The target's SNI failing ``named`` times (as many as make it conclusive, unless
    said), an innocuous SNI completing in between."""
    named = named or attempts_needed(failure)
    steps = []
    for i in range(2 * named - 1):
        innocuous = i % 2 == 1
        steps.append(
            tls(None, purpose="innocuous", address=address, t0=10.0 * i)
            if innocuous
            else tls(failure, completed=False, address=address, t0=10.0 * i)
        )
    return tuple(steps)


def http_pattern(
    failure: str,
    *,
    url: str = f"http://{SITE}/",
    host: str = SITE,
    hop: int = 0,
    address: str = IP,
    named: int | None = None,
) -> tuple[HTTPObservation, ...]:
    """Plain-HTTP requests with the target's Host failing ``named`` times (as many as make
    it conclusive, unless said), an innocuous Host answering in between."""
    steps = []
    for i in range(2 * (named or attempts_needed(failure)) - 1):
        if i % 2:
            steps.append(
                replace(
                    http(
                        url="http://example.org/",
                        host="example.org",
                        purpose="innocuous",
                        hop=hop,
                        address=address,
                    ),
                    t0=10.0 * i,
                    connected=True,
                )
            )
        else:
            steps.append(
                replace(
                    http(
                        url=url, host=host, hop=hop, address=address, status=None, failure=failure
                    ),
                    t0=10.0 * i,
                    connected=True,
                )
            )
    return tuple(steps)  # fmt: skip


def http(
    url: str = f"https://{SITE}/",
    status: int | None = 200,
    failure: str | None = None,
    purpose: str = "target",
    hop: int = 0,
    host: str = SITE,
    address: str | None = IP,
    excerpt: bytes | None = None,
    location: str | None = None,
    title: str = "Example Domain News",
    body_length: int | None = None,
    headers: tuple[tuple[str, str], ...] = (("content-type", "text/html"), ("x-site", "1")),
    transfer: tuple[tuple[float, int], ...] = (),
    handshake_ms: float | None = None,
    sni: str | None = None,
) -> HTTPObservation:
    """An exchange; with an ``excerpt``, the body is that excerpt (all of a small page)."""
    if body_length is None:
        body_length = len(excerpt) if excerpt is not None else 10_000
    return HTTPObservation(
        url=url,
        address=address,
        host=host,
        purpose=purpose,  # type: ignore[arg-type]
        hop=hop,
        t0=20.0,
        duration_ms=30.0,
        failure=failure,
        ttfb_ms=25.0 if status else None,
        status=status,
        headers=headers if status else (),
        title=title if status else None,
        body_length=body_length if status else None,
        location=location,
        body_excerpt=excerpt,
        transfer=transfer,
        handshake_ms=handshake_ms,
        sni=sni,
    )


download = policed


def speed_samples(
    mine: tuple[tuple[float, int], ...],
    theirs: tuple[tuple[float, int], ...],
    *,
    url: str = f"https://{SITE}/",
    attempts: int = 2,
) -> list[HTTPObservation]:
    """The speed samples the runner takes after a slow first download: the unrelated name
    first, then the page's own, ``attempts`` times."""
    secure = url.startswith("https:")
    other = {"sni": "example.org"} if secure else {"host": "example.org"}
    found = []
    for _ in range(attempts):
        found.append(http(url=url, purpose="rate_innocuous", transfer=theirs, **other))
        found.append(http(url=url, purpose="rate", transfer=mine))
    return found


def target(
    *steps: object, scheme: str = "https", port: int | None = None, control: bool = True
) -> Observations:
    """A target's observations; a control DNS answer agreeing with IP is added by default."""
    all_dns = [s for s in steps if isinstance(s, DNSObservation)]
    if control and not any(d.role == "control" for d in all_dns):
        all_dns.append(dns("control"))
    return Observations(
        url=f"{scheme}://{SITE}/",
        domain=SITE,
        scheme=scheme,  # type: ignore[arg-type]
        port=port or (80 if scheme == "http" else 443),
        dns=tuple(all_dns),
        tcp=tuple(s for s in steps if isinstance(s, TCPObservation)),
        tls=tuple(s for s in steps if isinstance(s, TLSObservation)),
        http=tuple(s for s in steps if isinstance(s, HTTPObservation)),
    )


HTTP_URL = f"http://{SITE}/"
CLEAN = (dns(), tcp(), tls(), http())

DEST = "blocked.example.net"
DEST_URL = f"https://{DEST}/"


def redirect_to(location: str, *after: object, status: int = 308) -> Observations:
    """A clean first hop that redirects to ``location``, then what happened after it."""
    return target(dns(), tcp(), tls(), http(status=status, location=location), *after)


def hop(n: int, location: str | None, status: int = 302) -> HTTPObservation:
    return http(url=f"https://{SITE}/r/{n}", status=status, location=location, hop=n)


# A redirect chain stops at a hop; that hop's failure names the verdict.
REDIRECT_RULES: list[tuple[str, Observations, RunContext, str, str | None]] = [
    (
        "redirect to a name the resolver under test says does not exist",
        redirect_to(
            DEST_URL,
            dns(domain=DEST, addresses=(), failure=DNS_NXDOMAIN, rcode="NXDOMAIN"),
            dns("control", domain=DEST, addresses=(OTHER_IP,)),
        ),
        RunContext(),
        "blocked",
        "dns.nxdomain",
    ),
    (
        "redirect to a site whose handshake is reset on its SNI",
        redirect_to(
            DEST_URL,
            dns(domain=DEST, addresses=(OTHER_IP,)),
            dns("control", domain=DEST, addresses=(OTHER_IP,)),
            tcp(OTHER_IP),
            *(
                replace(t, sni=DEST) if t.purpose == "target" else t
                for t in tls_pattern(CONNECTION_RESET, address=OTHER_IP)
            ),
        ),
        RunContext(),
        "blocked",
        "tls.reset",
    ),
    (
        "redirect to a site whose SYN gets a RST",
        redirect_to(
            DEST_URL,
            dns(domain=DEST, addresses=(OTHER_IP,)),
            dns("control", domain=DEST, addresses=(OTHER_IP,)),
            tcp(OTHER_IP, failure=CONNECTION_REFUSED),
            status=301,
        ),
        RunContext(),
        "anomaly",
        "tcp.refused",
    ),
    (
        "redirect (303) to a clean site",
        redirect_to(
            DEST_URL,
            dns(domain=DEST, addresses=(OTHER_IP,)),
            dns("control", domain=DEST, addresses=(OTHER_IP,)),
            tcp(OTHER_IP),
            tls(sni=DEST, address=OTHER_IP),
            http(url=DEST_URL, host=DEST, address=OTHER_IP, hop=1),
            status=303,
        ),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "a chain that never ends in a page (more redirects than followed)",
        target(
            dns(),
            tcp(),
            tls(),
            *(hop(n, f"https://{SITE}/r/{n + 1}") for n in range(11)),
        ),
        RunContext(),
        "error",
        None,
    ),
    (
        "a redirect loop",
        target(
            dns(),
            tcp(),
            tls(),
            http(status=302, location=f"https://{SITE}/a"),
            replace(hop(1, f"https://{SITE}/b"), url=f"https://{SITE}/a"),
            replace(hop(2, f"https://{SITE}/a"), url=f"https://{SITE}/b"),
        ),
        RunContext(),
        "error",
        None,
    ),
    (
        "a 3xx without a usable Location is the page",
        target(dns(), tcp(), tls(), http(status=302, location="ftp://elsewhere.example/")),
        RunContext(),
        "accessible",
        None,
    ),
]

GHOST_NX = dns("control", addresses=(), failure=DNS_NXDOMAIN, rcode="NXDOMAIN")

# A name that does not exist at control, answered by the resolver under test.
GHOST_RULES: list[tuple[str, Observations, RunContext, str, str | None]] = [
    (
        "ghost domain answered with a bogon",
        target(dns(addresses=("127.0.0.1",)), GHOST_NX),
        RunContext(),
        "blocked",
        "dns.bogon",
    ),
    (
        "ghost domain answered with a known blockpage address",
        target(dns(addresses=("89.222.160.10",)), GHOST_NX, tcp("89.222.160.10")),
        RunContext(),
        "blocked",
        "dns.blockpage",
    ),
    (
        "ghost domain answered with an address serving a blockpage",
        target(
            dns(addresses=(OTHER_IP,)),
            GHOST_NX,
            tcp(OTHER_IP),
            http(url=f"http://{SITE}/", address=OTHER_IP, purpose="dns_check", excerpt=BLOCKPAGE),
        ),
        RunContext(),
        "blocked",
        "dns.blockpage",
    ),
    (
        "ghost domain, resolver gives no address for a made-up name: on a list",
        target(dns(addresses=(OTHER_IP,)), GHOST_NX, tcp(OTHER_IP)),
        RunContext(resolver_invents_answers=False),
        "blocked",
        "dns.inconsistent",
    ),
    (
        "ghost domain, resolver invents addresses for any name (NXDOMAIN hijacking)",
        target(dns(addresses=(OTHER_IP,)), GHOST_NX, tcp(OTHER_IP)),
        RunContext(resolver_invents_answers=True),
        "anomaly",
        "dns.inconsistent",
    ),
    (
        "ghost domain, the resolver's habits unknown",
        target(dns(addresses=(OTHER_IP,)), GHOST_NX, tcp(OTHER_IP)),
        RunContext(),
        "anomaly",
        "dns.inconsistent",
    ),
    (
        "a name of this network's own (split horizon), with a valid certificate",
        target(dns(addresses=(OTHER_IP,)), GHOST_NX, tcp(OTHER_IP), tls(address=OTHER_IP), http()),
        RunContext(resolver_invents_answers=False),
        "accessible",
        None,
    ),
]

# The control view counts only with addresses or NXDOMAIN.
CONTROL_RULES: list[tuple[str, Observations, RunContext, str, str | None]] = [
    (
        "control SERVFAIL is no control view: a local answer is not site_down",
        target(
            dns(),
            dns("control", addresses=(), failure=DNS_SERVFAIL, rcode="SERVFAIL"),
            tcp(),
            tls(),
            http(),
        ),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "control REFUSED and a local NXDOMAIN: unconfirmed, not site_down",
        target(
            dns(addresses=(), failure=DNS_NXDOMAIN, rcode="NXDOMAIN"),
            dns("control", addresses=(), failure=DNS_REFUSED, rcode="REFUSED"),
        ),
        RunContext(),
        "anomaly",
        "dns.nxdomain",
    ),
    (
        "control answers empty (NOERROR, no address) for a name that resolves here",
        target(dns(), dns("control", addresses=(), rcode="NOERROR"), tcp(), tls(), http()),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "no control view and a blackhole: an anomaly that says so",
        target(dns(), tcp(failure=GENERIC_TIMEOUT), control=False),
        RunContext(),
        "anomaly",
        "tcp.timeout",
    ),
    (
        "a fake-IP proxy's answer is not a bogon lie",
        target(dns(addresses=("198.18.0.7",)), tcp("198.18.0.7")),
        RunContext(fake_ip=True),
        "error",
        None,
    ),
    (
        "198.18.0.0/15 is a bogon by default (IANA)",
        target(dns(addresses=("198.18.0.7",))),
        RunContext(),
        "blocked",
        "dns.bogon",
    ),
    (
        "a test network that says its range is routable",
        target(
            dns(addresses=("198.19.1.10",)),
            dns("control", addresses=("198.19.1.10",)),
            tcp("198.19.1.10"),
            tls(address="198.19.1.10"),
            http(address="198.19.1.10"),
        ),
        RunContext(routable=(ipaddress.ip_network("198.18.0.0/15"),)),
        "accessible",
        None,
    ),
]

# name, observations, run context, expected verdict, expected blocking
RULES: list[tuple[str, Observations, RunContext, str, str | None]] = [
    ("clean https", target(*CLEAN), RunContext(), "accessible", None),
    (
        "clean http",
        target(dns(), tcp(port=80), http(url=HTTP_URL), scheme="http"),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "nxdomain locally, control resolves",
        target(dns(addresses=(), failure=DNS_NXDOMAIN, rcode="NXDOMAIN")),
        RunContext(),
        "blocked",
        "dns.nxdomain",
    ),
    (
        "nxdomain at control too is the site, not censorship",
        target(
            dns(addresses=(), failure=DNS_NXDOMAIN, rcode="NXDOMAIN"),
            dns("control", addresses=(), failure=DNS_NXDOMAIN, rcode="NXDOMAIN"),
        ),
        RunContext(),
        "site_down",
        None,
    ),
    (
        "bogon answer, control public",
        target(dns(addresses=("127.0.0.1",))),
        RunContext(),
        "blocked",
        "dns.bogon",
    ),
    (
        "0.0.0.0 answer",
        target(dns(addresses=("0.0.0.0",))),
        RunContext(),
        "blocked",
        "dns.bogon",
    ),
    (
        "same bogon at control too",
        target(dns(addresses=("127.0.0.1",)), dns("control", addresses=("127.0.0.1",))),
        RunContext(),
        "site_down",
        None,
    ),
    (
        "answer is a known blockpage address",
        target(dns(addresses=("89.222.160.10",)), tcp("89.222.160.10", CONNECTION_REFUSED)),
        RunContext(),
        "blocked",
        "dns.blockpage",
    ),
    (
        "answer serves a blockpage",
        target(
            dns(addresses=(OTHER_IP,)),
            tcp(OTHER_IP),
            tls(SSL_INVALID_HOSTNAME, address=OTHER_IP),
            http(url=f"http://{SITE}/", address=OTHER_IP, purpose="dns_check", excerpt=BLOCKPAGE),
        ),
        RunContext(),
        "blocked",
        "dns.blockpage",
    ),
    (
        "answer disagrees with control, TLS fails there: DNS names the blocking",
        target(
            dns(addresses=(OTHER_IP,)), tcp(OTHER_IP), tls(SSL_INVALID_HOSTNAME, address=OTHER_IP)
        ),
        RunContext(),
        "anomaly",
        "dns.inconsistent",
    ),
    (
        "a forged reply raced the true one (injection)",
        target(
            replace(dns(addresses=(OTHER_IP,)), late_replies=((IP,),)),
            tcp(OTHER_IP),
            tls(SSL_INVALID_HOSTNAME, address=OTHER_IP),
        ),
        RunContext(),
        "blocked",
        "dns.inconsistent",
    ),
    (
        "a second, different reply that control does not back proves nothing",
        target(
            replace(dns(addresses=(OTHER_IP,)), late_replies=(("151.101.7.7",),)),
            tcp(OTHER_IP),
            tls(SSL_INVALID_HOSTNAME, address=OTHER_IP),
        ),
        RunContext(),
        "anomaly",
        "dns.inconsistent",
    ),
    (
        "different address but valid TLS for the name there: consistent",
        target(
            dns(addresses=(OTHER_IP,)), tcp(OTHER_IP), tls(address=OTHER_IP), http(address=OTHER_IP)
        ),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "different address in the same ASN: consistent (CDN)",
        target(
            dns(addresses=(OTHER_IP,)), tcp(OTHER_IP), tls(address=OTHER_IP), http(address=OTHER_IP)
        ),
        RunContext(asn_of=lambda a: 13335),
        "accessible",
        None,
    ),
    (
        "resolver silent for this name",
        target(dns(addresses=(), failure=GENERIC_TIMEOUT, rcode=None)),
        RunContext(),
        "anomaly",
        "dns.timeout",
    ),
    (
        "servfail",
        target(dns(addresses=(), failure=DNS_SERVFAIL, rcode="SERVFAIL")),
        RunContext(),
        "anomaly",
        "dns.servfail",
    ),
    (
        "refused",
        target(dns(addresses=(), failure=DNS_REFUSED, rcode="REFUSED")),
        RunContext(),
        "anomaly",
        "dns.refused",
    ),
    (
        "connect times out to the right address (blackhole)",
        target(dns(), tcp(failure=GENERIC_TIMEOUT)),
        RunContext(),
        "anomaly",
        "tcp.timeout",
    ),
    (
        "connect refused",
        target(dns(), tcp(failure=CONNECTION_REFUSED)),
        RunContext(),
        "anomaly",
        "tcp.refused",
    ),
    (
        "reset whatever the SNI",
        target(dns(), tcp(), tls(CONNECTION_RESET), tls(CONNECTION_RESET, purpose="innocuous")),
        RunContext(),
        "anomaly",
        "tcp.reset",
    ),
    (
        "SNI reset 3 times, innocuous SNI completes in between",
        target(dns(), tcp(), *tls_pattern(CONNECTION_RESET)),
        RunContext(),
        "blocked",
        "tls.reset",
    ),
    (
        "SNI reset once, innocuous completes, no repeat: chance not ruled out",
        target(dns(), tcp(), tls(CONNECTION_RESET, t0=1), tls(purpose="innocuous", t0=2)),
        RunContext(),
        "anomaly",
        "tls.reset",
    ),
    (
        "SNI failures of different kinds do not confirm each other",
        target(
            dns(),
            tcp(),
            *tls_pattern(CONNECTION_RESET, named=2),
            tls(GENERIC_TIMEOUT, completed=False, t0=40),
        ),
        RunContext(),
        "anomaly",
        "tls.reset",
    ),
    (
        "innocuous attempt sent after the repeats does not count (not interleaved)",
        target(
            dns(),
            tcp(),
            tls(CONNECTION_RESET, t0=1),
            tls(CONNECTION_RESET, t0=2),
            tls(CONNECTION_RESET, t0=3),
            tls(purpose="innocuous", t0=4),
        ),
        RunContext(),
        "anomaly",
        "tls.reset",
    ),
    (
        "residual censorship: after the trigger, no connection at all for any name",
        target(
            dns(),
            tcp(),
            tls(CONNECTION_RESET, completed=False, t0=1),
            tls(GENERIC_TIMEOUT, purpose="innocuous", completed=False, connected=False, t0=2),
        ),
        RunContext(),
        "anomaly",
        "tls.reset",
    ),
    (
        "residual censorship by reset: the innocuous SYN is refused",
        target(
            dns(),
            tcp(),
            tls(GENERIC_TIMEOUT, completed=False, t0=1),
            tls(CONNECTION_REFUSED, purpose="innocuous", completed=False, connected=False, t0=2),
        ),
        RunContext(),
        "anomaly",
        "tls.timeout",
    ),
    (
        "a lossy link: one stall, and the repeat with the name completes",
        target(
            dns(),
            tcp(),
            tls(GENERIC_TIMEOUT, completed=False, t0=1),
            tls(purpose="innocuous", t0=2),
            tls(t0=3),
            http(),
        ),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "SNI reset, no confirmation possible",
        target(dns(), tcp(), tls(CONNECTION_RESET)),
        RunContext(),
        "anomaly",
        "tls.reset",
    ),
    (
        "SNI stall 3 times, innocuous SNI completes in between",
        target(dns(), tcp(), *tls_pattern(GENERIC_TIMEOUT)),
        RunContext(),
        "blocked",
        "tls.timeout",
    ),
    (
        "handshake failure with and without the SNI",
        target(
            dns(),
            tcp(),
            tls(SSL_FAILED_HANDSHAKE, completed=False),
            tls(EOF_ERROR, purpose="innocuous", completed=False),
        ),
        RunContext(),
        "anomaly",
        "tls.failure",
    ),
    (
        "handshake failure only with the SNI, every time",
        target(dns(), tcp(), *tls_pattern(SSL_FAILED_HANDSHAKE)),
        RunContext(),
        "blocked",
        "tls.failure",
    ),
    (
        "a trusted CA's certificate for another name: a broken site, never interception",
        target(dns(), tcp(), tls(SSL_INVALID_HOSTNAME, issuer=MITM_ISSUER)),
        RunContext(shared_untrusted_issuers=frozenset({MITM_ISSUER})),
        "anomaly",
        "tls.failure",
    ),
    (
        "a trusted CA's expired certificate",
        target(dns(), tcp(), tls(SSL_INVALID_CERTIFICATE, issuer=KNOWN_ROOT)),
        RunContext(),
        "anomaly",
        "tls.failure",
    ),
    (
        "untrusted certificate on an agreed address, issuer unknown",
        target(dns(), tcp(), tls(SSL_UNKNOWN_AUTHORITY, issuer=MITM_ISSUER)),
        RunContext(),
        "anomaly",
        "tls.mitm",
    ),
    (
        "untrusted certificate from a known interception root",
        target(dns(), tcp(), tls(SSL_UNKNOWN_AUTHORITY, issuer=KNOWN_ROOT)),
        RunContext(),
        "blocked",
        "tls.mitm",
    ),
    (
        "untrusted issuer shared with unrelated targets",
        target(dns(), tcp(), tls(SSL_UNKNOWN_AUTHORITY, issuer=MITM_ISSUER)),
        RunContext(shared_untrusted_issuers=frozenset({MITM_ISSUER})),
        "blocked",
        "tls.mitm",
    ),
    (
        "known root, but no control view: cannot tell the address is right",
        target(dns(), tcp(), tls(SSL_UNKNOWN_AUTHORITY, issuer=KNOWN_ROOT), control=False),
        RunContext(),
        "anomaly",
        "tls.mitm",
    ),
    (
        "Host reset, innocuous Host answers",
        target(dns(), tcp(port=80), *http_pattern(CONNECTION_RESET), scheme="http"),
        RunContext(),
        "blocked",
        "http.reset",
    ),
    (
        "Host reset once, innocuous Host answers once: chance not ruled out",
        target(
            dns(),
            tcp(port=80),
            *http_pattern(CONNECTION_RESET)[:2],
            scheme="http",
        ),
        RunContext(),
        "anomaly",
        "http.reset",
    ),
    (
        "Host reset, then the address takes no connection: residual censorship",
        target(
            dns(),
            tcp(port=80),
            http_pattern(CONNECTION_RESET)[0],
            replace(
                http_pattern(CONNECTION_RESET)[1],
                status=None,
                failure=GENERIC_TIMEOUT,
                connected=False,
            ),
            scheme="http",
        ),
        RunContext(),
        "anomaly",
        "http.reset",
    ),
    (
        "Host stall, innocuous Host answers",
        target(dns(), tcp(port=80), *http_pattern(GENERIC_TIMEOUT), scheme="http"),
        RunContext(),
        "blocked",
        "http.timeout",
    ),
    (
        "HTTP stall not confirmed",
        target(
            dns(),
            tcp(port=80),
            http(url=HTTP_URL, status=None, failure=GENERIC_TIMEOUT),
            scheme="http",
        ),
        RunContext(),
        "anomaly",
        "http.timeout",
    ),
    (
        "stall inside a verified TLS session",
        target(dns(), tcp(), tls(), http(status=None, failure=GENERIC_TIMEOUT)),
        RunContext(),
        "anomaly",
        "http.timeout",
    ),
    (
        "blockpage fingerprint",
        target(
            dns(),
            tcp(port=80),
            http(url=HTTP_URL, excerpt=BLOCKPAGE),
            scheme="http",
        ),
        RunContext(),
        "blocked",
        "http.blockpage",
    ),
    (
        "plain-HTTP page substituted",
        target(
            dns(),
            tcp(port=80),
            http(url=HTTP_URL, title="Welcome", body_length=300, headers=(("server", "x"),)),
            http(purpose="https_twin"),
            scheme="http",
        ),
        RunContext(),
        "anomaly",
        "http.diff",
    ),
    (
        "plain-HTTP page matches the HTTPS one",
        target(dns(), tcp(port=80), http(url=HTTP_URL), http(purpose="https_twin"), scheme="http"),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "blocking at a redirect hop is named there",
        target(
            dns(),
            tcp(port=80),
            http(url=HTTP_URL, status=301, location="http://blocked.example.net/"),
            dns(domain="blocked.example.net", addresses=(OTHER_IP,)),
            dns("control", domain="blocked.example.net", addresses=(OTHER_IP,)),
            tcp(OTHER_IP, port=80),
            *http_pattern(
                CONNECTION_RESET,
                url="http://blocked.example.net/",
                host="blocked.example.net",
                address=OTHER_IP,
                hop=1,
            ),
            scheme="http",
        ),
        RunContext(),
        "blocked",
        "http.reset",
    ),
    *REDIRECT_RULES,
    (
        "tcp endpoint connects",
        target(dns(), tcp(), scheme="tcp"),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "data-centre address blackholed",
        replace(target(tcp(failure=GENERIC_TIMEOUT), scheme="tcp", control=False), domain=IP),
        RunContext(),
        "anomaly",
        "tcp.timeout",
    ),
    (
        "tls endpoint: SNI reset every time, innocuous completes in between",
        target(dns(), tcp(), *tls_pattern(CONNECTION_RESET), scheme="tls"),
        RunContext(),
        "blocked",
        "tls.reset",
    ),
    (
        "tls endpoint verifies",
        target(dns(), tcp(), tls(), scheme="tls"),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "answers outside the service's own network",
        replace(target(dns(), tcp(), scheme="tcp"), expected_asns=frozenset({32934})),
        RunContext(asn_of=lambda a: 64499),
        "anomaly",
        "dns.inconsistent",
    ),
    (
        "answers outside the service's network, but TLS for the name verifies there",
        replace(target(dns(), tcp(), tls(), scheme="tls"), expected_asns=frozenset({32934})),
        RunContext(asn_of=lambda a: 64499),
        "accessible",
        None,
    ),
    (
        "answers inside the service's own network",
        replace(target(dns(), tcp(), scheme="tcp"), expected_asns=frozenset({32934})),
        RunContext(asn_of=lambda a: 32934),
        "accessible",
        None,
    ),
    (
        "control proxy: a connect timeout seen here on every try is conclusive",
        target(
            dns(),
            *(tcp(failure=GENERIC_TIMEOUT) for _ in range(3)),
            http(purpose="control", address=None),
        ),
        RunContext(),
        "blocked",
        "tcp.timeout",
    ),
    (
        "control proxy: one local timeout is not (a slow link does that)",
        target(dns(), tcp(failure=GENERIC_TIMEOUT), http(purpose="control", address=None)),
        RunContext(),
        "anomaly",
        "tcp.timeout",
    ),
    (
        "control proxy: one stalled handshake is not",
        target(
            dns(),
            tcp(),
            tls(GENERIC_TIMEOUT, completed=False, t0=1),
            tls(purpose="innocuous", t0=2),
            http(purpose="control", address=None),
        ),
        RunContext(),
        "anomaly",
        "tls.timeout",
    ),
    (
        "control proxy: a local DNS timeout on every try is conclusive",
        target(
            *(dns(addresses=(), failure=GENERIC_TIMEOUT, rcode=None) for _ in range(3)),
            http(purpose="control", address=None),
        ),
        RunContext(),
        "blocked",
        "dns.timeout",
    ),
    (
        "control proxy: failing there too means the site is down",
        target(
            dns(),
            tcp(failure=GENERIC_TIMEOUT),
            http(purpose="control", address=None, status=None, failure=GENERIC_TIMEOUT),
        ),
        RunContext(),
        "site_down",
        None,
    ),
    (
        "control proxy: its gateway timeout means the site is down",
        target(dns(), tcp(failure=GENERIC_TIMEOUT), http(purpose="control", status=504)),
        RunContext(),
        "site_down",
        None,
    ),
    (
        "control proxy: a DNS lie stays a DNS lie, now conclusive",
        target(
            dns(addresses=(OTHER_IP,)),
            tcp(OTHER_IP),
            tls(SSL_INVALID_HOSTNAME, address=OTHER_IP),
            http(purpose="control", address=None),
        ),
        RunContext(),
        "blocked",
        "dns.inconsistent",
    ),
    (
        "control proxy: the plain-HTTP page is compared with the control page",
        target(
            dns(),
            tcp(port=80),
            http(url=HTTP_URL, title="Welcome", body_length=300, headers=(("server", "x"),)),
            http(url=HTTP_URL, purpose="control", address=None),
            scheme="http",
        ),
        RunContext(),
        "anomaly",
        "http.diff",
    ),
    (
        "control proxy: a data centre blackholed here, open through the proxy",
        replace(
            target(
                *(tcp(failure=GENERIC_TIMEOUT) for _ in range(3)),
                TCPObservation(IP, 443, "control", 0.0, 40.0, None, proxied=True),
                scheme="tcp",
                control=False,
            ),
            domain=IP,
        ),
        RunContext(),
        "blocked",
        "tcp.timeout",
    ),
    (
        "control proxy: an endpoint the proxy cannot open either",
        replace(
            target(
                tcp(failure=GENERIC_TIMEOUT),
                TCPObservation(IP, 443, "control", 0.0, 40.0, GENERIC_TIMEOUT, proxied=True),
                scheme="tcp",
                control=False,
            ),
            domain=IP,
        ),
        RunContext(),
        "site_down",
        None,
    ),
    (
        "control proxy: failing only there changes nothing",
        target(*CLEAN, http(purpose="control", status=None, failure=CONNECTION_RESET)),
        RunContext(),
        "accessible",
        None,
    ),
    *GHOST_RULES,
    *CONTROL_RULES,
    (
        "the target's deadline cut the repeats short: an anomaly that says so",
        replace(
            target(dns(), tcp(), *tls_pattern(CONNECTION_RESET, named=2)), deadline_passed=True
        ),
        RunContext(),
        "anomaly",
        "tls.reset",
    ),
    (
        "a policer holds the page's own SNI at 128 kbit/s on every attempt",
        target(
            dns(),
            tcp(),
            tls(),
            http(transfer=download(16_000)),
            *speed_samples(download(16_000, seed=2), download(4_000_000)),
        ),
        RunContext(),
        "blocked",
        "http.throttled",
    ),
    (
        "slow for the name once, congested (no plateau) after: could be chance",
        target(
            dns(),
            tcp(),
            tls(),
            http(transfer=download(16_000)),
            *speed_samples(congested(16_000), download(4_000_000)),
        ),
        RunContext(),
        "anomaly",
        "http.throttled",
    ),
    (
        "slow for every name on the address: a slow path, accessible",
        target(
            dns(),
            tcp(),
            tls(),
            http(transfer=download(16_000)),
            *speed_samples(download(16_000, seed=2), download(17_000, seed=3)),
        ),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "handshakes with the page's SNI held at 4.8 s on every attempt",
        target(
            dns(),
            tcp(),
            tls(),
            http(handshake_ms=4800),
            *[
                replace(h, handshake_ms=4700 if h.purpose == "rate" else 210)
                for h in speed_samples((), ())
            ],
        ),
        RunContext(),
        "blocked",
        "tls.throttled",
    ),
    (
        "one slow handshake, then two fast ones: not throttling",
        target(
            dns(),
            tcp(),
            tls(),
            http(handshake_ms=4800),
            *[
                replace(h, handshake_ms=230 if h.purpose == "rate" else 210)
                for h in speed_samples((), ())
            ],
        ),
        RunContext(),
        "accessible",
        None,
    ),
    (
        "handshakes slow for the name on too few attempts to confirm: an anomaly",
        target(
            dns(),
            tcp(),
            tls(),
            http(handshake_ms=2500),
            *[
                replace(h, handshake_ms=4700 if h.purpose == "rate" else 210)
                for h in speed_samples((), (), attempts=1)
            ],
        ),
        RunContext(),
        "anomaly",
        "tls.throttled",
    ),
    (
        "three stalled handshakes, innocuous ones completing between: loss does that",
        target(dns(), tcp(), *tls_pattern(GENERIC_TIMEOUT, named=3)),
        RunContext(),
        "anomaly",
        "tls.timeout",
    ),
    (
        "three stalled requests, innocuous ones answering between: loss does that",
        target(dns(), tcp(port=80), *http_pattern(GENERIC_TIMEOUT, named=3), scheme="http"),
        RunContext(),
        "anomaly",
        "http.timeout",
    ),
    (
        "three resets, innocuous ones completing between: no loss makes a reset",
        target(dns(), tcp(), *tls_pattern(CONNECTION_RESET, named=3)),
        RunContext(),
        "blocked",
        "tls.reset",
    ),
    ("network down", target(*CLEAN), RunContext(network_down=True), "network_down", None),
    ("nothing measured", replace(target(), dns=()), RunContext(), "error", None),
]


@pytest.mark.parametrize(
    ("obs", "ctx", "verdict", "blocking"),
    [row[1:] for row in RULES],
    ids=[row[0] for row in RULES],
)
def test_rule(obs: Observations, ctx: RunContext, verdict: str, blocking: str | None) -> None:
    result = analyse(obs, ctx)
    assert (result.verdict, result.blocking) == (verdict, blocking), result.evidence
    if verdict != "accessible":
        assert result.evidence


def test_every_blocking_type_a_rule_covers() -> None:
    covered = {row[4] for row in RULES}
    assert covered >= set(BLOCKINGS)


def test_evidence_names_the_hop() -> None:
    row = next(r for r in RULES if r[0].startswith("blocking at a redirect hop"))
    evidence = analyse(row[1], row[2]).evidence or ""
    assert "hop 1" in evidence and "blocked.example.net" in evidence


def test_sni_evidence_reads_well() -> None:
    obs = target(dns(), tcp(), *tls_pattern(CONNECTION_RESET))
    assert analyse(obs).evidence == (
        f"TLS handshake with SNI {SITE} to {IP}:443 reset, 3 times out of 3; in between, "
        "handshakes with SNI example.org to the same address completed (2 of 2)"
    )


def test_residual_censorship_evidence_says_what_it_may_be() -> None:
    row = next(r for r in RULES if r[0].startswith("residual censorship: after"))
    evidence = analyse(row[1], row[2]).evidence or ""
    assert "residual censorship" in evidence and "server going away" in evidence


def test_no_control_view_is_said_not_agreement() -> None:
    row = next(r for r in RULES if r[0].startswith("no control view and a blackhole"))
    evidence = analyse(row[1], row[2]).evidence or ""
    assert "agrees with control" not in evidence and "no control view" in evidence


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a chain that never ends", ("stopped after 11 redirects", TOO_MANY_REDIRECTS)),
        ("a redirect loop", ("redirect loop", f"https://{SITE}/a", TOO_MANY_REDIRECTS)),
        ("redirect to a name the resolver", ("hop 1", DEST)),
        ("redirect to a site whose handshake", ("hop 1", DEST, "3 times")),
    ],
)
def test_redirect_evidence(name: str, words: tuple[str, ...]) -> None:
    row = next(r for r in RULES if r[0].startswith(name))
    evidence = analyse(row[1], row[2]).evidence or ""
    assert all(w in evidence for w in words), evidence


def test_service_of_unconfirmed_anomalies_is_not_blocked() -> None:
    unconfirmed = Analysis("anomaly", "tcp.timeout", "x")
    blocked = Analysis("blocked", "tls.reset", "y")
    assert analyse_service([("a", [unconfirmed]), ("b", [unconfirmed])]).verdict == "anomaly"
    assert analyse_service([("a", [blocked]), ("b", [unconfirmed])]).verdict == "blocked"
    working = Analysis("accessible")
    assert analyse_service([("a", [blocked]), ("b", [working])]).verdict == "anomaly"


@pytest.mark.parametrize(
    ("address", "bogon"),
    [
        ("127.0.0.1", True),
        ("0.0.0.0", True),
        ("10.1.2.3", True),
        ("100.64.0.1", True),
        ("169.254.1.1", True),
        ("172.16.5.5", True),
        ("172.32.0.1", False),
        ("192.0.0.8", True),
        ("192.0.2.1", True),
        ("192.168.1.1", True),
        ("198.51.100.7", True),
        ("203.0.113.9", True),
        ("224.0.0.1", True),
        ("255.255.255.255", True),
        ("198.18.0.1", True),
        ("198.19.255.255", True),
        ("192.88.99.1", True),
        ("192.0.0.9", False),
        ("8.8.8.8", False),
        ("2001:2::1", True),
        ("2001:3::1", False),
        ("2001:4860:4860::8888", False),
        ("3fff::1", True),
        ("64:ff9b::808:808", False),
        ("::", True),
        ("::1", True),
        ("fd00::1", True),
        ("fe80::1%eth0", True),
        ("ff02::1", True),
        ("2001:db8::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("2a03:2880:f10c:83:face:b00c:0:25de", False),
        ("not-an-address", True),
    ],
)
def test_is_bogon(address: str, bogon: bool) -> None:
    assert is_bogon(address) is bogon


def test_a_routable_block_is_said_explicitly() -> None:
    testbed = parse_networks(["198.18.0.0/15", "2001:2::/48"])
    assert not is_bogon("198.19.1.1", testbed) and not is_bogon("2001:2:0:ff00::1", testbed)
    assert is_bogon("127.0.0.1", testbed)
    with pytest.raises(ValueError, match="not an address block"):
        parse_networks(["198.18/15x"])


def test_shared_untrusted_issuers_needs_unrelated_sites() -> None:
    def mitm(sni: str, address: str = IP, failure: str = SSL_UNKNOWN_AUTHORITY) -> Observations:
        return target(tls(failure, issuer=MITM_ISSUER, sni=sni, address=address))

    same_site = [mitm("a.example.com"), mitm("b.example.com", OTHER_IP)]
    assert shared_untrusted_issuers(same_site) == frozenset()
    unrelated = [mitm("a.example.com"), mitm("x.other.kz", OTHER_IP)]
    assert shared_untrusted_issuers(unrelated) == {MITM_ISSUER}
    # One shared host's default certificate is no interception.
    assert shared_untrusted_issuers([mitm("a.example.com"), mitm("x.other.kz")]) == frozenset()
    # A trusted CA that signs an expired and a wrong-name certificate is no interception root.
    broken = [
        mitm("expired.example.com", failure=SSL_INVALID_CERTIFICATE),
        mitm("wrong.other.kz", OTHER_IP, failure=SSL_INVALID_HOSTNAME),
    ]
    assert shared_untrusted_issuers(broken) == frozenset()


def test_self_signed_certificates_with_one_default_name_are_not_shared() -> None:
    def self_signed(sni: str, address: str, sha: str) -> Observations:
        cert = Certificate("O=Internet Widgits Pty Ltd", "O=Internet Widgits Pty Ltd", sha)
        done = replace(tls(SSL_UNKNOWN_AUTHORITY, sni=sni, address=address), chain=(cert,))
        return target(done)

    lazy = [
        self_signed("a.example.com", IP, "1" * 64),
        self_signed("b.other.kz", OTHER_IP, "2" * 64),
    ]
    assert shared_untrusted_issuers(lazy) == frozenset()
    same = [
        self_signed("a.example.com", IP, "1" * 64),
        self_signed("b.other.kz", OTHER_IP, "1" * 64),
    ]
    assert shared_untrusted_issuers(same) == {f"sha256:{'1' * 64}"}


def test_registrable_domain() -> None:
    assert registrable_domain("www.bbc.co.uk") == "bbc.co.uk"
    assert registrable_domain("www.mitm-one.test") == "mitm-one.test"
    assert registrable_domain("a.b.vlast.kz") == "vlast.kz"


def test_network_is_down_only_on_silence() -> None:
    silent = target(
        dns(addresses=(), failure=GENERIC_TIMEOUT, rcode=None),
        dns("control", addresses=(), failure=GENERIC_TIMEOUT, rcode=None),
    )
    assert network_is_down([silent, silent])
    refused = replace(silent, tcp=(tcp(failure=CONNECTION_REFUSED),))
    assert not network_is_down([silent, refused])
    assert not network_is_down([target(*CLEAN)])
    assert not network_is_down([])
    reset = replace(silent, tls=(tls(CONNECTION_RESET, completed=False),))
    assert not network_is_down([silent, reset])


# -- never raises -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    dns_obs=st.lists(strategies.dns, max_size=5),
    tcp_obs=st.lists(strategies.tcp, max_size=4),
    tls_obs=st.lists(strategies.tls, max_size=4),
    http_obs=st.lists(strategies.http, max_size=5),
    scheme=st.sampled_from(["http", "https", "tcp", "tls"]),
    shared=st.booleans(),
    expected=st.sampled_from([frozenset(), frozenset({64500})]),
    asn=st.sampled_from([None, 64500, 64501]),
)
def test_analyse_never_raises(
    dns_obs: list[DNSObservation],
    tcp_obs: list[TCPObservation],
    tls_obs: list[TLSObservation],
    http_obs: list[HTTPObservation],
    scheme: str,
    shared: bool,
    expected: frozenset[int],
    asn: int | None,
) -> None:
    obs = Observations(
        url=f"{scheme}://{SITE}/",
        domain=SITE,
        scheme=scheme,  # type: ignore[arg-type]
        port=80 if scheme == "http" else 443,
        dns=tuple(dns_obs),
        tcp=tuple(tcp_obs),
        tls=tuple(tls_obs),
        http=tuple(http_obs),
        expected_asns=expected,
    )
    issuers = shared_untrusted_issuers([obs]) | (frozenset({MITM_ISSUER}) if shared else set())
    ctx = RunContext(asn_of=lambda _a: asn, shared_untrusted_issuers=frozenset(issuers))
    result = analyse(obs, ctx)
    assert result.verdict in VERDICTS
    assert result.blocking is None or result.blocking in BLOCKINGS
    if result.verdict in ("blocked", "anomaly"):
        assert result.blocking is not None and result.evidence
    else:
        assert result.blocking is None


# -- services: a verdict from the parts, each from its endpoints ---------------------------

UP = Analysis("accessible")
TIMEOUT = Analysis("anomaly", "tcp.timeout", "connect timed out")
RESET = Analysis("blocked", "tls.reset", "reset")
GONE = Analysis("site_down", None, "NXDOMAIN at control too")
DOWN = Analysis("network_down", None, "nothing answers")

SERVICES: list[tuple[str, list[tuple[str, list[Analysis]]], str, str | None]] = [
    ("every part works", [("DC1", [UP, UP]), ("DC2", [UP])], "accessible", None),
    ("one port of a part suffices", [("DC1", [TIMEOUT, UP]), ("DC2", [UP])], "accessible", None),
    (
        "every part fails, none conclusively: unconfirmed anomalies do not add up to a block",
        [("DC1", [TIMEOUT, TIMEOUT]), ("DC2", [TIMEOUT])],
        "anomaly",
        "tcp.timeout",
    ),
    (
        "every part fails, one conclusively blocked",
        [("DC1", [TIMEOUT, TIMEOUT]), ("DC2", [RESET])],
        "blocked",
        "tcp.timeout",
    ),
    (
        "some parts fail",
        [("DC1", [TIMEOUT]), ("DC2", [UP]), ("web", [RESET])],
        "anomaly",
        "tcp.timeout",
    ),
    ("site down is not a failure", [("a", [GONE]), ("b", [UP])], "accessible", None),
    ("failing parts and none working", [("a", [TIMEOUT]), ("b", [GONE])], "anomaly", "tcp.timeout"),
    ("a blocked part and none working", [("a", [RESET]), ("b", [GONE])], "blocked", "tls.reset"),
    ("every part down at control too", [("a", [GONE]), ("b", [GONE])], "site_down", None),
    ("network down", [("a", [DOWN]), ("b", [DOWN])], "network_down", None),
]


@pytest.mark.parametrize(
    ("parts", "verdict", "blocking"),
    [row[1:] for row in SERVICES],
    ids=[row[0] for row in SERVICES],
)
def test_service_rule(
    parts: list[tuple[str, list[Analysis]]], verdict: str, blocking: str | None
) -> None:
    judged = analyse_service(parts)
    assert (judged.verdict, judged.blocking) == (verdict, blocking), judged.evidence
    assert [p.name for p in judged.parts] == [name for name, _ in parts]


def test_service_evidence_names_the_failing_parts() -> None:
    judged = analyse_service([("DC1", [TIMEOUT]), ("DC2", [UP]), ("DC3", [TIMEOUT])])
    assert judged.evidence == "2 of 3 parts fail: DC1 (anomaly), DC3 (anomaly); 1 work"


def test_service_evidence_names_what_could_not_be_judged() -> None:
    judged = analyse_service([("DC1", [TIMEOUT]), ("web", [GONE])])
    assert (
        judged.evidence
        == "no part works, but no failure is conclusive: DC1 (anomaly); 1 could not be judged "
        "(web: site_down)"
    )


def test_a_deadline_is_said_in_the_evidence() -> None:
    row = next(r for r in RULES if r[0].startswith("the target's deadline"))
    assert (analyse(row[1], row[2]).evidence or "").endswith(
        "the target's deadline ended its measurement"
    )


# -- throttling: the shape of a download --------------------------------------------------------


@pytest.mark.parametrize("rate", [16_000, 125_000, 2_000_000])
@pytest.mark.parametrize("seed", range(5))
def test_a_policed_download_sits_on_a_plateau(rate: float, seed: int) -> None:
    level = plateau(policed(rate, seed=seed))
    assert level is not None and abs(level - rate) < 0.1 * rate


@pytest.mark.parametrize("seed", range(20))
def test_a_congested_download_is_no_plateau(seed: int) -> None:
    assert plateau(congested(16_000, seed=seed)) is None


@pytest.mark.parametrize("rate", [16 * 1024, 64 * 1024])
def test_a_download_in_regular_records_is_a_plateau(rate: float) -> None:
    level = plateau(stepped(rate))
    assert level is not None and abs(level - rate) < 0.1 * rate


@pytest.mark.parametrize("seed", range(20))
def test_an_irregularly_bursty_download_is_no_plateau(seed: int) -> None:
    assert plateau(bursty(16_000, seed=seed)) is None


def test_too_short_a_download_shows_no_plateau() -> None:
    assert plateau(policed(16_000, seconds=1.5)) is None
    assert plateau(((0.0, 0), (100.0, 70_000))) is None
    assert transfer_rate(((0.0, 1000),)) is None


def test_throttling_evidence_gives_the_numbers() -> None:
    row = next(r for r in RULES if r[0].startswith("a policer holds the page's own SNI"))
    evidence = analyse(row[1], row[2]).evidence or ""
    assert evidence == (
        f"body 128 kbit/s with SNI {SITE}, 32.0 Mbit/s with SNI example.org on {IP}, "
        "steady at 128 kbit/s: a policer (3 of 3 attempts)"
    )


def test_only_a_slow_first_download_is_downloaded_again() -> None:
    assert looks_slow(http(transfer=policed(16_000)))
    assert looks_slow(http(handshake_ms=2500))
    assert not looks_slow(http(transfer=policed(4_000_000)))
    assert not looks_slow(http(transfer=((10.0, 500), (900.0, 2000))))  # a short page
    assert not looks_slow(http(status=None, failure=GENERIC_TIMEOUT, transfer=policed(16_000)))
