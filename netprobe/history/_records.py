"""Reading reports, watch logs, result streams and datasets into flat observations.

Three kinds of file, told apart per file and per record, and dataset directories
(``netprobe export --dataset``, read by :mod:`._dataset`):

- a report (``schema: "netprobe.report/2"``, or ``/1``), pretty-printed as ``netprobe run -o``
  writes it or compact on one line: every result is an observation at the run's
  ``started_at``, on the report's ``probe`` network;
- a watch log (JSON Lines of ``schema: "netprobe.watch/2"`` (or ``/1``) records, one result per
  run per line): ``started_at``, ``run`` and ``probe`` come with each line;
- a result stream (``netprobe run --format jsonl``): bare result objects, with no
  time and only ``probe_asn`` to name the network.

Only what a history needs is kept (url, verdict, blocking, evidence): the raw DNS,
TCP, TLS and HTTP observations are dropped as soon as a record is parsed. JSON Lines
are read a line at a time. Bad input never raises: each malformed line, document or
result becomes a ``FILE:LINE: reason`` warning and is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final

from netprobe.history._observation import Network, Observation
from netprobe.model.results import VERDICTS
from netprobe.output._json_records import json_records, json_type, shown

__all__ = [
    "REPORT_SCHEMA",
    "WATCH_SCHEMA",
    "Loaded",
    "Network",
    "Observation",
    "RecordReader",
    "iso",
    "load_records",
    "merge_networks",
    "network_json",
]

# Repeated rather than imported from netprobe.output.report, which pulls in the runner (httpx).
REPORT_SCHEMA: Final = "netprobe.report/2"
WATCH_SCHEMA: Final = "netprobe.watch/2"
_READ_SCHEMAS: Final = {
    "netprobe.report/1": "report",
    REPORT_SCHEMA: "report",
    "netprobe.watch/1": "watch",
    WATCH_SCHEMA: "watch",
}
"""A history reads verdicts only: older versions, whose observations differ, still do."""

# A file of something else entirely (a CSV, a binary) would otherwise print a warning
# for each of its lines.
_WARNINGS_PER_FILE: Final = 20


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :func:`load_records` found: the observations, and why anything was skipped."""

    observations: tuple[Observation, ...]
    warnings: tuple[str, ...]
    """``FILE:LINE: reason`` (``FILE: reason`` for a whole file or document)."""

    @property
    def empty(self) -> bool:
        """No file yielded a single observation: nothing to summarise or compare."""
        return not self.observations


class _Malformed(ValueError):
    """A record that cannot be read; the message becomes its warning."""


def load_records(paths: Iterable[str | os.PathLike[str]]) -> Loaded:
    """Read reports, watch logs, result streams and dataset directories, each file's
    format detected from it.

    A file that cannot be read, and each line, document or result that is not what it
    should be, adds a warning and is skipped; nothing here raises for bad input.
    """
    reader = RecordReader()
    observations = tuple(obs for path in paths for obs in reader.read(path))
    return Loaded(observations, tuple(reader.warnings))


