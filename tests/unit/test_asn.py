"""ASN lookups, the ASN data files, and the probe's public IP, against loopback servers.

Nothing here leaves 127.0.0.1: the DNS and HTTP services are staged by the tests. The
addresses answered as "public" are in 93.184.0.0/15: public space, never contacted.
"""

from __future__ import annotations

import asyncio
import bz2
import gzip
import http.server
import ipaddress
import json
import logging
import ssl
import struct
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pyasn
import pytest

from netprobe.errors import ASNDatabaseError, ASNUpdateError
from netprobe.measure.asn import (
    ASNResolver,
    load_asnames,
    load_ipasn,
    parse_autnums,
    parse_cymru_asname,
    parse_cymru_origin,
    split_asname,
    update_database,
)
from netprobe.measure.identity import (
    DNSEcho,
    HTTPEcho,
    IPAnswer,
    IPChoice,
    choose_ip,
    discover_probe,
    discover_public_ip,
    validate_ip_service,
)
from netprobe.measure.steps.dns import ResolverSpec, parse_resolver
from netprobe.model.networks import ASInfo
from tests.mrt import AS_SEQUENCE, AS_SET, rib_dump

PROBE_IP = "93.184.5.5"  # the "public" address the echo services stage

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# --- Team Cymru's answers ---------------------------------------------------------------

CYMRU_ORIGINS = [
    ("12389 | 93.184.0.0/15 | RU | ripencc | 2001-01-01", (12389, "93.184.0.0/15", "RU")),
    ("  9198|93.184.5.0/24|kz|ripencc|", (9198, "93.184.5.0/24", "KZ")),
    ("13335 209242 | 93.184.0.0/24 | AU | apnic | 2011-08-11", (13335, "93.184.0.0/24", "AU")),
    ("3333 | 2001:db8::/32 | NL | ripencc | 1992-01-01", (3333, "2001:db8::/32", "NL")),
    ("3333 | 93.184.0.0/15 |  | ripencc | ", (3333, "93.184.0.0/15", None)),
    ("3333 | 93.184.0.0/15 | EU1 | ripencc | ", (3333, "93.184.0.0/15", None)),
    ("4294967295 | 93.184.0.0/15 | US", (4294967295, "93.184.0.0/15", "US")),
]
CYMRU_ORIGINS_MALFORMED = [
    "",
    "garbage",
    "12389 | 93.184.0.0/15",
    "NA | 93.184.0.0/15 | RU | ripencc | 2001-01-01",
    "AS12389 | 93.184.0.0/15 | RU | ripencc |",
    " | 93.184.0.0/15 | RU | ripencc |",
    "0 | 93.184.0.0/15 | RU | ripencc |",
    "4294967296 | 93.184.0.0/15 | RU | ripencc |",
    "-1 | 93.184.0.0/15 | RU | ripencc |",
    "12389 | 93.184.5.5/15 | RU | ripencc |",
    "12389 | not a prefix | RU | ripencc |",
    "١٢٣ | 93.184.0.0/15 | RU | ripencc |",
]
CYMRU_ASNAMES = [
    ("12389 | RU | ripencc | 2001-01-01 | ROSTELECOM-AS, RU", ("ROSTELECOM-AS", "RU")),
    ("15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US", ("GOOGLE - Google LLC", "US")),
    ("64496 |  | other | | ODD | NAME, DE", ("ODD | NAME", "DE")),
    ("3333 | NL | ripencc | 1992 | RIPE-NCC-AS", ("RIPE-NCC-AS", "NL")),
]
CYMRU_ASNAMES_MALFORMED = [
    "",
    "12389 | RU | ripencc | 2001-01-01",
    "12389 | RU | ripencc | 2001-01-01 |   ",
    "x | RU | ripencc | 2001-01-01 | NAME, RU",
]


@pytest.mark.parametrize(("txt", "parsed"), CYMRU_ORIGINS)
def test_parse_cymru_origin(txt: str, parsed: tuple[int, str, str | None]) -> None:
    assert parse_cymru_origin(txt) == parsed


@pytest.mark.parametrize("txt", CYMRU_ORIGINS_MALFORMED)
def test_parse_cymru_origin_malformed_is_none(txt: str) -> None:
    assert parse_cymru_origin(txt) is None


@pytest.mark.parametrize(("txt", "parsed"), CYMRU_ASNAMES)
def test_parse_cymru_asname(txt: str, parsed: tuple[str, str | None]) -> None:
    assert parse_cymru_asname(txt) == parsed


@pytest.mark.parametrize("txt", CYMRU_ASNAMES_MALFORMED)
def test_parse_cymru_asname_malformed_is_none(txt: str) -> None:
    assert parse_cymru_asname(txt) is None


