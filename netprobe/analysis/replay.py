"""Saved results judged again: reports, watch logs and result streams back into
observations, through today's analysis and fingerprints (``netprobe analyse``).

Observations are facts: a report keeps every step's record, what of each response the
blockpage fingerprints read, and the run-wide facts each result was judged with (its
``context``). Rebuilt here, they go through :func:`netprobe.analysis.analyse` as if
just measured, so a report re-judged with the rules that made it says the same, and
one re-judged with better rules says what changed::

    runs = load_runs(["kz-2026-11-29.json"])
    for run in runs:
        for judged in run.results:
            if judged.changed:
                print(judged.result.target.url, judged.previous.verdict, "→",
                      judged.result.analysis.verdict)

Bad input raises :class:`ReplayError` naming ``FILE:LINE`` (or the report's result)
and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final, Literal, Union, get_args, get_origin, get_type_hints

from netprobe.analysis import analyse, shared_untrusted_issuers
from netprobe.analysis._service import judge_services
from netprobe.errors import ReplayError, TargetError
from netprobe.model.addresses import parse_networks
from netprobe.model.networks import ASInfo
from netprobe.model.observations import (
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import (
    BLOCKINGS,
    VERDICTS,
    Analysis,
    Latency,
    RunContext,
    RunResult,
    TargetResult,
    asn_lookup,
)
from netprobe.model.targets import Part, Service, Target, parse_target
from netprobe.output._json_records import json_records, json_type, shown
from netprobe.output.report import (
    SCHEMA_ID,
    WATCH_SCHEMA,
    ProbeInfo,
    build_report,
    bytes_from_json,
    result_to_dict,
    watch_record,
)

__all__ = [
    "Judged",
    "ReplayError",
    "ReplayedRun",
    "change_text",
    "iter_runs",
    "load_runs",
    "records",
    "report",
]

_OLDER: Final = {
    "netprobe.report/1": "a version 1 report keeps no body excerpts and no run context: "
    "it cannot be judged again (its verdicts still read with summarize and compare)",
    "netprobe.watch/1": "a version 1 watch log keeps no body excerpts and no run context: "
    "it cannot be judged again (its verdicts still read with summarize and compare)",
}


@dataclass(frozen=True, slots=True)
class Judged:
    result: TargetResult
    """The result rebuilt, with today's analysis."""
    previous: Analysis
    """What the file said."""

    @property
    def changed(self) -> bool:
        now, before = self.result.analysis, self.previous
        return (now.verdict, now.blocking, now.evidence) != (
            before.verdict,
            before.blocking,
            before.evidence,
        )


@dataclass(slots=True)
class ReplayedRun:
    """One run as a file recorded it: a report, one run of a watch log, or a stream."""

    source: str
    """Where it was read: ``FILE``, or ``FILE:LINE`` of a watch log's first record."""
    kind: Literal["report", "watch", "stream"]
    run: RunResult
    probe: ProbeInfo
    options: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    """A watch log's run id."""
    services: list[Service] = field(default_factory=list)
    results: list[Judged] = field(default_factory=list)
    _saved: list[tuple[str, Any]] = field(default_factory=list)
    """The results as read, with where, until the run is judged."""


def load_runs(
    paths: Iterable[str | os.PathLike[str]], skip: Callable[[str], None] | None = None
) -> list[ReplayedRun]:
    """Every run in these files, each result judged again. Raises :class:`ReplayError` at
    the first bad file, line or result; with ``skip``, hands it its message instead and
    goes on without it (a file with no result at all still raises)."""
    return list(iter_runs(paths, skip))


def iter_runs(
    paths: Iterable[str | os.PathLike[str]], skip: Callable[[str], None] | None = None
) -> Iterator[ReplayedRun]:
    """As :func:`load_runs`, a run at a time: each run is judged and handed on as soon as
    its file has moved past it (a report; a watch log's run, its consecutive lines; a
    result stream at the file's end), so a log of a year's runs passes through in the
    memory of one run."""
    names = [os.fsdecode(path) for path in paths]
    found_any = False
    for name in names:
        try:
            file = open(name, "rb")  # noqa: SIM115 (closed below, as the generator ends)
        except OSError as exc:
            _bad(ReplayError(f"{name}: cannot read: {exc.strerror or exc}"), skip)
            continue
        found = False
        with file:
            try:
                for replayed in _Gathering(name).runs(file, skip):
                    _judge(replayed, skip)
                    found = found_any = True
                    yield replayed
            except OSError as exc:
                _bad(ReplayError(f"{name}: cannot read: {exc.strerror or exc}"), skip)
        if not found:
            _bad(ReplayError(f"{name}: no results"), skip)
    if not found_any:
        raise ReplayError(f"no results could be read from {', '.join(names)}")


