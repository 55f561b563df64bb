"""The fingerprint data files, loaded once and compiled into lookup tables."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, cast, get_args

from netprobe.analysis.fingerprints._names import parse_name

__all__ = [
    "DATA_FILES",
    "BodyRule",
    "Database",
    "Fingerprint",
    "HeaderRule",
    "Kind",
    "database",
    "normalise_address",
]

Kind = Literal["body", "header", "location", "status", "dns", "issuer", "certificate"]
Part = Literal["body", "title", "small_body"]

DATA_FILES = ("blockpages.json", "interception_roots.json")

_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a fingerprint id stands for."""

    id: str
    """Stable id: ``<country>.<operator>.<what>``, ``generic.<language>.<what>``,
    ``product.<vendor>.<what>`` or ``http.451``."""
    country: str | None
    """ISO 3166 alpha-2 code where it is seen, ``None`` for generic signs."""
    kind: Kind
    pattern: str
    description: str
    source: str
    """Where the fact comes from (URL or citation) and, for reused data, its licence."""


@dataclass(frozen=True, slots=True)
class HeaderRule:
    fid: str
    header: str
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class BodyRule:
    fid: str
    part: Part
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Database:
    info: Mapping[str, Fingerprint]
    """Every fingerprint by id, in file order."""
    headers: tuple[HeaderRule, ...]
    locations: Mapping[str, tuple[tuple[str, str], ...]]
    """Host → ``(path prefix, id)`` pairs, in file order."""
    bodies: tuple[BodyRule, ...]
    statuses: Mapping[int, str]
    addresses: Mapping[str, str]
    issuers: tuple[tuple[frozenset[tuple[str, str]], str], ...]
    """Attributes an issuer must all have, and the id."""
    certificates: Mapping[str, str]


def normalise_address(text: str) -> str | None:
    """Canonical form of an IP address (IPv4-mapped IPv6 as IPv4); ``None`` if not one."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@functools.cache
def database() -> Database:
    """Load and compile the data files (once)."""
    info: dict[str, Fingerprint] = {}
    headers: list[HeaderRule] = []
    locations: dict[str, list[tuple[str, str]]] = {}
    bodies: list[BodyRule] = []
    statuses: dict[int, str] = {}
    addresses: dict[str, str] = {}
    issuers: list[tuple[frozenset[tuple[str, str]], str]] = []
    certificates: dict[str, str] = {}
    for name in DATA_FILES:
        text = (files(__package__) / name).read_text(encoding="utf-8")
        for entry in json.loads(text)["fingerprints"]:
            fp = _fingerprint(entry, name)
            if fp.id in info:
                raise ValueError(f"{name}: duplicate fingerprint id {fp.id!r}")
            info[fp.id] = fp
            if fp.kind == "header":
                headers.append(HeaderRule(fp.id, str(entry["header"]).lower(), _regex(entry)))
            elif fp.kind == "body":
                bodies.append(BodyRule(fp.id, _part(entry, name), _regex(entry)))
            elif fp.kind == "location":
                host, rest = _split_location(fp.pattern)
                locations.setdefault(host, []).append((rest, fp.id))
            elif fp.kind == "status":
                statuses[int(fp.pattern)] = fp.id
            elif fp.kind == "dns":
                address = normalise_address(fp.pattern)
                if address is None:
                    raise ValueError(f"{name}: {fp.id}: not an IP address: {fp.pattern!r}")
                addresses[address] = fp.id
            elif fp.kind == "issuer":
                issuers.append((parse_name(fp.pattern), fp.id))
            else:
                if not _SHA256_RE.fullmatch(fp.pattern):
                    raise ValueError(f"{name}: {fp.id}: not a lower-case hex SHA-256")
                certificates[fp.pattern] = fp.id
    return Database(
        info=info,
        headers=tuple(headers),
        locations={host: tuple(rules) for host, rules in locations.items()},
        bodies=tuple(bodies),
        statuses=statuses,
        addresses=addresses,
        issuers=tuple(issuers),
        certificates=certificates,
    )


def _fingerprint(entry: Mapping[str, Any], name: str) -> Fingerprint:
    fid = entry.get("id")
    kind = entry.get("kind")
    country = entry.get("country")
    fields = (fid, entry.get("pattern"), entry.get("description"), entry.get("source"))
    if not all(isinstance(v, str) and v for v in fields):
        raise ValueError(f"{name}: entry {fid!r} needs id, pattern, description and source")
    if kind not in get_args(Kind):
        raise ValueError(f"{name}: {fid}: unknown kind {kind!r}")
    if country is not None and not (isinstance(country, str) and _COUNTRY_RE.fullmatch(country)):
        raise ValueError(f"{name}: {fid}: country must be an ISO code or null")
    return Fingerprint(
        id=entry["id"],
        country=country,
        kind=cast(Kind, kind),
        pattern=entry["pattern"],
        description=entry["description"],
        source=entry["source"],
    )


def _regex(entry: Mapping[str, Any]) -> re.Pattern[str]:
    pattern = str(entry["pattern"])
    flags = re.IGNORECASE if entry.get("ignore_case") else 0
    return re.compile(pattern if entry.get("regex") else re.escape(pattern), flags)


def _part(entry: Mapping[str, Any], name: str) -> Part:
    part = entry.get("part", "body")
    if part not in get_args(Part):
        raise ValueError(f"{name}: {entry['id']}: unknown part {part!r}")
    return cast(Part, part)


def _split_location(pattern: str) -> tuple[str, str]:
    """``host/path?query`` → (``host``, ``/path?query``)."""
    cut = min((i for i in (pattern.find("/"), pattern.find("?")) if i >= 0), default=len(pattern))
    return pattern[:cut].lower(), pattern[cut:]
