"""Measurement: what is done on the network, step by step.

- ``steps/``: one async function per network step (``dns``, ``tcp``, ``tls``, ``http``),
  each returning an observation record;
- ``runner``: every target's steps in order, targets side by side, judged as they come;
- ``session``: one run with the probe's own network found beside it; ``watch`` repeats it;
- ``targets``: target lists (files, built-in lists, services);
- ``identity``: the probe's public address and AS; ``asn/``: the AS of any address;
- ``vantage``: whether the run measures the network it thinks it does (stub resolver, VPN).

The names below load their module on first use, so that importing one step does not
import them all (httpx, dnspython)::

    from netprobe.measure import ProbeOptions, parse_resolver, parse_target, probe
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netprobe.measure.runner import ProbeOptions, probe
    from netprobe.measure.steps.dns import parse_resolver
    from netprobe.measure.steps.tls import make_verify_context
    from netprobe.measure.targets import load_builtin, load_file
    from netprobe.model.targets import parse_target

__all__ = [
    "ProbeOptions",
    "load_builtin",
    "load_file",
    "make_verify_context",
    "parse_resolver",
    "parse_target",
    "probe",
]

_HOMES = {
    "ProbeOptions": "netprobe.measure.runner",
    "probe": "netprobe.measure.runner",
    "parse_resolver": "netprobe.measure.steps.dns",
    "make_verify_context": "netprobe.measure.steps.tls",
    "load_builtin": "netprobe.measure.targets",
    "load_file": "netprobe.measure.targets",
    "parse_target": "netprobe.model.targets",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
