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
    purpose=st.sampled_from(["target", "innocuous", "https_twin", "dns_check", "control"]),
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
)
