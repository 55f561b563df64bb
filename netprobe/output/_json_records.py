"""JSON records from files netprobe wrote: a report (one document, pretty or compact), a
watch log or a result stream (JSON Lines), each record with where it was found.

Shared by the readers of history (``summarize``, ``compare``) and of replay
(``analyse``): they differ in what they take from a record, not in how files are read.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple

__all__ = ["Record", "json_records", "json_type", "shown"]


class Record(NamedTuple):
    where: str
    """``FILE`` for a whole document, ``FILE:LINE`` for a line."""
    value: Any
    problem: str | None = None
    """Why the text is no JSON (``value`` is then None)."""


def json_records(name: str, data: bytes | BinaryIO) -> Iterator[Record]:
    """The records of one file (its bytes, or the file open for reading), its format
    detected from its first line. JSON Lines are read a line at a time, so a log of any
    size passes through in little memory; a document is read whole."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    number, line = 0, b""
    for number, line in enumerate(stream, 1):  # noqa: B007 (the loop finds the first line)
        if line.strip():
            break
    # json.dumps(indent=...) and jq open a document with a line holding only "{"; a
    # first line that is anything else is the first record of JSON Lines.
    if line.strip() == b"{":
        document = line + stream.read()
        try:
            yield Record(name, json.loads(document))
        except (ValueError, RecursionError) as exc:
            lineno = exc.lineno + number - 1 if isinstance(exc, json.JSONDecodeError) else None
            yield Record(f"{name}:{lineno}" if lineno else name, None, _not_json(exc))
        return
    yield from _lines(name, itertools.chain([(number, line)], enumerate(stream, number + 1)))


def _lines(name: str, lines: Iterable[tuple[int, bytes]]) -> Iterator[Record]:
    for number, line in lines:
        if not line.strip():
            continue
        try:
            yield Record(f"{name}:{number}", json.loads(line))
        except (ValueError, RecursionError) as exc:
            yield Record(f"{name}:{number}", None, _not_json(exc))


def _not_json(exc: ValueError | RecursionError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return "not valid JSON (nested too deeply)" if isinstance(exc, RecursionError) else str(exc)


def json_type(value: Any) -> str:
    """What kind of JSON value ``value`` is, for a message: "an object", "null"…"""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def shown(value: Any) -> str:
    """A value from the file, quoted for a message: repr escapes control characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