def _bad(error: ReplayError, skip: Callable[[str], None] | None) -> None:
    if skip is None:
        raise error
    skip(str(error))


class _Gathering:
    """One file's records gathered into runs, each handed on once complete."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.watched: ReplayedRun | None = None
        """The watch run whose lines are being read."""
        self.stream: ReplayedRun | None = None
        """Bare results: one run, complete at the file's end."""

    def runs(self, file: BinaryIO, skip: Callable[[str], None] | None) -> Iterator[ReplayedRun]:
        for where, value, problem in json_records(self.name, file):
            try:
                yield from self._take(where, value, problem)
            except ReplayError as exc:
                _bad(exc, skip)
        yield from self._finished()
        if self.stream is not None:
            yield self.stream

    def _finished(self) -> Iterator[ReplayedRun]:
        if self.watched is not None:
            yield self.watched
            self.watched = None

    def _take(self, where: str, value: Any, problem: str | None) -> Iterator[ReplayedRun]:
        if problem is not None:
            raise ReplayError(f"{where}: {problem}")
        if not isinstance(value, dict):
            raise ReplayError(f"{where}: expected a JSON object, found {json_type(value)}")
        schema = value.get("schema")
        if isinstance(schema, str) and schema in _OLDER:
            raise ReplayError(f"{where}: {_OLDER[schema]}")
        if schema == SCHEMA_ID:
            report_run = _report_run(where, value)
            yield from self._finished()
            yield report_run
        elif schema == WATCH_SCHEMA:
            run_id = _field(value, "run", str, where)
            if self.watched is None or self.watched.run_id != run_id:
                started = _watch_run(where, run_id, value)
                yield from self._finished()
                self.watched = started
            self.watched._saved.append((f"{where}: result", value.get("result")))
        elif schema is not None:
            raise ReplayError(f"{where}: unsupported schema {shown(schema)}")
        elif "url" in value:
            if self.stream is None:
                self.stream = ReplayedRun(
                    self.name, "stream", RunResult(datetime.now(UTC)), _NO_PROBE
                )
            self.stream._saved.append((where, value))
        else:
            raise ReplayError(f"{where}: not a netprobe report, watch record or result")


_NO_PROBE: Final = ProbeInfo(resolver="unknown", control_resolvers=())
"""A result stream does not say where it was measured (each result has its ASN)."""


def _report_run(where: str, report: dict[str, Any]) -> ReplayedRun:
    probe = _field(report, "probe", dict, where)
    run = RunResult(
        started_at=_time(report, "started_at", where),
        finished_at=_time(report, "finished_at", where),
        network_down=probe.get("network") == "down",
        interrupted=report.get("complete") is False,
        notes=list(_field(report, "notes", tuple[str, ...], where)),
    )
    services = _field(report, "services", list, where)
    return ReplayedRun(
        where,
        "report",
        run,
        _probe_info(probe, f"{where}: probe"),
        options=_field(report, "options", dict, where),
        services=[_service(f"{where}: services[{i}]", s) for i, s in enumerate(services)],
        _saved=[
            (f"{where}: results[{i}]", r)
            for i, r in enumerate(_field(report, "results", list, where))
        ],
    )


def _watch_run(where: str, run_id: str, record: dict[str, Any]) -> ReplayedRun:
    probe = _field(record, "probe", dict, where)
    run = RunResult(
        started_at=_time(record, "started_at", where),
        finished_at=_time(record, "finished_at", where),
        network_down=probe.get("network") == "down",
    )
    info = _probe_info({"resolver": "unknown", **probe}, f"{where}: probe")
    return ReplayedRun(where, "watch", run, info, run_id=run_id)


def _probe_info(probe: dict[str, Any], where: str) -> ProbeInfo:
    def text(key: str) -> str | None:
        found: str | None = _field(probe, key, str | None, where, required=False)
        return found

    return ProbeInfo(
        resolver=_field(probe, "resolver", str, where),
        control_resolvers=_field(probe, "control_resolvers", tuple[str, ...], where, required=False)
        or (),
        asn=_field(probe, "asn", int | None, where, required=False),
        as_name=text("as_name"),
        cc=text("cc"),
        ip_method=text("ip_method"),
        ip=text("ip"),
        asn_note=text("asn_note"),
    )


