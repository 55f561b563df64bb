"""One HTTP exchange against loopback servers staging each condition."""

from __future__ import annotations

import asyncio
import gc
import gzip
import hashlib
import itertools
import re
import socket
import ssl
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netprobe.measure.steps import _html
from netprobe.measure.steps._body import Body
from netprobe.measure.steps._html import extract_title
from netprobe.measure.steps.http import BODY_KEPT, fetch
from netprobe.measure.steps.tls import unverified_context
from netprobe.model.observations import HTTPObservation

NAME = "www.example.test"
PAGE = b"<html><head><title>  Example\n Domain </title></head><body>hello</body></html>"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def respond(
    body: bytes = PAGE,
    status: str = "200 OK",
    headers: Sequence[str] = (),
    seen: list[str] | None = None,
) -> Handler:
    """A server that answers every request with this response (and records request heads)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(head.decode("latin-1"))
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers, "", ""]
        writer.write("\r\n".join(lines).encode("latin-1") + body)
        await writer.drain()
        await reader.read()

    return handle


async def _fetch(
    url: str,
    *,
    address: str | None = "127.0.0.1",
    host: str = NAME,
    verify: ssl.SSLContext | None = None,
    timeout: float = 1.0,
    **kw: Any,
) -> HTTPObservation:
    fetched = await fetch(
        url,
        address=address,
        host=host,
        purpose="target",
        hop=0,
        verify=verify or ssl.create_default_context(),
        timeout=timeout,
        t_origin=time.monotonic(),
        **kw,
    )
    return fetched.exchange


# --- responses --------------------------------------------------------------------------


async def test_page(loopback) -> None:
    seen: list[str] = []
    handler = respond(headers=["X-Served-By: Loopback", "Content-Type: text/html"], seen=seen)
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/path?q=1")
    assert obs.failure is None
    assert (obs.url, obs.address, obs.host) == (f"http://{NAME}:{port}/path?q=1", "127.0.0.1", NAME)
    assert (obs.purpose, obs.hop) == ("target", 0)
    assert obs.status == 200
    assert ("x-served-by", "Loopback") in obs.headers
    assert obs.title == "Example Domain"
    assert obs.body_length == len(PAGE)
    assert obs.body_sha256 == hashlib.sha256(PAGE).hexdigest()
    assert not obs.body_truncated
    assert obs.location is None and obs.tls_failure is None
    assert obs.ttfb_ms is not None and obs.duration_ms is not None
    assert 0 < obs.ttfb_ms <= obs.duration_ms
    assert obs.body_excerpt == PAGE  # a small page is kept whole
    request_line, *request_headers = seen[0].split("\r\n")
    assert request_line == "GET /path?q=1 HTTP/1.1"
    assert f"Host: {NAME}:{port}" in request_headers
    assert any(h.startswith("User-Agent: Mozilla/5.0") for h in request_headers)


_ARTICLE = b"<title>News</title>" + b"<p>many words of an article</p>" * 4000  # ~120 KiB


@pytest.mark.parametrize(
    ("body", "status", "kept"),
    [
        (PAGE, "200 OK", PAGE),
        (_ARTICLE, "200 OK", None),
        (_ARTICLE, "403 Forbidden", _ARTICLE[: 16 * 1024]),
        (PAGE, "404 Not Found", PAGE),
    ],
    ids=["small page: whole", "large 2xx page: none", "large error page: its start", "small error"],
)
async def test_body_excerpt_keeps_what_fingerprints_read(
    loopback, body: bytes, status: str, kept: bytes | None
) -> None:
    async with loopback.serve_tcp(respond(body, status)) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert obs.body_length == len(body)
    assert obs.body_excerpt == kept


async def test_without_address_the_peer_is_recorded(loopback) -> None:
    async with loopback.serve_tcp(respond()) as port:
        obs = await _fetch(f"http://127.0.0.1:{port}/", address=None, host="127.0.0.1")
    assert (obs.failure, obs.status, obs.address) == (None, 200, "127.0.0.1")


@pytest.mark.parametrize(
    ("location", "absolute"),
    [
        ("../c?x=1", "http://{NAME}:{port}/c?x=1"),
        ("/d", "http://{NAME}:{port}/d"),
        ("https://elsewhere.test/e", "https://elsewhere.test/e"),
        ("//cdn.test/f", "http://cdn.test/f"),
        ("/long?" + "t" * 3000, "http://{NAME}:{port}/long?" + "t" * 3000),
        ("http://a.test:port/", None),
    ],
)
async def test_redirect_location_is_made_absolute(
    loopback, location: str, absolute: str | None
) -> None:
    handler = respond(b"", "301 Moved Permanently", [f"Location: {location}"])
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/a/b")
    assert obs.status == 301
    assert obs.location == (absolute and absolute.format(NAME=NAME, port=port))


async def test_location_is_ignored_without_3xx(loopback) -> None:
    async with loopback.serve_tcp(respond(headers=["Location: /x"])) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert obs.location is None


async def test_huge_body_is_capped(loopback) -> None:
    size = 50 * 1024 * 1024

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"x" * 65536
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()

    async with loopback.serve_tcp(huge) as port:
        started = time.monotonic()
        obs = await _fetch(f"http://{NAME}:{port}/", timeout=5, body_cap=256 * 1024)
        elapsed = time.monotonic() - started
    assert (obs.failure, obs.status) == (None, 200)
    assert obs.body_length == 256 * 1024
    assert obs.body_truncated
    assert elapsed < 2


async def test_trickling_body_stops_at_the_timeout(loopback) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<title>slow</title>")
        while True:
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(b".")

    async with loopback.serve_tcp(trickle) as port:
        started = time.monotonic()
        obs = await _fetch(f"http://{NAME}:{port}/", timeout=0.6)
        elapsed = time.monotonic() - started
    assert obs.failure == "generic_timeout_error"
    assert obs.status == 200 and obs.ttfb_ms is not None
    assert obs.body_truncated
    assert obs.body_length is not None and 19 < obs.body_length < 100
    assert obs.title == "slow"
    assert 0.55 <= elapsed < 0.9


async def test_a_speed_sample_records_the_download_and_stops_on_time(loopback) -> None:
    async def steady(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n")
        while True:  # 10 KB every 100 ms: 100 KB/s
            writer.write(b"x" * 10_000)
            await writer.drain()
            await asyncio.sleep(0.1)

    async with loopback.serve_tcp(steady) as port:
        started = time.monotonic()
        obs = await _fetch(f"http://{NAME}:{port}/", timeout=5, read_for=0.8)
        elapsed = time.monotonic() - started
    assert (obs.failure, obs.status, obs.body_truncated) == (None, 200, True)
    assert 0.75 <= elapsed < 1.3
    times = [t for t, _ in obs.transfer]
    received = [b for _, b in obs.transfer]
    assert len(obs.transfer) >= 7 and times == sorted(times) and received == sorted(received)
    # One sample per 50 ms at most; the last is the last byte's, whenever it came.
    assert all(later - earlier >= 49 for earlier, later in itertools.pairwise(times[:-1]))
    assert received[-1] >= obs.body_length > 70_000  # wire bytes (headers apart) and the body
    rate = (received[-1] - received[0]) / ((times[-1] - times[0]) / 1000)
    assert 80_000 < rate < 130_000


async def test_silence_times_out_before_headers(loopback) -> None:
    async with loopback.serve_tcp(loopback.hold) as port:
        obs = await _fetch(f"http://{NAME}:{port}/", timeout=0.4)
    assert (obs.failure, obs.status, obs.body_length, obs.body_truncated) == (
        "generic_timeout_error",
        None,
        None,
        False,
    )
    assert obs.body_excerpt is None and obs.title is None


async def test_gzip_body_is_decoded(loopback) -> None:
    handler = respond(gzip.compress(PAGE), headers=["Content-Encoding: gzip"])
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert (obs.body_length, obs.title) == (len(PAGE), "Example Domain")


async def test_decompression_bomb_stays_within_the_cap(loopback) -> None:
    bomb = gzip.compress(b"\0" * (200 << 20), compresslevel=9)  # 200 MiB in about 200 KiB
    handler = respond(bomb, headers=["Content-Encoding: gzip"])
    tracemalloc.start()
    try:
        async with loopback.serve_tcp(handler) as port:
            obs = await _fetch(f"http://{NAME}:{port}/", timeout=10.0, body_cap=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (obs.failure, obs.body_length, obs.body_truncated) == (None, 1 << 20, True)
    assert peak < 32 << 20, f"peak {peak / 2**20:.0f} MiB while reading"


@pytest.mark.parametrize(
    "encoded", [zlib.compress(PAGE), zlib.compress(PAGE)[2:-4]], ids=["zlib", "raw deflate"]
)
async def test_deflate_with_or_without_its_wrapper(loopback, encoded: bytes) -> None:
    handler = respond(encoded, headers=["Content-Encoding: deflate"])
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert (obs.body_length, obs.title, obs.body_truncated) == (len(PAGE), "Example Domain", False)


async def test_corrupt_gzip_is_a_truncated_body(loopback) -> None:
    handler = respond(b"\x1f\x8b garbage, not gzip", headers=["Content-Encoding: gzip"])
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert (obs.status, obs.body_truncated) == (200, True)


async def test_headers_are_bounded(loopback) -> None:
    headers = [f"X-Filler-{i}: {i}" for i in range(150)]
    handler = respond(headers=[f"X-Long: {'v' * 5000}", *headers])
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert len(obs.headers) == 100
    assert obs.headers[1] == ("x-long", "v" * 1024)


async def test_non_utf8_header_value_is_kept(loopback) -> None:
    async def latin1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n")
        await reader.read()

    async with loopback.serve_tcp(latin1) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert ("x-name", "caf\\xe9") in obs.headers


# --- failures ---------------------------------------------------------------------------


async def test_garbage_instead_of_http(loopback) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await reader.read()

    async with loopback.serve_tcp(garbage) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert obs.failure is not None and obs.failure.startswith("unknown_failure: ")
    assert obs.status is None


async def test_close_without_response(loopback) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async with loopback.serve_tcp(close) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert (obs.failure, obs.status) == ("eof_error", None)


async def test_reset_after_request(loopback) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        loopback.reset(writer)

    async with loopback.serve_tcp(reset) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert (obs.failure, obs.tls_failure, obs.status) == ("connection_reset", None, None)


async def test_body_cut_short(loopback) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()

    async with loopback.serve_tcp(cut) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert (obs.failure, obs.status, obs.body_length) == ("eof_error", 200, 10)
    assert obs.body_truncated


async def test_refused(loopback) -> None:
    obs = await _fetch(f"http://{NAME}:{loopback.closed_port()}/")
    assert (obs.failure, obs.address) == ("connection_refused", "127.0.0.1")


# --- https ------------------------------------------------------------------------------


async def test_https_sends_host_as_sni(loopback, ca, trusting) -> None:
    sni_seen: list[str] = []
    seen: list[str] = []
    context = loopback.server_context(ca, NAME, sni_seen=sni_seen)
    async with loopback.serve_tcp(respond(seen=seen), ssl=context) as port:
        obs = await _fetch(f"https://{NAME}:{port}/", verify=trusting)
    assert (obs.failure, obs.tls_failure, obs.status, obs.title) == (
        None,
        None,
        200,
        "Example Domain",
    )
    assert sni_seen == [NAME]
    assert f"Host: {NAME}:{port}" in seen[0]
    assert obs.sni is None and obs.handshake_ms is not None and 0 < obs.handshake_ms < 1000


async def test_https_with_another_sni_keeps_its_host(loopback, ca) -> None:
    """A speed sample's unrelated name: the SNI only, the page's own Host inside."""
    sni_seen: list[str] = []
    seen: list[str] = []
    context = loopback.server_context(ca, NAME, sni_seen=sni_seen)
    async with loopback.serve_tcp(respond(seen=seen), ssl=context) as port:
        obs = await _fetch(
            f"https://{NAME}:{port}/", verify=unverified_context(), sni="example.org"
        )
    assert (obs.failure, obs.status, obs.sni, obs.host) == (None, 200, "example.org", NAME)
    assert sni_seen == ["example.org"]
    assert f"Host: {NAME}:{port}" in seen[0]


async def test_https_wrong_name(loopback, ca, trusting) -> None:
    context = loopback.server_context(ca, "other.example.test")
    async with loopback.serve_tcp(respond(), ssl=context) as port:
        obs = await _fetch(f"https://{NAME}:{port}/", verify=trusting)
    assert (obs.failure, obs.tls_failure, obs.status) == (
        "ssl_invalid_hostname",
        "ssl_invalid_hostname",
        None,
    )


async def test_https_unknown_authority(loopback, other_ca, trusting) -> None:
    context = loopback.server_context(other_ca, NAME)
    async with loopback.serve_tcp(respond(), ssl=context) as port:
        obs = await _fetch(f"https://{NAME}:{port}/", verify=trusting)
    assert obs.tls_failure == obs.failure == "ssl_unknown_authority"


async def test_https_reset_during_handshake(loopback, trusting) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        loopback.reset(writer)

    async with loopback.serve_tcp(reset) as port:
        obs = await _fetch(f"https://{NAME}:{port}/", verify=trusting)
    assert obs.tls_failure == obs.failure == "connection_reset"


async def test_https_silent_handshake_times_out(loopback, trusting) -> None:
    async with loopback.serve_tcp(loopback.hold) as port:
        obs = await _fetch(f"https://{NAME}:{port}/", verify=trusting, timeout=0.4)
    assert obs.tls_failure == obs.failure == "generic_timeout_error"
    assert_no_leaked_socket()


def assert_no_leaked_socket() -> None:
    """httpcore leaves a socket open when cancelled mid-handshake: the probe must close it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_ipv6_address_literal(loopback) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")
    seen: list[str] = []
    async with loopback.serve_tcp(respond(seen=seen), host="::1") as port:
        obs = await _fetch(f"http://{NAME}:{port}/", address="::1")
    assert (obs.failure, obs.address, obs.status) == (None, "::1", 200)
    assert f"Host: {NAME}:{port}" in seen[0]


