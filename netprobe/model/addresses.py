"""What kind of address or URL this is: plain facts every layer may ask.

    is_bogon("198.18.0.7")                               # True: benchmarking range
    is_bogon("198.18.0.7", parse_networks(["198.18.0.0/15"]))  # False
    url_endpoint("https://xn--e1afmkfd.test:8443/a")     # ("https", "xn--e1afmkfd.test", 8443)

The bogon list is IANA's special-purpose registries (IPv4 and IPv6): every block there
that is not globally reachable, plus multicast. Test networks that emulate the internet
inside such a block (198.18.0.0/15, 2001:2::/48) say so explicitly with ``routable``;
the product never carves them out by default.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from typing import Final, Literal
from urllib.parse import urlsplit

__all__ = [
    "FAKE_IP_NETWORK",
    "IPNetwork",
    "is_address",
    "is_bogon",
    "is_fake_ip",
    "parse_networks",
    "url_endpoint",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IANA IPv4 and IPv6 Special-Purpose Address Registries, "Globally Reachable: False"
# (and the deprecated 6to4 relay anycast block), plus multicast and the limited broadcast.
_SPECIAL_PURPOSE: Final[tuple[IPNetwork, ...]] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
# Blocks inside the ones above that IANA lists as globally reachable.
_GLOBAL_EXCEPTIONS: Final[tuple[IPNetwork, ...]] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.9/32",
        "192.0.0.10/32",
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:1::3/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
    )
)

FAKE_IP_NETWORK: Final = ipaddress.ip_network("198.18.0.0/15")
"""Where "fake-IP" proxies (Clash, sing-box…) put the address they answer every name with."""


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Address blocks given by a user (``--routable``); raises ValueError naming the first
    that is not one."""
    parsed = []
    for text in texts:
        try:
            parsed.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address block: {text!r}") from None
    return tuple(parsed)


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _within(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in nets)


def is_bogon(address: str, routable: Iterable[IPNetwork] = ()) -> bool:
    """Whether ``address`` is not globally reachable (unparseable counts as bogon)."""
    ip = _parse(address)
    if ip is None:
        return True
    if _within(ip, routable) or _within(ip, _GLOBAL_EXCEPTIONS):
        return False
    return _within(ip, _SPECIAL_PURPOSE)


def is_fake_ip(address: str, routable: Iterable[IPNetwork] = ()) -> bool:
    """Whether ``address`` is where a local fake-IP proxy hands out addresses."""
    ip = _parse(address)
    return ip is not None and _within(ip, (FAKE_IP_NETWORK,)) and not _within(ip, routable)


def is_address(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def url_endpoint(url: str) -> tuple[Literal["http", "https"], str, int]:
    """Scheme, host (A-label, no trailing dot) and port of a web URL; a port that does not
    parse (a hostile redirect may carry one) counts as the scheme's default."""
    parts = urlsplit(url)
    scheme: Literal["http", "https"] = "https" if parts.scheme.lower() == "https" else "http"
    host = (parts.hostname or "").rstrip(".")
    if not host.isascii():
        # Left as it is when it is no valid IDN: resolving it will fail and say so.
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, host, port or (443 if scheme == "https" else 80)
