"""The timeline page: one self-contained HTML file to attach to a report.

Inline CSS and one inline SVG chart, no script, no external resource: it opens the
same offline, in a mail client or years later. Rows are targets, grouped in one band
per network; x is time (UTC), each cell lasting from an observation to the next one
(the last one of a network's targets lasts one run interval). Observations without a
time sit in a separate *untimed* column at the right, in the order they were read.
Hovering a cell shows the verdict, blocking, times and evidence (SVG ``<title>``).

Every string from the reports (URLs, AS names, evidence) may be hostile: each is
sanitised (control and bidi characters shown escaped) and then HTML-escaped.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from netprobe import __version__
from netprobe.history._summary import (
    INTERFERENCE,
    Episode,
    NetworkSummary,
    Summary,
    TargetHistory,
)
from netprobe.history._text import clock, counts, share
from netprobe.model.results import VERDICTS

__all__ = ["timeline_html"]

# The terminal's colours (netprobe.output.table.VERDICT_STYLES) as a page can show them.
COLOURS: Final = {
    "accessible": "#2e9e44",
    "blocked": "#d62728",
    "anomaly": "#f0b400",
    "site_down": "#a0a0a0",
    "network_down": "#c2188f",
    "error": "#7b3fa0",
    "throttled": "#1f77b4",
}
MEANINGS: Final = {
    "accessible": "the page was fetched",
    "blocked": "conclusive evidence of interference",
    "anomaly": "a failure consistent with interference",
    "site_down": "down from the control view too",
    "network_down": "nothing answered from this network",
    "error": "a local failure while measuring",
    "throttled": "reachable, but slowed down for its name (tls.throttled, http.throttled),"
    " blocked or anomaly",
}

_LABEL_W, _PLOT_W, _UNTIMED_W, _GAP = 330, 760, 90, 14
_AXIS_H, _BAND_H, _ROW_H, _CELL_H = 40, 26, 16, 13
# Tick spacings to choose from, in seconds: the first giving at most _MOST_TICKS ticks.
_TICK_STEPS: Final = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
_MOST_TICKS: Final = 8

_CSS: Final = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;background:#fff}"
    "h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em}"
    ".meta,.note{color:#555}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left;vertical-align:top}"
    "td.n{text-align:right}"
    ".legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1.4em}"
    ".swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;"
    "vertical-align:-.1em;margin-right:.4em}"
    ".chart{overflow-x:auto}svg text{font:12px system-ui,sans-serif;fill:#222}"
    "svg .band{fill:#f0f0f0}svg .grid{stroke:#ddd}svg .axis{fill:#666}"
    "svg .sep{stroke:#bbb;stroke-dasharray:3 3}"
    + "".join(f".v-{v}{{fill:{c};background:{c}}}" for v, c in COLOURS.items())
)


def timeline_html(summary: Summary, *, title: str = "netprobe: verdicts over time") -> str:
    """The page for ``summary``, as one string of HTML (write it as UTF-8)."""
    from netprobe.output.table import sanitize

    def text(value: str | None, limit: int = 200) -> str:
        return html.escape(sanitize(value, limit))

    dated = summary.several_days
    span = _span(summary.first_seen, summary.last_seen)
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{text(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        f"<h1>{text(title)}</h1>\n",
        f'<p class="meta">{summary.observations} observations of '
        f"{len({t.url for t in summary.targets})} targets on {len(summary.networks)} "
        f"networks, {span}. Made with netprobe {html.escape(__version__)}.</p>\n",
        '<ul class="legend">',
        *(
            f'<li><span class="swatch v-{v}"></span><b>{v}</b>: {MEANINGS[v]}</li>'
            for v in (*VERDICTS, "throttled")
        ),
        "</ul>\n<h2>Networks</h2>\n",
        _networks_table(summary, text, dated),
        "<h2>Timeline</h2>\n",
        '<p class="note">One row per target, one band per network; a cell lasts from an '
        "observation to the next. Hover over a cell for its evidence. Times are UTC.",
        " Results without a time are in the <i>untimed</i> column, in the order read."
        if any(e.untimed for t in summary.targets for e in t.episodes)
        else "",
        '</p>\n<div class="chart">',
        _Chart(summary, text).svg(),
        "</div>\n<h2>Blocks</h2>\n",
        _blocks_table(summary, text, dated),
        "</body>\n</html>\n",
    ]
    return "".join(parts)


class _Escape(Protocol):
    """Sanitises remote text, truncates it to ``limit``, HTML-escapes it."""

    def __call__(self, value: str | None, limit: int = ..., /) -> str: ...


def _networks_table(summary: Summary, text: _Escape, dated: bool) -> str:
    rows = [
        "<table>\n<tr><th>network</th><th>targets</th><th>blocked now</th><th>anomaly now</th>"
        "<th>blocking now</th><th>ever blocked or anomaly</th><th>runs</th>"
        "<th>from (UTC)</th><th>to (UTC)</th></tr>\n"
    ]
    for net in summary.networks:
        rows.append(
            f"<tr><td>{text(net.network.label)}</td><td class=n>{net.targets}</td>"
            f"<td class=n>{share(net.latest['blocked'], net.targets)}</td>"
            f"<td class=n>{share(net.latest['anomaly'], net.targets)}</td>"
            f"<td>{text(counts(net.latest_blockings))}</td>"
            f"<td>{share(net.ever_interfered, net.targets)} {text(counts(net.ever_blockings))}</td>"
            f"<td class=n>{net.runs}</td><td>{clock(net.first_seen, dated)}</td>"
            f"<td>{clock(net.last_seen, dated)}</td></tr>\n"
        )
    rows.append("</table>\n")
    return "".join(rows)


def _blocks_table(summary: Summary, text: _Escape, dated: bool) -> str:
    rows = []
    for history in summary.targets:
        blocks = history.blocks
        for index, block in enumerate(blocks):
            still = index == len(blocks) - 1 and history.latest.verdict in INTERFERENCE
            ended = "still blocked" if still else clock(block.ended, dated)
            rows.append(
                f"<tr><td>{text(history.network.short)}</td><td>{text(history.url, 120)}</td>"
                f'<td><span class="swatch v-{block.verdict}"></span>{block.verdict}</td>'
                f"<td>{text(', '.join(block.blockings))}</td>"
                f"<td>{clock(block.began, dated)}</td><td>{ended}</td>"
                f"<td>{clock(block.last_seen, dated)}</td></tr>\n"
            )
    if not rows:
        return '<p class="note">No target was blocked or anomalous.</p>\n'
    head = (
        "<table>\n<tr><th>network</th><th>target</th><th>verdict</th><th>blocking</th>"
        "<th>began (UTC)</th><th>ended</th><th>last seen</th></tr>\n"
    )
    return head + "".join(rows) + "</table>\n"


class _Chart:
    """The SVG: geometry from the summary's time span, then one row per target."""

    def __init__(self, summary: Summary, text: _Escape) -> None:
        self.summary, self.text = summary, text
        self.start = summary.first_seen
        self.untimed = any(e.untimed for t in summary.targets for e in t.episodes)
        self.plot_w = _PLOT_W if self.start else 0
        self.untimed_x = _LABEL_W + self.plot_w + (_GAP if self.plot_w else 0)
        self.width = self.untimed_x + (_UNTIMED_W if self.untimed else 0) + 4
        # A network's last cells last one of its run intervals; a network measured once
        # borrows the shortest interval seen elsewhere.
        self.tails = {n.network.asn: _interval(n) for n in summary.networks}
        known = [t for t in self.tails.values() if t]
        span = summary.last_seen - self.start if summary.last_seen and self.start else None
        self.tail = min(known, default=span / 10 if span else timedelta(hours=1))
        ends = [
            n.last_seen + (self.tails[n.network.asn] or self.tail)
            for n in summary.networks
            if n.last_seen
        ]
        self.end = max(ends, default=None)

    def x(self, moment: datetime) -> float:
        assert self.start is not None and self.end is not None
        share = (moment - self.start) / (self.end - self.start)
        return _LABEL_W + share * self.plot_w

    def svg(self) -> str:
        body: list[str] = []
        y = _AXIS_H
        for net in self.summary.networks:
            body.append(self._band(net, y))
            y += _BAND_H
            for history in self.summary.histories(net.network):
                body.append(self._row(history, y))
                y += _ROW_H
        height = y + 6
        return (
            f'<svg width="{self.width}" height="{height}" viewBox="0 0 {self.width} {height}" '
            f'role="img" aria-label="verdicts of each target over time, per network">'
            + self._axis(height)
            + "".join(body)
            + "</svg>"
        )

    def _axis(self, height: int) -> str:
        parts = []
        if self.start is not None and self.end is not None:
            last_date = None
            for tick in _ticks(self.start, self.end):
                x = self.x(tick)
                parts.append(
                    f'<line class="grid" x1="{x:.1f}" y1="30" x2="{x:.1f}" y2="{height}"/>'
                )
                if tick.date() != last_date:
                    parts.append(f'<text class="axis" x="{x:.1f}" y="12">{tick:%Y-%m-%d}</text>')
                    last_date = tick.date()
                parts.append(f'<text class="axis" x="{x:.1f}" y="26">{tick:%H:%M}</text>')
        if self.untimed:
            x = self.untimed_x
            parts.append(
                f'<line class="sep" x1="{x - _GAP / 2}" y1="30" x2="{x - _GAP / 2}" '
                f'y2="{height}"/><text class="axis" x="{x}" y="26">untimed</text>'
            )
        return "".join(parts)

    def _band(self, net: NetworkSummary, y: int) -> str:
        stats = (
            f"{net.latest['blocked']} of {net.targets} targets blocked now, "
            f"{net.ever_interfered} blocked or anomalous at some point"
        )
        return (
            f'<rect class="band" x="0" y="{y + 2}" width="{self.width}" height="{_BAND_H - 4}"/>'
            f'<text x="4" y="{y + 17}"><tspan font-weight="bold">'
            f"{self.text(net.network.label, 80)}</tspan> — {stats}</text>"
        )

    def _row(self, history: TargetHistory, y: int) -> str:
        text, url = self.text, self.text(history.url, 300)
        parts = [f'<text x="12" y="{y + 11}"><title>{url}</title>{text(history.url, 48)}</text>']
        episodes = history.episodes
        tail = self.tails[history.network.asn] or self.tail
        untimed_total = sum(e.untimed for e in episodes)
        untimed_x = float(self.untimed_x)
        for index, episode in enumerate(episodes):
            verdict = episode.verdict
            what = f"{verdict} ({episode.blocking})" if episode.blocking else verdict
            shade = "throttled" if (episode.blocking or "").endswith(".throttled") else verdict
            evidence = f"\n{text(episode.evidence, 400)}" if episode.evidence else ""
            tip = f"<title>{url}\n{text(what)}\n{_seen(episode)}{evidence}</title>"
            if episode.first_seen is not None and episode.last_seen is not None:
                following = episodes[index + 1].first_seen if index + 1 < len(episodes) else None
                x0 = self.x(episode.first_seen)
                x1 = self.x(following or episode.last_seen + tail)
                parts.append(self._cell(shade, x0, max(x1 - x0, 1.5), y, tip))
            if episode.untimed:
                w = _UNTIMED_W * episode.untimed / untimed_total
                parts.append(self._cell(shade, untimed_x, w, y, tip))
                untimed_x += w
        return "".join(parts)

    @staticmethod
    def _cell(shade: str, x: float, w: float, y: int, tip: str) -> str:
        """One cell, coloured by its verdict (or as throttled, which has its own colour)."""
        return (
            f'<rect class="v-{shade}" x="{x:.1f}" y="{y + 1}" width="{w:.1f}" '
            f'height="{_CELL_H}">{tip}</rect>'
        )