def _service(where: str, value: Any) -> Service:
    service = _field({"service": value}, "service", dict, where)
    parts = tuple(
        Part(
            _field(part, "name", str, f"{where}: parts[{i}]"),
            _field(part, "endpoints", tuple[str, ...], f"{where}: parts[{i}]"),
        )
        for i, part in enumerate(_field(service, "parts", tuple[dict, ...], where))  # type: ignore[type-arg]
    )
    return Service(
        id=_field(service, "id", str, where),
        name=_field(service, "name", str, where),
        list_name=_field(service, "list", str, where),
        category=_field(service, "category", str | None, where),
        parts=parts,
        targets=(),
    )


def report(replayed: ReplayedRun) -> dict[str, Any]:
    """The run as a report of today's schema; each changed result says what it was."""
    document = build_report(replayed.run, replayed.probe, replayed.options)
    for judged, written in zip(replayed.results, document["results"], strict=True):
        _mark(written, judged)
    return document


def records(replayed: ReplayedRun) -> list[dict[str, Any]]:
    """The run as JSON Lines records of its own kind: a watch log's runs stay watch
    records, other results become bare results (as ``run --format jsonl`` writes them)."""
    lines = []
    for judged in replayed.results:
        result = _mark(result_to_dict(judged.result, replayed.probe.asn), judged)
        if replayed.kind == "watch":
            result = watch_record(replayed.run, replayed.probe, replayed.run_id, result)
        lines.append(result)
    return lines


def change_text(judged: Judged) -> str:
    """``was anomaly http.diff, now blocked http.blockpage: …`` (the new evidence)."""
    before, now = judged.previous, judged.result.analysis
    was = " ".join(x for x in (before.verdict, before.blocking) if x)
    is_now = " ".join(x for x in (now.verdict, now.blocking) if x)
    if (before.verdict, before.blocking) == (now.verdict, now.blocking):
        return f"{is_now}, evidence now: {now.evidence}"
    return f"was {was}, now {is_now}" + (f": {now.evidence}" if now.evidence else "")


def _mark(result: dict[str, Any], judged: Judged) -> dict[str, Any]:
    if judged.changed:
        before = judged.previous
        result["previous"] = {
            "verdict": before.verdict,
            "blocking": before.blocking,
            "evidence": before.evidence,
        }
    return result


@dataclass(frozen=True, slots=True)
class _Saved:
    """One result as the file holds it, rebuilt."""

    target: Target
    observations: Observations
    networks: dict[str, ASInfo]
    context: RunContext
    previous: Analysis


def _judge(replayed: ReplayedRun, skip: Callable[[str], None] | None) -> None:
    saved = []
    for where, value in replayed._saved:
        try:
            saved.append(_rebuild(where, value))
        except ReplayError as exc:
            _bad(exc, skip)
    issuers = shared_untrusted_issuers(s.observations for s in saved)
    for one in saved:
        ctx = dataclasses.replace(one.context, shared_untrusted_issuers=issuers)
        obs = one.observations
        result = TargetResult(
            one.target, obs, analyse(obs, ctx), Latency.of(obs), one.networks, ctx
        )
        replayed.results.append(Judged(result, one.previous))
    replayed.run.results = [j.result for j in replayed.results]
    replayed.run.services = judge_services(replayed.services, replayed.run.results)
    replayed._saved.clear()


def _rebuild(where: str, value: Any) -> _Saved:
    result = _field({"result": value}, "result", dict, where)
    url = _field(result, "url", str, where)
    try:
        parsed = parse_target(
            url,
            list_name=_field(result, "list", str | None, where),
            category=_field(result, "category", str | None, where),
        )
    except TargetError as exc:
        raise ReplayError(f"{where}: {exc}") from None
    expected = frozenset(_field(result, "expected_asns", tuple[int, ...], where))
    target = dataclasses.replace(
        parsed, service=_field(result, "service", str | None, where), expected_asns=expected
    )
    if target.url != url:
        raise ReplayError(f"{where}: url {shown(url)} is not in normal form ({target.url})")
    observations = Observations(
        url=target.url,
        domain=target.domain,
        scheme=target.scheme,
        port=target.port,
        dns=_field(result, "dns", tuple[DNSObservation, ...], where),
        tcp=_field(result, "tcp", tuple[TCPObservation, ...], where),
        tls=_field(result, "tls", tuple[TLSObservation, ...], where),
        http=_field(result, "http", tuple[HTTPObservation, ...], where),
        expected_asns=expected,
        deadline_passed=_field(result, "deadline_passed", bool, where),
        internal_error=_field(result, "internal_error", str | None, where),
    )
    networks = _networks(result["dns"], where)
    facts = _field(result, "context", dict, where)
    at = f"{where}: context"
    try:
        routable = parse_networks(_field(facts, "routable", tuple[str, ...], at))
    except ValueError as exc:
        raise ReplayError(f"{at}: {exc}") from None
    context = RunContext(
        network_down=_field(facts, "network_down", bool, at),
        asn_of=asn_lookup(networks),
        routable=routable,
        resolver_invents_answers=_field(facts, "resolver_invents_answers", bool | None, at),
        fake_ip=_field(facts, "fake_ip", bool, at),
    )
    return _Saved(target, observations, networks, context, _previous(result, where))


