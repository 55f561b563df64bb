"""Testbed servers: DNS, DNS over HTTPS, web sites, blockpage, interception and TLS failure.

Run by the testbed as ``ip netns exec NS python3 servers.py --config FILE``, one process per
namespace. The config (JSON, written by ``topology.py``) says which services this namespace
runs. Prints ``READY`` once every socket listens and exits when its stdin closes, so servers
never outlive the testbed that started them. Standalone on purpose: only the standard library,
dnspython and trustme, no import of the test package.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import dataclasses
import functools
import hashlib
import html
import ipaddress
import itertools
import json
import random
import socket
import ssl
import struct
import sys
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import trustme

# Generous enough for the lossy network (400 ms RTT plus retransmissions), short enough that
# a stalled client (e.g. one whose SNI is being dropped) does not pin a task for long.
IO_TIMEOUT = 15.0
BIG_BODY_BYTES = 50 * 1024 * 1024
BIG_CHUNK_BYTES = 64 * 1024
TRICKLE_INTERVAL = 1.0
DNS_RECEIVE_BUFFER = 4 << 20
SO_RCVBUFFORCE = 33  # Linux (root may pass rmem_max); Python's socket module lacks the name
# TLS record: alert (21), TLS 1.2, length 2, fatal (2), handshake_failure (40).
TLS_HANDSHAKE_FAILURE_ALERT = bytes([21, 3, 3, 0, 2, 2, 40])

BLOCKPAGE_TITLE = "Доступ ограничен"
BLOCKPAGE_SENTENCE = "Доступ к запрашиваемому ресурсу ограничен"  # noqa: RUF001 (Russian)
ESCAPE_TITLE = "escape.hostile.test \x1b[2J\x1b]0;pwned\x07 [bold red]markup[/]"
# Hostile servers: what they send, and the bounds that keep a server task from outliving a
# client that never leaves ("forever" is HOSTILE_SECONDS) or from holding much memory.
HOSTILE_SECONDS = 300.0
SLOW_HEADER_INTERVAL = 0.5
CHUNK_INTERVAL = 0.2
PATHOLOGICAL_BYTES = 2 * 1024 * 1024
GZIP_BOMB_BYTES = 1 << 30
MANY_HEADERS = 40_000
NOISE_BYTES = 64 * 1024
# The throttled sites' download: long enough to time at 16 KB/s, random so that nothing on
# the way can compress it; sent in chunks so that one slow client holds no other. Over TLS
# a chunk goes out as 16 KiB records (the maximum; nginx's default ssl_buffer_size), so a
# client held to 16 KiB/s sees the data in steps a second apart, as it would in the wild.
DOWNLOAD_BYTES = 2 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 64 * 1024
# Terminal controls a hostile page puts in its title, header values and reason phrase:
# bidi overrides and isolates, C1 CSI/OSC/ST (as characters: UTF-8 on the wire), an OSC
# that sets the window title, a CSI that clears the screen, an OSC 8 hyperlink.
TERMINAL_CONTROLS = (
    "\u202e\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d"
    "\u009b31m\u009d0;c1\u009c"
    "\x1b]0;pwned\x07\x1b[2J\x1b]8;;http://evil.test/\x1b\\link\x1b]8;;\x1b\\"
)
CONTROLS_TITLE = f"{TERMINAL_CONTROLS} controls.hostile.test [bold red]markup[/]"
# The same, in UTF-7 (the page's declared charset): plain ASCII on the wire.
CHARSET_TITLE = f"charset.hostile.test {TERMINAL_CONTROLS}"
DOH_CONTENT_TYPE = "application/dns-message"
MAX_DNS_MESSAGE = 65535
MITM_NO_SNI = "interception.invalid"
LIE_RCODES = {
    "nxdomain": dns.rcode.NXDOMAIN,
    "servfail": dns.rcode.SERVFAIL,
    "refused": dns.rcode.REFUSED,
}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# --------------------------------------------------------------------------- DNS


class _UDPDNS(asyncio.DatagramProtocol):
    """Answers each datagram with the datagrams ``answer(wire)`` gives (none: silence)."""

    def __init__(self, answer: Callable[[bytes], Awaitable[list[bytes]]]) -> None:
        self._answer = answer
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector transport does not subclass DatagramTransport, although it is one.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.ensure_future(self._reply(data, addr))
        self._tasks.add(task)  # keep a reference until done, asyncio only holds weak ones
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        for reply in await self._answer(data):
            if self._transport is not None:
                self._transport.sendto(reply, addr)


def _tcp_dns(answer: Callable[[bytes], Awaitable[bytes | None]]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), IO_TIMEOUT))
                reply = await answer(await asyncio.wait_for(reader.readexactly(size), IO_TIMEOUT))
                if reply is None:
                    # A silent resolver must not answer over TCP either: keep the client hanging.
                    await asyncio.sleep(IO_TIMEOUT)
                    return
                writer.write(len(reply).to_bytes(2) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


async def _serve_dns(
    ip: str,
    answer: Callable[[bytes], Awaitable[bytes | None]],
    udp_answers: Callable[[bytes], Awaitable[list[bytes]]] | None = None,
) -> None:
    """DNS over UDP and TCP; ``udp_answers`` may send several datagrams for one query."""

    async def single(wire: bytes) -> list[bytes]:
        reply = await answer(wire)
        return [] if reply is None else [reply]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UDPDNS(udp_answers or single), local_addr=(ip, 53)
    )
    # As real resolvers do (unbound's so-rcvbuf: 4m): a burst of queries waits in the
    # socket rather than being dropped while this single-threaded server catches up.
    transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, SO_RCVBUFFORCE, DNS_RECEIVE_BUFFER
    )
    await asyncio.start_server(_tcp_dns(answer), ip, 53)


def _parse_query(wire: bytes) -> dns.message.Message | None:
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    return query if len(query.question) == 1 else None


class Authoritative:
    """The trusted DNS server: true A records for the testbed zone; AAAA records only for
    the IPv6 sites."""

    def __init__(
        self,
        zone: str,
        ttl: int,
        records: dict[str, str],
        bulk: dict[str, str] | None = None,
        records6: dict[str, str] | None = None,
        hostile: dict[str, str] | None = None,
    ) -> None:
        self._zone = dns.name.from_text(zone)
        self._hostile = {dns.name.from_text(n): spec for n, spec in (hostile or {}).items()}
        self._ttl = ttl
        self._records = {dns.name.from_text(name): ip for name, ip in records.items()}
        self._records6 = {dns.name.from_text(n): ip for n, ip in (records6 or {}).items()}
        self._bulk = [(dns.name.from_text(parent), net) for parent, net in (bulk or {}).items()]
        # Parents of existing names exist too (empty non-terminals): NODATA, not NXDOMAIN.
        self._existing = {
            ancestor
            for name in (*self._records, *self._records6)
            for ancestor in (name.split(depth)[1] for depth in range(1, len(name) + 1))
            if ancestor.is_subdomain(self._zone)
        }
        self._soa = dns.rrset.from_text(
            self._zone, ttl, "IN", "SOA", f"ns.{zone} hostmaster.{zone} 1 3600 600 86400 {ttl}"
        )

    async def answer(self, wire: bytes) -> bytes | None:
        query = _parse_query(wire)
        if query is None:
            return None
        response = dns.message.make_response(query)
        # RA too: clients use this server as their trusted (control) resolver.
        response.flags |= dns.flags.AA | dns.flags.RA
        question = query.question[0]
        name = question.name.canonicalize()
        if name in self._hostile:
            return self._hostile_reply(self._hostile[name], query, response)
        if not name.is_subdomain(self._zone):
            # As a recursive resolver would say of any name in a world that has only this
            # zone: it does not exist (netprobe asks a made-up name to learn that much).
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif (address := self._address(name)) and question.rdtype == dns.rdatatype.A:
            response.answer.append(
                dns.rrset.from_text(question.name, self._ttl, "IN", "A", address)
            )
        elif name in self._records6 and question.rdtype == dns.rdatatype.AAAA:
            response.answer.append(
                dns.rrset.from_text(question.name, self._ttl, "IN", "AAAA", self._records6[name])
            )
        else:
            if name not in self._existing and address is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa)
        return response.to_wire()

    def _hostile_reply(
        self, spec: str, query: dns.message.Message, response: dns.message.Message
    ) -> bytes:
        """The garbage ``spec`` (see topology.HOSTILE_DNS) says to answer, whatever the type."""
        kind, _, arg = spec.partition(":")
        question = query.question[0]
        match kind:
            case "cname":
                # Every hop of the loop in one answer, as a server authoritative for both.
                owner, seen = question.name, set()
                while owner.canonicalize() not in seen:
                    seen.add(owner.canonicalize())
                    target = self._hostile[owner.canonicalize()].partition(":")[2]
                    response.answer.append(
                        dns.rrset.from_text(owner, self._ttl, "IN", "CNAME", f"{target}.")
                    )
                    owner = dns.name.from_text(target)
                return response.to_wire()
            case "pointer-loop":
                # The question's name, and the answer's owner, are a compression pointer to
                # offset 12: the question's name itself.
                flags = dns.flags.QR | dns.flags.AA | dns.flags.RA | (query.flags & dns.flags.RD)
                loop = b"\xc0\x0c"
                return (
                    struct.pack("!6H", query.id, flags, 1, 1, 0, 0)
                    + loop
                    + struct.pack("!HH", question.rdtype, question.rdclass)
                    + loop
                    + struct.pack("!HHIH", dns.rdatatype.A, dns.rdataclass.IN, self._ttl, 4)
                    + bytes([198, 19, 9, 9])
                )
            case "garbage":
                return random.Random(kind).randbytes(512)
            case "truncated" | "wrong-id":
                response.answer.append(
                    dns.rrset.from_text(question.name, self._ttl, "IN", "A", arg)
                )
                if kind == "wrong-id":
                    response.id = (query.id + 1) & 0xFFFF
                    return response.to_wire()
                # Cut in the record's address; the header still counts the record.
                response.use_edns(False)
                return response.to_wire()[:-3]
            case "wrong-question":
                # Right id, but the question (and answer) of another name.
                name = dns.name.from_text(arg)
                other = dns.message.make_response(dns.message.make_query(name, "A", id=query.id))
                other.flags |= dns.flags.AA | dns.flags.RA
                address = self._records[name]
                other.answer.append(dns.rrset.from_text(name, self._ttl, "IN", "A", address))
                return other.to_wire()
            case "many":
                # Far more than the EDNS size the query allows (a 16 KB UDP datagram).
                if question.rdtype == dns.rdatatype.A:
                    hosts = [str(host) for host in ipaddress.ip_network(arg).hosts()]
                    response.answer.append(
                        dns.rrset.from_text_list(question.name, self._ttl, "IN", "A", hosts)
                    )
                else:
                    response.authority.append(self._soa)
                return response.to_wire(max_size=MAX_DNS_MESSAGE)
        raise ValueError(f"unknown hostile DNS reply {spec!r}")

    def _address(self, name: dns.name.Name) -> str | None:
        if name in self._records:
            return self._records[name]
        # Bulk names (any label under a bulk parent) spread over the parent's /24, for the
        # benchmark's hundreds of targets.
        for parent, net in self._bulk:
            if name.parent() == parent:
                host = 1 + zlib.crc32(name.to_text().encode()) % 250
                return str(ipaddress.ip_network(net)[host])
        return None


class Resolver:
    """An ISP's recursive resolver: forwards to the control server, except for its lies.

    A lie is ``nxdomain``, ``servfail``, ``refused``, ``drop`` (no answer at all),
    ``a:<ip>`` (that address instead of the true one) or ``inject:<ip>``: over UDP a forged
    reply with that address comes first and the true one after it, as when an on-path
    injector races the resolver; over TCP, where injection does not work, the truth.
    """

    def __init__(
        self, upstream: str, ttl: int, lies: dict[str, str], relay: list[str] | None = None
    ) -> None:
        self._upstream = upstream
        self._ttl = ttl
        self._lies = {dns.name.from_text(name): lie for name, lie in lies.items()}
        self._relay = {dns.name.from_text(name) for name in relay or ()}

    async def udp_answers(self, wire: bytes) -> list[bytes]:
        query = _parse_query(wire)
        lie = self._lies.get(query.question[0].name.canonicalize(), "") if query else ""
        reply = await self.answer(wire)
        if query is None or reply is None:
            return []
        if not lie.startswith("inject:"):
            return [reply]
        forged = dns.message.make_response(query)
        forged.flags |= dns.flags.RA
        if query.question[0].rdtype == dns.rdatatype.A:
            address = lie.removeprefix("inject:")
            forged.answer.append(
                dns.rrset.from_text(query.question[0].name, self._ttl, "IN", "A", address)
            )
        return [forged.to_wire(), reply]

    async def answer(self, wire: bytes) -> bytes | None:
        query = _parse_query(wire)
        if query is None:
            return None
        question = query.question[0]
        if question.name.canonicalize() in self._relay:
            return await self._relay_raw(wire)
        lie = self._lies.get(question.name.canonicalize())
        if lie == "drop":
            return None
        if lie is None or lie.startswith("inject:"):
            response = await self._forward(query)
        else:
            response = dns.message.make_response(query)
            if lie in LIE_RCODES:
                response.set_rcode(LIE_RCODES[lie])
            elif question.rdtype == dns.rdatatype.A:
                address = lie.removeprefix("a:")
                response.answer.append(
                    dns.rrset.from_text(question.name, self._ttl, "IN", "A", address)
                )
        response.flags |= dns.flags.RA
        response.flags &= ~dns.flags.AA
        return response.to_wire()

    async def _relay_raw(self, wire: bytes) -> bytes | None:
        """The upstream's first datagram in reply to ``wire``, byte for byte, unparsed."""
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (self._upstream, 53))
                await loop.sock_sendall(sock, wire)
                return await asyncio.wait_for(loop.sock_recv(sock, MAX_DNS_MESSAGE), 3.0)
            except (OSError, TimeoutError):
                return None

    async def _forward(self, query: dns.message.Message) -> dns.message.Message:
        try:
            return await dns.asyncquery.udp(query, self._upstream, timeout=3.0)
        except (dns.exception.DNSException, OSError):
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response


