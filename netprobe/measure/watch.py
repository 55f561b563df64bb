"""`netprobe watch`: the same run again and again, a log of every result, what changed.

The log is JSON Lines, one record per result per run::

    {"schema": "netprobe.watch/1", "run": "20261127T140000Z-3f2a", "started_at": "...Z",
     "finished_at": "...Z", "probe": {"asn": 9198, "as_name": "...", "cc": "KZ",
     "network": "up"}, "result": {...one result, as in the report...}}

Each run is appended in one write, flushed and synced, so a crash or Ctrl-C loses at
most the run in progress. :class:`ChangeTracker` turns consecutive runs into the
transitions a watcher wants to see ("14:02 UTC https://www.facebook.com/ blocked
(tls.reset) → accessible").
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from netprobe.measure.session import Plan, measure, probe_info
from netprobe.model.results import RunResult
from netprobe.output.report import WATCH_SCHEMA, ProbeInfo, result_to_dict, watch_record

__all__ = [
    "WATCH_SCHEMA",
    "ChangeTracker",
    "Transition",
    "append_run",
    "parse_duration",
    "parse_until",
    "run_records",
    "watch",
]

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``30s``, ``5m``, ``1h`` or ``1h30m``; ValueError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or found is None or not any(found.groups()):
        raise ValueError(f"{text!r} is not a duration (such as 30s, 5m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return total


def parse_until(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC unless it says otherwise), or ``HH:MM`` meaning the next such
    time in UTC; ValueError otherwise."""
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r} is not a time of day")
        moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return moment if moment > now else moment + timedelta(days=1)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time (such as 14:00 or 2026-11-27T14:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_records(run: RunResult, info: ProbeInfo, run_id: str) -> list[dict[str, Any]]:
    """The log records of one run, one per result."""
    return [
        watch_record(run, info, run_id, result_to_dict(result, info.asn)) for result in run.results
    ]


def append_run(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Append a run's records in one write, synced to disk before returning."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    with open(path, "ab") as log:
        log.write(data)
        log.flush()
        os.fsync(log.fileno())


State = tuple[str, str | None]
"""A verdict and its blocking."""


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    what: str
    """A target's URL, or a service's name."""
    before: State | None
    """None on the first run that saw it."""
    after: State

    def __str__(self) -> str:
        when = self.at.astimezone(UTC).strftime("%H:%M:%S UTC")
        if self.before is None:
            return f"{when} {self.what} {_state(self.after)}"
        return f"{when} {self.what} {_state(self.before)} → {_state(self.after)}"


def _state(state: State) -> str:
    verdict, blocking = state
    return f"{verdict} ({blocking})" if blocking else verdict


class ChangeTracker:
    """The last state of every target and service; each run's changes."""

    def __init__(self) -> None:
        self._states: dict[str, State] = {}

    def update(self, run: RunResult) -> list[Transition]:
        seen = [(r.target.url, (r.analysis.verdict, r.analysis.blocking)) for r in run.results]
        seen += [(s.service.name, (s.analysis.verdict, s.analysis.blocking)) for s in run.services]
        changes = []
        for what, state in seen:
            before = self._states.get(what)
            if before != state:
                changes.append(Transition(run.started_at, what, before, state))
                self._states[what] = state
        return changes


async def watch(
    plan: Plan,
    log: str | os.PathLike[str],
    *,
    every: float,
    until: datetime | None = None,
    count: int | None = None,
    on_transition: Callable[[Transition], None],
    on_run: Callable[[RunResult], None] | None = None,
) -> int:
    """Run ``plan`` every ``every`` seconds (from one start to the next) until ``count``
    runs are done or ``until`` has passed; log each run; report each change. Returns the
    number of runs logged."""
    tracker, done = ChangeTracker(), 0
    next_start = time.monotonic()
    while until is None or datetime.now(UTC) < until:
        run = RunResult(started_at=datetime.now(UTC))
        identity = await measure(plan, run)
        run_id = f"{run.started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        append_run(log, run_records(run, probe_info(plan, identity), run_id))
        done += 1
        for change in tracker.update(run):
            on_transition(change)
        if on_run is not None:
            on_run(run)
        if count is not None and done >= count:
            break
        # A run longer than the interval is followed at once, not skipped.
        next_start = max(next_start + every, time.monotonic())
        delay = next_start - time.monotonic()
        if until is not None and datetime.now(UTC) + timedelta(seconds=delay) >= until:
            break
        await asyncio.sleep(delay)
    return done
