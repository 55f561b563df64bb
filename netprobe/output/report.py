"""The JSON report: building it, its schema, writing it safely.

The document is versioned (``schema: "netprobe.report/2"``); its JSON Schema ships
in the package (``netprobe/output/schema/report-2.json``, with the older versions' beside it)
and every change to the shape must bump the version. A JSON-lines stream carries the
same result objects, one per line, as each target finishes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from collections import Counter
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from netprobe import __version__
from netprobe.model.observations import DNSObservation
from netprobe.model.results import VERDICTS, RunContext, RunResult, ServiceResult, TargetResult
from netprobe.output._files import write_atomically

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netprobe.model.networks import ASInfo

__all__ = [
    "SCHEMA_ID",
    "WATCH_SCHEMA",
    "ProbeInfo",
    "RenderedResults",
    "build_report",
    "iso_time",
    "load_schema",
    "report_text",
    "result_schema",
    "result_to_dict",
    "watch_record",
    "write_json",
]

SCHEMA_ID = "netprobe.report/2"
WATCH_SCHEMA = "netprobe.watch/2"
"""A watch log's records: one result each, with its run's id, times and network."""


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    """Where the measurement was made from. ``ip`` stays None unless asked for."""

    resolver: str
    control_resolvers: tuple[str, ...]
    asn: int | None = None
    as_name: str | None = None
    cc: str | None = None
    ip_method: str | None = None
    ip: str | None = None
    asn_note: str | None = None
    """Why the ASN is unknown, when it is."""


def iso_time(moment: datetime | None) -> str | None:
    """A time as reports write it: ``2026-11-27T09:00:00Z``."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _plain(value: Any) -> Any:
    """A record as JSON values: dataclasses become objects, tuples lists, as they will in the
    file. (``dataclasses.asdict`` deep-copies every leaf: ten times slower on a full list.)"""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return bytes_to_json(value)
    return value


def bytes_to_json(data: bytes) -> str | dict[str, str]:
    """Bytes as JSON, the way OONI stores bodies: text when they are valid UTF-8, else
    ``{"format": "base64", "data": …}``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "base64", "data": base64.b64encode(data).decode("ascii")}


def bytes_from_json(value: Any) -> bytes:
    """What :func:`bytes_to_json` made, back; ValueError for anything else."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and value.get("format") == "base64":
        try:
            return base64.b64decode(value.get("data", ""), validate=True)
        except (binascii.Error, TypeError) as exc:
            raise ValueError(f"bad base64 data: {exc}") from None
    raise ValueError("expected a string or {format: base64, data}")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _dns_dict(query: DNSObservation, networks: Mapping[str, ASInfo]) -> dict[str, Any]:
    """A DNS observation with each answer address tagged with its AS, where known."""
    tagged = [
        {
            "address": a,
            "asn": networks[a].asn if a in networks else None,
            "as_name": networks[a].as_name if a in networks else None,
        }
        for a in query.addresses
    ]
    plain: dict[str, Any] = _plain(query)
    return {**plain, "answers": tagged}


def result_to_dict(result: TargetResult, probe_asn: int | None) -> dict[str, Any]:
    """One result as it appears in ``results`` (and as one line of JSON-lines output)."""
    target, obs, analysis = result.target, result.observations, result.analysis
    return {
        "url": target.url,
        "domain": target.domain,
        "list": target.list_name,
        "category": target.category,
        "verdict": analysis.verdict,
        "blocking": analysis.blocking,
        "evidence": analysis.evidence,
        "latency_ms": _plain(result.latency),
        "probe_asn": probe_asn,
        "service": target.service,
        "dns": [_dns_dict(d, result.networks) for d in obs.dns],
        "tcp": _plain(obs.tcp),
        "tls": _plain(obs.tls),
        "http": _plain(obs.http),
        "deadline_passed": obs.deadline_passed,
        "internal_error": obs.internal_error,
        "expected_asns": sorted(obs.expected_asns),
        "context": _context_dict(result.context),
    }


def _context_dict(ctx: RunContext) -> dict[str, Any]:
    return {
        "network_down": ctx.network_down,
        "resolver_invents_answers": ctx.resolver_invents_answers,
        "fake_ip": ctx.fake_ip,
        "routable": [str(network) for network in ctx.routable],
    }


def watch_record(
    run: RunResult, info: ProbeInfo, run_id: str | None, result: dict[str, Any]
) -> dict[str, Any]:
    """One line of a watch log: ``result`` (from :func:`result_to_dict`) and its run."""
    probe: dict[str, Any] = {"asn": info.asn, "as_name": info.as_name, "cc": info.cc}
    if info.ip is not None:
        probe["ip"] = info.ip
    return {
        "schema": WATCH_SCHEMA,
        "run": run_id,
        "started_at": iso_time(run.started_at),
        "finished_at": iso_time(run.finished_at),
        "probe": {**probe, "network": "down" if run.network_down else "up"},
        "result": result,
    }