async def servfail(wire: bytes) -> bytes | None:
    """A resolver that fails: SERVFAIL to every (well-formed) query."""
    query = _parse_query(wire)
    if query is None:
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    response.set_rcode(dns.rcode.SERVFAIL)
    return response.to_wire()


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _display_name(host: str) -> str:
    try:
        return host.encode("ascii").decode("idna")
    except UnicodeError:
        return host


def _html_page(status: int, reason: str, headers: dict[str, str], body: str) -> Page:
    data = body.encode()
    return Page(
        status,
        reason,
        (
            ("Date", formatdate(usegmt=True)),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(data))),
            *headers.items(),
            ("Connection", "close"),
        ),
        data,
    )


_SITE_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<header><h1>{name}</h1>
<nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/about">About</a></nav></header>
<main>
<article>
<h2>Welcome to {name}</h2>
<p>This is {name}, one of the emulated websites of the netprobe censorship testbed.
Every site serves its own small page so that a probe can tell the genuine page apart
from a blockpage, a substitute page or an interception proxy.</p>
<p>Latest news: the weather is fine, the trains run on time and the archive of past
articles is available to everyone who asks for it.</p>
<ul><li>Articles</li><li>Archive</li><li>Contact</li></ul>
</article>
</main>
<footer><p>&copy; 2024 {name}. All rights reserved.</p></footer>
</body>
</html>
"""


def site_page(host: str, *, title: str | None = None) -> Page:
    name = html.escape(_display_name(host))
    body = _SITE_TEMPLATE.format(title=title or f"{name} | Testbed site", name=name)
    headers = {
        "Server": "nginx/1.24.0",
        "Cache-Control": "max-age=300",
        "X-Frame-Options": "SAMEORIGIN",
        "X-Testbed-Site": host,
    }
    return _html_page(200, "OK", headers, body)


def blockpage() -> Page:
    body = f"""<!DOCTYPE html>
