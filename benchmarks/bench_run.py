"""Speed and memory of `netprobe run`, measured in the censorship testbed.

Run as root from the repository root:

    sudo python3 benchmarks/bench_run.py [--timeout 2] [--skip-baseline]

It brings the testbed up, then measures in the censored network:

- a run over 300 HTTPS targets of which 60 are blackholed (every fifth), with
  netprobe's default concurrency, against the budget
  ``1.3 x step timeout + the clean targets' own time`` (the 240 clean ones measured alone);
- netprobe's peak RSS during that run (budget 150 MB);
- `netprobe --help` start-up time (best of 5, budget 0.3 s);
- a naive baseline: a sequential curl loop over the same 300 targets, with the same
  timeout, measured in the same run.

Prints the figures side by side and exits 1 when a budget is missed. Not a test: its
figures depend on the machine, so it reports instead of asserting in CI.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.testbed import Testbed
from tests.testbed.topology import BULK_BLACKHOLED, BULK_OPEN

TARGETS, BLACKHOLED_EVERY = 300, 5
RSS_BUDGET_MB = 150
HELP_BUDGET_S = 0.3

# Runs netprobe as a child and reports the child's peak RSS next to its exit status.
_RSS_WRAPPER = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(json.dumps({"rc": done.returncode, "rss_mb": rss_kb / 1024}) + "\\n")
sys.stdout.buffer.write(done.stdout)
"""


def _urls() -> tuple[list[str], list[str]]:
    every, clean = [], []
    for i in range(TARGETS):
        parent = BULK_BLACKHOLED if i % BLACKHOLED_EVERY == BLACKHOLED_EVERY - 1 else BULK_OPEN
        url = f"https://n{i}.{parent}/"
        every.append(url)
        if parent == BULK_OPEN:
            clean.append(url)
    return every, clean


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss_mb: float
    verdicts: Counter[str]


def _netprobe(bed: Testbed, urls: list[str], timeout: float, workdir: Path) -> Measured:
    listing = workdir / f"targets-{len(urls)}.txt"
    listing.write_text("\n".join(urls) + "\n")
    argv = [
        sys.executable, "-c", _RSS_WRAPPER,
        sys.executable, "-m", "netprobe", "run", "-f", str(listing),
        "--control-resolver", bed.control_resolver, "--ca-bundle", str(bed.ca_bundle),
        "--timeout", str(timeout), "--format", "json", "-q",
        # The testbed emulates the internet in the benchmarking block: it says so.
        "--routable", "198.18.0.0/15",
    ]  # fmt: skip
    started = time.monotonic()
    done = bed.networks["censored"].run(argv, timeout=600)
    seconds = time.monotonic() - started
    usage = json.loads(done.stderr.strip().splitlines()[-1])
    report = json.loads(done.stdout)
    verdicts = Counter(
        f"{r['verdict']}/{r['blocking']}" if r["blocking"] else r["verdict"]
        for r in report["results"]
    )
    if usage["rc"] != 0:
        raise SystemExit(f"netprobe exited {usage['rc']}")
    return Measured(seconds, usage["rss_mb"], verdicts)


def _curl_loop(bed: Testbed, urls: list[str], timeout: float) -> float:
    loop = " ".join(
        f"curl -s -o /dev/null --max-time {timeout} --cacert {shlex.quote(str(bed.ca_bundle))} "
        f"{shlex.quote(u)};"
        for u in urls
    )
    started = time.monotonic()
    bed.networks["censored"].run(["sh", "-c", loop], timeout=3600)
    return time.monotonic() - started


def _help_seconds() -> float:
    best = float("inf")
    for _ in range(5):
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "netprobe", "--help"], capture_output=True, check=True
        )
        best = min(best, time.monotonic() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=2.0, help="per-step timeout (s)")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the curl loop")
    args = parser.parse_args()
    every, clean = _urls()
    with Testbed() as bed, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        full = _netprobe(bed, every, args.timeout, workdir)
        alone = _netprobe(bed, clean, args.timeout, workdir)
        baseline = None if args.skip_baseline else _curl_loop(bed, every, args.timeout)
    help_s = _help_seconds()

    budget = 1.3 * args.timeout + alone.seconds
    checks = [
        (
            f"{TARGETS} targets, {TARGETS // BLACKHOLED_EVERY} blackholed",
            f"{full.seconds:.2f} s",
            f"<= {budget:.2f} s",
            full.seconds <= budget,
        ),
        (f"{len(clean)} clean targets alone", f"{alone.seconds:.2f} s", "", True),
        (
            "peak RSS (300 targets)",
            f"{full.rss_mb:.0f} MB",
            f"< {RSS_BUDGET_MB} MB",
            full.rss_mb < RSS_BUDGET_MB,
        ),
        ("netprobe --help", f"{help_s:.3f} s", f"< {HELP_BUDGET_S} s", help_s < HELP_BUDGET_S),
    ]
    if baseline is not None:
        checks.append(("baseline: sequential curl loop", f"{baseline:.2f} s", "", True))
    print(f"per-step timeout {args.timeout} s, default concurrency")
    for what, figure, limit, ok in checks:
        print(f"  {what:<36} {figure:>10}  {limit:<12} {'ok' if ok else 'OVER BUDGET'}")
    print(f"  verdicts: {dict(full.verdicts)}")
    expected = {"accessible": len(clean), "anomaly/tcp.timeout": TARGETS - len(clean)}
    right = dict(full.verdicts) == expected
    if not right:
        print(f"  WRONG VERDICTS: expected {expected}")
    return 0 if right and all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
