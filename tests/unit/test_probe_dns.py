"""DNS over UDP, TCP, TLS and HTTPS against loopback resolvers staging each condition."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
import struct
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import dns.message
import dns.nameserver
import dns.rcode
import dns.resolver
import dns.rrset
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.measure.steps import dns as probe_dns
from netprobe.measure.steps.dns import (
    ResolverSpec,
    ResolverSpecError,
    parse_resolver,
    query,
    system_resolver,
)

# --- resolver specs ---------------------------------------------------------------------

PARSED = [
    ("198.18.1.1", ResolverSpec("udp", "198.18.1.1", 53, None, "198.18.1.1")),
    ("198.18.1.1:5353", ResolverSpec("udp", "198.18.1.1", 5353, None, "198.18.1.1")),
    ("2001:db8::1", ResolverSpec("udp", "2001:db8::1", 53, None, "2001:db8::1")),
    ("[2001:DB8::1]:54", ResolverSpec("udp", "2001:db8::1", 54, None, "2001:db8::1")),
    ("udp://192.0.2.1:53/", ResolverSpec("udp", "192.0.2.1", 53, None, "192.0.2.1")),
    ("tcp://192.0.2.1", ResolverSpec("tcp", "192.0.2.1", 53, None, "192.0.2.1")),
    ("TLS://192.0.2.1", ResolverSpec("tls", "192.0.2.1", 853, None, "192.0.2.1")),
    ("tls://dns.google", ResolverSpec("tls", "dns.google", 853, None, "8.8.8.8")),
    (
        "tls://dot.example:8853#192.0.2.9",
        ResolverSpec("tls", "dot.example", 8853, None, "192.0.2.9"),
    ),
    (
        "https://192.0.2.1/dns-query",
        ResolverSpec("https", "192.0.2.1", 443, "https://192.0.2.1/dns-query", "192.0.2.1"),
    ),
    (
        "https://Cloudflare-DNS.com/dns-query",
        ResolverSpec(
            "https", "cloudflare-dns.com", 443, "https://cloudflare-dns.com/dns-query", "1.1.1.1"
        ),
    ),
    (
        "https://doh.example:8443/q?x=1#[2001:db8::9]",
        ResolverSpec("https", "doh.example", 8443, "https://doh.example:8443/q?x=1", "2001:db8::9"),
    ),
    (
        "https://[2001:db8::1]",
        ResolverSpec("https", "2001:db8::1", 443, "https://[2001:db8::1]/dns-query", "2001:db8::1"),
    ),
]


@pytest.mark.parametrize(("text", "spec"), PARSED, ids=[p[0] for p in PARSED])
def test_parse_resolver(text: str, spec: ResolverSpec) -> None:
    assert parse_resolver(text) == spec


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("198.18.1.1", "udp://198.18.1.1:53"),
        ("2001:db8::1", "udp://[2001:db8::1]:53"),
        ("tls://1.1.1.1", "tls://1.1.1.1:853"),
        ("https://1.1.1.1/dns-query", "https://1.1.1.1/dns-query"),
        ("https://dns.google/dns-query", "https://dns.google/dns-query#8.8.8.8"),
        ("https://doh.example:8443/q#2001:db8::9", "https://doh.example:8443/q#2001:db8::9"),
    ],
)
def test_resolver_str_is_canonical_and_parses_back(text: str, canonical: str) -> None:
    spec = parse_resolver(text)
    assert str(spec) == canonical
    assert parse_resolver(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "neither an IP address nor a host name"),
        ("dns.example", "udp resolvers are given by IP address"),
        ("tcp://dns.example", "tcp resolvers are given by IP address"),
        ("udp://192.0.2.1:99999", "out of range"),
        ("udp://192.0.2.1:0", "port 0"),
        ("udp://192.0.2.1:dns", "Port could not be cast"),
        ("ftp://192.0.2.1", "unknown scheme 'ftp'"),
        ("quic://192.0.2.1", "unknown scheme"),
        ("udp://192.0.2.1/path", "unexpected path"),
        ("tls://192.0.2.1/path", "unexpected path"),
        ("udp://user@192.0.2.1", "credentials"),
        ("https://doh.example/dns-query", "give the address of doh.example after '#'"),
        ("https://doh.example/dns-query#not-an-ip", "not an IP address"),
        ("https://bad_host!/dns-query#192.0.2.1", "neither an IP address nor a host name"),
        ("udp://[2001:db8::1", "invalid"),
    ],
)
def test_parse_resolver_rejects(text: str, complaint: str) -> None:
    with pytest.raises(ResolverSpecError, match=complaint) as caught:
        parse_resolver(text)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


@given(st.text(max_size=40))
def test_parse_resolver_raises_only_resolver_spec_error(text: str) -> None:
    with contextlib.suppress(ResolverSpecError):
        parse_resolver(text)


def test_system_resolver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_dns, "_WINDOWS", False)
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch lan\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\n")
    assert system_resolver(str(conf)) == ResolverSpec("udp", "fe80::1", 53, None, "fe80::1")
    conf.write_text("nameserver bogus\nnameserver 192.0.2.53\n")
    assert str(system_resolver(str(conf))) == "udp://192.0.2.53:53"


def test_system_resolver_without_nameserver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_dns, "_WINDOWS", False)
    conf = tmp_path / "resolv.conf"
    conf.write_text("search lan\n")
    with pytest.raises(ResolverSpecError, match="no nameserver"):
        system_resolver(str(conf), configured=list)
    with pytest.raises(ResolverSpecError, match="cannot read"):
        system_resolver(str(tmp_path / "missing"), configured=list)


# --- a loopback resolver ----------------------------------------------------------------

REAL = "192.0.2.1"
INJECTED = "198.51.100.66"


def _reply(
    request: dns.message.Message, *records: str, rcode: dns.rcode.Rcode = dns.rcode.NOERROR
) -> bytes:
    response = dns.message.make_response(request)
    response.set_rcode(rcode)
    for record in records:
        name, ttl, rdtype, text = record.split(maxsplit=3)
        response.answer.append(dns.rrset.from_text(name, int(ttl), "IN", rdtype, text))
    return response.to_wire()


class Zone:
    """What the loopback resolver answers, by name: one scenario per name."""

    def __init__(self) -> None:
        self.queries: Counter[str] = Counter()

    def replies(self, wire: bytes) -> list[bytes]:
        request = dns.message.from_wire(wire)
        question = request.question[0]
        name = question.name.to_text(omit_final_dot=True)
        self.queries[name] += 1
        asked_a = question.rdtype == dns.rdatatype.A
        match name:
            case "a.test" if asked_a:
                return [_reply(request, f"a.test. 300 A {REAL}", "a.test. 300 A 192.0.2.2")]
            case "a.test":
                return [_reply(request)]
            case "aaaa.test":
                return [_reply(request, "aaaa.test. 300 AAAA 2001:db8::1")]
            case "chain.test":
                return [
                    _reply(
                        request,
                        "chain.test. 60 CNAME mid.test.",
                        "mid.test. 30 CNAME final.test.",
                        f"final.test. 120 A {REAL}",
                        "final.test. 120 AAAA 2001:db8::2",
                        "other.test. 5 A 192.0.2.99",
                    )
                ]
            case "loop.test":
                return [
                    _reply(
                        request,
                        "loop.test. 60 CNAME loop2.test.",
                        "loop2.test. 60 CNAME loop.test.",
                    )
                ]
            case "nx.test":
                return [_reply(request, rcode=dns.rcode.NXDOMAIN)]
            case "servfail.test":
                return [_reply(request, rcode=dns.rcode.SERVFAIL)]
            case "refused.test":
                return [_reply(request, rcode=dns.rcode.REFUSED)]
            case "notimp.test":
                return [_reply(request, rcode=dns.rcode.NOTIMP)]
            case "garbage.test":
                return [b"\x13\x37 this is not DNS"]
            case "drop-first.test" if self.queries[name] == 1:
                return []
            case "drop-first.test":
                return [_reply(request, f"drop-first.test. 60 A {REAL}")]
            case "injected.test":
                injected = _reply(request, f"injected.test. 60 A {INJECTED}")
                real = _reply(request, f"injected.test. 60 A {REAL}")
                return [injected, injected, real]
            case "wrong-id.test":
                wrong_id = dns.message.make_query("wrong-id.test", "A")
                wrong_id.id = (request.id + 1) % 65536
                wrong_question = dns.message.make_query("elsewhere.test", "A")
                wrong_question.id = request.id
                return [
                    _reply(wrong_id, f"wrong-id.test. 60 A {INJECTED}"),
                    _reply(wrong_question, f"elsewhere.test. 60 A {INJECTED}"),
                    _reply(request, f"wrong-id.test. 60 A {REAL}"),
                ]
            case _:
                return []


class _UDPResolver(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for reply in self.zone.replies(data):
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


@pytest.fixture
async def udp_resolver() -> AsyncIterator[tuple[ResolverSpec, Zone]]:
    zone = Zone()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _UDPResolver(zone), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        yield parse_resolver(f"127.0.0.1:{port}"), zone
    finally:
        transport.close()


async def _ask(
    resolver: ResolverSpec, name: str, query_type: str = "A", timeout: float = 1.0, **kw: object
) -> probe_dns.DNSObservation:
    return await query(
        name, query_type, resolver, "local", timeout=timeout, t_origin=time.monotonic(), **kw
    )


# --- UDP --------------------------------------------------------------------------------


async def test_udp_answer(udp_resolver: tuple[ResolverSpec, Zone]) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "a.test")
    assert obs.failure is None
    assert obs.rcode == "NOERROR"
    assert obs.addresses == (REAL, "192.0.2.2")
    assert obs.ttl == 300
    assert obs.cnames == ()
    assert obs.late_replies == ()
    assert obs.resolver == str(resolver)
    assert obs.role == "local"
    assert obs.duration_ms is not None and obs.duration_ms < 300  # the late window excluded
    assert 0 <= obs.t0 < 100


async def test_udp_cname_chain_keeps_only_the_final_names_records(
    udp_resolver: tuple[ResolverSpec, Zone],
) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "chain.test")
    assert obs.cnames == ("mid.test", "final.test")
    assert obs.addresses == (REAL,)
    assert obs.ttl == 30


async def test_udp_cname_loop_ends(udp_resolver: tuple[ResolverSpec, Zone]) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "loop.test")
    assert (obs.failure, obs.addresses) == ("dns_no_answer", ())
    assert obs.cnames[:3] == ("loop2.test", "loop.test", "loop2.test")
    assert len(obs.cnames) == 16


async def test_udp_aaaa(udp_resolver: tuple[ResolverSpec, Zone]) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "aaaa.test", "AAAA")
    assert (obs.failure, obs.addresses) == (None, ("2001:db8::1",))


@pytest.mark.parametrize(
    ("name", "query_type", "rcode", "failure"),
    [
        ("nx.test", "A", "NXDOMAIN", "dns_nxdomain_error"),
        ("servfail.test", "A", "SERVFAIL", "dns_servfail_error"),
        ("refused.test", "A", "REFUSED", "dns_refused_error"),
        ("notimp.test", "A", "NOTIMP", "dns_server_misbehaving"),
        ("a.test", "AAAA", "NOERROR", "dns_no_answer"),
    ],
)
async def test_udp_negative_replies(
    udp_resolver: tuple[ResolverSpec, Zone], name: str, query_type: str, rcode: str, failure: str
) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, name, query_type)
    assert (obs.rcode, obs.failure, obs.addresses) == (rcode, failure, ())


@given(st.binary(max_size=600))
def test_malformed_replies_are_misbehaviour_not_crashes(wire: bytes) -> None:
    request = dns.message.make_query("a.test", "A")
    with contextlib.suppress(probe_dns.ServerMisbehavingError):
        probe_dns._read_answer(probe_dns._parse_reply(wire, request), request)


@given(st.integers(0, 65535), st.binary(max_size=200))
def test_replies_with_our_header_and_junk_never_crash(rcode_flags: int, junk: bytes) -> None:
    request = dns.message.make_query("a.test", "A")
    header = struct.pack("!HHHHHH", request.id, 0x8000 | rcode_flags, 1, 3, 0, 0)
    wire = header + request.to_wire()[12:] + junk
    with contextlib.suppress(probe_dns.ServerMisbehavingError):
        probe_dns._read_answer(probe_dns._parse_reply(wire, request), request)


async def test_udp_garbage_is_server_misbehaving(udp_resolver: tuple[ResolverSpec, Zone]) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "garbage.test", timeout=0.5)
    assert obs.failure == "dns_server_misbehaving"
    assert obs.rcode is None


async def test_udp_silence_times_out_within_budget(
    udp_resolver: tuple[ResolverSpec, Zone],
) -> None:
    resolver, _ = udp_resolver
    started = time.monotonic()
    obs = await _ask(resolver, "silent.test", timeout=0.5)
    assert obs.failure == "generic_timeout_error"
    assert time.monotonic() - started < 0.8


async def test_udp_lost_query_is_sent_again(udp_resolver: tuple[ResolverSpec, Zone]) -> None:
    resolver, zone = udp_resolver
    obs = await _ask(resolver, "drop-first.test", timeout=2.0)
    assert (obs.failure, obs.addresses) == (None, (REAL,))
    assert zone.queries["drop-first.test"] == 2
    assert obs.duration_ms is not None and obs.duration_ms >= 1000 * probe_dns.UDP_RESEND_INTERVAL


async def test_udp_late_different_reply_is_recorded(
    udp_resolver: tuple[ResolverSpec, Zone],
) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "injected.test")
    assert obs.addresses == (INJECTED,)
    assert obs.late_replies == ((REAL,),)


async def test_udp_replies_to_other_queries_are_ignored(
    udp_resolver: tuple[ResolverSpec, Zone],
) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "wrong-id.test")
    assert (obs.failure, obs.addresses, obs.late_replies) == (None, (REAL,), ())


async def test_udp_closed_port_is_refused(loopback) -> None:
    obs = await _ask(parse_resolver(f"127.0.0.1:{loopback.closed_port()}"), "a.test")
    assert obs.failure == "connection_refused"


async def test_invalid_name_does_not_raise(udp_resolver: tuple[ResolverSpec, Zone]) -> None:
    resolver, _ = udp_resolver
    obs = await _ask(resolver, "x" * 64 + ".test")
    assert obs.failure is not None and obs.failure.startswith("unknown_failure: ")


# --- TCP and TLS ------------------------------------------------------------------------


def _stream_resolver(
    zone: Zone,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
        for reply in zone.replies(await reader.readexactly(size))[:1]:
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        await reader.read()

    return handle


async def test_tcp(loopback) -> None:
    async with loopback.serve_tcp(_stream_resolver(Zone())) as port:
        resolver = parse_resolver(f"tcp://127.0.0.1:{port}")
        obs = await _ask(resolver, "chain.test")
        nx = await _ask(resolver, "nx.test")
    assert (obs.failure, obs.addresses, obs.cnames) == (None, (REAL,), ("mid.test", "final.test"))
    assert obs.resolver == f"tcp://127.0.0.1:{port}"
    assert nx.failure == "dns_nxdomain_error"


async def test_tcp_garbage_and_silence(loopback) -> None:
    async with loopback.serve_tcp(_stream_resolver(Zone())) as port:
        resolver = parse_resolver(f"tcp://127.0.0.1:{port}")
        garbage = await _ask(resolver, "garbage.test")
        silent = await _ask(resolver, "silent.test", timeout=0.3)
    assert garbage.failure == "dns_server_misbehaving"
    assert silent.failure == "generic_timeout_error"


async def test_tcp_reset(loopback) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        loopback.reset(writer)

    async with loopback.serve_tcp(reset) as port:
        obs = await _ask(parse_resolver(f"tcp://127.0.0.1:{port}"), "a.test")
    assert obs.failure == "connection_reset"


async def test_tls_by_ip_and_by_name(loopback, ca, trusting) -> None:
    sni_seen: list[str] = []
    context = loopback.server_context(ca, "127.0.0.1", "dot.example.test", sni_seen=sni_seen)
    async with loopback.serve_tcp(_stream_resolver(Zone()), ssl=context) as port:
        by_ip = await _ask(parse_resolver(f"tls://127.0.0.1:{port}"), "a.test", verify=trusting)
        named = parse_resolver(f"tls://dot.example.test:{port}#127.0.0.1")
        by_name = await _ask(named, "a.test", verify=trusting)
    assert (by_ip.failure, by_ip.addresses) == (None, (REAL, "192.0.2.2"))
    assert (by_name.failure, by_name.addresses) == (None, (REAL, "192.0.2.2"))
    assert by_name.resolver == f"tls://dot.example.test:{port}#127.0.0.1"
    assert sni_seen == ["", "dot.example.test"]  # no SNI is sent for an IP


async def test_tls_unknown_authority(loopback, other_ca, trusting) -> None:
    context = loopback.server_context(other_ca, "127.0.0.1")
    async with loopback.serve_tcp(_stream_resolver(Zone()), ssl=context) as port:
        obs = await _ask(parse_resolver(f"tls://127.0.0.1:{port}"), "a.test", verify=trusting)
    assert obs.failure == "ssl_unknown_authority"


# --- HTTPS ------------------------------------------------------------------------------


class _DoHServer:
    """An HTTP/1.1 handler answering DNS messages POSTed to /dns-query."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.requests: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # keep-alive: requests one after another until the client hangs up
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
            self.requests.append((head[0], headers))
            body = await reader.readexactly(int(headers["content-length"]))
            replies = self.zone.replies(body)
            if not head[0].startswith("POST /dns-query ") or not replies:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n"
                    b"Content-Length: %d\r\n\r\n%b" % (len(replies[0]), replies[0])
                )
            await writer.drain()


