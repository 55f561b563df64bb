"""Terminal output: where it was measured from, the results table, the summary line and
the progress bar.

Everything shown here may come from a hostile network (page titles, certificate
issuers, redirect targets inside evidence sentences) or from data files (AS names), so
every string passes through :func:`sanitize` and reaches rich as :class:`rich.text.Text`,
never as markup.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from netprobe.model.results import VERDICTS, Analysis

if TYPE_CHECKING:
    from rich.console import ConsoleOptions, RenderResult

    from netprobe.model.networks import ASInfo
    from netprobe.model.results import Blocking, RunResult, ServiceResult, TargetResult
    from netprobe.output.report import ProbeInfo

__all__ = [
    "VERDICT_STYLES",
    "Joined",
    "ResultsTable",
    "asn_table",
    "probe_header",
    "probe_parts",
    "progress_bar",
    "results_table",
    "sanitize",
    "summary_line",
    "summary_with_probe",
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


_SEPARATOR = " · "

_RESOLVER_KINDS = {"udp": "", "tcp": "TCP", "tls": "DoT", "https": "DoH"}
_RESOLVER_PORTS = {"udp": 53, "tcp": 53, "tls": 853, "https": 443}


class Joined:
    """A line made of parts, each after its separator ("" before the first). On a terminal
    too narrow for the line, it breaks before a part, never inside one, unless a part alone
    is wider than the terminal (rich then wraps that part at its spaces). A separator's
    punctuation stays at the end of the broken line ("," of ", "), its spaces and dots go."""

    def __init__(self, pieces: Iterable[tuple[str, Text]]) -> None:
        self.pieces = tuple(pieces)

    @classmethod
    def of(cls, parts: Iterable[Text], separator: str = _SEPARATOR) -> Joined:
        return cls((separator if index else "", part) for index, part in enumerate(parts))

    def __add__(self, other: Joined) -> Joined:
        return Joined(self.pieces + other.pieces)

    @property
    def plain(self) -> str:
        """The line unbroken, without styles."""
        return "".join(separator + part.plain for separator, part in self.pieces)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = Text()
        for separator, part in self.pieces:
            if line and line.cell_len + len(separator) + part.cell_len > options.max_width:
                line.append(separator.split(" ")[0])
                yield line
                line = Text()
            elif line:
                line.append(separator, style="dim" if separator == _SEPARATOR else "")
            line.append_text(part)
        yield line


def probe_parts(info: ProbeInfo) -> list[Text]:
    """Where a run measured from: this network (AS, its name, country), the resolver under
    test and the control resolvers. The probe's own address is never read: it stays private
    even when the report holds it (``--include-ip``)."""
    if info.asn is not None:
        network = f"AS{info.asn}" + (f" {sanitize(info.as_name)}" if info.as_name else "")
    else:
        network = "AS unknown"
    if info.cc:
        network += f", {sanitize(info.cc, 8)}"
    if info.asn is None and info.asn_note:
        network += f" ({sanitize(info.asn_note)})"
    controls = _resolver_list(info.control_resolvers) or "none"
    return [
        Text(network),
        Text(f"resolver {_resolver_list([info.resolver])}"),
        Text(f"control: {controls}"),
    ]


def probe_header(info: ProbeInfo) -> Joined:
    """The line above the table: "AS9198 Kazakhtelecom JSC, KZ · resolver 192.0.2.53 ·
    control: DoH cloudflare-dns.com, dns.google"."""
    return Joined.of(probe_parts(info))


def _resolver_name(spec: str) -> tuple[str, str]:
    """A resolver as the report writes it (``udp://192.0.2.53:53``,
    ``https://dns.google/dns-query#8.8.8.8``) as a person reads it: its kind ("" for plain
    DNS over UDP, "TCP", "DoT", "DoH") and the server, by name when it has one (the bootstrap
    address is an implementation detail), with a port only when it is not the usual one."""
    try:
        parts = urlsplit(spec)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError:  # not a spec netprobe wrote: shown as it is
        return "", sanitize(spec, 80)
    kind = _RESOLVER_KINDS.get(scheme)
    if not host or kind is None:
        return "", sanitize(spec, 80)
    if port is not None and port != _RESOLVER_PORTS[scheme]:
        host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return kind, sanitize(host, 80)


def _resolver_list(specs: Iterable[str]) -> str:
    """Resolvers grouped by kind, in the order given: "DoH cloudflare-dns.com, dns.google"."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        kind, name = _resolver_name(spec)
        groups.setdefault(kind, []).append(name)
    return "; ".join(f"{kind} {', '.join(names)}".lstrip() for kind, names in groups.items())


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _latency(result: TargetResult) -> float | None:
    """The ms column: how long an accessible target took to answer: its page's first byte
    (TTFB), or for an endpoint, which has no page, its TLS handshake or TCP connect. Other
    verdicts show none: their times would be the censor's (a blockpage, a reset), not the
    site's."""
    if result.analysis.verdict != "accessible":
        return None
    latency = result.latency
    if result.target.is_endpoint:
        return latency.tls or latency.connect
    return latency.ttfb


def _detail(result: TargetResult) -> Text:
    """The evidence, or for a reachable page its title (remote text: sanitised)."""
    if result.analysis.verdict != "accessible":
        return Text(sanitize(result.analysis.evidence, 300))
    pages = [h for h in result.observations.http if h.purpose == "target" and h.status]
    title = pages[-1].title if pages else None
    return Text(sanitize(title, 80), style="dim") if title else Text("")


