"""From observations to histories: episodes, blocks, and per-network shares.

Observations are grouped per target URL and network (ASN) and put in time order;
those without a time (result streams) come after the timed ones, in the order they
were read, since nothing says when they were made. Consecutive observations with the
same verdict and blocking form an *episode*. A *block* is a run of consecutive
``blocked``/``anomaly`` episodes: it began at the first of them and ended when any
other verdict was next seen.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from netprobe.history._observation import by_asn
from netprobe.history._records import (
    Network,
    Observation,
    iso,
    merge_networks,
    network_json,
)
from netprobe.model.results import VERDICTS

__all__ = [
    "INTERFERENCE",
    "SUMMARY_SCHEMA",
    "Block",
    "Episode",
    "NetworkSummary",
    "Summary",
    "TargetHistory",
    "summarize",
    "summary_of",
    "summary_to_json",
]

SUMMARY_SCHEMA: Final = "netprobe.summary/1"
INTERFERENCE: Final = ("blocked", "anomaly")
"""The verdicts a block is made of."""


@dataclass(frozen=True, slots=True)
class Episode:
    """Consecutive observations of one target on one network with the same outcome."""

    verdict: str
    blocking: str | None
    evidence: str | None
    """The evidence of the episode's first observation: what was seen when it began."""
    first_seen: datetime | None
    last_seen: datetime | None
    """Times of its first and last timed observations; None when none had a time."""
    runs: int
    """Observations in the episode (one per run)."""
    untimed: int
    """How many of them had no time (they follow the timed ones)."""


@dataclass(frozen=True, slots=True)
class Block:
    """A stretch of interference: consecutive ``blocked``/``anomaly`` episodes."""

    verdict: str
    """``blocked`` if any of its episodes is, else ``anomaly``."""
    blockings: tuple[str, ...]
    """The blocking types seen, in order (a censor may switch methods mid-block)."""
    began: datetime | None
    ended: datetime | None
    """When another verdict was first seen again; None while still blocked at the last
    observation (or when that observation has no time)."""
    last_seen: datetime | None


@dataclass(frozen=True, slots=True)
class TargetHistory:
    """The verdict history of one target on one network."""

    url: str
    network: Network
    episodes: tuple[Episode, ...]
    """In time order; never empty."""

    @property
    def latest(self) -> Episode:
        return self.episodes[-1]

    @property
    def blocks(self) -> tuple[Block, ...]:
        blocks: list[Block] = []
        stretch: list[Episode] = []
        for episode in self.episodes:
            if episode.verdict in INTERFERENCE:
                stretch.append(episode)
            elif stretch:
                blocks.append(_block(stretch, ended=episode.first_seen))
                stretch = []
        if stretch:
            blocks.append(_block(stretch, ended=None))
        return tuple(blocks)


def _block(stretch: list[Episode], ended: datetime | None) -> Block:
    seen = [e.last_seen for e in stretch if e.last_seen is not None]
    return Block(
        verdict="blocked" if any(e.verdict == "blocked" for e in stretch) else "anomaly",
        blockings=tuple(dict.fromkeys(e.blocking for e in stretch if e.blocking)),
        began=stretch[0].first_seen,
        ended=ended,
        last_seen=max(seen) if seen else None,
    )