async def test_doh(loopback, ca, trusting) -> None:
    sni_seen: list[str] = []
    server = _DoHServer(Zone())
    context = loopback.server_context(ca, "doh.example.test", sni_seen=sni_seen)
    async with (
        loopback.serve_tcp(server, ssl=context) as port,
        httpx.AsyncClient(verify=trusting, trust_env=False) as client,
    ):
        resolver = parse_resolver(f"https://doh.example.test:{port}/dns-query#127.0.0.1")
        obs = await _ask(resolver, "chain.test", doh_client=client)
        nx = await _ask(resolver, "nx.test", doh_client=client)
        misplaced = await _ask(
            parse_resolver(f"https://doh.example.test:{port}/elsewhere#127.0.0.1"),
            "a.test",
            doh_client=client,
        )
    assert (obs.failure, obs.addresses, obs.cnames) == (None, (REAL,), ("mid.test", "final.test"))
    assert obs.resolver == f"https://doh.example.test:{port}/dns-query#127.0.0.1"
    assert nx.failure == "dns_nxdomain_error"
    assert misplaced.failure == "dns_server_misbehaving"
    request_line, headers = server.requests[0]
    assert request_line == "POST /dns-query HTTP/1.1"
    assert headers["host"] == f"doh.example.test:{port}"
    assert headers["content-type"] == "application/dns-message"
    assert sni_seen[0] == "doh.example.test"


