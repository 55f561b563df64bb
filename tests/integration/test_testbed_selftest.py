"""Self-test of the censorship testbed: every interference, shown with plain tools.

So that a failing netprobe integration test never means a broken testbed. Each row of
``CHECKS`` is a command run in a network's client namespace and the outcome it must have.
All rows run concurrently (the module fixture ``outcomes``); each test then asserts one row.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shlex
import shutil
import string
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from tests.testbed import Testbed
from tests.testbed.servers import (
    CHARSET_TITLE,
    GZIP_BOMB_BYTES,
    MANY_HEADERS,
    NOISE_BYTES,
    PATHOLOGICAL_BYTES,
    TERMINAL_CONTROLS,
)
from tests.testbed.topology import (
    BLOCKPAGE_IP,
    BULK_BLACKHOLED,
    BULK_OPEN,
    CHAT_PORT,
    CONTROL_DNS_IP,
    DOH_NAME,
    GHOSTS,
    GOOD_DOH_IP,
    HOSTILE_LOCATIONS,
    INET_NS,
    INTERCEPTION_CA_NAME,
    MANY_ADDRESSES_NET,
    PROXY_IP,
    PROXY_PORT,
    RESIDUAL_SECONDS,
    SELF_SIGNED_ORG,
    SERVFAIL_DNS_IP,
    SILENT_DNS_IP,
    SITES,
    UNRELATED_IP,
    WRONG_CERT_NAME,
    WRONG_NAME_DOH_IP,
)

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("dig", "curl", "openssl", "timeout")),
    reason="the testbed self-test needs dig, curl, openssl and timeout",
)

IP = {site.name: site.ip for site in SITES if site.ip}
IP6 = {site.name: site.ip6 for site in SITES if site.ip6}
DIG = "dig +time=1 +tries=1"
PROXY = f"http://{PROXY_IP}:{PROXY_PORT}"
# dig stops at the first reply; this waits for two to one UDP query (injection).
TWO_REPLIES = (
    "python3 -c \"import socket, dns.message; q = dns.message.make_query('{name}', 'A'); "
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); "
    "s.sendto(q.to_wire(), ('$ISP', 53)); "
    'print([r.to_text() for _ in range(2) for r in dns.message.from_wire(s.recv(512)).answer])"'
)
ISP, CONTROL = "@$ISP", f"@{CONTROL_DNS_IP}"
CURL = "curl -sS --max-time 5 --cacert $CA"
# Expected to stall: short, the stall itself is the outcome.
CURL_STALL = "curl -sS --max-time 2 --cacert $CA"
# The lossy link: 400 ms RTT plus retransmissions of lost packets.
CURL_LOSSY = "curl -sS --max-time 30 --cacert $CA"
# 12% loss each way: a single-try exchange fails 23% of the time. The system resolver
# (glibc) tries twice, 5 s apart by default: quicker and more often there (RES_OPTIONS, for
# the self-test's commands only), and a lossy check gets three attempts.
LOSSY_ATTEMPTS = 3
LOSSY_ENV = {"RES_OPTIONS": "timeout:1 attempts:5"}
DIG_LOSSY = "dig +time=2 +tries=6"
TLS = "timeout 5 openssl s_client -CAfile $CA"
TLS_STALL = "timeout 3 openssl s_client"
TLS_DONE = "Cipher is TLS_"
TLS_RESET = "errno=104"  # ECONNRESET
BLOCKPAGE_SENTENCE = "Доступ к запрашиваемому ресурсу ограничен"  # noqa: RUF001 (Russian)
TIMED_OUT = 124  # timeout(1)
DIG_NO_SERVER = 9
# curl exit codes
CURL_COULDNT_RESOLVE = 6
CURL_REFUSED = 7
CURL_TIMEOUT = 28
CURL_TLS = 35
CURL_PARTIAL_FILE = 18
CURL_WEIRD_SERVER_REPLY = 8
CURL_BAD_CONTENT_ENCODING = 61
CURL_TOO_MANY_REDIRECTS = 47
CURL_RECV = 56
CURL_CERT = 60
# Sites that do not serve their page at the first request: they redirect, or their
# certificate does not verify.
REDIRECTING = {site.name for site in SITES if site.name.endswith(".redirect.test")}
SELF_SIGNED = ("www.selfsigned-one.test", "www.selfsigned-two.test")
BROKEN_CERTS = {"expired.tls.test", "not-yet.tls.test", "wrong-host.tls.test", *SELF_SIGNED}
RESIDUAL = ("residual-drop.tls.test", "residual-reset.tls.test")
# A DNS-over-HTTPS client as netprobe's: to the server's address, its name as SNI and Host.
# Arguments: address, GET or POST, the name to look up, the CA bundle ("-": no checks).
DOH_CLIENT = f"""
import base64, http.client, socket, ssl, sys
import dns.message, dns.rcode
address, method, name, ca = sys.argv[1:]
if ca == "-":
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
else:
    context = ssl.create_default_context(cafile=ca)
wire = dns.message.make_query(name, "A", id=0).to_wire()
connection = http.client.HTTPSConnection("{DOH_NAME}", timeout=5)
connection.sock = context.wrap_socket(
    socket.create_connection((address, 443), timeout=5), server_hostname="{DOH_NAME}"
)
if method == "GET":
    dns_param = base64.urlsafe_b64encode(wire).decode().rstrip("=")
    connection.request("GET", "/dns-query?dns=" + dns_param)
else:
    headers = {{"Content-Type": "application/dns-message", "Accept": "application/dns-message"}}
    connection.request("POST", "/dns-query", body=wire, headers=headers)
