"""Hypothesis strategies for observation records, shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from netprobe.model.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    SSL_FAILED_HANDSHAKE,
    SSL_INVALID_HOSTNAME,
    SSL_UNKNOWN_AUTHORITY,
    Certificate,
    DNSObservation,
    HTTPObservation,
    TCPObservation,
    TLSObservation,
)

SITE = "www.example.com"
IP = "93.184.215.14"
OTHER_IP = "185.199.108.9"
BLOCKPAGE = (
    b"<p>Access to the requested resource has been blocked<br/>by the decision of public "
    b"authorities.</p>"
)
"""A small page in a blockpage's wording (``generic.en.restricted``)."""

failures = st.sampled_from(
    [None, GENERIC_TIMEOUT, CONNECTION_RESET, CONNECTION_REFUSED, EOF_ERROR, DNS_NXDOMAIN,
     SSL_UNKNOWN_AUTHORITY, SSL_INVALID_HOSTNAME, SSL_FAILED_HANDSHAKE, "unknown_failure: x"]
)  # fmt: skip
addresses = st.lists(st.sampled_from([IP, OTHER_IP, "127.0.0.1", "::1", "2001:db8::1", "x"]))
hosts = st.sampled_from([SITE, "example.org", "other.test", ""])
dns = st.builds(
    DNSObservation,
    domain=hosts,
    query_type=st.sampled_from(["A", "AAAA"]),
    resolver=st.just("udp://198.18.1.1:53"),
    role=st.sampled_from(["local", "control"]),
    t0=st.floats(0, 1e4),
    duration_ms=st.none() | st.floats(0, 1e4),
    failure=failures,
    rcode=st.sampled_from([None, "NOERROR", "NXDOMAIN", "SERVFAIL"]),
    addresses=addresses.map(tuple),
    cnames=st.lists(hosts, max_size=2).map(tuple),
    ttl=st.none() | st.integers(0, 86400),
    late_replies=st.lists(addresses.map(tuple), max_size=2).map(tuple),
)
tcp = st.builds(
    TCPObservation,
    address=st.sampled_from([IP, OTHER_IP]),
    port=st.sampled_from([80, 443]),
    role=st.sampled_from(["local", "control"]),
    t0=st.just(1.0),
    duration_ms=st.none() | st.floats(0, 1e4),
    failure=failures,
    proxied=st.booleans(),
)
tls = st.builds(
    TLSObservation,
    address=st.sampled_from([IP, OTHER_IP]),
    port=st.sampled_from([443, 8443]),
    sni=hosts,
    purpose=st.sampled_from(["target", "innocuous"]),
    t0=st.just(1.0),
    duration_ms=st.none(),
    failure=failures,
    handshake_completed=st.booleans(),
    connected=st.none() | st.booleans(),
    chain=st.lists(st.builds(Certificate, st.text(), st.text(), st.just("0" * 64))).map(tuple),
)
http = st.builds(
    HTTPObservation,
    url=st.sampled_from(
        [f"https://{SITE}/", f"http://{SITE}/", "http://other.test:8080/x", "garbage"]
    ),
    address=st.none() | st.sampled_from([IP, OTHER_IP]),
    host=hosts,
    purpose=st.sampled_from(
        ["target", "innocuous", "https_twin", "dns_check", "control", "rate", "rate_innocuous"]
    ),
    hop=st.integers(0, 3),
    t0=st.just(1.0),
    duration_ms=st.none(),
    failure=failures,
    status=st.none() | st.integers(100, 599),
    headers=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8))).map(tuple),
    title=st.none() | st.text(),
    body_length=st.none() | st.integers(0, 10**7),
    body_truncated=st.booleans(),
    location=st.none() | st.text(),
    body_excerpt=st.none() | st.binary(max_size=64) | st.just(BLOCKPAGE),
    sni=st.none() | st.just("example.org"),
    handshake_ms=st.none() | st.floats(0, 1e4),
    transfer=st.lists(st.tuples(st.floats(0, 1e4), st.integers(0, 1 << 20)), max_size=40).map(
        lambda samples: tuple(sorted(samples))
    ),
)


def policed(
    rate: float, seconds: float = 5.0, wobble: float = 0.05, seed: int = 1
) -> tuple[tuple[float, int], ...]:
    """A download held at ``rate`` bytes/s: a sample every ~90 ms (a packet or two), each
    step off by up to ``wobble`` of the rate, after a first burst."""
    import random

    chance = random.Random(seed)
    samples, t, received = [(100.0, 8192)], 100.0, 8192
    while t < 100 + seconds * 1000:
        step = 90.0 * (1 + chance.uniform(-0.3, 0.3))
        t += step
        received += int(rate * step / 1000 * (1 + chance.uniform(-wobble, wobble)))
        samples.append((round(t, 1), received))
    return tuple(samples)


def congested(rate: float, seconds: float = 5.0, seed: int = 1) -> tuple[tuple[float, int], ...]:
    """A download of about ``rate`` bytes/s on average on a shared path: other flows come
    and go about every second, so its rate swings between a third and twice that, and it
    stalls for half a second once (losses, a retransmission timeout). (Congestion that
    changes only every few seconds looks level in one download: only repeated downloads,
    at one level each time, tell a policer from it.)"""
    import random

    chance = random.Random(seed)
    samples, t, received = [(100.0, 4096)], 100.0, 4096
    current, change = rate, 100.0
    while t < 100 + seconds * 1000:
        t += 90.0
        if t >= change:
            current = rate * (0.3 if current > rate else 2.0)
            change = t + chance.uniform(800, 1200)
        if 1800 < t < 2300:
            continue
        received += int(current * 0.09)
        samples.append((round(t, 1), received))
    return tuple(samples)


def bursty(rate: float, seconds: float = 5.0, seed: int = 1) -> tuple[tuple[float, int], ...]:
    """About ``rate`` bytes/s on average, sent in irregular bursts: flat out for a moment,
    then idle for anything from 0.1 to 2 s."""
    import random

    chance = random.Random(seed)
    samples, received, t = [(100.0, 0)], 0, 100.0
    while t < 100 + seconds * 1000:
        idle = chance.uniform(100, 2000)
        for _ in range(chance.randint(1, 8)):
            t += 50
            received += int(rate * 0.2)
            samples.append((t, received))
        t += idle
    return tuple(samples)


def stepped(
    rate: float, record: int = 16 * 1024, seconds: float = 5.0
) -> tuple[tuple[float, int], ...]:
    """A policer's download in TLS records: one ``record`` whenever the rate allows it."""
    samples, received, t = [(100.0, 2 * record)], 2 * record, 100.0
    while t < 100 + seconds * 1000:
        t += record / rate * 1000
        received += record
        samples.append((round(t, 1), received))
    return tuple(samples)
