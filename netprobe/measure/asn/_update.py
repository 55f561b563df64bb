"""Build the local ASN data: a RouteViews RIB dump to pyasn's IPASN file, and AS names.

    result = update_database(progress=lambda done, total: ..., stage=print)
    result.db_path  # ~/.cache/netprobe/ipasn.dat

The newest RIB dump of RouteViews' route-views2 collector is found the way pyasn's
``pyasn_util_download.py --download_http`` finds it: list this month's ``RIBS/`` directory
(last month's when this one has no dump yet) and take the newest ``rib.YYYYMMDD.HHMM.bz2``.
The dump (MRT TABLE_DUMP_V2, bzip2, gzip or plain) is converted with pyasn's own MRT
parser (``pyasn.mrtx``, as ``pyasn_util_convert.py --single`` does). AS names are scraped
from the CIDR report's ``autnums.html``, like ``pyasn_util_asnames.py``. Files are replaced
atomically, and only once the new ones are complete and load.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import html
import io
import json
import os
import re
import ssl
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from netprobe.errors import ASNDatabaseError, ASNUpdateError
from netprobe.measure.asn._data import ASNAMES_NAME, IPASN_NAME, default_db_path, load_ipasn
from netprobe.output._files import write_atomically

if TYPE_CHECKING:
    import httpx
    from _typeshed import WriteableBuffer

__all__ = ["ASNAMES_URL", "ROUTEVIEWS_ARCHIVE", "UpdateResult", "parse_autnums", "update_database"]

ROUTEVIEWS_ARCHIVE = "https://archive.routeviews.org/route-views2/bgpdata/"
"""route-views2's MRT archive; RouteViews renamed it from ``/bgpdata/`` in July 2026."""

ASNAMES_URL = "https://www.cidr-report.org/as2.0/autnums.html"

Progress = Callable[[int, int | None], None]
"""``progress(done, total)``: bytes of the current stage done, and in all (None: unknown)."""

_RIB_NAME = re.compile(r"rib\.\d{8}\.\d{4}\.bz2")
# One line per AS: <a href="/cgi-bin/as-report?as=AS3333&view=2.0">AS3333 </a> RIPE-NCC-AS ...
_AUTNUM_LINE = re.compile(r"<a [^>]*>\s*AS(?P<asn>\d+)\s*</a>\s*(?P<name>.*)", re.IGNORECASE)
_MAX_NAMES_PAGE = 64 << 20
_PROGRESS_STEP = 1 << 20


@dataclass(frozen=True, slots=True)
class UpdateResult:
    db_path: Path
    names_path: Path | None
    """None when the AS names could not be updated (``note`` says why)."""
    rib_url: str
    prefixes_v4: int
    prefixes_v6: int
    as_names: int
    note: str | None


