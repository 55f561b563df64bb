"""Vantage: local DNS stubs and VPN tunnels, from fake /proc and /sys trees."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.measure.vantage import (
    SystemResolver,
    default_route_interface,
    default_route_tunnel,
    is_local_stub,
    is_tunnel_interface,
    parse_nameservers,
    resolve_system_resolver,
    stub_upstreams,
    vantage_notes,
)

# --- fake /proc/net/route, /proc/net/ipv6_route and /sys/class/net --------------------------

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"


def hex4(address: str) -> str:
    """``address`` as /proc/net/route prints it: a network-order word read in host order."""
    raw = ipaddress.IPv4Address(address).packed
    return (raw if sys.byteorder == "big" else raw[::-1]).hex().upper()


def v4(
    iface: str, dest: str = "0.0.0.0", mask: str = "0.0.0.0", metric: int = 0, flags: int = 3
) -> str:
    """One /proc/net/route line (flags 3: RTF_UP | RTF_GATEWAY)."""
    gateway = hex4("192.0.2.254")
    return f"{iface}\t{hex4(dest)}\t{gateway}\t{flags:04X}\t0\t0\t{metric}\t{hex4(mask)}\t0\t0\t0"


def v6(
    iface: str,
    dest: str = "::",
    prefix: int = 0,
    metric: int = 1024,
    flags: int = 3,
    src_prefix: int = 0,
) -> str:
    """One /proc/net/ipv6_route line."""
    zero = "0" * 32
    return (
        f"{ipaddress.IPv6Address(dest).packed.hex()} {prefix:02x} {zero} {src_prefix:02x} "
        f"{zero} {metric:08x} 00000001 00000000 {flags:08x} {iface:>8}"
    )


LO_V6 = v6("lo", metric=0xFFFFFFFF, flags=0x00200200)
"""The unreachable ::/0 the kernel keeps on lo."""

ETHER = {"type": "1\n"}
TUN = {"type": "65534\n", "tun_flags": "0x1001\n"}
TAP = {"type": "1\n", "tun_flags": "0x1002\n"}
WIREGUARD = {"type": "65534\n"}


def fake_tree(
    root: Path,
    route: list[str] | str | None,
    ipv6_route: list[str] | str | None = None,
    interfaces: dict[str, dict[str, str]] | None = None,
) -> dict[str, Path]:
    """Write the files under ``root`` (None: the file is missing); return the keyword paths."""
    paths = {
        "proc_route": root / "proc" / "net" / "route",
        "proc_ipv6_route": root / "proc" / "net" / "ipv6_route",
        "sys_class_net": root / "sys" / "class" / "net",
    }
    for key, content in (("proc_route", route), ("proc_ipv6_route", ipv6_route)):
        if content is None:
            continue
        paths[key].parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else "\n".join(content) + "\n"
        paths[key].write_text(text)
    for name, files in (interfaces or {}).items():
        device = paths["sys_class_net"] / name
        device.mkdir(parents=True)
        for file, content in files.items():
            (device / file).write_text(content)
    return paths


TUNNEL_CASES = [
    # id, /proc/net/route lines, /proc/net/ipv6_route lines, /sys/class/net, expected
    ("default on eth0, ethernet", [ROUTE_HEADER, v4("eth0")], None, {"eth0": ETHER}, None),
    ("default on wg0, ARPHRD_NONE", [ROUTE_HEADER, v4("wg0")], None, {"wg0": WIREGUARD}, "wg0"),
    ("default on tun0 with tun_flags", [ROUTE_HEADER, v4("tun0")], None, {"tun0": TUN}, "tun0"),
    ("tap device by tun_flags alone", [ROUTE_HEADER, v4("vpn0")], None, {"vpn0": TAP}, "vpn0"),
    ("tunnel by type alone", [ROUTE_HEADER, v4("corp")], None, {"corp": WIREGUARD}, "corp"),
    ("PPP by type", [ROUTE_HEADER, v4("dsl")], None, {"dsl": {"type": "512"}}, "dsl"),
    ("GRE by type", [ROUTE_HEADER, v4("gre1")], None, {"gre1": {"type": "778\n"}}, "gre1"),
    ("sit by type", [ROUTE_HEADER, v4("6in4")], None, {"6in4": {"type": "776\n"}}, "6in4"),
    ("VPN name, no /sys", [ROUTE_HEADER, v4("ppp0")], None, None, "ppp0"),
    ("nordlynx name", [ROUTE_HEADER, v4("nordlynx")], None, {"nordlynx": ETHER}, "nordlynx"),
    ("ordinary name, no /sys", [ROUTE_HEADER, v4("enp3s0")], None, None, None),
    ("garbage type file", [ROUTE_HEADER, v4("eth0")], None, {"eth0": {"type": "x²\0"}}, None),
    (
        "no default route",
        [ROUTE_HEADER, v4("wg0", "192.0.2.0", "255.255.255.0", flags=1)],
        None,
        {"wg0": WIREGUARD},
        None,
    ),
    (
        "lowest metric wins: wg0",
        [ROUTE_HEADER, v4("eth0", metric=100), v4("wg0", metric=50)],
        None,
        {"eth0": ETHER, "wg0": WIREGUARD},
        "wg0",
    ),
    (
        "lowest metric wins: eth0",
        [ROUTE_HEADER, v4("wg0", metric=600), v4("eth0", metric=100)],
        None,
        {"eth0": ETHER, "wg0": WIREGUARD},
        None,
    ),
    (
        "OpenVPN def1 halves beat the default",
        [
            ROUTE_HEADER,
            v4("eth0", metric=100),
            v4("tun0", "0.0.0.0", "128.0.0.0"),
            v4("tun0", "128.0.0.0", "128.0.0.0"),
        ],
        None,
        {"eth0": ETHER, "tun0": TUN},
        "tun0",
    ),
    (
        "a specific route is not a default",
        [ROUTE_HEADER, v4("eth0"), v4("tun0", "1.1.1.0", "255.255.255.0")],
        None,
        {"eth0": ETHER, "tun0": TUN},
        None,
    ),
    (
        "route not up is skipped",
        [ROUTE_HEADER, v4("wg0", flags=0x0002), v4("eth0", metric=10)],
        None,
        {"eth0": ETHER, "wg0": WIREGUARD},
        None,
    ),
    (
        "reject route is skipped",
        [ROUTE_HEADER, v4("wg0", flags=0x0201), v4("eth0", metric=10)],
        None,
        {"eth0": ETHER, "wg0": WIREGUARD},
        None,
    ),
    (
        "non-contiguous mask is garbage",
        [ROUTE_HEADER, v4("wg0", mask="0.255.0.0"), v4("eth0", metric=10)],
        None,
        {"eth0": ETHER, "wg0": WIREGUARD},
        None,
    ),
    (
        "IPv6 only, default on wg0",
        [ROUTE_HEADER],
        [v6("wg0"), LO_V6],
        {"wg0": WIREGUARD},
        "wg0",
    ),
    (
        "IPv6: lo never carries the default",
        None,
        [v6("lo", metric=0), v6("wg0")],
        {"lo": {"type": "772"}, "wg0": WIREGUARD},
        "wg0",
    ),
    ("IPv6 only, default on eth0", None, [v6("eth0"), LO_V6], {"eth0": ETHER}, None),
    ("IPv6: only lo's unreachable ::/0", [ROUTE_HEADER], [LO_V6], {"lo": {"type": "772"}}, None),
    (
        "IPv6: 2000::/4 through tun0",
        None,
        [v6("eth0"), v6("tun0", "2000::", 4), v6("tun0", "3000::", 4)],
        {"eth0": ETHER, "tun0": TUN},
        "tun0",
    ),
    (
        "IPv6: source-specific default is skipped",
        None,
        [v6("wg0", metric=1, src_prefix=64), v6("eth0", metric=1024)],
        {"eth0": ETHER, "wg0": WIREGUARD},
        None,
    ),
    (
        "IPv4 default decides over IPv6",
        [ROUTE_HEADER, v4("eth0")],
        [v6("wg0")],
        {"eth0": ETHER, "wg0": WIREGUARD},
        None,
    ),
    ("garbage route file", "\x00\xff garbage\nIface Destination\n1 2 3\n", None, None, None),
    (
        "garbage fields",
        [ROUTE_HEADER, "wg0\tzzzzzzzz\t0\tQQ\t0\t0\t-\t00000000", "wg0 0 0 3 0 0 0 0"],
        ["wg0 00 :: 00 :: 0 0 0 3 wg0", "f" * 32 + " ff " + "0 " * 7 + "wg0"],
        {"wg0": WIREGUARD},
        None,
    ),
    ("path-like interface name", [ROUTE_HEADER, v4("..")], None, {"x": TUN}, None),
    ("empty files", "", "", None, None),
    ("missing files (not Linux)", None, None, None, None),
]


@pytest.mark.parametrize(
    ("route", "ipv6_route", "interfaces", "expected"),
    [case[1:] for case in TUNNEL_CASES],
    ids=[case[0] for case in TUNNEL_CASES],
)
def test_default_route_tunnel(
    tmp_path: Path,
    route: list[str] | str | None,
    ipv6_route: list[str] | str | None,
    interfaces: dict[str, dict[str, str]] | None,
    expected: str | None,
) -> None:
    assert default_route_tunnel(**fake_tree(tmp_path, route, ipv6_route, interfaces)) == expected


def test_default_route_interface_reads_the_kernels_format(tmp_path: Path) -> None:
    # As a Linux host prints them, padding and all (little-endian words).
    route = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
        + " " * 20
        + "\n"
        + f"eth0\t00000000\t{hex4('192.0.2.1')}\t0003\t0\t0\t0\t00000000\t0\t0\t0"
        + " " * 30
        + "\n"
        + f"eth0\t{hex4('192.0.2.0')}\t00000000\t0001\t0\t0\t0\t{hex4('255.255.255.0')}\t0\t0\t0\n"
    )
    ipv6_route = (
        "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth1\n"
        "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000000 00000003 00000000 80200001       lo\n"
    )
    paths = fake_tree(tmp_path, route, ipv6_route)
    kwargs = {"proc_route": paths["proc_route"], "proc_ipv6_route": paths["proc_ipv6_route"]}
    assert default_route_interface(**kwargs) == "eth0"
    paths["proc_route"].write_text(route.splitlines()[0] + "\n")
    assert default_route_interface(**kwargs) == "eth1"


TUNNEL_INTERFACE_CASES = [
    # id, name, /sys/class/net/NAME files (None: no directory), expected
    ("wg prefix", "wg0", None, True),
    ("utun prefix", "utun3", None, True),
    ("tailscale prefix", "tailscale0", None, True),
    ("ZeroTier prefix", "zt5u4y6s7", None, True),
    ("proton prefix", "proton0", None, True),
    ("ipsec prefix", "ipsec0", None, True),
    ("tap prefix", "tap1", None, True),
    ("ethernet", "eth0", ETHER, False),
    ("ARPHRD_NONE", "corp", {"type": "65534"}, True),
    ("IP-in-IP", "ipip0", {"type": "768\n"}, True),
    ("IPv6 GRE", "g6", {"type": "823\n"}, True),
    ("tun_flags only", "vpn", {"tun_flags": "0x1001"}, True),
    ("loopback", "lo", {"type": "772\n"}, False),
    ("empty type", "eth1", {"type": ""}, False),
    ("superscript digits in type", "eth2", {"type": "²"}, False),
    ("no /sys entry", "br0", None, False),
    ("empty name", "", None, False),
    ("parent directory", "..", None, False),
    ("slash", "wg0/../../etc", None, False),
    ("too long", "wg" + "x" * 20, None, False),
    ("blank inside", "wg 0", None, False),
    ("NUL inside", "wg\0", None, False),
]


@pytest.mark.parametrize(
    ("name", "files", "expected"),
    [case[1:] for case in TUNNEL_INTERFACE_CASES],
    ids=[case[0] for case in TUNNEL_INTERFACE_CASES],
)
def test_is_tunnel_interface(
    tmp_path: Path, name: str, files: dict[str, str] | None, expected: bool
) -> None:
    interfaces = {name: files} if files is not None else None
    sys_class_net = fake_tree(tmp_path, None, None, interfaces)["sys_class_net"]
    assert is_tunnel_interface(name, sys_class_net=sys_class_net) is expected


# --- resolvers ------------------------------------------------------------------------------

LOCAL_STUB_CASES = [
    ("127.0.0.53", True),
    ("127.0.0.54", True),
    ("127.0.0.1", True),
    ("127.255.255.254", True),
    ("::1", True),
    ("[::1]", True),
    (" 127.0.0.1 ", True),
    ("::ffff:127.0.0.1", True),
    ("0.0.0.0", True),
    ("::", True),
    ("10.0.0.1", False),
    ("192.0.2.1", False),
    ("2001:db8::1", False),
    ("fe80::1%eth0", False),
    ("128.0.0.1", False),
    ("localhost", False),
    ("", False),
    ("udp://127.0.0.1:53", False),
]


@pytest.mark.parametrize(("address", "expected"), LOCAL_STUB_CASES)
def test_is_local_stub(address: str, expected: bool) -> None:
    assert is_local_stub(address) is expected


NAMESERVER_CASES = [
    # id, resolv.conf text, nameservers
    (
        "systemd's file",
        "# This is /run/systemd/resolve/resolv.conf\nnameserver 192.0.2.1\n"
        "nameserver 2001:db8::53\nsearch lan\n",
        ("192.0.2.1", "2001:db8::53"),
    ),
    ("empty", "", ()),
    ("hash comment", "#nameserver 192.0.2.1\n", ()),
    ("semicolon comment", ";nameserver 192.0.2.1\n", ()),
    (
        "trailing comments",
        "nameserver 192.0.2.1 # isp\nnameserver 192.0.2.2;x\n",
        ("192.0.2.1", "192.0.2.2"),
    ),
    ("indented, tabs", "  nameserver\t192.0.2.1\t\n", ("192.0.2.1",)),
    ("CRLF", "nameserver 192.0.2.1\r\nnameserver 192.0.2.2\r\n", ("192.0.2.1", "192.0.2.2")),
    ("IPv6 zone kept", "nameserver fe80::1%enp3s0\n", ("fe80::1%enp3s0",)),
    ("canonical IPv6", "nameserver 2001:DB8:0::0:53\n", ("2001:db8::53",)),
    ("duplicates once", "nameserver 192.0.2.1\nnameserver 192.0.2.1\n", ("192.0.2.1",)),
    ("loopback kept", "nameserver 127.0.0.53\n", ("127.0.0.53",)),
    ("keyword is case-sensitive", "NAMESERVER 192.0.2.1\n", ()),
    ("keyword glued", "nameserver192.0.2.1\n", ()),
    ("no address", "nameserver\n", ()),
    ("not an address", "nameserver dns.example\nnameserver 300.1.1.1\n", ()),
    ("IPv4 with zone", "nameserver 192.0.2.1%eth0\n", ()),
    ("port suffix", "nameserver 192.0.2.1:53\n", ()),
    ("garbage between", "\x00\xff\nnameserver 192.0.2.9 extra words\n}{\n", ("192.0.2.9",)),
    ("options only", "options edns0 trust-ad\nsearch .\n", ()),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in NAMESERVER_CASES],
    ids=[case[0] for case in NAMESERVER_CASES],
)
def test_parse_nameservers(text: str, expected: tuple[str, ...]) -> None:
    assert parse_nameservers(text) == expected


SYSTEMD_FILE = "# generated\nnameserver 127.0.0.1\nnameserver 192.0.2.1\nnameserver 2001:db8::53\n"

UPSTREAM_CASES = [
    # id, stub, /run/systemd/resolve/resolv.conf (None: missing), upstreams
    ("stub", "127.0.0.53", SYSTEMD_FILE, ("192.0.2.1", "2001:db8::53")),
    ("proxy stub", "127.0.0.54", SYSTEMD_FILE, ("192.0.2.1", "2001:db8::53")),
    ("file missing", "127.0.0.53", None, ()),
    ("only loopback upstreams", "127.0.0.53", "nameserver 127.0.0.1\nnameserver ::1\n", ()),
    ("garbage file", "127.0.0.53", "\x00\x01 nameserver\n;;\n", ()),
    ("dnsmasq is not systemd", "127.0.0.1", SYSTEMD_FILE, ()),
    ("not a stub", "192.0.2.1", SYSTEMD_FILE, ()),
    ("not an address", "resolved", SYSTEMD_FILE, ()),
]


@pytest.mark.parametrize(
    ("stub", "content", "expected"),
    [case[1:] for case in UPSTREAM_CASES],
    ids=[case[0] for case in UPSTREAM_CASES],
)
def test_stub_upstreams(
    tmp_path: Path, stub: str, content: str | None, expected: tuple[str, ...]
) -> None:
    path = tmp_path / "resolv.conf"
    if content is not None:
        path.write_text(content)
    assert stub_upstreams(stub, systemd_resolv_conf=path) == expected


def test_stub_upstreams_unreadable(tmp_path: Path) -> None:
    # A directory where the file should be: reading it fails with an OSError.
    assert stub_upstreams("127.0.0.53", systemd_resolv_conf=tmp_path) == ()


STUB_AT = "the system resolver {} is a local stub {}: it can hide rcodes and injected replies"
SWITCHED = STUB_AT + "; measuring its upstream {} instead"
STUCK = STUB_AT + ", so DNS verdicts are less certain; pass --resolver with the network's resolver"

RESOLVE_CASES = [
    # id, first system nameserver, systemd's file (None: missing), (address, note)
    ("ordinary resolver", "192.0.2.1", SYSTEMD_FILE, ("192.0.2.1", None)),
    ("canonical form", "2001:DB8::0:53", None, ("2001:db8::53", None)),
    (
        "systemd stub with upstream",
        "127.0.0.53",
        SYSTEMD_FILE,
        ("192.0.2.1", SWITCHED.format("127.0.0.53", "(systemd-resolved)", "192.0.2.1")),
    ),
    (
        "systemd stub, upstream unknown",
        "127.0.0.53",
        None,
        ("127.0.0.53", STUCK.format("127.0.0.53", "(systemd-resolved)")),
    ),
    (
        "dnsmasq",
        "127.0.0.1",
        SYSTEMD_FILE,
        ("127.0.0.1", STUCK.format("127.0.0.1", "on this machine")),
    ),
    ("IPv6 loopback", "::1", None, ("::1", STUCK.format("::1", "on this machine"))),
    ("not an address", " dns.example ", None, ("dns.example", None)),
]


@pytest.mark.parametrize(
    ("nameserver", "content", "expected"),
    [case[1:] for case in RESOLVE_CASES],
    ids=[case[0] for case in RESOLVE_CASES],
)
def test_resolve_system_resolver(
    tmp_path: Path, nameserver: str, content: str | None, expected: tuple[str, str | None]
) -> None:
    path = tmp_path / "resolv.conf"
    if content is not None:
        path.write_text(content)
    choice = resolve_system_resolver(nameserver, systemd_resolv_conf=path)
    assert isinstance(choice, SystemResolver)
    assert choice == expected


# --- notes ----------------------------------------------------------------------------------

TUNNEL_WG0 = (
    "the default route goes through the tunnel interface wg0 (a VPN?): this run may measure "
    "the VPN's exit, not this network"
)

NOTES_CASES: list[tuple[str, dict[str, object], list[str]]] = [
    ("nothing to say", {}, []),
    ("ordinary system resolver", {"system_resolver": "192.0.2.1"}, []),
    (
        "switched to the upstream",
        {"system_resolver": "127.0.0.53", "resolver_in_use": "192.0.2.1"},
        [SWITCHED.format("127.0.0.53", "(systemd-resolved)", "192.0.2.1")],
    ),
    (
        "stub measured itself",
        {"system_resolver": "127.0.0.53"},
        [STUCK.format("127.0.0.53", "(systemd-resolved)")],
    ),
    (
        "stub measured itself, said twice",
        {"system_resolver": "127.0.0.1", "resolver_in_use": "127.0.0.1"},
        [STUCK.format("127.0.0.1", "on this machine")],
    ),
    (
        "in use is another stub",
        {"system_resolver": "127.0.0.53", "resolver_in_use": "::1"},
        [STUCK.format("127.0.0.53", "(systemd-resolved)")],
    ),
    ("user chose a loopback resolver", {"resolver_in_use": "127.0.0.1"}, []),
    ("tunnel", {"tunnel": "wg0"}, [TUNNEL_WG0]),
    ("no tunnel", {"tunnel": None}, []),
    ("empty tunnel name", {"tunnel": ""}, []),
    (
        "everything, in order",
        {
            "system_resolver": "127.0.0.53",
            "resolver_in_use": "192.0.2.1",
            "tunnel": "wg0",
        },
        [SWITCHED.format("127.0.0.53", "(systemd-resolved)", "192.0.2.1"), TUNNEL_WG0],
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [case[1:] for case in NOTES_CASES],
    ids=[case[0] for case in NOTES_CASES],
)
def test_vantage_notes(kwargs: dict[str, object], expected: list[str]) -> None:
    assert vantage_notes(**kwargs) == expected  # type: ignore[arg-type]


# --- nothing raises on odd input ------------------------------------------------------------

texts = st.text(max_size=300)
file_contents = st.one_of(texts, st.binary(max_size=300))


@given(text=texts)
def test_text_parsers_never_raise(text: str) -> None:
    assert all(isinstance(ns, str) for ns in parse_nameservers(text))
    assert isinstance(is_local_stub(text), bool)
    notes = vantage_notes(system_resolver=text, resolver_in_use=text, tunnel=text)
    assert all(isinstance(note, str) for note in notes)


@given(route=file_contents, ipv6_route=file_contents, link_type=file_contents, name=texts)
def test_file_readers_never_raise(
    tmp_path_factory: pytest.TempPathFactory,
    route: str | bytes,
    ipv6_route: str | bytes,
    link_type: str | bytes,
    name: str,
) -> None:
    root = tmp_path_factory.mktemp("vantage")
    paths = fake_tree(root, "", "", {"wg0x": {}, "eth0": {}})
    for path, content in (
        (paths["proc_route"], route),
        (paths["proc_ipv6_route"], ipv6_route),
        (paths["sys_class_net"] / "eth0" / "type", link_type),
        (paths["sys_class_net"] / "wg0x" / "type", link_type),
    ):
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    tunnel = default_route_tunnel(**paths)
    assert tunnel is None or isinstance(tunnel, str)
    assert isinstance(is_tunnel_interface(name, sys_class_net=paths["sys_class_net"]), bool)
    for stub in ("127.0.0.53", name):
        upstreams = stub_upstreams(stub, systemd_resolv_conf=paths["proc_route"])
        assert all(not is_local_stub(ns) for ns in upstreams)
        address, note = resolve_system_resolver(stub, systemd_resolv_conf=paths["proc_route"])
        assert isinstance(address, str) and (note is None or isinstance(note, str))