_WIDE_LAYOUT = 110
"""Columns from which verdict, blocking and category each get a column of their own. On a
narrower terminal the blocking type goes beneath the verdict and the category beneath the
target: side by side, the fixed columns leave the evidence too little room, and rich crops
what does not fit (the ms column first)."""


def results_table(
    results: Sequence[TargetResult], services: Sequence[ServiceResult] = ()
) -> ResultsTable:
    """One row per target; a service's row comes where its first endpoint would, with its
    endpoints indented beneath it. Laid out for the terminal's width when printed."""
    return ResultsTable(results, services)


class ResultsTable:
    """The results as a table fitted to the console it is printed on (see
    :data:`_WIDE_LAYOUT`)."""

    def __init__(
        self, results: Sequence[TargetResult], services: Sequence[ServiceResult] = ()
    ) -> None:
        self.results = results
        self.services = services

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(wide=options.max_width >= _WIDE_LAYOUT)

    def table(self, *, wide: bool) -> Table:
        results = self.results
        table = Table(box=box.SIMPLE_HEAD, show_lines=False, header_style="bold", pad_edge=False)
        # Minimum widths only where they fit: on a narrow terminal they would push the table
        # past its edge, and rich would crop it.
        table.add_column("target", overflow="fold", min_width=24 if wide else None)
        with_category = wide and any(r.target.category or r.target.list_name for r in results)
        if with_category:
            table.add_column("category", max_width=10)
        table.add_column("verdict", no_wrap=True)
        if wide:
            table.add_column("blocking", no_wrap=True)
        table.add_column("evidence / page title", overflow="fold", min_width=30 if wide else None)
        table.add_column("ms", justify="right", no_wrap=True)

        def row(
            name: Text, category: str | None, analysis: Analysis, detail: Text, ms: str
        ) -> None:
            verdict = Text(analysis.verdict, style=VERDICT_STYLES[analysis.verdict])
            blocking = Text(analysis.blocking or "")
            if not wide:
                if category:
                    name = Text.assemble(name, "\n", (sanitize(category), "dim"))
                if analysis.blocking:
                    verdict = Text.assemble(verdict, "\n", blocking)
            table.add_row(
                name,
                *([Text(sanitize(category))] if with_category else []),
                verdict,
                *([blocking] if wide else []),
                detail,
                Text(ms),
            )

        def target_row(result: TargetResult, indent: str = "") -> None:
            name = Text(indent + sanitize(result.target.url, 80))
            category = result.target.category or result.target.list_name
            detail, ms = _detail(result), _ms(_latency(result))
            row(name, None if indent else category, result.analysis, detail, ms)

        by_service = {judged.service.id: judged for judged in self.services}
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


def summary_line(run: RunResult) -> Joined:
    """The run in one line: "9 targets: 1 accessible, 6 blocked (3 tls.*, 2 dns.*, 1 http.*),
    1 anomaly (1 tcp.*), 1 site_down in 3.4 s"."""
    judged = [(r.analysis.verdict, r.analysis.blocking) for r in run.results]
    pieces = _count("", f"{len(run.results)} targets", judged)
    if run.services:
        apps = [(s.analysis.verdict, s.analysis.blocking) for s in run.services]
        pieces += _count("; ", f"{len(run.services)} services", apps)
    if run.finished_at is not None:
        seconds = (run.finished_at - run.started_at).total_seconds()
        pieces.append((" ", Text(f"in {seconds:.1f} s")))
    if run.network_down:
        pieces.append((" — ", Text("this network has no connectivity", style="magenta")))
    if run.interrupted:
        pieces.append((" — ", Text("interrupted: partial results", style="bold")))
    return Joined(pieces)


def summary_with_probe(run: RunResult, info: ProbeInfo) -> Joined:
    """The summary line, followed by where it was measured from (for ``-q``, which prints
    no header above the table)."""
    return summary_line(run) + Joined((_SEPARATOR, part) for part in probe_parts(info))


_FAMILIES = ("dns", "tcp", "tls", "http")
"""Blocking types by family, in the order of a target's steps (ties are listed so)."""


def _count(
    lead: str, what: str, judged: Iterable[tuple[str, Blocking | None]]
) -> list[tuple[str, Text]]:
    """``what``, then the count of each verdict with its blocking types by family:
    "9 targets:", "1 accessible", "6 blocked (3 tls.*, 2 dns.*, 1 http.*)"."""
    blockings: dict[str, list[Blocking | None]] = {}
    for verdict, blocking in judged:
        blockings.setdefault(verdict, []).append(blocking)
    pieces = [(lead, Text(f"{what}:" if blockings else what))]
    for verdict in VERDICTS:
        if verdict not in blockings:
            continue
        count = Text(f"{len(blockings[verdict])} {verdict}", style=VERDICT_STYLES[verdict])
        families = Counter(b.partition(".")[0] for b in blockings[verdict] if b)
        if families:
            order = sorted(families, key=lambda f: (-families[f], _family_rank(f)))
            count.append(" (" + ", ".join(f"{families[f]} {f}.*" for f in order) + ")")
        pieces.append((", " if len(pieces) > 1 else " ", count))
    return pieces


def _family_rank(family: str) -> int:
    return _FAMILIES.index(family) if family in _FAMILIES else len(_FAMILIES)


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