response = connection.getresponse()
reply = dns.message.from_wire(response.read())
rcode = dns.rcode.to_text(reply.rcode())
print(response.status, response.getheader("Content-Type"), rcode, *reply.answer)
"""


# One UDP query (id 4660) and what came back, parsed or not. Arguments: server, name.
RAW_DNS_CLIENT = """
import socket, sys
import dns.message
server, name = sys.argv[1:]
query = dns.message.make_query(name, "A", id=4660)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
sock.sendto(query.to_wire(), (server, 53))
wire = sock.recv(65535)
print(len(wire), "bytes, id", int.from_bytes(wire[:2], "big"))
try:
    reply = dns.message.from_wire(wire)
except Exception as error:
    print("unparsable:", type(error).__name__)
else:
    print("question", reply.question[0].name, "answers", sum(len(r) for r in reply.answer))
    print(*(str(rrset)[:200] for rrset in reply.answer), sep="\\n")
"""
# Bytes a server sends on a TCP connection until it closes it. Arguments: address, port,
# what to send.
RAW_TCP_CLIENT = """
import socket, sys
address, port, request = sys.argv[1:]
with socket.create_connection((address, int(port)), timeout=5) as sock:
    sock.sendall(request.encode())
    print(len(b"".join(iter(lambda: sock.recv(65536), b""))), "bytes")
