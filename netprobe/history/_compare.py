"""Two vantage points side by side: per target, where their latest verdicts differ.

A side is what one ``netprobe compare`` argument held: usually one report, so one
network (two ISPs, or an in-country network and a control network abroad). Each
target's *latest* observation on a side counts, in the order :func:`summarize` uses
(by time; untimed after timed). Two outcomes differ when the verdict or the blocking
type does: the same site blocked by DNS on one ISP and by SNI on another is a
difference worth reading.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from netprobe.history._observation import by_asn
from netprobe.history._records import Network, Observation, iso, merge_networks, network_json

__all__ = [
    "COMPARISON_SCHEMA",
    "Comparison",
    "Side",
    "Status",
    "TargetComparison",
    "compare",
    "compare_sides",
    "comparison_to_json",
    "side_of",
]

COMPARISON_SCHEMA: Final = "netprobe.comparison/1"

Status = Literal["different", "only_a", "only_b", "same"]
_ORDER: Final[tuple[Status, ...]] = ("different", "only_a", "only_b", "same")


@dataclass(frozen=True, slots=True)
class TargetComparison:
    url: str
    status: Status
    a: Observation | None
    b: Observation | None
    sentence: str
    """``blocked on AS9198 (tls.reset), accessible on AS35168``."""


@dataclass(frozen=True, slots=True)
class Comparison:
    a_networks: tuple[Network, ...]
    b_networks: tuple[Network, ...]
    targets: tuple[TargetComparison, ...]
    """Differences first, then targets measured on one side only, then agreements;
    by URL within each."""

    @property
    def a_label(self) -> str:
        return _side_label(self.a_networks)

    @property
    def b_label(self) -> str:
        return _side_label(self.b_networks)

    @property
    def counts(self) -> dict[Status, int]:
        found = Counter(t.status for t in self.targets)
        return {status: found[status] for status in _ORDER}


@dataclass(frozen=True, slots=True)
class Side:
    """What counts of one side: the latest observation per URL, and the networks."""

    latest: Mapping[str, Observation]
    networks: tuple[Network, ...]
    """By ASN, unknown last; each with the name and country any observation gave."""


def compare(a: Iterable[Observation], b: Iterable[Observation]) -> Comparison:
    """Compare side ``a`` with side ``b`` (e.g. ``load_records([A]).observations``). Pure."""
    return compare_sides(side_of(a), side_of(b))


def compare_sides(a: Side, b: Side) -> Comparison:
    """The comparison of two sides an engine found: the part of :func:`compare` shared
    by every engine. Pure."""
    names = _Names(a.networks, b.networks)
    compared = []
    for url in a.latest.keys() | b.latest.keys():
        one, other = a.latest.get(url), b.latest.get(url)
        status = _status(one, other)
        compared.append(TargetComparison(url, status, one, other, names.sentence(one, other)))
    compared.sort(key=lambda t: (_ORDER.index(t.status), t.url))
    return Comparison(a.networks, b.networks, tuple(compared))


def side_of(observations: Iterable[Observation]) -> Side:
    """The latest observation per URL, and the side's networks."""
    latest: dict[str, Observation] = {}
    networks: dict[int | None, Network] = {}
    for obs in observations:
        known = latest.get(obs.url)
        if known is None or _not_earlier(obs, known):
            latest[obs.url] = obs
        networks[obs.network.asn] = merge_networks(networks.get(obs.network.asn), obs.network)
    return Side(latest, tuple(networks[asn] for asn in sorted(networks, key=by_asn)))


def _not_earlier(obs: Observation, known: Observation) -> bool:
    """Untimed observations rank after timed ones; between equals the one read last wins."""
    if obs.at is None:
        return True
    return known.at is not None and obs.at >= known.at


def _side_label(networks: tuple[Network, ...]) -> str:
    return ", ".join(n.label for n in networks) or "nothing"


def _status(a: Observation | None, b: Observation | None) -> Status:
    if a is None:
        return "only_b"
    if b is None:
        return "only_a"
    return "same" if (a.verdict, a.blocking) == (b.verdict, b.blocking) else "different"


class _Names:
    """Names the sides in sentences: by ASN, adding "in A"/"in B" when both sides hold
    the same network (a before/after pair, or two volunteers on one ISP)."""

    def __init__(self, a: tuple[Network, ...], b: tuple[Network, ...]) -> None:
        self._a, self._b = a, b
        self._ambiguous = {n.asn for n in a} & {n.asn for n in b}

    def _name(self, obs: Observation, side: str) -> str:
        return obs.network.short + (f" in {side}" if obs.network.asn in self._ambiguous else "")

    def _side(self, networks: tuple[Network, ...], side: str) -> str:
        names = " and ".join(n.short for n in networks) or side
        return names + (f" in {side}" if {n.asn for n in networks} & self._ambiguous else "")

    def sentence(self, a: Observation | None, b: Observation | None) -> str:
        if a is None and b is not None:
            return f"{_outcome(b, self._name(b, 'B'))}; not measured on {self._side(self._a, 'A')}"
        if b is None and a is not None:
            return f"{_outcome(a, self._name(a, 'A'))}; not measured on {self._side(self._b, 'B')}"
        assert a is not None and b is not None
        one, other = self._name(a, "A"), self._name(b, "B")
        if (a.verdict, a.blocking) == (b.verdict, b.blocking):
            return _outcome(a, f"{one} and {other}")
        return f"{_outcome(a, one)}, {_outcome(b, other)}"


def _outcome(obs: Observation, where: str) -> str:
    return f"{obs.verdict} on {where}" + (f" ({obs.blocking})" if obs.blocking else "")


def comparison_to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as a JSON document (``schema: "netprobe.comparison/1"``)::

    schema      "netprobe.comparison/1"
    a, b        {label, networks[] {asn, as_name, cc, label}}
    counts      {different, only_a, only_b, same}
    targets[]   url, status ("different" | "only_a" | "only_b" | "same"), sentence,
                a, b: null or {verdict, blocking, evidence, asn, at, run}
    """
    return {
        "schema": COMPARISON_SCHEMA,
        "a": {
            "label": comparison.a_label,
            "networks": [network_json(n) for n in comparison.a_networks],
        },
        "b": {
            "label": comparison.b_label,
            "networks": [network_json(n) for n in comparison.b_networks],
        },
        "counts": comparison.counts,
        "targets": [
            {
                "url": t.url,
                "status": t.status,
                "sentence": t.sentence,
                "a": _observation_json(t.a),
                "b": _observation_json(t.b),
            }
            for t in comparison.targets
        ],
    }


def _observation_json(obs: Observation | None) -> dict[str, Any] | None:
    if obs is None:
        return None
    return {
        "verdict": obs.verdict,
        "blocking": obs.blocking,
        "evidence": obs.evidence,
        "asn": obs.network.asn,
        "at": iso(obs.at),
        "run": obs.run,
    }