async def test_doh_untrusted_certificate(loopback, other_ca, trusting) -> None:
    context = loopback.server_context(other_ca, "doh.example.test")
    async with (
        loopback.serve_tcp(_DoHServer(Zone()), ssl=context) as port,
        httpx.AsyncClient(verify=trusting, trust_env=False) as client,
    ):
        resolver = parse_resolver(f"https://doh.example.test:{port}/dns-query#127.0.0.1")
        obs = await _ask(resolver, "a.test", doh_client=client)
    assert obs.failure == "ssl_unknown_authority"


async def test_doh_without_a_client_uses_verify(loopback, ca, trusting) -> None:
    context = loopback.server_context(ca, "127.0.0.1")
    async with loopback.serve_tcp(_DoHServer(Zone()), ssl=context) as port:
        resolver = parse_resolver(f"https://127.0.0.1:{port}/dns-query")
        obs = await _ask(resolver, "a.test", verify=trusting)
    assert (obs.failure, obs.addresses) == (None, (REAL, "192.0.2.2"))


async def test_doh_silent_handshake_times_out(loopback, trusting) -> None:
    async with (
        loopback.serve_tcp(loopback.hold) as port,
        httpx.AsyncClient(verify=trusting, trust_env=False) as client,
    ):
        resolver = parse_resolver(f"https://127.0.0.1:{port}/dns-query")
        obs = await _ask(resolver, "a.test", doh_client=client, timeout=0.3)
    assert obs.failure == "generic_timeout_error"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_doh_refused(loopback) -> None:
    resolver = parse_resolver(f"https://127.0.0.1:{loopback.closed_port()}/dns-query")
    async with httpx.AsyncClient(trust_env=False) as client:
        obs = await _ask(resolver, "a.test", doh_client=client)
    assert obs.failure == "connection_refused"


