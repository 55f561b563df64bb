"""Speed and memory of `netprobe run` against curl, measured in the censorship testbed.

Run as root from the repository root:

    sudo python3 benchmarks/bench_run.py [--timeout 4] [--only small,full,big]

It brings the testbed up and measures, in the censored network, in one run:

- ``small``: 300 HTTPS targets, every fifth blackholed (60), against
  ``xargs -P 64 curl`` over the same list with the same timeout. Budget: at most
  1.3 x step timeout + 1 s, and at most 0.9 x the curl figure.
- ``full``: 1,500 targets (a full global test list), 300 of them blackholed, against
  ``xargs -P 256 curl`` and ``xargs -P 64 curl``. Budget: at most 1.0 x the
  ``-P 256`` figure; peak RSS at most 150 MB; the wind-down (from the last result on
  stdout to the exit, report written) at most 0.2 s; every verdict right.
- ``big``: 300 targets whose servers all send a 50 MiB body, at concurrency 64 and
  256: peak RSS must not grow with concurrency x body cap (a body in flight holds only
  its first 64 KiB; the rest is counted and hashed as it streams). Budget: 150 MB at
  256, and less than one body cap per more target in flight.
- in every netprobe run, the longest stall of the event loop: the longest any single
  callback (one target's step, a garbage collection in it) kept the loop from the
  others. Budget: 50 ms.
- `netprobe --help` start-up (best of 5). Budget: 0.3 s.

The censored network's links have no added latency (this kernel has no netem), so the
figures are CPU-bound: netprobe and curl share the same two cores with the servers.
Prints every figure beside its budget and exits 1 when one is missed. Not a test: its
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
from tests.testbed.topology import BULK_BIG, BULK_BLACKHOLED, BULK_OPEN

BLACKHOLED_EVERY = 5
RSS_BUDGET_MB = 150
HELP_BUDGET_S = 0.3
STALL_BUDGET_MS = 50
WIND_DOWN_BUDGET_S = 0.2
BODY_CAP_MB = 1.0  # netprobe's read cap per body (netprobe._defaults.BODY_CAP)

# Runs netprobe in this process, timing every callback the event loop runs (the longest
# is the longest stall: no other target's step could run meanwhile, garbage collection
# included), then reports the peak RSS, the exit status and that stall on stderr.
_DRIVER = """
import asyncio, json, sys, time
worst = [0.0]
run = asyncio.events.Handle._run
def timed(handle):
    started = time.perf_counter()
    run(handle)
    worst[0] = max(worst[0], time.perf_counter() - started)
asyncio.events.Handle._run = timed
from netprobe.cli import main
try:
    main(sys.argv[1:])
    rc = 0
except SystemExit as exc:
    rc = exc.code if isinstance(exc.code, int) else 1
# VmHWM, not ru_maxrss, which Linux carries over exec from the parent process.
with open("/proc/self/status") as status:
    rss = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
