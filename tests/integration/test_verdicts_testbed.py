"""Verdicts a researcher can publish: the classes of false `blocked` and missed blocks that
field reports name, each as a testbed scenario. Network condition in, verdict out."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jsonschema
import pytest

from netprobe.analysis import TOO_MANY_REDIRECTS
from netprobe.output.report import load_schema
from tests.integration.helpers import Run, netprobe
from tests.integration.test_run_testbed import CENSORED

pytestmark = pytest.mark.testbed

# URL, verdict, blocking, words the evidence must hold.
SCENARIOS: list[tuple[str, str, str | None, tuple[str, ...]]] = [
    # A redirect into a blocked site: the hop where the chain stopped names the blocking.
    ("https://to-nx.redirect.test/", "blocked", "dns.nxdomain", ("hop 1", "nx.dns.test")),
    ("https://to-sni.redirect.test/", "blocked", "tls.reset", ("hop 1", "sni-reset.tls.test")),
    ("https://to-refused.redirect.test/", "anomaly", "tcp.refused", ("hop 1", "refused.tcp")),
    ("http://to-https.redirect.test/", "blocked", "tls.reset", ("hop 1", "sni-reset.tls.test")),
    ("http://scheme-rel.redirect.test/", "blocked", "http.reset", ("hop 1", "host-reset")),
    ("http://relative.redirect.test/", "blocked", "http.blockpage", ("hop 2",)),
    ("https://to-clean.redirect.test/", "accessible", None, ("www.clean.test",)),
    # Chains that never end in a page: neither accessible nor blocked.
    ("https://many.redirect.test/", "error", None, (TOO_MANY_REDIRECTS,)),
    ("https://loop.redirect.test/", "error", None, ("redirect loop", TOO_MANY_REDIRECTS)),
    # A trusted CA's broken certificates, beside many valid ones from the same CA.
    ("https://expired.tls.test/", "anomaly", "tls.failure", ("trusted root",)),
    ("https://not-yet.tls.test/", "anomaly", "tls.failure", ("trusted root",)),
    ("https://wrong-host.tls.test/", "anomaly", "tls.failure", ("ssl_invalid_hostname",)),
    # Self-signed certificates with one lazy default name: not an interception root.
    ("https://www.selfsigned-one.test/", "anomaly", "tls.mitm", ("ssl_unknown_authority",)),
    ("https://www.selfsigned-two.test/", "anomaly", "tls.mitm", ("ssl_unknown_authority",)),
    # Real interception (one untrusted CA for unrelated names on other addresses) still is.
    ("https://www.mitm-one.test/", "blocked", "tls.mitm", ("unrelated targets",)),
    ("https://www.mitm-two.test/", "blocked", "tls.mitm", ("unrelated targets",)),
    # Ghost domains: dead names the censor's resolver still answers.
    ("https://ghost-blockpage.test/", "blocked", "dns.blockpage", ("NXDOMAIN",)),
    ("http://ghost-blockpage.test/", "blocked", "dns.blockpage", ("NXDOMAIN",)),
    ("https://ghost-wrong.test/", "blocked", "dns.inconsistent", ("made-up names",)),
    ("http://ghost-wrong.test/", "blocked", "dns.inconsistent", ("made-up names",)),
    ("https://ghost-bogon.test/", "blocked", "dns.bogon", ("127.0.0.1",)),
    ("https://gone.test/", "site_down", None, ("control",)),
    # Name-targeted blocking, confirmed on every attempt.
    ("https://sni-reset.tls.test/", "blocked", "tls.reset", ("3 times out of 3",)),
    ("http://host-reset.http.test/", "blocked", "http.reset", ("3 times out of 3",)),
]


@pytest.fixture(scope="module")
def censored(testbed: Any, asn_db: str) -> Run:
    testbed.clear_residual()
    urls = [url for url, *_ in SCENARIOS]
    return netprobe(testbed, "censored", urls, "--format", "json", asn_db=asn_db)


@pytest.mark.parametrize(
    ("url", "verdict", "blocking", "words"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_scenario(
    censored: Run, url: str, verdict: str, blocking: str | None, words: tuple[str, ...]
) -> None:
    result = censored.result(url)
    evidence = result["evidence"] or ""
    assert (result["verdict"], result["blocking"]) == (verdict, blocking), evidence
    assert all(w in evidence for w in words), evidence


def test_scenarios_run_validates(censored: Run) -> None:
    assert censored.code == 0, censored.stderr
    jsonschema.validate(censored.report, load_schema())
    assert censored.report["probe"]["network"] == "up"


@pytest.mark.parametrize("mode", ["drop", "reset"])
def test_residual_censorship_keeps_the_named_blocking(testbed: Any, mode: str) -> None:
    """After the trigger the box blocks the address pair for a minute, whatever the name:
    the retry fails too, and the verdict must still be about the name (an honest anomaly),
    not the address."""
    testbed.clear_residual()
    url = f"https://residual-{mode}.tls.test/"
    run = netprobe(testbed, "censored", [url], "--format", "json")
    result = run.result(url)
    assert (result["verdict"], result["blocking"]) == ("anomaly", "tls.reset"), result
    assert "residual censorship" in result["evidence"]
    testbed.clear_residual()


# -- control resolvers that give no control view ---------------------------------------------


def _trusting_the_testbed(testbed: Any) -> dict[str, str]:
    """DoH servers are verified with the default bundle ($SSL_CERT_FILE), not --ca-bundle:
    the testbed's DoH servers hold certificates from its own CA."""
    return {"SSL_CERT_FILE": str(testbed.ca_bundle)}


