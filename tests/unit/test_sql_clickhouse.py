"""The ClickHouse SQL (``netprobe/sql/clickhouse/``) tells what the DuckDB engine tells.

A small dataset with a story (a block that begins and ends, a censor switching methods
mid-block, an anomaly, an observation exported twice, results without a time, an
unknown network and an unknown country) is loaded into chDB, ClickHouse in-process,
with table.sql and load.sql; episodes.sql and network_shares.sql must then give the
episodes and per-network shares ``duckdb_summary`` finds in the same dataset.

Never two untimed results, nor two at the same time, for one target on one network:
there the engines order rows differently by design (DuckDB as it read them, ClickHouse
by id).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import pytest
from chdb import session as chdb_session

from netprobe.history._duckdb import duckdb_summary
from netprobe.history._summary import Summary
from netprobe.output.dataset import COLUMNS, DatasetRow, append_rows

NEWS, SOCIAL, SHOP = "https://news.test/", "https://social.test/", "https://shop.test/"
KAZTELECOM = (9198, "KZ", "KAZTELECOM-AS")
# A known network in an unknown country, and a network not known at all.
EXAMPLE_NET = (64496, None, "EXAMPLE-NET")
UNKNOWN = (None, None, None)

Network = tuple[int | None, str | None, str | None]
Outcome = tuple[str, str | None, str | None]

ACCESSIBLE: Outcome = ("accessible", None, None)
NXDOMAIN: Outcome = ("blocked", "dns.nxdomain", "NXDOMAIN from the ISP's resolver")
SNI_RESET: Outcome = ("blocked", "tls.reset", "TLS handshake reset after the SNI")
BLOCKPAGE: Outcome = ("blocked", "http.blockpage", None)
BLOCKPAGE_SEEN: Outcome = ("blocked", "http.blockpage", "the ISP's block page")
SLOW: Outcome = ("anomaly", None, "the page took 40 s")
TIMEOUT: Outcome = ("anomaly", "tcp.timeout", "no answer in 10 s")


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _row(
    network: Network,
    url: str,
    at: datetime | None,
    outcome: Outcome,
    *,
    run: str | None = None,
    copy: int = 0,
) -> DatasetRow:
    asn, cc, as_name = network
    verdict, blocking, evidence = outcome
    if evidence is not None and at is not None:
        # Each observation's own words: an episode must take its first one's.
        evidence = f"{evidence} ({at:%d %Hh})"
    # Unique per row, as an export's ids are; `copy` makes a second id for one result.
    identity = f"{asn}\n{url}\n{at}\n{run}\n{copy}"
    row: DatasetRow = {
        "id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "run": run if run is not None else (at.isoformat() if at else None),
        "measured_at": at,
        "date": at.strftime("%Y-%m-%d") if at else "unknown",
        "cc": cc or "ZZ",
        "asn": asn or 0,
        # Result streams carry no network name: the untimed rows go without one.
        "as_name": as_name if at else None,
        "url": url,
        "domain": url.removeprefix("https://").rstrip("/"),
        "list": "news" if url == NEWS else None,
        "category": "NEWS" if url == NEWS else None,
        "service": None,
        "verdict": verdict,
        "blocking": blocking,
        "evidence": evidence,
        "tool_version": "0.1.0",
        "observations": "{}",
    }
    assert set(row) == {name for name, _, _ in COLUMNS}
    return row


STORY: tuple[DatasetRow, ...] = (
    # KZ: news is blocked by DNS, then by SNI reset, then reachable again.
    _row(KAZTELECOM, NEWS, _at(27, 9), ACCESSIBLE),
    _row(KAZTELECOM, NEWS, _at(27, 21), NXDOMAIN),
    _row(KAZTELECOM, NEWS, _at(28, 9), NXDOMAIN),
    _row(KAZTELECOM, NEWS, _at(28, 9), NXDOMAIN, copy=1),  # the same result, exported twice
    _row(KAZTELECOM, NEWS, _at(28, 21), SNI_RESET),
    _row(KAZTELECOM, NEWS, _at(29, 9), ACCESSIBLE),
    # KZ: social is slow, then times out, then is blocked, and still is in a stream
    # without times.
    _row(KAZTELECOM, SOCIAL, _at(27, 9), SLOW),
    _row(KAZTELECOM, SOCIAL, _at(27, 21), SLOW),
    _row(KAZTELECOM, SOCIAL, _at(28, 9), TIMEOUT),
    _row(KAZTELECOM, SOCIAL, _at(28, 21), SNI_RESET),
    _row(KAZTELECOM, SOCIAL, None, SNI_RESET),
    # KZ: the shop goes down, and a stream later finds it up.
    _row(KAZTELECOM, SHOP, _at(27, 9), ACCESSIBLE),
    _row(KAZTELECOM, SHOP, _at(29, 9), ("site_down", None, "every view fails")),
    _row(KAZTELECOM, SHOP, None, ACCESSIBLE),
    # A network in no known country: news behind a block page to the end (told without
    # evidence at first), and a shop slow for a reason that has no name.
    _row(EXAMPLE_NET, NEWS, _at(27, 10), BLOCKPAGE),
    _row(EXAMPLE_NET, NEWS, _at(28, 10), BLOCKPAGE_SEEN),
    _row(EXAMPLE_NET, SOCIAL, _at(27, 10), ("error", None, "probe crashed")),
    _row(EXAMPLE_NET, SOCIAL, _at(28, 10), ACCESSIBLE),
    _row(EXAMPLE_NET, SHOP, _at(28, 10), SLOW),
    # An unknown network: one untimed result, and a block a stream saw lifted.
    _row(UNKNOWN, NEWS, None, ("network_down", None, "no route")),
    _row(UNKNOWN, SOCIAL, _at(28, 12), NXDOMAIN, run="watch-1"),
    _row(UNKNOWN, SOCIAL, None, ACCESSIBLE),
)

Episodes = dict[tuple[int | None, str], list[tuple[Any, ...]]]


class ClickHouse(Protocol):
    """What the tests use of a chDB session, whose methods carry no annotations."""

    def query(
        self, sql: str, fmt: str = "CSV", udf_path: str = "", params: dict[str, str] | None = None
    ) -> Any: ...

    def close(self) -> None: ...


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sql") / "dataset"
    # Two exports, so that the dataset has several files in one partition.
    append_rows(directory, STORY[:10])
    append_rows(directory, STORY[10:])
    return directory


@pytest.fixture
def clickhouse(tmp_path: Path) -> Iterator[ClickHouse]:
    # chDB runs one server per process: a session must be closed before the next opens.
    db: ClickHouse = chdb_session.Session(str(tmp_path / "chdb"))  # type: ignore[no-untyped-call]
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def loaded(clickhouse: ClickHouse, dataset: Path) -> ClickHouse:
    _create_and_load(clickhouse, dataset)
    return clickhouse


@pytest.fixture(scope="module")
def duckdb(dataset: Path) -> Summary:
    warnings: list[str] = []
    summary = duckdb_summary([str(dataset)], warnings)
    assert summary is not None
    assert warnings == []
    return summary


def _sql(name: str) -> str:
    return resources.files("netprobe").joinpath("sql", "clickhouse", name).read_text("utf-8")


def _create_and_load(db: ClickHouse, dataset: Path) -> None:
    db.query(_sql("table.sql"))
    db.query(_sql("load.sql"), params={"dataset": str(dataset)})


def _rows(db: ClickHouse, query: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = db.query(query, "ArrowTable").to_pylist()
    return rows


def _clickhouse_episodes(db: ClickHouse) -> Episodes:
    found: Episodes = {}
    for row in _rows(db, _sql("episodes.sql")):
        fields = ("verdict", "blocking", "evidence", "first_seen", "last_seen", "runs", "untimed")
        found.setdefault((row["asn"] or None, row["url"]), []).append(
            tuple(row[field] for field in fields)
        )
    return found


def _duckdb_episodes(summary: Summary) -> Episodes:
    return {
        (history.network.asn, history.url): [
            (e.verdict, e.blocking, e.evidence, e.first_seen, e.last_seen, e.runs, e.untimed)
            for e in history.episodes
        ]
        for history in summary.targets
    }


def test_episodes_sql_gives_the_duckdb_engines_episodes_in_its_order(
    loaded: ClickHouse, duckdb: Summary
) -> None:
    found = _clickhouse_episodes(loaded)
    expected = _duckdb_episodes(duckdb)
    assert found == expected
    assert list(found) == list(expected)


def test_episodes_sql_counts_a_duplicate_once_and_splits_a_block_where_the_method_changed(
    loaded: ClickHouse,
) -> None:
    # Beside the comparison: the story must hold what it is meant to test.
    news = _clickhouse_episodes(loaded)[9198, NEWS]
    assert [(verdict, blocking, runs) for verdict, blocking, _, _, _, runs, _ in news] == [
        ("accessible", None, 1),
        ("blocked", "dns.nxdomain", 2),
        ("blocked", "tls.reset", 1),
        ("accessible", None, 1),
    ]
    social = _clickhouse_episodes(loaded)[9198, SOCIAL]
    assert [(verdict, blocking, runs) for verdict, blocking, _, _, _, runs, _ in social] == [
        ("anomaly", None, 2),
        ("anomaly", "tcp.timeout", 1),
        ("blocked", "tls.reset", 2),
    ]
    # The untimed result joins the last episode, which keeps its first result's words.
    assert social[-1][2:] == (
        "TLS handshake reset after the SNI (28 21h)",
        _at(28, 21),
        _at(28, 21),
        2,
        1,
    )


def _clickhouse_networks(db: ClickHouse) -> list[dict[str, Any]]:
    verdicts = ("accessible", "blocked", "anomaly", "site_down", "network_down", "error")
    return [
        {
            "asn": row["asn"] or None,
            "as_name": row["as_name"],
            "cc": row["cc"],
            "targets": row["targets"],
            "observations": row["observations"],
            "runs": row["runs"],
            "first_seen": row["first_seen"],
            "last_seen": row["last_seen"],
            "latest": {verdict: row[f"latest_{verdict}"] for verdict in verdicts},
            "share_blocked": row["share_blocked"],
            "ever_interfered": row["ever_interfered"],
            "latest_blockings": dict(row["latest_blockings"]),
            "ever_blockings": dict(row["ever_blockings"]),
        }
        for row in _rows(db, _sql("network_shares.sql"))
    ]


def _duckdb_networks(summary: Summary) -> list[dict[str, Any]]:
    return [
        {
            "asn": n.network.asn,
            "as_name": n.network.as_name,
            "cc": n.network.cc,
            "targets": n.targets,
            "observations": n.observations,
            "runs": n.runs,
            "first_seen": n.first_seen,
            "last_seen": n.last_seen,
            "latest": dict(n.latest),
            # As summarize --json rounds it.
            "share_blocked": round(n.share_blocked, 4),
            "ever_interfered": n.ever_interfered,
            "latest_blockings": dict(n.latest_blockings),
            "ever_blockings": dict(n.ever_blockings),
        }
        for n in summary.networks
    ]


def test_network_shares_sql_gives_the_duckdb_engines_networks_in_its_order(
    loaded: ClickHouse, duckdb: Summary
) -> None:
    assert _clickhouse_networks(loaded) == _duckdb_networks(duckdb)


def test_network_shares_sql_counts_latest_and_past_blockings_of_the_story(
    loaded: ClickHouse,
) -> None:
    kz, example, unknown = _clickhouse_networks(loaded)
    assert (kz["asn"], example["asn"], unknown["asn"]) == (9198, 64496, None)
    assert (kz["cc"], example["cc"], example["as_name"]) == ("KZ", None, "EXAMPLE-NET")
    assert (kz["targets"], kz["observations"], kz["share_blocked"]) == (3, 13, 0.3333)
    assert kz["latest_blockings"] == {"tls.reset": 1}
    assert kz["ever_blockings"] == {"tls.reset": 2, "dns.nxdomain": 1, "tcp.timeout": 1}
    assert kz["ever_interfered"] == 2
    assert unknown["latest"]["network_down"] == unknown["latest"]["accessible"] == 1


def test_load_sql_adds_each_id_once_with_its_partition_values(
    tmp_path: Path, dataset: Path, clickhouse: ClickHouse
) -> None:
    # The dataset as its first export left it, pooled by hand with a copy of one file.
    early = tmp_path / "early"
    append_rows(early, STORY[:10])
    original = next(early.glob("date=2026-11-28/cc=KZ/asn=9198/*.parquet"))
    shutil.copy(original, original.with_name("copy.parquet"))
    _create_and_load(clickhouse, early)
    (count,) = _rows(clickhouse, "SELECT count() AS n FROM netprobe_results")
    assert count == {"n": 10}
    # The dataset grown since: only the rows the table lacks are added.
    clickhouse.query(_sql("load.sql"), params={"dataset": str(dataset)})
    rows = _rows(
        clickhouse, "SELECT id, date, cc, asn, measured_at FROM netprobe_results ORDER BY id"
    )
    columns = ("id", "date", "cc", "asn", "measured_at")
    assert [tuple(row[c] for c in columns) for row in rows] == sorted(
        tuple(row[c] for c in columns) for row in STORY
    )