# --- AS names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "split"),
    [
        ("GOOGLE - Google LLC, US", ("GOOGLE - Google LLC", "US")),
        ("KAZTELECOM-AS, KZ", ("KAZTELECOM-AS", "KZ")),
        ("Acme, Inc., DE", ("Acme, Inc.", "DE")),
        ("NO-COUNTRY - somewhere", ("NO-COUNTRY - somewhere", None)),
        ("lower, us", ("lower, us", None)),
        ("  ", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_asname(value: str | None, split: tuple[str | None, str | None]) -> None:
    assert split_asname(value) == split


def test_load_asnames_skips_entries_that_are_not_an_asn_and_a_name(tmp_path: Path) -> None:
    names = tmp_path / "asnames.json"
    document = {"9198": "KAZTELECOM-AS, KZ", "AS1": "x", "2": 3, "4": " ", "12389": "ROSTELECOM"}
    names.write_text(json.dumps(document))
    assert load_asnames(names) == {9198: "KAZTELECOM-AS, KZ", 12389: "ROSTELECOM"}
    zipped = tmp_path / "asnames.json.gz"
    zipped.write_bytes(gzip.compress(names.read_bytes()))
    assert load_asnames(zipped) == load_asnames(names)


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[1, 2]", b""])
def test_load_asnames_unreadable(tmp_path: Path, content: bytes) -> None:
    names = tmp_path / "asnames.json"
    names.write_bytes(content)
    with pytest.raises(ASNDatabaseError) as caught:
        load_asnames(names)
    _assert_one_line_fix(str(caught.value))


def test_parse_autnums() -> None:
    assert parse_autnums(AUTNUMS) == {
        1299: "TWELVE99 Arelion, SE",
        9198: "KAZTELECOM-AS, KZ",
        12389: "ROSTELECOM-AS PJSC Rostelecom, RU",
        64496: "AT&T Docs - <example>, US",
        3333: "RIPE-NCC-AS Réseaux IP Européens, NL",
    }


# --- the IPASN data file ----------------------------------------------------------------

IPASN = "; IP-ASN32-DAT file\n93.184.0.0/15\t9198\n93.184.5.0/24\t12389\n"
ASNAMES = {"9198": "KAZTELECOM-AS, KZ", "12389": "ROSTELECOM-AS PJSC Rostelecom, RU"}


def _data_dir(tmp_path: Path, names: dict[str, str] | None = ASNAMES) -> Path:
    db = tmp_path / "ipasn.dat"
    db.write_text(IPASN)
    if names is not None:
        (tmp_path / "asnames.json").write_text(json.dumps(names))
    return db


def _assert_one_line_fix(message: str) -> None:
    assert "\n" not in message
    assert "netprobe asn update" in message
    assert "Traceback" not in message


def test_load_ipasn(tmp_path: Path) -> None:
    db = load_ipasn(_data_dir(tmp_path))
    assert db.lookup(PROBE_IP) == (12389, "93.184.5.0/24")
    assert db.lookup("93.185.0.1") == (9198, "93.184.0.0/15")


def test_load_ipasn_gzipped(tmp_path: Path) -> None:
    zipped = tmp_path / "ipasn.dat.gz"
    zipped.write_bytes(gzip.compress(IPASN.encode()))
    assert load_ipasn(zipped).lookup(PROBE_IP) == (12389, "93.184.5.0/24")


@pytest.mark.parametrize(
    "content",
    [
        b"\x8f\x00garbage\x13\x37" * 50,
        b"this is not an IPASN file\n",
        b"93.184.0.0/15\tAS9198\n",
        b"; nothing but comments\n",
        b"\x00" * 64,
    ],
)
def test_load_ipasn_corrupt(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "ipasn.dat"
    db.write_bytes(content)
    with pytest.raises(ASNDatabaseError) as caught:
        load_ipasn(db)
    _assert_one_line_fix(str(caught.value))
    assert "--asn-db" in str(caught.value)


def test_load_ipasn_broken_gzip(tmp_path: Path) -> None:
    zipped = tmp_path / "ipasn.dat.gz"
    zipped.write_bytes(gzip.compress(IPASN.encode())[:20])
    with pytest.raises(ASNDatabaseError) as caught:
        load_ipasn(zipped)
    _assert_one_line_fix(str(caught.value))


@pytest.mark.parametrize("name", ["missing.dat", "."])
def test_load_ipasn_missing(tmp_path: Path, name: str) -> None:
    with pytest.raises(ASNDatabaseError) as caught:
        load_ipasn(tmp_path / name)
    _assert_one_line_fix(str(caught.value))


# --- ASNResolver with a data file -------------------------------------------------------


def test_lookup_with_data_file(tmp_path: Path) -> None:
    resolver = ASNResolver(_data_dir(tmp_path))
    assert resolver.note is None
    assert resolver.lookup(PROBE_IP) == ASInfo(
        12389, "93.184.5.0/24", "ROSTELECOM-AS PJSC Rostelecom", "RU", "pyasn"
    )
    assert resolver.lookup("::ffff:93.185.0.1").asn == 9198
    assert resolver.asn_of("93.185.0.1") == 9198
    unannounced = resolver.lookup("203.0.114.1")
    assert (unannounced.asn, unannounced.source) == (None, "none")
    assert unannounced.note == "not announced in the IPASN data"
    assert resolver.lookup("10.1.2.3").note == "reserved address"
    assert resolver.as_name_of(9198) == ("KAZTELECOM-AS", "KZ")
    assert resolver.as_name_of(1) == (None, None)


async def test_lookup_async_with_data_file_never_asks_cymru(tmp_path: Path) -> None:
    # A Cymru resolver nobody listens on: asking it would time out.
    silent = parse_resolver("127.0.0.1:9")
    resolver = ASNResolver(_data_dir(tmp_path), cymru_resolver=silent, timeout=5)
    info = await asyncio.wait_for(resolver.lookup_async(PROBE_IP), 1)
    assert info.source == "pyasn"


def test_lookup_without_names_file(tmp_path: Path) -> None:
    resolver = ASNResolver(_data_dir(tmp_path, names=None))
    assert resolver.lookup(PROBE_IP) == ASInfo(12389, "93.184.5.0/24", None, None, "pyasn")


def test_invalid_addresses(tmp_path: Path) -> None:
    resolver = ASNResolver(_data_dir(tmp_path))
    with pytest.raises(ValueError):
        resolver.lookup("not-an-ip")
    assert resolver.asn_of("not-an-ip") is None


def test_explicit_data_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ASNDatabaseError) as caught:
        ASNResolver(tmp_path / "nope.dat")
    _assert_one_line_fix(str(caught.value))


def test_explicit_corrupt_names_file_is_an_error(tmp_path: Path) -> None:
    db = _data_dir(tmp_path)
    (tmp_path / "asnames.json").write_text("{")
    with pytest.raises(ASNDatabaseError):
        ASNResolver(db)


def test_missing_default_data_file_falls_back_to_cymru(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    resolver = ASNResolver(cymru_resolver=parse_resolver("127.0.0.1:9"))
    assert resolver.note == (
        "no IPASN data file (run 'netprobe asn update'); using Team Cymru's DNS service"
    )
    # Synchronous lookups never query: unknown until lookup_async has asked.
    assert resolver.lookup(PROBE_IP).asn is None
    assert resolver.asn_of(PROBE_IP) is None


def test_default_data_file_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "netprobe").mkdir()
    _data_dir(tmp_path / "netprobe")
    assert ASNResolver().lookup(PROBE_IP).asn == 12389


def test_corrupt_default_data_file_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "netprobe").mkdir()
    (tmp_path / "netprobe" / "ipasn.dat").write_bytes(b"garbage\n")
    resolver = ASNResolver(use_cymru=False)
    assert resolver.note is not None
    assert resolver.note.startswith("ASN lookups disabled: IPASN data file ")
    _assert_one_line_fix(resolver.note)


def test_corrupt_default_names_file_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "netprobe").mkdir()
    _data_dir(tmp_path / "netprobe")
    (tmp_path / "netprobe" / "asnames.json").write_text("[]")
    resolver = ASNResolver(use_cymru=False)
    assert resolver.note is not None
    _assert_one_line_fix(resolver.note)
    assert resolver.lookup(PROBE_IP) == ASInfo(12389, "93.184.5.0/24", None, None, "pyasn")


