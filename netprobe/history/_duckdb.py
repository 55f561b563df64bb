"""The DuckDB engine: ``summarize`` and ``compare`` over more results than fit in memory.

The pure-Python engine holds every observation as an object; a year of a volunteer
network's data does not fit. This one (``pip install 'netprobe[scale]'``) puts the
observations in a DuckDB database on disk, in a temporary directory, and runs the
aggregation there in SQL (``netprobe/sql/duckdb/``), within a memory limit, spilling
to disk past it. Only the episodes come back to Python; from there both engines share
the same code (:func:`summary_of`, :func:`compare_sides`), so their output is the same.

Reports, watch logs and result streams are parsed by the same reader as the Python
engine (same checks, same ``FILE:LINE`` warnings), a line at a time, and added in
batches; a dataset directory (``export --dataset``) is read by DuckDB's own Parquet
reader, in place, only the columns a history needs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

from netprobe.errors import EngineError
from netprobe.history._compare import Side
from netprobe.history._dataset import dataset_files, skipped_rows
from netprobe.history._observation import Network, Observation, by_asn
from netprobe.history._records import RecordReader
from netprobe.history._summary import Episode, Summary, TargetHistory, summary_of
from netprobe.model.results import VERDICTS

__all__ = ["DEFAULT_MEMORY_LIMIT", "duckdb_side", "duckdb_summary"]

DEFAULT_MEMORY_LIMIT: Final = "600MB"
"""DuckDB's own buffers: with Python and DuckDB's code, a run stays under about 1 GB."""

_BATCH_ROWS: Final = 65_536
_FILE_ROWS_BITS: Final = 32
"""A dataset row's seq: the file's index above these bits, its row number below."""

_OBSERVATIONS: Final = """
CREATE TABLE streamed (
    seq BIGINT, url VARCHAR, asn BIGINT, as_name VARCHAR, cc VARCHAR,
    measured_at TIMESTAMPTZ, run VARCHAR, verdict VARCHAR, blocking VARCHAR,
    evidence VARCHAR
)
"""

_DATASET: Final = """
SELECT
    {base} + (file_index << {bits}) + file_row_number AS seq, url,
    nullif(asn, 0) AS asn, nullif(as_name, '') AS as_name,
    CASE WHEN cc NOT IN ('', 'ZZ') THEN cc END AS cc,
    measured_at, run, verdict, blocking, evidence
