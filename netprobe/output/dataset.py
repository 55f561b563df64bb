"""Results as a Parquet dataset, partitioned Hive-style, for pooling many volunteers' runs.

::

    DIR/date=2026-11-29/cc=KZ/asn=9198/part-<token>-0.parquet

One flat row per result (see :data:`COLUMNS`): what ``summarize`` and ``compare`` read,
plus the raw observations as a JSON column, so nothing measured is lost. A row's ``id``
is stable (a hash of its run and of the result itself), and appending skips ids the
dataset holds already: the same report exported twice adds nothing. New files are
written beside the dataset first and moved in whole, so a reader never sees half a file.
DuckDB, Spark, ClickHouse and pandas read the directory as it is (``hive_partitioning``).

Needs pyarrow (``pip install 'netprobe[scale]'``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from netprobe import __version__
from netprobe.model.results import Analysis, TargetResult
from netprobe.output.report import ProbeInfo, result_to_dict

__all__ = [
    "COLUMNS",
    "DATASET_VERSION",
    "DatasetRow",
    "append_rows",
    "dataset_row",
    "parquet_files",
]

DATASET_VERSION: Final = "netprobe.dataset/1"
"""Written in every file's metadata; a change of columns bumps it."""

COLUMNS: Final = (
    ("id", "string", "stable id: a hash of the run and of the result"),
    ("run", "string", "the run: a watch log's run id, or a report's start time"),
    ("measured_at", "timestamp[us, UTC]", "when the run started; null for a bare stream"),
    ("date", "string", "partition: measured_at's UTC date, 'unknown' without one"),
    ("cc", "string", "partition: the probe network's country, 'ZZ' when unknown"),
    ("asn", "int64", "partition: the probe network's AS number, 0 when unknown"),
    ("as_name", "string", "the probe network's AS name"),
    ("url", "string", "the target"),
    ("domain", "string", "the target's host name"),
    ("list", "string", "the target list"),
    ("category", "string", "test-lists category code"),
    ("service", "string", "the service the endpoint belongs to"),
    ("verdict", "string", "accessible, blocked, anomaly, site_down, network_down, error"),
    ("blocking", "string", "the blocking type (dns.nxdomain, tls.reset…)"),
    ("evidence", "string", "what the verdict rests on, in a sentence"),
    ("tool_version", "string", "the netprobe that exported the row"),
    ("observations", "string", "the result as the report holds it (JSON): every step"),
)
"""Name, Arrow type and meaning of each column, in order."""

_PARTITIONS: Final = ("date", "cc", "asn")

DatasetRow = dict[str, Any]


def dataset_row(
    result: TargetResult,
    probe: ProbeInfo,
    measured_at: datetime | None,
    run: str | None,
    analysis: Analysis,
) -> DatasetRow:
    """One result as a row; ``analysis`` is the verdict to keep (the one the file gave)."""
    document = result_to_dict(result, probe.asn)
    observations = json.dumps(document, sort_keys=True, ensure_ascii=False)
    identity = hashlib.sha256(f"{run or ''}\n{observations}".encode()).hexdigest()[:32]
    moment = measured_at.astimezone(UTC) if measured_at is not None else None
    return {
        "id": identity,
        "run": run,
        "measured_at": moment,
        "date": moment.strftime("%Y-%m-%d") if moment is not None else "unknown",
        "cc": probe.cc or "ZZ",
        "asn": probe.asn or 0,
        "as_name": probe.as_name,
        "url": result.target.url,
        "domain": result.target.domain,
        "list": result.target.list_name,
        "category": result.target.category,
        "service": result.target.service,
        "verdict": analysis.verdict,
        "blocking": analysis.blocking,
        "evidence": analysis.evidence,
        "tool_version": __version__,
        "observations": observations,
    }


def append_rows(root: str | os.PathLike[str], rows: Iterable[DatasetRow]) -> tuple[int, int]:
    """Add ``rows`` to the dataset in ``root`` (made if missing), leaving out ids it holds
    already; returns (rows added, rows it held before)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(root)
    directory.mkdir(parents=True, exist_ok=True)
    fresh: dict[str, DatasetRow] = {}
    for row in rows:
        fresh.setdefault(row["id"], row)
    # A row's partition follows from the row itself, so a copy of it can only be in the
    # same partition: only those partitions' ids are read, not the whole dataset's.
    held = _ids_in({directory / _partition_of(row) for row in fresh.values()}, pq)
    fresh = {key: row for key, row in fresh.items() if key not in held}
    before = sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(directory))
    if not fresh:
        return 0, before
    schema = _schema(pa)
    table = pa.Table.from_pylist(list(fresh.values()), schema=schema)
    token = hashlib.sha256("".join(sorted(fresh)).encode()).hexdigest()[:16]
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=directory))
    try:
        pq.write_to_dataset(
            table,
            staging,
            partition_cols=list(_PARTITIONS),
            basename_template=f"part-{token}-{{i}}.parquet",
            # zstd: the ids (random hex) take half the room snappy leaves them, and the
            # observations' JSON a fraction; every Parquet reader of note reads it.
            compression="zstd",
        )
        _move_in(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(fresh), before


def _partition_of(row: DatasetRow) -> str:
    return "/".join(f"{key}={row[key]}" for key in _PARTITIONS)


def parquet_files(directory: str | os.PathLike[str]) -> list[str]:
    """The dataset's files, by path as a string (the dataset's own partition order),
    leaving out those of an export still moving in (under ``.incoming-*/``)."""
    root = Path(directory)
    found = (p for p in root.rglob("*.parquet") if not _hidden(p.relative_to(root)))
    return sorted(map(str, found))


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _schema(pa: Any) -> Any:
    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
    }
    fields = [pa.field(name, types[kind]) for name, kind, _ in COLUMNS]
    return pa.schema(fields, metadata={"netprobe.dataset": DATASET_VERSION})


def _ids_in(partitions: set[Path], pq: Any) -> set[str]:
    held: set[str] = set()
    for partition in partitions:
        for written in partition.glob("*.parquet"):
            held.update(pq.read_table(written, columns=["id"]).column("id").to_pylist())
    return held


def _move_in(staging: Path, directory: Path) -> None:
    """Each file written to ``staging`` into its partition of ``directory``, whole."""
    for written in sorted(staging.rglob("*.parquet")):
        target = directory / written.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(written, target)
