"""`netprobe run` end to end, inside the censorship testbed: network condition in, verdict out.

Each network is measured by one `netprobe run` process in its client namespace; the
tests then read the report like the scenario table below.
"""

from __future__ import annotations

import bz2
import json
import signal
import subprocess
import sys
import time
from typing import Any

import jsonschema
import pytest

from netprobe.output.report import load_schema, result_schema
from tests.integration.helpers import ECHO, ROUTABLE, STEP_TIMEOUT, Run, netprobe
from tests.mrt import AS_SEQUENCE, rib_dump

pytestmark = pytest.mark.testbed


# The censored network: URL, verdict, blocking. One row per interference the testbed does.
CENSORED: list[tuple[str, str, str | None]] = [
    ("https://www.clean.test/", "accessible", None),
    ("http://plain.clean.test/", "accessible", None),
    ("https://www.пример.test/", "accessible", None),
    ("https://nx.dns.test/", "blocked", "dns.nxdomain"),
    ("https://bogon.dns.test/", "blocked", "dns.bogon"),
    ("https://zero.dns.test/", "blocked", "dns.bogon"),
    ("https://blockpage.dns.test/", "blocked", "dns.blockpage"),
    ("https://wrong.dns.test/", "anomaly", "dns.inconsistent"),
    ("https://timeout.dns.test/", "anomaly", "dns.timeout"),
    ("https://inject.dns.test/", "blocked", "dns.inconsistent"),
    ("https://v6.clean.test/", "accessible", None),
    ("https://v6only.clean.test/", "accessible", None),
    ("https://v6-drop.tcp.test/", "accessible", None),
    ("https://servfail.dns.test/", "anomaly", "dns.servfail"),
    ("https://refused.dns.test/", "anomaly", "dns.refused"),
    ("https://blackhole.tcp.test/", "anomaly", "tcp.timeout"),
    ("https://refused.tcp.test/", "anomaly", "tcp.refused"),
    ("https://reset.tcp.test/", "anomaly", "tcp.reset"),
    ("https://sni-reset.tls.test/", "blocked", "tls.reset"),
    ("https://sni-drop.tls.test/", "blocked", "tls.timeout"),
    ("https://www.mitm-one.test/", "blocked", "tls.mitm"),
    ("https://www.mitm-two.test/", "blocked", "tls.mitm"),
    ("https://handshake.tls.test/", "anomaly", "tls.failure"),
    ("http://host-reset.http.test/", "blocked", "http.reset"),
    ("http://host-drop.http.test/", "blocked", "http.timeout"),
    ("http://blockpage.http.test/", "blocked", "http.blockpage"),
    ("http://diff.http.test/", "anomaly", "http.diff"),
    ("http://redirect.http.test/", "blocked", "http.reset"),
    ("https://gone.test/", "site_down", None),
    ("https://big.hostile.test/", "accessible", None),
    ("https://trickle.hostile.test/", "anomaly", "http.timeout"),
    ("https://escape.hostile.test/", "accessible", None),
]

# Sites without interference anywhere: the clean and lossy networks must find them all up.
REACHABLE = [
    "https://www.clean.test/",
    "http://plain.clean.test/",
    "https://www.пример.test/",
    "https://sni-reset.tls.test/",
    "https://sni-drop.tls.test/",
    "https://www.mitm-one.test/",
    "https://blackhole.tcp.test/",
    "http://host-reset.http.test/",
    "http://blockpage.http.test/",
    "http://diff.http.test/",
    "https://nx.dns.test/",
    "https://bogon.dns.test/",
    "https://v6only.clean.test/",
]


@pytest.fixture(scope="module")
def censored(testbed: Any, asn_db: str) -> Run:
    urls = [url for url, _, _ in CENSORED]
    return netprobe(testbed, "censored", urls, "--format", "json", asn_db=asn_db)


@pytest.mark.parametrize(("url", "verdict", "blocking"), CENSORED, ids=[c[0] for c in CENSORED])
def test_censored_network(censored: Run, url: str, verdict: str, blocking: str | None) -> None:
    result = censored.result(url)
    assert (result["verdict"], result["blocking"]) == (verdict, blocking), result["evidence"]
    if verdict != "accessible":
        assert result["evidence"]


def test_censored_run_completes_cleanly(censored: Run) -> None:
    assert censored.code == 0, censored.stderr
    jsonschema.validate(censored.report, load_schema())
    assert censored.report["probe"]["network"] == "up"
    assert len(censored.report["results"]) == len(CENSORED)
    # A blackholed or stalled target costs about one step timeout, not several.
    assert censored.seconds < 4 * STEP_TIMEOUT + 5, censored.seconds


