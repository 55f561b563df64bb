"""What a run says about how clearly it could see: one row per situation, no network."""

from __future__ import annotations

import ssl

import pytest

from netprobe.measure.runner import ProbeOptions, _controls_failed, _ResolverCheck
from netprobe.measure.steps.dns import parse_resolver
from netprobe.model.addresses import parse_networks
from netprobe.model.observations import DNSObservation, Observations

LOCAL = "udp://192.0.2.53:53"


def answer(
    domain: str = "example.org",
    addresses: tuple[str, ...] = ("93.184.215.14",),
    rcode: str | None = "NOERROR",
    failure: str | None = None,
    role: str = "local",
    resolver: str = LOCAL,
) -> DNSObservation:
    return DNSObservation(
        domain,
        "A",
        resolver,
        role,
        0.0,
        5.0,
        failure,
        rcode,
        addresses,  # type: ignore[arg-type]
    )


NX = answer("nx-1.example.org", (), "NXDOMAIN", "dns_nxdomain_error")
CONTROL = (answer(role="control", resolver="https://dns.example/dns-query"),)


@pytest.mark.parametrize(
    ("local", "made_up", "routable", "fake_ip", "invents", "note"),
    [
        (answer(), NX, (), False, False, None),
        (answer(addresses=("198.18.0.7",)), NX, (), True, False, "fake-IP proxy"),
        (answer(addresses=("198.18.0.7",)), NX, ("198.18.0.0/15",), False, False, None),
        (answer(), answer("nx-1.example.org", ("203.0.113.80",)), (), False, True, "hijacking"),
        (answer(), answer("nx-1.example.org", (), "REFUSED", "dns_refused_error"), (), False,
         False, None),
        (answer(), answer("nx-1.example.org", (), None, "generic_timeout_error"), (), False,
         None, None),
    ],
    ids=["honest", "fake-ip", "fake-ip range said routable", "nxdomain hijacking",
         "refused: invents nothing", "silent"],
)  # fmt: skip
def test_what_the_resolver_under_test_does(
    local: DNSObservation,
    made_up: DNSObservation,
    routable: tuple[str, ...],
    fake_ip: bool,
    invents: bool | None,
    note: str | None,
) -> None:
    check = _ResolverCheck(local, made_up, CONTROL, parse_networks(routable))
    assert (check.fake_ip, check.invents_answers) == (fake_ip, invents)
    notes = check.notes(_options(), [])
    if note is None:
        assert notes == []
    else:
        assert any(note in n for n in notes), notes


def _options() -> ProbeOptions:
    return ProbeOptions(
        resolver=parse_resolver("192.0.2.53"),
        control_resolvers=(parse_resolver("https://dns.example/dns-query#192.0.2.1"),),
        verify=ssl.create_default_context(),
    )


@pytest.mark.parametrize(
    ("failure", "rcode", "words"),
    [
        ("ssl_invalid_hostname", None, "names another host"),
        ("ssl_unknown_authority", None, "untrusted authority"),
        ("generic_timeout_error", None, "no answer"),
        ("dns_servfail_error", "SERVFAIL", "SERVFAIL"),
    ],
)
def test_a_note_says_why_the_controls_failed(failure: str, rcode: str | None, words: str) -> None:
    options = _options()
    control = answer(
        "site.example", (), rcode, failure, "control", str(options.control_resolvers[0])
    )
    measured = [Observations("https://site.example/", "site.example", "https", 443, (control,))]
    note = _controls_failed(options, measured) or ""
    assert words in note and "--control-proxy" in note


def test_no_note_when_a_control_answered() -> None:
    options = _options()
    control = answer("site.example", ("93.184.215.14",), role="control")
    measured = [Observations("https://site.example/", "site.example", "https", 443, (control,))]
    assert _controls_failed(options, measured) is None
