"""The Citizen Lab test lists, fetched for the user into the cache (never shipped: the data
is CC BY-NC-SA): ``lists/global.csv`` and ``lists/<cc>.csv`` of citizenlab/test-lists.

::

    outcomes = update(["global", "kz"])     # conditional GETs, atomic replaces
    downloaded()                            # {"global": Downloaded(path, fetched_at, ...)}
    targets, skipped = load("kz")          # rows that are no usable URL are skipped, said

A list is replaced only by a download that reads as a test list (UTF-8, the ``url,…``
header, CSV that parses, at least one usable URL); anything else leaves the old file and
says why, naming the line. ``If-None-Match`` / ``If-Modified-Since`` make an unchanged
list cost one round trip (304).
"""

from __future__ import annotations

import csv
import io
import json
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from netprobe.errors import TargetError, TargetListError
from netprobe.measure.asn import default_db_path
from netprobe.model.targets import Target, parse_target
from netprobe.output._files import write_atomically

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_SOURCE",
    "STALE_AFTER",
    "Downloaded",
    "Outcome",
    "downloaded",
    "hint_if_stale",
    "lists_dir",
    "load",
    "parse_test_list",
    "update",
]

DEFAULT_SOURCE: Final = "https://raw.githubusercontent.com/citizenlab/test-lists/master/lists/"
STALE_AFTER: Final = timedelta(days=30)
"""A list older than this gets a hint to update it."""
_MAX_BYTES: Final = 16 << 20
_CHUNK: Final = 64 << 10


def lists_dir() -> Path:
    """``test-lists/`` in netprobe's cache directory (beside the ASN data)."""
    return default_db_path().parent / "test-lists"


@dataclass(frozen=True, slots=True)
class Downloaded:
    name: str
    path: Path
    fetched_at: datetime
    """When it was last fetched or confirmed unchanged (a 304)."""
    rows: int

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - self.fetched_at

    @property
    def stale(self) -> bool:
        return self.age() > STALE_AFTER


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    status: Literal["updated", "unchanged", "failed"]
    detail: str
    """What happened, in a few words ("1,523 targets", "not modified", the error)."""


