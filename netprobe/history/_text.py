"""Short texts shared by the summary's table and its HTML page, so that both read alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

__all__ = ["clock", "counts", "share"]


def clock(moment: datetime | None, dated: bool) -> str:
    """A UTC time for people: ``09:00``, with the date when a summary spans several days."""
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M" if dated else "%H:%M")


def share(count: int, total: int) -> str:
    """``3 (25%)``."""
    return f"{count} ({count / total:.0%})" if total else str(count)


def counts(by_name: Mapping[str, int]) -> str:
    """``tls.reset 3, dns.nxdomain 1``."""
    return ", ".join(f"{name} {count}" for name, count in by_name.items())
