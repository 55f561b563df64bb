"""Histories over time and across networks, from synthetic reports and watch logs.

Each test writes the files a volunteer would hand over (a report per run, a watch
log, a ``--format jsonl`` stream) and checks what ``summarize`` / ``compare`` tell.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from netprobe.history import (
    Loaded,
    compare,
    comparison_table,
    comparison_to_json,
    load_records,
    summarize,
    summary_tables,
    summary_to_json,
    timeline_html,
)
from netprobe.measure.watch import append_run, run_records
from netprobe.model.observations import Observations
from netprobe.model.results import (
    VERDICTS,
    Analysis,
    Blocking,
    Latency,
    RunResult,
    TargetResult,
    Verdict,
)
from netprobe.model.targets import parse_target
from netprobe.output._json_records import json_records
from netprobe.output.report import ProbeInfo, build_report, load_schema, write_json

FB, YT, NEWS = "https://www.facebook.com/", "https://www.youtube.com/", "https://news.test/"
KAZTELECOM = {"asn": 9198, "as_name": "KAZTELECOM-AS", "cc": "KZ"}
ASTEL = {"asn": 35168, "as_name": "ASTEL-AS", "cc": "KZ"}
SNI_RESET = "TLS handshake with SNI www.facebook.com reset"


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


def _iso(hour: int, minute: int = 0) -> str:
    return f"2026-11-27T{hour:02}:{minute:02}:00Z"


def _result(
    url: str,
    verdict: str = "accessible",
    blocking: str | None = None,
    evidence: str | None = None,
    asn: int | None = 9198,
) -> dict[str, Any]:
    return {
        "url": url,
        "domain": url.split("/")[2],
        "list": "social",
        "category": "GRP",
        "verdict": verdict,
        "blocking": blocking,
        "evidence": evidence,
        "latency_ms": {"dns": 1.0, "connect": None, "tls": None, "ttfb": None},
        "probe_asn": asn,
        "service": None,
        "dns": [],
        "tcp": [],
        "tls": [],
        "http": [],
        "deadline_passed": False,
        "internal_error": None,
        "expected_asns": [],
        "context": {
            "network_down": False,
            "resolver_invents_answers": False,
            "fake_ip": False,
            "routable": [],
        },
    }


def _report(started: str, probe: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema": "netprobe.report/2",
        "tool": {"name": "netprobe", "version": "0.1.0"},
        "started_at": started,
        "finished_at": started,
        "complete": True,
        "probe": {
            **probe,
            "ip_method": "dns",
            "asn_note": None,
            "network": "up",
            "resolver": "192.0.2.53:53",
            "control_resolvers": [],
        },
        "options": {},
        "summary": {
            "total": len(results),
            "duration_s": 1.0,
            "verdicts": {v: sum(r["verdict"] == v for r in results) for v in VERDICTS},
        },
        "results": results,
        "services": [],
        "notes": [],
    }


def _watch(run: str, started: str, probe: dict[str, Any], result: dict[str, Any]) -> str:
    record = {
        "schema": "netprobe.watch/2",
        "run": run,
        "started_at": started,
        "finished_at": started,
        "probe": {**probe, "network": "up"},
        "result": result,
    }
    return json.dumps(record)


def _write(path: Path, lines: Sequence[str] | dict[str, Any]) -> str:
    if isinstance(lines, dict):
        path.write_text(json.dumps(lines, indent=2), "utf-8")  # as `netprobe run -o` writes
    else:
        path.write_text("\n".join(lines) + "\n", "utf-8")
    return str(path)


def test_version_1_reports_and_watch_logs_still_load(tmp_path: Path) -> None:
    """A history reads verdicts only, which version 2 did not change."""
    report = {**_report(_iso(9), KAZTELECOM, [_result(FB)]), "schema": "netprobe.report/1"}
    watch = json.loads(_watch("r", _iso(10), KAZTELECOM, _result(YT)))
    loaded = load_records(
        [
            _write(tmp_path / "old.json", report),
            _write(
                tmp_path / "old.jsonl",
                [json.dumps({**watch, "schema": "netprobe.watch/1"})],
            ),
        ]
    )
    assert [o.url for o in loaded.observations] == [FB, YT]
    assert loaded.warnings == ()


@pytest.fixture
def morning(tmp_path: Path) -> str:
    """KazTelecom, watched hourly: facebook accessible at 09:00, SNI-reset from 10:00,
    seen blocked until 11:00, accessible again at 14:00; youtube accessible throughout."""
    plan = [
        (9, "accessible", None),
        (10, "blocked", "tls.reset"),
        (11, "blocked", "tls.reset"),
        (14, "accessible", None),
    ]
    lines = []
    for hour, verdict, blocking in plan:
        evidence = SNI_RESET if blocking else None
        lines.append(
            _watch(f"r{hour}", _iso(hour), KAZTELECOM, _result(FB, verdict, blocking, evidence))
        )
        lines.append(_watch(f"r{hour}", _iso(hour), KAZTELECOM, _result(YT)))
    return _write(tmp_path / "watch.jsonl", lines)


@pytest.fixture
def astel(tmp_path: Path) -> str:
    """Astel at 11:30: facebook accessible, youtube blocked by DNS, news blocked by SNI."""
    results = [
        _result(FB, asn=35168),
        _result(YT, "blocked", "dns.nxdomain", "NXDOMAIN for www.youtube.com", asn=35168),
        _result(NEWS, "blocked", "tls.reset", "reset", asn=35168),
    ]
    return _write(tmp_path / "astel.json", _report(_iso(11, 30), ASTEL, results))


def test_synthetic_report_is_a_valid_report() -> None:
    jsonschema.validate(_report(_iso(9), KAZTELECOM, [_result(FB)]), load_schema())


def test_a_block_begins_and_ends(morning: str) -> None:
    loaded = load_records([morning])
    assert loaded.warnings == () and len(loaded.observations) == 8
    summary = summarize(loaded.observations)
    (facebook,) = [t for t in summary.targets if t.url == FB]
    episodes = [
        (e.verdict, e.blocking, e.first_seen, e.last_seen, e.runs) for e in facebook.episodes
    ]
    assert episodes == [
        ("accessible", None, _at(9), _at(9), 1),
        ("blocked", "tls.reset", _at(10), _at(11), 2),
        ("accessible", None, _at(14), _at(14), 1),
    ]  # fmt: skip
    (block,) = facebook.blocks
    assert (block.verdict, block.blockings) == ("blocked", ("tls.reset",))
    assert (block.began, block.ended, block.last_seen) == (_at(10), _at(14), _at(11))
    assert facebook.latest.verdict == "accessible"
    assert facebook.episodes[1].evidence == SNI_RESET
    (youtube,) = [t for t in summary.targets if t.url == YT]
    assert len(youtube.episodes) == 1 and youtube.blocks == ()


def _run(at: datetime, outcomes: list[tuple[str, Verdict, Blocking | None]]) -> RunResult:
    results = []
    for url, verdict, blocking in outcomes:
        target = parse_target(url)
        obs = Observations(target.url, target.domain, "https", 443)
        analysis = Analysis(verdict, blocking, "seen" if blocking else None)
        results.append(TargetResult(target, obs, analysis, Latency.of(obs)))
    return RunResult(at, at + timedelta(seconds=3), results)


def test_reads_what_watch_and_run_write(tmp_path: Path) -> None:
    """The log `netprobe watch` appends to and the report `netprobe run -o` writes."""
    kaztelecom = ProbeInfo("192.0.2.53:53", (), asn=9198, as_name="KAZTELECOM-AS", cc="KZ")
    log = tmp_path / "watch.jsonl"
    for hour, verdict, blocking in [(9, "accessible", None), (10, "blocked", "tls.reset"),
                                    (14, "accessible", None)]:  # fmt: skip
        run = _run(_at(hour), [(FB, verdict, blocking), (YT, "accessible", None)])
        append_run(log, run_records(run, kaztelecom, f"run-{hour}"))
    astel = ProbeInfo("192.0.2.53:53", (), asn=35168, as_name="ASTEL-AS", cc="KZ")
    report = tmp_path / "astel.json"
    run = _run(_at(12), [(FB, "blocked", "dns.nxdomain"), (YT, "accessible", None)])
    write_json(report, build_report(run, astel, {}))

    loaded = load_records([log, report])
    assert loaded.warnings == () and len(loaded.observations) == 8
    summary = summarize(loaded.observations)
    (block,) = summary.targets[0].blocks
    assert (summary.targets[0].url, block.began, block.ended) == (FB, _at(10), _at(14))
    assert [n.network.label for n in summary.networks] == [
        "AS9198 KAZTELECOM-AS (KZ)",
        "AS35168 ASTEL-AS (KZ)",
    ]
    assert summary.networks[0].runs == 3 and summary.networks[1].share_blocked == 0.5


def test_a_block_still_on_has_no_end(tmp_path: Path) -> None:
    lines = [
        _watch("a", _iso(9), KAZTELECOM, _result(FB)),
        _watch("b", _iso(10), KAZTELECOM, _result(FB, "anomaly", "tls.timeout", "stalls")),
        _watch("c", _iso(11), KAZTELECOM, _result(FB, "blocked", "tls.reset", "reset")),
    ]
    summary = summarize(load_records([_write(tmp_path / "w.jsonl", lines)]).observations)
    (block,) = summary.targets[0].blocks
    assert (block.verdict, block.blockings) == ("blocked", ("tls.timeout", "tls.reset"))
    assert (block.began, block.ended, block.last_seen) == (_at(10), None, _at(11))


def test_observations_are_put_in_time_order(tmp_path: Path) -> None:
    later = _write(tmp_path / "later.json", _report(_iso(12), KAZTELECOM, [_result(FB)]))
    earlier = _write(
        tmp_path / "earlier.json",
        _report(_iso(10), KAZTELECOM, [_result(FB, "blocked", "tls.reset", "reset")]),
    )
    (facebook,) = summarize(load_records([later, earlier]).observations).targets
    assert [e.verdict for e in facebook.episodes] == ["blocked", "accessible"]
    assert facebook.blocks[0].ended == _at(12)


def test_two_networks_and_the_share_blocked(morning: str, astel: str) -> None:
    summary = summarize(load_records([astel, morning]).observations)
    kaztelecom, astel_net = summary.networks
    assert kaztelecom.network.label == "AS9198 KAZTELECOM-AS (KZ)"
    assert (kaztelecom.targets, kaztelecom.runs, kaztelecom.observations) == (2, 4, 8)
    assert kaztelecom.latest["blocked"] == 0 and kaztelecom.share_blocked == 0
    assert kaztelecom.ever_interfered == 1 and kaztelecom.ever_blockings == {"tls.reset": 1}
    assert (kaztelecom.first_seen, kaztelecom.last_seen) == (_at(9), _at(14))
    assert astel_net.network.short == "AS35168"
    assert astel_net.targets == 3 and astel_net.latest["blocked"] == 2
    assert astel_net.share_blocked == pytest.approx(2 / 3)
    assert astel_net.latest_blockings == {"dns.nxdomain": 1, "tls.reset": 1}
    assert (summary.first_seen, summary.last_seen, summary.observations) == (_at(9), _at(14), 11)
    assert [(t.network.asn, t.url) for t in summary.targets] == [
        (9198, FB), (9198, YT), (35168, NEWS), (35168, FB), (35168, YT),
    ]  # fmt: skip


def test_the_same_file_twice_counts_once(morning: str) -> None:
    summary = summarize(load_records([morning, morning]).observations)
    assert summary.observations == 8 and summary.networks[0].runs == 4


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    good = _watch("r", _iso(9), KAZTELECOM, _result(FB))
    lines = [
        good,
        "{not json",
        "[1, 2]",
        "",
        _watch("r", _iso(9), KAZTELECOM, _result(YT, "censored")),
        _watch("r", "yesterday", KAZTELECOM, _result(NEWS)),
        _watch("r", _iso(9), {"asn": "9198"}, _result(NEWS)),
        json.dumps({**_result(NEWS), "blocking": 3}),
        json.dumps({"schema": "netprobe.watch/9", "result": {}}),
        json.dumps({"hello": "world"}),
        _watch("r", _iso(9), KAZTELECOM, _result(YT)),
    ]
    path = _write(tmp_path / "log.jsonl", lines)
    loaded = load_records([path])
    assert [o.url for o in loaded.observations] == [FB, YT]
    assert loaded.warnings == (
        f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        f"{path}:3: expected a JSON object, found an array",
        f"{path}:5: unknown verdict 'censored'",
        f"{path}:6: started_at is not an ISO 8601 time: 'yesterday'",
        f"{path}:7: bad AS number '9198'",
        f"{path}:8: blocking is a number, not a string",
        f"{path}:9: unsupported schema 'netprobe.watch/9'",
        f"{path}:10: not a netprobe report, watch record or result",
    )


def test_a_bad_result_in_a_report_skips_only_that_result(tmp_path: Path) -> None:
    report = _report(_iso(9), KAZTELECOM, [_result(FB), _result(YT)])
    report["results"][1:1] = [{"url": 3}, "x"]
    path = _write(tmp_path / "r.json", report)
    loaded = load_records([path])
    assert [o.url for o in loaded.observations] == [FB, YT]
    assert loaded.warnings == (
        f"{path}: results[1]: result has no url",
        f"{path}: results[2]: result is a string, not an object",
    )


def test_a_truncated_report_is_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(_report(_iso(9), KAZTELECOM, [_result(FB)]), indent=2)[:300])
    loaded = load_records([str(path)])
    assert loaded.empty
    assert len(loaded.warnings) == 2
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+: not valid JSON \(.*\)", loaded.warnings[0])
    assert loaded.warnings[1] == f"{path}: no results"


def test_a_compact_report_per_line_is_read(tmp_path: Path) -> None:
    lines = [json.dumps(_report(_iso(h), KAZTELECOM, [_result(FB)])) for h in (9, 10)]
    loaded = load_records([_write(tmp_path / "reports.jsonl", lines)])
    assert [o.at for o in loaded.observations] == [_at(9), _at(10)]
    assert loaded.observations[0].run == _iso(9)


def test_a_file_of_garbage_gives_a_bounded_number_of_warnings(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "targets.csv", ["url,category_code"] + [f"x{i},GRP" for i in range(99)]
    )
    warnings = load_records([path]).warnings
    assert len(warnings) == 22
    assert warnings[-2:] == (f"{path}: 80 more bad lines skipped", f"{path}: no results")


def test_unreadable_files_are_warnings_and_nothing_read_is_empty(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    loaded = load_records([missing, tmp_path])
    assert loaded.empty and loaded.observations == ()
    assert loaded.warnings[0] == f"{missing}: cannot read: No such file or directory"
    assert loaded.warnings[1] == (
        f"{tmp_path}: a directory without Parquet files, not a dataset "
        f"(to read the reports in it, give the files: {tmp_path}/*.json)"
    )
    assert len(loaded.warnings) == 2


def test_nothing_but_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n")
    assert load_records([path]) == Loaded((), (f"{path}: no results",))


def test_a_result_stream_has_no_times(tmp_path: Path, morning: str) -> None:
    lines = [
        json.dumps(_result(FB, "blocked", "dns.bogon", "127.0.0.1")),
        json.dumps(_result(YT)),
    ]
    stream = _write(tmp_path / "run.jsonl", lines)
    loaded = load_records([stream])
    assert loaded.warnings == ()
    facebook = loaded.observations[0]
    assert (facebook.at, facebook.run, facebook.network.asn, facebook.network.label) == (
        None, None, 9198, "AS9198",
    )  # fmt: skip
    # Beside the watch log: the untimed results come after the timed ones, on the same
    # network (named by the log), and are the latest word.
    summary = summarize(load_records([stream, morning]).observations)
    assert summary.networks[0].network.label == "AS9198 KAZTELECOM-AS (KZ)"
    (history,) = [t for t in summary.targets if t.url == FB]
    assert [(e.verdict, e.untimed) for e in history.episodes] == [
        ("accessible", 0), ("blocked", 0), ("accessible", 0), ("blocked", 1),
    ]  # fmt: skip
    assert history.blocks[-1].began is None and history.latest.blocking == "dns.bogon"
    (youtube,) = [t for t in summary.targets if t.url == YT]
    assert [(e.runs, e.untimed, e.last_seen) for e in youtube.episodes] == [(5, 1, _at(14))]


def test_json_output(morning: str, astel: str) -> None:
    document = summary_to_json(summarize(load_records([morning, astel]).observations))
    json.dumps(document)
    assert document["schema"] == "netprobe.summary/1"
    assert (document["first_seen"], document["last_seen"]) == (_iso(9), _iso(14))
    net = document["networks"][0]
    assert net["label"] == "AS9198 KAZTELECOM-AS (KZ)" and net["asn"] == 9198
    assert set(net) == {
        "asn", "as_name", "cc", "label", "targets", "observations", "runs", "first_seen",
        "last_seen", "latest", "share_blocked", "latest_blockings", "ever_interfered",
        "ever_blockings",
    }  # fmt: skip
    assert net["latest"] == {
        "accessible": 2, "blocked": 0, "anomaly": 0, "site_down": 0, "network_down": 0, "error": 0,
    }  # fmt: skip
    assert document["networks"][1]["share_blocked"] == 0.6667
    facebook = document["targets"][0]
    assert (facebook["url"], facebook["asn"]) == (FB, 9198)
    assert facebook["latest"] == {"verdict": "accessible", "blocking": None, "evidence": None}
    assert facebook["episodes"][1] == {
        "verdict": "blocked",
        "blocking": "tls.reset",
        "evidence": SNI_RESET,
        "first_seen": _iso(10),
        "last_seen": _iso(11),
        "runs": 2,
        "untimed": 0,
    }
    assert facebook["blocks"] == [
        {
            "verdict": "blocked",
            "blockings": ["tls.reset"],
            "began": _iso(10),
            "ended": _iso(14),
            "last_seen": _iso(11),
        }
    ]


EVIL = "https://evil.test/\"><script>alert('x')</script>\x1b[2J\u202e"


@pytest.fixture
def hostile(tmp_path: Path) -> str:
    probe = {
        "asn": 64500,
        "as_name": '<img src="https://x.test/a.png">\x1b]0;pwned\x07',
        "cc": "KZ",
    }
    results = [
        _result(
            EVIL, "blocked", "http.blockpage", "page titled </title><script>x()</script>\x1b[2J"
        ),
        _result(FB, asn=64500),
    ]
    return _write(tmp_path / "hostile.json", _report(_iso(9), probe, results))


def test_hostile_strings_are_sanitised_in_tables(hostile: str, morning: str) -> None:
    loaded = load_records([hostile, morning])
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=300, color_system="truecolor")
    for table in summary_tables(summarize(loaded.observations)):
        console.print(table)
    console.print(
        comparison_table(compare(load_records([hostile]).observations, loaded.observations))
    )
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text
    assert "\u202e" not in text
    assert "\\x1b[2J" in text and "<script>alert('x')</script>" in text


def test_the_page_escapes_hostile_strings(hostile: str) -> None:
    page = timeline_html(summarize(load_records([hostile]).observations), title="<b>KZ</b> & co")
    assert "<title>&lt;b&gt;KZ&lt;/b&gt; &amp; co</title>" in page
    assert "<script" not in page and "<img" not in page
    assert "page titled &lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;\\x1b[2J" in page
    assert "\x1b" not in page and "\x07" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\\x1b[2J\\u202e" in page
    assert "&quot;&gt;" in page


def test_the_page_is_self_contained_and_has_the_chart(morning: str, astel: str) -> None:
    page = timeline_html(summarize(load_records([morning, astel]).observations), title="KZ")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # Nothing to fetch: no script, no linked resource, no URL outside the targets' names.
    assert not re.search(r"<script|<link|<iframe|<img|@import|url\(|\b(src|href)\s*=", page, re.I)
    assert set(re.findall(r"https?://[^\s<\"]+", page)) <= {FB, YT, NEWS}
    assert page.count("<svg") == 1 and "</svg>" in page
    legend = re.search(r'<ul class="legend">(.*?)</ul>', page, re.S)
    assert legend is not None
    for verdict in ("accessible", "blocked", "anomaly", "site_down", "network_down", "error"):
        assert f"v-{verdict}" in legend.group(1)
    # One band per network, and facebook's day on KazTelecom: green, red, green.
    assert "AS9198 KAZTELECOM-AS (KZ)</tspan>" in page and "AS35168 ASTEL-AS (KZ)</tspan>" in page
    cells = re.findall(r'<rect class="v-(\w+)"[^>]*><title>https://www\.facebook\.com/\n', page)
    assert cells == ["accessible", "blocked", "accessible", "accessible"]
    assert "10:00" in page and "still blocked" in page  # the axis, Astel's open blocks


def test_the_page_places_untimed_results_apart(tmp_path: Path) -> None:
    stream = _write(tmp_path / "run.jsonl", [json.dumps(_result(FB, "blocked", "dns.bogon", "b"))])
    page = timeline_html(summarize(load_records([stream]).observations))
    assert ">untimed</text>" in page and 'class="v-blocked"' in page


def test_compare_two_networks(morning: str, astel: str, tmp_path: Path) -> None:
    comparison = compare(load_records([morning]).observations, load_records([astel]).observations)
    assert comparison.a_label == "AS9198 KAZTELECOM-AS (KZ)"
    assert comparison.counts == {"different": 1, "only_a": 0, "only_b": 1, "same": 1}
    assert [(t.url, t.status, t.sentence) for t in comparison.targets] == [
        (YT, "different", "accessible on AS9198, blocked on AS35168 (dns.nxdomain)"),
        (NEWS, "only_b", "blocked on AS35168 (tls.reset); not measured on AS9198"),
        (FB, "same", "accessible on AS9198 and AS35168"),
    ]
    # The latest observation counts: at 10:00 facebook was still blocked on KazTelecom.
    at_ten = [o for o in load_records([morning]).observations if o.at == _at(10)]
    first = compare(at_ten, load_records([astel]).observations).targets[0]
    assert first.sentence == "blocked on AS9198 (tls.reset), accessible on AS35168"
    assert first.a is not None and first.a.evidence == SNI_RESET

    document = comparison_to_json(comparison)
    json.dumps(document)
    assert document["counts"] == comparison.counts
    assert document["b"]["networks"][0]["label"] == "AS35168 ASTEL-AS (KZ)"
    assert document["targets"][0]["b"] == {
        "verdict": "blocked",
        "blocking": "dns.nxdomain",
        "evidence": "NXDOMAIN for www.youtube.com",
        "asn": 35168,
        "at": _iso(11, 30),
        "run": _iso(11, 30),
    }
    assert document["targets"][1]["a"] is None


def test_compare_on_one_network_names_the_sides(tmp_path: Path) -> None:
    before = _write(tmp_path / "a.json", _report(_iso(9), KAZTELECOM, [_result(FB)]))
    after = _write(
        tmp_path / "b.json",
        _report(_iso(10), KAZTELECOM, [_result(FB, "blocked", "tls.reset", "reset")]),
    )
    comparison = compare(load_records([before]).observations, load_records([after]).observations)
    assert comparison.targets[0].sentence == (
        "accessible on AS9198 in A, blocked on AS9198 in B (tls.reset)"
    )


def test_throttling_has_its_own_colour_and_reads_in_compare(tmp_path: Path) -> None:
    slowed = _result(FB, "blocked", "http.throttled", "body 131 kbit/s with SNI www.facebook.com")
    kz = _write(tmp_path / "kz.json", _report(_iso(9), KAZTELECOM, [slowed]))
    abroad = _write(tmp_path / "abroad.json", _report(_iso(9), ASTEL, [_result(FB)]))
    page = timeline_html(summarize(load_records([kz, abroad]).observations))
    legend = re.search(r'<ul class="legend">(.*?)</ul>', page, re.S)
    assert legend is not None and "v-throttled" in legend.group(1)
    cells = re.findall(r'<rect class="v-(\w+)"[^>]*><title>https://www\.facebook\.com/\n', page)
    assert sorted(cells) == ["accessible", "throttled"]
    comparison = compare(load_records([kz]).observations, load_records([abroad]).observations)
    assert comparison.targets[0].sentence == (
        "blocked on AS9198 (http.throttled), accessible on AS35168"
    )


def test_json_lines_are_read_a_line_at_a_time() -> None:
    class LinesOnly(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("a log of JSON Lines must not be read whole")

    lines = LinesOnly(b"\n" + b"\n".join(json.dumps(_result(FB)).encode() for _ in range(3)))
    found = list(json_records("log.jsonl", lines))
    assert [r.where for r in found] == ["log.jsonl:2", "log.jsonl:3", "log.jsonl:4"]


def test_a_document_error_names_its_line_after_blank_lines() -> None:
    (record,) = json_records("r.json", b'\n\n{\n  "a": 1,\n  oops\n}\n')
    assert record.where == "r.json:5" and record.value is None
