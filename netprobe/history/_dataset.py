"""Reading a Parquet dataset (``netprobe export --dataset``) back as observations.

The pure-Python way, with pyarrow, a file and a batch of rows at a time; the DuckDB
engine reads the same directory with its own Parquet reader (:mod:`._duckdb`). Both
take the files in the order of their paths and the rows in the order of each file,
and map the partition placeholders back: AS number 0 and country ``ZZ`` are unknown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from netprobe.history._observation import Network, Observation
from netprobe.model.results import VERDICTS
from netprobe.output.dataset import parquet_files

__all__ = ["DATASET_COLUMNS", "dataset_files", "dataset_observations", "skipped_rows"]

DATASET_COLUMNS: Final = (
    "url",
    "asn",
    "as_name",
    "cc",
    "measured_at",
    "run",
    "verdict",
    "blocking",
    "evidence",
)
"""The columns a history reads; the others (observations above all) are left on disk."""

_BATCH_ROWS: Final = 65_536


def dataset_files(directory: str, warnings: list[str]) -> list[str]:
    """The readable Parquet files of a dataset, in the order both engines read them.

    Each file's footer is checked first (it is Parquet, it has the columns, it lies in
    an ``asn=``/``cc=`` partition): a broken file is a warning and left out, so both
    engines read the same rows. No file at all is a warning too.
    """
    files = parquet_files(directory)
    if not files:
        # Most likely a folder of reports: say how to give them.
        reports = os.path.join(directory, "*.json")
        warnings.append(
            f"{directory}: a directory without Parquet files, not a dataset "
            f"(to read the reports in it, give the files: {reports})"
        )
        return []
    try:
        import pyarrow.parquet as pq
    except ImportError:
        warnings.append(f"{directory}: a dataset directory needs pip install 'netprobe[scale]'")
        return []
    readable = []
    for name in files:
        problem = _problem(name, directory, pq)
        if problem:
            warnings.append(f"{name}: cannot read: {problem}")
        else:
            readable.append(name)
    return readable


def _problem(name: str, directory: str, pq: Any) -> str | None:
    import pyarrow.types as kinds

    try:
        partition = _partition(Path(name).relative_to(directory))
        schema = pq.read_schema(name)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        return str(exc)
    missing = [c for c in DATASET_COLUMNS if c not in partition and c not in schema.names]
    if missing:
        return f"no column {', '.join(missing)}"
    # A column of another type (a verdict written as a number) would be skipped row by
    # row by one engine and fail the whole query in the other: the file is left out.
    expected = {"asn": kinds.is_integer, "measured_at": kinds.is_timestamp}
    for column in DATASET_COLUMNS:
        if column in partition:
            continue
        kind = schema.field(column).type
        fits = expected.get(column, lambda t: kinds.is_string(t) or kinds.is_large_string(t))
        if not (fits(kind) or kinds.is_null(kind)):
            return f"column {column} holds {kind}, not what netprobe writes"
    return None


def skipped_rows(directory: str, count: int) -> str:
    """The warning for rows a dataset holds that are not results."""
    return f"{directory}: {count} rows without a url or with an unknown verdict skipped"


def dataset_observations(
    directory: str,
    files: list[str],
    warnings: list[str],
    network_of: Callable[[int | None, str | None, str | None], Network],
) -> Iterator[Observation]:
    """The rows of the dataset in ``directory`` as observations; what cannot be read
    becomes a warning."""
    import pyarrow.parquet as pq  # dataset_files found the files with it

    skipped = 0
    for name in files:
        try:
            partition = _partition(Path(name).relative_to(directory))
            parquet = pq.ParquetFile(name)
            stored = [c for c in DATASET_COLUMNS if c not in partition]
            for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=stored):
                column = {c: batch.column(c).to_pylist() for c in stored}
                for index in range(batch.num_rows):
                    row = {c: values[index] for c, values in column.items()} | partition
                    if not row["url"] or row["verdict"] not in VERDICTS:
                        skipped += 1
                        continue
                    yield _observation(row, network_of)
        except (OSError, ValueError, KeyError) as exc:
            # pyarrow's errors derive from these: a file broken past its footer is
            # skipped with the rest of its rows.
            warnings.append(f"{name}: cannot read: {exc}")
    if skipped:
        warnings.append(skipped_rows(directory, skipped))


def _partition(relative: Path) -> dict[str, object]:
    """The ``asn=9198``/``cc=KZ`` values of a file's directories (they are not in it)."""
    values: dict[str, object] = {}
    for part in relative.parts[:-1]:
        key, equals, value = part.partition("=")
        if equals and key in ("asn", "cc"):
            values[key] = int(value) if key == "asn" else unquote(value)
    return values


def _observation(
    row: dict[str, Any], network_of: Callable[[int | None, str | None, str | None], Network]
) -> Observation:
    cc = row["cc"]
    network = network_of(row["asn"] or None, row["as_name"], None if cc == "ZZ" else cc)
    at = row["measured_at"]
    moment = None if at is None else at.astimezone(UTC)
    return Observation(
        row["url"], network, moment, row["verdict"], row["blocking"], row["evidence"], row["run"]
    )
