"""Command line: parse options, call the library, print. Nothing else lives here.

Heavy modules (httpx, dnspython, rich, the runner) are imported inside the
commands so that ``netprobe --help`` starts fast.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from netprobe import __version__
from netprobe._defaults import CONCURRENCY, STEP_TIMEOUT

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from datetime import datetime

    from netprobe.report import ProbeInfo
    from netprobe.runner import ProbeOptions, RunResult, TargetResult
    from netprobe.targets import Target

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_FOUND = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

DEFAULT_CONTROL_RESOLVERS = (
    "https://cloudflare-dns.com/dns-query",
    "https://dns.google/dns-query",
)


def _die(code: int, message: str) -> NoReturn:
    click.echo(f"netprobe: error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netprobe")
def main() -> None:
    """Probe websites and apps from this network and say how each one is blocked."""


@main.command("lists")
def lists_command() -> None:
    """Show the built-in target lists and how many targets each holds."""
    from netprobe.targets import builtin_lists

    for name, targets in builtin_lists().items():
        categories = sorted({t.category for t in targets if t.category})
        click.echo(f"{name:<12} {len(targets):>4} targets  {', '.join(categories)}")


@main.command("run")
@click.argument("urls", nargs=-1, metavar="[URL]...")
@click.option(
    "-l",
    "--list",
    "list_names",
    multiple=True,
    metavar="NAME",
    help="A built-in list (see `netprobe lists`); repeatable.",
)
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    metavar="PATH",
    help="A target file: test-lists CSV, or one URL per line; repeatable.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "jsonl"]),
    help="Output on stdout. Default: table on a terminal, json otherwise.",
)
@click.option(
    "-o", "--output", metavar="FILE", help="Also write the full JSON report to FILE (atomically)."
)
@click.option(
    "--resolver",
    metavar="HOST[:PORT]",
    help="Resolver under test. Default: the system's, from /etc/resolv.conf.",
)
@click.option(
    "--control-resolver",
    "control_resolvers",
    multiple=True,
    metavar="SPEC",
    help="Trusted resolver: IP[:PORT], udp://, tcp://, tls://IP[:PORT] or "
    "https://HOST/dns-query[#BOOTSTRAP-IP]; repeatable.",
)
@click.option(
    "--ca-bundle",
    metavar="PATH",
    help="CA certificates to verify sites with. Default: $SSL_CERT_FILE or certifi.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=STEP_TIMEOUT,
    show_default=True,
    help="Seconds allowed for each network step.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=CONCURRENCY,
    show_default=True,
    help="Targets measured at once.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["blocked", "anomaly"]),
    help="Exit 3 when a result is blocked (or, with anomaly, blocked or an anomaly).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, only warnings and errors.")
@click.option("-v", "--verbose", count=True, help="Log what is done (twice: debug).")
def run_command(
    urls: tuple[str, ...],
    list_names: tuple[str, ...],
    files: tuple[str, ...],
    output_format: str | None,
    output: str | None,
    resolver: str | None,
    control_resolvers: tuple[str, ...],
    ca_bundle: str | None,
    timeout: float,
    concurrency: int,
    fail_on: str | None,
    quiet: bool,
    verbose: int,
) -> None:
    """Probe URLs, built-in lists or target files (all built-in lists by default).

    \b
    Exit status: 0 the run completed, whatever it found; 1 it could not be carried
    out; 2 usage error (bad option, invalid target or target file); 3 with
    --fail-on, something was found; 130 interrupted (partial results are still
    printed and written).
    """
    _configure_logging(quiet, verbose)
    _raise_open_file_limit()
    targets = _collect_targets(urls, list_names, files)
    options = _probe_options(resolver, control_resolvers, ca_bundle, timeout, concurrency)
    fmt = output_format or ("table" if sys.stdout.isatty() else "json")

    from rich.console import Console

    from netprobe.report import ProbeInfo
    from netprobe.runner import RunResult, probe

    probe_info = ProbeInfo(
        resolver=str(options.resolver),
        control_resolvers=tuple(str(r) for r in options.control_resolvers),
        asn_note="ASN lookup is not available yet",
    )
    stderr = Console(stderr=True)
    run = RunResult(started_at=_now())
    emit = _jsonl_writer(probe_info) if fmt == "jsonl" else None
    show_progress = not quiet and stderr.is_terminal
    try:
        if show_progress:
            from netprobe.render import progress_bar

            with progress_bar(stderr) as bar:
                task = bar.add_task("", total=len(targets))

                def advance(result: TargetResult) -> None:
                    bar.update(task, advance=1, description=result.target.domain)
                    if emit:
                        emit(result)

                _run_async(probe(targets, options, on_result=advance, run=run))
        else:
            _run_async(probe(targets, options, on_result=emit, run=run))
    except KeyboardInterrupt:
        run.interrupted = True
        run.finished_at = _now()
    except OSError as exc:
        _die(EXIT_FAILED, f"the run could not be carried out: {exc}")

    _print_results(run, probe_info, fmt, _options_dict(options, fmt), output, quiet)
    if run.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(_exit_code(run, fail_on))


def _now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _run_async(coro: Coroutine[Any, Any, object]) -> None:
    import asyncio

    asyncio.run(coro)


def _raise_open_file_limit() -> None:
    """Hundreds of targets at once need more sockets than the usual soft limit of 1024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _configure_logging(quiet: bool, verbose: int) -> None:
    level = logging.WARNING if quiet or not verbose else logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="netprobe: %(levelname)s: %(message)s"
    )