# --- titles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "charset", "title"),
    [
        (b"<title>Plain</title>", None, "Plain"),
        (b"<TITLE id=t>\n  Two\t\r\n words  </TITLE >", None, "Two words"),
        (b"<title>Tom &amp; Jerry &#8212; &eacute;</title>", None, "Tom & Jerry \u2014 \u00e9"),
        (b"<title>\x1b[2J\x1b]0;owned\x07</title>", None, "\x1b[2J\x1b]0;owned\x07"),
        (b"<title>&#27;[31mred</title>", None, "[31mred"),  # html.unescape drops C0 refs
        ("<title>Привет</title>".encode("cp1251"), "windows-1251", "Привет"),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
            + "<title>日本語</title>".encode("shift_jis"),
            None,
            "日本語",
        ),
        (b"<meta charset='koi8-r'><title>\xf0\xd2\xc9</title>", "utf-8", "\ufffd\ufffd\ufffd"),
        (b"<title>caf\xe9</title>", None, "café"),
        (b"<title>caf\xe9</title>", "no-such-charset", "café"),
        (b"<title>" + b"x" * 500 + b"</title>", None, "x" * 200),
        (b"<title></title>", None, ""),
        (b"<h1>no title</h1>", None, None),
        (b"<title>unterminated", None, None),
        (b" " * 70_000 + b"<title>too far</title>", None, None),
    ],
)
def test_extract_title(body: bytes, charset: str | None, title: str | None) -> None:
    assert extract_title(body, charset) == title


