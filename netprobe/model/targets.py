"""Targets and services: what to probe, as URLs normalised so that one site written
two ways is probed once::

    >>> parse_target("WWW.Example.COM.:443/news").url
    'https://www.example.com/news'

or an endpoint that is not a web page: ``tcp://HOST:PORT`` (does it connect?) or
``tls://HOST:PORT`` (does a TLS handshake with HOST as SNI verify?), the way
messaging apps reach their servers.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from netprobe.errors import TargetError

__all__ = [
    "InvalidTarget",
    "Part",
    "Scheme",
    "Service",
    "Target",
    "parse_target",
]

Scheme = Literal["http", "https", "tcp", "tls"]
_DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}


_ENDPOINT_SCHEMES = ("tcp", "tls")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")


_HALF_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:/(?!/)")


# Underscores are not valid in host names, but real sites use them in
# subdomains and resolvers and browsers accept them.
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")


# Characters that may stay as they are in a path or query; everything else
# (non-ASCII, quotes, angle brackets…) is percent-encoded. "%" is kept so that
# existing escapes are not encoded twice.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
_MAX_SHOWN = 80


@dataclass(frozen=True, slots=True)
class Target:
    """One URL to probe."""

    url: str
    """Normalised URL: lower-case scheme and host (A-labels), default port dropped,
    path ``/`` when empty, fragment dropped."""
    domain: str
    """Host as sent in DNS queries, SNI and Host headers: A-label, no port, no brackets."""
    scheme: Scheme
    port: int
    list_name: str | None = None
    """``social``, ``news``… for built-in lists, the file's stem for user files,
    ``None`` for URLs given on the command line."""
    category: str | None = None
    """Test-lists category code (``GRP``, ``NEWS``…) when known."""
    service: str | None = None
    """The id of the :class:`Service` this endpoint belongs to, if any."""
    expected_asns: frozenset[int] = frozenset()
    """The networks the service says its addresses are in (empty: no expectation)."""
    extra_ca: str | None = None
    """A PEM file of roots the service uses (Signal's), trusted beside the run's CAs."""

    @property
    def is_endpoint(self) -> bool:
        """``tcp://`` or ``tls://``: checked up to the connection, no page fetched."""
        return self.scheme in _ENDPOINT_SCHEMES


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a service (a data centre, a chat host): up when any endpoint works."""

    name: str
    endpoints: tuple[str, ...]
    """Normalised target URLs."""


@dataclass(frozen=True, slots=True)
class Service:
    """An app checked the way it connects: its parts, each a few alternative endpoints."""

    id: str
    name: str
    list_name: str
    category: str | None
    parts: tuple[Part, ...]
    targets: tuple[Target, ...]
    """Every endpoint once, carrying this service's id, AS expectation and extra roots."""


def parse_target(text: str, *, list_name: str | None = None, category: str | None = None) -> Target:
    """Parse and normalise one target.

    A bare domain (``example.com``, ``example.com/path``) means ``https://``.
    Raises :class:`TargetError` saying what is wrong.
    """
    stripped = text.strip()
    try:
        return _parse(stripped, list_name, category)
    except InvalidTarget as exc:
        shown = stripped if len(stripped) <= _MAX_SHOWN else stripped[: _MAX_SHOWN - 1] + "…"
        # repr() keeps the message on one line whatever the input holds.
        raise TargetError(f"invalid target {shown!r}: {exc}") from None


class InvalidTarget(Exception):
    """Why a target is invalid; turned into :class:`TargetError` with the input shown."""


def _parse(text: str, list_name: str | None, category: str | None) -> Target:
    if not text:
        raise InvalidTarget("empty target")
    if any(_is_control(ch) for ch in text):
        raise InvalidTarget("control characters are not allowed")
    if any(ch.isspace() for ch in text):
        raise InvalidTarget("spaces are not allowed")
    found = _SCHEME_RE.match(text)
    if found is None and _HALF_SCHEME_RE.match(text):
        raise InvalidTarget("expected // after the scheme (https://host/…)")
    if found is None:
        text = "https://" + text
    elif found.group(1).lower() in _ENDPOINT_SCHEMES:
        endpoint: Scheme = "tcp" if found.group(1).lower() == "tcp" else "tls"
        return _parse_endpoint(endpoint, text[found.end() :], list_name, category)
    elif found.group(1).lower() not in _DEFAULT_PORTS:
        raise InvalidTarget(
            f"unsupported scheme {found.group(1).lower()}:// "
            "(http://, https://, tcp://HOST:PORT or tls://HOST:PORT)"
        )
    scheme: Scheme = "http" if text[:5].lower() == "http:" else "https"
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # urlsplit checks bracketed hosts itself
        reason = "invalid IPv6 address" if "[" in text else f"invalid URL ({exc})"
        raise InvalidTarget(reason) from None
    if "@" in parts.netloc:
        raise InvalidTarget("credentials (user@host) are not allowed")
    host_text, port_text = _split_netloc(parts.netloc)
    port = _parse_port(port_text, scheme)
    url_host, domain = _parse_host(host_text)
    netloc = url_host if port == _DEFAULT_PORTS[scheme] else f"{url_host}:{port}"
    try:
        path = quote(parts.path, safe=_URL_SAFE) or "/"
        query = quote(parts.query, safe=_URL_SAFE)
    except UnicodeEncodeError:  # a byte that is no UTF-8, as Python passes it in argv
        raise InvalidTarget("the path or query is not valid UTF-8") from None
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return Target(url, domain, scheme, port, list_name, category)


def _parse_endpoint(
    scheme: Scheme, rest: str, list_name: str | None, category: str | None
) -> Target:
    """``tcp://HOST:PORT`` or ``tls://HOST:PORT``: a host (or address) and a port, no path."""
    netloc, _, path = rest.partition("/")
    if path or "?" in netloc or "#" in netloc:
        raise InvalidTarget(f"{scheme}:// targets are HOST:PORT, without a path")
    if "@" in netloc:
        raise InvalidTarget("credentials (user@host) are not allowed")
    host_text, port_text = _split_netloc(netloc)
    if not port_text:
        raise InvalidTarget(f"{scheme}:// needs a port ({scheme}://HOST:PORT)")
    port = _parse_port(port_text, scheme)
    url_host, domain = _parse_host(host_text)
    return Target(f"{scheme}://{url_host}:{port}", domain, scheme, port, list_name, category)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029)


