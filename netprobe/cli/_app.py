"""The ``netprobe`` command group and what every command shares: exit statuses, errors on
one line, JSON on stdout, logs that remote text cannot use to drive the terminal."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from netprobe import __version__

if TYPE_CHECKING:
    from collections.abc import Callable

    from netprobe.model.addresses import IPNetwork

__all__ = ["main"]

_T = TypeVar("_T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_FOUND = 0, 1, 2, 3
EXIT_INTERRUPTED = 130


def die(code: int, message: str) -> NoReturn:
    click.echo(f"netprobe: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netprobe")
def main() -> None:
    """Probe websites and apps from this network and say how each one is blocked."""
    # httpcore imports trio whenever it is installed (50-60 ms of every run's start here),
    # though netprobe runs on asyncio only: this process never loads it.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]


def _checked_networks(texts: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    from netprobe.model.addresses import parse_networks

    try:
        return parse_networks(texts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--routable") from None


routable_option = click.option(
    "--routable", multiple=True, metavar="CIDR",
    callback=lambda _ctx, _param, texts: _checked_networks(texts),
    help="Treat this special-purpose address block (IANA's registry) as routable: only for "
    "a test network that emulates the internet there; repeatable.",
)  # fmt: skip


results_format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "jsonl"]),
    help="Output on stdout. Default: table on a terminal, json otherwise.",
)
"""The --format of the commands that print results (run, analyse)."""

table_format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    help="Default: table on a terminal, json otherwise.",
)
"""The --format of the commands that print one document (summarize, compare, asn lookup)."""


def checked(parse: Callable[[str], _T], text: str, option: str) -> _T:
    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def sanitized(text: str) -> str:
    from netprobe.output.table import sanitize

    return sanitize(text, 1000)


def configure_logging(quiet: bool, verbose: int) -> None:
    level = logging.WARNING if quiet or not verbose else logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_TerminalSafeFormatter("netprobe: %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


class _TerminalSafeFormatter(logging.Formatter):
    """Log lines may quote remote text (an error a server provoked, a name it sent): no
    control, format or bidi character of it reaches the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        from netprobe.output.table import sanitize

        return sanitize(super().format(record), limit=4000)


def print_json(document: Any, *, text: str | None = None, compact: bool = False) -> None:
    """The one way JSON reaches stdout.

    On a terminal: indented (unless ``compact``: one line, as JSON Lines), and every
    character that is not ASCII escaped as ``\\uXXXX``: remote text (page titles,
    headers, evidence quoting them) may hold escape sequences, C1 controls or bidi
    overrides that would drive the terminal; JSON escapes the C0 ones itself. Elsewhere,
    UTF-8 for programs, compact when ``compact`` (``text`` when it was made already).
    """
    import json

    if sys.stdout.isatty():
        out = json.dumps(document, ensure_ascii=True, indent=None if compact else 2)
    elif text is not None:
        out = text
    else:
        indent = None if compact else 2
        out = json.dumps(document, ensure_ascii=False, indent=indent)
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
