"""The censorship testbed: namespaces, links, ISP interference and the servers behind them.

One :class:`Testbed` brings up an ``internet`` namespace with every emulated website and the
trusted DNS server, and four networks (``censored``, ``clean``, ``cutoff``, ``lossy``), each a
client namespace behind its own ISP router namespace. Nothing is routed to the host's
interfaces: every address is in 198.18.0.0/15 (RFC 2544). See README.md beside this file.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Literal

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "BLOCKPAGE_IP",
    "BULK_BIG",
    "BULK_BLACKHOLED",
    "BULK_OPEN",
    "CHAT_PORT",
    "CONTROL_DNS_IP",
    "DOH_NAME",
    "ECHO_IP",
    "GOOD_DOH_IP",
    "HOSTILE_DNS",
    "HOSTILE_LOCATIONS",
    "HOSTILE_PAGES",
    "HOSTILE_URLS",
    "INTERCEPTION_CA_NAME",
    "LOSSY_DELAY_MS",
    "LOSSY_LOSS",
    "MANY_ADDRESSES_NET",
    "MITM_IP",
    "PROXY_IP",
    "PROXY_PORT",
    "RESIDUAL_LISTS",
    "RESIDUAL_SECONDS",
    "SELF_SIGNED_ORG",
    "SERVFAIL_DNS_IP",
    "SILENT_DNS_IP",
    "SUBSTITUTE_IP",
    "THROTTLED",
    "TLS_FAILURE_IP",
    "UNRELATED_IP",
    "WRONG_CERT_NAME",
    "WRONG_NAME_DOH_IP",
    "Network",
    "Site",
    "Testbed",
    "TestbedError",
    "acquire_lock",
    "remove_leftovers",
]

PREFIX = "npt-"
INET_NS = f"{PREFIX}inet"
CONTROL_DNS_IP = "198.19.0.53"
ECHO_IP = "198.19.0.80"
UNRELATED_IP = "198.19.9.9"
UNRELATED_NAME = "unrelated.test"
# Control resolvers that fail, beside the good one: SERVFAIL to everything, silence, and
# DNS over HTTPS with a certificate for another name (as when DoH is intercepted) or a good
# one. None of these addresses belongs to a site; none of them is in the DNS.
SERVFAIL_DNS_IP = "198.19.0.54"
SILENT_DNS_IP = "198.19.0.55"
WRONG_NAME_DOH_IP = "198.19.0.56"
GOOD_DOH_IP = "198.19.0.57"
DOH_NAME = "doh.control.test"
DOH_PATH = "/dns-query"
# The name on the certificates that do not match: wrong-host.tls.test's and the bad DoH's.
WRONG_CERT_NAME = "other-name.test"
# OpenSSL's default organisation: what a self-signed certificate says when nobody cared.
SELF_SIGNED_ORG = "Internet Widgits Pty Ltd"
SITES_NET = "198.19.0.0/16"
# IPv6: 2001:2::/48 is RFC 5180's benchmarking prefix, 198.18.0.0/15's counterpart. Only
# the sites of V6_SITES have AAAA records, so the IPv4 contract above stays as it is.
SITES_NET6 = "2001:2:0:ff00::/64"
V6_SITES = {"v6.clean.test": "dual", "v6only.clean.test": "only", "v6-drop.tcp.test": "dual"}
# ISP-side servers of the censored network; only that ISP's clients can reach them.
BLOCKPAGE_IP = "198.18.200.1"
SUBSTITUTE_IP = "198.18.200.2"
MITM_IP = "198.18.200.3"
TLS_FAILURE_IP = "198.18.200.4"
ISP_SERVER_IPS = (BLOCKPAGE_IP, SUBSTITUTE_IP, MITM_IP, TLS_FAILURE_IP)
# Bulk names for the benchmark: any ``<label>.<parent>`` resolves into the parent's /24;
# the censored ISP blackholes the second one.
BULK_OPEN, BULK_BLACKHOLED = "open.bulk.test", "blackholed.bulk.test"
BULK_BIG = "big.bulk.test"
"""Served like the open ones, but every page is the 50 MiB body of big.hostile.test."""
BULK_NETS = {
    BULK_OPEN: "198.19.2.0/24",
    BULK_BLACKHOLED: "198.19.3.0/24",
    BULK_BIG: "198.19.4.0/24",
}
CHAT_PORT = 5222
# An HTTP proxy on the internet side: the uncensored control view (--control-proxy).
PROXY_IP, PROXY_PORT = "198.19.0.8", 3128
PROXY_CONNECT_TIMEOUT = 2.0
TRUSTED_CA_NAME = "Testbed Root CA"
INTERCEPTION_CA_NAME = "Testbed Interception CA"
DNS_TTL = 300
# The lossy network's access link (linkemu.py), each way; Testbed.lossy_link changes it.
LOSSY_DELAY_MS = 200
LOSSY_LOSS = 0.12
_LOSSY_LINK = (float(LOSSY_DELAY_MS), LOSSY_LOSS, 0.0)  # (delay_ms, loss, rate_kbit)
# Residual censorship: once a client sent the name, its packets to the site's address are
# dropped or reset for this long (``iptables -m recent``, one list per site).
RESIDUAL_SECONDS = 60
READY_TIMEOUT = 10.0
LOCK_WAIT = 600.0

# Interface names are the same in every network: (client side, ISP side) of the access link
# and (ISP side, internet side) of the uplink; the internet side gets the network's name.
CLIENT_IF, ISP_CLIENT_IF, ISP_UPLINK_IF = "c-isp", "isp-c", "isp-inet"

STATE_DIR = Path(tempfile.gettempdir()) / f"{PREFIX}testbed"
# Outside STATE_DIR: that is deleted on teardown while a waiting testbed may hold the lock.
LOCK_PATH = Path(tempfile.gettempdir()) / f"{PREFIX}testbed.lock"
NETNS_ETC = Path("/etc/netns")
_HERE = Path(__file__).resolve().parent

Scheme = Literal["http", "https"]


class TestbedError(RuntimeError):
    """The testbed could not be brought up."""

    __test__ = False  # not a test class, whatever pytest thinks of the name


@dataclass(frozen=True, slots=True)
class Site:
    """One emulated website and what the censored ISP does to it.

    ``dns`` is the censored resolver's lie (``nxdomain``, ``servfail``, ``refused``, ``drop``
    or ``a:<address>``); ``block`` the censored ISP's packet rule (see ``_censor_rules``).
    """

    name: str
    """As in the contract table; Unicode for the IDN site."""
    scheme: Scheme
    """The scheme the tests use; every site also answers the other one."""
    ip: str | None
    """None for the one name that exists nowhere (and for IPv6-only sites)."""
    dns: str | None = None
    block: str | None = None
    ip6: str | None = None
    """For the sites of ``V6_SITES``: their AAAA record."""

    @property
    def host(self) -> str:
        """ASCII (punycode) form of the name, as in DNS, SNI and Host."""
        return self.name.encode("idna").decode("ascii")

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.name}/"


GHOSTS = ("ghost-blockpage.test", "ghost-wrong.test", "ghost-bogon.test")
# Hostile web servers: name -> (scheme the tests use, page kind in servers.py). Nothing is
# censored there: whatever a probe sees is the server's own doing, in every network.
HOSTILE_PAGES: dict[str, tuple[Scheme, str]] = {
    "controls.hostile.test": ("https", "controls"),
    "pathological.hostile.test": ("https", "pathological"),
    "slow-headers.hostile.test": ("https", "slow-headers"),
    "gzip-bomb.hostile.test": ("https", "gzip-bomb"),
    "many-headers.hostile.test": ("https", "many-headers"),
    "noise.hostile.test": ("https", "noise"),
    "loc-bracket.hostile.test": ("http", "redirect"),
    "loc-space.hostile.test": ("http", "redirect"),
    "loc-nul.hostile.test": ("http", "redirect"),
    "loc-long.hostile.test": ("http", "redirect"),
    "loc-javascript.hostile.test": ("http", "redirect"),
    "loc-dotdot.hostile.test": ("http", "redirect"),
    "loc-escape.hostile.test": ("http", "redirect"),
    "truncated.hostile.test": ("https", "truncated"),
    "chunked-forever.hostile.test": ("https", "chunked-forever"),
    "stalled-body.hostile.test": ("https", "stalled-body"),
    "charset.hostile.test": ("https", "charset"),
    "bad-gzip.hostile.test": ("https", "bad-gzip"),
    "bad-chunk.hostile.test": ("http", "bad-chunk"),
    "many-addresses.hostile.test": ("https", "site"),
}
# Broken Location headers, each sent by its own site for "/" (other paths: the page).
LONG_LOCATION = "http://loc-long.hostile.test/" + "a" * 10_240
HOSTILE_LOCATIONS = {
    "loc-bracket.hostile.test": "http://[::1",
    "loc-space.hostile.test": "http://exa mple/",
    "loc-nul.hostile.test": "\x00",
    "loc-long.hostile.test": LONG_LOCATION,
    "loc-javascript.hostile.test": "javascript:alert(1)",
    "loc-dotdot.hostile.test": "../../../../etc/passwd",
    "loc-escape.hostile.test": "http://\u202eevil.test\x1b]0;pwned\x07/\x1b[2J",
}
# Throttled sites: policed by the censored ISP (iptables hashlimit), not blocked, and only
# there. Name -> the rate, bytes per second each way, a policed connection is held to. Each
# serves a 2 MiB download (random bytes) for any Host and SNI, so a client can time it.
THROTTLED = {
    # Connections whose TLS ClientHello names it (:443, any address) get 128 kbit/s: Russia's
    # 2021 throttling of Twitter. Another SNI to the same address is fast.
    "throttle-sni.test": 16 * 1024,
    # Connections whose HTTP request says "Host: throttle-host.test" (:80) get 1 Mbit/s.
    "throttle-host.test": 125 * 1024,
    # Everything to and from its address gets 128 kbit/s whatever the name: a slow path, the
    # same for every name, which is not name-targeted throttling.
    "throttle-ip.test": 16 * 1024,
}
# Where many-addresses.hostile.test resolves: every host of this block (1,022 A records, one
# 16 KB UDP reply whatever the EDNS size). AnyIP-local: each serves the site by SNI/Host.
MANY_ADDRESSES_NET = "198.19.16.0/22"
# Names the control (authoritative) server answers with garbage, for every query type; the
# ISP resolvers relay its replies to them byte for byte (a dumb forwarder), so the system
# resolver sees the same garbage. Specs are read by servers.Authoritative.
HOSTILE_DNS = {
    "cname-loop.hostile.test": "cname:cname-loop-b.hostile.test",
    "cname-loop-b.hostile.test": "cname:cname-loop.hostile.test",
    "pointer-loop.hostile.test": "pointer-loop",
    "garbage.hostile.test": "garbage",
    "truncated-reply.hostile.test": f"truncated:{UNRELATED_IP}",
    "wrong-id.hostile.test": f"wrong-id:{UNRELATED_IP}",
    "wrong-question.hostile.test": "wrong-question:www.clean.test",
    "many-addresses.hostile.test": f"many:{MANY_ADDRESSES_NET}",
}


def _build_sites() -> tuple[Site, ...]:
    table: tuple[tuple[str, Scheme, str | None, str | None], ...] = (
        ("www.clean.test", "https", None, None),
        ("plain.clean.test", "http", None, None),
        ("www.пример.test", "https", None, None),
        ("nx.dns.test", "https", "nxdomain", None),
        ("bogon.dns.test", "https", "a:127.0.0.1", None),
        ("zero.dns.test", "https", "a:0.0.0.0", None),
        ("blockpage.dns.test", "https", f"a:{BLOCKPAGE_IP}", None),
        ("wrong.dns.test", "https", f"a:{UNRELATED_IP}", None),
        ("timeout.dns.test", "https", "drop", None),
        ("servfail.dns.test", "https", "servfail", None),
        ("refused.dns.test", "https", "refused", None),
        ("blackhole.tcp.test", "https", None, "ip-drop"),
        ("refused.tcp.test", "https", None, "syn-reset"),
        ("reset.tcp.test", "https", None, "payload-reset"),
        ("sni-reset.tls.test", "https", None, "sni-reset"),
        ("sni-drop.tls.test", "https", None, "sni-drop"),
        ("www.mitm-one.test", "https", None, "mitm"),
        ("www.mitm-two.test", "https", None, "mitm"),
        ("handshake.tls.test", "https", None, "tls-failure"),
        ("host-reset.http.test", "http", None, "host-reset"),
        ("host-drop.http.test", "http", None, "host-drop"),
        ("blockpage.http.test", "http", None, "blockpage"),
        ("diff.http.test", "http", None, "substitute"),
        ("redirect.http.test", "http", None, None),
        ("big.hostile.test", "https", None, None),
        ("trickle.hostile.test", "https", None, None),
        ("escape.hostile.test", "https", None, None),
        ("gone.test", "https", None, None),
        ("ipecho.test", "http", None, None),
        # Messaging-app endpoints: data centres reached by address, chat hosts on 443 and
        # 5222, edge hosts that must resolve into the app's own network, TLS-only hosts.
        ("down.tcp.test", "http", None, "down-everywhere"),
        ("dc1.tg.test", "https", None, "ip-drop"),
        ("dc2.tg.test", "https", None, "ip-drop"),
        ("e1.chat.test", "https", None, "syn-reset-any"),
        ("e2.chat.test", "https", None, None),
        ("edge.msgr.test", "https", f"a:{UNRELATED_IP}", None),
        ("api.msgr.test", "https", f"a:{UNRELATED_IP}", None),
        ("chat.sig.test", "https", None, None),
        ("storage.sig.test", "https", None, None),
        # A forged UDP answer racing the resolver's true one (injection).
        ("inject.dns.test", "https", f"inject:{UNRELATED_IP}", None),
        # IPv6: dual-stack, IPv6 only, dual-stack with its IPv6 address dropped.
        ("v6.clean.test", "https", None, None),
        ("v6only.clean.test", "https", None, None),
        ("v6-drop.tcp.test", "https", None, "v6-drop"),
        # Redirects (see _REDIRECTS) into censored sites, to a clean one, 15 hops, a loop.
        ("to-nx.redirect.test", "https", None, None),
        ("to-sni.redirect.test", "https", None, None),
        ("to-refused.redirect.test", "https", None, None),
        ("to-https.redirect.test", "http", None, None),
        ("scheme-rel.redirect.test", "http", None, None),
        ("relative.redirect.test", "http", None, None),
        ("to-clean.redirect.test", "https", None, None),
        ("many.redirect.test", "https", None, None),
        ("loop.redirect.test", "https", None, None),
        # Broken certificates (see _CERTS): not censorship, broken everywhere.
        ("expired.tls.test", "https", None, None),
        ("not-yet.tls.test", "https", None, None),
        ("wrong-host.tls.test", "https", None, None),
        ("www.selfsigned-one.test", "https", None, None),
        ("www.selfsigned-two.test", "https", None, None),
        # Ghost domains: NXDOMAIN at the control server, answered by the censored resolver.
        ("ghost-blockpage.test", "https", f"a:{BLOCKPAGE_IP}", None),
        ("ghost-wrong.test", "https", f"a:{UNRELATED_IP}", None),
        ("ghost-bogon.test", "https", "a:127.0.0.1", None),
        # Residual censorship: the name, then the site's address for RESIDUAL_SECONDS.
        ("residual-drop.tls.test", "https", None, "residual-drop"),
        ("residual-reset.tls.test", "https", None, "residual-reset"),
        # Hostile servers (see HOSTILE_PAGES and HOSTILE_DNS): broken or malicious, never
        # censored, the same in every network. Appended, so the numbers above stay.
        *((name, scheme, None, None) for name, (scheme, _) in HOSTILE_PAGES.items()),
        # Throttling (see THROTTLED): slow, not blocked. After the hostile ones, as they are.
        ("throttle-sni.test", "https", None, "throttle-sni"),
        ("throttle-host.test", "http", None, "throttle-host"),
        ("throttle-ip.test", "https", None, "throttle-ip"),
        # A mirror of citizenlab/test-lists (see servers.TEST_LISTS), for `lists update`.
        ("lists.mirror.test", "http", None, None),
    )
    fixed_ips: dict[str, str | None] = {"gone.test": None, "ipecho.test": ECHO_IP}
    fixed_ips |= {name: None for name in GHOSTS}
    fixed_ips |= {name: None for name, stacks in V6_SITES.items() if stacks == "only"}
    return tuple(
        Site(
            name,
            scheme,
            fixed_ips.get(name, f"198.19.1.{number}"),
            dns,
            block,
            f"2001:2:0:ff00::{number:x}" if name in V6_SITES else None,
        )
        for number, (name, scheme, dns, block) in enumerate(table, start=1)
    )


SITES = _build_sites()
# Every hostile server's URL, for a run over all of them: the hostile sites (the older
# big, trickle and escape ones too), the http twins of those whose two schemes differ, and
# the names whose DNS replies are garbage.
HOSTILE_URLS = (
    *(site.url for site in SITES if site.name.endswith(".hostile.test")),
    "http://noise.hostile.test/",
    "http://controls.hostile.test/",
    *(f"https://{name}/" for name in HOSTILE_DNS if name not in {s.name for s in SITES}),
)
# The recent list (/proc/net/xt_recent/<list>) of each residual-censorship site.
RESIDUAL_LISTS = {
    site.name: site.host.split(".")[0]
    for site in SITES
    if site.block in ("residual-drop", "residual-reset")
}
# The conntrack mark (CONNMARK) of each throttled site's policed connections.
THROTTLE_MARKS = {name: 0x10 + number for number, name in enumerate(THROTTLED)}
# The redirecting sites: path (``*``: any path) -> (status, Location). Paths not listed
# serve the ordinary page (many.redirect.test's /redirect/15, the 15th hop, for one).
_REDIRECTS: dict[str, dict[str, tuple[int, str]]] = {
    "redirect.http.test": {"*": (301, "http://host-reset.http.test/")},
    "to-nx.redirect.test": {"*": (308, "https://nx.dns.test/")},
    "to-sni.redirect.test": {"*": (302, "https://sni-reset.tls.test/")},
    "to-refused.redirect.test": {"*": (301, "https://refused.tcp.test/")},
    "to-https.redirect.test": {"*": (301, "https://sni-reset.tls.test/")},
    "scheme-rel.redirect.test": {"*": (303, "//host-reset.http.test/")},
    "relative.redirect.test": {"/": (302, "/next"), "/next": (307, "http://blockpage.http.test/")},
    "to-clean.redirect.test": {"*": (301, "https://www.clean.test/")},
    "many.redirect.test": {
        "/": (302, "/redirect/1"),
        **{f"/redirect/{hop}": (302, f"/redirect/{hop + 1}") for hop in range(1, 15)},
    },
    "loop.redirect.test": {"/": (302, "/a"), "/a": (302, "/b"), "/b": (302, "/a")},
    **{name: {"/": (302, location)} for name, location in HOSTILE_LOCATIONS.items()},
}
# Sites whose certificate does not verify (the rest: a good one from the trusted CA).
_CERTS = {
    "expired.tls.test": "expired",
    "not-yet.tls.test": "not-yet",
    "wrong-host.tls.test": "wrong-host",
    "www.selfsigned-one.test": "self-signed",
    "www.selfsigned-two.test": "self-signed",
}
# What each site's own server sends; the rest serve an ordinary page titled with their name.
_PAGES = {
    **{name: "redirect" for name in _REDIRECTS},
    "big.hostile.test": "big",
    "trickle.hostile.test": "trickle",
    "escape.hostile.test": "escape",
    "ipecho.test": "echo",
    **{name: "download" for name in THROTTLED},
    "lists.mirror.test": "testlists",
    **{name: page for name, (_, page) in HOSTILE_PAGES.items() if page != "site"},
}
_DNAT = {
    "mitm": (443, MITM_IP),
    "tls-failure": (443, TLS_FAILURE_IP),
    "blockpage": (80, BLOCKPAGE_IP),
    "substitute": (80, SUBSTITUTE_IP),
}


def _v6(subnet: int, host: int) -> str:
    """The address ``host`` in the testbed's IPv6 subnet ``subnet`` (decimal, as in IPv4)."""
    return f"2001:2:0:{subnet}::{host:x}" if host else f"2001:2:0:{subnet}::"


