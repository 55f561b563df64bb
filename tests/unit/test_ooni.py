"""Results as OONI measurements: valid against the schema written from ooni/spec, with the
probe's address redacted, and netprobe's verdicts mapped to OONI's words."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from netprobe.cli import main
from netprobe.model.networks import ASInfo
from netprobe.model.observations import (
    CONNECTION_RESET,
    Certificate,
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import Analysis, Latency, RunContext, RunResult, TargetResult
from netprobe.model.targets import parse_target
from netprobe.output.ooni import load_ooni_schema, ooni_measurement, report_id
from netprobe.output.report import ProbeInfo, build_report

SITE, IP = "www.example.com", "93.184.215.14"
STARTED = datetime(2026, 11, 29, 9, 0, 5, tzinfo=UTC)
PROBE = ProbeInfo(
    resolver="udp://192.0.2.53:53",
    control_resolvers=("https://dns.google/dns-query",),
    asn=9198,
    as_name="KAZTELECOM-AS",
    cc="KZ",
    ip="203.0.113.9",  # asked for with --include-ip: still never exported
)


def _result(analysis: Analysis | None = None) -> TargetResult:
    url = f"https://{SITE}/"
    obs = Observations(
        url=url,
        domain=SITE,
        scheme="https",
        port=443,
        dns=(
            DNSObservation(SITE, "A", "udp://192.0.2.53:53", "local", 0.0, 12.0, None,
                           "NOERROR", (IP,), ("edge.example.net",), 300),
            DNSObservation(SITE, "A", "https://dns.google/dns-query", "control", 0.0, 40.0,
                           None, "NOERROR", (IP,)),
        ),
        tcp=(TCPObservation(IP, 443, "local", 12.5, 20.0, None),),
        tls=(
            TLSObservation(IP, 443, SITE, "target", 33.0, 40.0, CONNECTION_RESET, connected=True),
            TLSObservation(IP, 443, "example.org", "innocuous", 80.0, 45.0, None, True,
                           "TLSv1.3", "TLS_AES_128_GCM_SHA256",
                           (Certificate("CN=example.org", "CN=Some CA", "ab" * 32),), True),
        ),
        http=(
            HTTPObservation(url, IP, SITE, "target", 0, 130.0, 50.0, None, 40.0, 200,
                            (("content-type", "text/html"),), "Example", 100, "cd" * 32,
                            body_excerpt=b"<title>Example</title>\xff"),
            HTTPObservation(url, IP, SITE, "target", 0, 200.0, 30.0, CONNECTION_RESET),
        ),
    )  # fmt: skip
    target = parse_target(url, list_name="news", category="NEWS")
    analysis = analysis or Analysis("blocked", "tls.reset", "handshakes with SNI reset")
    networks = {IP: ASInfo(15133, None, "EDGECAST", None, "pyasn")}
    return TargetResult(target, obs, analysis, Latency.of(obs), networks, RunContext())


def test_a_measurement_is_valid_and_redacted() -> None:
    found = ooni_measurement(_result(), PROBE, STARTED, _result().analysis)
    jsonschema.validate(found, load_ooni_schema())
    assert found["probe_ip"] == "127.0.0.1" and "203.0.113.9" not in json.dumps(found)
    assert (found["probe_asn"], found["probe_cc"]) == ("AS9198", "KZ")
    assert found["measurement_start_time"] == "2026-11-29 09:00:05"
    assert found["test_name"] == "netprobe_web" and found["input"] == f"https://{SITE}/"
    assert found["report_id"].startswith("20261129T090005Z_netprobeweb_KZ_9198_n1_")
    keys = found["test_keys"]
    assert (keys["accessible"], keys["blocking"]) == (False, "http-failure")
    assert keys["x_netprobe_verdict"] == "blocked" and keys["x_netprobe_blocking"] == "tls.reset"
    # Only the probe's own queries; control answers are netprobe's control view.
    (query,) = keys["queries"]
    assert query["engine"] == "udp" and query["resolver_address"] == "192.0.2.53:53"
    assert query["rcode"] == 0  # NOERROR, as a number
    assert [a["answer_type"] for a in query["answers"]] == ["CNAME", "A"]
    assert query["answers"][1] == {
        "answer_type": "A", "ipv4": IP, "ttl": 300, "asn": 15133, "as_org_name": "EDGECAST"
    }  # fmt: skip
    assert keys["tcp_connect"][0]["status"] == {"success": True, "failure": None}
    assert [t["failure"] for t in keys["tls_handshakes"]] == ["connection_reset", None]
    assert keys["tls_handshakes"][1]["no_tls_verify"] is True
    # Newest first, and the body as OONI writes bytes that are not UTF-8.
    assert [r["failure"] for r in keys["requests"]] == ["connection_reset", None]
    assert [(r["network"], r["address"]) for r in keys["requests"]] == [("tcp", f"{IP}:443")] * 2
    older = keys["requests"][1]["response"]
    assert older["code"] == 200 and older["body"]["format"] == "base64"
    assert keys["requests"][0]["response"] is None


@pytest.mark.parametrize(
    ("verdict", "blocking", "accessible", "ooni"),
    [
        ("accessible", None, True, False),
        ("blocked", "dns.nxdomain", False, "dns"),
        ("anomaly", "tcp.timeout", False, "tcp_ip"),
        ("blocked", "tls.mitm", False, "http-failure"),
        ("anomaly", "http.reset", False, "http-failure"),
        ("blocked", "http.blockpage", False, "http-diff"),
        ("anomaly", "http.diff", False, "http-diff"),
        ("blocked", "http.throttled", True, False),
        ("site_down", None, False, False),
        ("network_down", None, None, None),
        ("error", None, None, None),
    ],
)
def test_verdicts_in_ooni_words(
    verdict: str, blocking: str | None, accessible: bool | None, ooni: Any
) -> None:
    analysis = Analysis(verdict, blocking, "evidence")  # type: ignore[arg-type]
    keys = ooni_measurement(_result(analysis), PROBE, STARTED, analysis)["test_keys"]
    assert (keys["accessible"], keys["blocking"]) == (accessible, ooni)


def test_one_report_id_per_run() -> None:
    assert report_id(STARTED, PROBE, "netprobe_web") == report_id(STARTED, PROBE, "netprobe_web")
    assert report_id(STARTED, replace(PROBE, asn=None, cc=None), "netprobe_web").startswith(
        "20261129T090005Z_netprobeweb_ZZ_0_n1_"
    )


def _saved_report(tmp_path: Path) -> Path:
    run = RunResult(started_at=STARTED, finished_at=STARTED, results=[_result()])
    path = tmp_path / "report.json"
    path.write_text(json.dumps(build_report(run, PROBE, {})), "utf-8")
    return path


def test_export_writes_gzipped_json_lines_and_skips_bad_lines(tmp_path: Path) -> None:
    report = _saved_report(tmp_path)
    stream = tmp_path / "stream.jsonl"
    good = json.loads(report.read_text("utf-8"))["results"][0]
    stream.write_text(json.dumps(good) + "\nnot json\n", "utf-8")
    out = tmp_path / "ooni.jsonl.gz"
    done = CliRunner().invoke(main, ["export", "--ooni", str(report), str(stream), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert f"{stream}:2: not valid JSON" in done.stderr
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert len(lines) == 2
    schema = load_ooni_schema()
    for line in lines:
        measurement = json.loads(line)
        jsonschema.validate(measurement, schema)
        assert measurement["test_keys"]["x_netprobe_blocking"] == "tls.reset"


def test_export_of_nothing_readable_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("nonsense\n", "utf-8")
    done = CliRunner().invoke(main, ["export", "--ooni", str(bad), "-o", str(tmp_path / "o")])
    assert done.exit_code == 2
    assert "no results could be read" in done.stderr
    assert not (tmp_path / "o").exists()


# -- the Parquet dataset ---------------------------------------------------------------------


def test_dataset_rows_are_partitioned_and_never_added_twice(tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    report = _saved_report(tmp_path)
    root = tmp_path / "data"
    first = CliRunner().invoke(main, ["export", "--dataset", str(root), str(report)])
    assert first.exit_code == 0, first.output
    assert "1 rows added" in first.stderr
    again = CliRunner().invoke(main, ["export", "--dataset", str(root), str(report)])
    assert again.exit_code == 0 and "0 rows added" in again.stderr and "1 in all" in again.stderr
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert len(files) == 1 and files[0].startswith("date=2026-11-29/cc=KZ/asn=9198/part-")
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging left
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    (row,) = table.to_pylist()
    assert (row["url"], row["verdict"], row["blocking"]) == (
        f"https://{SITE}/",
        "blocked",
        "tls.reset",
    )
    assert (row["cc"], row["asn"], row["date"]) == ("KZ", 9198, "2026-11-29")
    assert row["measured_at"] == STARTED
    observations = json.loads(row["observations"])
    assert observations["tls"][0]["failure"] == "connection_reset"
    assert "203.0.113.9" not in row["observations"]  # the probe's address never goes in


def test_a_dataset_tells_the_story_of_the_reports_it_holds(tmp_path: Path) -> None:
    reports = []
    for hour, analysis in enumerate((None, Analysis("accessible", None, None))):
        started = STARTED.replace(hour=9 + hour)
        run = RunResult(started_at=started, finished_at=started, results=[_result(analysis)])
        reports.append(tmp_path / f"report-{hour}.json")
        reports[-1].write_text(json.dumps(build_report(run, PROBE, {})), "utf-8")
    root = str(tmp_path / "data")
    exported = CliRunner().invoke(main, ["export", "--dataset", root, *map(str, reports)])
    assert exported.exit_code == 0, exported.output
    told = set()
    for engine in ("python", "duckdb"):
        for inputs in ([root], list(map(str, reports))):
            done = CliRunner().invoke(main, ["summarize", *inputs, "--engine", engine])
            assert done.exit_code == 0, done.output
            told.add(done.stdout)
    (story,) = told
    (target,) = json.loads(story)["targets"]
    assert [e["verdict"] for e in target["episodes"]] == ["blocked", "accessible"]
    compared = CliRunner().invoke(main, ["compare", str(reports[1]), root, "--format", "json"])
    (side_by_side,) = json.loads(compared.stdout)["targets"]
    assert side_by_side["status"] == "same"
    assert side_by_side["a"]["run"] == side_by_side["b"]["run"] == "2026-11-29T10:00:05Z"


def test_dataset_schema_is_versioned_in_every_file(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    root = tmp_path / "data"
    done = CliRunner().invoke(
        main, ["export", "--dataset", str(root), str(_saved_report(tmp_path))]
    )
    assert done.exit_code == 0, done.output
    (written,) = root.rglob("*.parquet")
    metadata = pq.read_schema(written).metadata
    assert metadata[b"netprobe.dataset"] == b"netprobe.dataset/1"


def test_export_needs_one_format(tmp_path: Path) -> None:
    report = str(_saved_report(tmp_path))
    for args in ([report], [report, "--ooni"], ["--ooni", "--dataset", "d", "-o", "x", report]):
        done = CliRunner().invoke(main, ["export", *args])
        assert done.exit_code == 2, args
        assert "netprobe: error:" in done.stderr


def test_the_readme_lists_the_dataset_columns() -> None:
    from netprobe.output.dataset import COLUMNS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    table = readme.split("| column | type | meaning |\n|---|---|---|\n", 1)[1].split("\n\n")[0]
    documented = [line.split("|")[1:4] for line in table.splitlines()]
    assert [(n.strip(" `"), t.strip(), m.strip()) for n, t, m in documented] == list(COLUMNS)


def test_nothing_readable_writes_nothing_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", "utf-8")
    out = tmp_path / "ooni.jsonl.gz"
    done = CliRunner().invoke(main, ["export", "--ooni", str(bad), "-o", str(out)])
    assert done.exit_code == 2
    assert f"no results could be read from {bad}" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]  # no half-written file


def test_export_goes_file_by_file_and_keeps_what_it_could_read(tmp_path: Path) -> None:
    import pyarrow.dataset as ds

    report = _saved_report(tmp_path)
    missing = tmp_path / "missing.json"
    root = tmp_path / "data"
    done = CliRunner().invoke(main, ["export", "--dataset", str(root), str(missing), str(report)])
    assert done.exit_code == 0, done.output
    assert f"{missing}: cannot read" in done.stderr
    assert "1 rows added" in done.stderr and "1 in all" in done.stderr
    again = CliRunner().invoke(main, ["export", "--dataset", str(root), str(report), str(report)])
    assert "0 rows added" in again.stderr and "(2 held already; 1 in all)" in again.stderr
    assert ds.dataset(root, format="parquet", partitioning="hive").count_rows() == 1