class RecordReader:
    """Reads files one observation at a time, for callers that keep less than all of
    them (an engine adding them to a database); :func:`load_records` keeps them all.
    Warnings gather in :attr:`warnings` as the files are read."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        # One Network object per distinct probe, shared by all of its observations.
        self._networks: dict[tuple[int | None, str | None, str | None], Network] = {}

    def read(self, path: str | os.PathLike[str]) -> Iterator[Observation]:
        """The observations of one file or dataset directory, in the order they were
        written."""
        name = os.fsdecode(path)
        if os.path.isdir(name):
            # pyarrow and the dataset's columns, only for a dataset.
            from netprobe.history._dataset import dataset_files, dataset_observations

            files = dataset_files(name, self.warnings)
            if not files:
                return
            observations = dataset_observations(name, files, self.warnings, self._network_of)
        else:
            try:
                file = open(name, "rb")  # noqa: SIM115 (closed by _read_file)
            except OSError as exc:
                self.warnings.append(f"{name}: cannot read: {exc.strerror or exc}")
                return
            observations = self._read_file(name, file)
        found = 0
        for found, obs in enumerate(observations, 1):  # noqa: B007 (found counts them)
            yield obs
        if not found:
            self.warnings.append(f"{name}: no results")

    def _read_file(self, name: str, file: BinaryIO) -> Iterator[Observation]:
        with file:
            try:
                yield from self._read_data(name, file)
            except OSError as exc:
                self.warnings.append(f"{name}: cannot read: {exc.strerror or exc}")

    def _read_data(self, name: str, data: BinaryIO) -> Iterator[Observation]:
        bad = 0
        for where, value, problem in json_records(name, data):
            try:
                if problem is not None:
                    raise _Malformed(problem)
                yield from self._record(where, value)
            except _Malformed as exc:
                bad += 1
                if bad <= _WARNINGS_PER_FILE:
                    self.warnings.append(f"{where}: {exc}")
        if bad > _WARNINGS_PER_FILE:
            self.warnings.append(f"{name}: {bad - _WARNINGS_PER_FILE} more bad lines skipped")

    def _record(self, where: str, value: Any) -> Iterator[Observation]:
        """One report, watch record or bare result; ``where`` names it in warnings."""
        if not isinstance(value, dict):
            raise _Malformed(f"expected a JSON object, found {json_type(value)}")
        schema = value.get("schema")
        kind = _READ_SCHEMAS.get(schema) if isinstance(schema, str) else None
        if kind == "report":
            yield from self._report(where, value)
        elif kind == "watch":
            network = self._network(value.get("probe"))
            at = _time(value.get("started_at"), "started_at")
            yield self._result(value.get("result"), network, at, _text(value, "run"))
        elif schema is not None:
            raise _Malformed(f"unsupported schema {shown(schema)}")
        elif "url" in value:
            yield self._result(value, self._network({"asn": value.get("probe_asn")}), None, None)
        else:
            raise _Malformed("not a netprobe report, watch record or result")

    def _report(self, where: str, report: dict[str, Any]) -> Iterator[Observation]:
        network = self._network(report.get("probe"))
        at = _time(report.get("started_at"), "started_at")
        results = report.get("results")
        if not isinstance(results, list):
            raise _Malformed("results is not a list")
        run = report["started_at"] if at else None
        for index, result in enumerate(results):
            try:
                yield self._result(result, network, at, run)
            except _Malformed as exc:
                # The other results of the report are still good.
                self.warnings.append(f"{where}: results[{index}]: {exc}")

    def _result(
        self, result: Any, network: Network, at: datetime | None, run: str | None
    ) -> Observation:
        if not isinstance(result, dict):
            raise _Malformed(f"result is {json_type(result)}, not an object")
        url, verdict = result.get("url"), result.get("verdict")
        if not isinstance(url, str) or not url:
            raise _Malformed("result has no url")
        if verdict not in VERDICTS:
            raise _Malformed(f"unknown verdict {shown(verdict)}")
        blocking, evidence = _text(result, "blocking"), _text(result, "evidence")
        return Observation(url, network, at, verdict, blocking, evidence, run)

    def _network(self, probe: Any) -> Network:
        if not isinstance(probe, dict):
            raise _Malformed("probe is not an object")
        asn = probe.get("asn")
        if asn is not None and (not isinstance(asn, int) or isinstance(asn, bool) or asn < 0):
            raise _Malformed(f"bad AS number {shown(asn)}")
        return self._network_of(asn, _text(probe, "as_name"), _text(probe, "cc"))

    def _network_of(self, asn: int | None, as_name: str | None, cc: str | None) -> Network:
        # An empty name or country says nothing: it is no name, in every engine.
        key = (asn, as_name or None, cc or None)
        network = self._networks.get(key)
        if network is None:
            network = self._networks[key] = Network(*key)
        return network


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _Malformed(f"{key} is {json_type(value)}, not a string")


def _time(value: Any, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            # netprobe writes UTC with a Z; a time without an offset is taken as UTC too.
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise _Malformed(f"{key} is not an ISO 8601 time: {shown(value)}")


def iso(moment: datetime | None) -> str | None:
    """A time as the reports write it: ``2026-11-27T09:00:00Z``."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def merge_networks(known: Network | None, new: Network) -> Network:
    """One network per ASN, with the name and country from whichever record has them."""
    if known is None or known is new:
        return new
    if (known.as_name or not new.as_name) and (known.cc or not new.cc):
        return known
    return Network(known.asn, known.as_name or new.as_name, known.cc or new.cc)


def network_json(network: Network) -> dict[str, Any]:
    return {
        "asn": network.asn,
        "as_name": network.as_name,
        "cc": network.cc,
        "label": network.label,
    }