def test_each_address_is_looked_up_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()
    real_lookup = pyasn.pyasn.lookup

    def counting(self: pyasn.pyasn, address: str) -> tuple[int | None, str | None]:
        calls[address] += 1
        return real_lookup(self, address)

    monkeypatch.setattr(pyasn.pyasn, "lookup", counting)
    resolver = ASNResolver(_data_dir(tmp_path))
    addresses = [f"93.184.5.{i}" for i in range(10)]
    for n in range(300):
        address = addresses[n % 10]
        lookup = resolver.asn_of if n % 3 else resolver.lookup
        lookup(address)
    assert sum(calls.values()) == 10
    assert set(calls.values()) == {1}


# --- Team Cymru over loopback DNS ---------------------------------------------------------


class FakeDNS(asyncio.DatagramProtocol):
    """A loopback DNS server: ``records[(name, type, class)]`` is a list of rdata texts.

    Names not in ``records`` get NXDOMAIN; names in ``silent`` get nothing at all.
    """

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], list[str]] = {}
        self.silent: set[str] = set()
        self.asked: Counter[str] = Counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.reply(data)
        if reply is not None:
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

    def reply(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        rdclass = dns.rdataclass.to_text(question.rdclass)
        self.asked[name] += 1
        if name in self.silent:
            return None
        reply = dns.message.make_response(query)
        texts = self.records.get((name, rdtype, rdclass))
        if texts is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            rdatas = [f'"{text}"' if rdtype == "TXT" else text for text in texts]
            reply.answer.append(
                dns.rrset.from_text_list(question.name, 60, rdclass, rdtype, rdatas)
            )
        return reply.to_wire()

    def txt(self, name: str, *texts: str, rdclass: str = "IN") -> None:
        self.records[(name, "TXT", rdclass)] = list(texts)


@pytest.fixture
async def fake_dns() -> AsyncIterator[tuple[ResolverSpec, FakeDNS]]:
    server = FakeDNS()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: server, local_addr=("127.0.0.1", 0)
    )
    try:
        yield parse_resolver(f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"), server
    finally:
        transport.close()


async def test_cymru_lookup(fake_dns: tuple[ResolverSpec, FakeDNS]) -> None:
    spec, server = fake_dns
    server.txt(
        "5.5.184.93.origin.asn.cymru.com",
        "9198 | 93.184.0.0/15 | KZ | ripencc | 2001-01-01",
        "12389 13335 | 93.184.5.0/24 | | ripencc | 2001-01-01",  # more specific: it routes
    )
    server.txt("as12389.asn.cymru.com", "12389 | RU | ripencc | 2001-01-01 | ROSTELECOM-AS, RU")
    resolver = ASNResolver(None, cymru_resolver=spec, timeout=1)
    assert resolver.note == "no IPASN data file; using Team Cymru's DNS service"
    info = await resolver.lookup_async(PROBE_IP)
    assert info == ASInfo(12389, "93.184.5.0/24", "ROSTELECOM-AS", "RU", "cymru")
    assert resolver.asn_of(PROBE_IP) == 12389
    assert resolver.lookup(PROBE_IP) == info


def _dns_over_stream(server: FakeDNS) -> StreamHandler:
    """DNS over TCP or TLS: messages prefixed by their length (RFC 7766)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            (size,) = struct.unpack("!H", await reader.readexactly(2))
            reply = server.reply(await reader.readexactly(size)) or b""
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()

    return handle


def _dns_over_https(server: FakeDNS) -> StreamHandler:
    """DNS over HTTPS (RFC 8484): DNS messages POSTed to /dns-query, HTTP/1.1."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in head[1:] if line)
            assert head[0] == "POST /dns-query HTTP/1.1"
            assert headers["host"].startswith("doh.example.test:")
            reply = server.reply(await reader.readexactly(int(headers["content-length"])))
            reply = reply or b""
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/dns-message\r\n"
                b"Content-Length: %d\r\n\r\n%b" % (len(reply), reply)
            )
            await writer.drain()

    return handle


