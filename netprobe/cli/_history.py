"""`netprobe summarize`, `compare`, `analyse` and `export`: saved results read back."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from netprobe.cli._app import (
    EXIT_FAILED,
    EXIT_USAGE,
    die,
    main,
    print_json,
    results_format_option,
    sanitized,
    table_format_option,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from netprobe.analysis.replay import ReplayedRun
    from netprobe.history import Engine

T = TypeVar("T")


_engine_option = click.option(
    "--engine",
    type=click.Choice(["auto", "python", "duckdb"]),
    default="auto",
    help="What aggregates the results: python (in memory), duckdb (on disk, bounded memory; "
    "needs netprobe[scale]) or auto (default: duckdb for inputs too big for python).",
)


@main.command("summarize")
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR...")
@table_format_option
@click.option("--html", metavar="FILE", help="Also write a self-contained HTML timeline page.")
@_engine_option
def summarize_command(
    files: tuple[str, ...], output_format: str | None, html: str | None, engine: Engine
) -> None:
    """The story told by reports, watch logs and datasets (export --dataset DIR): per
    target and network, when blocks began and ended; per network, the share of targets
    blocked, by blocking type."""

    from netprobe.history import summarize_files, summary_tables, summary_to_json, timeline_html
    from netprobe.output._files import write_atomically

    summary = _aggregated(
        files, lambda chosen, warnings: summarize_files(files, chosen, warnings), engine
    )
    if html:
        page = timeline_html(summary, title=f"netprobe: {len(files)} files summarized")
        try:
            write_atomically(html, page.encode("utf-8"))
        except OSError as exc:
            die(EXIT_FAILED, f"cannot write {html}: {exc.strerror or exc}")
    if (output_format or ("table" if sys.stdout.isatty() else "json")) == "json":
        print_json(summary_to_json(summary))
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    for table in summary_tables(summary):
        console.print(table)


@main.command("compare")
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@table_format_option
@_engine_option
def compare_command(first: str, second: str, output_format: str | None, engine: Engine) -> None:
    """Two reports (or watch logs, or datasets) side by side: where the verdicts differ,
    per target ("blocked on AS9198 (tls.reset), accessible on AS35168")."""

    from netprobe.history import compare_files, comparison_table, comparison_to_json

    comparison = _aggregated(
        (first, second),
        lambda chosen, warnings: compare_files((first,), (second,), chosen, warnings),
        engine,
    )
    if (output_format or ("table" if sys.stdout.isatty() else "json")) == "json":
        print_json(comparison_to_json(comparison))
        return
    from rich.console import Console

    Console(highlight=False, soft_wrap=False).print(comparison_table(comparison))


@main.command("analyse")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@results_format_option
@click.option(
    "-o", "--output", metavar="FILE", help="Also write the JSON (reports) to FILE (atomically)."
)
@click.option("-q", "--quiet", is_flag=True, help="No count of changed verdicts on stderr.")
def analyse_command(
    files: tuple[str, ...], output_format: str | None, output: str | None, quiet: bool
) -> None:
    """Judge saved results again with today's rules and fingerprints: reports, watch logs
    and --format jsonl streams, each result rebuilt from its observations. Results whose
    verdict, blocking type or evidence changed say what they were ("was anomaly
    http.diff, now blocked http.blockpage: ...").

    \b
    JSON output: the report (a list of reports when the files hold several runs);
    jsonl: one result per line, watch logs' records staying watch records.
    Exit status: 0 done; 1 the output could not be written; 2 a file cannot be read
    as netprobe results (FILE:LINE: reason).
    """
    from netprobe.analysis.replay import change_text, load_runs, records, report
    from netprobe.errors import ReplayError

    try:
        runs = load_runs(files)
    except ReplayError as exc:
        die(EXIT_USAGE, sanitized(str(exc)))
    fmt = output_format or ("table" if sys.stdout.isatty() else "json")
    reports = [report(r) for r in runs] if output or fmt == "json" else []
    document: Any = reports[0] if len(reports) == 1 else reports
    if output:
        from netprobe.output.report import write_json

        try:
            write_json(output, document)
        except OSError as exc:
            die(EXIT_FAILED, f"cannot write {output}: {exc.strerror or exc}")
    if fmt == "json":
        print_json(document)
    elif fmt == "jsonl":
        for replayed in runs:
            for line in records(replayed):
                print_json(line, compact=True)
    else:
        from rich.console import Console
        from rich.text import Text

        from netprobe.output.table import results_table, summary_line

        stdout = Console(highlight=False, soft_wrap=False)
        for replayed in runs:
            run_id = f" (run {replayed.run_id})" if replayed.run_id else ""
            stdout.print(Text(f"{replayed.source}{run_id}", style="bold"))
            stdout.print(results_table(replayed.run.results, replayed.run.services))
            for judged in replayed.results:
                if judged.changed:
                    said = f"{judged.result.target.url}: {change_text(judged)}"
                    stdout.print(Text(sanitized(said), style="yellow"))
            stdout.print(summary_line(replayed.run))
    if not quiet:
        every = [j for r in runs for j in r.results]
        changed_count = sum(j.changed for j in every)
        click.echo(f"netprobe: {changed_count} of {len(every)} verdicts changed", err=True)


@main.command("export")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--ooni",
    is_flag=True,
    help="Each result as an OONI measurement (JSON Lines to -o; gzip when it ends in .gz).",
)
@click.option(
    "--dataset",
    metavar="DIR",
    help="Append each result as a row of a Parquet dataset in DIR (needs netprobe[scale]).",
)
@click.option("-o", "--output", metavar="OUT", help="Where --ooni writes (atomically).")
def export_command(
    files: tuple[str, ...], ooni: bool, dataset: str | None, output: str | None
) -> None:
    """Reports, watch logs and --format jsonl streams in other formats, for pooling with
    other data. Nothing is uploaded: you decide where the files go.

    \b
    --ooni: OONI's measurement format (ooni/spec df-000-base and the df-00x test-key
    formats); the probe's address is written as OONI redacts it (127.0.0.1), and
    netprobe's verdict, blocking type and evidence travel under x_netprobe_* keys.
    --dataset: Parquet, partitioned date=/cc=/asn=, one row per result with its
    observations as JSON; rows the dataset holds already are not added again.
    Malformed lines and results are reported as FILE:LINE: reason and skipped.
    Exit status: 0 written; 1 the output could not be written; 2 nothing could be read
    (or a usage error).
    """
    if ooni == (dataset is not None):
        die(EXIT_USAGE, "say which format to export: --ooni -o OUT, or --dataset DIR")
    if ooni and not output:
        die(EXIT_USAGE, "--ooni needs -o OUT (a .jsonl or .jsonl.gz file)")

    def skipped(reason: str) -> None:
        click.echo(f"netprobe: warning: {sanitized(reason)} (skipped)", err=True)

    from netprobe.analysis.replay import iter_runs

    runs = iter_runs(files, skip=skipped)
    if dataset is not None:
        _export_dataset(runs, dataset)
    elif output is not None:
        _export_ooni(runs, output)


def _export_ooni(runs: Iterator[ReplayedRun], output: str) -> None:
    import gzip
    import json

    from netprobe.errors import ReplayError
    from netprobe.output._files import atomic_writer
    from netprobe.output.ooni import ooni_measurement

    written = 0
    try:
        with atomic_writer(output) as file:
            gzipped = None
            if output.endswith(".gz"):
                gzipped = gzip.GzipFile(fileobj=file, mode="wb", mtime=0)
            write = gzipped.write if gzipped else file.write
            for run in runs:
                for j in run.results:
                    line = ooni_measurement(j.result, run.probe, run.run.started_at, j.previous)
                    write(json.dumps(line).encode("utf-8") + b"\n")
                    written += 1
            if gzipped:
                gzipped.close()  # gzip's trailer; the file itself is synced and renamed after
    except ReplayError as exc:  # nothing could be read: nothing was written
        die(EXIT_USAGE, sanitized(str(exc)))
    except OSError as exc:
        die(EXIT_FAILED, f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"netprobe: {written} measurements written to {output}", err=True)


_DATASET_BATCH_ROWS = 10_000
"""Rows appended at a time: memory holds a batch (and the run being read), not the
whole export."""


def _export_dataset(runs: Iterator[ReplayedRun], directory: str) -> None:
    """Rows appended in batches as the runs are read: an export cut short keeps the
    batches done, and running it again adds only what is missing."""
    from netprobe.errors import ReplayError
    from netprobe.output.dataset import DatasetRow, append_rows, dataset_row
    from netprobe.output.report import iso_time

    added = read = in_all = 0

    def append(rows: list[DatasetRow]) -> None:
        nonlocal added, read, in_all
        try:
            now_added, before = append_rows(directory, rows)
        except ImportError:
            die(EXIT_FAILED, "--dataset needs pyarrow: pip install 'netprobe[scale]'")
        except OSError as exc:
            die(EXIT_FAILED, f"cannot write to {directory}: {exc.strerror or exc}")
        added, read, in_all = added + now_added, read + len(rows), before + now_added

    batch: list[DatasetRow] = []
    try:
        for run in runs:
            # A report's run is its start time as the report writes it, as summarize reads it.
            run_id = run.run_id or (iso_time(run.run.started_at) if run.kind == "report" else None)
            measured_at = None if run.kind == "stream" else run.run.started_at
            for j in run.results:
                batch.append(dataset_row(j.result, run.probe, measured_at, run_id, j.previous))
            if len(batch) >= _DATASET_BATCH_ROWS:
                append(batch)
                batch = []
    except ReplayError as exc:  # nothing could be read
        die(EXIT_USAGE, sanitized(str(exc)))
    if batch:
        append(batch)
    click.echo(
        f"netprobe: {added} rows added to {directory} ({read - added} held already; "
        f"{in_all} in all)",
        err=True,
    )


def _aggregated(
    files: Sequence[str],
    aggregate: Callable[[Literal["python", "duckdb"], list[str]], T | None],
    engine: Engine,
) -> T:
    """What ``aggregate`` makes of ``files`` with the engine that suits them; bad lines
    are warnings, no result at all is a usage error."""
    from netprobe.errors import EngineError
    from netprobe.history import choose_engine

    try:
        chosen = choose_engine(files, engine)
    except EngineError as exc:
        die(EXIT_FAILED, str(exc))
    warnings: list[str] = []
    try:
        result = aggregate(chosen, warnings)
    except EngineError as exc:
        die(EXIT_FAILED, sanitized(str(exc)))
    for warning in warnings:
        click.echo(f"netprobe: warning: {sanitized(warning)}", err=True)
    if result is None:
        die(EXIT_USAGE, f"no results could be read from {sanitized(', '.join(files))}")
    return result
