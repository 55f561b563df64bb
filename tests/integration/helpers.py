"""Running netprobe in the testbed, shared by the integration tests."""

from __future__ import annotations

import functools
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netprobe.analysis import replay

STEP_TIMEOUT = 3.0
ROUTABLE = ("--routable", "198.18.0.0/15", "--routable", "2001:2::/48")


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @functools.cached_property
    def report(self) -> dict[str, Any]:
        """The report on stdout, checked to be judged again exactly as it was made."""
        document: dict[str, Any] = json.loads(self.stdout)
        assert_replays(document)
        return document

    def result(self, url: str) -> dict[str, Any]:
        return next(r for r in self.report["results"] if r["url"] == _normalised(url))


def assert_replays(document: dict[str, Any]) -> None:
    """`netprobe analyse` of the report rebuilds every result exactly: the same verdict,
    blocking and evidence, and the same observations, ASes, latency and context."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as saved:
        json.dump(document, saved)
        saved.flush()
        (run,) = replay.load_runs([saved.name])
    again = replay.report(run)
    changed = [j for j in run.results if j.changed]
    assert not changed, [(j.result.target.url, replay.change_text(j)) for j in changed]
    for before, after in zip(document["results"], again["results"], strict=True):
        assert after == before, before["url"]
    assert again["services"] == document["services"]


def _normalised(url: str) -> str:
    return url.replace("www.пример.test", "www.xn--e1afmkfd.test")


# The testbed's networks as an IPASN file would have them: each ISP its AS, the sites one AS,
# the unrelated server another (so that a DNS answer pointing there is not consistent).
IPASN = """; netprobe testbed
198.18.1.0/24\t64501
198.18.101.0/30\t64501
198.18.200.0/24\t64501
198.18.2.0/24\t64502
198.18.102.0/30\t64502
198.18.4.0/24\t64504
198.18.104.0/30\t64504
198.19.0.0/24\t64496
198.19.1.0/24\t64497
198.19.2.0/23\t64497
198.19.9.0/24\t64499
"""
AS_NAMES = {
    "64501": "CENSORED-ISP - Testbed censored ISP, KZ",
    "64502": "CLEAN-ISP - Testbed clean ISP, KG",
    "64497": "SITES - Testbed web hosting, US",
}
ECHO = "http://198.19.0.80/"


def netprobe(
    testbed: Any,
    network: str,
    urls: Sequence[str],
    *options: str,
    timeout: float = STEP_TIMEOUT,
    env: dict[str, str] | None = None,
    asn_db: str | None = None,
    ip_service: str = ECHO,
    run_timeout: float = 120,
    control: str | None = None,
) -> Run:
    """`netprobe run` in a client namespace. It only ever talks to the testbed: its own
    control resolver (``control`` replaces it) and IP echo are always given, never the
    public defaults."""
    argv = [
        "python3", "-m", "netprobe", "run", *urls,
        "--control-resolver", control or testbed.control_resolver,
        "--ca-bundle", str(testbed.ca_bundle),
        "--timeout", str(timeout),
        "--ip-service", ip_service,
        # The testbed emulates the internet in the benchmarking blocks: it says so.
        *ROUTABLE,
        *(["--asn-db", asn_db] if asn_db else []),
        *options,
    ]  # fmt: skip
    started = time.monotonic()
    done = testbed.networks[network].run(argv, timeout=run_timeout, env=env)
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
