"""Hostile servers: netprobe against every ``*.hostile.test`` of the testbed, in the clean
network. Nothing is censored there, so no verdict may be `blocked`; and whatever the
servers do (terminal escapes, bombs, bodies and headers that never end, garbage instead of
TLS, HTTP or DNS), the run must end cleanly, within the per-target deadline, in bounded
memory, without a remote control character reaching the terminal.

Two runs of all the hostile URLs in one process each: ``--format json`` (the report) and
``--format table`` on a pretend colour terminal. Each netprobe process runs under a small
driver that reports its peak RSS (``resource.getrusage``, as benchmarks/bench_run.py does).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from subprocess import CompletedProcess
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from netprobe.output.report import load_schema
from tests.integration.helpers import Run, netprobe
from tests.testbed import HOSTILE_URLS

pytestmark = pytest.mark.testbed

STEP_TIMEOUT = 3.0
DEADLINE = 12.0
# Start-up, the network checks before the targets, writing the report: well under this.
MARGIN = 10.0
RSS_BUDGET_MB = 200.0
TABLE_ENV = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "200"}
# What the hostile servers put in titles, headers and Location to drive a terminal. Rich's
# own colours (CSI ... m) are legitimate on a colour terminal; none of these is.
REMOTE_SEQUENCES = ("\x1b]", "\x1b[2J", "\x1b\\", "\x07")
# C1 controls (CSI, OSC, ST...) and bidi embeddings, overrides and isolates.
REMOTE_CHARACTERS = re.compile("[\x80-\x9f\u202a-\u202e\u2066-\u2069]")

_RSS_MARK = "netprobe-test-peak-rss:"
# Runs netprobe's command line in this process, then reports its peak RSS on stderr and
# exits with its status. An exception other than SystemExit propagates: a traceback.
_DRIVER = f"""
import json, sys
from netprobe.cli import main
try:
    main(sys.argv[1:], prog_name="netprobe")
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the process that started
# this one (pytest, with whatever it has imported), VmHWM is this program's own.
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
sys.stderr.write("\\n{_RSS_MARK}" + json.dumps(peak) + "\\n")
sys.exit(code)
"""


@dataclass(frozen=True)
class _MeasuredNetwork:
    """A testbed network whose ``python3 -m netprobe`` commands run under ``_DRIVER``."""

    network: Any

    def run(self, argv: list[str], **options: Any) -> CompletedProcess[str]:
        assert argv[:3] == ["python3", "-m", "netprobe"], argv
        return self.network.run(["python3", "-c", _DRIVER, *argv[3:]], **options)


class _Measured:
    """The testbed as helpers.netprobe() uses it, with every network measured."""

    def __init__(self, testbed: Any) -> None:
        self._testbed = testbed
        self.networks = {name: _MeasuredNetwork(n) for name, n in testbed.networks.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._testbed, name)


def _peak_rss_mb(run: Run) -> float:
    lines = [line for line in run.stderr.splitlines() if line.startswith(_RSS_MARK)]
    assert lines, f"the driver did not report (exit {run.code}):\n{run.stderr[-3000:]}"
    peak: float = json.loads(lines[-1].removeprefix(_RSS_MARK))
    return peak


def _hostile_run(
    testbed: Any, asn_db: str, *options: str, env: dict[str, str] | None = None
) -> Run:
    return netprobe(
        _Measured(testbed), "clean", HOSTILE_URLS, *options, "--deadline", str(DEADLINE),
        timeout=STEP_TIMEOUT, env=env, asn_db=asn_db, run_timeout=DEADLINE + 60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report_run(testbed: Any, asn_db: str) -> Run:
    run = _hostile_run(testbed, asn_db, "--format", "json")
    print(f"\nhostile run (json): {run.seconds:.1f} s, peak RSS {_peak_rss_mb(run):.0f} MB")
    return run


@pytest.fixture(scope="module")
def table_run(testbed: Any, asn_db: str) -> Run:
    run = _hostile_run(testbed, asn_db, "--format", "table", env=TABLE_ENV)
    print(f"\nhostile run (table): {run.seconds:.1f} s, peak RSS {_peak_rss_mb(run):.0f} MB")
    return run


def _verdicts(run: Run) -> str:
    return "\n".join(
        f"{r['url'][:70]}: {r['verdict']} {r['blocking']} | {r['evidence']!r:.300}"
        for r in run.report["results"]
    )


def test_the_run_completes_cleanly(report_run: Run) -> None:
    assert report_run.code == 0, report_run.stderr[-3000:]
    assert "Traceback" not in report_run.stderr, report_run.stderr[-5000:]
    report = report_run.report
    jsonschema.validate(report, load_schema())
    assert report["probe"]["network"] == "up"
    assert sorted(r["url"] for r in report["results"]) == sorted(HOSTILE_URLS)


def test_nothing_is_blocked(report_run: Run) -> None:
    """Nothing is censored in the clean network: a hostile server is broken or malicious,
    and the verdict must say so (or that the site works), never `blocked`."""
    verdicts = _verdicts(report_run)
    print(f"\n{verdicts}")
    results = report_run.report["results"]
    assert [r["url"] for r in results if r["verdict"] == "blocked"] == [], verdicts
    # The network itself is fine: a dead network is no explanation either.
    assert [r["url"] for r in results if r["verdict"] == "network_down"] == [], verdicts


def test_every_hostile_server_was_met(testbed: Any, report_run: Run) -> None:
    """So that the checks above are not vacuous: every hostile site was connected to, and
    every garbage DNS name was asked."""
    sites = {site.host for site in testbed.sites.values() if site.ip}
    for result in report_run.report["results"]:
        host = urlsplit(result["url"]).hostname
        if host in sites:
            assert any(t["failure"] is None for t in result["tcp"]), result
        else:
            assert result["dns"], result


def test_the_run_ends_by_the_deadline(report_run: Run) -> None:
    """Bodies, headers and chunks that never end: each target stops at its deadline."""
    assert report_run.seconds < DEADLINE + MARGIN, _verdicts(report_run)


def test_peak_rss_is_bounded(report_run: Run) -> None:
    """A 1 GiB gzip bomb, a 2 MiB page, 40,000 headers, 1,022 addresses, endless bodies."""
    assert _peak_rss_mb(report_run) < RSS_BUDGET_MB


def test_the_table_keeps_remote_controls_off_the_terminal(table_run: Run) -> None:
    assert table_run.code == 0, table_run.stderr[-3000:]
    assert "Traceback" not in table_run.stderr, table_run.stderr[-5000:]
    assert table_run.seconds < DEADLINE + MARGIN
    assert _peak_rss_mb(table_run) < RSS_BUDGET_MB
    assert "controls.hostile.test" in table_run.stdout  # the rows are there
    for stream, text in (("stdout", table_run.stdout), ("stderr", table_run.stderr)):
        for sequence in REMOTE_SEQUENCES:
            assert sequence not in text, f"{sequence!r} on {stream}:\n{text!r:.5000}"
        found = sorted(set(REMOTE_CHARACTERS.findall(text)))
        assert found == [], f"{found} on {stream}:\n{text!r:.5000}"
