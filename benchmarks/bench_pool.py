"""`netprobe summarize` over a pooled dataset of 10 million results: DuckDB against Python.

Run from the repository root (no network, no root; a few minutes, ~1 GB of disk):

    python3 benchmarks/bench_pool.py [--results N] [--python-results M] [--keep DIR]

It writes (or, with ``--keep DIR``, reuses from an earlier run) a Parquet dataset of N
synthetic results (default 10,000,000) laid out as ``netprobe export --dataset`` writes
one: the same Arrow schema, Hive partitions ``date=/cc=/asn=``, partition columns in the
directory names only. It is a year of a volunteer network: 40 networks (39 in four
countries and one unknown, AS 0 / ZZ), 500 targets, 500 runs per network in bursts of
10 a day on 50 days; mostly accessible, with blocks of some targets on some networks for
stretches of days (dns.nxdomain, tls.reset, http.blockpage, tcp.timeout; country-wide
orders and per-ISP ones; some censors switch methods mid-year), flaky anomalies, sites
down for days, runs with the network down, an occasional error, and a JSON observations
column of a few hundred bytes per row. Its generation time is printed, not counted.

Then it times ``python -m netprobe summarize DIR --engine duckdb --format json`` in a
child process (stdout to a file): wall time and that child's own peak RSS (VmHWM). The
budget is 30 s and 1 GiB on two cores, for the median of 3 runs (``--repeat``); the JSON
must count N observations and every network. Beside it, the pure-Python engine's figure:
on the whole dataset when it fits in available memory (/proc/meminfo; the need estimated
from its runs on 20k and 200k results, and by netprobe's own estimate), else on the first
M results (default 1,000,000; ``--python-results M`` to choose), its figures on N then
extrapolated and printed as an estimate. Both engines must print byte-identical JSON for
the first 200,000 results (and for all N when Python ran on them). Prints a table of the
figures and exits 1 when a budget is missed or a figure is wrong. Not a test: the timing
depends on the machine, and on its neighbours on a shared VM.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netprobe.history._engine import python_footprint
from netprobe.output.dataset import _schema

ROOT: Final = Path(__file__).resolve().parent.parent

BUDGET_S: Final = 30.0
BUDGET_MB: Final = 1024.0
DEFAULT_RESULTS: Final = 10_000_000
CHECK_RESULTS: Final = 200_000
PYTHON_FALLBACK: Final = 1_000_000
GENERATOR: Final = "bench_pool/1"
"""Bumped when the generator changes, so that a kept dataset is made again."""

# (AS number, AS name, country); the last one is the unknown network.
NETWORKS: Final[tuple[tuple[int, str | None, str], ...]] = (
    (9198, "KAZTELECOM-AS", "KZ"),
    (35168, "ASTEL-AS", "KZ"),
    (21299, "KAR-TEL-AS", "KZ"),
    (206026, "KZ-BEELINE", "KZ"),
    (48503, "TELE2-KZ", "KZ"),
    (29355, "KCELL-AS", "KZ"),
    (50482, "KAZTRANSCOM-AS", "KZ"),
    (47161, "TNS-PLUS-AS", "KZ"),
    (39824, "ALMATV-AS", "KZ"),
    (48716, "PS-IX-AS", "KZ"),
    (12389, "ROSTELECOM-AS", "RU"),
    (8359, "MTS", "RU"),
    (3216, "SOVAM-AS", "RU"),
    (31133, "MF-MGSM-AS", "RU"),
    (12714, "TI-AS", "RU"),
    (25513, "ASN-MGTS-USPD", "RU"),
    (8402, "CORBINA-AS", "RU"),
    (42610, "NCNET-AS", "RU"),
    (20485, "TRANSTELECOM", "RU"),
    (35807, "SKYNET-SPB-AS", "RU"),
    (15378, "ERTH-TRANSIT-AS", "RU"),
    (8331, "RINET-AS", "RU"),
    (12668, "MIRALOGIC-AS", "RU"),
    (44507, "SIBSET-AS", "RU"),
    (6697, "BELPAK-AS", "BY"),
    (25106, "MTSBY-AS", "BY"),
    (42772, "A1-BY-AS", "BY"),
    (44087, "BEST-AS", "BY"),
    (56740, "BELTELECOM-ISP", "BY"),
    (21274, "BN-AS", "BY"),
    (31143, "SKYNET-BY", "BY"),
    (8193, "UZBEKTELECOM-AS", "UZ"),
    (34718, "COSCOM-AS", "UZ"),
    (41202, "UNITEL-AS", "UZ"),
    (43060, "UCELL-AS", "UZ"),
    (29385, "TPS-AS", "UZ"),
    (48717, "SARKOR-AS", "UZ"),
    (28910, "EVO-AS", "UZ"),
    (202660, "TURON-AS", "UZ"),
    (0, None, "ZZ"),
)
TARGETS: Final = 500
STRIDE: Final = len(NETWORKS) * TARGETS
"""Results per round of runs (one run on every network): results are numbered by run,
then network, then target, and a dataset of M results holds the first M of them."""
RUNS_PER_DAY: Final = 10
DAYS: Final = 50
"""A network measures on 50 days of the year (about weekly), 10 runs every 2 hours."""
START: Final = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORIES: Final = ("NEWS", "POLR", "HUMR", "COMT", "ANON", "GRP", "MMED", "SRCH", "LGBT")
# Censoring countries: share of targets a regulator orders blocked (percent), and the
# method each network uses (its own, then one for some targets).
COUNTRY_SHARE: Final = {"KZ": 4, "RU": 8, "BY": 6, "UZ": 5, "ZZ": 0}
METHODS: Final = {
    "KZ": ("tls.reset", "dns.nxdomain"),
    "RU": ("dns.nxdomain", "http.blockpage"),
    "BY": ("tcp.timeout", "http.blockpage"),
    "UZ": ("http.blockpage", "tls.reset"),
    "ZZ": ("tcp.timeout", "tcp.timeout"),
}
# Kinds of result, each with its evidence and observations: (verdict, blocking).
KINDS: Final = (
    ("accessible", None),
    ("blocked", "dns.nxdomain"),
    ("blocked", "tls.reset"),
    ("blocked", "http.blockpage"),
    ("blocked", "tcp.timeout"),
    ("anomaly", "tcp.timeout"),
    ("site_down", None),
    ("network_down", None),
    ("error", None),
)
_BLOCKED_KIND: Final = {blocking: i for i, (verdict, blocking) in enumerate(KINDS) if blocking}
ANOMALY, SITE_DOWN, NETWORK_DOWN, ERROR = 5, 6, 7, 8
PARTITIONS: Final = ("date", "cc", "asn")

U64 = NDArray[np.uint64]


# -- the dataset ---------------------------------------------------------------------------


def _splitmix(x: U64) -> U64:
    with np.errstate(over="ignore"):  # modulo 2**64, as meant
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mix(*keys: Any) -> U64:
    """A well-spread 64-bit hash of the keys (integers or arrays of them), element-wise;
    for fixed other keys, a bijection of the first."""
    value = _splitmix(np.asarray(keys[0], dtype=np.uint64))
    for key in keys[1:]:
        value = _splitmix(value ^ _splitmix(np.asarray(key, dtype=np.uint64) + np.uint64(1)))
    return value


def _below(hashes: U64, modulus: int, limit: int) -> NDArray[np.bool_]:
    return (hashes % np.uint64(modulus)) < np.uint64(limit)


def _hex_ids(numbers: U64) -> pa.Array:
    """A unique 32-hex id per number (two bijective hashes of it)."""
    count = len(numbers)
    words = np.stack([_mix(numbers, 11), _mix(numbers, 12)], axis=1).astype(">u8")
    raw = words.view(np.uint8).reshape(count, 16)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    text = np.empty((count, 32), dtype=np.uint8)
    text[:, 0::2] = digits[raw >> 4]
    text[:, 1::2] = digits[raw & 15]
    offsets = np.arange(0, 32 * (count + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))


def _domain(target: int) -> str:
    return f"www.site{target}.example"


def _address(target: int) -> str:
    return f"198.51.{100 + target // 250}.{target % 250 + 1}"


def _evidence(kind: int, target: int) -> str | None:
    domain, address = _domain(target), _address(target)
    return (
        None,
        f"the local resolver answers NXDOMAIN for {domain}; the control resolver answers {address}",
        f"TLS handshake with SNI {domain} to {address}:443 reset; the same address "
        "completes a handshake with SNI example.org",
        f"HTTP response for {domain} is a known block page (title 'Access restricted')",
        f"TCP connection to {address}:443 timed out; the control vantage point connects",
        f"TCP connection to {address}:443 timed out once; the next run connected",
        f"{domain} is down from the control vantage point too (HTTP 503)",
        "the network was down during the run: no DNS answer, no TCP connection",
        f"internal error while measuring {domain}: deadline passed",
    )[kind]


def _observations_parts(kind: int, target: int) -> list[str]:
    """The observations JSON of a result of this kind, cut around the two latencies that
    vary from run to run. Shorter than a real one (~3 KB: every DNS answer, certificate
    chain, header...) and with fewer per-target fields, so that 10 million of them take
    a few hundred MB, not gigabytes; no engine reads this column."""
    verdict, blocking = KINDS[kind]
    nxdomain, reset = blocking == "dns.nxdomain", blocking == "tls.reset"
    down = kind in (NETWORK_DOWN, ERROR)
    document = {
        "url": f"https://{_domain(target)}/",
        "list": "global",
        "verdict": verdict,
        "blocking": blocking,
        "evidence": _evidence(kind, target),
        "latency_ms": {"connect": 30.1, "dns": "@@0@@", "tls": 61.0, "ttfb": "@@1@@"},
        "service": None,
        "dns": [
            {
                "resolver": "192.0.2.53:53",
                "rcode": "NXDOMAIN" if nxdomain else "NOERROR",
                "addresses": [] if nxdomain or down else [_address(target)],
                "failure": "dns_timeout" if down else None,
            }
        ],
        "tcp": [] if nxdomain or down else [{"port": 443, "failure": None}],
        "tls": []
        if nxdomain or down
        else [
            {
                "failure": "connection_reset" if reset else None,
                "version": None if reset else "TLSv1.3",
            }
        ],
        "http": []
        if nxdomain or reset or down
        else [{"status": 503 if kind == SITE_DOWN else 200, "hop": 0}],
        "deadline_passed": kind == ERROR,
        "internal_error": None,
    }
    text = json.dumps(document, sort_keys=True, ensure_ascii=False)
    pieces = re.split(r'"@@(\d)@@"', text)
    assert pieces[1::2] == ["0", "1"], pieces[1::2]
    return pieces[0::2]


def _templates() -> tuple[pa.Array, list[pa.Array]]:
    """Per (kind, target) at kind * TARGETS + target: the evidence, and the observations
    JSON's three parts."""
    evidence = [_evidence(k, t) for k in range(len(KINDS)) for t in range(TARGETS)]
    parts = [_observations_parts(k, t) for k in range(len(KINDS)) for t in range(TARGETS)]
    return pa.array(evidence, pa.string()), [
        pa.array([p[i] for p in parts], pa.string()) for i in range(3)
    ]


