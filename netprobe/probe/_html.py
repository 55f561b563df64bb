"""The title of an HTML page, read from the first bytes of its body."""

from __future__ import annotations

import codecs
import html
import re

__all__ = ["TITLE_SCAN_BYTES", "extract_title"]

TITLE_SCAN_BYTES = 64 * 1024
"""Only the title within this many first bytes of the body is found."""

_TITLE_MAX = 200
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
# HTML whitespace only: other control characters stay, raw (escaping is for renderers).
_SPACE = re.compile(r"[ \t\n\f\r]+")
_FALLBACK_CHARSET = "windows-1252"  # what browsers assume for legacy pages


def extract_title(body: bytes, charset: str | None) -> str | None:
    """The first ``<title>`` of ``body``: decoded, unescaped, whitespace collapsed, cut at 200.

    ``charset`` (from the Content-Type header) wins over a ``<meta>`` declaration; with
    neither, UTF-8 is tried, then windows-1252::

        extract_title(b"<title>Caf\\xe9</title>", "iso-8859-1")  # -> "Café"
    """
    prefix = body[:TITLE_SCAN_BYTES]
    match = _TITLE.search(prefix)
    if match is None:
        return None
    meta = _META_CHARSET.search(prefix)
    declared = charset or (meta.group(1).decode("ascii") if meta else None)
    text = html.unescape(_decode(match.group(1), declared))
    return _SPACE.sub(" ", text).strip(" ")[:_TITLE_MAX]


def _decode(raw: bytes, charset: str | None) -> str:
    if charset is not None:
        try:
            return raw.decode(codecs.lookup(charset).name, errors="replace")
        except LookupError:
            pass  # an unknown charset name: guess as if none was given
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(_FALLBACK_CHARSET, errors="replace")
