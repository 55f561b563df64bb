"""Which engine aggregates saved results: pure Python, or DuckDB for big inputs.

The Python engine holds every observation in memory: quick for the files of a few
volunteers, too much for a year of a network's data. DuckDB (``netprobe[scale]``) reads
the same inputs in bounded memory. ``auto`` picks Python while the inputs' estimated
footprint is small, DuckDB past that when it is installed, and refuses, saying why,
when the inputs would not fit in memory and DuckDB is not there.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Final, Literal

from netprobe.errors import EngineError
from netprobe.history._compare import Comparison, Side, compare_sides, side_of
from netprobe.history._records import load_records
from netprobe.history._summary import Summary, summarize

__all__ = [
    "Engine",
    "choose_engine",
    "compare_files",
    "python_footprint",
    "summarize_files",
]

Engine = Literal["auto", "python", "duckdb"]

OBSERVATION_BYTES: Final = 600
"""What one observation costs the Python engine (measured: ~500 bytes)."""
JSON_LINE_SHARE: Final = 0.5
"""Python memory per byte of JSON Lines: a result line of ~300 bytes (no steps) makes an
observation of ~500 bytes, one with its steps (~3 KB) the same observation."""
DOCUMENT_FACTOR: Final = 10
"""A report is parsed whole: its tree of Python objects is ~10 times its text."""
DUCKDB_FROM_BYTES: Final = 256 * 2**20
"""``auto`` switches to DuckDB when the Python engine would need more than this."""


def python_footprint(paths: Sequence[str]) -> int:
    """Roughly the memory the Python engine needs for ``paths``, in bytes (an
    overestimate, counted from file sizes and dataset row counts)."""
    lines = documents = rows = 0
    for path in paths:
        if os.path.isdir(path):
            rows += _dataset_rows(path)
        elif _is_document(path):
            documents = max(documents, _size(path))
            lines += _size(path)
        else:
            lines += _size(path)
    return int(lines * JSON_LINE_SHARE) + documents * DOCUMENT_FACTOR + rows * OBSERVATION_BYTES


def choose_engine(paths: Sequence[str], requested: Engine) -> Literal["python", "duckdb"]:
    """The engine to run: ``requested`` unless ``auto``; raises :class:`EngineError` when
    DuckDB is asked for and missing, or when ``auto`` finds the inputs too big for
    memory and DuckDB missing."""
    installed = all(importlib.util.find_spec(name) for name in ("duckdb", "pyarrow"))
    if requested == "duckdb" and not installed:
        raise EngineError("--engine duckdb needs DuckDB: pip install 'netprobe[scale]'")
    if requested != "auto":
        return requested
    needed = python_footprint(paths)
    if needed > DUCKDB_FROM_BYTES and installed:
        return "duckdb"
    available = available_memory()
    if available is not None and needed > available:
        if installed:
            return "duckdb"
        raise EngineError(
            f"these inputs are too big to aggregate in memory (about {_amount(needed)} needed, "
            f"{_amount(available)} available): pip install 'netprobe[scale]' to aggregate them "
            "with DuckDB on disk, give fewer files, or --engine python to try anyway"
        )
    return "python"


def summarize_files(
    paths: Sequence[str], engine: Literal["python", "duckdb"], warnings: list[str]
) -> Summary | None:
    """The summary of the results in ``paths``, or None when there is none; what was
    skipped is added to ``warnings``."""
    if engine == "duckdb":
        from netprobe.history._duckdb import duckdb_summary

        return duckdb_summary(paths, warnings)
    loaded = load_records(paths)
    warnings.extend(loaded.warnings)
    return None if loaded.empty else summarize(loaded.observations)


def compare_files(
    a: Sequence[str], b: Sequence[str], engine: Literal["python", "duckdb"], warnings: list[str]
) -> Comparison | None:
    """Side ``a`` against side ``b``, or None when either holds no result."""
    sides = [_side(paths, engine, warnings) for paths in (a, b)]
    if sides[0] is None or sides[1] is None:
        return None
    return compare_sides(sides[0], sides[1])


def _side(paths: Sequence[str], engine: str, warnings: list[str]) -> Side | None:
    if engine == "duckdb":
        from netprobe.history._duckdb import duckdb_side

        return duckdb_side(paths, warnings)
    loaded = load_records(paths)
    warnings.extend(loaded.warnings)
    return None if loaded.empty else side_of(loaded.observations)


def available_memory(root: str = "/") -> int | None:
    """The memory this process can still have, if known: the least of what the system
    has free (Linux's MemAvailable), what its memory cgroup allows beyond what the group
    uses (a container's limit, cgroup v2 or v1), and its address-space limit (``ulimit
    -v``) beyond what it maps. ``root`` is where /proc and /sys are (tests)."""
    known = [
        room
        for room in (_free(root), _cgroup_room(root), _address_space_room(root))
        if room is not None
    ]
    return max(0, min(known)) if known else None


_NO_LIMIT: Final = 1 << 60
"""Cgroups write an unlimited limit as a huge number (or "max")."""


def _free(root: str) -> int | None:
    kib = _field(os.path.join(root, "proc/meminfo"), "MemAvailable:")
    return None if kib is None else kib * 1024


def _cgroup_room(root: str) -> int | None:
    try:
        with open(os.path.join(root, "proc/self/cgroup"), encoding="ascii") as groups:
            lines = groups.read().splitlines()
    except (OSError, ValueError):
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: one hierarchy
            base = os.path.join(root, "sys/fs/cgroup", path.lstrip("/"))
            room = _room(base, "memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base = os.path.join(root, "sys/fs/cgroup/memory", path.lstrip("/"))
            if not os.path.isdir(base):  # a namespace shows its own group as the root
                base = os.path.join(root, "sys/fs/cgroup/memory")
            room = _room(base, "memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        if room is not None:
            return room
    return None


def _room(base: str, limit_file: str, usage_file: str) -> int | None:
    try:
        with open(os.path.join(base, limit_file), encoding="ascii") as file:
            limit_text = file.read().strip()
        with open(os.path.join(base, usage_file), encoding="ascii") as file:
            usage = int(file.read().strip())
        limit = _NO_LIMIT if limit_text == "max" else int(limit_text)
    except (OSError, ValueError):
        return None
    return None if limit >= _NO_LIMIT else limit - usage


def _address_space_room(root: str) -> int | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    mapped = _field(os.path.join(root, "proc/self/status"), "VmSize:")
    return limit - (mapped or 0) * 1024


def _field(path: str, name: str) -> int | None:
    """The number after ``name`` in a /proc file of "Name: value kB" lines."""
    try:
        with open(path, encoding="ascii") as file:
            for line in file:
                if line.startswith(name):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _amount(size: int) -> str:
    return f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / 2**20:.0f} MB"


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _is_document(path: str) -> bool:
    """Whether the file is one pretty-printed report (its first line is ``{``)."""
    try:
        with open(path, "rb") as file:
            start = file.read(65_536).lstrip()
    except OSError:
        return False
    return start.split(b"\n", 1)[0].strip() == b"{"


def _dataset_rows(directory: str) -> int:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return 0
    from netprobe.history._dataset import dataset_files

    rows = 0
    for name in dataset_files(directory, []):
        try:
            rows += pq.ParquetFile(name).metadata.num_rows
        except (OSError, ValueError):
            continue
    return rows