def _rows_of(network: int, results: int) -> int:
    """How many of the first ``results`` results were measured on ``network``."""
    rounds, rest = divmod(results, STRIDE)
    full, partial = divmod(rest, TARGETS)
    return rounds * TARGETS + (TARGETS if network < full else partial if network == full else 0)


def _run_times(network: int, runs: int) -> tuple[list[datetime], NDArray[np.int64]]:
    """Each run's start, and its calendar day (days since START)."""
    index = np.arange(runs, dtype=np.int64)
    day = (index // RUNS_PER_DAY) * 365 // DAYS + network % 7
    starts = [
        START
        + timedelta(days=int(d), hours=2 * (r % RUNS_PER_DAY), minutes=network, seconds=network)
        for r, d in enumerate(day)
    ]
    return starts, day


def _verdict_kinds(network: int, target: U64, run: U64, day: U64, number: U64) -> U64:
    """The kind (index into KINDS) of each result: the story the dataset tells."""
    _, _, cc = NETWORKS[network]
    country = int.from_bytes(cc.encode(), "big")
    compliant = network % 6 != 5 and cc != "ZZ"  # some ISPs ignore the orders
    # A regulator's orders: the same targets, from the same day, on every network of cc.
    ordered = _below(_mix(country, target), 100, COUNTRY_SHARE[cc])
    began = _mix(country, target, 1) % np.uint64(330)
    lasts = np.where(
        _below(_mix(country, target, 2), 4, 1),
        np.uint64(1000),
        np.uint64(20) + _mix(country, target, 3) % np.uint64(200),
    )
    by_order = ordered & (day >= began) & (day < began + lasts) & compliant
    # The ISP's own blocks (3 % of targets, for 10 to 160 days), on censoring ones.
    own = _below(_mix(network, target, 4), 100, 3) & (cc != "ZZ")
    own_began = _mix(network, target, 5) % np.uint64(340)
    own_lasts = np.uint64(10) + _mix(network, target, 6) % np.uint64(150)
    by_isp = own & (day >= own_began) & (day < own_began + own_lasts)
    # The method: the network's own, another for some targets; every second RU network
    # moves from DNS to block pages in the second half of the year.
    first, other = METHODS[cc]
    methods = np.where(
        _below(_mix(network, target, 7), 4, 1),
        _BLOCKED_KIND[other],
        _BLOCKED_KIND[first],
    ).astype(np.int64)
    if cc == "RU" and network % 2 == 0:
        methods = np.where(day >= 180, _BLOCKED_KIND["http.blockpage"], methods)
    flaky = _mix(number, 8)
    fragile = _below(_mix(target, 9), 40, 1)
    site_down = fragile & _below(_mix(target, day // np.uint64(10), 10), 6, 1)
    network_down = _below(_mix(network, run, 11), 250, 1)
    kinds = np.select(
        [
            network_down,
            _below(flaky, 50_000, 1),
            site_down,
            by_order | by_isp,
            _below(flaky >> np.uint64(20), 1000, 4),
        ],
        [NETWORK_DOWN, ERROR, SITE_DOWN, methods, ANOMALY],
        default=0,
    )
    return kinds.astype(np.uint64)


def _network_table(
    network: int, rows: int, evidence: pa.Array, parts: list[pa.Array]
) -> tuple[pa.Table, list[datetime]]:
    """The first ``rows`` results of ``network``, in run order, without partition columns."""
    _, as_name, _ = NETWORKS[network]
    runs = -(-rows // TARGETS)
    starts, days = _run_times(network, runs)
    row = np.arange(rows, dtype=np.uint64)
    run, target = row // np.uint64(TARGETS), row % np.uint64(TARGETS)
    number = run * np.uint64(STRIDE) + np.uint64(network * TARGETS) + target
    day = days.astype(np.uint64)[run.astype(np.intp)]
    kinds = _verdict_kinds(network, target, run, day, number)
    template = pa.array((kinds * np.uint64(TARGETS) + target).astype(np.int64))
    kind_of = pa.array(kinds.astype(np.int64))
    verdicts = pc.take(pa.array([v for v, _ in KINDS], pa.string()), kind_of)
    blockings = pc.take(pa.array([b for _, b in KINDS], pa.string()), kind_of)
    run_ids = [
        f"{moment:%Y%m%dT%H%M%SZ}-{int(_mix(network, r, 12)) & 0xFFFFFF:06x}"
        for r, moment in enumerate(starts)
    ]
    micros = [int((moment - START).total_seconds()) * 1_000_000 for moment in starts]
    start_us = int(START.timestamp()) * 1_000_000
    run_index = pa.array(run.astype(np.int64))
    measured = pc.add(pc.take(pa.array(micros, pa.int64()), run_index), start_us)
    latency = _mix(number, 13)
    numbers = [  # "12.5": dns from 8 ms, ttfb from 40 ms
        pc.binary_join_element_wise(
            pc.cast(pa.array((latency >> np.uint64(32 * i)) % np.uint64(span) + low), pa.string()),
            pc.cast(pa.array((latency >> np.uint64(32 * i + 16)) % np.uint64(10)), pa.string()),
            ".",
        )
        for i, (low, span) in enumerate(((8, 120), (40, 900)))
    ]
    pieces = [pc.take(part, template) for part in parts]
    observations = pc.binary_join_element_wise(
        pieces[0], numbers[0], pieces[1], numbers[1], pieces[2], ""
    )
    version = np.select([day < 120, day < 250], [0, 1], default=2)
    targets = pa.array(target.astype(np.int64))
    columns: dict[str, pa.Array] = {
        "id": _hex_ids(number),
        "run": pc.take(pa.array(run_ids, pa.string()), run_index),
        "measured_at": pc.cast(measured, pa.timestamp("us", tz="UTC")),
        "as_name": pa.nulls(rows, pa.string()) if as_name is None else pa.array([as_name] * rows),
        "url": pc.take(pa.array([f"https://{_domain(t)}/" for t in range(TARGETS)]), targets),
        "domain": pc.take(pa.array([_domain(t) for t in range(TARGETS)]), targets),
        "list": pc.take(pa.array(["global"] * 400 + ["regional"] * 100), targets),
        "category": pc.take(
            pa.array([CATEGORIES[t % len(CATEGORIES)] for t in range(TARGETS)]), targets
        ),
        "service": pa.nulls(rows, pa.string()),
        "verdict": verdicts,
        "blocking": blockings,
        "evidence": pc.take(evidence, template),
        "tool_version": pc.take(pa.array(["0.1.0", "0.2.0", "0.3.0"]), pa.array(version)),
        "observations": observations,
    }
    return pa.table(columns, schema=_file_schema()), starts


def _file_schema() -> pa.Schema:
    full = _schema(pa)
    return pa.schema([f for f in full if f.name not in PARTITIONS], metadata=full.metadata)


def _write_network(task: tuple[str, int, int]) -> tuple[int, int]:
    """Writes ``network``'s part of the first ``results`` results into ``directory``, one
    file per (date, cc, asn); returns (files, bytes)."""
    directory, network, results = task
    rows = _rows_of(network, results)
    if not rows:
        return 0, 0
    evidence, parts = _templates()
    table, starts = _network_table(network, rows, evidence, parts)
    asn, _, cc = NETWORKS[network]
    files = size = 0
    per_day = RUNS_PER_DAY * TARGETS
    for first in range(0, rows, per_day):
        day = starts[first // TARGETS]
        token = hashlib.sha256(f"{GENERATOR} {asn} {day:%Y-%m-%d}".encode()).hexdigest()[:16]
        folder = Path(directory) / f"date={day:%Y-%m-%d}" / f"cc={cc}" / f"asn={asn}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{token}-0.parquet"
        pq.write_table(table.slice(first, per_day), path, compression="zstd")  # as export
        files += 1
        size += path.stat().st_size
    return files, size


@dataclass(frozen=True)
class Dataset:
    path: Path
    results: int
    files: int
    size: int


def ensure_dataset(root: Path, results: int) -> Dataset:
    """The dataset of the first ``results`` results in ``root``, made unless a complete
    one is there already (its ``.json`` stamp beside it says so)."""
    path = root / f"results-{results}"
    stamp = root / f"results-{results}.json"
    expected = {"generator": GENERATOR, "results": results}
    if stamp.exists() and path.is_dir():
        made = json.loads(stamp.read_text("utf-8"))
        found = list(path.rglob("*.parquet"))
        if {k: made.get(k) for k in expected} == expected and len(found) == made["files"]:
            size = sum(p.stat().st_size for p in found)
            if size == made["size"]:
                print(f"  reused {path} ({results:,} results, {len(found):,} files)")
                return Dataset(path, results, len(found), size)
    shutil.rmtree(path, ignore_errors=True)
    stamp.unlink(missing_ok=True)
    path.mkdir(parents=True)
    started = time.perf_counter()
    tasks = [(str(path), network, results) for network in range(len(NETWORKS))]
    with Pool(min(2, os.cpu_count() or 1)) as pool:
        written = pool.map(_write_network, tasks, chunksize=1)
    files, size = sum(f for f, _ in written), sum(s for _, s in written)
    os.sync()  # no write-back of the new files during the measurements
    stamp.write_text(json.dumps({**expected, "files": files, "size": size}), "utf-8")
    print(f"  generated {results:,} results in {time.perf_counter() - started:.1f} s: "
          f"{files:,} files, {size / 1e6:,.0f} MB")  # fmt: skip
    return Dataset(path, results, files, size)


# -- the measurements --------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    dataset: Dataset
    engine: str
    wall_s: float
    rss_mb: float
    output: Path
    note: str = ""


# `python -m netprobe ARGS...` (run as __main__, as there: DuckDB draws a progress bar on
# stdout when __main__ has no file), then this process's own peak RSS (VmHWM) into the
# file named first. Not ru_maxrss: Linux carries it over exec from the parent (this
# benchmark, with whatever it has loaded).
_DRIVER = """
import runpy, sys
peak_file, sys.argv = sys.argv[1], ["netprobe", *sys.argv[2:]]
try:
    runpy.run_module("netprobe", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
sys.stdout.flush()
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
with open(peak_file, "w") as out:
    out.write(str(peak))
sys.exit(code)
"""


def summarize(dataset: Dataset, engine: str, scratch: Path) -> Figure:
    """Times ``python -m netprobe summarize DIR --engine ENGINE --format json`` in a child
    process (stdout to a file), with the child's own peak RSS."""
    name = f"summary-{dataset.results}-{engine}"
    output, errors, peak = (scratch / f"{name}.{ext}" for ext in ("json", "stderr", "peak"))
    arguments = ["summarize", str(dataset.path), "--engine", engine, "--format", "json"]
    command = [sys.executable, "-c", _DRIVER, str(peak), *arguments]
    with output.open("wb") as stdout, errors.open("wb") as stderr:
        started = time.perf_counter()
        status = subprocess.run(command, cwd=ROOT, stdout=stdout, stderr=stderr, check=False)
        wall = time.perf_counter() - started
    if status.returncode:
        raise SystemExit(
            f"netprobe {' '.join(arguments)} exited {status.returncode}:\n"
            f"{errors.read_text()[-2000:]}"
        )
    warned = errors.read_text().strip()
    if warned:
        print(f"  warnings from {engine} on {dataset.results:,}:\n{warned[:2000]}")
    return Figure(dataset, engine, wall, int(peak.read_text()) / 1024, output)


def check_summary(figure: Figure) -> list[str]:
    """What is wrong with a summary of a whole dataset, if anything."""
    summary = json.loads(figure.output.read_bytes())
    results = figure.dataset.results
    networks = len(NETWORKS) if results >= STRIDE else -(-results // TARGETS)
    targets = sum(min(TARGETS, _rows_of(n, results)) for n in range(len(NETWORKS)))
    wrong = []
    if summary["observations"] != results:
        wrong.append(f"{summary['observations']:,} observations, not {results:,}")
    if len(summary["networks"]) != networks:
        wrong.append(f"{len(summary['networks'])} networks, not {networks}")
    if len(summary["targets"]) != targets:
        wrong.append(f"{len(summary['targets']):,} histories, not {targets:,}")
    if not any(n["ever_interfered"] for n in summary["networks"]):
        wrong.append("no network ever blocked a target")
    return [f"{figure.engine} on {results:,}: {w}" for w in wrong]


def _available_mb() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _row(figure: Figure) -> str:
    return (
        f"  {figure.dataset.results:>12,}  {figure.dataset.size / 1e6:>10,.0f}  "
        f"{figure.engine + figure.note:<34} {figure.wall_s:>7.1f}  {figure.rss_mb:>11,.0f}"
    )


def _line(x: tuple[float, float], y: tuple[float, float], at: float) -> float:
    """The straight line through (x[0], y[0]) and (x[1], y[1]), at ``at``."""
    return y[0] + (y[1] - y[0]) * (at - x[0]) / (x[1] - x[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=int, default=DEFAULT_RESULTS, metavar="N")
    parser.add_argument(
        "--python-results",
        type=int,
        metavar="M",
        help="run the Python engine on the first M results (default: all N when they fit "
        f"in available memory, else {PYTHON_FALLBACK:,})",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, metavar="K", help="DuckDB runs on N (median: 3)"
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the datasets in DIR; reuse them")
    args = parser.parse_args()
    total: int = args.results
    if total < 2 * STRIDE:
        parser.error(f"--results: at least {2 * STRIDE:,}")
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        scratch = Path(tmp)
        root = Path(args.keep) if args.keep else scratch
        root.mkdir(parents=True, exist_ok=True)
        full = ensure_dataset(root, total)
        check = full if total <= CHECK_RESULTS else ensure_dataset(root, CHECK_RESULTS)
        tiny = ensure_dataset(root, STRIDE)  # one run per network: Python's fixed cost
        wrong: list[str] = []

        runs = [summarize(full, "duckdb", scratch) for _ in range(max(1, args.repeat))]
        duck = sorted(runs, key=lambda figure: figure.wall_s)[len(runs) // 2]
        wrong += check_summary(duck)
        if len(runs) > 1:
            walls = ", ".join(f"{figure.wall_s:.1f}" for figure in runs)
            rss = ", ".join(f"{figure.rss_mb:,.0f}" for figure in runs)
            print(f"  duckdb on {total:,}, {len(runs)} runs: {walls} s; {rss} MB")
            duck = Figure(
                full, "duckdb", duck.wall_s, max(f.rss_mb for f in runs), duck.output,
                note=f" (median of {len(runs)}, worst RSS)",
            )  # fmt: skip
        figures = [duck]

        small = [summarize(check, engine, scratch) for engine in ("duckdb", "python")]
        identical = small[0].output.read_bytes() == small[1].output.read_bytes()
        if not identical:
            wrong.append(f"the engines' JSON differ on the first {check.results:,} results")
        wrong += check_summary(small[1])

        # Python: all N if they fit in memory, else M. Its memory grows faster than a line
        # through two small runs (5.1 GB at 10M, 3.1 GB so extrapolated): netprobe's own
        # estimate (what --engine auto goes by) is taken when larger.
        fixed = summarize(tiny, "python", scratch)
        sizes = (float(tiny.results), float(check.results))
        line_mb = _line(sizes, (fixed.rss_mb, small[1].rss_mb), total)
        needed_mb = max(line_mb, python_footprint([str(full.path)]) / 2**20)
        available_mb = _available_mb()
        chosen: int = args.python_results or (
            total if needed_mb * 1.25 < available_mb else min(PYTHON_FALLBACK, total)
        )
        print(f"  python engine on {total:,}: about {needed_mb:,.0f} MB needed, "
              f"{available_mb:,.0f} MB available: run on {min(chosen, total):,}")  # fmt: skip
        python_set = full if chosen >= total else ensure_dataset(root, chosen)
        python = summarize(python_set, "python", scratch)
        wrong += check_summary(python)
        figures.append(python)
        same_full = python_set is full and python.output.read_bytes() == duck.output.read_bytes()
        if python_set is full:
            if not same_full:
                wrong.append(f"the engines' JSON differ on all {total:,} results")
        else:
            figures.append(summarize(python_set, "duckdb", scratch))
            other = small[1] if chosen != check.results else fixed
            sizes = (float(other.dataset.results), float(chosen))
            figures.append(
                Figure(
                    full,
                    "python",
                    _line(sizes, (other.wall_s, python.wall_s), total),
                    _line(sizes, (other.rss_mb, python.rss_mb), total),
                    python.output,
                    note=" ESTIMATE, not run",
                )
            )
        figures += small

    print()
    print(
        f"  {'results':>12}  {'Parquet MB':>10}  {'engine':<34} {'wall s':>7}  {'peak RSS MB':>11}"
    )
    for figure in figures:
        print(_row(figure))
    if python_set is not full:
        print(f"  python on {total:,} was not run: its figures are an estimate, a straight line "
              f"through its runs on {other.dataset.results:,} and {chosen:,} results")  # fmt: skip
    print(f"  both engines' JSON on the first {check.results:,} results: "
          f"{'byte-identical' if identical else 'DIFFERENT'}")  # fmt: skip
    if python_set is full:
        print(f"  both engines' JSON on all {total:,} results: "
              f"{'byte-identical' if same_full else 'DIFFERENT'}")  # fmt: skip
    within_s, within_mb = duck.wall_s <= BUDGET_S, duck.rss_mb <= BUDGET_MB
    print(f"  duckdb on {total:,}: {duck.wall_s:.1f} s <= {BUDGET_S:.0f} s "
          f"{'ok' if within_s else 'OVER BUDGET'}; {duck.rss_mb:,.0f} MB <= {BUDGET_MB:,.0f} MB "
          f"{'ok' if within_mb else 'OVER BUDGET'}")  # fmt: skip
    for problem in wrong:
        print(f"  WRONG: {problem}")
    return 0 if within_s and within_mb and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