def update_database(
    dest_dir: str | os.PathLike[str] | None = None,
    *,
    rib_url: str | None = None,
    names_url: str | None = None,
    archive_url: str = ROUTEVIEWS_ARCHIVE,
    progress: Progress | None = None,
    stage: Callable[[str], None] | None = None,
    verify: ssl.SSLContext | None = None,
    timeout: float = 60.0,
) -> UpdateResult:
    """Download a RIB dump and the AS names; write ``ipasn.dat`` and ``asnames.json``.

    ``dest_dir`` defaults to the directory of :func:`default_db_path`. ``rib_url`` names the
    dump (e.g. RIPE RIS's ``https://data.ris.ripe.net/rrc00/latest-bview.gz``); by default
    the newest one under ``archive_url`` is found. ``stage`` gets a line of text as each
    stage starts, ``progress`` its bytes (downloaded, then converted). ``timeout`` bounds
    each network wait, not the whole download. Failing to get the AS names is not fatal
    (the old file stays, ``note`` says why); anything else raises :class:`ASNUpdateError`,
    leaving the old files as they were.
    """
    import httpx

    from netprobe import __version__
    from netprobe.measure.steps.tls import make_verify_context

    dest = Path(dest_dir) if dest_dir is not None else default_db_path().parent
    report = stage or (lambda _text: None)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with (
            httpx.Client(
                verify=verify or make_verify_context(None),
                trust_env=False,
                timeout=timeout,
                follow_redirects=True,
                # Files as they are: progress then counts the bytes of Content-Length.
                headers={"User-Agent": f"netprobe/{__version__}", "Accept-Encoding": "identity"},
            ) as client,
            tempfile.TemporaryDirectory(prefix=".netprobe-update-", dir=dest) as work,
        ):
            url = rib_url or _latest_rib_url(client, archive_url, datetime.now(UTC))
            rib = Path(work) / "rib"
            report(f"downloading {url}")
            with rib.open("wb") as out:
                _download(client, url, out, progress)
            report("converting the RIB dump to IPASN data")
            prefixes = _convert(rib, url, progress)
            staged_db = Path(work) / IPASN_NAME
            _write_ipasn(prefixes, staged_db, url)
            os.replace(staged_db, dest / IPASN_NAME)

            names_source = names_url or ASNAMES_URL
            report(f"downloading AS names from {names_source}")
            note: str | None = None
            try:
                names = _download_names(client, names_source, progress)
            except ASNUpdateError as exc:
                names, note = {}, f"AS names not updated: {exc}"
            else:
                write_atomically(dest / ASNAMES_NAME, _names_json(names))
    except OSError as exc:
        where = exc.filename or dest
        raise ASNUpdateError(f"cannot write in {where}: {exc.strerror or exc}") from exc
    v6 = sum(1 for prefix in prefixes if ":" in prefix)
    return UpdateResult(
        db_path=dest / IPASN_NAME,
        names_path=dest / ASNAMES_NAME if names else None,
        rib_url=url,
        prefixes_v4=len(prefixes) - v6,
        prefixes_v6=v6,
        as_names=len(names),
        note=note,
    )


def parse_autnums(page: str) -> dict[int, str]:
    """``{ASN: "NAME - description, CC"}`` from the CIDR report's ``autnums.html``."""
    names: dict[int, str] = {}
    for line in page.splitlines():
        match = _AUTNUM_LINE.match(line.strip())
        if match is not None:
            name = " ".join(html.unescape(re.sub(r"<[^>]*>", "", match["name"])).split())
            if name:
                names[int(match["asn"])] = name
    return names


def _latest_rib_url(client: httpx.Client, archive_url: str, now: datetime) -> str:
    """The newest RIB dump of this month, or of last month early in a month."""
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y.%m")
    listings = [
        urllib.parse.urljoin(archive_url.rstrip("/") + "/", f"{month}/RIBS/")
        for month in (now.strftime("%Y.%m"), last_month)
    ]
    for listing in listings:
        with _network_errors(listing):
            response = client.get(listing)
        if response.status_code == 404:
            continue
        if response.status_code != 200:
            raise ASNUpdateError(f"cannot list {listing}: HTTP status {response.status_code}")
        names: list[str] = _RIB_NAME.findall(response.text)
        if names:
            return urllib.parse.urljoin(listing, max(names))
    raise ASNUpdateError(f"no RIB dump found in {' or '.join(listings)}: give the dump's URL")


def _download(
    client: httpx.Client,
    url: str,
    out: IO[bytes],
    progress: Progress | None,
    cap: int | None = None,
) -> None:
    with _network_errors(url), client.stream("GET", url) as response:
        if response.status_code != 200:
            raise ASNUpdateError(f"cannot download {url}: HTTP status {response.status_code}")
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        done = 0
        # Raw: a server may label a .gz file gzip-encoded; the bytes are the file either way.
        for chunk in response.iter_raw():
            out.write(chunk)
            done += len(chunk)
            if cap is not None and done > cap:
                raise ASNUpdateError(f"cannot download {url}: larger than {cap >> 20} MiB")
            if progress:
                progress(done, total)