def test_sni_evidence_names_both_handshakes(censored: Run) -> None:
    evidence = censored.result("https://sni-reset.tls.test/")["evidence"]
    assert "sni-reset.tls.test" in evidence and "example.org" in evidence


def test_redirect_blocking_names_the_hop(censored: Run) -> None:
    evidence = censored.result("http://redirect.http.test/")["evidence"]
    assert "hop 1" in evidence and "host-reset.http.test" in evidence


def test_both_address_families_are_measured(censored: Run) -> None:
    def connects(url: str) -> dict[str, str | None]:
        return {t["address"]: t["failure"] for t in censored.result(url)["tcp"]}

    dual = connects("https://v6.clean.test/")
    assert len(dual) == 2 and set(dual.values()) == {None}
    assert any(":" in a for a in dual) and any("." in a for a in dual)
    dropped = connects("https://v6-drop.tcp.test/")
    assert sorted(dropped.values(), key=str) == [None, "generic_timeout_error"]
    assert next(a for a, f in dropped.items() if f).startswith("2001:2:")


def test_big_body_is_capped(censored: Run) -> None:
    target = [
        h for h in censored.result("https://big.hostile.test/")["http"] if h["purpose"] == "target"
    ]
    assert target[0]["body_truncated"] and target[0]["body_length"] <= 1 << 20


def test_lone_interception_is_only_an_anomaly(testbed: Any) -> None:
    run = netprobe(testbed, "censored", ["https://www.mitm-one.test/"], "--format", "json")
    result = run.result("https://www.mitm-one.test/")
    assert (result["verdict"], result["blocking"]) == ("anomaly", "tls.mitm")
    assert "Testbed Interception CA" in result["evidence"]


def test_table_shows_remote_text_escaped(testbed: Any) -> None:
    run = netprobe(
        testbed,
        "censored",
        ["https://escape.hostile.test/", "https://sni-reset.tls.test/"],
        "--format", "table",
        env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "200"},
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert "\x1b]0;" not in run.stdout and "\x1b[2J" not in run.stdout
    assert "[bold red]markup[/]" in run.stdout
    assert "blocked" in run.stdout and "tls.reset" in run.stdout


def test_jsonl_streams_one_result_per_line(testbed: Any) -> None:
    urls = ["https://www.clean.test/", "https://nx.dns.test/", "https://gone.test/"]
    run = netprobe(testbed, "censored", urls, "--format", "jsonl")
    lines = run.stdout.splitlines()
    assert len(lines) == len(urls)
    schema = result_schema()
    for line in lines:
        jsonschema.validate(json.loads(line), schema)


def test_fail_on_and_output_file(testbed: Any, tmp_path: Any) -> None:
    out = tmp_path / "report.json"
    found = netprobe(
        testbed, "censored", ["https://nx.dns.test/"], "--fail-on", "blocked", "-o", str(out)
    )
    assert found.code == 3
    assert json.loads(out.read_text())["results"][0]["verdict"] == "blocked"
    clean = netprobe(testbed, "censored", ["https://www.clean.test/"], "--fail-on", "anomaly")
    assert clean.code == 0


def test_clean_network_is_all_accessible(testbed: Any) -> None:
    run = netprobe(testbed, "clean", REACHABLE, "--format", "json")
    assert run.code == 0, run.stderr
    verdicts = {r["url"]: (r["verdict"], r["evidence"]) for r in run.report["results"]}
    assert all(v == "accessible" for v, _ in verdicts.values()), verdicts


def test_cut_off_network_is_network_down(testbed: Any) -> None:
    urls = ["https://www.clean.test/", "http://plain.clean.test/", "https://nx.dns.test/"]
    # Three echo services: asked in pairs, they would take two rounds of timeouts.
    echoes = [f"http://198.19.0.{n}/" for n in (80, 81, 82)]
    more = [option for echo in echoes for option in ("--ip-service", echo)]
    run = netprobe(testbed, "cutoff", urls, "--format", "json", *more, timeout=2)
    assert run.code == 0, run.stderr
    assert run.report["probe"]["network"] == "down"
    assert {r["verdict"] for r in run.report["results"]} == {"network_down"}
    assert run.report["probe"]["asn_note"] == "public IP unknown: this network has no connectivity"
    assert run.seconds < 2 * 2, "the run waited for the echo services of a dead network"


def test_lossy_link_gives_no_false_blocking(testbed: Any) -> None:
    run = netprobe(testbed, "lossy", REACHABLE, "--format", "json", timeout=10)
    assert run.code == 0, run.stderr
    verdicts = {r["url"]: (r["verdict"], r["evidence"]) for r in run.report["results"]}
    assert all(v == "accessible" for v, _ in verdicts.values()), verdicts
    latency = [
        r["latency_ms"]["connect"] for r in run.report["results"] if r["latency_ms"]["connect"]
    ]
    assert min(latency) >= 250, latency