"""


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    command: str
    """With ``$CA`` (the test CA bundle) and ``$ISP`` (the network's resolver) filled in."""
    rc: int = 0
    output: str = ""
    """Must occur in stdout + stderr."""
    absent: str = "\x00"
    """Must not occur in stdout + stderr."""
    stdin: str | None = None
    """Given to the command on its standard input (a script for ``python3 -``)."""
    network: str = "censored"
    attempts: int = 1
    """Runs until the outcome is right, at most this many times (the lossy network)."""


def _title(name: str) -> str:
    return f"<title>{name} | Testbed site</title>"


def _tls(site: str, sni: str | None = None, *, openssl: str = TLS) -> str:
    """openssl s_client to ``site``'s true address, with SNI ``sni`` (default: the site)."""
    return f"{openssl} -connect {IP[site]}:443 -servername {sni or site}"


def _innocuous_host(site: str) -> str:
    return f"{CURL} -H 'Host: example.org' http://{IP[site]}/"


def _censored() -> list[Check]:
    interception = f"issuer=O = {INTERCEPTION_CA_NAME}"
    trickle = "timeout 4 openssl s_client -quiet -ign_eof"
    trickle_request = "GET / HTTP/1.1\r\nHost: trickle.hostile.test\r\n\r\n"
    escape = "\x1b[2J\x1b]0;pwned\x07 [bold red]markup[/]"
    return [
        # DNS: the ISP resolver lies, the control server tells the truth.
        Check("dns-system-resolver", "dig www.clean.test", 0, "SERVER: 198.18.1.1#53"),
        Check("dns-clean", f"{DIG} +short {ISP} www.clean.test", 0, IP["www.clean.test"]),
        Check("dns-nx", f"{DIG} {ISP} nx.dns.test", 0, "status: NXDOMAIN"),
        Check("dns-bogon", f"{DIG} +short {ISP} bogon.dns.test", 0, "127.0.0.1"),
        Check("dns-zero", f"{DIG} +short {ISP} zero.dns.test", 0, "0.0.0.0"),
        Check("dns-blockpage", f"{DIG} +short {ISP} blockpage.dns.test", 0, BLOCKPAGE_IP),
        Check("dns-wrong", f"{DIG} +short {ISP} wrong.dns.test", 0, UNRELATED_IP),
        Check("dns-timeout", f"{DIG} {ISP} timeout.dns.test", DIG_NO_SERVER, "timed out"),
        Check("dns-timeout-tcp", f"{DIG} +tcp {ISP} timeout.dns.test", DIG_NO_SERVER),
        Check(
            "dns-inject",
            TWO_REPLIES.format(name="inject.dns.test"),
            0,
            f"A {UNRELATED_IP}', 'inject.dns.test. 300 IN A {IP['inject.dns.test']}'",
        ),
        Check(
            "dns-inject-tcp", f"{DIG} +short +tcp {ISP} inject.dns.test", 0, IP["inject.dns.test"]
        ),
        Check("dns-servfail", f"{DIG} {ISP} servfail.dns.test", 0, "status: SERVFAIL"),
        Check("dns-servfail-tcp", f"{DIG} +tcp {ISP} servfail.dns.test", 0, "status: SERVFAIL"),
        Check("dns-refused", f"{DIG} {ISP} refused.dns.test", 0, "status: REFUSED"),
        Check("dns-gone", f"{DIG} {ISP} gone.test", 0, "status: NXDOMAIN"),
        Check("dns-control-gone", f"{DIG} {CONTROL} gone.test", 0, "status: NXDOMAIN"),
        Check("dns-control-aaaa", f"{DIG} {CONTROL} AAAA www.clean.test", 0, "ANSWER: 0"),
        Check("dns-control-tcp", f"{DIG} +tcp {CONTROL} www.clean.test", 0, "status: NOERROR"),
        *(
            Check(f"dns-control-{site.name}", f"{DIG} +short {CONTROL} {site.host}", 0, ip)
            for site in SITES
            if site.dns and (ip := site.ip)
        ),
        # Genuine sites.
        Check("https-clean", f"{CURL} https://www.clean.test/", 0, _title("www.clean.test")),
        Check("http-plain", f"{CURL} http://plain.clean.test/", 0, _title("plain.clean.test")),
        Check("https-plain", f"{CURL} https://plain.clean.test/", 0, _title("plain.clean.test")),
        Check("https-idn", f"{CURL} https://www.пример.test/", 0, _title("www.пример.test")),
        Check("https-gone", f"{CURL} https://gone.test/", CURL_COULDNT_RESOLVE),
        Check("ipecho", f"{CURL} http://ipecho.test/", 0, "198.18.101.2"),
        # DNS lies, as a browser meets them.
        Check("https-blockpage-dns", f"{CURL} https://blockpage.dns.test/", CURL_REFUSED),
        Check("http-blockpage-dns", f"{CURL} http://blockpage.dns.test/", 0, BLOCKPAGE_SENTENCE),
        Check("https-wrong-dns", f"{CURL} https://wrong.dns.test/", CURL_CERT, "no alternative"),
        Check(
            "tls-wrong-dns",
            f"{TLS} -connect {UNRELATED_IP}:443 -servername wrong.dns.test",
            0,
            "CN = unrelated.test",
        ),
        # TCP.
        Check("tcp-blackhole", f"{CURL_STALL} https://blackhole.tcp.test/", CURL_TIMEOUT),
        Check("tcp-refused", f"{CURL} https://refused.tcp.test/", CURL_REFUSED),
        Check("tcp-reset", f"{CURL} https://reset.tcp.test/", CURL_TLS, "reset by peer"),
        Check("tcp-reset-any-sni", _tls("reset.tcp.test", "example.org"), 1, TLS_RESET),
        # TLS.
        Check("sni-reset", _tls("sni-reset.tls.test"), 1, TLS_RESET),
        Check("sni-reset-innocuous", _tls("sni-reset.tls.test", "example.org"), 0, TLS_DONE),
        Check("sni-drop", _tls("sni-drop.tls.test", openssl=TLS_STALL), TIMED_OUT),
        Check("sni-drop-innocuous", _tls("sni-drop.tls.test", "example.org"), 0, TLS_DONE),
        Check("mitm-one", _tls("www.mitm-one.test"), 0, interception),
        Check("mitm-two", _tls("www.mitm-two.test"), 0, interception),
        Check("mitm-untrusted", f"{CURL} https://www.mitm-one.test/", CURL_CERT, "local issuer"),
        Check("mitm-page", f"{CURL} -k https://www.mitm-two.test/", 0, _title("www.mitm-two.test")),
        Check("tls-handshake", _tls("handshake.tls.test"), 1, "alert handshake failure"),
        # HTTP.
        Check("host-reset", f"{CURL} http://host-reset.http.test/", CURL_RECV, "reset by peer"),
        Check("host-reset-innocuous", _innocuous_host("host-reset.http.test"), 0, "<title>"),
        Check("host-drop", f"{CURL_STALL} http://host-drop.http.test/", CURL_TIMEOUT),
        Check("host-drop-innocuous", _innocuous_host("host-drop.http.test"), 0, "<title>"),
        Check("blockpage-http", f"{CURL} http://blockpage.http.test/", 0, BLOCKPAGE_SENTENCE),
        Check(
            "blockpage-http-title",
            f"{CURL} http://blockpage.http.test/",
            0,
            "<title>Доступ ограничен</title>",
        ),
        Check(
            "diff-http",
            f"{CURL} -i http://diff.http.test/",
            0,
            "<title>Portal</title>",
            absent="X-Testbed-Site",
        ),
        Check("diff-https-twin", f"{CURL} https://diff.http.test/", 0, _title("diff.http.test")),
        Check(
            "redirect",
            f"{CURL} -i http://redirect.http.test/",
            0,
            "Location: http://host-reset.http.test/",
        ),
        Check("redirect-followed", f"{CURL} -L http://redirect.http.test/", CURL_RECV, "reset"),
        # Hostile sites.
        Check(
            "big",
            f"{CURL} -o /dev/null -w '%{{size_download}}' https://big.hostile.test/",
            0,
            str(50 * 1024 * 1024),
        ),
        Check(
            "trickle",
            _tls("trickle.hostile.test", openssl=trickle),
            TIMED_OUT,
            "HTT",  # a byte a second: 4 or 5 bytes in 4 s
            absent="200 OK",
            stdin=trickle_request,
        ),
        Check("escape", f"{CURL} https://escape.hostile.test/", 0, escape),
        # The control proxy on the internet side: the uncensored view.
        Check("proxy-plain", f"{CURL} -x {PROXY} http://blockpage.http.test/", 0, "Testbed site"),
        Check("proxy-connect", f"{CURL} -x {PROXY} https://sni-reset.tls.test/", 0, "<title>"),
        Check("proxy-dns", f"{CURL} -x {PROXY} https://nx.dns.test/", 0, "<title>"),
        Check("down-everywhere", f"{CURL_STALL} http://down.tcp.test/", CURL_TIMEOUT),
        Check(
            "proxy-down-everywhere",
            f"{CURL} -o /dev/null -w '%{{http_code}}' -x {PROXY} http://down.tcp.test/",
            0,
            "504",
        ),
        # IPv6 (2001:2::/48): AAAA records for a few sites, one IPv6 address dropped.
        Check("v6-aaaa", f"{DIG} +short {CONTROL} AAAA v6.clean.test", 0, IP6["v6.clean.test"]),
        Check("v6-only-no-a", f"{DIG} +short {CONTROL} A v6only.clean.test", 0, absent="198."),
        Check("v6-curl", f"{CURL} -6 https://v6.clean.test/", 0, _title("v6.clean.test")),
        Check("v6-only", f"{CURL} https://v6only.clean.test/", 0, _title("v6only.clean.test")),
        Check("v6-drop", f"{CURL_STALL} -6 https://v6-drop.tcp.test/", CURL_TIMEOUT),
        Check("v6-drop-v4", f"{CURL} -4 https://v6-drop.tcp.test/", 0, "<title>"),
        # Messaging-app endpoints.
        Check("dc-blackhole", f"{CURL_STALL} http://{IP['dc1.tg.test']}:443/", CURL_TIMEOUT),
        Check("chat-port-refused", f"{CURL} http://e1.chat.test:{CHAT_PORT}/", CURL_REFUSED),
        Check("chat-port-open", f"{CURL} http://e2.chat.test:{CHAT_PORT}/", 0, "<title>"),
        Check("msgr-lie", f"{DIG} +short {ISP} edge.msgr.test", 0, UNRELATED_IP),
        # Bulk names for the benchmark: a wildcard certificate, one /24 blackholed.
        Check("bulk-dns", f"{DIG} +short {ISP} n7.{BULK_OPEN}", 0, "198.19.2."),
        Check("bulk-open", f"{CURL} https://n7.{BULK_OPEN}/", 0, _title(f"n7.{BULK_OPEN}")),
        Check("bulk-blackholed", f"{CURL_STALL} https://n7.{BULK_BLACKHOLED}/", CURL_TIMEOUT),
        # An address of no site: default certificate and page.
        Check(
            "default-site",
            f"{CURL} -k -H 'Host: example.org' https://198.19.77.7/",
            0,
            "Testbed default server",
        ),
    ]


def _hostile() -> list[Check]:
    """Hostile servers, in the clean network: each misbehaves as it says, uncensored."""
    hostile = functools.partial(Check, network="clean")
    dns_replies = [
        (
            "cname-loop",
            "question cname-loop.hostile.test. answers 2\n"
            "cname-loop.hostile.test. 300 IN CNAME cname-loop-b.hostile.test.\n"
            "cname-loop-b.hostile.test. 300 IN CNAME cname-loop.hostile.test.",
            "\x00",
        ),
        ("pointer-loop", "34 bytes, id 4660\nunparsable: BadPointer", "\x00"),
        ("garbage", "512 bytes", "question"),
        ("truncated-reply", "bytes, id 4660\nunparsable", "question"),
        ("wrong-id", "bytes, id 4661\nquestion wrong-id.hostile.test. answers 1", "\x00"),
        ("wrong-question", "id 4660\nquestion www.clean.test. answers 1", "\x00"),
        ("many-addresses", "question many-addresses.hostile.test. answers 1022", "\x00"),
    ]
    # The control server's garbage, and the same through the ISP resolver (relayed as is).
    checks = [
        hostile(
            f"hostile-dns-{what}-{via}",
            f"python3 - {server} {what}.hostile.test",
            0,
            output,
            absent=absent,
            stdin=RAW_DNS_CLIENT,
        )
        for what, output, absent in dns_replies
        for via, server in (("isp", "$ISP"), ("control", CONTROL_DNS_IP))
    ]
    request = "GET / HTTP/1.1\r\nHost: {}\r\n\r\n"
    slow = "timeout 3 openssl s_client -quiet -ign_eof"
    many_headers = (
        "sh -c \"printf 'GET / HTTP/1.1\\r\\nHost: many-headers.hostile.test\\r\\n\\r\\n'"
        f" | timeout 5 openssl s_client -quiet -connect {IP['many-headers.hostile.test']}:443"
        " -servername many-headers.hostile.test 2>/dev/null | grep -c '^X-Header-'\""
    )
    bomb_page = f"<!DOCTYPE html><html><head>{_title('gzip-bomb.hostile.test')}</head><body>"
    # Inflating 1 GiB takes curl 2 to 4 s of CPU; the other checks share the cores.
    inflated = (
        "sh -c 'curl -sS --max-time 30 --cacert $CA --compressed"
        " https://gzip-bomb.hostile.test/ | wc -c'"
    )
    markup = f"sh -c '{CURL} https://pathological.hostile.test/ | head -c 300'"
    size = "-o /dev/null -w '%{size_download}'"
    utf7_title = CHARSET_TITLE.encode("utf-7").decode("ascii")
    some_address = list(ipaddress.ip_network(MANY_ADDRESSES_NET).hosts())[456]
    checks += [
        hostile("hostile-controls-reason", f"{CURL} -i https://controls.hostile.test/", 0,
                f"HTTP/1.1 200 OK {TERMINAL_CONTROLS}"),
        hostile("hostile-controls-header", f"{CURL} -i https://controls.hostile.test/", 0,
                f"X-Powered-By: PHP {TERMINAL_CONTROLS}"),
        hostile("hostile-controls-title", f"{CURL} http://controls.hostile.test/", 0,
                f"<title>{TERMINAL_CONTROLS} controls.hostile.test [bold red]markup[/]</title>"),
        hostile("hostile-pathological", f"{CURL} {size} https://pathological.hostile.test/", 0,
                str(PATHOLOGICAL_BYTES)),
        hostile("hostile-pathological-markup", markup, 0, "<title<title<title"),
        hostile("hostile-slow-headers", _tls("slow-headers.hostile.test", openssl=slow),
                TIMED_OUT, "HTTP/1.1 200 OK\nX-S", absent="X-Slow-0: 0\n",
                stdin=request.format("slow-headers.hostile.test")),
        hostile("hostile-gzip-bomb", f"{CURL} -I https://gzip-bomb.hostile.test/", 0,
                "Content-Encoding: gzip"),
        hostile("hostile-gzip-bomb-inflated", inflated, 0, str(GZIP_BOMB_BYTES + len(bomb_page))),
        hostile("hostile-many-headers", many_headers, 0, str(MANY_HEADERS)),
        hostile("hostile-noise-tls", f"{CURL} https://noise.hostile.test/", CURL_TLS),
        hostile("hostile-noise-tls-bytes", f"python3 - {IP['noise.hostile.test']} 443 hello", 0,
                f"{NOISE_BYTES} bytes", stdin=RAW_TCP_CLIENT),
        hostile("hostile-noise-http", f"{CURL} --http0.9 {size} http://noise.hostile.test/", 0,
                str(NOISE_BYTES)),
        hostile("hostile-truncated", f"{CURL} https://truncated.hostile.test/", CURL_PARTIAL_FILE,
                "transfer closed with"),
        hostile("hostile-chunked-forever", f"{CURL_STALL} https://chunked-forever.hostile.test/",
                CURL_TIMEOUT, "<p>tick 5</p>"),
        hostile("hostile-stalled-body",
                f"{CURL_STALL} -o /dev/null https://stalled-body.hostile.test/", CURL_TIMEOUT,
                "bytes received"),
        hostile("hostile-charset", f"{CURL} -i https://charset.hostile.test/", 0,
                "Content-Type: text/html; charset=utf-7", absent="\x1b"),
        hostile("hostile-charset-title", f"{CURL} https://charset.hostile.test/", 0,
                f"<title>{utf7_title}</title>", absent="\x1b"),
        hostile("hostile-bad-gzip", f"{CURL} --compressed https://bad-gzip.hostile.test/",
                CURL_BAD_CONTENT_ENCODING),
        hostile("hostile-bad-chunk", f"{CURL} http://bad-chunk.hostile.test/", CURL_RECV,
                "chunked"),
        hostile("hostile-many-addresses",
                f"{CURL} --resolve many-addresses.hostile.test:443:{some_address}"
                " https://many-addresses.hostile.test/", 0, _title("many-addresses.hostile.test")),
        # A relative Location leads to an ordinary page.
        hostile("hostile-loc-dotdot-followed", f"{CURL} -L http://loc-dotdot.hostile.test/", 0,
                _title("loc-dotdot.hostile.test")),
    ]  # fmt: skip
    for name, location in HOSTILE_LOCATIONS.items():
        if "\x00" in location:  # curl will not have it
            outcome = (CURL_WEIRD_SERVER_REPLY, "Nul byte in header")
        else:
            outcome = (0, f"302 {location}|")
        what = name.split(".")[0]
        checks.append(hostile(f"hostile-{what}", _location(f"http://{name}/"), *outcome))
    return checks


def _clean() -> list[Check]:
    """Every genuine site answers and no resolver lies."""
    special = {"redirect.http.test", "ipecho.test", "gone.test", *GHOSTS}
    checks = [
        Check(f"clean-{site.name}", f"{CURL} {site.url}", 0, _title(site.name), network="clean")
        for site in SITES
        if site.name not in special | REDIRECTING | BROKEN_CERTS
        and not site.name.endswith(".hostile.test")
        and site.block != "down-everywhere"
    ]
    checks += [
        Check(f"clean-dns-{site.name}", f"{DIG} +short {site.host}", 0, ip, network="clean")
        for site in SITES
        if site.dns and (ip := site.ip)
    ]
    checks.append(
        Check("clean-ipecho", f"{CURL} http://ipecho.test/", 0, "198.18.102.2", network="clean")
    )
    return checks


def _cutoff() -> list[Check]:
    """Nothing answers, not even the ISP's resolver."""
    return [
        Check(f"cutoff-{what}", command, rc, network="cutoff")
        for what, command, rc in (
            ("dns", f"{DIG} www.clean.test", DIG_NO_SERVER),
            ("dns-tcp", f"{DIG} +tcp www.clean.test", DIG_NO_SERVER),
            ("dns-control", f"{DIG} {CONTROL} www.clean.test", DIG_NO_SERVER),
            ("https", f"{CURL_STALL} -k https://{IP['www.clean.test']}/", CURL_TIMEOUT),
            ("http", f"{CURL_STALL} http://{IP['ipecho.test']}/", CURL_TIMEOUT),
        )
    ]


def _lossy() -> list[Check]:
    """Slow but working (the delay and the loss have tests of their own below)."""
    return [
        Check(f"lossy-{what}", command, 0, output, network="lossy", attempts=LOSSY_ATTEMPTS)
        for what, command, output in (
            ("https", f"{CURL_LOSSY} https://www.clean.test/", _title("www.clean.test")),
            ("http", f"{CURL_LOSSY} http://plain.clean.test/", _title("plain.clean.test")),
            ("ipecho", f"{CURL_LOSSY} http://ipecho.test/", "198.18.104.2"),
            ("dns", f"{DIG_LOSSY} +short nx.dns.test", IP["nx.dns.test"]),
        )
    ]


def _location(url: str) -> str:
    """Status and raw Location of ``url``'s answer, as ``308 https://nx.dns.test/|``."""
    return f"{CURL} -o /dev/null -w '%{{http_code}} %header{{location}}|' {url}"


def _redirects() -> list[Check]:
    """Each redirect as sent, then followed: into censorship, or to a clean end."""
    hops = [
        ("to-nx", "https://to-nx.redirect.test/", "308 https://nx.dns.test/"),
        ("to-nx-any-path", "http://to-nx.redirect.test/a/b?c=d", "308 https://nx.dns.test/"),
        ("to-sni", "https://to-sni.redirect.test/", "302 https://sni-reset.tls.test/"),
        ("to-refused", "https://to-refused.redirect.test/", "301 https://refused.tcp.test/"),
        ("to-https", "http://to-https.redirect.test/", "301 https://sni-reset.tls.test/"),
        ("scheme-rel", "http://scheme-rel.redirect.test/", "303 //host-reset.http.test/"),
        ("relative", "http://relative.redirect.test/", "302 /next"),
        ("relative-next", "http://relative.redirect.test/next", "307 http://blockpage.http.test/"),
        ("to-clean", "https://to-clean.redirect.test/", "301 https://www.clean.test/"),
        ("many", "https://many.redirect.test/", "302 /redirect/1"),
        ("many-1", "https://many.redirect.test/redirect/1", "302 /redirect/2"),
        ("many-14", "https://many.redirect.test/redirect/14", "302 /redirect/15"),
        ("many-15", "https://many.redirect.test/redirect/15", "200 "),
        ("loop", "https://loop.redirect.test/", "302 /a"),
        ("loop-a", "https://loop.redirect.test/a", "302 /b"),
        ("loop-b", "https://loop.redirect.test/b", "302 /a"),
    ]
    checks = [Check(f"redirect-{what}", _location(url), 0, f"{sent}|") for what, url, sent in hops]
    follow = f"{CURL} -L"
    many = "-o /dev/null -w '%{num_redirects} %{http_code} %{url_effective}'"
    checks += [
        Check(f"redirect-followed-{what}", f"{follow} {url}", rc, output, network=network)
        for what, url, rc, output, network in (
            ("to-nx", "https://to-nx.redirect.test/", CURL_COULDNT_RESOLVE, "", "censored"),
            ("to-sni", "https://to-sni.redirect.test/", CURL_TLS, "reset by peer", "censored"),
            ("to-refused", "https://to-refused.redirect.test/", CURL_REFUSED, "", "censored"),
            ("to-https", "http://to-https.redirect.test/", CURL_TLS, "reset by peer", "censored"),
            ("scheme-rel", "http://scheme-rel.redirect.test/", CURL_RECV, "reset", "censored"),
            ("relative", "http://relative.redirect.test/", 0, BLOCKPAGE_SENTENCE, "censored"),
            (
                "to-clean",
                "https://to-clean.redirect.test/",
                0,
                _title("www.clean.test"),
                "censored",
            ),
            ("many", "https://many.redirect.test/", 0, _title("many.redirect.test"), "censored"),
            (
                "many-count",
                f"{many} https://many.redirect.test/",
                0,
                "15 200 https://many.redirect.test/redirect/15",
                "censored",
            ),
            (
                "loop",
                "--max-redirs 10 https://loop.redirect.test/",
                CURL_TOO_MANY_REDIRECTS,
                "Maximum (10) redirects followed",
                "censored",
            ),
            # Without censorship every chain but the loop ends on a page.
            ("clean-to-nx", "https://to-nx.redirect.test/", 0, _title("nx.dns.test"), "clean"),
            (
                "clean-to-sni",
                "https://to-sni.redirect.test/",
                0,
                _title("sni-reset.tls.test"),
                "clean",
            ),
            (
                "clean-scheme-rel",
                "http://scheme-rel.redirect.test/",
                0,
                _title("host-reset.http.test"),
                "clean",
            ),
            (
                "clean-relative",
                "http://relative.redirect.test/",
                0,
                _title("blockpage.http.test"),
                "clean",
            ),
        )
    ]
    return checks


def _certificates() -> list[Check]:
    """Certificates that do not verify, in every network: broken sites, not censorship."""
    verify = {
        "expired.tls.test": "Verify return code: 10 (certificate has expired)",
        "not-yet.tls.test": "Verify return code: 9 (certificate is not yet valid)",
        "wrong-host.tls.test": "Verify return code: 62 (hostname mismatch)",
        **dict.fromkeys(SELF_SIGNED, "Verify return code: 18 (self-signed certificate)"),
    }
    curl_error = {
        "expired.tls.test": "certificate has expired",
        "not-yet.tls.test": "certificate is not yet valid",
        "wrong-host.tls.test": "no alternative certificate subject name matches",
        **dict.fromkeys(SELF_SIGNED, "self-signed certificate"),
    }
    checks = []
    for network in ("censored", "clean"):
        for name in verify:
            s_client = f"{_tls(name)} -verify_hostname {name}"
            checks += [
                Check(f"{network}-cert-{name}", s_client, 0, verify[name], network=network),
                Check(
                    f"{network}-cert-curl-{name}",
                    f"{CURL} https://{name}/",
                    CURL_CERT,
                    curl_error[name],
                    network=network,
                ),
                Check(
                    f"{network}-cert-page-{name}",
                    f"{CURL} -k https://{name}/",
                    0,
                    _title(name),
                    network=network,
                ),
            ]
    widgits = f"O = {SELF_SIGNED_ORG}"
    checks += [
        Check(
            "cert-wrong-host-name",
            _tls("wrong-host.tls.test"),
            0,
            "subject=O = trustme",
            absent="CN = wrong-host.tls.test",
        ),
        Check("cert-wrong-host-cn", _tls("wrong-host.tls.test"), 0, f"CN = {WRONG_CERT_NAME}"),
        *(Check(f"cert-issuer-{name}", _tls(name), 0, f"issuer={widgits}") for name in SELF_SIGNED),
        *(
            Check(f"cert-subject-{name}", _tls(name), 0, f"subject={widgits}")
            for name in SELF_SIGNED
        ),
    ]
    return checks


def _ghosts() -> list[Check]:
    """Names that exist nowhere, except at the censored ISP's resolver."""
    lies = {site.name: site.dns.removeprefix("a:") for site in SITES if site.name in GHOSTS}
    checks = []
    for name, lie in lies.items():
        checks += [
            Check(f"ghost-{name}", f"{DIG} +short {ISP} {name}", 0, lie),
            Check(f"ghost-control-{name}", f"{DIG} {CONTROL} {name}", 0, "status: NXDOMAIN"),
            Check(
                f"ghost-clean-{name}",
                f"{DIG} {ISP} {name}",
                0,
                "status: NXDOMAIN",
                network="clean",
            ),
            Check(
                f"ghost-lossy-{name}",
                f"{DIG_LOSSY} {ISP} {name}",
                0,
                "status: NXDOMAIN",
                network="lossy",
                attempts=LOSSY_ATTEMPTS,
            ),
        ]
    checks += [
        Check(
            "ghost-blockpage-page", f"{CURL} http://ghost-blockpage.test/", 0, BLOCKPAGE_SENTENCE
        ),
        Check("ghost-wrong-cert", f"{CURL} https://ghost-wrong.test/", CURL_CERT, "no alternative"),
        Check("ghost-bogon-refused", f"{CURL} https://ghost-bogon.test/", CURL_REFUSED),
        Check(
            "ghost-clean-curl",
            f"{CURL} https://ghost-wrong.test/",
            CURL_COULDNT_RESOLVE,
            network="clean",
        ),
    ]
    return checks


DOH_TRUTH = f"200 application/dns-message NOERROR nx.dns.test. 300 IN A {IP['nx.dns.test']}"


def _control_resolvers() -> list[Check]:
    """Control resolvers that fail (SERVFAIL, silence, DoH with the wrong name), a good DoH."""
    servfail, silent = f"@{SERVFAIL_DNS_IP}", f"@{SILENT_DNS_IP}"
    good, wrong = GOOD_DOH_IP, WRONG_NAME_DOH_IP
    checks = []
    for network in ("censored", "clean"):
        checks += [
            Check(f"{network}-{what}", command, rc, output, network=network)
            for what, command, rc, output in (
                ("servfail", f"{DIG} {servfail} www.clean.test", 0, "status: SERVFAIL"),
                ("servfail-tcp", f"{DIG} +tcp {servfail} www.clean.test", 0, "status: SERVFAIL"),
                ("silent", f"{DIG} {silent} www.clean.test", DIG_NO_SERVER, "timed out"),
                ("silent-tcp", f"{DIG} +tcp {silent} www.clean.test", DIG_NO_SERVER, "timed out"),
            )
        ]
        checks += [
            Check(
                f"{network}-doh-{what}",
                f"python3 - {args}",
                rc,
                output,
                stdin=DOH_CLIENT,
                network=network,
            )
            for what, args, rc, output in (
                ("post", f"{good} POST nx.dns.test $CA", 0, DOH_TRUTH),
                ("get", f"{good} GET nx.dns.test $CA", 0, DOH_TRUTH),
                ("nxdomain", f"{good} POST ghost-wrong.test $CA", 0, "dns-message NXDOMAIN"),
                (
                    "wrong-name",
                    f"{wrong} POST www.clean.test $CA",
                    1,
                    f"Hostname mismatch, certificate is not valid for '{DOH_NAME}'",
                ),
                ("wrong-name-answers", f"{wrong} POST nx.dns.test -", 0, DOH_TRUTH),
            )
        ]
    doh = f"{CURL} --resolve {DOH_NAME}:443:{{ip}}"
    status = "-o /dev/null -w '%{http_code}'"
    checks += [
        # curl's own DoH (POST): the truth, in the censored network too.
        Check(
            "doh-curl",
            f"{doh.format(ip=good)} --doh-url https://{DOH_NAME}/dns-query https://nx.dns.test/",
            0,
            _title("nx.dns.test"),
        ),
        Check(
            "doh-curl-wrong-name",
            f"{doh.format(ip=wrong)} https://{DOH_NAME}/dns-query",
            CURL_CERT,
            f"no alternative certificate subject name matches target host name '{DOH_NAME}'",
        ),
        Check("doh-not-found", f"{doh.format(ip=good)} {status} https://{DOH_NAME}/x", 0, "404"),
        Check(
            "doh-bad-type",
            f"{doh.format(ip=good)} {status} -d x https://{DOH_NAME}/dns-query",
            0,
            "415",
        ),
        Check(
            "doh-no-query", f"{doh.format(ip=good)} {status} https://{DOH_NAME}/dns-query", 0, "400"
        ),
    ]
    return checks


CHECKS = (
    _censored()
    + _clean()
    + _cutoff()
    + _lossy()
    + _redirects()
    + _certificates()
    + _ghosts()
    + _control_resolvers()
    + _hostile()
)


class Outcome(NamedTuple):
    command: str
    rc: int
    output: str


def _run(testbed: Testbed, check: Check) -> Outcome:
    network = testbed.networks[check.network]
    command = string.Template(check.command).substitute(CA=testbed.ca_bundle, ISP=network.resolver)
    for _ in range(check.attempts):
        env = LOSSY_ENV if check.network == "lossy" else None
        result = network.run(shlex.split(command), timeout=60, env=env, input=check.stdin)
        outcome = Outcome(command, result.returncode, result.stdout + result.stderr)
        if _passes(check, outcome):
            break
    return outcome


def _passes(check: Check, outcome: Outcome) -> bool:
    return (
        outcome.rc == check.rc
        and check.output in outcome.output
        and check.absent not in outcome.output
    )


@pytest.fixture(scope="module")
def outcomes(testbed: Testbed) -> dict[str, Outcome]:
    with ThreadPoolExecutor(max_workers=24) as pool:
        futures = {check.id: pool.submit(_run, testbed, check) for check in CHECKS}
    return {check_id: future.result() for check_id, future in futures.items()}


def test_check_ids_are_unique() -> None:
    assert len({check.id for check in CHECKS}) == len(CHECKS)


@pytest.mark.parametrize("check", CHECKS, ids=[check.id for check in CHECKS])
def test_interference(check: Check, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[check.id]
    where = f"[{check.network}] {outcome.command}\n-> exit {outcome.rc}\n{outcome.output}"
    assert outcome.rc == check.rc, where
    assert check.output in outcome.output, where
    assert check.absent not in outcome.output, where


def test_lossy_link_delays(testbed: Testbed) -> None:
    """Both DNS (to the ISP) and the TCP handshake take at least the 400 ms round trip."""
    write_out = "%{time_namelookup} %{time_connect}"
    argv = ["curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", write_out]
    for _ in range(LOSSY_ATTEMPTS):  # the system resolver may give up (see LOSSY_ATTEMPTS)
        lossy = testbed.networks["lossy"]
        result = lossy.run([*argv, "http://plain.clean.test/"], timeout=60, env=LOSSY_ENV)
        if result.returncode == 0:
            break
    assert result.returncode == 0, result.stderr
    lookup, connect = map(float, result.stdout.split())
    assert lookup >= 0.38, result.stdout
    assert connect - lookup >= 0.38, result.stdout


def _answered(testbed: Testbed, network: str, queries: int) -> int:
    """How many of ``queries`` concurrent single-try DNS queries got an answer."""
    resolver = testbed.networks[network].resolver
    dig = f"dig +short +tries=1 +time=2 @{resolver} www.clean.test"
    script = f"seq {queries} | xargs -P 50 -I_ {dig}"
    result = testbed.networks[network].run(["sh", "-c", script], timeout=60)
    return result.stdout.split().count(IP["www.clean.test"])


def test_lossy_link_drops(testbed: Testbed) -> None:
    """About 23% of single-try DNS exchanges fail (12% loss each way); none on clean."""
    queries = 100
    assert _answered(testbed, "clean", queries) == queries
    # Answered ~ Binomial(100, 0.7744): mean 77.4, sd 4.2; both bounds are 5 sd away.
    assert 56 <= _answered(testbed, "lossy", queries) <= 98


KEY_FORMAT = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem_certificate(output: str) -> x509.Certificate:
    found = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", output, re.S)
    assert found, output
    return x509.load_pem_x509_certificate(found.group().encode())


def test_self_signed_twins(testbed: Testbed) -> None:
    """The two self-signed sites: same subject and issuer (OpenSSL's default organisation),
    each its own key, each its own name."""
    clean = testbed.networks["clean"]
    widgits = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, SELF_SIGNED_ORG)])
    keys = set()
    for name in SELF_SIGNED:
        result = clean.run(shlex.split(_tls(name, openssl=TLS_STALL)), timeout=10)
        cert = _pem_certificate(result.stdout)
        assert cert.subject == cert.issuer == widgits
        alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert alt_names.get_values_for_type(x509.DNSName) == [name]
        keys.add(cert.public_key().public_bytes(*KEY_FORMAT))
    assert len(keys) == len(SELF_SIGNED)


