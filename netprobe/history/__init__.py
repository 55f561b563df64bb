"""Verdicts over time and across networks: what ``netprobe summarize`` and ``compare`` do.

A block is a story told over hours and across ISPs: it comes in one evening, varies
by provider, is lifted at 14:00 UTC. This module reads the reports, watch logs and
result streams of any number of runs, networks and volunteers, and tells that story::

    loaded = load_records(["kz-9198.json", "watch.jsonl"])  # never raises on bad input
    loaded.warnings                    # ("FILE:LINE: reason", ...): those were skipped
    summary = summarize(loaded.observations)
    for history in summary.targets:    # per target and network (ASN)
        for block in history.blocks:
            print(history.url, history.network.short, block.blockings, block.began, block.ended)
    summary_to_json(summary)           # --format json
    summary_tables(summary)            # rich tables for the terminal
    timeline_html(summary, title="Kazakhstan, 9 May")  # a self-contained HTML page

It also puts two vantage points side by side::

    result = compare(load_records(["kz.json"]).observations,
                     load_records(["abroad.json"]).observations)
    result.targets[0].sentence  # "blocked on AS9198 (tls.reset), accessible on AS35168"

For more results than fit in memory (a year of a volunteer network's data), the
reduction of results to episodes runs in DuckDB instead (``netprobe[scale]``); the
rest is shared, so both engines say the same::

    warnings: list[str] = []
    engine = choose_engine(paths, "auto")    # "python", or "duckdb" for big inputs
    summary = summarize_files(paths, engine, warnings)  # None when nothing was read

Reading (``_records``, ``_dataset``), the engines (``_engine``, ``_duckdb``),
summarising (``_summary``), comparing (``_compare``) and
rendering (``_tables``, ``_timeline_html``, the texts they share in ``_text``) each
live in a module of their own; everything public is here. The tables and the page
stay here rather than in :mod:`netprobe.output`: they draw a summary's own records.
rich is imported only when a table or the page is built.
"""

from netprobe.history._compare import (
    COMPARISON_SCHEMA,
    Comparison,
    Status,
    TargetComparison,
    compare,
    comparison_to_json,
)
from netprobe.history._engine import (
    Engine,
    choose_engine,
    compare_files,
    summarize_files,
)
from netprobe.history._records import (
    REPORT_SCHEMA,
    WATCH_SCHEMA,
    Loaded,
    Network,
    Observation,
    load_records,
)
from netprobe.history._summary import (
    SUMMARY_SCHEMA,
    Block,
    Episode,
    NetworkSummary,
    Summary,
    TargetHistory,
    summarize,
    summary_to_json,
)
from netprobe.history._tables import comparison_table, summary_tables
from netprobe.history._timeline_html import timeline_html

__all__ = [
    "COMPARISON_SCHEMA",
    "REPORT_SCHEMA",
    "SUMMARY_SCHEMA",
    "WATCH_SCHEMA",
    "Block",
    "Comparison",
    "Engine",
    "Episode",
    "Loaded",
    "Network",
    "NetworkSummary",
    "Observation",
    "Status",
    "Summary",
    "TargetComparison",
    "TargetHistory",
    "choose_engine",
    "compare",
    "compare_files",
    "comparison_table",
    "comparison_to_json",
    "load_records",
    "summarize",
    "summarize_files",
    "summary_tables",
    "summary_to_json",
    "timeline_html",
]
