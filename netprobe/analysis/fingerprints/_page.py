"""Views of an HTTP response body for blockpage matching: text, title, visible text, links.

Bodies are remote bytes of any kind: every view decodes leniently, and the
regular expressions here are written so that hostile input (unclosed tags,
thousands of ``<``) stays linear.
"""

from __future__ import annotations

import functools
import html
import re

__all__ = ["ERROR_EXCERPT_BYTES", "SMALL_BODY_BYTES", "SMALL_BODY_CHARS", "Page", "excerpt"]

SMALL_BODY_BYTES = 64 * 1024
"""A "small" page is at most this long, by its body and its Content-Length
(blockpages are; news articles rarely are)…"""
SMALL_BODY_CHARS = 4096
"""…and shows at most this many characters of text once markup is removed."""

ERROR_EXCERPT_BYTES = 16 * 1024
"""What is kept of an error page (not 2xx) that is not small: its start."""

_TITLE_WINDOW = 64 * 1024
_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
# Each alternative ends at its closing mark or at the end of the text, so an
# unclosed block is consumed once instead of being rescanned from every start.
_INVISIBLE_RE = re.compile(
    r"<script\b.*?(?:</script\s*>|\Z)|<style\b.*?(?:</style\s*>|\Z)|<!--.*?(?:-->|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_TAG_RE = re.compile(r"<[^>]*(?:>|\Z)")
_URL_RE = re.compile(r"""(?:https?:)?//([^\s"'<>\\()]+)""", re.IGNORECASE)


class Page:
    """Lazily computed views of one response body."""

    def __init__(
        self,
        body: bytes,
        content_type: str | None,
        content_length: str | None,
        length: int | None = None,
        title: str | None = None,
    ) -> None:
        """``length``: of the whole body read, when ``body`` is only its start (such a page
        is never small: what the rest holds is unknown). ``title``: the page's title when
        it was read already (it then wins over the one in ``body``)."""
        self._body = body
        self._content_type = content_type
        self._title = title
        # The caller may hand over only the start of a long body; a declared
        # length over the limit still tells that the page is not small.
        declared = content_length.strip() if content_length else ""
        too_long = (
            declared.isascii()
            and declared.isdigit()
            # int() refuses strings of thousands of digits; those are long anyway
            and (len(declared) > 9 or int(declared) > SMALL_BODY_BYTES)
        )
        whole = length is None or len(body) >= length
        self._small = whole and len(body) <= SMALL_BODY_BYTES and not too_long

    @functools.cached_property
    def text(self) -> str:
        """The whole body as text."""
        return _decode(self._body, self._content_type)

    @functools.cached_property
    def title(self) -> str:
        """The ``<title>``, unescaped, whitespace collapsed; empty if none."""
        if self._title is not None:
            return self._title
        window = self.text[:_TITLE_WINDOW]
        lowered = window.lower()
        start = lowered.find("<title")
        if start < 0:
            return ""
        start = lowered.find(">", start)
        if start < 0:
            return ""
        end = lowered.find("</title", start)
        raw = window[start + 1 : end if end >= 0 else len(window)]
        return " ".join(html.unescape(raw).split())

    @functools.cached_property
    def small_text(self) -> str | None:
        """Visible text of a small page (see :data:`SMALL_BODY_BYTES`); ``None`` otherwise."""
        if not self._small:
            return None
        visible = _TAG_RE.sub(" ", _INVISIBLE_RE.sub(" ", self.text))
        text = " ".join(html.unescape(visible).split())
        return text if len(text) <= SMALL_BODY_CHARS else None

    @functools.cached_property
    def small_links(self) -> tuple[str, ...]:
        """Absolute and scheme-relative URLs in a small page (iframes, refreshes, links)."""
        if not self._small:
            return ()
        return tuple("//" + m.group(1) for m in _URL_RE.finditer(self.text))


def excerpt(
    status: int,
    content_type: str | None,
    content_length: str | None,
    head: bytes,
    length: int,
) -> bytes | None:
    """What of a body the blockpage fingerprints need, so that a saved response can be
    matched again later: all of a small page (the only kind generic wording is sought
    in), the first :data:`ERROR_EXCERPT_BYTES` of an error page, nothing of a large page
    served as 2xx (the site's own page: its title, headers and hash are kept apart).

    ``head``: the body's first bytes as read, ``length``: all that was read.
    """
    page = Page(head, content_type, content_length, length)
    if page.small_text is not None:
        return head
    if not 200 <= status < 300:
        return head[:ERROR_EXCERPT_BYTES]
    return None


def _decode(body: bytes, content_type: str | None) -> str:
    # UTF-8 first: a page in a legacy encoding almost never decodes as valid
    # UTF-8. Then the declared charset, then windows-1251, the usual legacy
    # encoding of the Russian-language blockpages this module cares most about.
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _declared_charset(body, content_type)
    # A page declared as UTF-8 that is not is usually windows-1251 in disguise.
    if declared and declared.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            return body.decode(declared, "replace")
        except (LookupError, UnicodeError, ValueError):
            pass  # unknown, or not a text encoding (e.g. "base64"): fall through
    return body.decode("cp1251", "replace")


def _declared_charset(body: bytes, content_type: str | None) -> str | None:
    if content_type:
        found = _CHARSET_RE.search(content_type.encode("ascii", "replace"))
        if found:
            return found.group(1).decode("ascii")
    found = _CHARSET_RE.search(body[:4096])
    return found.group(1).decode("ascii") if found else None
