"""The local ASN data: an IPASN file for pyasn and an AS names file next to it.

    db = load_ipasn(default_db_path())       # raises ASNDatabaseError, one line
    names = load_asnames(asnames_path(path))  # {15169: "GOOGLE - Google LLC, US"}
    split_asname(names[15169])                # ("GOOGLE - Google LLC", "US")

The IPASN file is pyasn's text format (``; comments`` then ``prefix<TAB>asn`` lines,
optionally gzipped); ``netprobe asn update`` builds both files from a RouteViews RIB dump
and the CIDR report's AS list.

Exceptions::

    ASNError                the ASN data cannot be had; str() is one line, fit for users
    ├── ASNDatabaseError    a data file is missing or unreadable
    └── ASNUpdateError      downloading or converting the data failed
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

from netprobe.errors import ASNDatabaseError

__all__ = [
    "ASNDatabaseError",
    "asnames_path",
    "default_db_path",
    "load_asnames",
    "load_ipasn",
    "split_asname",
]

IPASN_NAME = "ipasn.dat"
ASNAMES_NAME = "asnames.json"

_FIX = "run 'netprobe asn update' or pass --asn-db PATH"
_NAME_AND_CC = re.compile(r"(?P<name>.*?),\s*(?P<cc>[A-Z]{2})")


def default_db_path() -> Path:
    """``$XDG_CACHE_HOME/netprobe/ipasn.dat``, else ``~/.cache/netprobe/ipasn.dat``."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path.
    root = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return root / "netprobe" / IPASN_NAME


def asnames_path(db_path: str | os.PathLike[str]) -> Path:
    """Where the AS names of an IPASN file live: ``asnames.json`` in the same directory."""
    return Path(db_path).with_name(ASNAMES_NAME)


def load_ipasn(path: str | os.PathLike[str]) -> Any:
    """A ``pyasn.pyasn`` database of ``path``; raises :class:`ASNDatabaseError`."""
    import pyasn

    file = Path(path)
    if not file.exists():
        raise ASNDatabaseError(f"no IPASN data file at {file}: {_FIX}")
    # pyasn's C loader reads a directory or a file of NULs as an empty database.
    if not file.is_file():
        raise ASNDatabaseError(f"IPASN data file {file} is not a file: {_FIX}")
    try:
        db = pyasn.pyasn(str(file))
    except (OSError, RuntimeError, ValueError, EOFError) as exc:
        # RuntimeError: a bad line; OSError, EOFError, ValueError: unreadable, broken gzip.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ASNDatabaseError(f"IPASN data file {file} is unreadable ({reason}): {_FIX}") from None
    if next(iter(db.radix), None) is None:
        raise ASNDatabaseError(f"IPASN data file {file} holds no prefixes: {_FIX}")
    return db


def load_asnames(path: str | os.PathLike[str]) -> dict[int, str]:
    """``{ASN: "NAME - description, CC"}`` from a pyasn AS names JSON file.

    Entries that are not a number and a string are skipped; a file that is not a JSON
    object raises :class:`ASNDatabaseError`.
    """
    file = Path(path)
    try:
        opener = gzip.open if file.name.endswith(".gz") else open
        with opener(file, "rt", encoding="utf-8") as stream:
            data = json.load(stream)
    except (OSError, EOFError, ValueError) as exc:  # ValueError: bad JSON or UTF-8
        if isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = "not JSON" if isinstance(exc, ValueError) else "broken gzip file"
        raise ASNDatabaseError(
            f"AS names file {file} is unreadable ({reason}): run 'netprobe asn update'"
        ) from None
    if not isinstance(data, dict):
        raise ASNDatabaseError(
            f"AS names file {file} is not a JSON object: run 'netprobe asn update'"
        )
    return {
        int(key): value.strip()
        for key, value in data.items()
        if key.isascii() and key.isdigit() and isinstance(value, str) and value.strip()
    }


def split_asname(value: str | None) -> tuple[str | None, str | None]:
    """``"NAME - description, CC"`` as ``("NAME - description", "CC")``.

    Without a two-letter country suffix the whole text is the name; empty gives Nones.
    """
    text = (value or "").strip()
    match = _NAME_AND_CC.fullmatch(text)
    if match is None:
        return text or None, None
    return match["name"].strip() or None, match["cc"]
