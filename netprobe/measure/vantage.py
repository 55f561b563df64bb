"""Vantage: does this run measure the network it thinks it measures?

Two things on this machine can stand between netprobe and the network under test:

- a local DNS stub (systemd-resolved on 127.0.0.53, dnsmasq on 127.0.0.1…): it can hide
  rcodes and injected replies, so its upstream is measured instead when it is known;
- a VPN: the default route goes through a tunnel interface.

A third, a fake-IP proxy (Clash, sing-box…) that resolves every name into 198.18.0.0/15,
is not looked for here: the runner detects it from the resolver's answer for a well-known
name and writes its note itself (see :mod:`netprobe.model.addresses`).

Usage::

    resolver, note = resolve_system_resolver("127.0.0.53")
    # ("192.0.2.1", "the system resolver 127.0.0.53 is a local stub (systemd-resolved): …")
    notes = vantage_notes(tunnel=default_route_tunnel())      # [] or [...]

Nothing here sends a packet or raises on odd input: unreadable or garbled files, and
systems without /proc or /sys (macOS, Windows), read as "unknown" (``()``, None, False).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, NamedTuple

from netprobe.model.addresses import IPNetwork

__all__ = [
    "SystemResolver",
    "default_route_interface",
    "default_route_tunnel",
    "is_local_stub",
    "is_tunnel_interface",
    "parse_nameservers",
    "resolve_system_resolver",
    "stub_upstreams",
    "vantage_notes",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SYSTEMD_STUBS: Final = frozenset({"127.0.0.53", "127.0.0.54"})
_SYSTEMD_RESOLV_CONF: Final = Path("/run/systemd/resolve/resolv.conf")
_PROC_ROUTE: Final = Path("/proc/net/route")
_PROC_IPV6_ROUTE: Final = Path("/proc/net/ipv6_route")
_SYS_CLASS_NET: Final = Path("/sys/class/net")

# ARPHRD_* link types of tunnels: NONE (tun, WireGuard), PPP, TUNNEL (IP-in-IP), TUNNEL6,
# SIT, IPGRE, IP6GRE.
_TUNNEL_TYPES: Final = frozenset({65534, 512, 768, 769, 776, 778, 823})
_TUNNEL_PREFIXES: Final = (
    "tun",
    "tap",
    "wg",
    "ppp",
    "utun",
    "ipsec",
    "nordlynx",
    "tailscale",
    "zt",
    "proton",
)

_RTF_UP: Final = 0x0001
_RTF_REJECT: Final = 0x0200
# VPNs often leave the default route alone and cover the internet with shorter halves that win
# by longest prefix: OpenVPN's redirect-gateway def1 adds 0.0.0.0/1 + 128.0.0.0/1 (and
# 2000::/4 + 3000::/4 on IPv6), as do WireGuard configs with split AllowedIPs. So the route
# taken to a public address, among routes this short, is what counts as the default route.
_DEFAULT_MAX_PREFIX: Final = 4
_PUBLIC_V4: Final = ipaddress.IPv4Address("1.1.1.1")
_PUBLIC_V6: Final = ipaddress.IPv6Address("2606:4700:4700::1111")

_READ_LIMIT: Final = 1 << 20


class SystemResolver(NamedTuple):
    """What :func:`resolve_system_resolver` picked: ``resolver, note = …``."""

    address: str
    """The resolver to measure: the system's, or its upstream when the system's is a stub."""
    note: str | None
    """Why, when the system's resolver is a local stub; None otherwise."""


def is_local_stub(address: str) -> bool:
    """Whether the resolver at ``address`` runs on this machine (a stub: loopback).

    >>> [is_local_stub(a) for a in ("127.0.0.53", "127.0.0.1", "::1", "192.0.2.1", "junk")]
    [True, True, True, False, False]
    """
    ip = _address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Queries sent to 0.0.0.0 or :: reach this machine too: Linux delivers them to loopback.
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


def parse_nameservers(text: str) -> tuple[str, ...]:
    """The ``nameserver`` addresses of resolv.conf ``text``, in order, canonical, once each.

    Comments (``#``, ``;``) and lines that are not a valid ``nameserver`` line are skipped;
    an IPv6 zone is kept, since a link-local server cannot be reached without it.

    >>> parse_nameservers("# x\\nnameserver 192.0.2.1 ; isp\\nnameserver FE80::1%eth0\\nbad")
    ('192.0.2.1', 'fe80::1%eth0')
    """
    found: list[str] = []
    for line in text.splitlines():
        fields = line.replace(";", "#").partition("#")[0].split()
        if len(fields) < 2 or fields[0] != "nameserver":
            continue
        ip = _address(fields[1])
        if ip is not None and str(ip) not in found:
            found.append(str(ip))
    return tuple(found)


