"""The matchers: response → blockpage id, address → blockpage id, issuer → interception id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from netprobe.analysis.fingerprints._database import Fingerprint, database, normalise_address
from netprobe.analysis.fingerprints._names import parse_name
from netprobe.analysis.fingerprints._page import Page

__all__ = [
    "all_fingerprints",
    "blockpage_for_address",
    "fingerprint_info",
    "interception_certificate",
    "interception_issuer",
    "match_blockpage",
]


def match_blockpage(
    status: int | None,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    length: int | None = None,
    title: str | None = None,
) -> str | None:
    """Id of the first blockpage fingerprint the response matches, else ``None``.

    Checked in this order: header fingerprints, the ``Location`` redirect, links
    embedded in a small page (iframe, refresh), page text (specific fingerprints
    before generic wording), then the status code (451).

    Generic wording only counts in the ``<title>`` (the whole title must say it)
    or in a *small* page: at most 64 KiB (body and ``Content-Length``) and 4096
    characters of visible text. Blockpages are that small; an article that
    merely reports on blocking is not, so quoting a blockpage's words does not
    make it one. Pass the whole body as read (up to the read cap), or its first
    :data:`SMALL_BODY_BYTES` and the ``length`` of all that was read: a prefix of
    a long page without ``Content-Length`` looks small otherwise. ``title``: the page's
    title as read already (an excerpt of a long page may not hold it).

    Never raises: any bytes, headers or status are accepted.
    """
    db = database()
    lowered = [(name.lower(), value) for name, value in headers]
    for rule in db.headers:
        if any(name == rule.header and rule.regex.search(value) for name, value in lowered):
            return rule.fid
    for name, value in lowered:
        if name == "location" and (found := _match_url(value, db.locations)):
            return found
    page = Page(
        body, _header(lowered, "content-type"), _header(lowered, "content-length"), length, title
    )
    for link in page.small_links:
        if found := _match_url(link, db.locations):
            return found
    for body_rule in db.bodies:
        if body_rule.part == "title":
            text: str | None = page.title
        elif body_rule.part == "small_body":
            text = page.small_text
        else:
            text = page.text
        if text and body_rule.regex.search(text):
            return body_rule.fid
    return db.statuses.get(status) if status is not None else None


def blockpage_for_address(address: str) -> str | None:
    """Id of the known DNS blockpage / sinkhole address ``address`` is, else ``None``."""
    normal = normalise_address(address)
    return database().addresses.get(normal) if normal is not None else None


def interception_issuer(issuer: str) -> str | None:
    """Id of the known state interception CA that issued a certificate, else ``None``.

    ``issuer`` is a distinguished name as ``cryptography``'s ``rfc4514_string()``
    writes it (``CN=Qaznet Trust Network,C=KZ``); OpenSSL's spellings work too.
    Attributes are compared case-insensitively, in any order.
    """
    attributes = parse_name(issuer)
    for required, fid in database().issuers:
        if required <= attributes:
            return fid
    return None


def interception_certificate(sha256: str) -> str | None:
    """Id of a known state interception certificate by the SHA-256 of its DER encoding.

    Hex, any case, colons allowed (``00:30:9C:…``).
    """
    normal = "".join(sha256.split()).replace(":", "").lower()
    return database().certificates.get(normal)


def fingerprint_info(fid: str) -> Fingerprint:
    """What a fingerprint id stands for; :class:`KeyError` for an unknown id."""
    try:
        return database().info[fid]
    except KeyError:
        raise KeyError(f"unknown fingerprint id {fid!r}") from None


def all_fingerprints() -> tuple[Fingerprint, ...]:
    """Every known fingerprint, in data-file order."""
    return tuple(database().info.values())


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


HOST_LABELS_MAX = 8
"""The most labels a host of the fingerprint data has (checked by the tests)."""


def _match_url(url: str, table: Mapping[str, tuple[tuple[str, str], ...]]) -> str | None:
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if not host:
        return None
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    labels = host.rstrip(".").split(".")
    # The host itself, then each parent domain: a pattern covers its subdomains. Only the
    # last few labels can name a known host: a hostile name of thousands of labels is not
    # joined thousands of times.
    for start in range(max(0, len(labels) - HOST_LABELS_MAX), len(labels)):
        for prefix, fid in table.get(".".join(labels[start:]), ()):
            if rest.startswith(prefix):
                return fid
    return None
