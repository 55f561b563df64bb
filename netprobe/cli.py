"""Command line: parse options, call the library, print. Nothing else lives here.

Heavy modules (httpx, dnspython, rich, the runner) are imported inside the
commands so that ``netprobe --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from netprobe import __version__
from netprobe._defaults import CONCURRENCY, STEP_TIMEOUT

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from rich.console import Console

    from netprobe.asn import ASNResolver, ProbeIdentity
    from netprobe.history import Loaded
    from netprobe.model.addresses import IPNetwork
    from netprobe.model.networks import ASInfo
    from netprobe.model.results import RunResult, TargetResult
    from netprobe.model.targets import Service, Target
    from netprobe.report import ProbeInfo, RenderedResults
    from netprobe.runner import ProbeOptions
    from netprobe.session import Plan
    from netprobe.watch import Transition

__all__ = ["main"]

_T = TypeVar("_T")

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
    from netprobe.targets import builtin_lists, builtin_services

    services = builtin_services()
    for name, targets in builtin_lists().items():
        categories = sorted({t.category for t in targets if t.category})
        apps = [s.name for s in services if s.list_name == name]
        line = f"{name:<12} {len(targets):>4} targets  {', '.join(categories)}"
        click.echo(line + (f"  (services: {', '.join(apps)})" if apps else ""))


@main.group("asn")
def asn_group() -> None:
    """ASN data: build the local IPASN file, look addresses up."""


@asn_group.command("update")
@click.option(
    "--dir",
    "directory",
    metavar="DIR",
    help="Where to write ipasn.dat and asnames.json (default: the user cache).",
)
@click.option(
    "--rib-url", metavar="URL", help="An MRT RIB dump to convert (default: RouteViews' latest)."
)
@click.option("--names-url", metavar="URL", help="The AS names page (default: CIDR report's).")
@click.option("--ca-bundle", metavar="PATH", help="CA certificates for the downloads.")
def asn_update_command(
    directory: str | None, rib_url: str | None, names_url: str | None, ca_bundle: str | None
) -> None:
    """Download the latest BGP table dump and build the IPASN data file from it."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from netprobe.asn import update_database
    from netprobe.errors import ASNUpdateError

    verify = _verify_context(ca_bundle)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console,
        redirect_stdout=False, redirect_stderr=False, disable=not console.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def stage(text: str) -> None:
            bar.update(task, description=text, completed=0, total=None)
            if not console.is_terminal:
                click.echo(f"netprobe: {text}", err=True)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = update_database(
                directory, rib_url=rib_url, names_url=names_url, progress=progress, stage=stage,
                verify=verify,
            )  # fmt: skip
        except ASNUpdateError as exc:
            _die(EXIT_FAILED, str(exc))
    if result.note:
        click.echo(f"netprobe: warning: {result.note}", err=True)
    click.echo(
        f"{result.db_path}: {result.prefixes_v4} IPv4 and {result.prefixes_v6} IPv6 prefixes, "
        f"{result.as_names} AS names, from {result.rib_url}"
    )