def stub_upstreams(
    stub: str, *, systemd_resolv_conf: Path = _SYSTEMD_RESOLV_CONF
) -> tuple[str, ...]:
    """The servers a systemd-resolved stub (127.0.0.53, 127.0.0.54) forwards to, in order.

    systemd-resolved writes them to ``systemd_resolv_conf``. Empty for any other address
    and when the file is missing or unreadable.

    >>> stub_upstreams("127.0.0.53")  # doctest: +SKIP
    ('192.0.2.1', '2001:db8::53')
    """
    ip = _address(stub)
    if ip is None or str(ip) not in _SYSTEMD_STUBS:
        return ()
    text = _read_text(systemd_resolv_conf)
    if text is None:
        return ()
    return tuple(ns for ns in parse_nameservers(text) if not is_local_stub(ns))


def default_route_interface(
    *, proc_route: Path = _PROC_ROUTE, proc_ipv6_route: Path = _PROC_IPV6_ROUTE
) -> str | None:
    """The interface of the default route on Linux: IPv4 if there is one, else IPv6.

    The lowest metric wins among equal routes; None when there is no default route or no
    readable route table (not Linux).

    >>> default_route_interface()  # doctest: +SKIP
    'eth0'
    """
    v4 = _best_route((_route_v4(line) for line in _lines(proc_route)), _PUBLIC_V4)
    if v4 is not None:
        return v4
    return _best_route((_route_v6(line) for line in _lines(proc_ipv6_route)), _PUBLIC_V6)


def is_tunnel_interface(name: str, *, sys_class_net: Path = _SYS_CLASS_NET) -> bool:
    """Whether interface ``name`` is a tunnel, as VPNs use.

    A tunnel has a tunnel link type in ``sys_class_net/NAME/type`` (tun, WireGuard, PPP,
    IP-in-IP, SIT, GRE), a ``tun_flags`` file (tun and tap), or a VPN's name (wg0, utun3…).

    >>> is_tunnel_interface("wg0"), is_tunnel_interface("../etc")
    (True, False)
    """
    if not _is_interface_name(name):
        return False
    if name.lower().startswith(_TUNNEL_PREFIXES):
        return True
    device = sys_class_net / name
    try:
        link_type = int(_read_text(device / "type", limit=64) or "")
    except ValueError:
        link_type = None
    return link_type in _TUNNEL_TYPES or os.path.exists(device / "tun_flags")


def default_route_tunnel(
    *,
    proc_route: Path = _PROC_ROUTE,
    proc_ipv6_route: Path = _PROC_IPV6_ROUTE,
    sys_class_net: Path = _SYS_CLASS_NET,
) -> str | None:
    """The interface of the default route when it is a tunnel (a VPN?), else None.

    Routes chosen by policy rules in other tables (wg-quick, Tailscale exit nodes) are not
    in /proc/net/route and so are not seen.

    >>> default_route_tunnel()  # doctest: +SKIP
    'wg0'
    """
    name = default_route_interface(proc_route=proc_route, proc_ipv6_route=proc_ipv6_route)
    if name is None or not is_tunnel_interface(name, sys_class_net=sys_class_net):
        return None
    return name


def vantage_notes(
    *,
    system_resolver: str | None = None,
    resolver_in_use: str | None = None,
    tunnel: str | None = None,
) -> list[str]:
    """Sentences for a report's ``notes`` when the run may not measure this network.

    ``system_resolver``: the system's resolver, when the run measures it (not given when
    the user chose the resolver); ``resolver_in_use``: the address actually queried, if it
    is not ``system_resolver`` itself; ``tunnel``: :func:`default_route_tunnel`'s answer.
    Each part can be given on its own. Fake-IP proxies are the runner's to report.

    >>> vantage_notes(tunnel="wg0")
    ["the default route goes through the tunnel interface wg0 (a VPN?): this run may \
measure the VPN's exit, not this network"]
    >>> vantage_notes(system_resolver="8.8.8.8")
    []
    """
    notes: list[str] = []
    if system_resolver is not None:
        stub = _stub_note(system_resolver, resolver_in_use)
        if stub is not None:
            notes.append(stub)
    if tunnel:
        notes.append(
            f"the default route goes through the tunnel interface {tunnel} (a VPN?): "
            "this run may measure the VPN's exit, not this network"
        )
    return notes