<html lang="ru">
<head><meta charset="utf-8"><title>{BLOCKPAGE_TITLE}</title></head>
<body>
<h1>{BLOCKPAGE_TITLE}</h1>
<p>{BLOCKPAGE_SENTENCE}</p>
</body>
</html>
"""
    return _html_page(200, "OK", {"Server": "nginx"}, body)


def substitute_page() -> Page:
    body = (
        "<html><head><title>Portal</title></head>"
        "<body><p>Service temporarily unavailable.</p></body></html>\n"
    )
    headers = {"Server": "Apache/2.4.57 (Debian)", "X-Powered-By": "PHP/8.2.7"}
    return _html_page(200, "OK", headers, body)


def default_page() -> Page:
    body = (
        "<!DOCTYPE html>\n<html><head><title>Testbed default server</title></head>"
        "<body><p>No site is configured for this name.</p></body></html>\n"
    )
    return _html_page(200, "OK", {"Server": "nginx/1.24.0"}, body)


def redirect_page(status: int, location: str) -> Page:
    body = f'<html><body><a href="{html.escape(location)}">Moved</a></body></html>\n'
    headers = {"Server": "nginx/1.24.0", "Location": location}
    return _html_page(status, HTTPStatus(status).phrase, headers, body)


def plain_page(status: int, text: str, headers: dict[str, str] | None = None) -> Page:
    data = f"{text}\n".encode()
    return Page(
        status,
        HTTPStatus(status).phrase,
        (
            ("Date", formatdate(usegmt=True)),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
            *(headers or {}).items(),
            ("Connection", "close"),
        ),
        data,
    )


def dns_message_page(wire: bytes) -> Page:
    headers = (
        ("Date", formatdate(usegmt=True)),
        ("Content-Type", DOH_CONTENT_TYPE),
        ("Content-Length", str(len(wire))),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
    )
    return Page(200, "OK", headers, wire)


def echo_page(peer: str) -> Page:
    data = peer.encode()
    headers = (
        ("Date", formatdate(usegmt=True)),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(data))),
        ("Connection", "close"),
    )
    return Page(200, "OK", headers, data)


def _head(page: Page) -> bytes:
    lines = [f"HTTP/1.1 {page.status} {page.reason}"]
    lines += [f"{name}: {value}" for name, value in page.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _send_big(writer: asyncio.StreamWriter, with_body: bool) -> None:
    # Chunked, so the client cannot learn the size up front and must cap what it reads.
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
    writer.write(f"{head}Connection: close\r\n\r\n".encode())
    if not with_body:
        return
    chunk = f"{BIG_CHUNK_BYTES:x}\r\n".encode() + b"A" * BIG_CHUNK_BYTES + b"\r\n"
    for _ in range(BIG_BODY_BYTES // BIG_CHUNK_BYTES):
        writer.write(chunk)
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
    writer.write(b"0\r\n\r\n")


@functools.cache
def _download_body(host: str) -> bytes:
    """DOWNLOAD_BYTES: the site's usual ``<title>`` line, then random bytes (fixed seed).
    Made once per site.

    The title and the absence of NUL (each NUL becomes 0xff, which leaves the bytes as
    incompressible as before) let checks made for pages accept it too: the self-test's
    run over every site in the clean network wants the title and no NUL in curl's output.
    """
    title = f"<title>{html.escape(_display_name(host))} | Testbed site</title>\n".encode()
    noise = random.Random("download").randbytes(DOWNLOAD_BYTES - len(title))
    return title + noise.replace(b"\x00", b"\xff")


def download_page(host: str) -> Page:
    """The throttled sites' page, whatever was asked: the download, not compressed."""
    body = _download_body(host)
    headers = (
        ("Date", formatdate(usegmt=True)),
        ("Server", "nginx/1.24.0"),
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        ("X-Testbed-Site", host),
        ("Connection", "close"),
    )
    return Page(200, "OK", headers, body)