@dataclass(frozen=True, slots=True)
class NetworkSummary:
    """One network: how many of its targets are blocked now, and were at some point."""

    network: Network
    targets: int
    observations: int
    runs: int
    """Distinct run ids (a report is one run)."""
    first_seen: datetime | None
    last_seen: datetime | None
    latest: Mapping[str, int]
    """Targets per latest verdict; every verdict is a key."""
    latest_blockings: Mapping[str, int]
    """Targets per blocking type of their latest verdict (blocked or anomaly)."""
    ever_interfered: int
    """Targets blocked or anomalous in at least one observation."""
    ever_blockings: Mapping[str, int]
    """Targets per blocking type seen in any of their observations."""

    @property
    def share_blocked(self) -> float:
        """The share of targets whose latest verdict is ``blocked`` (0 to 1)."""
        return self.latest["blocked"] / self.targets if self.targets else 0.0


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything :func:`summarize` found: networks by ASN (unknown last), targets in
    the same network order, then by URL."""

    targets: tuple[TargetHistory, ...]
    networks: tuple[NetworkSummary, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    observations: int

    @property
    def several_days(self) -> bool:
        """Whether times need their date to be told apart (they are all UTC)."""
        first, last = self.first_seen, self.last_seen
        return first is not None and last is not None and first.date() != last.date()

    def histories(self, network: Network) -> tuple[TargetHistory, ...]:
        """The histories measured on ``network`` (matched by ASN)."""
        return tuple(t for t in self.targets if t.network.asn == network.asn)


def summarize(observations: Iterable[Observation]) -> Summary:
    """Histories per target and network, and the state of each network. Pure.

    An observation read twice (the same file given twice, logs copied into one another)
    counts once: timed observations are compared by URL, ASN, time, run, verdict and
    blocking.
    """
    groups: dict[tuple[int | None, str], list[Observation]] = {}
    networks: dict[int | None, Network] = {}
    runs: dict[int | None, set[str]] = {}
    seen: set[tuple[object, ...]] = set()
    for obs in observations:
        asn = obs.network.asn
        if obs.at is not None:
            identity = (obs.url, asn, obs.at, obs.run, obs.verdict, obs.blocking)
            if identity in seen:
                continue
            seen.add(identity)
        groups.setdefault((asn, obs.url), []).append(obs)
        networks[asn] = merge_networks(networks.get(asn), obs.network)
        if obs.run is not None:
            runs.setdefault(asn, set()).add(obs.run)
    histories = (
        TargetHistory(url, networks[asn], _episodes(group)) for (asn, url), group in groups.items()
    )
    return summary_of(histories, {asn: len(ids) for asn, ids in runs.items()})


def summary_of(histories: Iterable[TargetHistory], runs: Mapping[int | None, int]) -> Summary:
    """The summary of histories an engine found, given the distinct runs per ASN: the
    part of :func:`summarize` shared by every engine. Pure."""
    targets = tuple(sorted(histories, key=_history_order))
    by_network: dict[int | None, list[TargetHistory]] = {}
    for history in targets:
        by_network.setdefault(history.network.asn, []).append(history)
    summaries = tuple(
        _network_summary(histories[0].network, histories, runs.get(asn, 0))
        for asn, histories in by_network.items()
    )
    times = [s.first_seen for s in summaries if s.first_seen] + [
        s.last_seen for s in summaries if s.last_seen
    ]
    return Summary(
        targets=targets,
        networks=summaries,
        first_seen=min(times, default=None),
        last_seen=max(times, default=None),
        observations=sum(s.observations for s in summaries),
    )


def _history_order(history: TargetHistory) -> tuple[tuple[bool, int], str]:
    return by_asn(history.network.asn), history.url


def _episodes(group: list[Observation]) -> tuple[Episode, ...]:
    timed = sorted((o for o in group if o.at is not None), key=operator.attrgetter("at"))
    ordered = timed + [o for o in group if o.at is None]
    episodes: list[Episode] = []
    start = 0
    for index in range(1, len(ordered) + 1):
        if index < len(ordered) and _outcome(ordered[index]) == _outcome(ordered[start]):
            continue
        part = ordered[start:index]
        times = [o.at for o in part if o.at is not None]
        first = part[0]
        episodes.append(
            Episode(
                verdict=first.verdict,
                blocking=first.blocking,
                evidence=first.evidence,
                first_seen=times[0] if times else None,
                last_seen=times[-1] if times else None,
                runs=len(part),
                untimed=len(part) - len(times),
            )
        )
        start = index
    return tuple(episodes)


def _outcome(obs: Observation) -> tuple[str, str | None]:
    return obs.verdict, obs.blocking


def _network_summary(network: Network, histories: list[TargetHistory], runs: int) -> NetworkSummary:
    latest: Counter[str] = Counter()
    latest_blockings: Counter[str] = Counter()
    ever_blockings: Counter[str] = Counter()
    ever_interfered = 0
    first: list[datetime] = []
    last: list[datetime] = []
    for history in histories:
        now = history.latest
        latest[now.verdict] += 1
        if now.verdict in INTERFERENCE and now.blocking:
            latest_blockings[now.blocking] += 1
        blocked = [e for e in history.episodes if e.verdict in INTERFERENCE]
        ever_interfered += bool(blocked)
        ever_blockings.update({e.blocking for e in blocked if e.blocking})
        first += [e.first_seen for e in history.episodes[:1] if e.first_seen]
        last += [e.last_seen for e in history.episodes if e.last_seen]
    return NetworkSummary(
        network=network,
        targets=len(histories),
        observations=sum(e.runs for h in histories for e in h.episodes),
        runs=runs,
        first_seen=min(first, default=None),
        last_seen=max(last, default=None),
        latest={verdict: latest[verdict] for verdict in VERDICTS},
        latest_blockings=_by_count(latest_blockings),
        ever_interfered=ever_interfered,
        ever_blockings=_by_count(ever_blockings),
    )


def _by_count(counts: Counter[str]) -> dict[str, int]:
    """Most targets first, then by name: the same order whatever the reading order."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def summary_to_json(summary: Summary) -> dict[str, Any]:
    """The summary as a JSON document (``schema: "netprobe.summary/1"``).

    Times are ISO 8601 UTC strings (``2026-11-27T09:00:00Z``) or null when unknown::

        schema        "netprobe.summary/1"
        first_seen, last_seen, observations
        networks[]    asn, as_name, cc, label, targets, observations, runs,
                      first_seen, last_seen,
                      latest {verdict: targets} (every verdict), share_blocked (0-1),
                      latest_blockings {blocking: targets},
                      ever_interfered (targets blocked or anomalous at some point),
                      ever_blockings {blocking: targets}
        targets[]     url, asn,
                      latest {verdict, blocking, evidence},
                      episodes[] {verdict, blocking, evidence, first_seen, last_seen,
                                  runs, untimed},
                      blocks[] {verdict, blockings[], began, ended, last_seen}
                      (ended null: still blocked at the last observation)
    """
    return {
        "schema": SUMMARY_SCHEMA,
        "first_seen": iso(summary.first_seen),
        "last_seen": iso(summary.last_seen),
        "observations": summary.observations,
        "networks": [_network_summary_json(n) for n in summary.networks],
        "targets": [_history_json(t) for t in summary.targets],
    }


