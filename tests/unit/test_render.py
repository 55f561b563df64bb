"""Terminal output: remote text never acts on the terminal, the table says where it was
measured from, and it fits the terminal it is printed on."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from netprobe.measure.steps.dns import parse_resolver
from netprobe.model.observations import HTTPObservation, Observations
from netprobe.model.results import Analysis, Blocking, Latency, RunResult, TargetResult, Verdict
from netprobe.model.targets import parse_target
from netprobe.output.report import ProbeInfo
from netprobe.output.table import (
    probe_header,
    results_table,
    sanitize,
    summary_line,
    summary_with_probe,
)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain title", "plain title"),
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("bell\x07", "bell\\x07"),
        ("osc \x1b]0;pwned\x07", "osc \\x1b]0;pwned\\x07"),
        ("bidi \u202eevil", "bidi \\u202eevil"),
        ("tab\tnewline\n", "tab\\x09newline\\x0a"),
        ("Доступ ограничен", "Доступ ограничен"),
        (None, ""),
    ],
)
def test_sanitize(raw: str | None, shown: str) -> None:
    assert sanitize(raw) == shown


def test_sanitize_truncates() -> None:
    assert sanitize("x" * 500, 10) == "x" * 9 + "…"


def _result(title: str, verdict: str = "accessible", evidence: str | None = None) -> TargetResult:
    target = parse_target("https://escape.test/")
    page = HTTPObservation("https://escape.test/", "198.19.1.1", "escape.test", "target", 0, 0.0,
                           1.0, None, 1.0, 200, (), title)  # fmt: skip
    obs = Observations(target.url, target.domain, "https", 443, http=(page,))
    blocking = "http.blockpage" if verdict == "blocked" else None
    return TargetResult(target, obs, Analysis(verdict, blocking, evidence), Latency.of(obs))  # type: ignore[arg-type]


def test_table_shows_no_escape_sequences_or_markup() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system="truecolor")
    evil = "t \x1b[2J\x1b]0;pwned\x07 [bold red]markup[/]"
    console.print(results_table([_result(evil), _result("x", "blocked", f"evidence {evil}")]))
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text
    assert "[bold red]markup[/]" in text


def test_summary_line_counts_verdicts() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    run = RunResult(started, started, [_result("a"), _result("b", "blocked", "e")])
    assert summary_line(run).plain == "2 targets: 1 accessible, 1 blocked (1 http.*) in 0.0 s"


def _judged(url: str, verdict: Verdict, blocking: Blocking | None = None) -> TargetResult:
    target = parse_target(url)
    obs = Observations(target.url, target.domain, target.scheme, target.port)
    evidence = f"{blocking} seen" if blocking else None
    return TargetResult(target, obs, Analysis(verdict, blocking, evidence), Latency.of(obs))


def test_summary_line_counts_blocking_types_by_family() -> None:
    """Most frequent family first; ties in the order of a target's steps (dns, tcp, tls,
    http)."""
    judged: list[tuple[Verdict, Blocking | None]] = [
        ("accessible", None),
        ("blocked", "tls.reset"), ("blocked", "tls.mitm"), ("blocked", "tls.reset"),
        ("blocked", "dns.nxdomain"), ("blocked", "dns.bogon"), ("blocked", "http.blockpage"),
        ("anomaly", "http.diff"), ("anomaly", "tcp.timeout"),
        ("site_down", None),
    ]  # fmt: skip
    results = [_judged(f"https://s{n}.test/", v, b) for n, (v, b) in enumerate(judged)]
    started = datetime(2026, 1, 1, tzinfo=UTC)
    run = RunResult(started, started + timedelta(seconds=12.34), results)
    assert summary_line(run).plain == (
        "10 targets: 1 accessible, 6 blocked (3 tls.*, 2 dns.*, 1 http.*), "
        "2 anomaly (1 tcp.*, 1 http.*), 1 site_down in 12.3 s"
    )


def test_summary_line_of_an_empty_interrupted_run() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    run = RunResult(started, started, interrupted=True)
    assert summary_line(run).plain == "0 targets in 0.0 s — interrupted: partial results"


def _spec(text: str) -> str:
    """A resolver as the report holds it (what ``probe_info`` puts in ProbeInfo)."""
    return str(parse_resolver(text))


KAZTELECOM = ProbeInfo(
    resolver=_spec("192.0.2.53"),
    control_resolvers=(
        _spec("https://cloudflare-dns.com/dns-query"),
        _spec("https://dns.google/dns-query"),
    ),
    asn=9198,
    as_name="Kazakhtelecom JSC",
    cc="KZ",
    ip_method="opendns",
    ip="203.0.113.77",  # --include-ip: the report holds it, the terminal never shows it
)


def test_header_says_where_it_was_measured_from() -> None:
    header = probe_header(KAZTELECOM).plain
    assert header == (
        "AS9198 Kazakhtelecom JSC, KZ · resolver 192.0.2.53 · "
        "control: DoH cloudflare-dns.com, dns.google"
    )
    assert "203.0.113.77" not in header


@pytest.mark.parametrize(
    ("resolver", "controls", "shown"),
    [
        ("2001:db8::53", ["9.9.9.9"], "resolver 2001:db8::53 · control: 9.9.9.9"),
        ("192.0.2.53:5353", ["[2001:db8::9]:5353"],
         "resolver 192.0.2.53:5353 · control: [2001:db8::9]:5353"),
        ("tcp://192.0.2.53", ["tls://one.one.one.one#1.1.1.1", "tls://9.9.9.9"],
         "resolver TCP 192.0.2.53 · control: DoT one.one.one.one, 9.9.9.9"),
        ("198.18.1.1", ["198.19.0.53", "https://doh.control.test/dns-query#198.19.0.57",
                        "198.19.0.54"],
         "resolver 198.18.1.1 · control: 198.19.0.53, 198.19.0.54; DoH doh.control.test"),
        ("192.0.2.53", ["https://dns.example:8443/dns-query#192.0.2.1"],
         "resolver 192.0.2.53 · control: DoH dns.example:8443"),
    ],
)  # fmt: skip
def test_header_names_resolvers_by_kind(resolver: str, controls: list[str], shown: str) -> None:
    info = ProbeInfo(_spec(resolver), tuple(map(_spec, controls)), 64501, None, None)
    assert probe_header(info).plain == f"AS64501 · {shown}"


@pytest.mark.parametrize(
    ("asn", "cc", "note", "network"),
    [
        (None, None, "public IP unknown: this network has no connectivity",
         "AS unknown (public IP unknown: this network has no connectivity)"),
        (None, "KZ", "public IP not looked up (--offline-identity)",
         "AS unknown, KZ (public IP not looked up (--offline-identity))"),
        (None, None, None, "AS unknown"),
        (64501, "KZ", None, "AS64501, KZ"),
    ],
)  # fmt: skip
def test_header_without_the_network_says_why(
    asn: int | None, cc: str | None, note: str | None, network: str
) -> None:
    info = ProbeInfo(_spec("192.0.2.53"), (_spec("9.9.9.9"),), asn, None, cc, asn_note=note)
    assert probe_header(info).plain == f"{network} · resolver 192.0.2.53 · control: 9.9.9.9"


def test_header_shows_no_escape_sequence_from_an_as_name() -> None:
    info = ProbeInfo(_spec("192.0.2.53"), (_spec("9.9.9.9"),), 64501,
                     "EVIL\x1b]0;pwned\x07\x1b[2J\u202e NET", "K\x1bZ")  # fmt: skip
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=80).print(probe_header(info))
    assert "\x1b]" not in out.getvalue() and "\x1b[2J" not in out.getvalue()
    assert "\u202e" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "EVIL\\x1b]0;pwned\\x07\\x1b[2J\\u202e NET, K\\x1bZ" in out.getvalue()


def _rendered(renderable: object, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False).print(renderable)
    return out.getvalue().splitlines()


def test_header_breaks_between_its_parts_on_a_narrow_terminal() -> None:
    assert _rendered(probe_header(KAZTELECOM), 80) == [
        "AS9198 Kazakhtelecom JSC, KZ · resolver 192.0.2.53",
        "control: DoH cloudflare-dns.com, dns.google",
    ]
    assert len(_rendered(probe_header(KAZTELECOM), 200)) == 1


def test_quiet_summary_carries_the_header() -> None:
    started = datetime(2026, 1, 1, tzinfo=UTC)
    results = [
        _judged("https://a.test/", "accessible"),
        _judged("https://b.test/", "blocked", "tls.reset"),
    ]
    run = RunResult(started, started + timedelta(seconds=3.4), results)
    line = summary_with_probe(run, KAZTELECOM)
    assert line.plain == (
        "2 targets: 1 accessible, 1 blocked (1 tls.*) in 3.4 s · AS9198 Kazakhtelecom JSC, KZ"
        " · resolver 192.0.2.53 · control: DoH cloudflare-dns.com, dns.google"
    )
    assert _rendered(line, 80) == [
        "2 targets: 1 accessible, 1 blocked (1 tls.*) in 3.4 s",
        "AS9198 Kazakhtelecom JSC, KZ · resolver 192.0.2.53",
        "control: DoH cloudflare-dns.com, dns.google",
    ]


def test_summary_breaks_between_verdicts_keeping_the_comma() -> None:
    judged: list[tuple[Verdict, Blocking | None]] = [
        ("accessible", None), ("blocked", "tls.reset"), ("blocked", "dns.nxdomain"),
        ("blocked", "http.blockpage"), ("anomaly", "tcp.timeout"), ("site_down", None),
    ]  # fmt: skip
    results = [_judged(f"https://s{n}.test/", v, b) for n, (v, b) in enumerate(judged)]
    started = datetime(2026, 1, 1, tzinfo=UTC)
    run = RunResult(started, started + timedelta(seconds=3.4), results)
    assert _rendered(summary_line(run), 80) == [
        "6 targets: 1 accessible, 3 blocked (1 dns.*, 1 tls.*, 1 http.*),",
        "1 anomaly (1 tcp.*), 1 site_down in 3.4 s",
    ]


def _endpoint(url: str, verdict: Verdict, latency: Latency) -> TargetResult:
    target = parse_target(url)
    obs = Observations(target.url, target.domain, target.scheme, target.port)
    return TargetResult(target, obs, Analysis(verdict, None, "seen"), latency)


@pytest.mark.parametrize("width", [80, 200])
def test_the_ms_column_shows_how_long_an_accessible_target_took(width: int) -> None:
    """A page's first byte; an endpoint's handshake or connect; nothing for a blocked
    target (the time would be the censor's), at any width."""
    page = _result("Title")  # TTFB 1 ms
    slow = replace(page, latency=Latency(dns=3.0, connect=20.0, tls=40.0, ttfb=1234.4))
    tcp = _endpoint("tcp://149.154.167.51:443", "accessible", Latency(2.0, 41.2, None, None))
    tls = _endpoint("tls://chat.example:5223", "accessible", Latency(2.0, 40.0, 87.6, None))
    blocked = _endpoint("tcp://149.154.175.50:443", "blocked", Latency(2.0, 41.0, None, None))
    lines = _rendered(results_table([slow, tcp, tls, blocked]), width)
    assert lines[1].split()[-1] == "ms"
    shown = {line.split()[0]: line.split()[-1] for line in lines[3:] if "://" in line}
    assert shown == {
        "https://escape.test/": "1,234",
        "tcp://149.154.167.51:443": "41",
        "tls://chat.example:5223": "88",
        "tcp://149.154.175.50:443": "-",
    }


LONG_URL = "https://long-path.example.test/" + "segment/" * 22  # 207 characters
EVIDENCE = (
    "TLS handshake with SNI sni-reset.tls.test to 198.19.1.15:443 reset, 3 times out of 3; in "
    "between, handshakes with SNI example.org to the same address completed (2 of 2)"
)


@pytest.mark.parametrize("width", [80, 100, 110, 200])
def test_the_table_fits_the_terminal(width: int) -> None:
    """Every column stays on screen, the ms one too, and no word of the evidence is cropped
    (rich crops what is wider than the terminal)."""
    long = _judged(LONG_URL, "blocked", "tls.reset")
    reset = replace(long, analysis=Analysis("blocked", "tls.reset", EVIDENCE))
    lines = _rendered(results_table([_result("Title"), reset]), width)
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert lines[1].split()[-1] == "ms"
    assert ("blocking" in lines[1]) == (width >= 110)  # narrower: beneath the verdict
    shown = " ".join(" ".join(lines).split())
    for word in EVIDENCE.split():
        assert word in shown
    assert "tls.reset" in shown and lines[3].split()[-1] == "1"  # the page's TTFB


README = Path(__file__).resolve().parents[2] / "README.md"
TESTBED = ProbeInfo(_spec("198.18.1.1"), (_spec("198.19.0.53"),), 64501,
                    "CENSORED-ISP - Testbed censored ISP", "KZ")  # fmt: skip


def _sample_rows(lines: list[str]) -> list[TargetResult]:
    """The results a table shows, read back from the table (one per row)."""
    heading = lines[0]
    starts = [heading.index(name) for name in ("verdict", "blocking", "evidence")]
    rows: list[list[str]] = []
    for line in lines[2:]:
        detail = line[starts[2] :].strip()
        if line[: starts[0]].strip():  # a row begins: its ms is the line's last word
            detail, _, ms = detail.rpartition(" ")
            cells = [line[: starts[0]], line[starts[0] : starts[1]], line[starts[1] : starts[2]]]
            rows.append([*(cell.strip() for cell in cells), detail.strip(), ms])
        else:
            rows[-1][3] += " " + detail
    results = []
    for url, verdict, blocking, detail, ms in rows:
        target = parse_target(url)
        pages: tuple[HTTPObservation, ...] = ()
        if verdict == "accessible":  # the detail is the page's title, and ms its TTFB
            pages = (HTTPObservation(target.url, "198.19.1.1", target.domain, "target", 0,
                                     0.0, 20.0, None, float(ms), 200, (), detail),)  # fmt: skip
        obs = Observations(target.url, target.domain, target.scheme, target.port, http=pages)
        analysis = Analysis(verdict, blocking or None, detail)  # type: ignore[arg-type]
        results.append(TargetResult(target, obs, analysis, Latency.of(obs)))
    return results


def test_the_readme_sample_is_what_the_table_prints() -> None:
    block = README.read_text("utf-8").split("```\n$ netprobe run ", 1)[1].split("\n```", 1)[0]
    shown = block.splitlines()[1:]  # after the command
    table, summary = shown[2:-2], shown[-1]
    seconds = float(summary.rsplit(" in ", 1)[1].removesuffix(" s"))
    started = datetime(2026, 1, 1, tzinfo=UTC)
    run = RunResult(started, started + timedelta(seconds=seconds), _sample_rows(table))
    width = len(table[1]) + 1  # the rule spans the table; rich leaves its edge's space
    printed = [probe_header(TESTBED), results_table(run.results), summary_line(run)]
    assert [line.rstrip() for item in printed for line in _rendered(item, width)] == shown