def _residual_list(testbed: Testbed, site: str) -> str:
    isp = testbed.networks["censored"].isp_ns
    path = f"/proc/net/xt_recent/{testbed.residual_lists[site]}"
    return subprocess.run(
        ["ip", "netns", "exec", isp, "cat", path], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    ("site", "blocked"),
    [
        # During the window: an innocuous handshake stalls, port 80 times out ...
        ("residual-drop.tls.test", ((TIMED_OUT, ""), (CURL_TIMEOUT, "timed out"))),
        # ... or every SYN is answered with a reset.
        ("residual-reset.tls.test", ((1, "errno=111"), (CURL_REFUSED, "Couldn't connect"))),
    ],
)
def test_residual_censorship(
    testbed: Testbed, site: str, blocked: tuple[tuple[int, str], tuple[int, str]]
) -> None:
    """The name is reset and, for the next minute, so is the site's address (any SNI, any
    port) for that client; other addresses and other clients are untouched; clear_residual()
    ends the punishment."""
    censored = testbed.networks["censored"]
    ca = str(testbed.ca_bundle)

    def run(command: str) -> Outcome:
        result = censored.run(shlex.split(command.replace("$CA", ca)), timeout=30)
        return Outcome(command, result.returncode, result.stdout + result.stderr)

    innocuous = _tls(site, "example.org")
    innocuous_stall = _tls(site, "example.org", openssl=f"{TLS_STALL} -CAfile $CA")
    port_80 = f"{CURL_STALL} http://{IP[site]}/"
    testbed.clear_residual()
    try:
        outcome = run(innocuous)
        assert (outcome.rc, TLS_DONE in outcome.output) == (0, True), outcome
        outcome = run(_tls(site))
        assert (outcome.rc, TLS_RESET in outcome.output) == (1, True), outcome
        assert f"src={censored.client_ip} " in _residual_list(testbed, site)
        with ThreadPoolExecutor() as pool:
            during = list(
                pool.map(run, [innocuous_stall, port_80, f"{CURL} https://www.clean.test/"])
            )
        for outcome, (rc, output) in zip(
            during, [*blocked, (0, _title("www.clean.test"))], strict=True
        ):
            assert (outcome.rc, output in outcome.output) == (rc, True), outcome
        clean = testbed.networks["clean"].run(shlex.split(innocuous.replace("$CA", ca)), timeout=30)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        testbed.clear_residual()
        assert _residual_list(testbed, site) == ""
        outcome = run(innocuous)
        assert (outcome.rc, TLS_DONE in outcome.output) == (0, True), outcome
    finally:
        testbed.clear_residual()


