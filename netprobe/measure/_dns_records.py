"""Ask one server for the records of one name, of any type and class, as text.

    answer = await ask_records("whoami.cloudflare", "TXT", server, rdclass="CH", timeout=4)
    answer.records  # ("198.18.5.5",) -- TXT strings joined, A/AAAA as addresses

:mod:`netprobe.measure.steps.dns` measures A/AAAA lookups for the analysis and records every
detail; this is the plain client the ASN and public-IP services need (TXT, class CH), over
the same transports. Failures are OONI strings with no query name in them: the query names
of Team Cymru's service spell out the address being looked up, which may be the probe's own.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netprobe.measure.steps.dns import ResolverSpec

__all__ = ["RecordsAnswer", "ask_records"]


@dataclass(frozen=True, slots=True)
class RecordsAnswer:
    records: tuple[str, ...]
    """TXT records as their strings joined, other types in presentation format."""
    failure: str | None
    """Why there are no records: an OONI failure string (``dns_nxdomain_error``...)."""


async def ask_records(
    name: str,
    rdtype: str,
    server: ResolverSpec,
    *,
    rdclass: str = "IN",
    timeout: float,
    verify: ssl.SSLContext | None = None,
) -> RecordsAnswer:
    """The ``rdtype`` records of ``name`` in the answer of ``server``; never raises.

    ``verify`` checks DoT and DoH servers (default: the system's trusted CAs via
    :func:`~netprobe.measure.steps.tls.make_verify_context`).
    """
    import dns.message
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype

    from netprobe.measure.steps.dns import exchange
    from netprobe.model.observations import (
        DNS_NO_ANSWER,
        DNS_NXDOMAIN,
        DNS_REFUSED,
        DNS_SERVER_MISBEHAVING,
        DNS_SERVFAIL,
    )

    try:
        query = dns.message.make_query(name, rdtype, rdclass)
        reply = await exchange(query, server, timeout=timeout, verify=verify)
    except Exception as exc:
        return RecordsAnswer((), _failure(exc))
    rcode = reply.rcode()
    if rcode != dns.rcode.NOERROR:
        failures = {
            dns.rcode.NXDOMAIN: DNS_NXDOMAIN,
            dns.rcode.SERVFAIL: DNS_SERVFAIL,
            dns.rcode.REFUSED: DNS_REFUSED,
        }
        return RecordsAnswer((), failures.get(rcode, DNS_SERVER_MISBEHAVING))
    wanted = dns.rdatatype.from_text(rdtype)
    records = tuple(
        _text(rdata)
        for rrset in reply.answer
        if rrset.rdtype == wanted and rrset.rdclass == dns.rdataclass.from_text(rdclass)
        for rdata in rrset
    )
    return RecordsAnswer(records, None if records else DNS_NO_ANSWER)


def _text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT: one record may be split in several <character-string>s
        return b"".join(strings).decode("utf-8", errors="replace")
    return str(rdata)


def _failure(exc: Exception) -> str:
    import dns.exception

    from netprobe.measure.steps._errors import failure_from_exception
    from netprobe.measure.steps.dns import ServerMisbehavingError
    from netprobe.model.observations import DNS_SERVER_MISBEHAVING

    # No dnspython timeout is used (asyncio's is), so its exceptions are about the reply.
    if isinstance(exc, ServerMisbehavingError | dns.exception.DNSException):
        return DNS_SERVER_MISBEHAVING
    failure = failure_from_exception(exc)
    # The text of an unknown exception may quote the query name: keep only its type.
    if failure.startswith("unknown_failure"):
        return f"unknown_failure: {type(exc).__name__}"
    return failure