@contextlib.contextmanager
def _network_errors(url: str) -> Iterator[None]:
    import httpx

    from netprobe.measure.steps._errors import failure_from_exception

    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ASNUpdateError(f"cannot download {url}: {failure_from_exception(exc)}") from exc


def _convert(rib: Path, url: str, progress: Progress | None) -> dict[str, int]:
    """``{prefix: origin ASN}`` from an MRT RIB dump, compressed or not."""
    from pyasn import mrtx

    with rib.open("rb") as raw:
        magic = raw.read(3)
        raw.seek(0)
        counted = _CountingReader(raw, rib.stat().st_size, progress)
        stream: io.BufferedIOBase
        if magic.startswith(b"BZh"):
            stream = bz2.BZ2File(counted)
        elif magic.startswith(b"\x1f\x8b"):
            stream = gzip.GzipFile(fileobj=counted)
        else:
            # Buffered: mrtx expects read(n) to return n bytes until the end of the file.
            stream = io.BufferedReader(counted)
        try:
            parsed = mrtx.parse_mrt_file(stream, print_progress=False, skip_record_on_error=True)
        except Exception as exc:  # mrtx asserts, and raises struct, bz2 and gzip errors
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ASNUpdateError(
                f"cannot convert {url}: not a readable MRT TABLE_DUMP_V2 RIB dump ({reason})"
            ) from exc
    if not parsed:
        raise ASNUpdateError(f"cannot convert {url}: the RIB dump holds no routes")
    # An AS_SET origin comes as a set, of which mrtx would write an arbitrary member.
    # Replaced in place: a full table has a million prefixes.
    for prefix, origin in parsed.items():
        if isinstance(origin, set):
            parsed[prefix] = min(origin)
    prefixes: dict[str, int] = parsed
    return prefixes


class _CountingReader(io.RawIOBase):
    """A binary file that reports how much of it has been read."""

    def __init__(self, raw: io.BufferedReader, total: int, progress: Progress | None) -> None:
        super().__init__()
        self._raw, self._total, self._progress = raw, total, progress
        self._done = self._reported = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        count = self._raw.readinto(buffer)
        self._done += count
        # Report every MiB, not every read: a plain dump is read record by record.
        if self._progress and (self._done - self._reported >= _PROGRESS_STEP or not count):
            self._reported = self._done
            self._progress(self._done, self._total)
        return count


def _write_ipasn(prefixes: dict[str, int], path: Path, source: str) -> None:
    from pyasn import mrtx

    # mrtx writes the header comment in ASCII.
    mrtx.dump_prefixes_to_file(prefixes, str(path), source.encode("ascii", "replace").decode())
    try:
        load_ipasn(path)  # what pyasn cannot load must not replace a working file
    except ASNDatabaseError as exc:
        raise ASNUpdateError(f"the IPASN data converted from {source} does not load") from exc
    _fsync(path)


def _download_names(client: httpx.Client, url: str, progress: Progress | None) -> dict[int, str]:
    page = io.BytesIO()
    _download(client, url, page, progress, cap=_MAX_NAMES_PAGE)
    body = page.getvalue()
    # Raw bytes: a server that gzips the page although asked not to still gets read.
    if body.startswith(b"\x1f\x8b"):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise ASNUpdateError(f"cannot read {url}: broken gzip encoding") from exc
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:  # the page was long served as Latin-1
        text = body.decode("latin-1")
    names = parse_autnums(text)
    if not names:
        raise ASNUpdateError(f"no AS names found in {url}")
    return names


def _names_json(names: dict[int, str]) -> bytes:
    document = {str(asn): names[asn] for asn in sorted(names)}
    return json.dumps(document, ensure_ascii=False, indent=0).encode("utf-8")


def _fsync(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())