def test_residual_window_is_a_minute(testbed: Testbed) -> None:
    """The punishment lasts RESIDUAL_SECONDS (60) from the trigger, as the rules say."""
    rules = subprocess.run(
        ["ip", "netns", "exec", testbed.networks["censored"].isp_ns, "iptables", "-S", "FORWARD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for site in RESIDUAL:
        name = testbed.residual_lists[site]
        assert f"--rcheck --seconds {RESIDUAL_SECONDS} --name {name} " in rules, rules
        assert f'--string "{site}"' in rules and f"--set --name {name} " in rules, rules


def test_up_is_fast(testbed: Testbed) -> None:
    """The session fixture checks up + down < 15 s at teardown; this shows up alone."""
    assert testbed.up_seconds is not None
    print(f"testbed up in {testbed.up_seconds:.2f} s")
    assert testbed.up_seconds < 10


def test_namespaces_only_know_testbed_links(testbed: Testbed) -> None:
    """No namespace has an interface or a route towards the host's real networks."""
    interfaces = {"lo", "c-isp", "isp-c", "isp-inet", *testbed.networks}
    namespaces = [INET_NS] + [
        netns
        for network in testbed.networks.values()
        for netns in (network.client_ns, network.isp_ns)
    ]
    for netns in namespaces:
        links = _ip(netns, "-o", "link", "show")
        names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}
        assert names <= interfaces, f"{netns}: {names}"
        for route in _ip(netns, "-4", "route", "show", "table", "all").splitlines():
            words = route.split()
            gateway = words[words.index("via") + 1] if "via" in words else None
            assert gateway is None or gateway.startswith("198.18."), f"{netns}: {route}"


def _ip(netns: str, *args: str) -> str:
    return subprocess.run(
        ["ip", "-n", netns, *args], capture_output=True, text=True, check=True
    ).stdout