def test_interrupt_keeps_what_was_measured(testbed: Any, tmp_path: Any) -> None:
    out = tmp_path / "partial.json"
    argv = [
        "ip", "netns", "exec", testbed.networks["censored"].client_ns,
        "python3", "-m", "netprobe", "run", "https://www.clean.test/", "https://blackhole.tcp.test/",
        "--control-resolver", testbed.control_resolver, "--ca-bundle", str(testbed.ca_bundle),
        "--timeout", "20", "--format", "json", "-o", str(out), "--ip-service", ECHO, *ROUTABLE,
    ]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        time.sleep(2.5)  # the clean target is done; the blackholed one waits for its timeout
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr
    for report in (json.loads(stdout), json.loads(out.read_text())):
        assert report["complete"] is False
        assert [(r["url"], r["verdict"]) for r in report["results"]] == [
            ("https://www.clean.test/", "accessible")
        ]


# -- where the probe is: ASN, country, privacy ---------------------------------------------


def test_probe_network_comes_from_the_echo_and_the_ipasn_file(censored: Run) -> None:
    probe = censored.report["probe"]
    assert (probe["asn"], probe["as_name"], probe["cc"]) == (
        64501,
        "CENSORED-ISP - Testbed censored ISP",
        "KZ",
    )
    assert probe["ip_method"].startswith(f"http:{ECHO}")
    assert {r["probe_asn"] for r in censored.report["results"]} == {64501}


def test_dns_answers_are_tagged_with_their_network(censored: Run) -> None:
    answers = [a for d in censored.result("https://www.clean.test/")["dns"] for a in d["answers"]]
    assert answers and {(a["asn"], a["as_name"]) for a in answers} == {
        (64497, "SITES - Testbed web hosting")
    }


def test_probe_ip_stays_out_unless_asked(testbed: Any, asn_db: str) -> None:
    public = testbed.networks["censored"].isp_public_ip
    hidden = netprobe(
        testbed, "censored", ["https://www.clean.test/"], "--format", "json", "-vv",
        asn_db=asn_db,
    )  # fmt: skip
    assert hidden.code == 0, hidden.stderr
    assert hidden.report["probe"]["asn"] == 64501
    assert public not in hidden.stdout and public not in hidden.stderr
    assert testbed.networks["censored"].client_ip not in hidden.stdout + hidden.stderr
    shown = netprobe(
        testbed, "censored", ["https://www.clean.test/"], "--format", "json", "--include-ip",
        asn_db=asn_db,
    )  # fmt: skip
    assert shown.report["probe"]["ip"] == public


