"""Self-test of the censorship testbed: every interference, shown with plain tools.

So that a failing netprobe integration test never means a broken testbed. Each row of
``CHECKS`` is a command run in a network's client namespace and the outcome it must have.
All rows run concurrently (the module fixture ``outcomes``); each test then asserts one row.
"""

from __future__ import annotations

import shlex
import shutil
import string
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import pytest

from tests.testbed import Testbed
from tests.testbed.topology import (
    BLOCKPAGE_IP,
    BULK_BLACKHOLED,
    BULK_OPEN,
    CHAT_PORT,
    CONTROL_DNS_IP,
    INET_NS,
    INTERCEPTION_CA_NAME,
    PROXY_IP,
    PROXY_PORT,
    SITES,
    UNRELATED_IP,
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
# The lossy link: 300 ms RTT plus retransmissions of lost packets.
CURL_LOSSY = "curl -sS --max-time 30 --cacert $CA"
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
CURL_RECV = 56
CURL_CERT = 60


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
    network: str = "censored"


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


def _clean() -> list[Check]:
    """Every genuine site answers and no resolver lies."""
    special = {"redirect.http.test", "ipecho.test", "gone.test"}
    checks = [
        Check(f"clean-{site.name}", f"{CURL} {site.url}", 0, _title(site.name), network="clean")
        for site in SITES
        if site.name not in special
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
        Check(f"lossy-{what}", command, 0, output, network="lossy")
        for what, command, output in (
            ("https", f"{CURL_LOSSY} https://www.clean.test/", _title("www.clean.test")),
            ("http", f"{CURL_LOSSY} http://plain.clean.test/", _title("plain.clean.test")),
            ("ipecho", f"{CURL_LOSSY} http://ipecho.test/", "198.18.104.2"),
            ("dns", "dig +time=3 +tries=5 +short nx.dns.test", IP["nx.dns.test"]),
        )
    ]


CHECKS = _censored() + _clean() + _cutoff() + _lossy()


class Outcome(NamedTuple):
    command: str
    rc: int
    output: str


def _run(testbed: Testbed, check: Check) -> Outcome:
    network = testbed.networks[check.network]
    command = string.Template(check.command).substitute(CA=testbed.ca_bundle, ISP=network.resolver)
    result = network.run(shlex.split(command), timeout=60, input=check.stdin)
    return Outcome(command, result.returncode, result.stdout + result.stderr)


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
    """Both DNS (to the ISP) and the TCP handshake take at least the 300 ms round trip."""
    write_out = "%{time_namelookup} %{time_connect}"
    argv = ["curl", "-sS", "--max-time", "30", "-o", "/dev/null", "-w", write_out]
    result = testbed.networks["lossy"].run([*argv, "http://plain.clean.test/"], timeout=60)
    assert result.returncode == 0, result.stderr
    lookup, connect = map(float, result.stdout.split())
    assert lookup >= 0.25, result.stdout
    assert connect - lookup >= 0.25, result.stdout


def _answered(testbed: Testbed, network: str, queries: int) -> int:
    """How many of ``queries`` concurrent single-try DNS queries got an answer."""
    resolver = testbed.networks[network].resolver
    dig = f"dig +short +tries=1 +time=2 @{resolver} www.clean.test"
    script = f"seq {queries} | xargs -P 50 -I_ {dig}"
    result = testbed.networks[network].run(["sh", "-c", script], timeout=60)
    return result.stdout.split().count(IP["www.clean.test"])


def test_lossy_link_drops(testbed: Testbed) -> None:
    """About 10% of single-try DNS exchanges fail (5% loss each way); none on clean."""
    queries = 100
    assert _answered(testbed, "clean", queries) == queries
    # Binomial(100, 0.0975): P(no loss) ~ 3e-5, P(more than 30 lost) is negligible.
    assert 70 <= _answered(testbed, "lossy", queries) < queries


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