sys.stderr.write(json.dumps({"rc": rc, "rss_mb": rss, "stall_ms": worst[0] * 1000}) + "\\n")
"""


def _urls(count: int, open_parent: str = BULK_OPEN) -> list[str]:
    def parent(i: int) -> str:
        return BULK_BLACKHOLED if i % BLACKHOLED_EVERY == BLACKHOLED_EVERY - 1 else open_parent

    return [f"https://n{i}.{parent(i)}/" for i in range(count)]


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss_mb: float
    stall_ms: float
    wind_down_s: float
    verdicts: Counter[str]


def _netprobe(bed: Testbed, urls: list[str], timeout: float, workdir: Path, *more: str) -> Measured:
    listing = workdir / f"targets-{len(urls)}.txt"
    listing.write_text("\n".join(urls) + "\n")
    argv = [
        "ip", "netns", "exec", bed.networks["censored"].client_ns,
        sys.executable, "-c", _DRIVER, "run", "-f", str(listing),
        "--control-resolver", bed.control_resolver, "--ca-bundle", str(bed.ca_bundle),
        "--timeout", str(timeout), "--format", "jsonl", "-q", "-o", str(workdir / "report.json"),
        "--ip-service", f"http://{bed.echo_ip}/",
        # The testbed emulates the internet in the benchmarking block: it says so.
        "--routable", "198.18.0.0/15", *more,
    ]  # fmt: skip
    started = time.monotonic()
    last_line = started
    verdicts: Counter[str] = Counter()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        assert run.stdout is not None and run.stderr is not None
        for line in run.stdout:
            last_line = time.monotonic()
            result = json.loads(line)
            blocking = result["blocking"]
            verdicts[f"{result['verdict']}/{blocking}" if blocking else result["verdict"]] += 1
        stderr = run.stderr.read()
    ended = time.monotonic()
    usage = json.loads(stderr.strip().splitlines()[-1])
    if usage["rc"] != 0:
        raise SystemExit(f"netprobe exited {usage['rc']}: {stderr[-2000:]}")
    return Measured(
        ended - started, usage["rss_mb"], usage["stall_ms"], ended - last_line, verdicts
    )


def _curl(bed: Testbed, urls: list[str], timeout: float, parallel: int, workdir: Path) -> float:
    listing = workdir / f"curl-{len(urls)}.txt"
    listing.write_text("\n".join(urls) + "\n")
    command = (
        f"xargs -P {parallel} -n 1 curl -s -o /dev/null --max-time {timeout} "
        f"--cacert {shlex.quote(str(bed.ca_bundle))} < {shlex.quote(str(listing))}"
    )
    started = time.monotonic()
    bed.networks["censored"].run(["sh", "-c", command], timeout=3600)
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


def _expected(urls: list[str]) -> dict[str, int]:
    blackholed = sum(BULK_BLACKHOLED in u for u in urls)
    return {"accessible": len(urls) - blackholed, "anomaly/tcp.timeout": blackholed}


Check = tuple[str, str, str, bool]


def _run_checks(
    name: str, measured: Measured, urls: list[str], budget_s: float | None
) -> list[Check]:
    checks: list[Check] = []
    if budget_s is not None:
        checks.append(
            (f"{name}: netprobe", f"{measured.seconds:.2f} s", f"<= {budget_s:.2f} s",
             measured.seconds <= budget_s)
        )  # fmt: skip
    checks += [
        (f"{name}: peak RSS", f"{measured.rss_mb:.0f} MB", f"<= {RSS_BUDGET_MB} MB",
         measured.rss_mb <= RSS_BUDGET_MB),
        (f"{name}: longest loop stall", f"{measured.stall_ms:.0f} ms",
         f"<= {STALL_BUDGET_MS} ms", measured.stall_ms <= STALL_BUDGET_MS),
        (f"{name}: verdicts right", str(dict(measured.verdicts)), "",
         dict(measured.verdicts) == _expected(urls)),
    ]  # fmt: skip
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=4.0, help="per-step timeout (s)")
    parser.add_argument("--only", default="small,full,big", help="scenarios to run")
    args = parser.parse_args()
    only = set(args.only.split(","))
    t = args.timeout
    checks: list[Check] = []
    with Testbed() as bed, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "small" in only:
            urls = _urls(300)
            curl64 = _curl(bed, urls, t, 64, workdir)
            small = _netprobe(bed, urls, t, workdir)
            checks += _run_checks("300 targets", small, urls, 1.3 * t + 1)
            checks += [
                ("300 targets: xargs -P 64 curl", f"{curl64:.2f} s", "", True),
                ("300 targets: netprobe / curl -P 64", f"{small.seconds / curl64:.2f}",
                 "<= 0.90", small.seconds <= 0.9 * curl64),
            ]  # fmt: skip
        if "full" in only:
            urls = _urls(1500)
            curl256 = _curl(bed, urls, t, 256, workdir)
            curl64 = _curl(bed, urls, t, 64, workdir)
            full = _netprobe(bed, urls, t, workdir)
            checks += _run_checks("1500 targets", full, urls, None)
            checks += [
                ("1500 targets: netprobe", f"{full.seconds:.2f} s", "", True),
                ("1500 targets: xargs -P 256 curl", f"{curl256:.2f} s", "", True),
                ("1500 targets: xargs -P 64 curl", f"{curl64:.2f} s", "", True),
                ("1500 targets: netprobe / curl -P 256", f"{full.seconds / curl256:.2f}",
                 "<= 1.00", full.seconds <= curl256),
                ("1500 targets: wind-down", f"{full.wind_down_s:.2f} s",
                 f"<= {WIND_DOWN_BUDGET_S} s", full.wind_down_s <= WIND_DOWN_BUDGET_S),
            ]  # fmt: skip
        if "big" in only:
            urls = _urls(300, BULK_BIG)
            narrow = _netprobe(bed, urls, t, workdir, "--concurrency", "64")
            wide = _netprobe(bed, urls, t, workdir, "--concurrency", "256")
            checks += _run_checks("300 max bodies, 256 at once", wide, urls, None)
            per_target = (wide.rss_mb - narrow.rss_mb) / (256 - 64)
            checks += [
                ("300 max bodies, 64 at once: RSS", f"{narrow.rss_mb:.0f} MB", "", True),
                ("300 max bodies, 64 at once: time", f"{narrow.seconds:.2f} s", "", True),
                ("300 max bodies, 256 at once: time", f"{wide.seconds:.2f} s", "", True),
                # Were bodies held whole, each more target in flight would cost a body cap.
                ("RSS per more target in flight", f"{per_target:.2f} MB",
                 f"< {BODY_CAP_MB} MB (cap)", per_target < BODY_CAP_MB),
            ]  # fmt: skip
    help_s = _help_seconds()
    checks.append(
        ("netprobe --help", f"{help_s:.3f} s", f"<= {HELP_BUDGET_S} s", help_s <= HELP_BUDGET_S)
    )
    print(f"per-step timeout {t} s, default concurrency unless said")
    for what, figure, limit, ok in checks:
        print(f"  {what:<40} {figure:>10}  {limit:<12} {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
