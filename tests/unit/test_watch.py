"""The pure parts of `netprobe watch`: durations, times, transitions, log records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netprobe.measure.watch import (
    ChangeTracker,
    append_run,
    parse_duration,
    parse_until,
    run_records,
)
from netprobe.model.observations import Observations
from netprobe.model.results import Analysis, Latency, RunResult, TargetResult
from netprobe.model.targets import parse_target
from netprobe.output.report import ProbeInfo

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0.5s", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "0", "-5m", "m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("14:00", NOW.replace(hour=14, minute=0)),
        ("08:00", NOW.replace(hour=8, minute=0) + timedelta(days=1)),
        ("2026-11-27T14:00Z", NOW.replace(hour=14, minute=0)),
        ("2026-11-27T14:00", NOW.replace(hour=14, minute=0)),
        ("2026-11-27T20:00+06:00", NOW.replace(hour=14, minute=0)),
    ],
)
def test_parse_until(text: str, moment: datetime) -> None:
    assert parse_until(text, NOW) == moment


@pytest.mark.parametrize("text", ["25:00", "noon", "2026-13-01"])
def test_parse_until_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_until(text, NOW)


def _run(at: datetime, verdict: str, blocking: str | None = None) -> RunResult:
    target = parse_target("https://www.facebook.com/")
    obs = Observations(target.url, target.domain, "https", 443)
    result = TargetResult(target, obs, Analysis(verdict, blocking, "e"), Latency.of(obs))  # type: ignore[arg-type]
    return RunResult(at, at + timedelta(seconds=2), [result])


def test_tracker_reports_only_changes() -> None:
    tracker = ChangeTracker()
    first = tracker.update(_run(NOW, "accessible"))
    same = tracker.update(_run(NOW + timedelta(minutes=5), "accessible"))
    blocked = tracker.update(_run(NOW.replace(hour=10, minute=2), "blocked", "tls.reset"))
    lifted = tracker.update(_run(NOW.replace(hour=14, minute=2), "accessible"))
    assert [str(t) for t in first] == ["09:30:00 UTC https://www.facebook.com/ accessible"]
    assert same == []
    assert [str(t) for t in blocked] == [
        "10:02:00 UTC https://www.facebook.com/ accessible → blocked (tls.reset)"
    ]
    assert [str(t) for t in lifted] == [
        "14:02:00 UTC https://www.facebook.com/ blocked (tls.reset) → accessible"
    ]


def test_records_are_appended_whole(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    info = ProbeInfo("udp://198.18.1.1:53", (), asn=9198, as_name="KAZTELECOM-AS", cc="KZ")
    append_run(log, run_records(_run(NOW, "accessible"), info, "r1"))
    append_run(log, run_records(_run(NOW, "blocked", "tls.reset"), info, "r2"))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["run"], r["result"]["verdict"]) for r in records] == [
        ("r1", "accessible"),
        ("r2", "blocked"),
    ]
    assert records[0]["probe"] == {"asn": 9198, "as_name": "KAZTELECOM-AS", "cc": "KZ",
                                   "network": "up"}  # fmt: skip
    assert records[0]["started_at"] == "2026-11-27T09:30:00Z"
    assert records[0]["result"]["probe_asn"] == 9198