async def _send_download(writer: asyncio.StreamWriter, host: str, with_body: bool) -> None:
    page = download_page(host)
    writer.write(_head(page))
    if not with_body:
        return
    body = memoryview(page.body)  # slices without copies
    for start in range(0, len(body), DOWNLOAD_CHUNK_BYTES):
        writer.write(body[start : start + DOWNLOAD_CHUNK_BYTES])
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)


# The test-lists mirror: lists/ as citizenlab/test-lists has it (two small lists, one row
# of each that is no URL, kz repeating a row of global), and broken/lists/ with a CSV
# whose quote never ends (global) and bytes that are not UTF-8 (kz).
_TEST_LIST_HEADER = "url,category_code,category_description,date_added,source,notes\n"
TEST_LISTS = {
    "lists/global.csv": (
        _TEST_LIST_HEADER
        + "https://www.clean.test/,NEWS,News Media,2024-01-01,testbed,\n"
        + "http://plain.clean.test/,HUMR,Human Rights Issues,2024-01-01,testbed,\n"
        + "not a url at all,NEWS,News Media,2024-01-01,testbed,\n"
        + "https://www.mitm-one.test/,POLR,Political Criticism,2024-01-01,testbed,\n"
    ).encode(),
    "lists/kz.csv": (
        _TEST_LIST_HEADER
        + "https://sni-reset.tls.test/,POLR,Political Criticism,2024-01-01,testbed,\n"
        + "https://www.clean.test/,NEWS,News Media,2024-01-01,testbed,\n"
    ).encode(),
    # Rows that repeat a built-in list's targets (selected, never measured, by the tests).
    "lists/kg.csv": (
        _TEST_LIST_HEADER
        + "https://www.facebook.com/,GRP,Social Networking,2024-01-01,testbed,\n"
        + "https://www.instagram.com/,GRP,Social Networking,2024-01-01,testbed,\n"
    ).encode(),
    "broken/lists/global.csv": (
        _TEST_LIST_HEADER
        + "https://www.clean.test/,NEWS,News Media,2024-01-01,testbed,\n"
        + '"https://www.never-closed.test/,NEWS,News Media\n'
    ).encode(),
    "broken/lists/kz.csv": _TEST_LIST_HEADER.encode() + b"https://caf\xe9.test/,NEWS\n",
}