@pytest.mark.parametrize("transport", ["tcp", "tls", "https"])
async def test_cymru_over_streams(loopback, ca, trusting: ssl.SSLContext, transport: str) -> None:
    server = FakeDNS()
    server.txt("5.5.184.93.origin.asn.cymru.com", "12389 | 93.184.5.0/24 | RU | ripencc |")
    server.txt("as12389.asn.cymru.com", "12389 | RU | ripencc | 2001-01-01 | ROSTELECOM-AS, RU")
    handler = _dns_over_https(server) if transport == "https" else _dns_over_stream(server)
    tls = loopback.server_context(ca, "doh.example.test") if transport != "tcp" else None
    async with loopback.serve_tcp(handler, ssl=tls) as port:
        spec = {
            "tcp": f"tcp://127.0.0.1:{port}",
            "tls": f"tls://doh.example.test:{port}#127.0.0.1",
            "https": f"https://doh.example.test:{port}/dns-query#127.0.0.1",
        }[transport]
        resolver = ASNResolver(None, cymru_resolver=parse_resolver(spec), verify=trusting)
        info = await resolver.lookup_async(PROBE_IP)
    assert info == ASInfo(12389, "93.184.5.0/24", "ROSTELECOM-AS", "RU", "cymru")


async def test_cymru_over_untrusted_tls(loopback, other_ca, trusting: ssl.SSLContext) -> None:
    tls = loopback.server_context(other_ca, "127.0.0.1")
    async with loopback.serve_tcp(_dns_over_stream(FakeDNS()), ssl=tls) as port:
        spec = parse_resolver(f"tls://127.0.0.1:{port}")
        info = await ASNResolver(None, cymru_resolver=spec, verify=trusting).lookup_async(A)
    assert info.note == "Team Cymru's DNS service failed (ssl_unknown_authority)"


