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
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import replace
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

from netprobe.errors import TargetError, TargetListError
from netprobe.model.targets import InvalidTarget, Part, Service, Target, parse_target

__all__ = [
    "builtin_lists",
    "builtin_services",
    "dedupe",
    "load_builtin",
    "load_file",
    "load_services",
    "select",
]


log = logging.getLogger(__name__)


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
        targets.extend(_named_list(name))
    for path in files:
        if path.endswith(".toml"):
            defined = load_services(path)
            services.extend(defined)
            targets.extend(t for service in defined for t in service.targets)
        else:
            targets.extend(load_file(path))
    return dedupe(targets), services


def _named_list(name: str) -> list[Target]:
    """A built-in list, else a downloaded test list (``global``, a country code)."""
    if name in _builtin() or not _TEST_LIST_NAME.fullmatch(name):
        return load_builtin(name)
    import netprobe.measure.testlists as testlists

    targets, skipped = testlists.load(name.lower())
    if skipped:
        log.warning("%d rows of the %s test list skipped, the first: %s", len(skipped), name,
                    skipped[0])  # fmt: skip
    hint = testlists.hint_if_stale([testlists.downloaded()[name.lower()]])
    if hint:
        log.warning("%s", hint)
    return targets


_TEST_LIST_NAME = re.compile(r"global|[A-Za-z]{2}")


def dedupe(targets: Iterable[Target]) -> list[Target]:
    """Drop targets whose URL was already seen; the first one wins, order is kept."""
    seen: set[str] = set()
    unique: list[Target] = []
    for target in targets:
        if target.url not in seen:
            seen.add(target.url)
            unique.append(target)
    return unique


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
        except (InvalidTarget, TargetError) as exc:
            raise TargetListError(path, None, f"service {service_id!r}: {exc}") from None
    return services


def _service(service_id: str, spec: object, folder: Path, default_list: str) -> Service:
    if not isinstance(spec, dict):
        raise InvalidTarget("expected a table")
    name, list_name = spec.get("name", service_id), spec.get("list", default_list)
    category, asns, ca = spec.get("category"), spec.get("asns", []), spec.get("ca")
    if not isinstance(name, str) or not isinstance(list_name, str):
        raise InvalidTarget("name and list must be strings")
    if category is not None and not isinstance(category, str):
        raise InvalidTarget("category must be a string")
    if not isinstance(asns, list) or not all(isinstance(a, int) and a > 0 for a in asns):
        raise InvalidTarget("asns must be a list of AS numbers")
    extra_ca = None
    if ca is not None:
        if not isinstance(ca, str) or not (folder / ca).is_file():
            raise InvalidTarget(
                f"ca {ca!r} is not a file (paths are relative to the services file)"
            )
        extra_ca = str((folder / ca).resolve())
    parts_spec = spec.get("parts")
    if not isinstance(parts_spec, list) or not parts_spec:
        raise InvalidTarget("needs parts = [{ name = ..., endpoints = [...] }, ...]")
    parts: list[Part] = []
    targets: dict[str, Target] = {}
    for part in parts_spec:
        endpoints = part.get("endpoints") if isinstance(part, dict) else None
        part_name = part.get("name") if isinstance(part, dict) else None
        if not isinstance(part_name, str) or not isinstance(endpoints, list) or not endpoints:
            raise InvalidTarget("each part needs a name and a non-empty list of endpoints")
        urls = []
        for text in endpoints:
            if not isinstance(text, str):
                raise InvalidTarget(f"part {part_name!r}: endpoints must be strings")
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
    package = files("netprobe")
    packaged = package / "_lists"
    if packaged.is_dir():
        return packaged
    return Path(str(package)).resolve().parent / "targets"
