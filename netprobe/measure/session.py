"""A measurement as `netprobe run` and `netprobe watch` make it.

A :class:`Plan` holds what a run needs (targets, probe options, how to find where we
measure from); :func:`measure` runs it once: the targets, and alongside them the
probe's own network (public IP, ASN), so that finding it costs no extra time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from netprobe.measure.asn import ASNResolver
from netprobe.measure.identity import ProbeIdentity, discover_probe
from netprobe.measure.runner import ProbeOptions, probe
from netprobe.model.results import RunResult, TargetResult
from netprobe.model.targets import Service, Target
from netprobe.output.report import ProbeInfo

__all__ = [
    "IDENTITY_TIMEOUT",
    "Plan",
    "measure",
    "probe_info",
    "report_options",
    "without_credentials",
]

log = logging.getLogger(__name__)

IDENTITY_TIMEOUT = 4.0
"""Most seconds each way of finding the public address may take."""


@dataclass(frozen=True, slots=True)
class Plan:
    targets: tuple[Target, ...]
    services: tuple[Service, ...]
    options: ProbeOptions
    networks: ASNResolver
    ip_services: tuple[str, ...] = ()
    """Echo URLs replacing the default ways of finding the public address."""
    asn_override: int | None = None
    cc_override: str | None = None
    include_ip: bool = False
    offline_identity: bool = False
    """Do not look for the public address (no echo service is contacted)."""
    notes: tuple[str, ...] = ()
    """What limits every run of this plan (a local DNS stub, a VPN), known before it."""
    country_list: bool = False
    """Also measure the downloaded test list of the country of the network measured
    (``-l country``): the network is then found before the targets are measured."""


async def measure(
    plan: Plan,
    run: RunResult,
    *,
    on_result: Callable[[TargetResult], None] | None = None,
    on_identity: Callable[[ProbeIdentity], None] | None = None,
) -> ProbeIdentity:
    """Measure every target into ``run`` and find where we measure from, side by side."""
    for note in plan.notes:
        log.warning("%s", note)
    run.notes.extend(plan.notes)
    finding = asyncio.ensure_future(_identity(plan))
    if plan.country_list:
        plan = _with_country_list(plan, await finding, run)
    if on_identity is not None:
        finding.add_done_callback(lambda done: done.cancelled() or on_identity(done.result()))
    await probe(plan.targets, plan.options, on_result=on_result, run=run, services=plan.services)
    if run.network_down and not finding.done():
        # Nothing answers from here: no echo service will either, so do not wait for them.
        finding.cancel()
        identity = ProbeIdentity(
            None, None, plan.asn_override, None, plan.cc_override,
            "public IP unknown: this network has no connectivity",
        )  # fmt: skip
        if on_identity is not None:
            on_identity(identity)
        return identity
    return await finding


def _with_country_list(plan: Plan, identity: ProbeIdentity, run: RunResult) -> Plan:
    """The plan with the test list of the network's country added (measured once); when
    there is no such list, the run goes on without it and its notes say why."""
    import netprobe.measure.testlists as testlists
    from netprobe.errors import TargetError
    from netprobe.measure.targets import dedupe

    if identity.cc is None:
        problem = "-l country: the country of this network is unknown (give it with --cc)"
    else:
        try:
            found, _ = testlists.load(identity.cc.lower())
        except TargetError as exc:
            problem = f"-l country: {exc}"
        else:
            return replace(plan, targets=tuple(dedupe([*plan.targets, *found])))
    log.warning("%s", problem)
    run.notes.append(problem)
    return plan


async def _identity(plan: Plan) -> ProbeIdentity:
    if plan.offline_identity and plan.asn_override is None:
        note = "public IP not looked up (--offline-identity): no echo service was contacted"
        return ProbeIdentity(None, None, None, None, plan.cc_override, note)
    return await discover_probe(
        ip_services=plan.ip_services or None,
        resolver=plan.networks,
        asn_override=plan.asn_override,
        cc_override=plan.cc_override,
        timeout=min(plan.options.timeout, IDENTITY_TIMEOUT),
        verify=plan.options.verify,
        routable=plan.options.routable,
    )


def probe_info(plan: Plan, identity: ProbeIdentity | None) -> ProbeInfo:
    """The report's ``probe``: the IP address only when the plan says to include it."""
    options = plan.options
    return ProbeInfo(
        resolver=str(options.resolver),
        control_resolvers=tuple(str(r) for r in options.control_resolvers),
        asn=identity.asn if identity else None,
        as_name=identity.as_name if identity else None,
        cc=identity.cc if identity else None,
        ip_method=identity.ip_method if identity else None,
        ip=identity.ip if identity and plan.include_ip else None,
        asn_note=identity.note if identity else "interrupted before this network was found",
    )


def report_options(plan: Plan, output_format: str) -> dict[str, Any]:
    """The report's ``options``: what shaped the run (never a proxy's credentials)."""
    proxy = plan.options.control_proxy
    return {
        "timeout": plan.options.timeout,
        "deadline": plan.options.deadline,
        "concurrency": plan.options.concurrency,
        "format": output_format,
        "control_proxy": without_credentials(proxy) if proxy else None,
    }


def without_credentials(url: str) -> str:
    """``url`` as it may be shown or written: no user name, no password."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
