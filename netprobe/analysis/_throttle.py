"""Throttling: a page that arrives, but slowly, for its name only.

A policer (Russia's 2021 throttling of Twitter: connections whose ClientHello named the
site were held to ~130 kbit/s) leaves two signs that chance and congestion do not: the
slowness follows the *name* (the same address, asked with an unrelated SNI or Host,
answers at full speed), and the rate sits on a *plateau* (a policer holds it flat,
while congestion and loss make it vary and stall). A slow path slows every name alike:
that is not throttling, and the evidence says so.

The measurement downloads the page again, interleaved with an unrelated name, only when
its first download looked slow (:func:`looks_slow`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Final

from netprobe.analysis._common import CONFIRMING_ATTEMPTS
from netprobe.model.observations import HTTPObservation
from netprobe.model.results import Analysis, Blocking

SLOW_HANDSHAKE_MS: Final = 2000.0
"""A TLS handshake (with its TCP connect) this long or longer looks slow."""
SLOW_RATE: Final = 250_000.0
"""A download slower than this (bytes per second: 2 Mbit/s) looks slow…"""
RATE_MIN_BYTES: Final = 32 * 1024
"""…once at least this much of the body has come (a short page shows no rate)."""
RATE_BYTES: Final = 1024 * 1024
"""The speed samples download this much at most (a policer's burst allowance can be a
second or two of its rate: enough must follow it to read the level)…"""
RATE_SECONDS: Final = 5.0
"""…or for this long, whichever comes first."""
RATIO: Final = 4.0
"""How many times faster the unrelated name must be, on every attempt."""
PLATEAU_SPREAD: Final = 0.3
"""On a plateau, the rate of every second-long stretch of the download is within this
share of their mean (see :func:`plateau`)."""
SAME_RATE: Final = 0.25
"""Repeated downloads held by one policer agree on their rate within this share."""

_LEVEL_MIN_MS: Final = 1000.0
_STRETCH_MS: Final = 1000.0
_STRETCHES: Final = 3


def transfer_rate(transfer: Sequence[tuple[float, int]]) -> float | None:
    """Bytes per second from the first byte to the last; None with fewer than two samples."""
    if len(transfer) < 2:
        return None
    (t_first, b_first), (t_last, b_last) = transfer[0], transfer[-1]
    return (b_last - b_first) / max((t_last - t_first) / 1000, 0.01)


def level(transfer: Sequence[tuple[float, int]]) -> float | None:
    """The rate (bytes per second) of a download past its first fifth (TCP's slow start, a
    policer's burst allowance); None when it lasted under a second."""
    if len(transfer) < 2:
        return None
    start, end = transfer[0][0], transfer[-1][0]
    if end - start < _LEVEL_MIN_MS:
        return None
    kept = [sample for sample in transfer if sample[0] >= start + (end - start) / 5]
    if len(kept) < 2 or kept[-1][0] <= kept[0][0]:
        return None
    return (kept[-1][1] - kept[0][1]) / ((kept[-1][0] - kept[0][0]) / 1000)


def plateau(transfer: Sequence[tuple[float, int]]) -> float | None:
    """The rate of a download held level, as by a policer; None when it varies (congestion,
    competing flows, irregular bursts) or too little of it was seen to tell.

    Past the first fifth, the download is cut, at arrivals, into stretches of a second
    or more: at least three, none off their mean by more than :data:`PLATEAU_SPREAD`.
    A second is the scale a policer holds: below it, its download comes in steps (a TLS
    record of 16 KiB a second at 128 kbit/s) and in the dips of TCP recovering from
    the policer's drops."""
    rates = _stretches(transfer)
    if len(rates) < _STRETCHES or _varied(rates):
        return None
    return level(transfer)


def varies(transfer: Sequence[tuple[float, int]]) -> bool:
    """Whether a download is seen to change its rate (a plateau too short to see is not)."""
    rates = _stretches(transfer)
    return len(rates) >= _STRETCHES and _varied(rates)


def _stretches(transfer: Sequence[tuple[float, int]]) -> list[float]:
    if level(transfer) is None:
        return []
    start, end = transfer[0][0], transfer[-1][0]
    kept = [sample for sample in transfer if sample[0] >= start + (end - start) / 5]
    rates: list[float] = []
    begin = kept[0]
    for sample in kept[1:]:
        if sample[0] - begin[0] >= _STRETCH_MS:
            rates.append((sample[1] - begin[1]) / ((sample[0] - begin[0]) / 1000))
            begin = sample
    return rates


def _varied(rates: Sequence[float]) -> bool:
    mean = statistics.fmean(rates)
    return mean <= 0 or any(abs(rate - mean) > PLATEAU_SPREAD * mean for rate in rates)


def looks_slow(exchange: HTTPObservation) -> bool:
    """Whether a page's first download looked slow enough to be downloaded again, beside an
    unrelated name, to find out why (the documented rule: a handshake of 2 s or more, or
    at least 32 KiB arriving at under 2 Mbit/s)."""
    if exchange.status is None or exchange.address is None:
        return False
    if exchange.handshake_ms is not None and exchange.handshake_ms >= SLOW_HANDSHAKE_MS:
        return True
    rate = transfer_rate(exchange.transfer)
    received = exchange.transfer[-1][1] if exchange.transfer else 0
    return rate is not None and received >= RATE_MIN_BYTES and rate < SLOW_RATE


def throttle_rule(obs_http: Sequence[HTTPObservation], final: HTTPObservation) -> Analysis | None:
    """``throttled`` when the speed samples of ``final`` (the page the chain ended on) show
    its name held back; None when there are none, or nothing is held back by name."""
    named = [final] + [h for h in obs_http if h.purpose == "rate" and h.url == final.url]
    unrelated = [h for h in obs_http if h.purpose == "rate_innocuous" and h.url == final.url]
    if not unrelated:
        return None
    return _handshakes(final, named, unrelated) or _downloads(final, named, unrelated)


def _handshakes(
    final: HTTPObservation, named: list[HTTPObservation], unrelated: list[HTTPObservation]
) -> Analysis | None:
    mine = [h.handshake_ms for h in named]
    theirs = [h.handshake_ms for h in unrelated]
    if not mine or not theirs or None in mine or None in theirs:
        return None
    slow = [m for m in mine if m is not None]
    fast = [t for t in theirs if t is not None]
    if min(slow) < SLOW_HANDSHAKE_MS or min(slow) < RATIO * max(fast):
        return None
    steady = len(slow) >= CONFIRMING_ATTEMPTS and _agree(slow)
    said = (
        f"TLS handshake {_seconds(slow)} with SNI {final.host}, {_seconds(fast)} with SNI "
        f"{_other_name(unrelated)} on {final.address}"
    )
    return _verdict("tls.throttled", said, len(slow), steady)


def _downloads(
    final: HTTPObservation, named: list[HTTPObservation], unrelated: list[HTTPObservation]
) -> Analysis | None:
    mine = [transfer_rate(h.transfer) for h in named]
    theirs = [transfer_rate(h.transfer) for h in unrelated]
    if None in mine or None in theirs:
        return None
    slow = [m for m in mine if m is not None]
    fast = [t for t in theirs if t is not None]
    if max(slow) * RATIO > min(fast):
        return None
    # A policer holds every download at one level. Within one download, TCP recovering
    # from the policer's drops can pause for a moment (a second-long stretch then reads
    # low): one download seen to vary is allowed, not two (congestion moves them all).
    levels = [level(h.transfer) for h in named]
    held = [found for found in levels if found is not None]
    steady = (
        len(held) == len(named) >= CONFIRMING_ATTEMPTS
        and _agree(held)
        and sum(varies(h.transfer) for h in named) <= 1
    )
    name = "SNI" if final.url.startswith("https:") else "Host"
    shape = f", steady at {_rates(held)}: a policer" if steady else ", not steady on every attempt"
    said = (
        f"body {_rates(slow)} with {name} {final.host}, {_rates(fast)} with {name} "
        f"{_other_name(unrelated)} on {final.address}{shape}"
    )
    return _verdict("http.throttled", said, len(slow), steady)


def _verdict(blocking: Blocking, said: str, attempts: int, steady: bool) -> Analysis:
    if steady:
        return Analysis(
            "blocked",
            blocking,
            f"{said} ({attempts} of {attempts} attempts)",
            True,
        )
    return Analysis(
        "anomaly",
        blocking,
        f"{said} ({attempts} attempts; not the same steady pattern on "
        f"{CONFIRMING_ATTEMPTS}: could be congestion)",
    )


def slow_path_note(obs_http: Sequence[HTTPObservation], final: HTTPObservation) -> str | None:
    """When the speed samples show every name equally slow: a sentence that says so (a slow
    path to the address, not throttling of the name)."""
    unrelated = [h for h in obs_http if h.purpose == "rate_innocuous" and h.url == final.url]
    mine, theirs = transfer_rate(final.transfer), [transfer_rate(h.transfer) for h in unrelated]
    known = [t for t in theirs if t is not None]
    if mine is None or not known or max(known) >= RATIO * mine:
        return None
    return (
        f"downloads from {final.address} are slow for every name ({_rates([mine])} with "
        f"{final.host}, {_rates(known)} with {_other_name(unrelated)}): a slow path, not "
        "throttling of this name"
    )


def _agree(values: Sequence[float]) -> bool:
    middle = statistics.median(values)
    return middle > 0 and all(abs(v - middle) <= SAME_RATE * middle for v in values)


def _other_name(unrelated: Sequence[HTTPObservation]) -> str:
    first = unrelated[0]
    return first.sni or first.host


def _seconds(values: Sequence[float]) -> str:
    low, high = min(values) / 1000, max(values) / 1000
    return f"{low:.2f} s" if round(low, 2) == round(high, 2) else f"{low:.2f}-{high:.2f} s"


def _rates(values: Sequence[float]) -> str:
    """``131 kbit/s``, or a range in one unit: ``128-134 kbit/s``, ``31.9-38.0 Mbit/s``."""
    low, high = min(values) * 8, max(values) * 8
    scale, unit, digits = (1e6, "Mbit/s", 1) if high >= 1e6 else (1e3, "kbit/s", 0)
    first, last = f"{low / scale:.{digits}f}", f"{high / scale:.{digits}f}"
    return f"{first} {unit}" if first == last else f"{first}-{last} {unit}"