def _seen(episode: Episode) -> str:
    """``2026-11-27 10:00 - 11:00 UTC, 2 runs`` (an en dash), and how many had no time."""
    runs = f"{episode.runs} run{'s' if episode.runs > 1 else ''}"
    untimed = episode.untimed if episode.first_seen else 0
    return f"{_span(episode.first_seen, episode.last_seen)}, {runs}" + (
        f" ({untimed} without a time)" if untimed else ""
    )


def _span(first: datetime | None, last: datetime | None) -> str:
    if first is None or last is None:
        return "time unknown"
    if first == last:
        return f"{clock(first, True)} UTC"
    return f"{clock(first, True)} &#8211; {clock(last, first.date() != last.date())} UTC"


def _interval(net: NetworkSummary) -> timedelta | None:
    """The mean time between a network's runs, when it was measured more than once."""
    if net.runs < 2 or not net.first_seen or not net.last_seen:
        return None
    return (net.last_seen - net.first_seen) / (net.runs - 1) or None


def _ticks(start: datetime, end: datetime) -> list[datetime]:
    """Round UTC times across [start, end], at most about _MOST_TICKS of them."""
    first, last = start.timestamp(), end.timestamp()
    span = last - first
    step = next(
        (s for s in _TICK_STEPS if span / s <= _MOST_TICKS),
        math.ceil(span / _MOST_TICKS / 86400) * 86400,
    )
    tick = math.ceil(first / step) * step
    return [datetime.fromtimestamp(t, UTC) for t in range(tick, math.floor(last) + 1, step)]
