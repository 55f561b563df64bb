"""Throttling in the testbed: the censored ISP polices connections by SNI, by Host and by
address (iptables connmark + hashlimit); slow paths that police nobody must never read as
throttling."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.integration.helpers import netprobe
from tests.testbed import THROTTLED

pytestmark = pytest.mark.testbed

SNI, HOST, ADDRESS = (
    "https://throttle-sni.test/",
    "http://throttle-host.test/",
    "https://throttle-ip.test/",
)
CLEAN = "https://www.clean.test/"
REPEATS = 10


def test_names_held_by_a_policer_are_throttled(testbed: Any) -> None:
    assert set(THROTTLED) == {"throttle-sni.test", "throttle-host.test", "throttle-ip.test"}
    run = netprobe(testbed, "censored", [SNI, HOST, ADDRESS, CLEAN], "--format", "json", timeout=5)
    assert run.code == 0, run.stderr
    sni, host, address, clean = (run.result(u) for u in (SNI, HOST, ADDRESS, CLEAN))
    assert (sni["verdict"], sni["blocking"]) == ("blocked", "http.throttled"), sni["evidence"]
    assert (
        sni["evidence"].startswith("body ")
        and "kbit/s with SNI throttle-sni.test" in sni["evidence"]
    )
    assert "with SNI example.org" in sni["evidence"] and "a policer" in sni["evidence"]
    assert (host["verdict"], host["blocking"]) == ("blocked", "http.throttled"), host["evidence"]
    assert "with Host throttle-host.test" in host["evidence"]
    # Slow for every name: a slow path, not throttling of the name; the evidence says so.
    assert (address["verdict"], address["blocking"]) == ("accessible", None), address["evidence"]
    assert "slow for every name" in address["evidence"]
    # A clean, fast page is fetched once: no speed samples, the run no slower for them.
    assert {h["purpose"] for h in clean["http"]} == {"target"}


@pytest.mark.parametrize(
    ("link", "settings"),
    [
        ("lossy", {}),  # the harsh default: 200 ms each way, 12 % loss
        ("slow", {"delay_ms": 150, "loss": 0.0, "rate_kbit": 8000}),  # a plain bottleneck
    ],
)
def test_slow_or_lossy_links_are_never_throttling(
    testbed: Any, link: str, settings: dict[str, float]
) -> None:
    """Big downloads over a link that polices nobody, each site REPEATS times in one run:
    slow, stalled and flat they may be, but never for one name only."""
    urls = [f"{url}?repeat={n}" for url in (SNI, HOST, ADDRESS, CLEAN) for n in range(REPEATS)]
    with testbed.lossy_link(**settings):
        run = netprobe(testbed, "lossy", urls, "--format", "json", timeout=5, run_timeout=600)
    assert run.code == 0, run.stderr
    results = run.report["results"]
    kinds = Counter(f"{r['verdict']} {r['blocking']}" for r in results)
    sampled = sum(any(h["purpose"] == "rate" for h in r["http"]) for r in results)
    print(f"\n{link} link, {len(results)} measurements: {dict(kinds)}; {sampled} speed-sampled")
    throttled = [
        (r["url"], r["verdict"], r["evidence"])
        for r in results
        if (r["blocking"] or "").endswith(".throttled")
    ]
    assert throttled == []
    if link == "slow":
        # The bottleneck makes the big downloads look slow: they were sampled, and cleared.
        assert sampled >= 2 * REPEATS
