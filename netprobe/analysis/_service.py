"""A service's verdict from its parts' endpoints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from netprobe.analysis._common import FAILED
from netprobe.model.results import (
    Analysis,
    PartAnalysis,
    ServiceAnalysis,
    ServiceResult,
    TargetResult,
    Verdict,
)
from netprobe.model.targets import Service


def analyse_service(parts: Sequence[tuple[str, Sequence[Analysis]]]) -> ServiceAnalysis:
    """Judge a service by its parts: ``(part name, its endpoints' analyses)`` each.

    A part works when any of its endpoints is accessible (an app falls back from one
    port or host to the next); it fails when its endpoints fail (``blocked`` if one of
    them is). The service is ``blocked`` when at least one part is conclusively blocked
    and none works, an ``anomaly`` when parts fail without that (some work, or the
    failures are unconfirmed), ``accessible`` when none fails. Parts that cannot be
    judged (down at the control view too, local errors) count for neither. Its blocking
    is the commonest among the failed endpoints.
    """
    judged = tuple(PartAnalysis(name, _part_verdict(results)) for name, results in parts)
    failed = [p for p in judged if p.verdict in FAILED]
    working = sum(p.verdict == "accessible" for p in judged)
    verdicts = {p.verdict for p in judged}
    if not judged:
        return ServiceAnalysis("error", None, "the service has no parts", judged)
    if verdicts == {"network_down"}:
        return ServiceAnalysis("network_down", None, "this network has no connectivity", judged)
    if not failed:
        if working:
            said = f"{working} of {len(judged)} parts work"
            return ServiceAnalysis("accessible", None, said, judged)
        only: Verdict = "site_down" if verdicts == {"site_down"} else "error"
        return ServiceAnalysis(
            only,
            None,
            "no part could be reached from the control view either"
            if only == "site_down"
            else "no part could be measured",
            judged,
        )
    causes = Counter(
        a.blocking
        for (_, results), part in zip(parts, judged, strict=True)
        if part.verdict in FAILED
        for a in results
        if a.blocking is not None
    )
    blocking = causes.most_common(1)[0][0] if causes else None
    listed = ", ".join(f"{p.name} ({p.verdict})" for p in failed[:6])
    more = f" and {len(failed) - 6} more" if len(failed) > 6 else ""
    unknown = len(judged) - len(failed) - working
    aside = f"; {unknown} could not be judged ({_unjudged(judged)})" if unknown else ""
    if not working and any(p.verdict == "blocked" for p in failed):
        said = f"no part works: {listed}{more} fail{aside}"
        return ServiceAnalysis("blocked", blocking, said, judged)
    if not working:
        said = f"no part works, but no failure is conclusive: {listed}{more}{aside}"
        return ServiceAnalysis("anomaly", blocking, said, judged)
    said = f"{len(failed)} of {len(judged)} parts fail: {listed}{more}; {working} work{aside}"
    return ServiceAnalysis("anomaly", blocking, said, judged)


def _unjudged(parts: Sequence[PartAnalysis]) -> str:
    return ", ".join(
        f"{p.name}: {p.verdict}" for p in parts if p.verdict not in (*FAILED, "accessible")
    )


def _part_verdict(results: Sequence[Analysis]) -> Verdict:
    verdicts = {a.verdict for a in results}
    for verdict in ("accessible", "blocked", "anomaly", "network_down", "site_down"):
        if verdict in verdicts:
            return verdict
    return "error"


def judge_services(
    services: Iterable[Service], results: Iterable[TargetResult]
) -> list[ServiceResult]:
    """Each service's verdict from its endpoints' results (services none of whose endpoints
    was measured are left out)."""
    by_url = {r.target.url: r.analysis for r in results}
    judged = []
    for service in services:
        parts = [
            (part.name, [by_url[url] for url in part.endpoints if url in by_url])
            for part in service.parts
        ]
        if any(analyses for _, analyses in parts):
            measured = [(name, analyses) for name, analyses in parts if analyses]
            judged.append(ServiceResult(service, analyse_service(measured)))
    return judged