# --- the system's resolver, with or without /etc/resolv.conf ----------------------------

_SYSTEM = ["198.51.100.1"]
_DOH = "https://dns.google/dns-query"

# (id, Windows?, resolv.conf text or None for no file, configured() result or the reason it
#  raises, the resolver expected or a regex for the error, {path} standing for resolv.conf)
SYSTEM_RESOLVER_CASES: list[tuple[str, bool, str | None, list[str] | str, str]] = [
    ("resolv.conf wins", False, "search lan\nnameserver 192.0.2.53\n", _SYSTEM, "192.0.2.53"),
    ("zone dropped", False, "nameserver fe80::1%eth0\n", _SYSTEM, "fe80::1"),
    ("no file: macOS/Windows-like", False, None, _SYSTEM, "198.51.100.1"),
    ("file without nameserver", False, "search lan\n", _SYSTEM, "198.51.100.1"),
    ("no usable nameserver in file", False, "nameserver bogus\n", _SYSTEM, "198.51.100.1"),
    ("DoH URL skipped", False, None, [_DOH, "2001:DB8::53"], "2001:db8::53"),
    (
        "Do53 on another port skipped",
        False,
        None,
        ["Do53:192.0.2.9@5353", "192.0.2.7"],
        "192.0.2.7",
    ),
    ("zone in configuration", False, None, ["fe80::1%12"], "fe80::1"),
    ("Windows: registry only", True, "nameserver 192.0.2.53\n", _SYSTEM, "198.51.100.1"),
    (
        "nothing anywhere",
        False,
        "search lan\n",
        [],
        r"^no nameserver in {path} and none in the system's configuration \(it lists none\)$",
    ),
    (
        "no file, configuration unreadable",
        False,
        None,
        "cannot open /etc/resolv.conf",
        r"^cannot read {path} \(.+\) and none in the system's configuration "
        r"\(cannot open /etc/resolv\.conf\)$",
    ),
    (
        "only DoH configured",
        False,
        None,
        [_DOH],
        r"^cannot read {path} \(.+\) and none in the system's configuration "
        r"\(no plain address among https://dns\.google/dns-query\)$",
    ),
    (
        "Windows: nothing",
        True,
        None,
        "registry\nunreadable",
        r"^no nameserver in the system's configuration \(registry unreadable\)$",
    ),
]