def _previous(result: dict[str, Any], where: str) -> Analysis:
    verdict = _field(result, "verdict", str, where)
    blocking = _field(result, "blocking", str | None, where)
    if verdict not in VERDICTS:
        raise ReplayError(f"{where}: unknown verdict {shown(verdict)}")
    if blocking is not None and blocking not in BLOCKINGS:
        raise ReplayError(f"{where}: unknown blocking type {shown(blocking)}")
    return Analysis(verdict, blocking, _field(result, "evidence", str | None, where))


def _networks(queries: list[dict[str, Any]], where: str) -> dict[str, ASInfo]:
    """The AS each answer address was tagged with (only those the report names)."""
    networks: dict[str, ASInfo] = {}
    for i, query in enumerate(queries):
        for j, answer in enumerate(_field(query, "answers", tuple[dict, ...], where)):  # type: ignore[type-arg]
            at = f"{where}: dns[{i}].answers[{j}]"
            asn = _field(answer, "asn", int | None, at)
            name = _field(answer, "as_name", str | None, at)
            if asn is not None or name is not None:
                address = _field(answer, "address", str, at)
                networks[address] = ASInfo(asn, None, name, None, "override", _AS_RECORDED)
    return networks


_AS_RECORDED: Final = "as the report recorded it"


def _time(record: dict[str, Any], key: str, where: str) -> datetime:
    text = _field(record, key, str, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReplayError(f"{where}: {key} is not an ISO 8601 time: {shown(text)}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


_MISSING: Final = object()


def _field(record: Any, key: str, kind: Any, where: str, *, required: bool = True) -> Any:
    """``record[key]`` checked against ``kind`` (and built, for records and tuples)."""
    if not isinstance(record, dict):
        raise ReplayError(f"{where}: expected an object, found {json_type(record)}")
    value = record.get(key, _MISSING)
    if value is _MISSING:
        if required:
            raise ReplayError(f"{where}: {key} is missing")
        return None
    return _typed(kind, value, f"{where}: {key}")


def _typed(kind: Any, value: Any, where: str) -> Any:
    """``value`` from JSON as ``kind``: a plain type, ``X | None``, a literal, a tuple or
    frozenset, bytes (as the report writes them), or an observation record."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if value is None and type(None) in options:
            return None
        chosen = [o for o in options if o is not type(None)]
        return _typed(chosen[0] if len(chosen) == 1 else kind, value, where) if chosen else None
    if origin is Literal:
        if value not in get_args(kind):
            raise ReplayError(f"{where}: {shown(value)} is not one of {get_args(kind)}")
        return value
    if origin in (tuple, frozenset):
        if not isinstance(value, list):
            raise ReplayError(f"{where}: expected an array, found {json_type(value)}")
        args = get_args(kind)
        if origin is frozenset or (len(args) == 2 and args[1] is Ellipsis):
            items = tuple(_typed(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
            return frozenset(items) if origin is frozenset else items
        if len(value) != len(args):
            raise ReplayError(f"{where}: expected {len(args)} items, found {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_typed(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
    if dataclasses.is_dataclass(kind):
        return _record(kind, value, where)
    if kind is bytes:
        try:
            return bytes_from_json(value)
        except ValueError as exc:
            raise ReplayError(f"{where}: {exc}") from None
    expected = _JSON_KINDS.get(kind, kind)
    if not isinstance(value, expected) or (kind is not bool and isinstance(value, bool)):
        raise ReplayError(f"{where}: expected {_NAMES.get(kind, kind)}, found {json_type(value)}")
    return float(value) if kind is float else value


_JSON_KINDS: Final[dict[Any, Any]] = {float: (int, float)}
_NAMES: Final[dict[Any, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
}


def _record(cls: Any, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ReplayError(f"{where}: expected an object, found {json_type(value)}")
    hints = _hints(cls)
    built = {}
    for item in dataclasses.fields(cls):
        if item.name in value:
            built[item.name] = _typed(hints[item.name], value[item.name], f"{where}.{item.name}")
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise ReplayError(f"{where}: {item.name} is missing")
    return cls(**built)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = get_type_hints(cls)
    return found
