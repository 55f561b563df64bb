"""The TCP rules: connects to the addresses DNS gave."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

from netprobe.analysis._common import CONFIRMING_ATTEMPTS, NO_CONTROL, at_hop
from netprobe.model.addresses import is_address
from netprobe.model.observations import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    GENERIC_TIMEOUT,
    HOST_UNREACHABLE,
    NETWORK_UNREACHABLE,
    Observations,
    TCPObservation,
)
from netprobe.model.results import (
    Analysis,
    Blocking,
)


def endpoint_addresses(obs: Observations, host: str) -> tuple[frozenset[str], frozenset[str]]:
    """The local and control addresses of ``host``; an address stands for itself in both."""
    if is_address(host):
        return frozenset({host}), frozenset({host})
    local = frozenset(
        a for d in obs.dns if d.domain == host and d.role == "local" for a in d.addresses
    )
    control = frozenset(
        a for d in obs.dns if d.domain == host and d.role == "control" for a in d.addresses
    )
    return local, control


_TCP_FAILURE_BLOCKING: Final[dict[str, Blocking]] = {
    GENERIC_TIMEOUT: "tcp.timeout",
    CONNECTION_REFUSED: "tcp.refused",
    HOST_UNREACHABLE: "tcp.refused",
    NETWORK_UNREACHABLE: "tcp.refused",
    CONNECTION_RESET: "tcp.reset",
}


def tcp_rule(
    attempts: Sequence[TCPObservation], host: str, port: int, hop: int, control_seen: bool
) -> Analysis | None:
    if not attempts or any(t.failure is None for t in attempts):
        return None
    failures = sorted({t.failure or "" for t in attempts})
    blocking: Blocking = next(
        (
            _TCP_FAILURE_BLOCKING[f]
            for f in (
                CONNECTION_REFUSED,
                CONNECTION_RESET,
                GENERIC_TIMEOUT,
                HOST_UNREACHABLE,
                NETWORK_UNREACHABLE,
            )
            if f in failures
        ),
        "tcp.timeout",
    )
    where = ", ".join(sorted({f"{t.address}:{port}" for t in attempts})[:3])
    if is_address(host):
        context = ""
    elif control_seen:
        context = f" although DNS for {host} agrees with control"
    else:
        context = f" ({NO_CONTROL} for {host})"
    per_address = Counter(t.address for t in attempts)
    return Analysis(
        "anomaly",
        blocking,
        at_hop(f"TCP connect to {where} failed ({', '.join(failures)}){context}", hop, host),
        confirmed=min(per_address.values()) >= CONFIRMING_ATTEMPTS,
    )
