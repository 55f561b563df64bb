"""The two engines of ``summarize`` and ``compare`` tell the same story, byte for byte.

Hypothesis writes random mixes of reports, watch logs, result streams and Parquet
datasets (with ties in time, duplicates, untimed results, networks named in some files
and not in others) and both engines read them: the JSON documents and the warnings
must be identical. Then the command line: ``--engine``, and what ``auto`` does when
the inputs are too big for memory and DuckDB is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netprobe.cli import main
from netprobe.errors import EngineError
from netprobe.history import _engine as engine_module
from netprobe.history import (
    choose_engine,
    compare_files,
    comparison_to_json,
    summarize_files,
    summary_to_json,
)
from netprobe.history._duckdb import duckdb_summary
from netprobe.output.dataset import append_rows

URLS = ("https://a.test/", "https://b.test/", "https://ü.test/\x1b[31m")
NETWORKS = (
    {"asn": 9198, "as_name": "KAZTELECOM-AS", "cc": "KZ"},
    {"asn": 9198, "as_name": None, "cc": None},
    {"asn": 35168, "as_name": None, "cc": "KZ"},
    {"asn": 35168, "as_name": "ASTEL-AS", "cc": None},
    {"asn": 35168, "as_name": "", "cc": ""},
    {"asn": None, "as_name": None, "cc": None},
)
OUTCOMES = (
    ("accessible", None, None),
    ("blocked", "tls.reset", "TLS handshake with SNI a.test reset"),
    ("blocked", "tls.reset", "reset again, in other words"),
    ("blocked", "dns.nxdomain", "NXDOMAIN from the ISP's resolver"),
    ("anomaly", "tcp.timeout", None),
    ("site_down", None, "all views fail"),
)
START = datetime(2026, 5, 9, 6, 0, tzinfo=UTC)

observation = st.fixed_dictionaries(
    {
        "url": st.sampled_from(URLS),
        "network": st.sampled_from(NETWORKS),
        # Few distinct times: ties and exact duplicates are the hard cases.
        "at": st.one_of(st.none(), st.integers(0, 4).map(lambda h: START + timedelta(hours=h))),
        "run": st.sampled_from(("r1", "r2", None)),
        "outcome": st.sampled_from(OUTCOMES),
    }
)
a_file = st.tuples(
    st.sampled_from(("report", "watch", "stream", "dataset")),
    st.lists(observation, min_size=0, max_size=8),
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _result(obs: dict[str, Any]) -> dict[str, Any]:
    verdict, blocking, evidence = obs["outcome"]
    return {
        "url": obs["url"],
        "verdict": verdict,
        "blocking": blocking,
        "evidence": evidence,
        "probe_asn": obs["network"]["asn"],
    }


def _write(directory: Path, index: int, kind: str, observations: list[dict[str, Any]]) -> str:
    path = directory / f"{index}-{kind}"
    if kind == "report":
        # One run on one network: the first observation's time and network hold for all.
        first = observations[0] if observations else None
        document = {
            "schema": "netprobe.report/2",
            "started_at": _iso(first["at"]) if first else _iso(START),
            "probe": first["network"] if first else NETWORKS[0],
            "results": [_result(o) for o in observations],
        }
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    elif kind == "watch":
        lines = [
            json.dumps(
                {
                    "schema": "netprobe.watch/2",
                    "run": o["run"],
                    "started_at": _iso(o["at"]),
                    "probe": o["network"],
                    "result": _result(o),
                }
            )
            for o in observations
        ]
        path.write_text("\n".join([*lines, "{not json", '{"schema": "netprobe.watch/9"}']))
    elif kind == "stream":
        path.write_text("\n".join(json.dumps(_result(o)) for o in observations) + "\n[]\n")
    else:
        append_rows(path, [_row(i, o) for i, o in enumerate(observations)])
        if not observations:
            path.mkdir(exist_ok=True)
    return str(path)


def _row(index: int, obs: dict[str, Any]) -> dict[str, Any]:
    verdict, blocking, evidence = obs["outcome"]
    network, at = obs["network"], obs["at"]
    return {
        # Unique per row, as a real export's ids: identical results stay distinct rows.
        "id": hashlib.sha256(f"{index}{obs}".encode()).hexdigest()[:32],
        "run": obs["run"] if at else None,
        "measured_at": at,
        "date": at.strftime("%Y-%m-%d") if at else "unknown",
        "cc": network["cc"] or "ZZ",
        "asn": network["asn"] or 0,
        "as_name": network["as_name"],
        "url": obs["url"],
        "domain": None,
        "list": None,
        "category": None,
        "service": None,
        # The fourth row of every dataset is no result: both engines must skip it alike.
        "verdict": verdict if index != 3 else "not-a-verdict",
        "blocking": blocking,
        "evidence": evidence,
        "tool_version": "0.1.0",
        "observations": "{}",
    }


def _both(run: Any) -> tuple[tuple[str, list[str]], tuple[str, list[str]]]:
    """What ``run(engine, warnings)`` gives with each engine, as JSON text and warnings."""
    said = []
    for engine in ("python", "duckdb"):
        warnings: list[str] = []
        document = run(engine, warnings)
        said.append((json.dumps(document, ensure_ascii=False), warnings))
    return said[0], said[1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(a_file, min_size=1, max_size=5))
def test_both_engines_summarize_and_compare_alike(files: list[tuple[str, list[Any]]]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        paths = [_write(Path(scratch), i, kind, obs) for i, (kind, obs) in enumerate(files)]

        def summary(engine: Any, warnings: list[str]) -> Any:
            found = summarize_files(paths, engine, warnings)
            return summary_to_json(found) if found else None

        python, duckdb = _both(summary)
        assert python == duckdb

        half = max(1, len(paths) // 2)

        def comparison(engine: Any, warnings: list[str]) -> Any:
            found = compare_files(paths[:half], paths[half:] or paths, engine, warnings)
            return comparison_to_json(found) if found else None

        python, duckdb = _both(comparison)
        assert python == duckdb


@pytest.fixture
def inputs(tmp_path: Path) -> list[str]:
    hours = [START + timedelta(hours=h) for h in range(6)]
    story = [
        {"url": url, "network": network, "at": at, "run": f"run-{at:%H}", "outcome": outcome}
        for at, outcome in zip(hours, (OUTCOMES[0], *OUTCOMES[1:5], OUTCOMES[0]), strict=True)
        for url in URLS
        for network in (NETWORKS[0], NETWORKS[2])
    ]
    return [
        _write(tmp_path, 0, "watch", story[:20]),
        _write(tmp_path, 1, "dataset", story[20:]),
        _write(tmp_path, 2, "stream", story[:3]),
    ]


def test_the_command_gives_the_same_json_with_either_engine(inputs: list[str]) -> None:
    runner = CliRunner()
    said = {
        engine: runner.invoke(main, ["summarize", *inputs, "--format", "json", "--engine", engine])
        for engine in ("python", "duckdb", "auto")
    }
    assert {r.exit_code for r in said.values()} == {0}
    assert said["python"].stdout == said["duckdb"].stdout == said["auto"].stdout
    document = json.loads(said["duckdb"].stdout)
    assert [n["asn"] for n in document["networks"]] == [9198, 35168]
    # Every result of the story, less the dataset's fourth row, and the stream's three.
    assert document["observations"] == len(URLS) * 2 * 6 - 1 + 3
    assert "netprobe: warning:" in said["duckdb"].stderr
    compared = {
        engine: runner.invoke(
            main, ["compare", inputs[0], inputs[1], "--format", "json", "--engine", engine]
        )
        for engine in ("python", "duckdb")
    }
    assert compared["python"].exit_code == compared["duckdb"].exit_code == 0
    assert compared["python"].stdout == compared["duckdb"].stdout


def test_auto_takes_python_for_small_inputs_and_duckdb_for_big_ones(
    inputs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert choose_engine(inputs, "auto") == "python"
    monkeypatch.setattr(engine_module, "DUCKDB_FROM_BYTES", 100)
    assert choose_engine(inputs, "auto") == "duckdb"


def test_without_duckdb_too_big_an_input_is_refused_with_the_reason(
    inputs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(engine_module, "DUCKDB_FROM_BYTES", 100)
    monkeypatch.setattr(engine_module, "available_memory", lambda: 2000)
    with pytest.raises(EngineError, match="too big to aggregate in memory"):
        choose_engine(inputs, "auto")
    said = CliRunner().invoke(main, ["summarize", *inputs, "--format", "json"])
    assert said.exit_code == 1
    assert "pip install 'netprobe[scale]'" in said.stderr
    assert said.stdout == ""
    # Asked for explicitly, the Python engine still tries.
    assert choose_engine(inputs, "python") == "python"
    # Enough memory: the Python engine, as without the extra.
    monkeypatch.setattr(engine_module, "available_memory", lambda: 2**40)
    assert choose_engine(inputs, "auto") == "python"


def test_inputs_bigger_than_a_small_container_go_to_duckdb_or_are_refused(
    inputs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "available_memory", lambda: 3 * 2**10)
    assert choose_engine(inputs, "auto") == "duckdb"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EngineError, match=r"about \d+ MB needed, 0 MB available"):
        choose_engine(inputs, "auto")


def test_asking_for_duckdb_without_it_says_how_to_get_it(
    inputs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    said = CliRunner().invoke(main, ["compare", *inputs[:2], "--engine", "duckdb"])
    assert said.exit_code == 1
    assert "--engine duckdb needs DuckDB: pip install 'netprobe[scale]'" in said.stderr


def test_the_estimate_counts_a_report_whole_and_dataset_rows(inputs: list[str]) -> None:
    lines = Path(inputs[0]).stat().st_size
    footprint = engine_module.python_footprint(inputs)
    assert footprint >= lines * engine_module.JSON_LINE_SHARE
    assert footprint >= 16 * engine_module.OBSERVATION_BYTES  # the dataset's rows
    assert engine_module.python_footprint([*inputs, "/nonexistent"]) == footprint


def test_a_broken_dataset_file_is_left_out_alike_by_both_engines(inputs: list[str]) -> None:
    dataset = Path(inputs[1])
    partition = next(dataset.rglob("*.parquet")).parent
    (partition / "part-broken.parquet").write_bytes(b"PAR1 not really")
    (partition / "part-other.parquet").write_bytes(Path(inputs[0]).read_bytes())
    numbers = {c: [1] for c in ("url", "as_name", "run", "verdict", "blocking", "evidence")}
    pq.write_table(
        pa.table({**numbers, "measured_at": pa.array([START], pa.timestamp("us", tz="UTC"))}),
        partition / "part-numbers.parquet",
    )

    def summary(engine: Any, warnings: list[str]) -> Any:
        found = summarize_files(inputs, engine, warnings)
        return summary_to_json(found) if found else None

    python, duckdb = _both(summary)
    assert python == duckdb
    document, warnings = python
    assert json.loads(document)["observations"] == len(URLS) * 2 * 6 - 1 + 3
    broken = [w for w in warnings if "cannot read" in w]
    assert [w.split(": cannot read")[0] for w in broken] == [
        str(partition / "part-broken.parquet"),
        str(partition / "part-numbers.parquet"),
        str(partition / "part-other.parquet"),
    ]
    assert broken[1].endswith("column url holds int64, not what netprobe writes")


def _system(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return str(root)


MEMINFO = "MemTotal: 16000000 kB\nMemAvailable:    8000000 kB\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"proc/meminfo": MEMINFO}, 8_000_000 * 1024),
        # A container of 1 GiB with 600 MiB in use: 424 MiB, whatever the host has free.
        (
            {
                "proc/meminfo": MEMINFO,
                "proc/self/cgroup": "0::/box\n",
                "sys/fs/cgroup/box/memory.max": f"{2**30}\n",
                "sys/fs/cgroup/box/memory.current": f"{600 * 2**20}\n",
            },
            424 * 2**20,
        ),
        (
            {
                "proc/meminfo": MEMINFO,
                "proc/self/cgroup": "0::/box\n",
                "sys/fs/cgroup/box/memory.max": "max\n",
                "sys/fs/cgroup/box/memory.current": "1\n",
            },
            8_000_000 * 1024,
        ),
        # cgroup v1, the group seen as the root of a namespace.
        (
            {
                "proc/meminfo": MEMINFO,
                "proc/self/cgroup": "5:devices:/\n4:memory:/docker/abc\n0::/\n",
                "sys/fs/cgroup/memory/memory.limit_in_bytes": f"{512 * 2**20}\n",
                "sys/fs/cgroup/memory/memory.usage_in_bytes": f"{12 * 2**20}\n",
            },
            500 * 2**20,
        ),
        ({"proc/self/cgroup": "garbage\n"}, None),
    ],
)
def test_available_memory_is_the_least_of_system_container_and_process(
    tmp_path: Path, files: dict[str, str], expected: int | None
) -> None:
    assert engine_module.available_memory(_system(tmp_path, files)) == expected


def test_available_memory_counts_the_address_space_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resource

    root = _system(tmp_path, {"proc/meminfo": MEMINFO, "proc/self/status": "VmSize: 102400 kB\n"})
    monkeypatch.setattr(resource, "getrlimit", lambda which: (300 * 2**20, resource.RLIM_INFINITY))
    assert engine_module.available_memory(root) == 200 * 2**20


def test_duckdb_failing_is_one_line_and_exit_1(
    inputs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        EngineError, match=r"^DuckDB could not aggregate the results: Out of Memory"
    ):
        duckdb_summary(inputs, [], memory_limit="1KB")
    monkeypatch.setattr(tempfile, "tempdir", str(Path(inputs[0]).parent / "no-such-dir"))
    said = CliRunner().invoke(main, ["summarize", *inputs, "--engine", "duckdb"])
    assert said.exit_code == 1
    assert said.stderr.startswith("netprobe: error: cannot keep DuckDB's database in ")
    assert "Traceback" not in said.stderr and said.stdout == ""
