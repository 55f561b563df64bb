"""Step timing: when a step started, relative to the target's measurement, and for how long."""

from __future__ import annotations

import time

__all__ = ["Stopwatch"]


class Stopwatch:
    """Started on creation.

    ``t0`` is the start in milliseconds after ``t_origin`` (a ``time.monotonic()`` value);
    ``elapsed_ms()`` is the time since then::

        clock = Stopwatch(t_origin)
        ...
        TCPObservation(..., t0=clock.t0, duration_ms=clock.elapsed_ms(), ...)
    """

    __slots__ = ("started", "t0")

    def __init__(self, t_origin: float) -> None:
        self.started = time.monotonic()
        """The start, as a ``time.monotonic()`` value."""
        self.t0 = (self.started - t_origin) * 1000

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000
