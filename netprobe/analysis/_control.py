"""OONI's control rules: what the control proxy saw of the target."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from netprobe.analysis._common import FAILED
from netprobe.model.observations import (
    HTTPObservation,
    Observations,
)
from netprobe.model.results import (
    Analysis,
)

# A proxy answers these itself when it cannot reach the site.
_GATEWAY_ERRORS: Final = frozenset({502, 504})


def control_page(obs: Observations) -> HTTPObservation | None:
    """The last response through the control proxy, if the proxy was used."""
    control = [h for h in obs.http if h.purpose == "control"]
    return max(control, key=lambda h: h.hop) if control else None


def _control_view(obs: Observations) -> tuple[str | None, str] | None:
    """What the control proxy saw: (failure or None, what it saw), or None without one."""
    tunnel = next((t for t in obs.tcp if t.proxied), None)
    if tunnel is not None:
        return tunnel.failure, f"opens {tunnel.address}:{tunnel.port}"
    control = control_page(obs)
    if control is None:
        return None
    if control.status is not None and control.status not in _GATEWAY_ERRORS:
        return None, f"answers HTTP {control.status}"
    return control.failure or f"HTTP {control.status} from the proxy", ""


def with_control(obs: Observations, local: Analysis) -> Analysis:
    """OONI's control rules: a failure seen only here, on every attempt, is blocking; seen
    through the control proxy too, the site is down."""
    view = _control_view(obs)
    if view is None or local.verdict not in FAILED or local.blocking == "http.diff":
        return local
    failure, seen = view
    if failure is not None:
        return Analysis(
            "site_down",
            None,
            f"{local.evidence}; it fails through the control proxy too ({failure})",
        )
    if local.confirmed:
        return replace(
            local, verdict="blocked", evidence=f"{local.evidence}; the control proxy {seen}"
        )
    return replace(
        local,
        evidence=f"{local.evidence}; the control proxy {seen}, but the failure here was not "
        "seen on every attempt: could be chance",
    )
