"""Results as OONI measurements, so that netprobe's data joins OONI's.

One result becomes one measurement in OONI's base data format (ooni/spec
``df-000-base``, data format 0.2.0) with its steps in OONI's test-key formats:
``queries`` (``df-002-dnst``), ``tcp_connect`` (``df-005-tcpconnect``),
``tls_handshakes`` (``df-006-tlshandshake``) and ``requests`` (``df-001-httpt``,
newest first), failure strings as in ``df-007-errors`` (netprobe records OONI's
already). The schema it is checked against ships beside this module
(``schema/ooni-measurement.json``).

The test is not OONI's Web Connectivity: the control view comes from DoH resolvers and
a proxy, not OONI's test helper, and netprobe's verdicts follow their own rules. So the
test name is netprobe's own (``netprobe_web``, ``netprobe_endpoint``), ``blocking`` and
``accessible`` are mapped to OONI's vocabulary as a convenience, and netprobe's verdict,
blocking type and evidence travel under ``x_netprobe_*`` keys. The probe's address is
written as OONI redacts it (``127.0.0.1``); nothing is uploaded anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from netprobe import __version__
from netprobe.model.networks import ASInfo
from netprobe.model.observations import (
    DNSObservation,
    HTTPObservation,
    Observations,
    TCPObservation,
    TLSObservation,
)
from netprobe.model.results import Analysis, TargetResult
from netprobe.output.report import ProbeInfo, bytes_to_json

__all__ = ["DATA_FORMAT_VERSION", "load_ooni_schema", "ooni_measurement", "report_id"]

DATA_FORMAT_VERSION: Final = "0.2.0"
TEST_VERSION: Final = "0.1.0"
REDACTED_IP: Final = "127.0.0.1"
"""What OONI writes in place of the probe's address."""

# OONI's Web Connectivity "blocking" values, by netprobe's blocking family.
_OONI_BLOCKING: Final = {
    "dns": "dns",
    "tcp": "tcp_ip",
    "tls": "http-failure",
    "http": "http-failure",
}
_OONI_DIFF: Final = frozenset({"http.blockpage", "http.diff"})


def report_id(started_at: datetime, probe: ProbeInfo, test_name: str) -> str:
    """An OONI-style report id, the same for every result of one run:
    ``20261129T090000Z_netprobeweb_KZ_9198_n1_<16 hex>``."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    seed = f"{stamp}|{probe.asn}|{probe.cc}|{probe.resolver}".encode()
    tail = hashlib.sha256(seed).hexdigest()[:16]
    return f"{stamp}_{test_name.replace('_', '')}_{probe.cc or 'ZZ'}_{probe.asn or 0}_n1_{tail}"


def ooni_measurement(
    result: TargetResult, probe: ProbeInfo, started_at: datetime, analysis: Analysis
) -> dict[str, Any]:
    """One result as an OONI measurement; ``analysis`` is the verdict to carry (the one the
    saved report gave)."""
    obs = result.observations
    test_name = "netprobe_endpoint" if obs.scheme in ("tcp", "tls") else "netprobe_web"
    start = started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    accessible, blocking = _ooni_outcome(analysis)
    return {
        "annotations": {"engine_name": "netprobe", "engine_version": __version__},
        "data_format_version": DATA_FORMAT_VERSION,
        "input": result.target.url,
        "measurement_start_time": start,
        "probe_asn": f"AS{probe.asn or 0}",
        "probe_cc": probe.cc or "ZZ",
        "probe_ip": REDACTED_IP,
        "probe_network_name": probe.as_name,
        "report_id": report_id(started_at, probe, test_name),
        "software_name": "netprobe",
        "software_version": __version__,
        "test_name": test_name,
        "test_runtime": _runtime(obs),
        "test_start_time": start,
        "test_version": TEST_VERSION,
        "test_keys": {
            "queries": [_query(q, result.networks) for q in obs.dns if q.role == "local"],
            "tcp_connect": [_connect(t) for t in obs.tcp if not t.proxied],
            "tls_handshakes": [_handshake(t) for t in obs.tls],
            "requests": [_request(h) for h in sorted(obs.http, key=_ended, reverse=True)],
            "accessible": accessible,
            "blocking": blocking,
            "x_netprobe_verdict": analysis.verdict,
            "x_netprobe_blocking": analysis.blocking,
            "x_netprobe_evidence": analysis.evidence,
            "x_netprobe_list": result.target.list_name,
            "x_netprobe_category": result.target.category,
        },
    }


def _ooni_outcome(analysis: Analysis) -> tuple[bool | None, str | bool | None]:
    """OONI's ``accessible`` and ``blocking`` for netprobe's verdict."""
    verdict, blocking = analysis.verdict, analysis.blocking
    if verdict == "accessible" or (blocking or "").endswith(".throttled"):
        return True, False  # OONI has no word for "slowed down": x_netprobe_* says so
    if verdict == "site_down":
        return False, False
    if verdict in ("blocked", "anomaly") and blocking is not None:
        if blocking in _OONI_DIFF:
            return False, "http-diff"
        return False, _OONI_BLOCKING.get(blocking.partition(".")[0])
    return None, None


def _seconds(ms: float | None) -> float:
    return round((ms or 0.0) / 1000, 6)


def _ended(step: DNSObservation | TCPObservation | TLSObservation | HTTPObservation) -> float:
    return step.t0 + (step.duration_ms or 0.0)


def _runtime(obs: Observations) -> float:
    steps: Iterable[DNSObservation | TCPObservation | TLSObservation | HTTPObservation] = (
        *obs.dns,
        *obs.tcp,
        *obs.tls,
        *obs.http,
    )
    return _seconds(max((_ended(s) for s in steps), default=0.0))


def _query(query: DNSObservation, networks: Mapping[str, ASInfo]) -> dict[str, Any]:
    transport, _, rest = query.resolver.partition("://")
    answers: list[dict[str, Any]] = [
        {"answer_type": "CNAME", "hostname": name, "ttl": query.ttl} for name in query.cnames
    ]
    for address in query.addresses:
        info = networks.get(address)
        answer: dict[str, Any] = {
            "answer_type": "AAAA" if ":" in address else "A",
            "ttl": query.ttl,
            "asn": info.asn if info is not None and info.asn is not None else 0,
            "as_org_name": info.as_name if info is not None else None,
        }
        answer["ipv6" if ":" in address else "ipv4"] = address
        answers.append(answer)
    return {
        "answers": answers or None,
        "engine": {"https": "doh", "tls": "dot"}.get(transport, transport),
        "failure": query.failure,
        "hostname": query.domain,
        "query_type": query.query_type,
        "rcode": _rcode(query.rcode),
        "resolver_address": rest.partition("#")[0] if transport in ("udp", "tcp") else rest,
        "resolver_hostname": None,
        "resolver_port": None,
        "t0": _seconds(query.t0),
        "t": _seconds(_ended(query)),
    }


def _rcode(name: str | None) -> int | None:
    """The reply's code as the number OONI writes (netprobe keeps its name: NXDOMAIN)."""
    if name is None:
        return None
    import dns.rcode

    try:
        return int(dns.rcode.from_text(name))
    except (ValueError, dns.rcode.UnknownRcode):
        return None