def test_unreachable_echo_leaves_the_asn_unknown_and_says_why(testbed: Any, asn_db: str) -> None:
    dead = f"http://{testbed.tls_failure_ip}/"  # nothing listens on port 80 there
    run = netprobe(
        testbed, "censored", ["https://www.clean.test/"], "--format", "json",
        asn_db=asn_db, ip_service=dead,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    probe = run.report["probe"]
    assert (probe["asn"], probe["ip_method"]) == (None, None)
    assert "public IP unknown" in probe["asn_note"] and "connection_refused" in probe["asn_note"]
    assert run.result("https://www.clean.test/")["verdict"] == "accessible"


def test_asn_override_needs_no_network(testbed: Any, asn_db: str) -> None:
    run = netprobe(
        testbed, "cutoff", ["https://www.clean.test/"], "--format", "json", "--asn", "64501",
        "--cc", "kz", asn_db=asn_db, timeout=1,
    )  # fmt: skip
    probe = run.report["probe"]
    assert (probe["asn"], probe["as_name"], probe["cc"]) == (
        64501,
        "CENSORED-ISP - Testbed censored ISP",
        "KZ",
    )


def test_asn_update_from_a_dump_served_in_the_testbed(testbed: Any, tmp_path: Any) -> None:
    site = tmp_path / "site"
    site.mkdir()
    # pyasn's converter takes the origin from the path and skips reserved AS numbers, so
    # this dump uses public ones.
    dump = rib_dump(
        ("198.18.101.0/30", [(AS_SEQUENCE, [3333, 9198])]),
        ("198.19.1.0/24", [(AS_SEQUENCE, [3333, 24940])]),
    )
    (site / "rib.bz2").write_bytes(bz2.compress(dump))
    (site / "autnums.html").write_text(
        '<pre>\n<a href="/cgi-bin/as-report?as=AS24940&view=2.0">AS24940</a> HETZNER-AS, DE\n'
        '<a href="/cgi-bin/as-report?as=AS9198&view=2.0">AS9198 </a> KAZTELECOM-AS, KZ\n</pre>'
    )
    # Port 80 of every internet address belongs to the testbed's web server.
    server = "198.19.0.90:8080"
    argv = ["ip", "netns", "exec", "npt-inet", sys.executable, "-m", "http.server",
            "--bind", "198.19.0.90", "--directory", str(site), "8080"]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as files:
        try:
            _wait_for_port(testbed, "198.19.0.90", 8080)
            update = testbed.networks["censored"].run(
                ["python3", "-m", "netprobe", "asn", "update", "--dir", str(tmp_path / "db"),
                 "--rib-url", f"http://{server}/rib.bz2",
                 "--names-url", f"http://{server}/autnums.html"],
                timeout=60,
            )  # fmt: skip
        finally:
            files.terminate()
    assert update.returncode == 0, update.stderr
    assert "2 IPv4 and 0 IPv6 prefixes, 2 AS names" in update.stdout
    lookup = testbed.networks["censored"].run(
        ["python3", "-m", "netprobe", "asn", "lookup", "198.19.1.3", "--format", "json",
         "--asn-db", str(tmp_path / "db" / "ipasn.dat"), *ROUTABLE],
        timeout=30,
    )  # fmt: skip
    assert lookup.returncode == 0, lookup.stderr
    (row,) = json.loads(lookup.stdout)
    assert (row["asn"], row["prefix"], row["as_name"], row["cc"]) == (
        24940,
        "198.19.1.0/24",
        "HETZNER-AS",
        "DE",
    )


def _wait_for_port(testbed: Any, address: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = testbed.networks["censored"].run(
            ["python3", "-c", f"import socket; socket.create_connection(({address!r}, {port}), 1)"],
            timeout=5,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {address}:{port}")


# -- the control proxy: the uncensored view, OONI's control rules --------------------------

WITH_PROXY: list[tuple[str, str, str | None]] = [
    ("https://blackhole.tcp.test/", "blocked", "tcp.timeout"),
    ("http://down.tcp.test/", "site_down", None),
    ("http://diff.http.test/", "anomaly", "http.diff"),
    ("http://blockpage.http.test/", "blocked", "http.blockpage"),
    ("https://nx.dns.test/", "blocked", "dns.nxdomain"),
    ("https://refused.tcp.test/", "blocked", "tcp.refused"),
    ("https://www.clean.test/", "accessible", None),
]


@pytest.fixture(scope="module")
def proxied(testbed: Any, asn_db: str) -> Run:
    urls = [url for url, _, _ in WITH_PROXY]
    return netprobe(
        testbed, "censored", urls, "--format", "json", "--control-proxy", testbed.control_proxy,
        asn_db=asn_db,
    )  # fmt: skip


@pytest.mark.parametrize(("url", "verdict", "blocking"), WITH_PROXY, ids=[w[0] for w in WITH_PROXY])
def test_control_proxy_verdicts(proxied: Run, url: str, verdict: str, blocking: str | None) -> None:
    result = proxied.result(url)
    assert (result["verdict"], result["blocking"]) == (verdict, blocking), result["evidence"]


def test_control_proxy_evidence_and_report(proxied: Run) -> None:
    jsonschema.validate(proxied.report, load_schema())
    assert proxied.report["notes"] == []
    assert proxied.report["options"]["control_proxy"] == "http://198.19.0.8:3128"
    assert "control proxy" in proxied.result("https://blackhole.tcp.test/")["evidence"]
    assert "control proxy's page" in proxied.result("http://diff.http.test/")["evidence"]


def test_unreachable_control_proxy_is_a_note(testbed: Any, asn_db: str) -> None:
    dead = f"http://user:secret@{testbed.tls_failure_ip}:3128"  # nothing listens there
    run = netprobe(
        testbed, "censored", ["https://blackhole.tcp.test/"], "--format", "json",
        "--control-proxy", dead, asn_db=asn_db,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.result("https://blackhole.tcp.test/")["verdict"] == "anomaly"
    (note,) = run.report["notes"]
    assert "control proxy is unreachable" in note
    assert "secret" not in run.stdout + run.stderr


def test_offline_identity_contacts_no_echo_service(testbed: Any, asn_db: str) -> None:
    run = netprobe(
        testbed, "censored", ["https://www.clean.test/"], "--format", "json",
        "--offline-identity", asn_db=asn_db,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    probe = run.report["probe"]
    assert (probe["asn"], probe["ip_method"]) == (None, None)
    assert "--offline-identity" in probe["asn_note"]
    assert run.result("https://www.clean.test/")["verdict"] == "accessible"