def test_list(host: str, target: str, if_none_match: str | None) -> Page:
    """A file of the mirror with an ETag (304 when the client has it already); the site's
    page at /, 404 for anything else."""
    path = urllib.parse.urlsplit(target).path.lstrip("/")
    body = TEST_LISTS.get(path)
    if not path:
        return site_page(host)
    if body is None:
        return _html_page(404, "Not Found", {"Server": "nginx/1.24.0"}, "<p>Not Found</p>\n")
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    headers: tuple[tuple[str, str], ...] = (
        ("Date", formatdate(usegmt=True)),
        ("ETag", etag),
        ("Content-Type", "text/plain; charset=utf-8"),
    )
    if if_none_match == etag:
        return Page(304, "Not Modified", (*headers, ("Content-Length", "0")), b"")
    return Page(200, "OK", (*headers, ("Content-Length", str(len(body)))), body)


async def _send_trickle(writer: asyncio.StreamWriter, host: str) -> None:
    page = site_page(host)
    for byte in _head(page) + page.body:
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(TRICKLE_INTERVAL)


# --------------------------------------------------------------------------- hostile pages


def _client_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    return writer.is_closing() or reader.at_eof()


async def _drip(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    pieces: Iterator[bytes],
    interval: float,
) -> None:
    """Write the pieces ``interval`` s apart until the client goes away (at most
    HOSTILE_SECONDS): "forever" to a client, bounded for the server."""
    loop = asyncio.get_running_loop()
    until = loop.time() + HOSTILE_SECONDS
    for piece in pieces:
        if _client_gone(reader, writer) or loop.time() > until:
            return
        writer.write(piece)
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
        await asyncio.sleep(interval)


