"""What a history is made of: one target's verdict on one network in one run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Network", "Observation", "by_asn"]


@dataclass(frozen=True, slots=True)
class Network:
    """Where results were measured from; histories are kept apart by ``asn`` alone."""

    asn: int | None
    as_name: str | None = None
    cc: str | None = None

    @property
    def short(self) -> str:
        """``AS9198``, or ``unknown network``."""
        return "unknown network" if self.asn is None else f"AS{self.asn}"

    @property
    def label(self) -> str:
        """``AS9198 KAZTELECOM-AS (KZ)``: the short name with what else is known."""
        name = f" {self.as_name}" if self.as_name else ""
        country = f" ({self.cc})" if self.cc else ""
        return f"{self.short}{name}{country}"


@dataclass(frozen=True, slots=True)
class Observation:
    """One target's verdict on one network in one run."""

    url: str
    network: Network
    at: datetime | None
    """When the run started (UTC); None for a result stream, which carries no time."""
    verdict: str
    blocking: str | None
    evidence: str | None
    run: str | None
    """The watch run id; a report's ``started_at``; None for a result stream."""


def by_asn(asn: int | None) -> tuple[bool, int]:
    """Sort key: networks by AS number, the unknown one last."""
    return asn is None, asn or 0