def _match_host(site: Site) -> str:
    """The iptables match of an HTTP request for ``site``: its Host header, in any case."""
    return f'-m string --string "Host: {site.host}" --algo bm --icase'


def _censor_rules(site: Site) -> tuple[list[str], str | None]:
    """The censored ISP's (filter FORWARD rules, nat PREROUTING rule) for ``site``."""
    to_site = f"-i {ISP_CLIENT_IF} -d {site.ip} -p tcp"
    reset = "-j REJECT --reject-with tcp-reset"
    match_sni = f'-m string --string "{site.host}" --algo bm'
    match site.block:
        case None:
            return [], None
        case "down-everywhere" | "v6-drop":
            return [], None  # see _configure_internet and _isp_rules6
        case "ip-drop":
            return [f"-A FORWARD -i {ISP_CLIENT_IF} -d {site.ip} -j DROP"], None
        case "syn-reset":
            return [f"-A FORWARD {to_site} --dport 443 --syn {reset}"], None
        case "syn-reset-any":
            return [f"-A FORWARD {to_site} --syn {reset}"], None
        case "payload-reset":
            # Linux sets PSH on the last segment of every write, so whatever its SNI, the
            # ClientHello is hit; the handshake (no payload) is not.
            return [f"-A FORWARD {to_site} --dport 443 --tcp-flags PSH PSH {reset}"], None
        case "sni-reset" | "sni-drop":
            # By name on any address, so a retry to the same address with another SNI passes.
            action = reset if site.block == "sni-reset" else "-j DROP"
            return [f"-A FORWARD -i {ISP_CLIENT_IF} -p tcp --dport 443 {match_sni} {action}"], None
        case "residual-drop" | "residual-reset":
            # The name (to :443, any address) is reset and puts the client's address on the
            # site's list; while it is there, its packets to the site's address (any port,
            # SYNs too) are dropped, or, for TCP, reset. The window counts from the trigger.
            recent = f"-m recent --name {RESIDUAL_LISTS[site.name]} --rsource"
            window = f"{recent} --rcheck --seconds {RESIDUAL_SECONDS}"
            punish = (
                f"-A FORWARD -i {ISP_CLIENT_IF} -d {site.ip} {window} -j DROP"
                if site.block == "residual-drop"
                else f"-A FORWARD {to_site} {window} {reset}"
            )
            trigger = f"-A FORWARD -i {ISP_CLIENT_IF} -p tcp --dport 443 {match_sni}"
            return [punish, f"{trigger} {recent} --set {reset}"], None
        case "host-reset" | "host-drop":
            action = reset if site.block == "host-reset" else "-j DROP"
            match_host = _match_host(site)
            return [f"-A FORWARD -i {ISP_CLIENT_IF} -p tcp --dport 80 {match_host} {action}"], None
        case "throttle-sni" | "throttle-host" | "throttle-ip":
            # A trigger marks the connection in conntrack; the policer then drops whatever
            # packets of marked connections exceed the rate, the replies too (the mark is the
            # connection's). One token bucket per direction of each connection (the 4-tuple).
            # In byte mode a bucket holds a second of the rate and --hashlimit-burst (at least
            # that second) counts the refills it gets once when it runs dry: the smallest
            # allowed burst lets about two seconds' worth through at the start.
            mark = f"0x{THROTTLE_MARKS[site.name]:x}"
            trigger = {
                "throttle-sni": f"-p tcp --dport 443 {match_sni}",
                "throttle-host": f"-p tcp --dport 80 {_match_host(site)}",
                "throttle-ip": f"-d {site.ip}",
            }[site.block]
            rate = THROTTLED[site.name]
            police = (
                f"-m hashlimit --hashlimit-above {rate}b/s --hashlimit-burst {rate}b"
                " --hashlimit-mode srcip,srcport,dstip,dstport"
                f" --hashlimit-name {site.host.split('.')[0]}"
            )
            return [
                f"-A FORWARD -i {ISP_CLIENT_IF} {trigger} -j CONNMARK --set-mark {mark}",
                f"-A FORWARD -m connmark --mark {mark} {police} -j DROP",
            ], None
        case block if block in _DNAT:
            port, target = _DNAT[block]
            return [], f"-A PREROUTING {to_site} --dport {port} -j DNAT --to {target}:{port}"
    raise ValueError(f"unknown packet rule {site.block!r} for {site.name}")


def _self_signed(name: str) -> bytes:
    """Key and self-signed certificate (PEM) for ``name``, as ``openssl req -x509`` makes
    them when every question is answered with Enter: subject = issuer = OpenSSL's default
    organisation, CA:TRUE. A fresh key each time, so two of them share only the names."""
    key = ec.generate_private_key(ec.SECP256R1())
    dn = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, SELF_SIGNED_ORG)])
    now = datetime.now(UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(dn)
        .issuer_name(dn)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class Network:
    """A client namespace behind its ISP router namespace."""

    name: str
    index: int
    client_ns: str
    isp_ns: str
    client_ip: str
    resolver: str
    """The ISP's resolver (and the client's gateway); the client's system resolver."""
    isp_public_ip: str
    """The ISP's internet-side address: what servers see as the client's address (NAT)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the client namespace; ``env`` adds to the current environment.

        Raises :class:`subprocess.TimeoutExpired` (after killing it) past ``timeout``.
        """
        return subprocess.run(
            ["ip", "netns", "exec", self.client_ns, *argv],
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
            check=False,
        )


def _build_network(name: str, index: int) -> Network:
    return Network(
        name=name,
        index=index,
        client_ns=f"{PREFIX}{name}-c",
        isp_ns=f"{PREFIX}{name}-isp",
        client_ip=f"198.18.{index}.2",
        resolver=f"198.18.{index}.1",
        isp_public_ip=f"198.18.{100 + index}.2",
    )


NETWORKS = tuple(
    _build_network(name, index)
    for index, name in enumerate(("censored", "clean", "cutoff", "lossy"), start=1)
)


def _run(argv: Sequence[str], *, input: str | None = None) -> str:
    result = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise TestbedError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


def _ip_batch(commands: Sequence[str], netns: str | None = None) -> None:
    """Run many ``ip`` commands in one process (one per namespace keeps start-up fast)."""
    _run(["ip", *(["-n", netns] if netns else []), "-batch", "-"], input="\n".join(commands))


def _netns_exec(netns: str, argv: Sequence[str], *, input: str | None = None) -> str:
    return _run(["ip", "netns", "exec", netns, *argv], input=input)


def acquire_lock(wait: float) -> IO[str]:
    """Take the machine-wide testbed lock, waiting up to ``wait`` s; closing it releases it."""
    lock = LOCK_PATH.open("a+")
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock.close()
                raise TestbedError(f"another testbed is up (it holds {LOCK_PATH})") from None
            time.sleep(0.5)


def remove_leftovers() -> None:
    """Remove every testbed namespace, its processes, its /etc/netns files and state dir.

    Only call it while holding the testbed lock (``Testbed.up`` does): then whatever has the
    prefix is left over from a run that died.
    """
    listed = _run(["ip", "netns", "list"]).split()
    namespaces = [name for name in listed if name.startswith(PREFIX)]
    for netns in namespaces:
        # A process keeps its namespace alive after ``ip netns del``: end them first.
        for pid in _run(["ip", "netns", "pids", netns]).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    if namespaces:
        _run(["ip", "-force", "-batch", "-"], input="\n".join(f"netns del {n}" for n in namespaces))
    if NETNS_ETC.is_dir():
        for path in NETNS_ETC.glob(f"{PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            NETNS_ETC.rmdir()  # only goes if empty, i.e. nobody else uses it
    shutil.rmtree(STATE_DIR, ignore_errors=True)


@dataclass(slots=True)
class _Process:
    name: str
    popen: subprocess.Popen[str]
    log: Path


class Testbed:
    """The whole testbed. ``up()`` and ``down()`` are idempotent; also a context manager.

    Only one testbed runs on a machine at a time: ``up()`` waits for another one to go down.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    control_resolver = f"udp://{CONTROL_DNS_IP}:53"
    control_proxy = f"http://{PROXY_IP}:{PROXY_PORT}"
    control_dns_ip = CONTROL_DNS_IP
    echo_ip = ECHO_IP
    unrelated_ip = UNRELATED_IP
    blockpage_ip = BLOCKPAGE_IP
    substitute_ip = SUBSTITUTE_IP
    mitm_ip = MITM_IP
    tls_failure_ip = TLS_FAILURE_IP
    interception_ca_name = INTERCEPTION_CA_NAME
    # Control resolvers that fail: SERVFAIL to everything; silence (UDP and TCP); DNS over
    # HTTPS whose certificate names WRONG_CERT_NAME; and a good DNS-over-HTTPS server. The
    # fragment is the DoH server's address (doh.control.test is in no DNS).
    servfail_resolver = f"udp://{SERVFAIL_DNS_IP}:53"
    silent_resolver = f"udp://{SILENT_DNS_IP}:53"
    wrong_name_doh = f"https://{DOH_NAME}{DOH_PATH}#{WRONG_NAME_DOH_IP}"
    good_doh = f"https://{DOH_NAME}{DOH_PATH}#{GOOD_DOH_IP}"
    residual_lists = RESIDUAL_LISTS
    residual_seconds = RESIDUAL_SECONDS
    hostile_urls = HOSTILE_URLS
    throttled = THROTTLED

    def __init__(self) -> None:
        self.networks: dict[str, Network] = {network.name: network for network in NETWORKS}
        self.sites: dict[str, Site] = {site.name: site for site in SITES}
        self.ca_bundle: Path = STATE_DIR / "ca.pem"
        """PEM of the test CA that signed every genuine site's certificate."""
        self.up_seconds: float | None = None
        self.down_seconds: float | None = None
        self._active = False
        self._lock: IO[str] | None = None
        self._processes: list[_Process] = []
        self._previous_sigterm: Any = None
        self._linkemu: _Process | None = None
        self._link_settings = _LOSSY_LINK
        self._link_lock = threading.Lock()

    def __enter__(self) -> Testbed:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.down()

    # ------------------------------------------------------------------ up

    def up(self) -> None:
        if self._active:
            return
        self._lock = acquire_lock(LOCK_WAIT)
        started = time.monotonic()
        self._active = True
        self._install_safety_net()
        try:
            remove_leftovers()
            STATE_DIR.mkdir(mode=0o700)
            self._create_namespaces()
            lossy = self.networks["lossy"]
            self._link_settings = _LOSSY_LINK
            self._linkemu = link = self._start(
                lossy.isp_ns,
                "linkemu",
                [
                    str(_HERE / "linkemu.py"),
                    ISP_CLIENT_IF,
                    CLIENT_IF,
                    f"--delay-ms={LOSSY_DELAY_MS}",
                    f"--loss={LOSSY_LOSS}",
                ],
            )
            self._configure_internet()
            for network in NETWORKS:
                if network.name != "lossy":
                    self._configure_network(network)
            self._wait_ready([link])
            _ip_batch([f"link set {CLIENT_IF} netns {lossy.client_ns}"], lossy.isp_ns)
            self._configure_network(lossy)
            self._wait_ready(self._start_servers())
        except BaseException:
            self.down()
            raise
        self.up_seconds = time.monotonic() - started

    def _install_safety_net(self) -> None:
        atexit.register(self.down)
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.down()
        os.kill(os.getpid(), signum)  # the default action again, now that it is restored

    def _create_namespaces(self) -> None:
        namespaces = [INET_NS] + [ns for n in NETWORKS for ns in (n.isp_ns, n.client_ns)]
        _ip_batch([f"netns add {ns}" for ns in namespaces])
        links = []
        for network in NETWORKS:
            links.append(
                f"link add {ISP_UPLINK_IF} netns {network.isp_ns} type veth"
                f" peer name {network.name} netns {INET_NS}"
            )
            if network.name != "lossy":  # its access link is the link emulator's TUN pair
                links.append(
                    f"link add {CLIENT_IF} netns {network.client_ns} type veth"
                    f" peer name {ISP_CLIENT_IF} netns {network.isp_ns}"
                )
        _ip_batch(links)

    def _configure_internet(self) -> None:
        commands = ["link set lo up"]
        for network in NETWORKS:
            commands += [
                f"addr add 198.18.{100 + network.index}.1/30 dev {network.name}",
                f"link set {network.name} up",
            ]
        # AnyIP: every address of the sites' range is local, so each site can have its own
        # address while its server listens on 0.0.0.0.
        commands.append(f"route add local {SITES_NET} dev lo")
        for network in NETWORKS:
            commands += [
                f"addr add {_v6(100 + network.index, 1)}/64 dev {network.name} nodad",
                f"route add {_v6(network.index, 0)}/64 via {_v6(100 + network.index, 2)}",
            ]
        commands.append(f"route add local {SITES_NET6} dev lo")
        _ip_batch(commands, INET_NS)
        # A site that is down for everyone: its server drops every packet, whoever asks.
        down = [f"-A INPUT -d {s.ip} -j DROP" for s in SITES if s.block == "down-everywhere"]
        # The silent control resolver: nothing to its address ever gets an answer.
        down.append(f"-A INPUT -d {SILENT_DNS_IP} -j DROP")
        rules = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
                 ":OUTPUT ACCEPT [0:0]", *down, "COMMIT", ""]  # fmt: skip
        _netns_exec(INET_NS, ["iptables-restore"], input="\n".join(rules))

    def _configure_network(self, network: Network) -> None:
        uplink = f"198.18.{100 + network.index}"
        isp = [
            "link set lo up",
            f"addr add {network.resolver}/24 dev {ISP_CLIENT_IF}",
            f"link set {ISP_CLIENT_IF} up",
            f"addr add {uplink}.2/30 dev {ISP_UPLINK_IF}",
            f"link set {ISP_UPLINK_IF} up",
            f"route add default via {uplink}.1",
        ]
        # nodad: an address is usable at once, not after duplicate detection's second.
        isp += [
            f"addr add {_v6(network.index, 1)}/64 dev {ISP_CLIENT_IF} nodad",
            f"addr add {_v6(100 + network.index, 2)}/64 dev {ISP_UPLINK_IF} nodad",
            f"route add default via {_v6(100 + network.index, 1)}",
        ]
        if network.name == "censored":
            isp += [f"addr add {ip}/32 dev lo" for ip in ISP_SERVER_IPS]
        _ip_batch(isp, network.isp_ns)
        _ip_batch(
            [
                "link set lo up",
                f"addr add {network.client_ip}/24 dev {CLIENT_IF}",
                f"addr add {_v6(network.index, 2)}/64 dev {CLIENT_IF} nodad",
                f"link set {CLIENT_IF} up",
                f"route add default via {network.resolver}",
                f"route add default via {_v6(network.index, 1)}",
            ],
            network.client_ns,
        )
        # /proc/sys/net shows the namespace of whoever opens it (tee: no procps needed).
        _netns_exec(network.isp_ns, ["tee", "/proc/sys/net/ipv4/ip_forward"], input="1\n")
        forwarding = "/proc/sys/net/ipv6/conf/all/forwarding"
        _netns_exec(network.isp_ns, ["tee", forwarding], input="1\n")
        _netns_exec(network.isp_ns, ["iptables-restore"], input=self._isp_rules(network))
        _netns_exec(network.isp_ns, ["ip6tables-restore"], input=self._isp_rules6(network))
        etc = NETNS_ETC / network.client_ns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {network.resolver}\n")

    @staticmethod
    def _isp_rules6(network: Network) -> str:
        """IPv6 filtering: the censored ISP drops one site's IPv6 address only."""
        forward = [
            f"-A FORWARD -i {ISP_CLIENT_IF} -d {site.ip6} -j DROP"
            for site in SITES
            if network.name == "censored" and site.block == "v6-drop"
        ]
        policy = "DROP" if network.name == "cutoff" else "ACCEPT"
        return "\n".join(
            ["*filter", ":INPUT ACCEPT [0:0]", f":FORWARD {policy} [0:0]",
             ":OUTPUT ACCEPT [0:0]", *forward, "COMMIT", ""]
        )  # fmt: skip

    def _isp_rules(self, network: Network) -> str:
        forward, prerouting, input_ = [], [], []
        if network.name == "censored":
            blackholed = BULK_NETS[BULK_BLACKHOLED]
            forward.append(f"-A FORWARD -i {ISP_CLIENT_IF} -d {blackholed} -j DROP")
            for site in SITES:
                filter_rules, nat_rule = _censor_rules(site)
                forward += filter_rules
                prerouting += [nat_rule] if nat_rule else []
        if network.name == "cutoff":
            input_ = [f"-A INPUT -p {proto} --dport 53 -j DROP" for proto in ("udp", "tcp")]
        policy = "DROP" if network.name == "cutoff" else "ACCEPT"
        return "\n".join(
            [
                "*filter",
                ":INPUT ACCEPT [0:0]",
                f":FORWARD {policy} [0:0]",
                ":OUTPUT ACCEPT [0:0]",
                *input_,
                *forward,
                "COMMIT",
                "*nat",
                ":PREROUTING ACCEPT [0:0]",
                ":INPUT ACCEPT [0:0]",
                ":OUTPUT ACCEPT [0:0]",
                ":POSTROUTING ACCEPT [0:0]",
                *prerouting,
                f"-A POSTROUTING -o {ISP_UPLINK_IF} -j MASQUERADE",
                "COMMIT",
                "",
            ]
        )

    def _start_servers(self) -> list[_Process]:
        processes = [self._start_server(INET_NS, self._internet_config())]
        # The cut-off ISP's resolver is silent and it forwards nothing: it needs no server.
        processes += [
            self._start_server(network.isp_ns, self._isp_config(network))
            for network in NETWORKS
            if network.name != "cutoff"
        ]
        return processes

    def _internet_config(self) -> dict[str, Any]:
        ca = trustme.CA(organization_name=TRUSTED_CA_NAME)
        ca.cert_pem.write_to_path(str(self.ca_bundle))

        def issue(name: str, *, file: str | None = None, **validity: datetime) -> str:
            pem = STATE_DIR / f"{(file or name).replace('*', '_')}.pem"
            leaf = ca.issue_cert(name, common_name=name, **validity)
            leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
            return str(pem)

        now = datetime.now(UTC)

        def certificate(name: str) -> str:
            match _CERTS.get(name):
                case None:
                    return issue(name)
                case "expired":
                    since, until = now - timedelta(days=60), now - timedelta(days=30)
                    return issue(name, not_before=since, not_after=until)
                case "not-yet":
                    since, until = now + timedelta(days=30), now + timedelta(days=395)
                    return issue(name, not_before=since, not_after=until)
                case "wrong-host":
                    return issue(WRONG_CERT_NAME, file=name)
                case "self-signed":
                    pem = STATE_DIR / f"{name}.pem"
                    pem.write_bytes(_self_signed(name))
                    return str(pem)
            raise ValueError(f"unknown certificate {_CERTS[name]!r} for {name}")

        vhosts = [
            (site.host, site.ip, site.ip6, _PAGES.get(site.name, "site"))
            for site in SITES
            if site.ip or site.ip6
        ]
        vhosts.append((UNRELATED_NAME, UNRELATED_IP, None, "site"))
        return {
            "authoritative": {
                "ip": CONTROL_DNS_IP,
                "zone": "test.",
                "ttl": DNS_TTL,
                "records": {name: ip for name, ip, _, _ in vhosts if ip},
                "records6": {name: ip6 for name, _, ip6, _ in vhosts if ip6},
                "bulk": BULK_NETS,
                "hostile": HOSTILE_DNS,
            },
            "bulk_vhosts": [
                {
                    "net": net,
                    "pem": issue(f"*.{parent}"),
                    "page": "big" if parent == BULK_BIG else "site",
                }
                for parent, net in BULK_NETS.items()
            ],
            "vhosts": [
                {
                    "name": name,
                    "ips": [a for a in (ip, ip6) if a],
                    "page": page,
                    "pem": certificate(name),
                    "redirects": _REDIRECTS.get(name, {}),
                }
                for name, ip, ip6, page in vhosts
            ],
            "default_pem": issue("default.test"),
            "servfail_dns": [SERVFAIL_DNS_IP],
            "doh": {
                "name": DOH_NAME,
                "path": DOH_PATH,
                "servers": [
                    {"ip": WRONG_NAME_DOH_IP, "pem": issue(WRONG_CERT_NAME)},
                    {"ip": GOOD_DOH_IP, "pem": issue(DOH_NAME)},
                ],
            },
            "proxy": {
                "ip": PROXY_IP,
                "port": PROXY_PORT,
                "dns": CONTROL_DNS_IP,
                "connect_timeout": PROXY_CONNECT_TIMEOUT,
            },
            "listeners": [
                {"ip": "0.0.0.0", "port": 80, "tls": "none", "page": "vhosts"},
                {"ip": "0.0.0.0", "port": 443, "tls": "vhosts", "page": "vhosts"},
                {"ip": "::", "port": 80, "tls": "none", "page": "vhosts"},
                {"ip": "::", "port": 443, "tls": "vhosts", "page": "vhosts"},
                # A chat port, as WhatsApp's: only connecting to it is checked.
                {"ip": "0.0.0.0", "port": CHAT_PORT, "tls": "none", "page": "vhosts"},
            ],
        }

    @staticmethod
    def _isp_config(network: Network) -> dict[str, Any]:
        resolver = {
            "ip": network.resolver,
            "upstream": CONTROL_DNS_IP,
            "ttl": DNS_TTL,
            "relay": list(HOSTILE_DNS),
        }
        if network.name != "censored":
            return {"resolver": {**resolver, "lies": {}}}
        ca = trustme.CA(organization_name=INTERCEPTION_CA_NAME)
        cert, key = STATE_DIR / "interception-ca.pem", STATE_DIR / "interception-ca.key"
        ca.cert_pem.write_to_path(str(cert))
        ca.private_key_pem.write_to_path(str(key))
        return {
            "resolver": {**resolver, "lies": {site.host: site.dns for site in SITES if site.dns}},
            "mitm_ca": {"cert": str(cert), "key": str(key)},
            "listeners": [
                {"ip": BLOCKPAGE_IP, "port": 80, "tls": "none", "page": "blockpage"},
                {"ip": SUBSTITUTE_IP, "port": 80, "tls": "none", "page": "substitute"},
                {"ip": MITM_IP, "port": 443, "tls": "mitm", "page": "mirror"},
                {"ip": TLS_FAILURE_IP, "port": 443, "tls": "abort", "page": "none"},
            ],
        }

    def _start_server(self, netns: str, config: dict[str, Any]) -> _Process:
        path = STATE_DIR / f"{netns}.json"
        path.write_text(json.dumps(config, indent=1))
        return self._start(netns, "servers", [str(_HERE / "servers.py"), f"--config={path}"])

    def _start(self, netns: str, what: str, argv: list[str]) -> _Process:
        log = STATE_DIR / f"{netns}-{what}.log"
        with log.open("w") as stderr:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", netns, sys.executable, *argv],
                stdin=subprocess.PIPE,  # the child exits when this closes, even if we are killed
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,
            )
        process = _Process(f"{what} in {netns}", popen, log)
        self._processes.append(process)
        return process

    @staticmethod
    def _wait_ready(processes: list[_Process]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for process in processes:
            stdout = process.popen.stdout
            assert stdout is not None
            readable, _, _ = select.select([stdout], [], [], max(0, deadline - time.monotonic()))
            if not readable or stdout.readline().strip() != "READY":
                log = process.log.read_text()[-3000:]
                raise TestbedError(f"{process.name} did not start; its log:\n{log}")

    @contextlib.contextmanager
    def lossy_link(
        self,
        *,
        delay_ms: float = LOSSY_DELAY_MS,
        loss: float = LOSSY_LOSS,
        rate_kbit: float = 0.0,
    ) -> Iterator[None]:
        """Give the lossy network's access link these settings (each way: one-way delay,
        drop probability per packet, bottleneck rate in kbit/s, 0 for none) for the block,
        then the ones it had before (the defaults, unless blocks are nested).

        Both directions change at once, before the call returns: packets waiting in the
        bottleneck go on at the new rate, those past it keep their delay. Raises
        TestbedError for settings out of range (a loss above 1, a negative delay).
        """
        previous = self._link_settings
        self._set_lossy_link(float(delay_ms), float(loss), float(rate_kbit))
        try:
            yield
        finally:
            self._set_lossy_link(*previous)

    def _set_lossy_link(self, delay_ms: float, loss: float, rate_kbit: float) -> None:
        """Tell linkemu.py (a line on its stdin) and wait for its answer (a line out)."""
        with self._link_lock:
            process = self._linkemu
            if process is None or process.popen.stdin is None or process.popen.stdout is None:
                raise TestbedError("the testbed is not up")
            process.popen.stdin.write(f"delay_ms={delay_ms} loss={loss} rate_kbit={rate_kbit}\n")
            process.popen.stdin.flush()
            stdout = process.popen.stdout
            readable, _, _ = select.select([stdout], [], [], READY_TIMEOUT)
            answer = stdout.readline().strip() if readable else "no answer"
            if not answer.startswith("OK"):
                raise TestbedError(f"the link emulator refused the settings: {answer}")
            self._link_settings = (delay_ms, loss, rate_kbit)

    def clear_residual(self) -> None:
        """Forget every client the residual-censorship sites are punishing (empty their
        ``recent`` lists in the censored ISP), so that a test starts from a clean state."""
        isp_ns = self.networks["censored"].isp_ns
        for name in RESIDUAL_LISTS.values():
            _netns_exec(isp_ns, ["tee", f"/proc/net/xt_recent/{name}"], input="/\n")

    # ------------------------------------------------------------------ down

    def down(self) -> None:
        if not self._active:
            return
        self._active = False
        started = time.monotonic()
        try:
            for process in self._processes:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()
                for pipe in (process.popen.stdin, process.popen.stdout):
                    if pipe is not None:
                        pipe.close()
            self._processes.clear()
            self._linkemu = None
            remove_leftovers()
        finally:
            atexit.unregister(self.down)
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None
            if self._lock is not None:
                self._lock.close()  # releases the flock
                self._lock = None
            self.down_seconds = time.monotonic() - started
