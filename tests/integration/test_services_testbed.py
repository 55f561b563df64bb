"""Messaging apps in the testbed: service and endpoint verdicts, network condition in.

The services file below mirrors the built-in one (targets/services.toml) on testbed hosts:
data centres reached by address, chat hosts on two ports, edge hosts that must resolve into
the app's own network, and a clean app over TLS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netprobe.output.report import load_schema
from tests.integration.helpers import IPASN, netprobe

pytestmark = pytest.mark.testbed

SITES_ASN = 64497  # where the testbed's sites are, in the IPASN file of test_run_testbed


def _services(testbed: Any) -> str:
    ip = {name: site.ip for name, site in testbed.sites.items()}
    dcs = [ip["dc1.tg.test"], ip["dc2.tg.test"]]
    return f"""
[services.telegram_like]
name = "Telegram-like"
parts = [
{"".join(_data_centre(a) for a in dcs)}]

[services.whatsapp_like]
name = "WhatsApp-like"
parts = [
    {{ name = "e1", endpoints = ["tcp://e1.chat.test:443", "tcp://e1.chat.test:5222"] }},
    {{ name = "e2", endpoints = ["tcp://e2.chat.test:443", "tcp://e2.chat.test:5222"] }},
]

[services.messenger_like]
name = "Messenger-like"
asns = [{SITES_ASN}]
parts = [
    {{ name = "edge", endpoints = ["tcp://edge.msgr.test:443"] }},
    {{ name = "api", endpoints = ["tcp://api.msgr.test:443"] }},
]

