"""`netprobe watch` in the testbed while the interference changes between runs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import ECHO, ROUTABLE

pytestmark = pytest.mark.testbed

SITE = "https://www.clean.test/"


def _watch(testbed: Any, log: Path, urls: list[str], *options: str) -> subprocess.Popen[str]:
    argv = [
        "ip", "netns", "exec", testbed.networks["censored"].client_ns,
        "python3", "-m", "netprobe", "watch", *urls, "-o", str(log), "-q",
        "--control-resolver", testbed.control_resolver, "--ca-bundle", str(testbed.ca_bundle),
        "--ip-service", ECHO, *ROUTABLE, *options,
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _runs(log: Path) -> list[str]:
    """Run ids in the log, in order, once each."""
    if not log.exists():
        return []
    ids = [json.loads(line)["run"] for line in log.read_text().splitlines()]
    return list(dict.fromkeys(ids))


def _wait_for_runs(log: Path, count: int, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while len(_runs(log)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} runs in {log}"
        time.sleep(0.05)


@contextmanager
def _blackholed(testbed: Any, address: str) -> Iterator[None]:
    """The censored ISP drops everything to ``address`` while inside the block."""
    rule = ["FORWARD", "-d", address, "-j", "DROP"]
    isp = ["ip", "netns", "exec", testbed.networks["censored"].isp_ns, "iptables"]
    subprocess.run([*isp, "-I", *rule], check=True)
    try:
        yield
    finally:
        subprocess.run([*isp, "-D", *rule], check=True)


def test_watch_reports_a_block_beginning_and_ending(testbed: Any, tmp_path: Path) -> None:
    log = tmp_path / "watch.jsonl"
    address = testbed.sites["www.clean.test"].ip
    with _watch(testbed, log, [SITE], "--every", "2s", "--count", "3", "--timeout", "1") as watch:
        _wait_for_runs(log, 1)
        with _blackholed(testbed, address):
            _wait_for_runs(log, 2)
        stdout, stderr = watch.communicate(timeout=30)
    assert watch.returncode == 0, stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["result"]["verdict"] for r in records] == ["accessible", "anomaly", "accessible"]
    assert all(r["schema"] == "netprobe.watch/2" and r["probe"]["asn"] is None for r in records)
    starts = [r["started_at"] for r in records]
    assert starts == sorted(starts) and len(set(starts)) == 3
    lines = stdout.splitlines()
    assert len(lines) == 3, stdout
    began, ended = (r["started_at"][11:19] for r in records[1:])
    assert lines[0].endswith(f"UTC {SITE} accessible")
    assert lines[1] == f"{began} UTC {SITE} accessible → anomaly (tcp.timeout)"
    assert lines[2] == f"{ended} UTC {SITE} anomaly (tcp.timeout) → accessible"
    assert "3 runs logged" in stderr


def test_killed_watch_leaves_every_completed_run_intact(testbed: Any, tmp_path: Path) -> None:
    log = tmp_path / "watch.jsonl"
    urls = [SITE, "https://blackhole.tcp.test/"]  # each run waits out a 2 s timeout
    with _watch(testbed, log, urls, "--every", "1s", "--timeout", "2") as watch:
        _wait_for_runs(log, 2)
        time.sleep(0.5)  # well inside the third run
        watch.send_signal(signal.SIGKILL)
        watch.communicate(timeout=30)
    lines = log.read_text().splitlines()
    assert lines and log.read_text().endswith("\n")
    per_run = Counter(json.loads(line)["run"] for line in lines)
    assert len(per_run) >= 2 and set(per_run.values()) == {len(urls)}


def test_watch_usage_errors(testbed: Any, tmp_path: Path) -> None:
    for options, fragment in [
        (["--every", "soon"], "not a duration"),
        (["--every", "5m", "--until", "25:00"], "not a time of day"),
    ]:
        with _watch(testbed, tmp_path / "x.jsonl", [SITE], *options) as watch:
            _, stderr = watch.communicate(timeout=30)
        assert watch.returncode == 2 and fragment in stderr, stderr