FROM read_parquet(
    {files}, hive_partitioning = true, union_by_name = true,
    hive_types = {{'asn': BIGINT, 'cc': VARCHAR, 'date': VARCHAR}}
)
"""


def duckdb_summary(
    paths: Sequence[str], warnings: list[str], memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> Summary | None:
    """The summary of ``paths``, or None when they hold no result; what was skipped is
    added to ``warnings``."""
    with _database(memory_limit) as db:
        if not db.load(paths, warnings):
            return None
        db.run("episodes.sql")
        found = db.rows("networks.sql")
        networks = _networks(found)
        runs = {asn: count for asn, _, _, count in found}
        histories = _histories(db.rows("history.sql"), networks)
        return summary_of(histories, runs)


def duckdb_side(
    paths: Sequence[str], warnings: list[str], memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> Side | None:
    """One side of a comparison (see :func:`.side_of`), or None when ``paths`` hold no
    result."""
    with _database(memory_limit) as db:
        if not db.load(paths, warnings):
            return None
        found = db.rows("latest.sql")
        networks = _networks(db.rows("networks.sql"))
        latest = {
            url: Observation(url, networks[asn], _utc(at), verdict, blocking, evidence, run)
            for url, asn, at, run, verdict, blocking, evidence in found
        }
        return Side(latest, tuple(networks[asn] for asn in sorted(networks, key=by_asn)))


def _networks(rows: list[tuple[Any, ...]]) -> dict[int | None, Network]:
    return {asn: Network(asn, as_name, cc) for asn, as_name, cc, _ in rows}


def _histories(
    rows: list[tuple[Any, ...]], networks: dict[int | None, Network]
) -> Iterator[TargetHistory]:
    key: tuple[int | None, str] | None = None
    episodes: list[Episode] = []
    for asn, url, verdict, blocking, evidence, first, last, runs, untimed in rows:
        if (asn, url) != key:
            if key is not None:
                yield TargetHistory(key[1], networks[key[0]], tuple(episodes))
            key, episodes = (asn, url), []
        episodes.append(
            Episode(verdict, blocking, evidence, _utc(first), _utc(last), runs, untimed)
        )
    if key is not None:
        yield TargetHistory(key[1], networks[key[0]], tuple(episodes))


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


@contextmanager
def _database(memory_limit: str) -> Iterator[_Database]:
    """A DuckDB database in a temporary directory, removed afterwards; DuckDB's failures
    (a full disk above all) become :class:`EngineError`."""
    import duckdb

    try:
        with tempfile.TemporaryDirectory(prefix="netprobe-duckdb-") as scratch:
            config: dict[str, str | bool | int | float | list[str]] = {
                "memory_limit": memory_limit,
                "temp_directory": os.path.join(scratch, "spill"),
                # seq keeps the reading order; DuckDB need not, and uses less memory so.
                "preserve_insertion_order": False,
            }
            connection = duckdb.connect(os.path.join(scratch, "netprobe.duckdb"), config=config)
            try:
                connection.execute("SET TimeZone = 'UTC'")
                # DuckDB draws it on stdout when Python runs without a script (python -c,
                # embedded): in the middle of the JSON.
                connection.execute("SET enable_progress_bar = false")
                yield _Database(connection)
            finally:
                connection.close()
    except duckdb.Error as exc:
        raise EngineError(f"DuckDB could not aggregate the results: {_first_line(exc)}") from None
    except OSError as exc:
        where = tempfile.gettempdir()
        raise EngineError(
            f"cannot keep DuckDB's database in {where}: {exc.strerror or exc}"
        ) from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Database:
    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._connection.execute(_OBSERVATIONS)
        self._seq = 0
        self._rows = 0
        self._datasets: list[str] = []

    def load(self, paths: Sequence[str], warnings: list[str]) -> bool:
        """Every input into ``observations``, in order; whether any result was read."""
        reader = RecordReader()
        for path in paths:
            if os.path.isdir(path):
                self._add_dataset(path, reader.warnings)
            else:
                self._stream(reader.read(path))
        warnings.extend(reader.warnings)
        union = " UNION ALL ".join(["SELECT * FROM streamed", *self._datasets])
        self._connection.execute(f"CREATE TEMP VIEW observations AS {union}")
        return self._rows > 0

    def _stream(self, observations: Iterator[Observation]) -> None:
        import pyarrow as pa

        batch: list[Observation] = []
        for obs in observations:
            batch.append(obs)
            if len(batch) == _BATCH_ROWS:
                self._insert(pa, batch)
                batch = []
        if batch:
            self._insert(pa, batch)

    def _insert(self, pa: Any, batch: list[Observation]) -> None:
        first = self._seq
        self._seq += len(batch)
        self._rows += len(batch)
        table = pa.table(
            {
                "seq": pa.array(range(first, self._seq), pa.int64()),
                "url": [o.url for o in batch],
                "asn": pa.array([o.network.asn for o in batch], pa.int64()),
                "as_name": pa.array([o.network.as_name for o in batch], pa.string()),
                "cc": pa.array([o.network.cc for o in batch], pa.string()),
                "measured_at": pa.array([o.at for o in batch], pa.timestamp("us", tz="UTC")),
                "run": pa.array([o.run for o in batch], pa.string()),
                "verdict": [o.verdict for o in batch],
                "blocking": pa.array([o.blocking for o in batch], pa.string()),
                "evidence": pa.array([o.evidence for o in batch], pa.string()),
            }
        )
        self._connection.from_arrow(table).insert_into("streamed")

    def _add_dataset(self, directory: str, warnings: list[str]) -> None:
        import duckdb

        files = dataset_files(directory, warnings)
        if not files:
            return
        query = _DATASET.format(base=self._seq, bits=_FILE_ROWS_BITS, files=_sql_list(files))
        valid = f"url <> '' AND verdict IN {_sql_list(VERDICTS, brackets='()')}"
        counting = f"SELECT count(*) FILTER (WHERE {valid}), count(*) FROM ({query})"
        try:
            ((rows, every),) = self._connection.execute(counting).fetchall()
        except duckdb.Error as exc:
            warnings.append(f"{directory}: cannot read: {_first_line(exc)}")
            return
        if every > rows:
            warnings.append(skipped_rows(directory, every - rows))
        self._rows += rows
        self._datasets.append(f"SELECT * FROM ({query}) WHERE {valid}")
        self._seq += len(files) << _FILE_ROWS_BITS

    def run(self, name: str) -> None:
        self._connection.execute(_sql(name))

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        """The rows of the last statement of ``name`` in ``netprobe/sql/duckdb/``."""
        rows: list[tuple[Any, ...]] = self._connection.execute(_sql(name)).fetchall()
        return rows


def _sql(name: str) -> str:
    return resources.files("netprobe").joinpath("sql", "duckdb", name).read_text("utf-8")


def _sql_list(values: Sequence[str], brackets: str = "[]") -> str:
    quoted = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"{brackets[0]}{quoted}{brackets[1]}"