[services.signal_like]
name = "Signal-like"
ca = "{testbed.ca_bundle}"
parts = [
    {{ name = "chat", endpoints = ["tls://chat.sig.test:443"] }},
    {{ name = "storage", endpoints = ["https://storage.sig.test/"] }},
]
"""


def _data_centre(address: str) -> str:
    endpoints = f'["tcp://{address}:80", "tcp://{address}:443"]'
    return f'    {{ name = "DC {address}", endpoints = {endpoints} }},\n'


@pytest.fixture(scope="module")
def setup(testbed: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("services")
    (folder / "apps.toml").write_text(_services(testbed))
    (folder / "ipasn.dat").write_text(IPASN)
    return str(folder / "apps.toml"), str(folder / "ipasn.dat")


def _run(testbed: Any, network: str, setup: tuple[str, str], *more: str) -> dict[str, Any]:
    services, asn_db = setup
    run = netprobe(testbed, network, [], "-f", services, "--format", "json", *more, asn_db=asn_db)
    assert run.code == 0, run.stderr
    report: dict[str, Any] = run.report
    jsonschema.validate(report, load_schema())
    return report


@pytest.fixture(scope="module")
def censored(testbed: Any, setup: tuple[str, str]) -> dict[str, Any]:
    return _run(testbed, "censored", setup)


# service id, its verdict and blocking in the censored network: without a control view no
# endpoint failure here is conclusive, and unconfirmed anomalies do not add up to a block.
SERVICES = [
    ("telegram_like", "anomaly", "tcp.timeout"),
    ("whatsapp_like", "anomaly", "tcp.refused"),
    ("messenger_like", "anomaly", "dns.inconsistent"),
    ("signal_like", "accessible", None),
]


@pytest.mark.parametrize(("service", "verdict", "blocking"), SERVICES)
def test_service_verdicts(
    censored: dict[str, Any], service: str, verdict: str, blocking: str | None
) -> None:
    judged = next(s for s in censored["services"] if s["id"] == service)
    assert (judged["verdict"], judged["blocking"]) == (verdict, blocking), judged["evidence"]


def _endpoints(report: dict[str, Any], service: str) -> dict[str, tuple[str, str | None]]:
    return {
        r["url"]: (r["verdict"], r["blocking"])
        for r in report["results"]
        if r["service"] == service
    }


def test_blackholed_data_centres(testbed: Any, censored: dict[str, Any]) -> None:
    endpoints = _endpoints(censored, "telegram_like")
    assert len(endpoints) == 4
    assert set(endpoints.values()) == {("anomaly", "tcp.timeout")}


def test_partly_reset_chat_hosts(censored: dict[str, Any]) -> None:
    assert _endpoints(censored, "whatsapp_like") == {
        "tcp://e1.chat.test:443": ("anomaly", "tcp.refused"),
        "tcp://e1.chat.test:5222": ("anomaly", "tcp.refused"),
        "tcp://e2.chat.test:443": ("accessible", None),
        "tcp://e2.chat.test:5222": ("accessible", None),
    }
    judged = next(s for s in censored["services"] if s["id"] == "whatsapp_like")
    assert [(p["name"], p["verdict"]) for p in judged["parts"]] == [
        ("e1", "anomaly"),
        ("e2", "accessible"),
    ]


def test_hosts_resolving_outside_the_apps_network(censored: dict[str, Any]) -> None:
    results = [r for r in censored["results"] if r["service"] == "messenger_like"]
    assert {(r["verdict"], r["blocking"]) for r in results} == {("anomaly", "dns.inconsistent")}
    assert all(f"outside AS{SITES_ASN}" in r["evidence"] for r in results)


def test_clean_app_over_tls_with_its_own_roots(censored: dict[str, Any]) -> None:
    assert set(_endpoints(censored, "signal_like").values()) == {("accessible", None)}


def test_clean_network_has_every_app_up(testbed: Any, setup: tuple[str, str]) -> None:
    report = _run(testbed, "clean", setup)
    assert {s["id"]: s["verdict"] for s in report["services"]} == {
        "telegram_like": "accessible",
        "whatsapp_like": "accessible",
        "messenger_like": "accessible",
        "signal_like": "accessible",
    }


def test_table_shows_services_with_their_endpoints(testbed: Any, setup: tuple[str, str]) -> None:
    services, asn_db = setup
    run = netprobe(
        testbed, "censored", [], "-f", services, "--format", "table", asn_db=asn_db,
        env={"COLUMNS": "200"},
    )  # fmt: skip
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "Telegram-like" in line)
    assert "anomaly" in lines[header]
    assert lines[header + 1].lstrip().startswith("tcp://") and "  tcp://" in lines[header + 1]


def test_fail_on_counts_services(testbed: Any, setup: tuple[str, str], tmp_path: Path) -> None:
    services, asn_db = setup
    only_dcs = tmp_path / "dcs.toml"
    text = Path(services).read_text()
    only_dcs.write_text(text.split("[services.whatsapp_like]")[0])
    run = netprobe(
        testbed, "censored", [], "-f", str(only_dcs), "--fail-on", "anomaly", asn_db=asn_db
    )
    assert run.code == 3
    report = json.loads(run.stdout)
    # Only blackholed addresses were measured, but the control resolver answers: no outage.
    assert report["probe"]["network"] == "up"
    assert report["services"][0]["verdict"] == "anomaly"
    assert (
        netprobe(
            testbed, "censored", [], "-f", str(only_dcs), "--fail-on", "blocked", asn_db=asn_db
        ).code
        == 0
    )


def test_control_proxy_makes_endpoint_failures_conclusive(
    testbed: Any, setup: tuple[str, str]
) -> None:
    report = _run(testbed, "censored", setup, "--control-proxy", testbed.control_proxy)
    assert set(_endpoints(report, "telegram_like").values()) == {("blocked", "tcp.timeout")}
    telegram = next(s for s in report["services"] if s["id"] == "telegram_like")
    assert telegram["verdict"] == "blocked"
    assert _endpoints(report, "whatsapp_like")["tcp://e1.chat.test:5222"] == (
        "blocked",
        "tcp.refused",
    )
    down = netprobe(
        testbed, "censored", ["tcp://down.tcp.test:80"], "--format", "json",
        "--control-proxy", testbed.control_proxy,
    )  # fmt: skip
    result = down.result("tcp://down.tcp.test:80")
    assert (result["verdict"], result["blocking"]) == ("site_down", None), result["evidence"]