async def test_cymru_ipv6_nibbles(fake_dns: tuple[ResolverSpec, FakeDNS]) -> None:
    spec, server = fake_dns
    nibbles = ".".join(reversed(ipaddress.ip_address("2a00:1450::1").exploded.replace(":", "")))
    server.txt(f"{nibbles}.origin6.asn.cymru.com", "15169 | 2a00:1450::/32 | US | ripencc |")
    resolver = ASNResolver(None, cymru_resolver=spec, timeout=1)
    info = await resolver.lookup_async("2a00:1450::1")
    assert (info.asn, info.prefix, info.as_name, info.cc) == (15169, "2a00:1450::/32", None, "US")


async def test_cymru_failures_are_notes(fake_dns: tuple[ResolverSpec, FakeDNS]) -> None:
    spec, server = fake_dns
    server.txt("1.5.184.93.origin.asn.cymru.com", "nonsense")
    server.silent.add("2.5.184.93.origin.asn.cymru.com")
    resolver = ASNResolver(None, cymru_resolver=spec, timeout=0.3)
    notes = {
        address: (await resolver.lookup_async(address)).note
        for address in ("93.184.5.1", "93.184.5.2", "93.184.5.3", "192.168.1.1")
    }
    assert notes == {
        "93.184.5.1": "malformed answer from Team Cymru",
        "93.184.5.2": "Team Cymru's DNS service failed (generic_timeout_error)",
        "93.184.5.3": "not announced (Team Cymru)",
        "192.168.1.1": "reserved address",
    }
    assert "1.168.192.origin.asn.cymru.com" not in server.asked


async def test_concurrent_cymru_lookups_share_queries(
    fake_dns: tuple[ResolverSpec, FakeDNS],
) -> None:
    spec, server = fake_dns
    addresses = [f"93.184.{i}.1" for i in range(10)]
    for i in range(10):
        asn = 9198 if i % 2 else 12389
        server.txt(f"1.{i}.184.93.origin.asn.cymru.com", f"{asn} | 93.184.{i}.0/24 | KZ | r |")
    server.txt("as9198.asn.cymru.com", "9198 | KZ | ripencc | 2001-01-01 | KAZTELECOM-AS, KZ")
    server.txt("as12389.asn.cymru.com", "12389 | RU | ripencc | 2001-01-01 | ROSTELECOM-AS, RU")
    resolver = ASNResolver(None, cymru_resolver=spec, timeout=1)
    infos = await asyncio.gather(*(resolver.lookup_async(addresses[n % 10]) for n in range(300)))
    assert {info.asn for info in infos} == {9198, 12389}
    origin_queries = {name: n for name, n in server.asked.items() if "origin" in name}
    assert len(origin_queries) == 10
    assert set(origin_queries.values()) == {1}
    assert server.asked["as9198.asn.cymru.com"] == server.asked["as12389.asn.cymru.com"] == 1
    await asyncio.gather(*(resolver.lookup_async(a) for a in addresses))
    assert sum(server.asked.values()) == 12


async def test_cancelled_lookup_does_not_cancel_the_shared_query(
    fake_dns: tuple[ResolverSpec, FakeDNS],
) -> None:
    spec, server = fake_dns
    server.txt("5.5.184.93.origin.asn.cymru.com", "12389 | 93.184.5.0/24 | RU | r |")
    resolver = ASNResolver(None, cymru_resolver=spec, timeout=1)
    first = asyncio.ensure_future(resolver.lookup_async(PROBE_IP))
    second = asyncio.ensure_future(resolver.lookup_async(PROBE_IP))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).asn == 12389
    assert server.asked["5.5.184.93.origin.asn.cymru.com"] == 1


# --- netprobe asn update, against a loopback web server ----------------------------------


def small_rib_dump() -> bytes:
    """Four routes; the origin is the last AS of the path, the lowest of a final AS_SET."""
    return rib_dump(
        ("93.184.0.0/15", [(AS_SEQUENCE, [3333, 9198])]),
        ("93.184.5.0/24", [(AS_SEQUENCE, [3333, 1299, 12389])]),
        ("93.185.0.0/16", [(AS_SEQUENCE, [3333]), (AS_SET, [2914, 1299])]),
        ("2001:db8::/32", [(AS_SEQUENCE, [3333, 6939])]),
    )


AUTNUMS = """<html><head><title>Autonomous System Numbers</title></head><body><pre>
<a href="/cgi-bin/as-report?as=AS1299&view=2.0">AS1299 </a> TWELVE99 Arelion, SE
<a href="/cgi-bin/as-report?as=AS9198&view=2.0">AS9198 </a> KAZTELECOM-AS, KZ
<a href="/cgi-bin/as-report?as=AS12389&view=2.0">AS12389</a> ROSTELECOM-AS PJSC Rostelecom, RU
<a href="/cgi-bin/as-report?as=AS64496&view=2.0">AS64496</a> AT&amp;T Docs - &lt;example&gt;, US
<a href="/cgi-bin/as-report?as=AS3333&view=2.0">AS3333 </a>  RIPE-NCC-AS Réseaux IP Européens, NL
<a href="/cgi-bin/as-report?as=AS64497&view=2.0">AS64497</a>
not a line about an AS
</pre></body></html>
"""


