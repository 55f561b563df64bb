"""`netprobe analyse` on what the testbed's runs wrote: reports, result streams and watch
logs are judged again exactly as they were made, and an edited verdict is named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netprobe.output.ooni import load_ooni_schema
from tests.integration.helpers import ECHO, ROUTABLE, netprobe

pytestmark = pytest.mark.testbed

URLS = [
    "https://www.clean.test/",
    "http://blockpage.http.test/",
    "https://ghost-blockpage.test/",
    "https://blockpage.dns.test/",
    "https://sni-reset.tls.test/",
    "https://www.mitm-one.test/",
    "https://www.mitm-two.test/",
]


def _analyse(*args: str) -> subprocess.CompletedProcess[str]:
    """Judging needs no network: run where the tests run."""
    argv = [sys.executable, "-m", "netprobe", "analyse", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_a_report_and_a_stream_are_judged_again_as_they_were(testbed: Any, tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    done = netprobe(testbed, "censored", URLS, "--format", "jsonl", "-o", str(saved))
    assert done.code == 0, done.stderr
    stream = tmp_path / "stream.jsonl"
    stream.write_text(done.stdout, "utf-8")
    report = json.loads(saved.read_text("utf-8"))
    assert {r["verdict"] for r in report["results"]} >= {"accessible", "blocked"}

    again = _analyse(str(saved), "--format", "json")
    assert again.returncode == 0, again.stderr
    assert again.stderr == f"netprobe: 0 of {len(URLS)} verdicts changed\n"
    assert json.loads(again.stdout)["results"] == report["results"]

    lines = _analyse(str(stream), "--format", "jsonl")
    assert lines.returncode == 0, lines.stderr
    streamed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [json.loads(line) for line in lines.stdout.splitlines()] == streamed

    # The same report as OONI measurements: each valid against the schema from ooni/spec.
    exported = tmp_path / "ooni.jsonl"
    argv = [sys.executable, "-m", "netprobe", "export", "--ooni", str(saved), "-o", str(exported)]
    written = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert written.returncode == 0, written.stderr
    measurements = [json.loads(line) for line in exported.read_text("utf-8").splitlines()]
    assert [m["input"] for m in measurements] == [r["url"] for r in report["results"]]
    for measurement, result in zip(measurements, report["results"], strict=True):
        jsonschema.validate(measurement, load_ooni_schema())
        assert measurement["test_keys"]["x_netprobe_verdict"] == result["verdict"]
        assert measurement["probe_ip"] == "127.0.0.1"


def test_an_older_verdict_is_named_in_the_table(testbed: Any, tmp_path: Path) -> None:
    """As if the report had been made before the fingerprint was known."""
    saved = tmp_path / "report.json"
    done = netprobe(testbed, "censored", URLS[:2], "-o", str(saved))
    assert done.code == 0, done.stderr
    report = json.loads(saved.read_text("utf-8"))
    (page,) = [r for r in report["results"] if r["url"] == "http://blockpage.http.test/"]
    page.update(verdict="anomaly", blocking="http.diff", evidence="the page differs")
    saved.write_text(json.dumps(report, indent=2), "utf-8")

    table = _analyse(str(saved), "--format", "table")
    assert table.returncode == 0, table.stderr
    assert (
        "http://blockpage.http.test/: was anomaly http.diff, now blocked http.blockpage: "
        "http://blockpage.http.test/ answers HTTP 200 with a blockpage"
    ) in " ".join(table.stdout.split())
    assert table.stderr == "netprobe: 1 of 2 verdicts changed\n"
    document = json.loads(_analyse(str(saved)).stdout)
    (marked,) = [r for r in document["results"] if "previous" in r]
    assert marked["previous"] == {
        "verdict": "anomaly",
        "blocking": "http.diff",
        "evidence": "the page differs",
    }


def test_a_watch_log_is_judged_again_run_by_run(testbed: Any, tmp_path: Path) -> None:
    log = tmp_path / "watch.jsonl"
    argv = [
        "ip", "netns", "exec", testbed.networks["censored"].client_ns,
        sys.executable, "-m", "netprobe", "watch", *URLS[:3], "-o", str(log), "-q",
        "--control-resolver", testbed.control_resolver, "--ca-bundle", str(testbed.ca_bundle),
        "--ip-service", ECHO, *ROUTABLE, "--every", "1s", "--count", "2", "--timeout", "2",
    ]  # fmt: skip
    watched = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert watched.returncode == 0, watched.stderr
    records = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert len({r["run"] for r in records}) == 2

    again = _analyse(str(log), "--format", "jsonl")
    assert again.returncode == 0, again.stderr
    assert [json.loads(line) for line in again.stdout.splitlines()] == records
    assert again.stderr == f"netprobe: 0 of {len(records)} verdicts changed\n"


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda text: text[: len(text) // 2], ":1: not valid JSON"),
        (lambda text: text.replace("netprobe.report/2", "netprobe.report/1"), ":1: a version 1"),
    ],
    ids=["truncated", "version 1"],
)
def test_a_damaged_report_is_one_line_and_exit_2(
    testbed: Any, tmp_path: Path, cut: Any, reason: str
) -> None:
    saved = tmp_path / "report.json"
    assert netprobe(testbed, "censored", URLS[:1], "-o", str(saved)).code == 0
    saved.write_text(cut(saved.read_text("utf-8")), "utf-8")
    done = _analyse(str(saved))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"netprobe: error: {saved}{reason}")