async def _hold(reader: asyncio.StreamReader) -> None:
    """Send nothing more but keep the connection until the client closes it (at most
    HOSTILE_SECONDS)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HOSTILE_SECONDS):
            while await reader.read(65536):
                pass


def _with(page: Page, *headers: tuple[str, str], reason: str | None = None) -> Page:
    """``page`` with more headers (before Connection) and perhaps another reason phrase."""
    return dataclasses.replace(
        page, reason=reason or page.reason, headers=(*page.headers[:-1], *headers, page.headers[-1])
    )


def _set_header(page: Page, name: str, value: str) -> Page:
    headers = tuple((n, value if n.lower() == name.lower() else v) for n, v in page.headers)
    return dataclasses.replace(page, headers=headers)


def _with_body(page: Page, body: bytes) -> Page:
    return _set_header(dataclasses.replace(page, body=body), "Content-Length", str(len(body)))


def _pathological_body(host: str) -> bytes:
    """PATHOLOGICAL_BYTES of tags that never close: ``<title`` and ``<meta`` without ``>``,
    attribute quotes never closed, ``<script`` and comments never ended."""
    start = f"<!DOCTYPE html><html><head><!-- {host} -->\n"
    unit = (
        "<title" * 16 + " <meta" * 16 + ' charset="<meta http-equiv=content-type content="'
        "<script <title>" + "<" * 32 + "<script>if (a <title) {<!--<title x='<meta "
    )
    times = PATHOLOGICAL_BYTES // len(unit) + 1
    return (start + unit * times).encode()[:PATHOLOGICAL_BYTES]


def _gzip_bomb_body(host: str) -> bytes:
    """A gzip member of about 1 MB that inflates to a small page then GZIP_BOMB_BYTES of
    zeros. Made in a quarter of a second: the zeros are compressed 1 MiB at a time behind a
    full flush, which makes every MiB the same block, so one is compressed and repeated."""
    prefix = f"<!DOCTYPE html><html><head><title>{host} | Testbed site</title></head><body>"
    zeros, mib = bytes(1 << 20), GZIP_BOMB_BYTES >> 20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = deflate.compress(prefix.encode()) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(prefix.encode())
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    size = (len(prefix.encode()) + GZIP_BOMB_BYTES) & 0xFFFFFFFF
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no time
    final_block = b"\x03\x00"  # an empty final block (fixed Huffman: end of block only)
    return gzip_header + head + block * mib + final_block + struct.pack("<II", crc, size)


@functools.cache
def hostile_page(kind: str, host: str) -> Page:
    """The pages hostile servers send whole (made once; the big ones in a thread)."""
    page = site_page(host)
    match kind:
        case "controls":
            # In the title, the reason phrase and header values (h11 allows any byte but NUL
            # and whitespace controls there).
            return _with(
                site_page(host, title=CONTROLS_TITLE),
                ("X-Title", CONTROLS_TITLE),
                ("X-Powered-By", f"PHP {TERMINAL_CONTROLS}"),
                ("Link", f"<http://evil.test/>; rel={TERMINAL_CONTROLS}"),
                reason=f"OK {TERMINAL_CONTROLS}",
            )
        case "pathological":
            return _with_body(page, _pathological_body(host))
        case "gzip-bomb":
            return _with(_with_body(page, _gzip_bomb_body(host)), ("Content-Encoding", "gzip"))
        case "many-headers":
            return _with(page, *((f"X-Header-{n}", str(n)) for n in range(MANY_HEADERS)))
        case "charset":
            # UTF-7 smuggles the controls past anything that looks for them in the bytes.
            title = CHARSET_TITLE.encode("utf-7").decode("ascii")
            body = (
                '<!DOCTYPE html><html><head><meta charset="x-no-such-charset">'
                f"<title>{title}</title></head><body><p>{host}</p></body></html>\n"
            ).encode()
            return _set_header(_with_body(page, body), "Content-Type", "text/html; charset=utf-7")
        case "bad-gzip":
            # Declared gzip, sent plain.
            return _with(page, ("Content-Encoding", "gzip"))
        case "bad-chunk":
            body = b"zz\r\n" + page.body + b"\r\n0\r\n\r\n"  # a chunk size that is no number
            headers = [(n, v) for n, v in page.headers if n != "Content-Length"]
            headers.insert(-1, ("Transfer-Encoding", "chunked"))
            return dataclasses.replace(page, headers=tuple(headers), body=body)
    raise ValueError(f"unknown hostile page {kind!r}")


HOSTILE_WHOLE = ("controls", "pathological", "gzip-bomb", "many-headers", "charset", "bad-gzip",
                 "bad-chunk")  # fmt: skip
NOISE = random.Random("noise").randbytes(NOISE_BYTES)


async def _send_noise(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    writer.write(NOISE)


async def _send_slow_headers(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    """The status line, then header lines that never end, a byte every 0.5 s."""
    writer.write(b"HTTP/1.1 200 OK\r\n")
    lines = (f"X-Slow-{n}: {n}\r\n".encode() for n in itertools.count())
    await _drip(reader, writer, (bytes([b]) for line in lines for b in line), SLOW_HEADER_INTERVAL)


def _chunk(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _send_chunked_forever(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    """Chunked encoding that never ends: a chunk every 0.2 s, never the last one."""
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    first = f"<!DOCTYPE html><html><head><title>{host} | Testbed site</title></head><body>\n"
    ticks = (_chunk(f"<p>tick {n}</p>\n") for n in itertools.count(1))
    await _drip(reader, writer, itertools.chain([_chunk(first)], ticks), CHUNK_INTERVAL)


async def _send_truncated(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    """Half the body its Content-Length announces, then the connection closes."""
    page = site_page(host)
    writer.write(_head(page) + page.body[: len(page.body) // 2])


async def _send_stalled_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str
) -> None:
    """The whole page, under a Content-Length that promises twice as much; then silence
    with the connection held open."""
    page = site_page(host)
    promised = _set_header(page, "Content-Length", str(2 * len(page.body)))
    writer.write(_head(promised) + page.body)
    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
    await _hold(reader)


HOSTILE_STREAMS: dict[
    str, Callable[[asyncio.StreamReader, asyncio.StreamWriter, str], Awaitable[None]]
] = {
    "noise": _send_noise,
    "slow-headers": _send_slow_headers,
    "chunked-forever": _send_chunked_forever,
    "truncated": _send_truncated,
    "stalled-body": _send_stalled_body,
}


# --------------------------------------------------------------------------- web


@dataclass(slots=True)
class VHost:
    name: str
    ips: tuple[str, ...]
    page: str
    context: ssl.SSLContext
    redirects: dict[str, tuple[int, str]]
    """Path (or ``*``: any path) -> (status, Location), for the ``redirect`` page."""


def _server_context(pem: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    context.set_alpn_protocols(["http/1.1"])
    return context


class Web:
    """HTTP and HTTPS listeners.

    A listener's ``page`` is ``vhosts`` (the site owning the local address, else the one
    named by Host/SNI, else a default page), ``mirror`` (the genuine-looking page of whatever
    Host was asked, as an interception proxy would relay), ``blockpage`` or ``substitute``.
    Its ``tls`` is ``none``, ``vhosts`` (certificate of the site as above), ``mitm`` (a leaf
    for the requested SNI minted on the fly by the untrusted interception CA) or ``abort``
    (read the ClientHello, answer a handshake_failure alert, close).

    The DNS-over-HTTPS servers (``doh``) are vhosts too, chosen by local address only: their
    addresses are AnyIP-local like the sites', so the ``0.0.0.0`` listeners serve them.
    """

    def __init__(
        self,
        config: dict[str, Any],
        doh_answer: Callable[[bytes], Awaitable[bytes | None]] | None = None,
    ) -> None:
        self._vhosts = [
            VHost(
                v["name"],
                tuple(v["ips"]),
                v["page"],
                _server_context(v["pem"]),
                {path: (status, to) for path, (status, to) in v.get("redirects", {}).items()},
            )
            for v in config.get("vhosts", [])
        ]
        doh = config.get("doh", {})
        self._doh_path: str = doh.get("path", "/dns-query")
        self._doh_answer = doh_answer
        doh_vhosts = [
            VHost(doh["name"], (d["ip"],), "doh", _server_context(d["pem"]), {})
            for d in doh.get("servers", [])
        ]
        self._by_ip = {ip: v for v in (*self._vhosts, *doh_vhosts) for ip in v.ips}
        self._bulk_nets = [
            (ipaddress.ip_network(b["net"]), _server_context(b["pem"]), b.get("page", "site"))
            for b in config.get("bulk_vhosts", [])
        ]
        self._by_name = {v.name: v for v in self._vhosts}
        self._default_context: ssl.SSLContext | None = None
        if "default_pem" in config:
            self._default_context = _server_context(config["default_pem"])
            self._default_context.sni_callback = self._pick_by_sni
        self._mitm_contexts: dict[str, ssl.SSLContext] = {}
        if "mitm_ca" in config:
            paths = config["mitm_ca"]
            cert, key = Path(paths["cert"]).read_bytes(), Path(paths["key"]).read_bytes()
            self._mitm_ca = trustme.CA.from_pem(cert, key)
            # Clients that send no SNI get this one's certificate.
            self._mitm_default = self._mitm_context_for(MITM_NO_SNI)
            self._mitm_default.sni_callback = self._pick_mitm
        self._listeners: list[dict[str, Any]] = config.get("listeners", [])
        self._making: list[asyncio.Task[Page]] = []

    async def start(self) -> None:
        # The big hostile pages are made in a thread, so that neither start-up nor the
        # first request waits for them.
        self._making = [
            asyncio.create_task(asyncio.to_thread(hostile_page, v.page, v.name))
            for v in self._vhosts
            if v.page in HOSTILE_WHOLE
        ]
        for listener in self._listeners:
            handler = self._handler(listener["tls"], listener["page"])
            await asyncio.start_server(handler, listener["ip"], listener["port"])

    def _pick_by_sni(self, sslobj: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        vhost = self._by_name.get((name or "").lower())
        if vhost is not None:
            sslobj.context = vhost.context

    def _pick_mitm(self, sslobj: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        sslobj.context = self._mitm_context_for((name or MITM_NO_SNI).lower())

    def _mitm_context_for(self, name: str) -> ssl.SSLContext:
        if name not in self._mitm_contexts:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_alpn_protocols(["http/1.1"])
            self._mitm_ca.issue_cert(name, common_name=name).configure_cert(context)
            self._mitm_contexts[name] = context
        return self._mitm_contexts[name]

    def _tls_context(self, tls: str, local_ip: str) -> ssl.SSLContext:
        if tls == "mitm":
            return self._mitm_default
        vhost = self._by_ip.get(local_ip)
        if vhost is not None:
            return vhost.context
        bulk = self._bulk_context(local_ip)
        if bulk is not None:
            return bulk
        assert self._default_context is not None
        return self._default_context

    def _bulk_context(self, local_ip: str) -> ssl.SSLContext | None:
        bulk = self._bulk(local_ip)
        return bulk[1] if bulk else None

    def _bulk(self, local_ip: str) -> tuple[Any, ssl.SSLContext, str] | None:
        address = ipaddress.ip_address(local_ip)
        return next((b for b in self._bulk_nets if address in b[0]), None)

    def _handler(self, tls: str, page: str) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            local_ip = writer.get_extra_info("sockname")[0]
            try:
                if tls == "abort":
                    await asyncio.wait_for(reader.read(16384), IO_TIMEOUT)
                    writer.write(TLS_HANDSHAKE_FAILURE_ALERT)
                    await writer.drain()
                    return
                vhost = self._by_ip.get(local_ip)
                if tls == "vhosts" and vhost is not None and vhost.page == "noise":
                    # Random bytes instead of the ServerHello.
                    await asyncio.wait_for(reader.read(16384), IO_TIMEOUT)
                    writer.write(NOISE)
                    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)
                    return
                if tls != "none":
                    context = self._tls_context(tls, local_ip)
                    await writer.start_tls(context, ssl_handshake_timeout=IO_TIMEOUT)
                await self._http(reader, writer, page, local_ip)
            except (OSError, asyncio.IncompleteReadError):  # SSLError and timeouts included
                pass  # clients that reset, stall or give up are what the testbed is for
            finally:
                writer.close()

        return handle

    async def _http(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, page: str, local_ip: str
    ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
        except asyncio.LimitOverrunError:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.partition(" ")[0] or "/"
        headers = {
            key.strip().lower(): value.strip()
            for key, sep, value in (line.partition(":") for line in lines[1:])
            if sep
        }
        host = headers.get("host", "").rsplit(":", 1)[0].lower()
        peer = writer.get_extra_info("peername")[0]
        kind, name = self._resolve_page(page, local_ip, host)
        if kind == "big":
            await _send_big(writer, method != "HEAD")
        elif kind == "download":
            await _send_download(writer, name, method != "HEAD")
        elif kind == "testlists":
            response = test_list(name, target, headers.get("if-none-match"))
            writer.write(_head(response) + (b"" if method == "HEAD" else response.body))
        elif kind == "trickle":
            await _send_trickle(writer, name)
        elif kind in HOSTILE_STREAMS:
            await HOSTILE_STREAMS[kind](reader, writer, name)
        else:
            if kind == "doh":
                response = await self._doh(reader, method, target, headers)
            elif kind == "redirect":
                response = self._redirect(name, target)
            elif kind in HOSTILE_WHOLE:
                response = await asyncio.to_thread(hostile_page, kind, name)
            else:
                response = _render(kind, name, peer)
            writer.write(_head(response) + (b"" if method == "HEAD" else response.body))
        await asyncio.wait_for(writer.drain(), IO_TIMEOUT)

    def _redirect(self, name: str, target: str) -> Page:
        """The site's redirect for this path (or for any path), else its ordinary page."""
        path = urllib.parse.urlsplit(target).path or "/"
        redirects = self._by_name[name].redirects
        redirect = redirects.get(path) or redirects.get("*")
        return site_page(name) if redirect is None else redirect_page(*redirect)

    async def _doh(
        self, reader: asyncio.StreamReader, method: str, target: str, headers: dict[str, str]
    ) -> Page:
        """RFC 8484: GET with ``?dns=`` (base64url, unpadded) or POST of the message."""
        url = urllib.parse.urlsplit(target)
        if url.path != self._doh_path or self._doh_answer is None:
            return plain_page(404, "not found")
        if method == "GET":
            encoded = urllib.parse.parse_qs(url.query).get("dns", [""])[0]
            try:
                wire = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                return plain_page(400, "bad dns parameter")
        elif method == "POST":
            content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
            if content_type != DOH_CONTENT_TYPE:
                return plain_page(415, f"expected {DOH_CONTENT_TYPE}")
            try:
                length = int(headers.get("content-length", ""))
            except ValueError:
                return plain_page(411, "Content-Length required")
            if not 0 < length <= MAX_DNS_MESSAGE:
                return plain_page(413, "bad length")
            wire = await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT)
        else:
            return plain_page(405, "GET or POST", {"Allow": "GET, POST"})
        reply = await self._doh_answer(wire) if wire else None
        return plain_page(400, "not a DNS query") if reply is None else dns_message_page(reply)

    def _resolve_page(self, page: str, local_ip: str, host: str) -> tuple[str, str]:
        if page != "vhosts":
            return page, host
        vhost = self._by_ip.get(local_ip) or self._by_name.get(host)
        bulk = self._bulk(local_ip) if vhost is None else None
        if bulk is not None:
            return bulk[2], host
        return (vhost.page, vhost.name) if vhost else ("default", host)