def resolve_system_resolver(
    nameserver: str, *, systemd_resolv_conf: Path = _SYSTEMD_RESOLV_CONF
) -> SystemResolver:
    """The resolver to measure given the system's first ``nameserver``, and why if changed.

    A systemd-resolved stub with a known upstream gives the first upstream; any other
    local stub stays, with a note that DNS verdicts are less certain. The note is the one
    :func:`vantage_notes` gives for the same resolvers: report one or the other.

    >>> resolve_system_resolver("192.0.2.1")
    SystemResolver(address='192.0.2.1', note=None)
    >>> resolve_system_resolver("127.0.0.1").note
    "the system resolver 127.0.0.1 is a local stub on this machine: it can hide rcodes and \
injected replies, so DNS verdicts are less certain; pass --resolver with the network's resolver"
    """
    upstreams = stub_upstreams(nameserver, systemd_resolv_conf=systemd_resolv_conf)
    address = upstreams[0] if upstreams else _canonical(nameserver)
    notes = vantage_notes(system_resolver=nameserver, resolver_in_use=address)
    return SystemResolver(address, notes[0] if notes else None)


def _stub_note(system_resolver: str, resolver_in_use: str | None) -> str | None:
    if not is_local_stub(system_resolver):
        return None
    stub = _canonical(system_resolver)
    where = "(systemd-resolved)" if stub in _SYSTEMD_STUBS else "on this machine"
    head = (
        f"the system resolver {stub} is a local stub {where}: "
        "it can hide rcodes and injected replies"
    )
    upstream = _canonical(resolver_in_use or "")
    if upstream and upstream != stub and not is_local_stub(upstream):
        return f"{head}; measuring its upstream {upstream} instead"
    return f"{head}, so DNS verdicts are less certain; pass --resolver with the network's resolver"


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _canonical(text: str) -> str:
    ip = _address(text)
    return text.strip() if ip is None else str(ip)


class _Route(NamedTuple):
    interface: str
    network: IPNetwork
    metric: int


def _route_v4(line: str) -> _Route | None:
    # Iface Destination Gateway Flags RefCnt Use Metric Mask …: addresses are the hex of a
    # network-order word read in host byte order, the metric is decimal.
    fields = line.split()
    if len(fields) < 8:
        return None
    try:
        mask = int(_hex_v4(fields[7]))
        prefix = bin(mask).count("1")
        if mask != (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF:
            return None
        network = ipaddress.IPv4Network((_hex_v4(fields[1]), prefix), strict=False)
        route = _Route(fields[0], network, int(fields[6]))
        flags = int(fields[3], 16)
    except ValueError:
        return None
    return route if _usable(route.interface, flags) else None


def _route_v6(line: str) -> _Route | None:
    # Destination PrefixLen Source SourcePrefixLen NextHop Metric RefCnt Use Flags Iface, in hex.
    fields = line.split()
    if len(fields) < 10:
        return None
    try:
        destination = bytes.fromhex(fields[0])
        if len(destination) != 16 or int(fields[3], 16) != 0:  # source-specific: not general
            return None
        address = ipaddress.IPv6Address(destination)
        network = ipaddress.IPv6Network((address, int(fields[1], 16)), strict=False)
        route = _Route(fields[9], network, int(fields[5], 16))
        flags = int(fields[8], 16)
    except ValueError:
        return None
    return route if _usable(route.interface, flags) else None


def _hex_v4(text: str) -> ipaddress.IPv4Address:
    raw = bytes.fromhex(text)
    if len(raw) != 4:
        raise ValueError(text)
    return ipaddress.IPv4Address(raw if sys.byteorder == "big" else raw[::-1])


def _usable(interface: str, flags: int) -> bool:
    # The kernel keeps an unreachable ::/0 on lo; it carries nothing.
    return bool(flags & _RTF_UP) and not flags & _RTF_REJECT and interface != "lo"


def _best_route(routes: Iterable[_Route | None], public: IPAddress) -> str | None:
    best: tuple[tuple[int, int], str] | None = None
    for route in routes:
        if route is None or not _is_interface_name(route.interface):
            continue
        if route.network.prefixlen > _DEFAULT_MAX_PREFIX or public not in route.network:
            continue
        key = (-route.network.prefixlen, route.metric)
        if best is None or key < best[0]:
            best = (key, route.interface)
    return None if best is None else best[1]


def _is_interface_name(name: str) -> bool:
    # Linux names are 1-15 bytes without '/' or blanks; the name becomes part of a /sys path.
    return (
        0 < len(name) < 16
        and name not in (".", "..")
        and "/" not in name
        and name.isprintable()
        and not any(c.isspace() for c in name)
    )


def _read_text(path: Path, *, limit: int = _READ_LIMIT) -> str | None:
    try:
        with path.open("rb") as file:
            return file.read(limit).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            yield from file
    except (OSError, ValueError):
        return
