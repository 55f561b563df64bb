"""Terminal tables for summaries and comparisons.

URLs, AS names and evidence come from report files that may hold anything, so every
string passes through :func:`netprobe.output.table.sanitize` and reaches rich as
:class:`rich.text.Text`, never as markup. rich is imported when a table is built, not
when the history module is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netprobe.history._text import clock, counts, share

if TYPE_CHECKING:
    from rich.table import Table

    from netprobe.history._compare import Comparison
    from netprobe.history._records import Observation
    from netprobe.history._summary import Episode, Summary

__all__ = ["comparison_table", "summary_tables"]


def summary_tables(summary: Summary) -> list[Table]:
    """The networks (share blocked now and at some point), then one table per network
    with each target's history: its episodes in time order, each with the times it was
    first and last seen, so that a block began where a blocked or anomaly episode starts
    and ended where the next one starts."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from netprobe.output.table import VERDICT_STYLES, sanitize

    dated = summary.several_days
    networks = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for column in ("network", "targets", "blocked", "anomaly", "blocking now"):
        networks.add_column(column, overflow="fold")
    networks.add_column("ever blocked or anomaly", overflow="fold")
    networks.add_column("runs", justify="right")
    networks.add_column("from (UTC)", no_wrap=True)
    networks.add_column("to (UTC)", no_wrap=True)
    for net in summary.networks:
        networks.add_row(
            Text(sanitize(net.network.label)),
            Text(str(net.targets)),
            Text(share(net.latest["blocked"], net.targets), style=VERDICT_STYLES["blocked"]),
            Text(share(net.latest["anomaly"], net.targets), style=VERDICT_STYLES["anomaly"]),
            Text(sanitize(counts(net.latest_blockings))),
            Text(
                share(net.ever_interfered, net.targets) + " " + sanitize(counts(net.ever_blockings))
            ),
            Text(str(net.runs)),
            Text(clock(net.first_seen, dated)),
            Text(clock(net.last_seen, dated)),
        )
    tables = [networks]
    for net in summary.networks:
        table = Table(
            title=Text(sanitize(net.network.label), style="bold"),
            box=box.SIMPLE_HEAD,
            header_style="bold",
            pad_edge=False,
        )
        table.add_column("target", overflow="fold", min_width=24)
        table.add_column("now", no_wrap=True)
        table.add_column("blocking", no_wrap=True)
        table.add_column("history (UTC)", overflow="fold", ratio=2, min_width=30)
        table.add_column("evidence", overflow="fold", ratio=1, min_width=24)
        for history in summary.histories(net.network):
            now = history.latest
            line = Text()
            for index, episode in enumerate(history.episodes):
                if index:
                    line.append(" → ", style="dim")
                line.append(episode.verdict, style=VERDICT_STYLES[episode.verdict])
                if episode.blocking:
                    line.append(f" {sanitize(episode.blocking)}")
                line.append(f" {_period(episode, dated)}")
            table.add_row(
                Text(sanitize(history.url, 80)),
                Text(now.verdict, style=VERDICT_STYLES[now.verdict]),
                Text(sanitize(now.blocking)),
                line,
                Text("" if now.verdict == "accessible" else sanitize(now.evidence, 300)),
            )
        tables.append(table)
    return tables


def _period(episode: Episode, dated: bool) -> str:
    """When an episode was seen and in how many runs: ``08:00-09:45 (8 runs)`` with an en
    dash; results without a time are counted apart."""
    first, last = episode.first_seen, episode.last_seen
    timed = episode.runs - episode.untimed
    runs = [f"{timed} run{'s' if timed > 1 else ''}"] if timed else []
    runs += [f"{episode.untimed} untimed"] if episode.untimed else []
    if first is None or last is None:
        return f"({', '.join(runs)})"
    until = f"\N{EN DASH}{clock(last, dated)}" if last != first else ""
    return f"{clock(first, dated)}{until} ({', '.join(runs)})"


def comparison_table(comparison: Comparison) -> Table:
    """Per target, side A's latest verdict beside side B's; differences first."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from netprobe.output.table import VERDICT_STYLES, sanitize

    def cell(obs: Observation | None) -> Text:
        if obs is None:
            return Text("not measured", style="dim")
        shown = Text(obs.verdict, style=VERDICT_STYLES[obs.verdict])
        return shown.append(f" {sanitize(obs.blocking)}" if obs.blocking else "")

    found = comparison.counts
    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        caption=(
            f"{found['different']} differ, {found['only_a']} only in A, "
            f"{found['only_b']} only in B, {found['same']} the same"
        ),
    )
    table.add_column("target", overflow="fold", min_width=24)
    table.add_column(Text(sanitize(f"A: {comparison.a_label}", 60)), overflow="fold")
    table.add_column(Text(sanitize(f"B: {comparison.b_label}", 60)), overflow="fold")
    table.add_column("", overflow="fold", ratio=1)
    for target in comparison.targets:
        table.add_row(
            Text(sanitize(target.url, 80)),
            cell(target.a),
            cell(target.b),
            Text(
                sanitize(target.sentence, 300),
                style="bold" if target.status == "different" else "dim",
            ),
        )
    return table