def _split_netloc(netloc: str) -> tuple[str, str | None]:
    """``host`` / ``[v6]`` and the port text after ``:`` (``None`` when absent)."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise InvalidTarget("unclosed [ in IPv6 address")
        rest = netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidTarget(f"unexpected {rest!r} after IPv6 address")
        return netloc[: end + 1], rest[1:] if rest else None
    if netloc.count(":") > 1:
        raise InvalidTarget("IPv6 addresses must be written in brackets: [2001:db8::1]")
    host, colon, port = netloc.partition(":")
    return host, port if colon else None


def _parse_port(text: str | None, scheme: str) -> int:
    if not text:
        return _DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()):
        raise InvalidTarget(f"invalid port {text!r}")
    # The length test first: int() refuses strings of thousands of digits.
    if len(text) > 5 or not 1 <= int(text) <= 65535:
        shown = text if len(text) <= 10 else text[:10] + "…"
        raise InvalidTarget(f"port {shown} is out of range (1-65535)")
    return int(text)


def _parse_host(text: str) -> tuple[str, str]:
    """The host as written in the normalised URL, and as a bare domain/address."""
    if text.startswith("["):
        if "%" in text:
            raise InvalidTarget("IPv6 zone identifiers are not supported")
        try:
            v6 = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise InvalidTarget(f"invalid IPv6 address {text[1:-1]!r}") from None
        return f"[{v6.compressed}]", v6.compressed
    host = text[:-1] if text.endswith(".") else text
    if not host:
        raise InvalidTarget("missing host")
    try:
        return (v4 := str(ipaddress.IPv4Address(host))), v4
    except ValueError:
        pass
    domain = _to_ascii(host) if not host.isascii() else host.lower()
    _check_domain(domain)
    return domain, domain


def _to_ascii(host: str) -> str:
    import idna  # only IDNs need it; keeps start-up light

    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidTarget(f"invalid internationalised domain name ({exc})") from None


def _check_domain(domain: str) -> None:
    if len(domain) > 253:
        raise InvalidTarget("host name is longer than 253 characters")
    labels = domain.split(".")
    for label in labels:
        if not label:
            raise InvalidTarget("empty label in host name")
        if len(label) > 63:
            raise InvalidTarget(f"label {label[:20]}… is longer than 63 characters")
        if label.startswith("-") or label.endswith("-"):
            raise InvalidTarget(f"label {label!r} starts or ends with a hyphen")
        if not _LABEL_RE.fullmatch(label):
            raise InvalidTarget(f"label {label!r} has characters not allowed in a host name")
        if label.startswith("xn--"):
            _check_a_label(label)
    # Browsers read a host ending in a number as an IPv4 address ("127.1"), so
    # it must be a valid one: it was not, or IPv4Address would have taken it.
    if labels[-1].isdigit():
        raise InvalidTarget(f"invalid IPv4 address {domain!r}")


def _check_a_label(label: str) -> None:
    import idna

    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        raise InvalidTarget(f"label {label!r} is not valid punycode") from None