def _render(kind: str, name: str, peer: str) -> Page:
    match kind:
        case "site" | "mirror":
            return site_page(name)
        case "escape":
            return site_page(name, title=ESCAPE_TITLE)
        case "echo":
            return echo_page(peer)
        case "blockpage":
            return blockpage()
        case "substitute":
            return substitute_page()
        case _:
            return default_page()


# --------------------------------------------------------------------------- proxy


class Proxy:
    """An HTTP forward proxy on the uncensored side: CONNECT tunnels and absolute-URI
    requests, names resolved at the control DNS server. Gives netprobe its control view.

    When the site cannot be reached it answers ``502 Bad Gateway`` (refused, reset) or
    ``504 Gateway Timeout`` (silence), as common proxies do.
    """

    def __init__(self, dns_server: str, connect_timeout: float) -> None:
        self._dns_server = dns_server
        self._connect_timeout = connect_timeout

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT)
            method, target, version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = await self._open(host, int(port), writer)
                if upstream is not None:
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await self._pipe(reader, writer, *upstream)
                return
            url = urllib.parse.urlsplit(target)
            upstream = await self._open(url.hostname or "", url.port or 80, writer)
            if upstream is None:
                return
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            rest = head.split(b"\r\n", 1)[1]
            upstream[1].write(f"{method} {path} {version}\r\n".encode("latin-1") + rest)
            await self._pipe(reader, writer, *upstream)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _open(
        self, host: str, port: int, client: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            address = await self._resolve(host)
            return await asyncio.wait_for(
                asyncio.open_connection(address, port), self._connect_timeout
            )
        except TimeoutError:
            client.write(b"HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n")
        except (OSError, LookupError, dns.exception.DNSException):
            client.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        await client.drain()
        return None

    async def _resolve(self, host: str) -> str:
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        query = dns.message.make_query(host, "A")
        reply = await dns.asyncquery.udp(query, self._dns_server, timeout=2.0)
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.A:
                return str(rrset[0])
        raise LookupError(host)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await asyncio.wait_for(source.read(65536), IO_TIMEOUT):
                    sink.write(data)
                    await sink.drain()
            except (OSError, TimeoutError):
                pass
            finally:
                sink.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


# --------------------------------------------------------------------------- main


async def _main(config: dict[str, Any]) -> None:
    doh_answer = None
    if "authoritative" in config:
        auth = config["authoritative"]
        server = Authoritative(
            auth["zone"],
            auth["ttl"],
            auth["records"],
            auth.get("bulk"),
            auth.get("records6"),
            auth.get("hostile"),
        )
        await _serve_dns(auth["ip"], server.answer)
        doh_answer = server.answer  # the DoH servers know what the control server knows
    for ip in config.get("servfail_dns", []):
        await _serve_dns(ip, servfail)
    if "resolver" in config:
        res = config["resolver"]
        resolver = Resolver(res["upstream"], res["ttl"], res["lies"], res.get("relay"))
        await _serve_dns(res["ip"], resolver.answer, resolver.udp_answers)
    await Web(config, doh_answer).start()
    if "proxy" in config:
        proxy = Proxy(config["proxy"]["dns"], config["proxy"]["connect_timeout"])
        await asyncio.start_server(proxy.handle, config["proxy"]["ip"], config["proxy"]["port"])

    stdin_closed = asyncio.Event()
    # Nobody writes to our stdin: it only becomes readable at EOF, when the testbed is gone.
    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), stdin_closed.set)
    print("READY", flush=True)
    await stdin_closed.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(_main(json.loads(args.config.read_text())))


if __name__ == "__main__":
    main()
