"""`netprobe lists` and `netprobe lists update`: the built-in lists, and the Citizen Lab test
lists fetched into the cache."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime

import click

from netprobe.cli._app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, checked, die, main, sanitized


@main.group("lists", invoke_without_command=True)
@click.pass_context
def lists_group(context: click.Context) -> None:
    """Show the target lists: the built-in ones, and the Citizen Lab test lists once
    downloaded (`netprobe lists update`), with their age. Select them with -l NAME."""
    if context.invoked_subcommand is not None:
        return
    from netprobe.measure import testlists
    from netprobe.measure.targets import builtin_lists, builtin_services

    services = builtin_services()
    for name, targets in builtin_lists().items():
        categories = sorted({t.category for t in targets if t.category})
        apps = [s.name for s in services if s.list_name == name]
        line = f"{name:<12} {len(targets):>4} targets  {', '.join(categories)}"
        click.echo(line + (f"  (services: {', '.join(apps)})" if apps else ""))
    fetched = testlists.downloaded()
    if not fetched:
        click.echo(
            "Citizen Lab test lists: none downloaded yet; 'netprobe lists update "
            "[--country CC]' fetches the global list and a country's (online)."
        )
        return
    now = datetime.now(UTC)
    for name, found in fetched.items():
        days = found.age(now).days
        when = "today" if days == 0 else f"{days} day{'s' if days > 1 else ''} ago"
        click.echo(f"{name:<12} {found.rows:>4} targets  Citizen Lab test list, fetched {when}")
    hint = testlists.hint_if_stale(fetched.values())
    if hint:
        click.echo(f"netprobe: {hint}", err=True)


@lists_group.command("update")
@click.option(
    "--country",
    "countries",
    multiple=True,
    metavar="CC",
    help="A country's list too (two letters; repeatable). The global list always.",
)
@click.option(
    "--source",
    metavar="URL",
    help="A mirror of citizenlab/test-lists' lists/ folder (default: GitHub).",
)
@click.option("--ca-bundle", metavar="PATH", help="CA certificates for the download.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def lists_update_command(
    countries: tuple[str, ...], source: str | None, ca_bundle: str | None, quiet: bool
) -> None:
    """Download the Citizen Lab test lists into the cache (beside the ASN data): the
    global list and each --country list. The data is CC BY-NC-SA: netprobe fetches it
    for you and never ships it. An unchanged list costs one round trip; a download that
    is no test list (or a server that is down) leaves the list already here.

    \b
    Exit status: 0 every list updated or unchanged; 1 one could not be fetched.
    """
    from netprobe.measure import testlists
    from netprobe.measure.steps.tls import CABundleError, make_verify_context

    names = ["global", *(checked(_country, cc, "--country") for cc in countries)]
    try:
        verify = make_verify_context(ca_bundle) if ca_bundle else None
    except CABundleError as exc:
        die(EXIT_USAGE, str(exc))
    bar = _DownloadBar() if not quiet and sys.stderr.isatty() else None
    try:
        with bar or contextlib.nullcontext():
            outcomes = testlists.update(
                names, source=source or testlists.DEFAULT_SOURCE, verify=verify,
                progress=bar.advance if bar is not None else None,
            )  # fmt: skip
    except OSError as exc:
        die(EXIT_FAILED, f"cannot write the lists: {exc.strerror or exc}")
    for outcome in outcomes:
        click.echo(f"{outcome.name:<8} {outcome.status:<9} {sanitized(outcome.detail)}")
    failed = any(o.status == "failed" for o in outcomes)
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


class _DownloadBar:
    """A progress bar on stderr, a line per list, gone when done."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import DownloadColumn, Progress, TaskID, TextColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            DownloadColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _DownloadBar:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def advance(self, name: str, done: int, total: int | None) -> None:
        if name not in self._tasks:
            self._tasks[name] = self._bar.add_task(f"{name}.csv", total=total)
        self._bar.update(self._tasks[name], completed=done)


def _country(text: str) -> str:
    code = text.strip().lower()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ValueError(f"{text!r} is not a two-letter country code")
    return code