def _checked_networks(texts: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    from netprobe.model.addresses import parse_networks

    try:
        return parse_networks(texts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--routable") from None


_routable_option = click.option(
    "--routable", multiple=True, metavar="CIDR",
    callback=lambda _ctx, _param, texts: _checked_networks(texts),
    help="Treat this special-purpose address block (IANA's registry) as routable: only for "
    "a test network that emulates the internet there; repeatable.",
)  # fmt: skip


@asn_group.command("lookup")
@click.argument("addresses", nargs=-1, required=True, metavar="IP...")
@click.option("--asn-db", metavar="PATH", help="IPASN data file (default: the user cache).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    help="Default: table on a terminal, json otherwise.",
)
@_routable_option
def asn_lookup_command(
    addresses: tuple[str, ...],
    asn_db: str | None,
    output_format: str | None,
    routable: tuple[IPNetwork, ...],
) -> None:
    """Show the ASN, prefix, AS name and country of addresses."""
    import asyncio
    import ipaddress
    from dataclasses import asdict

    from netprobe.asn import DEFAULT_DB, ASNResolver
    from netprobe.errors import ASNError

    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            _die(EXIT_USAGE, f"{address!r} is not an IP address")
    try:
        resolver = ASNResolver(asn_db or DEFAULT_DB, routable=routable)
    except ASNError as exc:
        _die(EXIT_USAGE, str(exc))
    if resolver.note:
        click.echo(f"netprobe: {resolver.note}", err=True)

    async def look_up() -> list[ASInfo]:
        return list(await asyncio.gather(*(resolver.lookup_async(a) for a in addresses)))

    infos = asyncio.run(look_up())
    if (output_format or ("table" if sys.stdout.isatty() else "json")) == "json":
        rows = [{"address": a, **asdict(i)} for a, i in zip(addresses, infos, strict=True)]
        _print_json(rows)
        return
    from rich.console import Console

    from netprobe.render import asn_table

    Console().print(asn_table(addresses, infos))


def _run_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options `run` and `watch` share: what to probe and how."""
    options = [
        click.argument("urls", nargs=-1, metavar="[URL]..."),
        click.option("-l", "--list", "list_names", multiple=True, metavar="NAME",
                     help="A built-in list (see `netprobe lists`); repeatable."),
        click.option("-f", "--file", "files", multiple=True, metavar="PATH",
                     help="A target file: test-lists CSV, one target per line, or a .toml "
                     "services file; repeatable."),
        click.option("--resolver", metavar="HOST[:PORT]",
                     help="Resolver under test. Default: the system's, from /etc/resolv.conf."),
        click.option("--control-resolver", "control_resolvers", multiple=True, metavar="SPEC",
                     help="Trusted resolver: IP[:PORT], udp://, tcp://, tls://IP[:PORT] or "
                     "https://HOST/dns-query[#BOOTSTRAP-IP]; repeatable."),
        click.option("--control-proxy", metavar="URL",
                     callback=lambda _ctx, _param, url: _checked_proxy(url),
                     help="A proxy on the uncensored side (http://, socks5://: Tor, a VPN exit, "
                     "a server abroad): each target is also fetched through it, for a "
                     "conclusive control view."),
        click.option("--ca-bundle", metavar="PATH",
                     help="CA certificates to verify sites with. Default: $SSL_CERT_FILE or "
                     "certifi."),
        click.option("--timeout", type=click.FloatRange(0.1, 300), default=STEP_TIMEOUT,
                     show_default=True, help="Seconds allowed for each network step."),
        click.option("--deadline", type=click.FloatRange(0.1, 3600), metavar="SECONDS",
                     help="Most seconds one target may take, redirects and repeats included "
                     "(default: 6 step timeouts); past it, it ends with what it has."),
        click.option("--concurrency", type=click.IntRange(1, 4096), default=CONCURRENCY,
                     show_default=True, help="Targets measured at once."),
        click.option("--asn-db", metavar="PATH",
                     help="IPASN data file for ASN lookups (default: the one `netprobe asn "
                     "update` writes; without one, Team Cymru's DNS service is asked)."),
        click.option("--ip-service", "ip_services", multiple=True, metavar="URL",
                     callback=lambda _ctx, _param, urls: _checked_ip_services(urls),
                     help="Plain-text IP echo URL that replaces the default ways of finding "
                     "this network's public address; repeatable."),
        click.option("--asn", "asn_override", type=click.IntRange(0, 4294967295),
                     help="This network's ASN: skips finding the public address (offline use)."),
        click.option("--cc", "cc_override", metavar="XX",
                     callback=lambda _ctx, _param, cc: _checked_country(cc),
                     help="This network's country code (ISO 3166 alpha-2)."),
        _routable_option,
        click.option("--offline-identity", is_flag=True,
                     help="Do not look for this network's public address: no echo service "
                     "is contacted (with --asn/--cc the report still names the network)."),
        click.option("-y", "--yes", "accept_risks", is_flag=True,
                     help="Accept the risks notice without being asked (for scripts; also "
                     "NETPROBE_ACCEPT_RISKS=1)."),
        click.option("--include-ip", is_flag=True,
                     help="Write this machine's public IP address into the report (off by "
                     "default: privacy)."),
        click.option("-q", "--quiet", is_flag=True,
                     help="No progress bar, only warnings and errors."),
        click.option("-v", "--verbose", count=True, help="Log what is done (twice: debug)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@main.command("run")
@_run_options
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
    "--fail-on",
    type=click.Choice(["blocked", "anomaly"]),
    help="Exit 3 when a result is blocked (or, with anomaly, blocked or an anomaly).",
)
def run_command(
    output_format: str | None, output: str | None, fail_on: str | None, **settings: Any
) -> None:
    """Probe URLs, built-in lists or target files (all built-in lists by default).

    \b
    Exit status: 0 the run completed, whatever it found; 1 it could not be carried
    out; 2 usage error (bad option, invalid target or target file); 3 with
    --fail-on, something was found; 130 interrupted (partial results are still
    printed and written).
    """
    plan = _plan(**settings)
    fmt = output_format or ("table" if sys.stdout.isatty() else "json")

    import asyncio

    from rich.console import Console

    from netprobe.model.results import RunResult
    from netprobe.report import RenderedResults
    from netprobe.runner import judge_services
    from netprobe.session import measure, probe_info

    run = RunResult(started_at=_now())
    identity: list[ProbeIdentity] = []
    # Results are made into JSON as they come in, so that the run ends without that wait.
    rendered = RenderedResults() if output or fmt != "table" else None
    emit = _JsonLines(rendered) if rendered is not None and fmt == "jsonl" else None
    stderr = Console(stderr=True)
    quiet = settings["quiet"]
    progress = _ProgressBar(stderr, len(plan.targets)) if not quiet and stderr.is_terminal else None

    def on_result(result: TargetResult) -> None:
        if progress is not None:
            progress.advance(result)
        if rendered is not None:
            rendered.add(result)
        if emit is not None:
            emit(result)

    async def measure_once() -> None:
        found = await measure(
            plan, run, on_result=on_result, on_identity=emit.ready if emit else None
        )
        identity.append(found)

    try:
        with progress or contextlib.nullcontext():
            asyncio.run(measure_once())
    except KeyboardInterrupt:
        run.interrupted = True
        run.finished_at = _now()
        run.services = judge_services(plan.services, run.results)
    except OSError as exc:
        _die(EXIT_FAILED, f"the run could not be carried out: {exc}")

    info = probe_info(plan, identity[0] if identity else None)
    if emit is not None:
        emit.ready_asn(info.asn)  # an interrupted run still prints what it held back
    _print_results(run, info, fmt, plan, output, quiet, rendered)
    if run.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(_exit_code(run, fail_on))


@main.command("watch")
@_run_options
@click.option(
    "--every",
    required=True,
    metavar="DURATION",
    callback=lambda _ctx, _param, text: _checked(_parse_duration, text, "--every"),
    help="Time from the start of one run to the next: 30s, 5m, 1h.",
)
@click.option(
    "--until",
    metavar="TIME",
    help="Stop once this time has passed: 14:00 (UTC, the next one) or 2026-11-27T14:00Z.",
)
@click.option("--count", type=click.IntRange(1), help="Stop after this many runs.")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="LOG",
    help="JSON Lines log the results of every run are appended to.",
)
def watch_command(
    every: float, until: str | None, count: int | None, output: str, **settings: Any
) -> None:
    """Run again and again, log every result, print each change as it happens.

    Each completed run is appended to LOG and synced to disk: a crash or Ctrl-C loses
    at most the run in progress. Changes go to stdout ("14:02:10 UTC URL blocked
    (tls.reset) → accessible"); a line per run goes to stderr.
    """
    plan = _plan(**settings)
    deadline = _checked(_parse_until, until, "--until") if until else None

    import asyncio
    import gc

    from rich.console import Console

    from netprobe.render import summary_line
    from netprobe.watch import watch

    stderr = Console(stderr=True, highlight=False)

    def on_transition(change: Transition) -> None:
        click.echo(_sanitized(str(change)))

    def on_run(run: RunResult) -> None:
        if not settings["quiet"]:
            stderr.print(summary_line(run))
        gc.collect()  # between runs, nothing waits on the loop: the oldest generation too

    try:
        done = asyncio.run(
            watch(plan, output, every=every, until=deadline, count=count,
                  on_transition=on_transition, on_run=on_run)
        )  # fmt: skip
    except KeyboardInterrupt:
        click.echo(f"netprobe: stopped; completed runs are in {output}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:
        _die(EXIT_FAILED, f"cannot go on watching: {exc}")
    click.echo(f"netprobe: {done} runs logged in {output}", err=True)


@main.command("summarize")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    help="Default: table on a terminal, json otherwise.",
)
@click.option("--html", metavar="FILE", help="Also write a self-contained HTML timeline page.")
def summarize_command(files: tuple[str, ...], output_format: str | None, html: str | None) -> None:
    """The story told by reports and watch logs: per target and network, when blocks
    began and ended; per network, the share of targets blocked, by blocking type."""

    from netprobe._files import write_atomically
    from netprobe.history import summarize, summary_tables, summary_to_json, timeline_html

    summary = summarize(_load_history(files).observations)
    if html:
        page = timeline_html(summary, title=f"netprobe: {len(files)} files summarized")
        try:
            write_atomically(html, page.encode("utf-8"))
        except OSError as exc:
            _die(EXIT_FAILED, f"cannot write {html}: {exc.strerror or exc}")
    if (output_format or ("table" if sys.stdout.isatty() else "json")) == "json":
        _print_json(summary_to_json(summary))
        return
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    for table in summary_tables(summary):
        console.print(table)


@main.command("compare")
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    help="Default: table on a terminal, json otherwise.",
)
def compare_command(first: str, second: str, output_format: str | None) -> None:
    """Two reports (or watch logs) side by side: where the verdicts differ, per target
    ("blocked on AS9198 (tls.reset), accessible on AS35168")."""

    from netprobe.history import compare, comparison_table, comparison_to_json

    comparison = compare(
        _load_history((first,)).observations, _load_history((second,)).observations
    )
    if (output_format or ("table" if sys.stdout.isatty() else "json")) == "json":
        _print_json(comparison_to_json(comparison))
        return
    from rich.console import Console

    Console(highlight=False, soft_wrap=False).print(comparison_table(comparison))


@main.command("analyse")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "jsonl"]),
    help="Output on stdout. Default: table on a terminal, json otherwise.",
)
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
    from netprobe.errors import ReplayError
    from netprobe.replay import change_text, load_runs, records, report

    try:
        runs = load_runs(files)
    except ReplayError as exc:
        _die(EXIT_USAGE, _sanitized(str(exc)))
    fmt = output_format or ("table" if sys.stdout.isatty() else "json")
    reports = [report(r) for r in runs] if output or fmt == "json" else []
    document: Any = reports[0] if len(reports) == 1 else reports
    if output:
        from netprobe.report import write_json

        try:
            write_json(output, document)
        except OSError as exc:
            _die(EXIT_FAILED, f"cannot write {output}: {exc.strerror or exc}")
    if fmt == "json":
        _print_json(document)
    elif fmt == "jsonl":
        for replayed in runs:
            for line in records(replayed):
                _print_json(line, compact=True)
    else:
        from rich.console import Console
        from rich.text import Text

        from netprobe.render import results_table, summary_line

        stdout = Console(highlight=False, soft_wrap=False)
        for replayed in runs:
            run_id = f" (run {replayed.run_id})" if replayed.run_id else ""
            stdout.print(Text(f"{replayed.source}{run_id}", style="bold"))
            stdout.print(results_table(replayed.run.results, replayed.run.services))
            for judged in replayed.results:
                if judged.changed:
                    said = f"{judged.result.target.url}: {change_text(judged)}"
                    stdout.print(Text(_sanitized(said), style="yellow"))
            stdout.print(summary_line(replayed.run))
    if not quiet:
        every = [j for r in runs for j in r.results]
        changed_count = sum(j.changed for j in every)
        click.echo(f"netprobe: {changed_count} of {len(every)} verdicts changed", err=True)


def _load_history(files: Sequence[str]) -> Loaded:
    """Results from reports and watch logs; bad lines are warnings, no result at all is a
    usage error."""
    from netprobe.history import load_records

    loaded = load_records(files)
    for warning in loaded.warnings:
        click.echo(f"netprobe: warning: {warning}", err=True)
    if loaded.empty:
        _die(EXIT_USAGE, f"no results could be read from {', '.join(files)}")
    return loaded


def _checked(parse: Callable[[str], _T], text: str, option: str) -> _T:
    try:
        return parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _parse_duration(text: str) -> float:
    from netprobe.watch import parse_duration

    return parse_duration(text)


def _parse_until(text: str) -> datetime:
    from netprobe.watch import parse_until

    return parse_until(text, _now())


def _sanitized(text: str) -> str:
    from netprobe.render import sanitize

    return sanitize(text, 1000)


def _plan(
    urls: tuple[str, ...],
    list_names: tuple[str, ...],
    files: tuple[str, ...],
    resolver: str | None,
    control_resolvers: tuple[str, ...],
    control_proxy: str | None,
    ca_bundle: str | None,
    timeout: float,
    deadline: float | None,
    concurrency: int,
    asn_db: str | None,
    ip_services: tuple[str, ...],
    asn_override: int | None,
    cc_override: str | None,
    include_ip: bool,
    offline_identity: bool,
    accept_risks: bool,
    routable: tuple[IPNetwork, ...],
    quiet: bool,
    verbose: int,
) -> Plan:
    """Everything a run needs, from the shared options; usage errors end here."""
    from netprobe.measure.vantage import default_route_tunnel, vantage_notes
    from netprobe.session import Plan

    _configure_logging(quiet, verbose)
    _accept_risks(
        accept_risks,
        control_resolvers=control_resolvers or DEFAULT_CONTROL_RESOLVERS,
        control_proxy=control_proxy,
        ip_services=ip_services,
        identity_offline=offline_identity or asn_override is not None,
        include_ip=include_ip,
        cymru=not asn_db,
    )
    _steady_garbage_collector()
    targets, services = _collect_targets(urls, list_names, files)
    options, notes = _probe_options(
        resolver, control_resolvers, ca_bundle, timeout, _targets_at_once(concurrency)
    )
    options = replace(options, routable=routable, deadline=deadline)
    notes += vantage_notes(tunnel=default_route_tunnel())
    networks = _asn_resolver(asn_db, options)
    return Plan(
        targets=tuple(targets),
        services=tuple(services),
        options=replace(options, networks=networks, control_proxy=control_proxy),
        networks=networks,
        ip_services=ip_services,
        asn_override=asn_override,
        cc_override=cc_override,
        include_ip=include_ip,
        offline_identity=offline_identity,
        notes=tuple(notes),
    )


def _accept_risks(
    accepted: bool,
    *,
    control_resolvers: Sequence[str],
    control_proxy: str | None,
    ip_services: tuple[str, ...],
    identity_offline: bool,
    include_ip: bool,
    cymru: bool,
) -> None:
    """On the first interactive run, say what can be seen and what leaves the machine, and
    go on only if the volunteer agrees (remembered; never asked of scripts)."""
    from netprobe import _notice

    text = _notice.notice_text(
        control_resolvers=control_resolvers, control_proxy=control_proxy,
        ip_services=ip_services or None, identity_offline=identity_offline,
        include_ip=include_ip, cymru=cymru,
    )  # fmt: skip
    agreed = _notice.gate(
        text=text,
        accepted_flag=accepted,
        ask=lambda question: click.confirm(question, default=False, err=True),
        echo=lambda line: click.echo(line, err=True),
    )
    if not agreed:
        _die(EXIT_FAILED, _notice.STOPPED_MESSAGE.removeprefix("netprobe: "))


def _checked_ip_services(urls: tuple[str, ...]) -> tuple[str, ...]:
    from netprobe.asn import validate_ip_service

    try:
        return tuple(validate_ip_service(url) for url in urls)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ip-service") from None


def _checked_proxy(url: str | None) -> str | None:
    from urllib.parse import urlsplit

    from netprobe.session import without_credentials

    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a bad port)
    except ValueError as exc:
        raise click.BadParameter(f"{url!r}: {exc}", param_hint="--control-proxy") from None
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise click.BadParameter(
            f"{without_credentials(url)!r} is not an http://, https:// or socks5:// proxy URL",
            param_hint="--control-proxy",
        )
    return url


def _checked_country(cc: str | None) -> str | None:
    if cc is None:
        return None
    if len(cc) != 2 or not cc.isascii() or not cc.isalpha():
        raise click.BadParameter(f"{cc!r} is not a two-letter country code", param_hint="--cc")
    return cc.upper()


def _asn_resolver(asn_db: str | None, options: ProbeOptions) -> ASNResolver:
    from netprobe.asn import DEFAULT_DB, ASNResolver
    from netprobe.errors import ASNError

    try:
        resolver = ASNResolver(
            asn_db if asn_db else DEFAULT_DB,
            # The AS of an address decides whether a DNS answer is consistent: never ask
            # the resolver being judged.
            cymru_resolver=options.control_resolvers[0],
            timeout=min(options.timeout, 4.0),
            routable=options.routable,
        )
    except ASNError as exc:
        _die(EXIT_USAGE, str(exc))
    if resolver.note:
        logging.getLogger("netprobe").warning("%s", resolver.note)
    return resolver


class _JsonLines:
    """Prints each result as one JSON line, once this network's ASN (in every line) is known;
    results that finish before that are held back until then."""

    def __init__(self, rendered: RenderedResults) -> None:
        self._rendered = rendered
        self._held: list[TargetResult] = []
        self._asn: int | None = None
        self._known = False

    def __call__(self, result: TargetResult) -> None:
        if self._known:
            self._write(result)
        else:
            self._held.append(result)

    def ready(self, identity: ProbeIdentity) -> None:
        self.ready_asn(identity.asn)

    def ready_asn(self, asn: int | None) -> None:
        if self._known:
            return
        self._asn, self._known = asn, True
        for result in self._held:
            self._write(result)
        self._held.clear()

    def _write(self, result: TargetResult) -> None:

        _print_json(self._rendered.get(result, self._asn), compact=True)
        sys.stdout.flush()


class _ProgressBar:
    """The progress bar on stderr: entered around the run, advanced per result."""

    def __init__(self, console: Console, total: int) -> None:
        from netprobe.render import progress_bar

        self._bar = progress_bar(console)
        self._task = self._bar.add_task("", total=total)

    def __enter__(self) -> _ProgressBar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def advance(self, result: TargetResult) -> None:
        self._bar.update(self._task, advance=1, description=result.target.domain)


def _now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _steady_garbage_collector() -> None:
    """Keep the collector's pauses short while hundreds of targets are measured at once.

    A full collection walks every object alive: the modules loaded, then every result
    measured so far; with a full list each one stalled the event loop for up to 120 ms,
    long enough to make other targets' steps late. The modules are moved out of the
    collector's sight (they live as long as the process), and the young generations are
    collected in bigger, rarer batches; the oldest is left for the end of the process
    (and, for `watch`, for the pause between runs).
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 100_000)


_SOCKETS_PER_TARGET = 6
"""At most, for one target at a time: four DNS queries, connects to two addresses."""


def _targets_at_once(wanted: int) -> int:
    """``wanted``, or fewer if this system lets the process open too few sockets for it.

    Hundreds of targets at once need more sockets than the usual soft limit (1024 on
    Linux, 256 on macOS): it is raised as far as the hard limit allows."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # macOS may refuse more than OPEN_MAX: keep what there is
    if soft == resource.RLIM_INFINITY:
        return wanted
    room = max(16, (soft - 64) // _SOCKETS_PER_TARGET)
    if room < wanted:
        logging.getLogger("netprobe").info(
            "measuring %d targets at a time: the open-file limit is %d", room, soft
        )
    return min(wanted, room)


def _configure_logging(quiet: bool, verbose: int) -> None:
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
        from netprobe.render import sanitize

        return sanitize(super().format(record), limit=4000)


def _collect_targets(
    urls: tuple[str, ...], list_names: tuple[str, ...], files: tuple[str, ...]
) -> tuple[list[Target], list[Service]]:
    from netprobe.errors import TargetError
    from netprobe.targets import select

    try:
        return select(urls, list_names, files)
    except TargetError as exc:
        _die(EXIT_USAGE, str(exc))


def _probe_options(
    resolver: str | None,
    control_resolvers: tuple[str, ...],
    ca_bundle: str | None,
    timeout: float,
    concurrency: int,
) -> tuple[ProbeOptions, list[str]]:
    """The probe's options, and what the report must note about the resolver chosen."""
    from netprobe.measure.vantage import resolve_system_resolver
    from netprobe.probe.dns import ResolverSpecError, parse_resolver, system_resolver
    from netprobe.runner import ProbeOptions

    try:
        local = parse_resolver(resolver) if resolver else None
        controls = tuple(parse_resolver(s) for s in control_resolvers or DEFAULT_CONTROL_RESOLVERS)
    except ResolverSpecError as exc:
        _die(EXIT_USAGE, str(exc))
    notes = []
    if local is None:
        try:
            system = system_resolver()
            # A local stub hides rcodes and injected replies: measure its upstream if known.
            chosen, note = resolve_system_resolver(system.address)
            local = system if chosen == system.address else parse_resolver(chosen)
        except (ResolverSpecError, OSError) as exc:
            _die(EXIT_FAILED, f"no system resolver ({exc}); pass --resolver HOST")
        notes += [note] if note else []
    options = ProbeOptions(
        resolver=local,
        control_resolvers=controls,
        verify=_verify_context(ca_bundle),
        timeout=timeout,
        concurrency=concurrency,
    )
    return options, notes


def _verify_context(ca_bundle: str | None) -> ssl.SSLContext:
    from netprobe.probe.tls import make_verify_context

    try:
        return make_verify_context(ca_bundle)
    except ValueError as exc:
        _die(EXIT_USAGE, str(exc))


def _print_results(
    run: RunResult,
    info: ProbeInfo,
    fmt: str,
    plan: Plan,
    output: str | None,
    quiet: bool,
    rendered: RenderedResults | None,
) -> None:

    from rich.console import Console

    from netprobe.render import results_table, summary_line
    from netprobe.report import build_report, report_text, write_json
    from netprobe.session import report_options

    report = build_report(run, info, report_options(plan, fmt), rendered)
    text = report_text(report, rendered, run) if rendered is not None else None
    if output:
        try:
            write_json(output, text or report)
        except OSError as exc:
            _die(EXIT_FAILED, f"cannot write {output}: {exc.strerror or exc}")
    if fmt == "json":
        _print_json(report, text=text)
    elif fmt == "table":
        stdout = Console(highlight=False, soft_wrap=False)
        stdout.print(results_table(run.results, run.services))
        stdout.print(summary_line(run))
    if fmt != "table" and not quiet:
        Console(stderr=True, highlight=False).print(summary_line(run))


def _print_json(document: Any, *, text: str | None = None, compact: bool = False) -> None:
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


def _exit_code(run: RunResult, fail_on: str | None) -> int:
    found = {"blocked"} if fail_on == "blocked" else {"blocked", "anomaly"}
    verdicts = [r.analysis.verdict for r in run.results] + [
        s.analysis.verdict for s in run.services
    ]
    if fail_on and found.intersection(verdicts):
        return EXIT_FOUND
    return EXIT_OK