@pytest.mark.parametrize(
    ("windows", "resolv_conf", "configured", "expected"),
    [case[1:] for case in SYSTEM_RESOLVER_CASES],
    ids=[case[0] for case in SYSTEM_RESOLVER_CASES],
)
def test_system_resolver_falls_back_on_the_system_configuration(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    windows: bool,
    resolv_conf: str | None,
    configured: list[str] | str,
    expected: str,
) -> None:
    monkeypatch.setattr(probe_dns, "_WINDOWS", windows)
    path = tmp_path / "resolv.conf"
    if resolv_conf is not None:
        path.write_text(resolv_conf)
    calls = []

    def system_configuration() -> list[str]:
        calls.append(None)
        if isinstance(configured, str):
            raise ResolverSpecError(configured)
        return configured

    if expected.startswith("^"):
        with pytest.raises(ResolverSpecError) as caught:
            system_resolver(str(path), configured=system_configuration)
        assert re.match(expected.format(path=re.escape(str(path))), str(caught.value))
    else:
        spec = system_resolver(str(path), configured=system_configuration)
        assert spec == ResolverSpec("udp", expected, 53, None, expected)
    from_file = not windows and resolv_conf is not None and "nameserver" in resolv_conf
    assert len(calls) == (0 if from_file and "bogus" not in resolv_conf else 1)