def _network_summary_json(summary: NetworkSummary) -> dict[str, Any]:
    return {
        **network_json(summary.network),
        "targets": summary.targets,
        "observations": summary.observations,
        "runs": summary.runs,
        "first_seen": iso(summary.first_seen),
        "last_seen": iso(summary.last_seen),
        "latest": dict(summary.latest),
        "share_blocked": round(summary.share_blocked, 4),
        "latest_blockings": dict(summary.latest_blockings),
        "ever_interfered": summary.ever_interfered,
        "ever_blockings": dict(summary.ever_blockings),
    }


def _history_json(history: TargetHistory) -> dict[str, Any]:
    latest = history.latest
    return {
        "url": history.url,
        "asn": history.network.asn,
        "latest": {
            "verdict": latest.verdict,
            "blocking": latest.blocking,
            "evidence": latest.evidence,
        },
        "episodes": [
            {
                "verdict": e.verdict,
                "blocking": e.blocking,
                "evidence": e.evidence,
                "first_seen": iso(e.first_seen),
                "last_seen": iso(e.last_seen),
                "runs": e.runs,
                "untimed": e.untimed,
            }
            for e in history.episodes
        ],
        "blocks": [
            {
                "verdict": b.verdict,
                "blockings": list(b.blockings),
                "began": iso(b.began),
                "ended": iso(b.ended),
                "last_seen": iso(b.last_seen),
            }
            for b in history.blocks
        ],
    }
