"""The title of an HTML page, read from the first bytes of its body.

Hostile pages are normal: every search here moves forward only (``bytes.find``), so a
page of thousands of ``<title`` or ``<meta`` without a closing ``>`` costs one pass, not
one pass per tag.
"""

from __future__ import annotations

import codecs
import html
import re
import warnings

__all__ = ["TITLE_SCAN_BYTES", "extract_title"]

TITLE_SCAN_BYTES = 64 * 1024
"""Only the title within this many first bytes of the body is found."""

_TITLE_MAX = 200
_HTML_SPACE = b" \t\n\f\r"
# Applied to one tag's text at a time, with no nested repetition: linear.
_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
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
    lowered = prefix.lower()
    raw = _title_bytes(prefix, lowered)
    if raw is None:
        return None
    declared = charset or _meta_charset(prefix, lowered)
    text = html.unescape(_decode(raw, declared))
    return _SPACE.sub(" ", text).strip(" ")[:_TITLE_MAX]


def _title_bytes(prefix: bytes, lowered: bytes) -> bytes | None:
    """What lies between the first ``<title…>`` and the ``</title>`` after it."""
    start = lowered.find(b"<title")
    if start < 0:
        return None
    # No ">" after the first "<title" means none after any later one either.
    content = lowered.find(b">", start) + 1
    if content == 0:
        return None
    close = lowered.find(b"</title", content)
    while close >= 0:
        after = close + len(b"</title")
        while after < len(lowered) and lowered[after] in _HTML_SPACE:
            after += 1
        if after < len(lowered) and lowered[after : after + 1] == b">":
            return prefix[content:close]
        close = lowered.find(b"</title", after)
    return None


def _meta_charset(prefix: bytes, lowered: bytes) -> str | None:
    """The charset the first ``<meta>`` tag that declares one declares (its last
    ``charset=``, as a greedy ``<meta[^>]+charset`` reads it)."""
    start = lowered.find(b"<meta")
    while start >= 0:
        end = lowered.find(b">", start)
        stop = end if end >= 0 else len(lowered)
        # At least one character between "<meta" and "charset".
        at = lowered.rfind(b"charset", start + len(b"<meta") + 1, stop)
        while at >= 0:
            found = _CHARSET.match(prefix, at, stop)
            if found is not None:
                return found.group(1).decode("ascii")
            at = lowered.rfind(b"charset", start + len(b"<meta") + 1, at)
        if end < 0:
            return None
        start = lowered.find(b"<meta", end)
    return None


def _decode(raw: bytes, charset: str | None) -> str:
    if charset is not None:
        # The page names the charset: an unknown name, one that is no text encoding
        # (zlib, rot13) or a codec that cannot replace errors (idna) is ignored.
        try:
            codec = codecs.lookup(charset)
            if getattr(codec, "_is_text_encoding", True):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # unicode_escape warns of bad escapes
                    return raw.decode(codec.name, errors="replace")
        except (LookupError, ValueError):  # UnicodeError is a ValueError
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(_FALLBACK_CHARSET, errors="replace")