def _collect_targets(
    urls: tuple[str, ...], list_names: tuple[str, ...], files: tuple[str, ...]
) -> list[Target]:
    from netprobe.targets import TargetError, builtin_lists, dedupe, load_builtin, load_file
    from netprobe.targets import parse_target as parse

    try:
        collected: list[Target] = [parse(u) for u in urls]
        for name in list_names:
            collected.extend(load_builtin(name))
        for path in files:
            collected.extend(load_file(path))
        if not (urls or list_names or files):
            for targets in builtin_lists().values():
                collected.extend(targets)
    except TargetError as exc:
        _die(EXIT_USAGE, str(exc))
    return dedupe(collected)


def _probe_options(
    resolver: str | None,
    control_resolvers: tuple[str, ...],
    ca_bundle: str | None,
    timeout: float,
    concurrency: int,
) -> ProbeOptions:
    from netprobe.probe.dns import ResolverSpecError, parse_resolver, system_resolver
    from netprobe.probe.tls import make_verify_context
    from netprobe.runner import ProbeOptions

    try:
        local = parse_resolver(resolver) if resolver else None
        controls = tuple(parse_resolver(s) for s in control_resolvers or DEFAULT_CONTROL_RESOLVERS)
    except ResolverSpecError as exc:
        _die(EXIT_USAGE, str(exc))
    if local is None:
        try:
            local = system_resolver()
        except (ResolverSpecError, OSError) as exc:
            _die(EXIT_FAILED, f"no system resolver ({exc}); pass --resolver HOST")
    try:
        verify = make_verify_context(ca_bundle)
    except ValueError as exc:
        _die(EXIT_USAGE, str(exc))
    return ProbeOptions(
        resolver=local,
        control_resolvers=controls,
        verify=verify,
        timeout=timeout,
        concurrency=concurrency,
    )


def _options_dict(options: ProbeOptions, fmt: str) -> dict[str, Any]:
    return {"timeout": options.timeout, "concurrency": options.concurrency, "format": fmt}


def _jsonl_writer(probe_info: ProbeInfo) -> Callable[[TargetResult], None]:
    import json

    from netprobe.report import result_to_dict

    def emit(result: TargetResult) -> None:
        line = json.dumps(result_to_dict(result, probe_info), ensure_ascii=False)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return emit


def _print_results(
    run: RunResult,
    probe_info: ProbeInfo,
    fmt: str,
    options: dict[str, Any],
    output: str | None,
    quiet: bool,
) -> None:
    import json

    from rich.console import Console

    from netprobe.render import results_table, summary_line
    from netprobe.report import build_report, write_json

    report = build_report(run, probe_info, options)
    if output:
        try:
            write_json(output, report)
        except OSError as exc:
            _die(EXIT_FAILED, f"cannot write {output}: {exc.strerror or exc}")
    if fmt == "json":
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "table":
        stdout = Console(highlight=False, soft_wrap=False)
        stdout.print(results_table(run.results))
        stdout.print(summary_line(run))
    if fmt != "table" and not quiet:
        Console(stderr=True, highlight=False).print(summary_line(run))


def _exit_code(run: RunResult, fail_on: str | None) -> int:
    found = {"blocked"} if fail_on == "blocked" else {"blocked", "anomaly"}
    if fail_on and any(r.analysis.verdict in found for r in run.results):
        return EXIT_FOUND
    return EXIT_OK