async def test_title_charset_from_header(loopback) -> None:
    body = "<title>Ελληνικά</title>".encode("iso-8859-7")
    handler = respond(body, headers=["Content-Type: text/html; charset=ISO-8859-7"])
    async with loopback.serve_tcp(handler) as port:
        obs = await _fetch(f"http://{NAME}:{port}/")
    assert obs.title == "Ελληνικά"


def test_a_body_keeps_its_head_and_counts_and_hashes_the_rest() -> None:
    body = Body(keep=4)
    body.add(b"abcdef")
    body.add(b"gh")
    assert (bytes(body.head), body.length) == (b"abcd", 8)
    assert body.sha256() == hashlib.sha256(b"abcdefgh").hexdigest()


async def test_a_long_page_is_counted_whole_but_held_only_in_part(loopback) -> None:
    page = b"<html><title>Long</title>" + b"x" * (3 * BODY_KEPT)
    async with loopback.serve_tcp(respond(body=page)) as port:
        obs = await _fetch(f"http://{NAME}:{port}/", timeout=10.0)
    assert (obs.title, obs.body_length) == ("Long", len(page))
    assert obs.body_sha256 == hashlib.sha256(page).hexdigest()


# The regular expressions titles were once read with: right, but quadratic on hostile pages.
_OLD_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_OLD_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_HTMLISH = st.lists(
    st.sampled_from(
        [b"<title", b"<TITLE", b">", b"</title", b"</title >", b"<meta", b" charset=", b"koi8-r",
         b"utf-8", b"'", b'"', b" ", b"\n", b"x", b"\xe9", b"<", b"=", b"charset"]
    ),
    max_size=30,
).map(b"".join)  # fmt: skip


@given(_HTMLISH)
@settings(max_examples=400)
def test_title_and_charset_read_as_the_old_expressions_did(page: bytes) -> None:
    title = _OLD_TITLE.search(page)
    meta = _OLD_META.search(page)
    lowered = page.lower()
    assert _html._title_bytes(page, lowered) == (title.group(1) if title else None)
    assert _html._meta_charset(page, lowered) == (meta.group(1).decode() if meta else None)


@pytest.mark.parametrize(
    "page",
    [
        b"<title" * 11_000,  # 64 KiB of openings, no ">"
        b"<title>" + b"</title" * 9_000,  # closings that never close
        b"<meta" * 12_000 + b"<title>t</title>",
        b"<meta " + b"charset" * 9_000 + b"><title>t</title>",
        b"<title>" + b"</title" + b" " * 60_000,
        b"<" * 65_536,
    ],
    ids=["titles", "closings", "metas", "charsets", "spaces", "brackets"],
)
def test_hostile_pages_are_read_in_linear_time(page: bytes) -> None:
    started = time.perf_counter()
    extract_title(page, None)
    assert time.perf_counter() - started < 0.05