@pytest.mark.parametrize(
    ("control", "note"),
    [
        ("servfail_resolver", "SERVFAIL"),
        ("silent_resolver", "generic_timeout_error"),
        ("wrong_name_doh", "names another host"),
    ],
)
def test_a_failing_control_resolver_is_no_control_view(
    testbed: Any, control: str, note: str
) -> None:
    urls = ["https://www.clean.test/", "https://nx.dns.test/", "https://blackhole.tcp.test/"]
    run = netprobe(
        testbed, "censored", urls, "--format", "json",
        control=getattr(testbed, control), env=_trusting_the_testbed(testbed),
    )  # fmt: skip
    assert run.code == 0, run.stderr
    verdicts = {r["url"]: (r["verdict"], r["blocking"]) for r in run.report["results"]}
    assert verdicts == {
        "https://www.clean.test/": ("accessible", None),
        "https://nx.dns.test/": ("anomaly", "dns.nxdomain"),
        "https://blackhole.tcp.test/": ("anomaly", "tcp.timeout"),
    }
    for url in urls[1:]:
        evidence = run.result(url)["evidence"]
        assert "no control view" in evidence and "agrees with control" not in evidence
    notes = " | ".join(run.report["notes"])
    assert note in notes and "--control-proxy" in notes, notes
    assert run.report["probe"]["network"] == "up"


def test_dns_over_https_control_view(testbed: Any) -> None:
    urls = ["https://www.clean.test/", "https://nx.dns.test/"]
    run = netprobe(
        testbed, "censored", urls, "--format", "json", control=testbed.good_doh,
        env=_trusting_the_testbed(testbed),
    )  # fmt: skip
    verdicts = {r["url"]: (r["verdict"], r["blocking"]) for r in run.report["results"]}
    assert verdicts == {
        "https://www.clean.test/": ("accessible", None),
        "https://nx.dns.test/": ("blocked", "dns.nxdomain"),
    }
    assert run.report["notes"] == []


def test_silent_controls_and_one_dropped_query_are_no_outage(testbed: Any) -> None:
    """network_down needs every signal silent: here the resolver under test still answers."""
    run = netprobe(
        testbed, "censored", ["https://timeout.dns.test/"], "--format", "json",
        control=testbed.silent_resolver,
    )  # fmt: skip
    assert run.report["probe"]["network"] == "up"
    result = run.result("https://timeout.dns.test/")
    assert (result["verdict"], result["blocking"]) == ("anomaly", "dns.timeout")


# -- chance must never read as censorship ---------------------------------------------------

REPEATS = 10
# Every target the censored-network tests use: none is interfered with on the lossy one.
LOSSY_SITES = list(dict.fromkeys([url for url, *_ in CENSORED] + [url for url, *_ in SCENARIOS]))


@pytest.mark.parametrize("proxy", [False, True], ids=["alone", "with a control proxy"])
def test_lossy_network_never_reads_as_blocked(testbed: Any, proxy: bool) -> None:
    """The harsh link (200 ms each way, 12 % loss): every site, each measured REPEATS times
    in one run. A single stalled handshake or reset must never become `blocked`; nor, with
    a control proxy that reaches every site, one local timeout."""
    urls = [f"{url}?repeat={n}" for url in LOSSY_SITES for n in range(REPEATS)]
    more = ("--control-proxy", testbed.control_proxy) if proxy else ()
    run = netprobe(testbed, "lossy", urls, "--format", "json", *more, timeout=4, run_timeout=600)
    assert run.code == 0, run.stderr
    results = run.report["results"]
    assert len(results) == len(urls)
    verdicts = Counter(r["verdict"] for r in results)
    kinds = Counter(f"{r['verdict']} {r['blocking']}" for r in results if r["blocking"])
    print(
        f"\nlossy link{' with a control proxy' if proxy else ''}, {len(results)} "
        f"measurements: {dict(verdicts)}; anomaly rate "
        f"{verdicts['anomaly'] / len(results):.1%}; {dict(kinds)}"
    )
    blocked = [
        (r["url"], r["blocking"], r["evidence"]) for r in results if r["verdict"] == "blocked"
    ]
    assert blocked == []
    throttled = [r["url"] for r in results if (r["blocking"] or "").endswith(".throttled")]
    assert throttled == []
    # The link emulator is a tunnel: a VPN-like default route, and the report says so.
    assert any("tunnel interface" in note for note in run.report["notes"]), run.report["notes"]


def test_a_target_ends_at_its_deadline_with_what_it_has(testbed: Any) -> None:
    """Stalls one after another (the handshake, then each repeat) would take three step
    timeouts; the target's deadline ends it earlier, and its result says so."""
    url = "https://sni-drop.tls.test/"
    run = netprobe(testbed, "censored", [url], "--format", "json", "--deadline", "2", timeout=3)
    assert run.code == 0, run.stderr
    result = run.result(url)
    assert result["deadline_passed"] is True
    assert result["verdict"] != "blocked"
    assert "deadline ended its measurement" in result["evidence"]
    assert run.seconds < 2 + 3, run.seconds