def downloaded(directory: Path | None = None) -> dict[str, Downloaded]:
    """The lists fetched so far, by name."""
    folder = directory or lists_dir()
    found: dict[str, Downloaded] = {}
    for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        csv_path = meta_path.with_suffix(".csv")
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            fetched = datetime.fromisoformat(meta["fetched_at"])
            rows = int(meta["rows"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged record is no list: the next update writes it again
        if csv_path.is_file():
            found[meta_path.stem] = Downloaded(meta_path.stem, csv_path, fetched, rows)
    return found


def load(name: str, directory: Path | None = None) -> tuple[list[Target], list[str]]:
    """A fetched list's targets, and a line per row that is no usable URL (skipped).

    Raises :class:`TargetError` when it was never fetched (saying how to fetch it), and
    :class:`TargetListError` when the file no longer reads as a list."""
    lists = downloaded(directory)
    if name not in lists:
        raise TargetError(
            f"the test list {name!r} has not been downloaded: run 'netprobe lists update"
            f"{'' if name == 'global' else ' --country ' + name.upper()}' (online)"
        )
    path = lists[name].path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TargetListError(str(path), None, exc.strerror or str(exc)) from None
    return parse_test_list(data, str(path), name)


def parse_test_list(data: bytes, path: str, name: str) -> tuple[list[Target], list[str]]:
    """Targets of a test-lists CSV and the rows skipped (``PATH:LINE: reason``); raises
    :class:`TargetListError` when the file is no test list at all."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TargetListError(path, line, "not valid UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    targets: list[Target] = []
    skipped: list[str] = []
    category: int | None = None
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if category is None:
                names = [cell.strip().lower() for cell in row]
                if not names or names[0] != "url":
                    raise TargetListError(path, reader.line_num, "no 'url,...' header")
                category = names.index("category_code") if "category_code" in names else -1
                continue
            code = row[category].strip() if 0 <= category < len(row) else ""
            try:
                targets.append(parse_target(row[0], list_name=name, category=code or None))
            except TargetError as exc:
                skipped.append(f"{path}:{reader.line_num}: {exc}")
    except csv.Error as exc:
        raise TargetListError(path, reader.line_num, f"not valid CSV ({exc})") from None
    if not targets:
        raise TargetListError(path, None, "no usable URL in the list")
    return targets, skipped


def update(
    names: Iterable[str],
    *,
    source: str = DEFAULT_SOURCE,
    verify: ssl.SSLContext | None = None,
    timeout: float = 30.0,
    progress: Callable[[str, int, int | None], None] | None = None,
    directory: Path | None = None,
) -> list[Outcome]:
    """Fetch each list (``global``, a country code) from ``source``; never raises for
    network or data trouble: each outcome says what happened."""
    import httpx

    folder = directory or lists_dir()
    base = source if source.endswith("/") else source + "/"
    outcomes = []
    with httpx.Client(
        timeout=timeout, verify=verify or True, follow_redirects=True, trust_env=True
    ) as client:
        for name in dict.fromkeys(n.lower() for n in names):
            outcomes.append(_fetch(client, base, name, folder, progress))
    return outcomes


def _fetch(
    client: httpx.Client,
    base: str,
    name: str,
    folder: Path,
    progress: Callable[[str, int, int | None], None] | None,
) -> Outcome:
    import httpx

    meta_path, csv_path = folder / f"{name}.json", folder / f"{name}.csv"
    headers = {"User-Agent": "netprobe"}
    previous = _meta(meta_path) if csv_path.is_file() else {}
    if previous.get("etag"):
        headers["If-None-Match"] = str(previous["etag"])
    if previous.get("last_modified"):
        headers["If-Modified-Since"] = str(previous["last_modified"])
    url = f"{base}{name}.csv"
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                _write_meta(meta_path, {**previous, "fetched_at": _now()})
                return Outcome(name, "unchanged", "not modified since the last download")
            if response.status_code != 200:
                return Outcome(name, "failed", f"{url} answered HTTP {response.status_code}")
            data = _read(response, name, progress)
    except httpx.HTTPError as exc:
        return Outcome(name, "failed", f"{url}: {exc or type(exc).__name__}")
    except _TooBig as exc:
        return Outcome(name, "failed", str(exc))
    try:
        targets, skipped = parse_test_list(data, url, name)
    except TargetListError as exc:
        return Outcome(name, "failed", f"{exc} (the list already here is kept)")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(csv_path, data)
    _write_meta(
        meta_path,
        {
            "source": url,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "fetched_at": _now(),
            "rows": len(targets),
        },
    )
    said = f"{len(targets)} targets" + (f", {len(skipped)} rows skipped" if skipped else "")
    return Outcome(name, "updated", said)


class _TooBig(Exception):
    pass


def _read(
    response: httpx.Response,
    name: str,
    progress: Callable[[str, int, int | None], None] | None,
) -> bytes:
    declared = response.headers.get("content-length")
    total = int(declared) if declared and declared.isdigit() else None
    data = bytearray()
    for chunk in response.iter_bytes(_CHUNK):
        data += chunk
        if len(data) > _MAX_BYTES:
            raise _TooBig(f"{name}: more than {_MAX_BYTES >> 20} MiB: no test list is that long")
        if progress is not None:
            progress(name, len(data), total)
    return bytes(data)


def _meta(path: Path) -> dict[str, object]:
    try:
        found = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_meta(path: Path, meta: dict[str, object]) -> None:
    write_atomically(path, (json.dumps(meta, indent=1) + "\n").encode("utf-8"))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def hint_if_stale(lists: Iterable[Downloaded]) -> str | None:
    """One line when a list in use is older than :data:`STALE_AFTER`."""
    old = [d for d in lists if d.stale]
    if not old:
        return None
    names = ", ".join(f"{d.name} ({d.age().days} days)" for d in old)
    return f"test lists older than {STALE_AFTER.days} days: {names}; run 'netprobe lists update'"
