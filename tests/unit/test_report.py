"""The report: built from results, valid against the shipped schema, written atomically."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from netprobe.model.observations import (
    Certificate,
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import Analysis, Latency, RunResult, TargetResult
from netprobe.model.targets import parse_target
from netprobe.output.report import (
    ProbeInfo,
    RenderedResults,
    build_report,
    load_schema,
    report_text,
    result_schema,
    result_to_dict,
    write_json,
)

PROBE = ProbeInfo(resolver="udp://198.18.1.1:53", control_resolvers=("udp://198.19.0.53:53",))


def _result(verdict: str = "blocked", blocking: str | None = "tls.reset") -> TargetResult:
    target = parse_target("https://www.example.com/", list_name="social", category="GRP")
    obs = Observations(
        url=target.url,
        domain=target.domain,
        scheme="https",
        port=443,
        dns=(DNSObservation("www.example.com", "A", "udp://198.18.1.1:53", "local", 0.0, 4.2,
                            None, "NOERROR", ("198.19.1.1",), ("cdn.example.net",), 300),),
        tcp=(TCPObservation("198.19.1.1", 443, "local", 5.0, 1.5, None),),
        tls=(TLSObservation("198.19.1.1", 443, "www.example.com", "target", 7.0, 3.0,
                            "connection_reset"),
             TLSObservation("198.19.1.1", 443, "example.org", "innocuous", 11.0, 3.0, None, True,
                            "TLSv1.3", "TLS_AES_128_GCM_SHA256",
                            (Certificate("CN=x", "CN=y", "ab" * 32),))),
        http=(HTTPObservation("https://www.example.com/", "198.19.1.1", "www.example.com",
                              "target", 0, 9.0, 5.0, None, 4.0, 200,
                              (("content-type", "text/html"),), "Title", 10, "00" * 32),),
    )  # fmt: skip
    return TargetResult(target, obs, Analysis(verdict, blocking, "evidence"), Latency.of(obs))  # type: ignore[arg-type]


def _run(*results: TargetResult) -> RunResult:
    started = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    return RunResult(started, started + timedelta(seconds=3), list(results))


def test_report_validates_against_the_shipped_schema() -> None:
    report = build_report(_run(_result(), _result("accessible", None)), PROBE, {"timeout": 10})
    jsonschema.validate(report, load_schema())
    assert report["schema"] == "netprobe.report/2"
    assert report["summary"]["verdicts"]["blocked"] == 1
    assert report["summary"]["duration_s"] == 3.0
    assert report["started_at"] == "2026-11-27T09:00:00Z"
    assert report["results"][0]["latency_ms"] == {"dns": 4.2, "connect": 1.5, "tls": None,
                                                  "ttfb": 4.0}  # fmt: skip


@pytest.mark.parametrize(
    ("verdict", "blocking"), [("blocked", None), ("accessible", "dns.bogon"), ("x", None)]
)
def test_schema_rejects_inconsistent_results(verdict: str, blocking: str | None) -> None:
    document = build_report(_run(_result(verdict, blocking)), PROBE, {})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, load_schema())


def test_probe_ip_appears_only_when_given() -> None:
    hidden = json.dumps(build_report(_run(_result()), PROBE, {}))
    assert '"ip"' not in hidden
    shown = build_report(_run(_result()), ProbeInfo("udp://x", (), ip="203.0.113.5"), {})
    assert shown["probe"]["ip"] == "203.0.113.5"
    jsonschema.validate(shown, load_schema())


def test_result_line_carries_probe_asn() -> None:
    line = result_to_dict(_result(), 9198)
    assert line["probe_asn"] == 9198
    jsonschema.validate(line, result_schema())


def test_write_json_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("old")
    write_json(out, {"a": "é"})
    assert json.loads(out.read_text("utf-8")) == {"a": "é"}
    assert os.listdir(tmp_path) == ["report.json"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("old")
    with pytest.raises(TypeError):
        write_json(out, {"not json": object()})
    assert out.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_report_text_is_the_report_with_results_made_as_they_came() -> None:
    run = _run(_result(), _result("accessible", None))
    rendered = RenderedResults()
    for result in run.results:
        rendered.add(result)  # before the probe's ASN is known, as during a run
    probe = replace(PROBE, asn=64501)
    report = build_report(run, probe, {"timeout": 10}, rendered)
    text = report_text(report, rendered, run)
    assert json.loads(text) == build_report(run, probe, {"timeout": 10})
    assert [r["probe_asn"] for r in json.loads(text)["results"]] == [64501, 64501]