class _Site(http.server.ThreadingHTTPServer):
    """A loopback web server: ``pages[path] = (status, body)``; others are 404."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Page)
        self.pages: dict[str, tuple[int, bytes]] = {}
        self.hits: Counter[str] = Counter()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Page(http.server.BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        status, body = self.server.pages.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[_Site]:
    server = _Site()
    # A short poll: shutdown() waits for it.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _serve_data(site: _Site) -> None:
    site.pages["/rib"] = (200, small_rib_dump())
    site.pages["/rib.bz2"] = (200, bz2.compress(small_rib_dump()))
    site.pages["/rib.gz"] = (200, gzip.compress(small_rib_dump()))
    site.pages["/autnums.html"] = (200, AUTNUMS.encode("latin-1"))  # as cidr-report did


@pytest.mark.parametrize("path", ["/rib", "/rib.bz2", "/rib.gz"])
def test_update_database(tmp_path: Path, site: _Site, path: str) -> None:
    _serve_data(site)
    stages: list[str] = []
    progress: list[tuple[int, int | None]] = []
    result = update_database(
        tmp_path / "data",
        rib_url=site.url(path),
        names_url=site.url("/autnums.html"),
        progress=lambda done, total: progress.append((done, total)),
        stage=stages.append,
    )
    assert result.db_path == tmp_path / "data" / "ipasn.dat"
    assert result.names_path == tmp_path / "data" / "asnames.json"
    assert (result.prefixes_v4, result.prefixes_v6, result.as_names) == (3, 1, 5)
    assert result.note is None
    assert stages == [
        f"downloading {site.url(path)}",
        "converting the RIB dump to IPASN data",
        f"downloading AS names from {site.url('/autnums.html')}",
    ]
    size = len(site.pages[path][1])
    assert (size, size) in progress  # the download, then the conversion, end at the size

    resolver = ASNResolver(result.db_path)
    assert resolver.lookup(PROBE_IP) == ASInfo(
        12389, "93.184.5.0/24", "ROSTELECOM-AS PJSC Rostelecom", "RU", "pyasn"
    )
    assert resolver.lookup("93.184.200.1").asn == 9198
    assert resolver.lookup("93.185.1.1").asn == 1299
    assert load_ipasn(result.db_path).lookup("2001:db8::1") == (6939, "2001:db8::/32")
    assert resolver.as_name_of(3333) == ("RIPE-NCC-AS Réseaux IP Européens", "NL")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["asnames.json", "ipasn.dat"]


def test_update_finds_the_latest_rib_dump(tmp_path: Path, site: _Site) -> None:
    _serve_data(site)
    now = datetime.now(UTC)
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y.%m")
    listing = (
        '<a href="rib.20000101.0600.bz2">rib.20000101.0600.bz2</a>\n'
        '<a href="rib.20000102.0000.bz2">rib.20000102.0000.bz2</a>\n'
    )
    # This month has no dump yet (404): last month's newest dump is taken.
    site.pages[f"/archive/{last_month}/RIBS/"] = (200, listing.encode())
    site.pages[f"/archive/{last_month}/RIBS/rib.20000102.0000.bz2"] = site.pages["/rib.bz2"]
    result = update_database(
        tmp_path, archive_url=site.url("/archive"), names_url=site.url("/autnums.html")
    )
    assert result.rib_url == site.url(f"/archive/{last_month}/RIBS/rib.20000102.0000.bz2")
    assert site.hits[f"/archive/{now.strftime('%Y.%m')}/RIBS/"] == 1
    assert ASNResolver(result.db_path).lookup(PROBE_IP).asn == 12389


def test_update_without_any_dump_listed(tmp_path: Path, site: _Site) -> None:
    with pytest.raises(ASNUpdateError, match=r"no RIB dump found in http://127\.0\.0\.1:"):
        update_database(tmp_path, archive_url=site.url("/archive/"))


@pytest.mark.parametrize(
    ("page", "complaint"),
    [
        ((404, b"gone"), "cannot download http://127.0.0.1:.*/rib: HTTP status 404"),
        ((200, b"\x13\x37 not an MRT file " * 40), "not a readable MRT TABLE_DUMP_V2 RIB dump"),
        ((200, bz2.compress(b"\x00" * 40)[:-8]), "not a readable MRT TABLE_DUMP_V2 RIB dump"),
        ((200, rib_dump()), "the RIB dump holds no routes"),
    ],
)
def test_failed_update_keeps_the_old_files(
    tmp_path: Path, site: _Site, page: tuple[int, bytes], complaint: str
) -> None:
    _serve_data(site)
    site.pages["/rib"] = page
    _data_dir(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ASNUpdateError, match=complaint) as caught:
        update_database(tmp_path, rib_url=site.url("/rib"), names_url=site.url("/autnums.html"))
    assert "\n" not in str(caught.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_update_unreachable(tmp_path: Path, loopback) -> None:
    url = f"http://127.0.0.1:{loopback.closed_port()}/rib"
    with pytest.raises(ASNUpdateError, match=r"cannot download .*/rib: connection_refused$"):
        update_database(tmp_path, rib_url=url)


def test_update_without_names_still_installs_the_data(tmp_path: Path, site: _Site) -> None:
    _serve_data(site)
    site.pages["/autnums.html"] = (200, b"<html>no AS here</html>")
    result = update_database(
        tmp_path, rib_url=site.url("/rib"), names_url=site.url("/autnums.html")
    )
    assert result.note == f"AS names not updated: no AS names found in {site.url('/autnums.html')}"
    assert result.names_path is None
    assert ASNResolver(result.db_path).lookup(PROBE_IP) == ASInfo(
        12389, "93.184.5.0/24", None, None, "pyasn"
    )


# --- the probe's public IP --------------------------------------------------------------


def _answer(method: str, ip: str | None) -> IPAnswer:
    return IPAnswer(method, ip, None if ip else "generic_timeout_error")


A, B = "93.184.5.5", "93.184.7.7"


@pytest.mark.parametrize(
    ("answers", "choice"),
    [
        ([], None),
        ([("m1", None), ("m2", None)], None),
        ([("m1", A), ("m2", A)], IPChoice(A, "m1", confirmed=True)),
        ([("m1", None), ("m2", A), ("m3", A)], IPChoice(A, "m2", confirmed=True)),
        ([("m1", A), ("m2", None), ("m3", None)], IPChoice(A, "m1 (unconfirmed)", False)),
        ([("m1", A), ("m2", B)], IPChoice(A, "m1 (1 of 2 answers differ)", confirmed=False)),
        ([("m1", A), ("m2", B), ("m3", B)], IPChoice(B, "m2 (1 of 3 answers differ)", True)),
        (
            [("m1", B), ("m2", A), ("m3", A), ("m4", B), ("m5", A)],
            IPChoice(A, "m2 (2 of 5 answers differ)", confirmed=True),
        ),
    ],
)
def test_choose_ip(answers: list[tuple[str, str | None]], choice: IPChoice | None) -> None:
    assert choose_ip([_answer(method, ip) for method, ip in answers]) == choice


@pytest.mark.parametrize(
    ("body", "status", "ip", "failure"),
    [
        (b"93.184.5.5\n", 200, A, None),
        (b"  93.184.5.5  ", 200, A, None),
        (b"10.1.2.3\n", 200, None, "not a public IP address"),
        (b"127.0.0.1", 200, None, "not a public IP address"),
        (b"<html>captive portal</html>", 200, None, "not a public IP address"),
        (b"93.184.5.5" * 100, 200, None, "not a public IP address"),
        (b"\xff\xfe", 200, None, "not a public IP address"),
        (b"93.184.5.5", 503, None, "HTTP status 503"),
    ],
    ids=["ip", "spaces", "private", "loopback", "html", "long", "binary", "status"],
)
async def test_http_echo(
    site: _Site,
    trusting: ssl.SSLContext,
    body: bytes,
    status: int,
    ip: str | None,
    failure: str | None,
) -> None:
    site.pages["/"] = (status, body)
    echo = HTTPEcho(site.url("/"))
    answer = await echo.ask(timeout=2, verify=trusting)
    assert answer == IPAnswer(f"http:{site.url('/')}", ip, failure)


async def test_http_echo_refused(trusting: ssl.SSLContext, loopback) -> None:
    url = f"http://127.0.0.1:{loopback.closed_port()}/"
    assert await HTTPEcho(url).ask(timeout=2, verify=trusting) == IPAnswer(
        f"http:{url}", None, "connection_refused"
    )


async def test_dns_echoes(fake_dns: tuple[ResolverSpec, FakeDNS], trusting: ssl.SSLContext) -> None:
    spec, server = fake_dns
    server.txt("whoami.cloudflare", A, rdclass="CH")
    server.txt("o-o.myaddr.l.google.com", "edns0-client-subnet 93.184.0.0/24", A)
    server.records[("myip.opendns.com", "A", "IN")] = [A]
    server.txt("bogon.test", "192.168.1.1")
    where = f"127.0.0.1:{spec.port}"
    echoes = [
        (DNSEcho("whoami.cloudflare", "TXT", spec, "CH"), A, None),
        (DNSEcho("o-o.myaddr.l.google.com", "TXT", spec), A, None),
        (DNSEcho("myip.opendns.com", "A", spec), A, None),
        (DNSEcho("bogon.test", "TXT", spec), None, "not a public IP address"),
        (DNSEcho("whoami.cloudflare", "TXT", spec), None, "dns_nxdomain_error"),
    ]
    for echo, ip, failure in echoes:
        answer = await echo.ask(timeout=1, verify=trusting)
        assert answer == IPAnswer(f"dns:{echo.name}@{where}", ip, failure)


async def test_discovery_stops_when_two_agree(site: _Site, trusting: ssl.SSLContext) -> None:
    for path in ("/a", "/b", "/c"):
        site.pages[path] = (200, A.encode())
    methods = [HTTPEcho(site.url(path)) for path in ("/a", "/b", "/c")]
    found = await discover_public_ip(methods, timeout=2, verify=trusting)
    assert found.choice == IPChoice(A, f"http:{site.url('/a')}", confirmed=True)
    assert site.hits["/c"] == 0


async def test_discovery_asks_further_on_disagreement(
    site: _Site, trusting: ssl.SSLContext
) -> None:
    site.pages["/a"] = (200, B.encode())
    site.pages["/b"] = (200, A.encode())
    site.pages["/c"] = (200, A.encode())
    methods = [HTTPEcho(site.url(path)) for path in ("/a", "/b", "/c")]
    found = await discover_public_ip(methods, timeout=2, verify=trusting)
    assert found.choice == IPChoice(A, f"http:{site.url('/b')} (1 of 3 answers differ)", True)


def _identity_resolver(tmp_path: Path) -> ASNResolver:
    return ASNResolver(_data_dir(tmp_path), use_cymru=False)


async def test_discover_probe(tmp_path: Path, site: _Site, trusting: ssl.SSLContext) -> None:
    site.pages["/ip"] = (200, b"93.184.5.5\n")
    identity = await discover_probe(
        ip_services=[site.url("/ip"), f"http://127.0.0.1:{site.server_address[1]}/missing"],
        resolver=_identity_resolver(tmp_path),
        asn_override=None,
        cc_override=None,
        timeout=2,
        verify=trusting,
    )
    assert identity.ip == A
    assert identity.ip_method == f"http:{site.url('/ip')} (unconfirmed)"
    assert (identity.asn, identity.as_name, identity.cc) == (
        12389,
        "ROSTELECOM-AS PJSC Rostelecom",
        "RU",
    )
    assert identity.note is None


async def test_discover_probe_overrides_touch_no_network(
    tmp_path: Path, site: _Site, trusting: ssl.SSLContext
) -> None:
    site.pages["/ip"] = (200, b"93.184.5.5\n")
    identity = await discover_probe(
        ip_services=[site.url("/ip")],
        resolver=_identity_resolver(tmp_path),
        asn_override=9198,
        cc_override="XX",
        timeout=2,
        verify=trusting,
    )
    assert (identity.ip, identity.ip_method, identity.note) == (None, None, None)
    assert (identity.asn, identity.as_name, identity.cc) == (9198, "KAZTELECOM-AS", "XX")
    assert sum(site.hits.values()) == 0


async def test_discover_probe_when_nothing_answers(
    tmp_path: Path, trusting: ssl.SSLContext, loopback
) -> None:
    url = f"http://127.0.0.1:{loopback.closed_port()}/"
    identity = await discover_probe(
        ip_services=[url],
        resolver=_identity_resolver(tmp_path),
        cc_override="KZ",
        timeout=2,
        verify=trusting,
    )
    assert (identity.ip, identity.asn, identity.cc) == (None, None, "KZ")
    assert identity.note == (
        f"public IP unknown: no IP echo service answered (http:{url}: connection_refused)"
    )


async def test_probe_ip_is_never_logged_nor_noted(
    tmp_path: Path, site: _Site, trusting: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    unannounced = "93.185.77.77"
    site.pages["/a"] = (200, unannounced.encode())
    site.pages["/b"] = (200, unannounced.encode())
    caplog.set_level(logging.DEBUG)
    identity = await discover_probe(
        ip_services=[site.url("/a"), site.url("/b")],
        resolver=ASNResolver(None, use_cymru=False),
        timeout=2,
        verify=trusting,
    )
    assert identity.ip == unannounced
    assert identity.note == "ASN unknown: ASN lookups disabled: no IPASN data file"
    assert caplog.records  # the methods are logged...
    assert unannounced not in caplog.text  # ...never the address
    assert unannounced not in repr(identity.note) + str(identity.ip_method)


@pytest.mark.parametrize("url", ["ftp://93.184.0.80/", "93.184.0.80", "http:///ip", "file:///x"])
def test_validate_ip_service_rejects(url: str) -> None:
    with pytest.raises(ValueError, match="give an http:// or https:// URL"):
        validate_ip_service(url)


def test_validate_ip_service_accepts_plain_http() -> None:
    assert validate_ip_service(" http://93.185.0.80/ ") == "http://93.185.0.80/"
