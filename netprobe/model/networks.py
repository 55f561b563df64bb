"""The network an address belongs to, as far as it is known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ASInfo",
]


@dataclass(frozen=True, slots=True)
class ASInfo:
    """The autonomous system announcing an address, as far as it is known."""

    asn: int | None
    prefix: str | None
    """The most specific announced prefix holding the address."""
    as_name: str | None
    cc: str | None
    """The AS's country as registered (not a geolocation of the address)."""
    source: Literal["pyasn", "cymru", "override", "none"]
    """Where the answer came from; ``none`` exactly when ``asn`` is None."""
    note: str | None = None
    """Why ``asn`` is None, in a few words; never quotes the address."""
