"""`netprobe summarize` and `compare` over real reports from two testbed networks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netprobe.output.ooni import load_ooni_schema
from tests.integration.helpers import netprobe

pytestmark = pytest.mark.testbed

URLS = ["https://www.clean.test/", "https://sni-reset.tls.test/", "https://nx.dns.test/"]


@pytest.fixture(scope="module")
def reports(testbed: Any, asn_db: str, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("reports")
    paths = []
    for network in ("censored", "clean"):
        path = folder / f"{network}.json"
        run = netprobe(testbed, network, URLS, "--format", "json", "-o", str(path), asn_db=asn_db)
        assert run.code == 0, run.stderr
        paths.append(path)
    return paths


def _netprobe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netprobe", *args], capture_output=True, text=True, check=False
    )


def test_summarize_two_networks(reports: list[Path], tmp_path: Path) -> None:
    page = tmp_path / "timeline.html"
    done = _netprobe("summarize", *map(str, reports), "--format", "json", "--html", str(page))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    networks = {n["asn"]: n for n in summary["networks"]}
    assert set(networks) == {64501, 64502}
    assert networks[64501]["share_blocked"] == pytest.approx(2 / 3, abs=1e-4)
    assert networks[64501]["latest_blockings"] == {"tls.reset": 1, "dns.nxdomain": 1}
    assert networks[64502]["share_blocked"] == 0
    blocked = next(t for t in summary["targets"] if t["asn"] == 64501 and t["url"] == URLS[1])
    assert blocked["latest"]["verdict"] == "blocked" and blocked["blocks"][0]["ended"] is None

    html = page.read_text()
    assert "<svg" in html and "AS64501" in html and "AS64502" in html
    assert not re.search(r"<script|\b(?:src|href)\s*=|url\(", html, re.IGNORECASE)
    assert not re.search(r"https?://(?!www\.clean\.test|sni-reset|nx\.dns)", html)


def test_compare_two_networks(reports: list[Path]) -> None:
    done = _netprobe("compare", *map(str, reports), "--format", "json")
    assert done.returncode == 0, done.stderr
    comparison = json.loads(done.stdout)
    assert comparison["counts"] == {"different": 2, "only_a": 0, "only_b": 0, "same": 1}
    sentences = {t["url"]: t["sentence"] for t in comparison["targets"]}
    assert sentences[URLS[1]] == "blocked on AS64501 (tls.reset), accessible on AS64502"


def test_unreadable_input_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n{also not\n")
    done = _netprobe("summarize", str(junk), "--format", "json")
    assert done.returncode == 2
    assert f"{junk}:1:" in done.stderr and "no results could be read" in done.stderr


def test_pooled_reports_tell_the_same_story_in_every_engine_and_format(
    reports: list[Path], tmp_path: Path
) -> None:
    """The testbed's reports exported to a dataset (twice: nothing added the second time)
    and as OONI measurements (valid against the schema); summarized from the reports and
    from the dataset, by Python and by DuckDB: the same bytes."""
    dataset = tmp_path / "pool"
    for attempt in range(2):
        exported = _netprobe("export", "--dataset", str(dataset), *map(str, reports))
        assert exported.returncode == 0, exported.stderr
        assert f"{len(URLS) * 2 * (1 - attempt)} rows added" in exported.stderr
    stories = {
        _netprobe("summarize", *inputs, "--engine", engine, "--format", "json").stdout
        for inputs in (list(map(str, reports)), [str(dataset)])
        for engine in ("python", "duckdb")
    }
    assert len(stories) == 1
    summary = json.loads(stories.pop())
    assert summary["observations"] == len(URLS) * 2
    compared = _netprobe("compare", str(reports[0]), str(dataset), "--engine", "duckdb")
    assert json.loads(compared.stdout)["counts"]["only_a"] == 0
    ooni = tmp_path / "ooni.jsonl"
    assert _netprobe("export", "--ooni", *map(str, reports), "-o", str(ooni)).returncode == 0
    lines = ooni.read_text().splitlines()
    assert len(lines) == len(URLS) * 2
    schema = load_ooni_schema()
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