def _fake_resolver(
    monkeypatch: pytest.MonkeyPatch, outcome: BaseException | list[dns.nameserver.Nameserver]
) -> list[bool]:
    """Replace dnspython's Resolver; returns the ``configure`` arguments it is called with."""
    calls: list[bool] = []
    real = dns.resolver.Resolver

    def resolver(configure: bool = True) -> dns.resolver.Resolver:
        calls.append(configure)
        if isinstance(outcome, BaseException):
            raise outcome
        configured = real(configure=False)
        configured.nameservers = outcome
        return configured

    monkeypatch.setattr(dns.resolver, "Resolver", resolver)
    return calls


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (dns.resolver.NoResolverConfiguration("cannot open /etc/resolv.conf"), "cannot open"),
        (dns.resolver.NoResolverConfiguration(), "could not be read"),
        (PermissionError(13, "Permission denied"), "Permission denied"),
        (ValueError("nameserver bogus is not ..."), "nameserver bogus"),
        (NotImplementedError(), "NotImplementedError"),
    ],
)
def test_system_resolver_reads_dnspython_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, reason: str
) -> None:
    monkeypatch.setattr(probe_dns, "_WINDOWS", False)
    calls = _fake_resolver(monkeypatch, error)
    with pytest.raises(ResolverSpecError, match=r"system's configuration \(.*" + reason) as caught:
        system_resolver(str(tmp_path / "missing"))
    assert calls == [True]
    assert "\n" not in str(caught.value)


def test_system_resolver_takes_dnspython_plain_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_dns, "_WINDOWS", True)
    calls = _fake_resolver(
        monkeypatch,
        [
            dns.nameserver.DoHNameserver(_DOH),
            dns.nameserver.DoTNameserver("192.0.2.8"),
            dns.nameserver.Do53Nameserver("192.0.2.9", 5353),
            dns.nameserver.Do53Nameserver("192.0.2.7"),
        ],
    )
    assert system_resolver(str(tmp_path / "missing")).address == "192.0.2.7"
    assert calls == [True]


def test_dnspython_resolver_is_imported_lazily() -> None:
    probe = "import sys, netprobe.measure.steps.dns; print('dns.resolver' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
