"""Targets: what to probe, from the command line, a user's file or a built-in list.

A target is an ``http://`` or ``https://`` URL, normalised so that the same site
written two ways is probed once::

    >>> parse_target("WWW.Example.COM.:443/news").url
    'https://www.example.com/news'

or an endpoint that is not a web page: ``tcp://HOST:PORT`` (does it connect?) or
``tls://HOST:PORT`` (does a TLS handshake with HOST as SNI verify?), the way
messaging apps reach their servers.

Files hold either one target per line (``#`` starts a comment) or the Citizen Lab
test-lists CSV layout (header ``url,category_code,category_description,...``).
The built-in lists (``social``, ``news``, ``messaging``) are such CSV files,
shipped inside the package as ``netprobe/_lists``. A ``.toml`` file defines
services (:class:`Service`): apps checked through several endpoints, grouped in
parts (see ``targets/services.toml``); its services join the list it names.

Errors: :class:`TargetError` for a bad target, and its subclass
:class:`TargetListError` for a bad file, which names the file and line.
"""

from __future__ import annotations

import csv
import functools
import io
import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

__all__ = [
    "Part",
    "Service",
    "Target",
    "TargetError",
    "TargetListError",
    "builtin_lists",
    "builtin_services",
    "dedupe",
    "load_builtin",
    "load_file",
    "load_services",
    "parse_target",
    "select",
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


class TargetError(ValueError):
    """A target (or a list of targets) cannot be used; ``str()`` is one line for humans."""


class TargetListError(TargetError):
    """A target file cannot be read or holds a bad entry.

    ``str()`` is ``PATH:LINE: reason`` (``PATH: reason`` when no line applies).
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {reason}")


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
    except _Invalid as exc:
        shown = stripped if len(stripped) <= _MAX_SHOWN else stripped[: _MAX_SHOWN - 1] + "…"
        # repr() keeps the message on one line whatever the input holds.
        raise TargetError(f"invalid target {shown!r}: {exc}") from None


def load_file(path: str | os.PathLike[str]) -> list[Target]:
    """Read targets from a file: one URL per line, or the test-lists CSV layout.

    The CSV layout is recognised by its header (first non-empty line starting
    with ``url,``); ``category_code`` then fills :attr:`Target.category`. In the
    plain layout blank lines and ``#`` comments (whole-line, or after a space)
    are ignored. UTF-8, with or without BOM. Duplicates are kept (see
    :func:`dedupe`). Raises :class:`TargetListError`.
    """
    shown = os.fspath(path)
    if shown.endswith(".toml"):
        return [target for service in load_services(shown) for target in service.targets]
    try:
        data = Path(shown).read_bytes()
    except OSError as exc:
        raise TargetListError(shown, None, _os_reason(exc)) from exc
    return _parse_document(data, shown, Path(shown).stem)


def load_services(path: str | os.PathLike[str]) -> list[Service]:
    """The services a TOML file defines (format: ``targets/services.toml``).

    Services join the list their ``list`` key names (default: the file's stem).
    Raises :class:`TargetListError`.
    """
    shown = os.fspath(path)
    try:
        data = Path(shown).read_bytes()
    except OSError as exc:
        raise TargetListError(shown, None, _os_reason(exc)) from exc
    return _parse_services(data, shown, Path(shown).parent, Path(shown).stem)


@functools.cache
def _builtin_services() -> tuple[Service, ...]:
    folder = _lists_folder()
    entry = folder / "services.toml"
    if not entry.is_file():
        return ()
    # Pinned CA files sit beside the definitions; as_file gives them a real path in a wheel.
    with as_file(folder) as where:
        return tuple(_parse_services(entry.read_bytes(), str(entry), Path(where), "messaging"))


def builtin_services() -> list[Service]:
    """The services defined with the built-in lists."""
    return list(_builtin_services())


@functools.cache
def _builtin() -> dict[str, tuple[Target, ...]]:
    lists: dict[str, list[Target]] = {}
    # Service endpoints first, so that a URL that is also a plain row keeps its service.
    for service in _builtin_services():
        lists.setdefault(service.list_name, []).extend(service.targets)
    folder = _lists_folder()
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv"):
            name = entry.name.removesuffix(".csv")
            lists.setdefault(name, []).extend(_parse_document(entry.read_bytes(), str(entry), name))
    return {name: tuple(dedupe(lists[name])) for name in sorted(lists)}


def builtin_lists() -> dict[str, list[Target]]:
    """Every built-in list by name, names sorted."""
    return {name: list(targets) for name, targets in _builtin().items()}


def load_builtin(name: str) -> list[Target]:
    """One built-in list; :class:`TargetError` naming the available lists if unknown."""
    lists = _builtin()
    if name not in lists:
        raise TargetError(f"unknown built-in list {name!r} (available: {', '.join(lists)})")
    return list(lists[name])


def select(
    urls: Iterable[str], list_names: Iterable[str], files: Iterable[str]
) -> tuple[list[Target], list[Service]]:
    """What a run measures: URLs, built-in lists and files (every built-in list when all
    three are empty), duplicates dropped; and the services their endpoints belong to.

    Raises :class:`TargetError` (:class:`TargetListError` for a file).
    """
    urls, list_names, files = list(urls), list(list_names), list(files)
    chosen = list_names if (urls or list_names or files) else list(_builtin())
    targets = [parse_target(u) for u in urls]
    services = [s for s in _builtin_services() if s.list_name in chosen]
    for name in chosen:
        targets.extend(load_builtin(name))
    for path in files:
        if path.endswith(".toml"):
            defined = load_services(path)
            services.extend(defined)
            targets.extend(t for service in defined for t in service.targets)
        else:
            targets.extend(load_file(path))
    return dedupe(targets), services


def dedupe(targets: Iterable[Target]) -> list[Target]:
    """Drop targets whose URL was already seen; the first one wins, order is kept."""
    seen: set[str] = set()
    unique: list[Target] = []
    for target in targets:
        if target.url not in seen:
            seen.add(target.url)
            unique.append(target)
    return unique


class _Invalid(Exception):
    """Why a target is invalid; turned into :class:`TargetError` with the input shown."""


def _parse(text: str, list_name: str | None, category: str | None) -> Target:
    if not text:
        raise _Invalid("empty target")
    if any(_is_control(ch) for ch in text):
        raise _Invalid("control characters are not allowed")
    if any(ch.isspace() for ch in text):
        raise _Invalid("spaces are not allowed")
    found = _SCHEME_RE.match(text)
    if found is None and _HALF_SCHEME_RE.match(text):
        raise _Invalid("expected // after the scheme (https://host/…)")
    if found is None:
        text = "https://" + text
    elif found.group(1).lower() in _ENDPOINT_SCHEMES:
        endpoint: Scheme = "tcp" if found.group(1).lower() == "tcp" else "tls"
        return _parse_endpoint(endpoint, text[found.end() :], list_name, category)
    elif found.group(1).lower() not in _DEFAULT_PORTS:
        raise _Invalid(
            f"unsupported scheme {found.group(1).lower()}:// "
            "(http://, https://, tcp://HOST:PORT or tls://HOST:PORT)"
        )
    scheme: Scheme = "http" if text[:5].lower() == "http:" else "https"
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # urlsplit checks bracketed hosts itself
        reason = "invalid IPv6 address" if "[" in text else f"invalid URL ({exc})"
        raise _Invalid(reason) from None
    if "@" in parts.netloc:
        raise _Invalid("credentials (user@host) are not allowed")
    host_text, port_text = _split_netloc(parts.netloc)
    port = _parse_port(port_text, scheme)
    url_host, domain = _parse_host(host_text)
    netloc = url_host if port == _DEFAULT_PORTS[scheme] else f"{url_host}:{port}"
    try:
        path = quote(parts.path, safe=_URL_SAFE) or "/"
        query = quote(parts.query, safe=_URL_SAFE)
    except UnicodeEncodeError:  # a byte that is no UTF-8, as Python passes it in argv
        raise _Invalid("the path or query is not valid UTF-8") from None
    url = f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
    return Target(url, domain, scheme, port, list_name, category)


def _parse_endpoint(
    scheme: Scheme, rest: str, list_name: str | None, category: str | None
) -> Target:
    """``tcp://HOST:PORT`` or ``tls://HOST:PORT``: a host (or address) and a port, no path."""
    netloc, _, path = rest.partition("/")
    if path or "?" in netloc or "#" in netloc:
        raise _Invalid(f"{scheme}:// targets are HOST:PORT, without a path")
    if "@" in netloc:
        raise _Invalid("credentials (user@host) are not allowed")
    host_text, port_text = _split_netloc(netloc)
    if not port_text:
        raise _Invalid(f"{scheme}:// needs a port ({scheme}://HOST:PORT)")
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
            raise _Invalid("unclosed [ in IPv6 address")
        rest = netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _Invalid(f"unexpected {rest!r} after IPv6 address")
        return netloc[: end + 1], rest[1:] if rest else None
    if netloc.count(":") > 1:
        raise _Invalid("IPv6 addresses must be written in brackets: [2001:db8::1]")
    host, colon, port = netloc.partition(":")
    return host, port if colon else None


def _parse_port(text: str | None, scheme: str) -> int:
    if not text:
        return _DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()):
        raise _Invalid(f"invalid port {text!r}")
    # The length test first: int() refuses strings of thousands of digits.
    if len(text) > 5 or not 1 <= int(text) <= 65535:
        shown = text if len(text) <= 10 else text[:10] + "…"
        raise _Invalid(f"port {shown} is out of range (1-65535)")
    return int(text)


def _parse_host(text: str) -> tuple[str, str]:
    """The host as written in the normalised URL, and as a bare domain/address."""
    if text.startswith("["):
        if "%" in text:
            raise _Invalid("IPv6 zone identifiers are not supported")
        try:
            v6 = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise _Invalid(f"invalid IPv6 address {text[1:-1]!r}") from None
        return f"[{v6.compressed}]", v6.compressed
    host = text[:-1] if text.endswith(".") else text
    if not host:
        raise _Invalid("missing host")
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
        raise _Invalid(f"invalid internationalised domain name ({exc})") from None


def _check_domain(domain: str) -> None:
    if len(domain) > 253:
        raise _Invalid("host name is longer than 253 characters")
    labels = domain.split(".")
    for label in labels:
        if not label:
            raise _Invalid("empty label in host name")
        if len(label) > 63:
            raise _Invalid(f"label {label[:20]}… is longer than 63 characters")
        if label.startswith("-") or label.endswith("-"):
            raise _Invalid(f"label {label!r} starts or ends with a hyphen")
        if not _LABEL_RE.fullmatch(label):
            raise _Invalid(f"label {label!r} has characters not allowed in a host name")
        if label.startswith("xn--"):
            _check_a_label(label)
    # Browsers read a host ending in a number as an IPv4 address ("127.1"), so
    # it must be a valid one: it was not, or IPv4Address would have taken it.
    if labels[-1].isdigit():
        raise _Invalid(f"invalid IPv4 address {domain!r}")


def _check_a_label(label: str) -> None:
    import idna

    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        raise _Invalid(f"label {label!r} is not valid punycode") from None


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def _parse_document(data: bytes, path: str, list_name: str) -> list[Target]:
    if b"\x00" in data:
        raise TargetListError(path, None, "not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start]
        raise TargetListError(path, line, f"not valid UTF-8 (byte 0x{bad:02x})") from None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.lower().startswith("url,"):
        targets = _parse_csv(text, path, list_name)
    else:
        targets = _parse_lines(text, path, list_name)
    if not targets:
        raise TargetListError(path, None, "no targets in file")
    return targets


def _parse_lines(text: str, path: str, list_name: str) -> list[Target]:
    targets: list[Target] = []
    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        line = re.split(r"\s#", raw, maxsplit=1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            targets.append(parse_target(line, list_name=list_name))
        except TargetError as exc:
            raise TargetListError(path, number, str(exc)) from None
    return targets


def _parse_csv(text: str, path: str, list_name: str) -> list[Target]:
    reader = csv.reader(io.StringIO(text, newline=""))
    targets: list[Target] = []
    category_column: int | None = None
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if category_column is None and not targets and row[0].strip().lower() == "url":
                names = [cell.strip().lower() for cell in row]
                category_column = names.index("category_code") if "category_code" in names else -1
                continue
            url = row[0].strip()
            if not url:
                raise TargetListError(path, reader.line_num, "missing url")
            category = None
            if category_column is not None and 0 <= category_column < len(row):
                category = row[category_column].strip() or None
            try:
                targets.append(parse_target(url, list_name=list_name, category=category))
            except TargetError as exc:
                raise TargetListError(path, reader.line_num, str(exc)) from None
    except csv.Error as exc:
        raise TargetListError(path, reader.line_num, f"malformed CSV ({exc})") from None
    return targets


def _parse_services(data: bytes, path: str, folder: Path, default_list: str) -> list[Service]:
    import tomllib  # only service files need it

    try:
        document = tomllib.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TargetListError(path, None, f"not a valid TOML services file ({exc})") from None
    table = document.get("services")
    if not isinstance(table, dict) or not table:
        raise TargetListError(path, None, "no [services.NAME] tables")
    services: list[Service] = []
    for service_id, spec in table.items():
        try:
            services.append(_service(service_id, spec, folder, default_list))
        except (_Invalid, TargetError) as exc:
            raise TargetListError(path, None, f"service {service_id!r}: {exc}") from None
    return services


def _service(service_id: str, spec: object, folder: Path, default_list: str) -> Service:
    if not isinstance(spec, dict):
        raise _Invalid("expected a table")
    name, list_name = spec.get("name", service_id), spec.get("list", default_list)
    category, asns, ca = spec.get("category"), spec.get("asns", []), spec.get("ca")
    if not isinstance(name, str) or not isinstance(list_name, str):
        raise _Invalid("name and list must be strings")
    if category is not None and not isinstance(category, str):
        raise _Invalid("category must be a string")
    if not isinstance(asns, list) or not all(isinstance(a, int) and a > 0 for a in asns):
        raise _Invalid("asns must be a list of AS numbers")
    extra_ca = None
    if ca is not None:
        if not isinstance(ca, str) or not (folder / ca).is_file():
            raise _Invalid(f"ca {ca!r} is not a file (paths are relative to the services file)")
        extra_ca = str((folder / ca).resolve())
    parts_spec = spec.get("parts")
    if not isinstance(parts_spec, list) or not parts_spec:
        raise _Invalid("needs parts = [{ name = ..., endpoints = [...] }, ...]")
    parts: list[Part] = []
    targets: dict[str, Target] = {}
    for part in parts_spec:
        endpoints = part.get("endpoints") if isinstance(part, dict) else None
        part_name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(part_name, str) or not isinstance(endpoints, list) or not endpoints:
            raise _Invalid("each part needs a name and a non-empty list of endpoints")
        urls = []
        for text in endpoints:
            if not isinstance(text, str):
                raise _Invalid(f"part {part_name!r}: endpoints must be strings")
            target = replace(
                parse_target(text, list_name=list_name, category=category),
                service=service_id,
                expected_asns=frozenset(asns),
                extra_ca=extra_ca,
            )
            targets.setdefault(target.url, target)
            urls.append(target.url)
        parts.append(Part(part_name, tuple(urls)))
    return Service(service_id, name, list_name, category, tuple(parts), tuple(targets.values()))


def _lists_folder() -> Traversable:
    # Installed wheel: targets/ ships as netprobe/_lists. Source checkout or
    # editable install: the repository's targets/ next to the package.
    packaged = files("netprobe") / "_lists"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "targets"
