"""Terminal output: the results table, the summary line and the progress bar.

Everything shown here may come from a hostile network (page titles, certificate
issuers, redirect targets inside evidence sentences), so every string passes
through :func:`sanitize` and reaches rich as :class:`rich.text.Text`, never as
markup.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from netprobe.model.results import VERDICTS, Analysis

if TYPE_CHECKING:
    from netprobe.model.networks import ASInfo
    from netprobe.model.results import RunResult, ServiceResult, TargetResult

__all__ = [
    "VERDICT_STYLES",
    "asn_table",
    "progress_bar",
    "results_table",
    "sanitize",
    "summary_line",
]

VERDICT_STYLES = {
    "accessible": "green",
    "blocked": "bold red",
    "anomaly": "yellow",
    "site_down": "dim",
    "network_down": "magenta",
    "error": "bold magenta",
}


def sanitize(text: str | None, limit: int = 200) -> str:
    """Make remote text safe to print: no control, format or bidi characters, bounded length."""
    if not text:
        return ""
    shown = "".join(
        ch
        if unicodedata.category(ch)[0] != "C"
        else f"\\x{ord(ch):02x}"
        if ord(ch) < 0x100
        else f"\\u{ord(ch):04x}"
        for ch in text
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _detail(result: TargetResult) -> Text:
    """The evidence, or for a reachable page its title (remote text: sanitised)."""
    if result.analysis.verdict != "accessible":
        return Text(sanitize(result.analysis.evidence, 300))
    pages = [h for h in result.observations.http if h.purpose == "target" and h.status]
    title = pages[-1].title if pages else None
    return Text(sanitize(title, 80), style="dim") if title else Text("")


def results_table(results: Sequence[TargetResult], services: Sequence[ServiceResult] = ()) -> Table:
    """One row per target; a service's row comes where its first endpoint would, with its
    endpoints indented beneath it."""
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, header_style="bold", pad_edge=False)
    table.add_column("target", overflow="fold", min_width=24)
    with_category = any(r.target.category or r.target.list_name for r in results)
    if with_category:
        table.add_column("category", max_width=10)
    table.add_column("verdict", no_wrap=True)
    table.add_column("blocking", no_wrap=True)
    table.add_column("evidence / page title", overflow="fold", ratio=1, min_width=30)
    table.add_column("ms", justify="right", no_wrap=True)

    def row(target: Text, category: str | None, analysis: Analysis, detail: Text, ms: str) -> None:
        table.add_row(
            target,
            *([Text(sanitize(category))] if with_category else []),
            Text(analysis.verdict, style=VERDICT_STYLES[analysis.verdict]),
            Text(analysis.blocking or ""),
            detail,
            Text(ms),
        )

    def target_row(result: TargetResult, indent: str = "") -> None:
        latency = result.latency.ttfb if result.analysis.verdict == "accessible" else None
        name = Text(indent + sanitize(result.target.url, 80))
        category = result.target.category or result.target.list_name
        row(name, None if indent else category, result.analysis, _detail(result), _ms(latency))

    by_service = {judged.service.id: judged for judged in services}
    shown: set[str] = set()
    for result in results:
        judged = by_service.get(result.target.service or "")
        if judged is None:
            target_row(result)
            continue
        if judged.service.id in shown:
            continue
        shown.add(judged.service.id)
        service, verdict = judged.service, judged.analysis
        summary = Analysis(verdict.verdict, verdict.blocking, verdict.evidence)
        name = Text(sanitize(service.name), style="bold")
        row(name, service.category, summary, Text(sanitize(verdict.evidence, 300)), "")
        for member in results:
            if member.target.service == service.id:
                target_row(member, indent="  ")
    return table


def summary_line(run: RunResult) -> Text:
    line = Text()
    _count(line, f"{len(run.results)} targets", (r.analysis.verdict for r in run.results))
    if run.services:
        line.append("; ")
        _count(line, f"{len(run.services)} services", (s.analysis.verdict for s in run.services))
    if run.finished_at is not None:
        line.append(f" in {(run.finished_at - run.started_at).total_seconds():.1f} s")
    if run.network_down:
        line.append(" — this network has no connectivity", style="magenta")
    if run.interrupted:
        line.append(" — interrupted: partial results", style="bold")
    return line


def _count(line: Text, what: str, verdicts: Iterable[str]) -> None:
    counts = Counter(verdicts)
    line.append(what)
    for verdict in VERDICTS:
        if counts.get(verdict):
            line.append(", ")
            line.append(f"{counts[verdict]} {verdict}", style=VERDICT_STYLES[verdict])


def progress_bar(console: Console) -> Progress:
    """A progress bar on ``console`` (stderr) that leaves stdout alone."""
    return Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def asn_table(addresses: Sequence[str], infos: Sequence[ASInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for column in ("address", "AS", "prefix", "AS name", "cc", "source"):
        table.add_column(column, overflow="fold")
    for address, info in zip(addresses, infos, strict=True):
        table.add_row(
            Text(address),
            Text("-" if info.asn is None else f"AS{info.asn}"),
            Text(info.prefix or ""),
            Text(sanitize(info.as_name)),
            Text(info.cc or ""),
            Text(info.source if info.asn is not None else sanitize(info.note or info.source)),
        )
    return table
