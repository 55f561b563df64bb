"""Saved results judged again: the round trip is exact, changes are named, bad files are
refused with FILE:LINE: reason."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netprobe.analysis import analyse
from netprobe.analysis.replay import change_text, iter_runs, load_runs, records, report
from netprobe.cli import main
from netprobe.errors import ReplayError
from netprobe.model.addresses import parse_networks
from netprobe.model.networks import ASInfo
from netprobe.model.observations import (
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
)
from netprobe.model.results import Latency, RunContext, RunResult, TargetResult, asn_lookup
from netprobe.model.targets import parse_target
from netprobe.output.report import (
    ProbeInfo,
    build_report,
    load_schema,
    result_to_dict,
    watch_record,
)
from tests.unit import strategies
from tests.unit.strategies import BLOCKPAGE, IP, SITE

STARTED = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
PROBE = ProbeInfo(resolver="udp://198.18.1.1:53", control_resolvers=("https://c/dns-query",))


def _result(obs: Observations, ctx: RunContext, networks: dict[str, ASInfo]) -> TargetResult:
    target = replace(parse_target(obs.url, list_name="news"), expected_asns=obs.expected_asns)
    ctx = replace(ctx, asn_of=asn_lookup(networks))
    return TargetResult(target, obs, analyse(obs, ctx), Latency.of(obs), networks, ctx)


def _save(tmp_path: Path, results: list[TargetResult], name: str = "r.json") -> str:
    run = RunResult(started_at=STARTED, finished_at=STARTED, results=results)
    path = tmp_path / name
    path.write_text(json.dumps(build_report(run, PROBE, {"timeout": 3.0})), "utf-8")
    return str(path)


def _page(url: str, excerpt: bytes | None, status: int = 200) -> Observations:
    return Observations(
        url=url,
        domain=SITE,
        scheme="http",
        port=80,
        dns=(
            DNSObservation(SITE, "A", "udp://l", "local", 0.0, 1.0, None, "NOERROR", (IP,)),
            DNSObservation(SITE, "A", "https://c", "control", 0.0, 1.0, None, "NOERROR", (IP,)),
        ),
        tcp=(TCPObservation(IP, 80, "local", 1.0, 1.0, None),),
        http=(
            HTTPObservation(
                url, IP, SITE, "target", 0, 2.0, 3.0, None, 2.5, status,
                (("content-type", "text/html"),), None,
                len(excerpt) if excerpt is not None else 100_000, "ab" * 32,
                body_excerpt=excerpt, connected=True,
            ),
        ),
    )  # fmt: skip


# -- the round trip ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dns_obs=st.lists(strategies.dns, max_size=5),
    tcp_obs=st.lists(strategies.tcp, max_size=4),
    tls_obs=st.lists(strategies.tls, max_size=4),
    http_obs=st.lists(strategies.http, max_size=4),
    scheme=st.sampled_from(["http", "https", "tcp", "tls"]),
    expected=st.sampled_from([frozenset(), frozenset({64500})]),
    asn=st.sampled_from([None, 64500, 64501]),
    invents=st.none() | st.booleans(),
    deadline=st.booleans(),
    error=st.none() | st.just("KeyError: 'x'"),
)
def test_any_observations_are_judged_again_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    dns_obs: list[Any],
    tcp_obs: list[Any],
    tls_obs: list[Any],
    http_obs: list[Any],
    scheme: str,
    expected: frozenset[int],
    asn: int | None,
    invents: bool | None,
    deadline: bool,
    error: str | None,
) -> None:
    obs = Observations(
        url=f"{scheme}://{SITE}/" if scheme.startswith("http") else f"{scheme}://{SITE}:443",
        domain=SITE,
        scheme=scheme,  # type: ignore[arg-type]
        port=80 if scheme == "http" else 443,
        dns=tuple(dns_obs),
        tcp=tuple(tcp_obs),
        tls=tuple(tls_obs),
        http=tuple(http_obs),
        expected_asns=expected,
        deadline_passed=deadline,
        internal_error=error,
    )
    addresses = {a for d in obs.dns for a in d.addresses}
    networks = {a: ASInfo(asn, None, "AS-NAME", None, "pyasn") for a in sorted(addresses)}
    ctx = RunContext(routable=parse_networks(["198.18.0.0/15"]), resolver_invents_answers=invents)
    original = _result(obs, ctx, networks)
    (run,) = load_runs([_save(tmp_path_factory.mktemp("r"), [original])])
    (judged,) = run.results
    assert judged.result.observations == obs
    assert judged.result.analysis == original.analysis
    assert not judged.changed
    assert result_to_dict(judged.result, None) == json.loads(
        json.dumps(result_to_dict(original, None))
    )


def test_body_bytes_that_are_not_utf8_survive_as_base64(tmp_path: Path) -> None:
    excerpt = b"<title>\xcf\xf0\xe8\xe2\xe5\xf2</title>\x00\xff"  # windows-1251, a NUL, 0xff
    saved = _save(tmp_path, [_result(_page(f"http://{SITE}/", excerpt), RunContext(), {})])
    written = json.loads(Path(saved).read_text("utf-8"))["results"][0]["http"][0]
    assert written["body_excerpt"]["format"] == "base64"
    (run,) = load_runs([saved])
    assert run.results[0].result.observations.http[0].body_excerpt == excerpt


# -- verdicts that change -----------------------------------------------------------------------


def test_a_page_a_new_fingerprint_knows_is_judged_blocked(tmp_path: Path) -> None:
    """Saved when the page was taken for the site's own; today's fingerprints know it."""
    url = f"http://{SITE}/"
    page = _result(_page(url, BLOCKPAGE), RunContext(), {})
    assert page.analysis.blocking == "http.blockpage"
    then = replace(page, analysis=replace(page.analysis, verdict="accessible", blocking=None))
    then = replace(then, analysis=replace(then.analysis, evidence=None))
    (run,) = load_runs([_save(tmp_path, [then])])
    (judged,) = run.results
    assert judged.changed
    assert change_text(judged) == (
        "was accessible, now blocked http.blockpage: "
        f"{url} answers HTTP 200 with a blockpage (generic.en.restricted)"
    )
    written = report(run)["results"][0]
    assert written["previous"] == {"verdict": "accessible", "blocking": None, "evidence": None}
    assert written["verdict"] == "blocked"


def test_the_replayed_report_is_valid_against_the_schema(tmp_path: Path) -> None:
    url = f"http://{SITE}/"
    page = _result(_page(url, BLOCKPAGE), RunContext(), {})
    then = replace(page, analysis=replace(page.analysis, verdict="accessible", blocking=None))
    (run,) = load_runs([_save(tmp_path, [then, page])])
    jsonschema.validate(report(run), load_schema())


def test_a_watch_log_stays_a_watch_log(tmp_path: Path) -> None:
    results = [_result(_page(f"http://{SITE}/{n}", BLOCKPAGE), RunContext(), {}) for n in "ab"]
    log = tmp_path / "watch.jsonl"
    lines = []
    for run_id, result in (("r1", results[0]), ("r2", results[1]), ("r2", results[0])):
        run = RunResult(started_at=STARTED, finished_at=STARTED, results=[result])
        lines.append(json.dumps(watch_record(run, PROBE, run_id, result_to_dict(result, 9198))))
    log.write_text("\n".join(lines) + "\n", "utf-8")
    runs = load_runs([log])
    assert [(r.kind, r.run_id, len(r.results)) for r in runs] == [
        ("watch", "r1", 1),
        ("watch", "r2", 2),
    ]
    again = records(runs[1])
    assert [r["schema"] for r in again] == ["netprobe.watch/2"] * 2
    assert [r["result"]["url"] for r in again] == [f"http://{SITE}/b", f"http://{SITE}/a"]
    assert all(r["result"]["verdict"] == "blocked" for r in again)


def test_a_watch_log_is_read_a_run_at_a_time(tmp_path: Path) -> None:
    result = _result(_page(f"http://{SITE}/", BLOCKPAGE), RunContext(), {})
    run = RunResult(started_at=STARTED, finished_at=STARTED, results=[result])
    lines = [
        json.dumps(watch_record(run, PROBE, run_id, result_to_dict(result, 9198)))
        for run_id in ("r1", "r1", "r2", "r1")
    ]
    log = tmp_path / "watch.jsonl"
    log.write_text("\n".join([*lines, "not json"]) + "\n", "utf-8")
    said: list[str] = []
    runs = iter_runs([log], skip=said.append)
    first = next(runs)
    # Handed on when r2 began, before the rest of the file was read.
    assert (first.run_id, len(first.results), said) == ("r1", 2, [])
    rest = list(runs)
    # A run id seen again after another run is a run of its own: runs are consecutive lines.
    assert [(r.run_id, len(r.results)) for r in rest] == [("r2", 1), ("r1", 1)]
    assert said == [f"{log}:5: not valid JSON (Expecting value at column 1)"]


# -- bad input --------------------------------------------------------------------------------


def _report_text(tmp_path: Path) -> str:
    return Path(
        _save(tmp_path, [_result(_page(f"http://{SITE}/", None), RunContext(), {})])
    ).read_text("utf-8")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("hello\n", "{f}:1: not valid JSON (Expecting value at column 1)"),
        ('{\n  "schema": "netprobe.report/2",\n', "{f}:3: not valid JSON"),
        ('{"schema": "netprobe.report/9"}\n', "{f}:1: unsupported schema 'netprobe.report/9'"),
        ('{"schema": "netprobe.report/1", "results": []}\n', "{f}:1: a version 1 report keeps no"),
        ("[1, 2]\n", "{f}:1: expected a JSON object, found an array"),
        ('{"url": "http://x.test/", "verdict": "blocked"}\n', "{f}:1: list is missing"),
        ("", "{f}: no results"),
    ],
    ids=["not json", "truncated", "unknown schema", "version 1", "array", "bare result", "empty"],
)
def test_bad_files_name_file_line_and_reason(tmp_path: Path, content: str, reason: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, "utf-8")
    with pytest.raises(ReplayError) as caught:
        load_runs([bad])
    assert str(caught.value).startswith(reason.format(f=bad))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda r: r["results"][0].pop("context"), "results[0]: context is missing"),
        (
            lambda r: r["results"][0]["http"][0].update(status="200"),
            "results[0]: http[0].status: expected an integer, found a string",
        ),
        (
            lambda r: r["results"][0]["http"][0].update(
                body_excerpt={"format": "base64", "data": "!"}
            ),
            "results[0]: http[0].body_excerpt: bad base64 data",
        ),
        (lambda r: r["results"][0].update(verdict="censored"), "results[0]: unknown verdict"),
        (lambda r: r["results"][0].update(url="not a url"), "results[0]: invalid target"),
        (
            lambda r: r["results"][0]["context"].update(routable=["x"]),
            "results[0]: context: not an address block: 'x'",
        ),
    ],
    ids=["no context", "status as text", "bad base64", "unknown verdict", "bad url", "routable"],
)
def test_a_bad_result_is_named(tmp_path: Path, edit: Any, reason: str) -> None:
    document = json.loads(_report_text(tmp_path))
    edit(document)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), "utf-8")
    with pytest.raises(ReplayError) as caught:
        load_runs([bad])
    assert str(caught.value).startswith(f"{bad}:1: {reason}")  # a compact report: one line


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_report_text(tmp_path).replace("\n", "") + '\n{"url": 3\n', "utf-8")
    done = CliRunner().invoke(main, ["analyse", str(bad)])
    assert done.exit_code == 2
    assert done.output == "" or "Traceback" not in done.output
    assert done.stderr.strip().splitlines()[-1].startswith(f"netprobe: error: {bad}:2: not valid")


def test_cli_json_marks_the_changed_result(tmp_path: Path) -> None:
    url = f"http://{SITE}/"
    page = _result(_page(url, BLOCKPAGE), RunContext(), {})
    then = replace(page, analysis=replace(page.analysis, verdict="anomaly", blocking="http.diff"))
    saved = _save(tmp_path, [then, page])
    out = tmp_path / "again.json"
    done = CliRunner().invoke(main, ["analyse", saved, "--format", "json", "-o", str(out)])
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert json.loads(out.read_text("utf-8")) == document
    assert [r.get("previous", {}).get("blocking") for r in document["results"]] == [
        "http.diff",
        None,
    ]
    assert done.stderr == "netprobe: 1 of 2 verdicts changed\n"
