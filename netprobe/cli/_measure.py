"""`netprobe run`, `watch` and `lists`: measuring, once or again and again."""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import click

from netprobe._defaults import CONCURRENCY, STEP_TIMEOUT
from netprobe.cli._app import (
    EXIT_FAILED,
    EXIT_FOUND,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    checked,
    configure_logging,
    die,
    main,
    print_json,
    results_format_option,
    routable_option,
    sanitized,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from rich.console import Console

    from netprobe.measure.asn import ASNResolver
    from netprobe.measure.identity import ProbeIdentity
    from netprobe.measure.runner import ProbeOptions
    from netprobe.measure.session import Plan
    from netprobe.measure.watch import Transition
    from netprobe.model.addresses import IPNetwork
    from netprobe.model.results import RunResult, TargetResult
    from netprobe.model.targets import Service, Target
    from netprobe.output.report import ProbeInfo, RenderedResults


DEFAULT_CONTROL_RESOLVERS = (
    "https://cloudflare-dns.com/dns-query",
    "https://dns.google/dns-query",
)


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
        routable_option,
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
@results_format_option
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

    from netprobe.analysis import judge_services
    from netprobe.measure.session import measure, probe_info
    from netprobe.model.results import RunResult
    from netprobe.output.report import RenderedResults

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
        die(EXIT_FAILED, f"the run could not be carried out: {exc}")

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
    callback=lambda _ctx, _param, text: checked(_parse_duration, text, "--every"),
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
    deadline = checked(_parse_until, until, "--until") if until else None

    import asyncio
    import gc

    from rich.console import Console

    from netprobe.measure.watch import watch
    from netprobe.output.table import summary_line

    stderr = Console(stderr=True, highlight=False)

    def on_transition(change: Transition) -> None:
        click.echo(sanitized(str(change)))

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
        die(EXIT_FAILED, f"cannot go on watching: {exc}")
    click.echo(f"netprobe: {done} runs logged in {output}", err=True)


def _parse_duration(text: str) -> float:
    from netprobe.measure.watch import parse_duration

    return parse_duration(text)


def _parse_until(text: str) -> datetime:
    from netprobe.measure.watch import parse_until

    return parse_until(text, _now())


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
    from netprobe.measure.session import Plan
    from netprobe.measure.vantage import default_route_tunnel, vantage_notes

    configure_logging(quiet, verbose)
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
    # "-l country" is the test list of the network measured: known once it is found.
    country_list = "country" in list_names
    names = tuple(n for n in list_names if n != "country")
    targets: list[Target] = []
    services: list[Service] = []
    if not country_list or urls or names or files:
        targets, services = _collect_targets(urls, names, files)
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
        country_list=country_list,
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
    import netprobe.cli._notice as _notice

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
        die(EXIT_FAILED, _notice.STOPPED_MESSAGE.removeprefix("netprobe: "))


def _checked_ip_services(urls: tuple[str, ...]) -> tuple[str, ...]:
    from netprobe.measure.identity import validate_ip_service

    try:
        return tuple(validate_ip_service(url) for url in urls)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ip-service") from None


def _checked_proxy(url: str | None) -> str | None:
    from urllib.parse import urlsplit

    from netprobe.measure.session import without_credentials

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
    from netprobe.errors import ASNError
    from netprobe.measure.asn import DEFAULT_DB, ASNResolver

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
        die(EXIT_USAGE, str(exc))
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

        print_json(self._rendered.get(result, self._asn), compact=True)
        sys.stdout.flush()


class _ProgressBar:
    """The progress bar on stderr: entered around the run, advanced per result."""

    def __init__(self, console: Console, total: int) -> None:
        from netprobe.output.table import progress_bar

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


def _collect_targets(
    urls: tuple[str, ...], list_names: tuple[str, ...], files: tuple[str, ...]
) -> tuple[list[Target], list[Service]]:
    from netprobe.errors import TargetError
    from netprobe.measure.targets import select

    try:
        return select(urls, list_names, files)
    except TargetError as exc:
        die(EXIT_USAGE, str(exc))


def _probe_options(
    resolver: str | None,
    control_resolvers: tuple[str, ...],
    ca_bundle: str | None,
    timeout: float,
    concurrency: int,
) -> tuple[ProbeOptions, list[str]]:
    """The probe's options, and what the report must note about the resolver chosen."""
    from netprobe.measure.runner import ProbeOptions
    from netprobe.measure.steps.dns import ResolverSpecError, parse_resolver, system_resolver
    from netprobe.measure.vantage import resolve_system_resolver

    try:
        local = parse_resolver(resolver) if resolver else None
        controls = tuple(parse_resolver(s) for s in control_resolvers or DEFAULT_CONTROL_RESOLVERS)
    except ResolverSpecError as exc:
        die(EXIT_USAGE, str(exc))
    notes = []
    if local is None:
        try:
            system = system_resolver()
            # A local stub hides rcodes and injected replies: measure its upstream if known.
            chosen, note = resolve_system_resolver(system.address)
            local = system if chosen == system.address else parse_resolver(chosen)
        except (ResolverSpecError, OSError) as exc:
            die(EXIT_FAILED, f"no system resolver ({exc}); pass --resolver HOST")
        notes += [note] if note else []
    options = ProbeOptions(
        resolver=local,
        control_resolvers=controls,
        verify=verify_context(ca_bundle),
        timeout=timeout,
        concurrency=concurrency,
    )
    return options, notes


def verify_context(ca_bundle: str | None) -> ssl.SSLContext:
    from netprobe.measure.steps.tls import make_verify_context

    try:
        return make_verify_context(ca_bundle)
    except ValueError as exc:
        die(EXIT_USAGE, str(exc))


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

    from netprobe.measure.session import report_options
    from netprobe.output.report import build_report, report_text, write_json
    from netprobe.output.table import (
        probe_header,
        results_table,
        summary_line,
        summary_with_probe,
    )

    report = build_report(run, info, report_options(plan, fmt), rendered)
    text = report_text(report, rendered, run) if rendered is not None else None
    if output:
        try:
            write_json(output, text or report)
        except OSError as exc:
            die(EXIT_FAILED, f"cannot write {output}: {exc.strerror or exc}")
    if fmt == "json":
        print_json(report, text=text)
    elif fmt == "table":
        stdout = Console(highlight=False, soft_wrap=False)
        # Where it was measured from, once: above the table, or with -q (no header) in the
        # summary line, so that a pasted table still names its network and resolvers.
        if not quiet:
            stdout.print(probe_header(info))
        stdout.print(results_table(run.results, run.services))
        stdout.print(summary_with_probe(run, info) if quiet else summary_line(run))
    if fmt != "table" and not quiet:
        Console(stderr=True, highlight=False).print(summary_line(run))


def _exit_code(run: RunResult, fail_on: str | None) -> int:
    found = {"blocked"} if fail_on == "blocked" else {"blocked", "anomaly"}
    verdicts = [r.analysis.verdict for r in run.results] + [
        s.analysis.verdict for s in run.services
    ]
    if fail_on and found.intersection(verdicts):
        return EXIT_FOUND
    return EXIT_OK
