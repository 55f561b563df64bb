"""Terminal output never lets remote text act on the terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from netprobe.model.observations import HTTPObservation, Observations
from netprobe.model.results import Analysis, Latency, RunResult, TargetResult
from netprobe.model.targets import parse_target
from netprobe.output.table import results_table, sanitize, summary_line


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
    assert summary_line(run).plain == "2 targets, 1 accessible, 1 blocked in 0.0 s"