def _connect(attempt: TCPObservation) -> dict[str, Any]:
    return {
        "ip": attempt.address,
        "port": attempt.port,
        "status": {"success": attempt.failure is None, "failure": attempt.failure},
        "t0": _seconds(attempt.t0),
        "t": _seconds(_ended(attempt)),
    }


def _handshake(attempt: TLSObservation) -> dict[str, Any]:
    address = f"[{attempt.address}]" if ":" in attempt.address else attempt.address
    return {
        "address": f"{address}:{attempt.port}",
        "cipher_suite": attempt.cipher or "",
        "failure": attempt.failure,
        "negotiated_protocol": "",
        "no_tls_verify": attempt.purpose == "innocuous",
        # OONI keeps each certificate's DER; netprobe keeps who signed whom and a hash.
        "peer_certificates": [],
        "server_name": attempt.sni,
        "tls_version": attempt.version or "",
        "t0": _seconds(attempt.t0),
        "t": _seconds(_ended(attempt)),
        "x_netprobe_chain": [
            {"subject": c.subject, "issuer": c.issuer, "sha256": c.sha256} for c in attempt.chain
        ],
    }


def _endpoint(exchange: HTTPObservation) -> str | None:
    if exchange.address is None:
        return None
    parts = urlsplit(exchange.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{exchange.address}]" if ":" in exchange.address else exchange.address
    return f"{host}:{port}"


def _request(exchange: HTTPObservation) -> dict[str, Any]:
    response: dict[str, Any] | None = None
    if exchange.status is not None:
        # Only what netprobe kept of the body: the excerpt the fingerprints read.
        kept = exchange.body_excerpt or b""
        response = {
            "code": exchange.status,
            "headers": dict(exchange.headers),
            "headers_list": [list(pair) for pair in exchange.headers],
            "body": bytes_to_json(kept) if kept else None,
            "body_is_truncated": exchange.body_truncated or len(kept) < (exchange.body_length or 0),
        }
    return {
        "failure": exchange.failure,
        # As probe-cli writes it: the endpoint the request went to (OONI's pipeline
        # takes an HTTP observation's address and port from it).
        "network": "tcp",
        "address": _endpoint(exchange),
        "request": {
            "method": "GET",
            "url": exchange.url,
            "headers": {"Host": exchange.host},
            "body": "",
            "tor": {"is_tor": False, "exit_ip": None, "exit_name": None},
            "x_transport": "tcp",
        },
        "response": response,
        "t0": _seconds(exchange.t0),
        "t": _seconds(_ended(exchange)),
        "x_netprobe_purpose": exchange.purpose,
    }


def load_ooni_schema() -> dict[str, Any]:
    """The JSON Schema an exported measurement is checked against (written from ooni/spec)."""
    import json

    text = resources.files("netprobe.output").joinpath("schema/ooni-measurement.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema
