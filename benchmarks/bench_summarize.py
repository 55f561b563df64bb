"""Speed of `netprobe summarize` over 10,000 results, reports and watch logs mixed.

Run from the repository root (no network, no root):

    python3 benchmarks/bench_summarize.py [--keep DIR]

It writes, in a temporary directory, a day of measurements of 100 targets on four
networks every 15 minutes (25 runs each): two networks as watch logs (one JSON Lines
record per result per run) and two as one pretty-printed report per run, with
realistic DNS/TCP/TLS/HTTP observations in every result. Then it times reading them
(`load_records`), `summarize` and the HTML timeline, against a budget of 3 s for
the three together, and prints the figures; it exits 1 when the budget is missed or
the figures are wrong. Not a test: the timing depends on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netprobe.history import load_records, summarize, summary_to_json, timeline_html

TARGETS, RUNS, EVERY = 100, 25, timedelta(minutes=15)
START = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
BUDGET_S = 3.0
# (asn, AS name, as a watch log rather than reports)
NETWORKS = (
    (9198, "KAZTELECOM-AS", True),
    (35168, "ASTEL-AS", True),
    (21299, "KAR-TEL-AS", False),
    (206026, "KZ-BEELINE", False),
)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _outcome(target: int, net: int, run: int) -> tuple[str, str | None]:
    """A story: every fifth target blocked by SNI from run 8 to run 16 on the first network,
    by DNS from run 4 on the second; a few flaky ones everywhere."""
    if target % 5 == 0 and net == 0 and 8 <= run < 16:
        return "blocked", "tls.reset"
    if target % 5 == 0 and net == 1 and run >= 4:
        return "blocked", "dns.nxdomain"
    if target % 17 == 0 and run % 6 == 0:
        return "anomaly", "tcp.timeout"
    if target % 23 == 0:
        return "site_down", None
    return "accessible", None


def _result(target: int, net: int, run: int, asn: int) -> dict[str, Any]:
    domain = f"www.site{target}.example"
    verdict, blocking = _outcome(target, net, run)
    address = f"198.51.100.{target % 250}"
    failure = "connection_reset" if blocking == "tls.reset" else None
    return {
        "url": f"https://{domain}/",
        "domain": domain,
        "list": "news",
        "category": "NEWS",
        "verdict": verdict,
        "blocking": blocking,
        "evidence": None
        if verdict == "accessible"
        else f"TLS handshake with SNI {domain} to {address}:443 reset; the same address "
        "completes a handshake with SNI example.org",
        "latency_ms": {"dns": 12.5, "connect": 30.1, "tls": 61.0, "ttfb": 120.4},
        "probe_asn": asn,
        "service": None,
        "dns": [
            {
                "domain": domain,
                "query_type": "A",
                "resolver": resolver,
                "role": role,
                "t0": 0.001,
                "duration_ms": 12.5,
                "failure": None,
                "rcode": "NOERROR",
                "addresses": [address],
                "cnames": [],
                "ttl": 300,
                "late_replies": [],
                "answers": [{"address": address, "asn": 64500, "as_name": "EXAMPLE-CDN"}],
            }
            for resolver, role in (("192.0.2.53:53", "local"), ("https://dns.invalid", "control"))
        ],
        "tcp": [
            {
                "address": address,
                "port": 443,
                "role": "local",
                "t0": 0.02,
                "duration_ms": 30.1,
                "failure": None,
            }
        ],
        "tls": [
            {
                "address": address,
                "port": 443,
                "sni": domain,
                "purpose": "target",
                "t0": 0.05,
                "duration_ms": 61.0,
                "failure": failure,
                "handshake_completed": failure is None,
                "version": "TLSv1.3",
                "cipher": "TLS_AES_256_GCM_SHA384",
                "chain": [
                    {
                        "subject": f"CN={domain}",
                        "issuer": "CN=Example CA,O=Example",
                        "sha256": f"{target:064x}",
                    }
                ],
            }
        ],
        "http": [
            {
                "url": f"https://{domain}/",
                "address": address,
                "host": domain,
                "purpose": "target",
                "hop": 0,
                "t0": 0.11,
                "duration_ms": 120.4,
                "failure": None,
                "ttfb_ms": 120.4,
                "status": 200,
                "headers": [["content-type", "text/html"], ["server", "nginx"]],
                "title": f"Site {target} — news",
                "body_length": 48213,
                "body_sha256": f"{target + run:064x}",
                "body_truncated": False,
                "location": None,
                "blockpage": None,
                "tls_failure": None,
            }
        ],
    }


def _probe(asn: int, name: str) -> dict[str, Any]:
    return {
        "asn": asn,
        "as_name": name,
        "cc": "KZ",
        "ip_method": "dns",
        "asn_note": None,
        "network": "up",
        "resolver": "192.0.2.53:53",
        "control_resolvers": ["https://dns.invalid/dns-query"],
    }


def write_inputs(directory: Path) -> tuple[list[Path], int]:
    """The files, and how many results they hold."""
    paths, total = [], 0
    for net, (asn, name, as_log) in enumerate(NETWORKS):
        log = directory / f"watch-AS{asn}.jsonl"
        lines = []
        for run in range(RUNS):
            started = START + run * EVERY
            results = [_result(t, net, run, asn) for t in range(TARGETS)]
            total += len(results)
            times = {"started_at": _iso(started), "finished_at": _iso(started + EVERY / 30)}
            if as_log:
                lines += [
                    json.dumps(
                        {
                            "schema": "netprobe.watch/1",
                            "run": f"AS{asn}-{run}",
                            **times,
                            "probe": {"asn": asn, "as_name": name, "cc": "KZ", "network": "up"},
                            "result": result,
                        }
                    )
                    for result in results
                ]
                continue
            report = {
                "schema": "netprobe.report/1",
                "tool": {"name": "netprobe", "version": "0.1.0"},
                **times,
                "complete": True,
                "probe": _probe(asn, name),
                "options": {},
                "summary": {"total": len(results), "duration_s": 30.0, "verdicts": {}},
                "results": results,
                "services": [],
                "notes": [],
            }
            path = directory / f"report-AS{asn}-{run:02}.json"
            path.write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
            paths.append(path)
        if lines:
            log.write_text("\n".join(lines) + "\n", "utf-8")
            paths.append(log)
    return paths, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="write the inputs and the page here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-summarize-") as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        paths, total = write_inputs(directory)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6

        started = time.perf_counter()
        loaded = load_records(paths)
        read = time.perf_counter()
        summary = summarize(loaded.observations)
        summarised = time.perf_counter()
        page = timeline_html(summary, title="benchmark: 10,000 results")
        rendered = time.perf_counter()
        summary_to_json(summary)
        jsoned = time.perf_counter()
        if args.keep:
            (directory / "timeline.html").write_text(page, "utf-8")

    elapsed = rendered - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reports = sum(p.suffix == ".json" for p in paths)
    correct = (
        len(loaded.observations) == total
        and not loaded.warnings
        and len(summary.targets) == TARGETS * len(NETWORKS)
        and summary.networks[0].ever_interfered > 0
        and "<svg" in page
    )
    within = elapsed <= BUDGET_S
    print(f"  {total:,} results in {reports} reports and {len(paths) - reports} watch logs, "
          f"{size_mb:.1f} MB")  # fmt: skip
    print(f"  load_records                      {read - started:6.2f} s")
    print(f"  summarize                         {summarised - read:6.2f} s")
    print(f"  timeline_html                     {rendered - summarised:6.2f} s"
          f"   ({len(page) / 1e6:.1f} MB page)")  # fmt: skip
    print(f"  summary_to_json (not budgeted)    {jsoned - rendered:6.2f} s")
    print(f"  load + summarize + html           {elapsed:6.2f} s  <= {BUDGET_S:.1f} s   "
          f"{'ok' if within else 'OVER BUDGET'}")  # fmt: skip
    print(f"  peak RSS                          {rss_mb:6.0f} MB")
    print(f"  figures {'ok' if correct else 'WRONG'}: {len(loaded.observations):,} observations, "
          f"{len(loaded.warnings)} warnings, {len(summary.targets)} histories")  # fmt: skip
    return 0 if within and correct else 1


if __name__ == "__main__":
    sys.exit(main())