class RenderedResults:
    """Each result as its JSON object and text, made once, as the result comes in: the
    report at the end of a run then only assembles them (stamping the probe's ASN, which
    is known late), so that the run does not end with a wait."""

    def __init__(self) -> None:
        self._made: dict[int, tuple[TargetResult, dict[str, Any], str]] = {}

    def add(self, result: TargetResult) -> None:
        made = result_to_dict(result, None)
        self._made[id(result)] = (result, made, _compact(made))

    def get(self, result: TargetResult, probe_asn: int | None) -> dict[str, Any]:
        made = self._made.get(id(result))
        if made is None or made[0] is not result:
            return result_to_dict(result, probe_asn)
        made[1]["probe_asn"] = probe_asn
        return made[1]

    def text(self, result: TargetResult, probe_asn: int | None) -> str:
        made = self._made.get(id(result))
        if made is None or made[0] is not result:
            return _compact(result_to_dict(result, probe_asn))
        # Only the key can read so: inside a JSON string every quote is escaped.
        return made[2].replace(_NO_ASN, f'"probe_asn":{json.dumps(probe_asn)}', 1)


_NO_ASN: Final = '"probe_asn":null'
_NO_RESULTS: Final = '"results":[]'


def _compact(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def report_text(report: dict[str, Any], rendered: RenderedResults, run: RunResult) -> str:
    """``report`` (from :func:`build_report`) as compact JSON, its results spliced in from
    the texts made as they came in."""
    probe_asn = report["probe"]["asn"]
    results = ",".join(rendered.text(r, probe_asn) for r in run.results)
    # The key cannot occur inside a string (quotes are escaped there), only as the key.
    return _compact({**report, "results": []}).replace(_NO_RESULTS, f'"results":[{results}]', 1)


def build_report(
    run: RunResult,
    probe: ProbeInfo,
    options: dict[str, Any],
    rendered: RenderedResults | None = None,
) -> dict[str, Any]:
    counts = Counter(r.analysis.verdict for r in run.results)
    finished = run.finished_at or datetime.now(run.started_at.tzinfo)
    probe_fields: dict[str, Any] = {
        "asn": probe.asn,
        "as_name": probe.as_name,
        "cc": probe.cc,
        "ip_method": probe.ip_method,
        "asn_note": probe.asn_note,
        "network": "down" if run.network_down else "up",
        "resolver": probe.resolver,
        "control_resolvers": list(probe.control_resolvers),
    }
    if probe.ip is not None:
        probe_fields["ip"] = probe.ip
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "netprobe", "version": __version__},
        "started_at": iso_time(run.started_at),
        "finished_at": iso_time(finished),
        "complete": not run.interrupted,
        "notes": list(run.notes),
        "probe": probe_fields,
        "options": options,
        "summary": {
            "total": len(run.results),
            "duration_s": round((finished - run.started_at).total_seconds(), 3),
            "verdicts": {v: counts.get(v, 0) for v in VERDICTS},
        },
        "results": [(rendered or RenderedResults()).get(r, probe.asn) for r in run.results],
        "services": [_service_dict(judged) for judged in run.services],
    }


def _service_dict(judged: ServiceResult) -> dict[str, Any]:
    service, analysis = judged.service, judged.analysis
    verdicts = {p.name: p.verdict for p in analysis.parts}
    return {
        "id": service.id,
        "name": service.name,
        "list": service.list_name,
        "category": service.category,
        "verdict": analysis.verdict,
        "blocking": analysis.blocking,
        "evidence": analysis.evidence,
        "parts": [
            {"name": part.name, "verdict": verdicts[part.name], "endpoints": list(part.endpoints)}
            for part in service.parts
            if part.name in verdicts
        ],
    }


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the report, as shipped in the package."""
    text = resources.files("netprobe.output").joinpath("schema/report-2.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def result_schema() -> dict[str, Any]:
    """The JSON Schema of one result: one line of ``--format jsonl`` output."""
    schema = load_schema()
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/result"}


def write_json(path: str | os.PathLike[str], document: dict[str, Any] | str) -> None:
    """Write the report (or its text) atomically: readers see the old file or the whole
    new one.

    Compact: a file for programs (``jq .`` pretty-prints it), and indenting a full list's
    report costs Python's slow encoder four times the time."""
    text = document if isinstance(document, str) else _compact(document)
    write_atomically(path, (text + "\n").encode("utf-8"))
