"""Ask one server for the records of one name, of any type and class, as text.

    answer = await ask_records("whoami.cloudflare", "TXT", server, rdclass="CH", timeout=4)
    answer.records  # ("198.18.5.5",) -- TXT strings joined, A/AAAA as addresses

:mod:`netprobe.probe.dns` measures A/AAAA lookups for the analysis and records every
detail; this is the plain client the ASN and public-IP services need (TXT, class CH), over
the same transports. Failures are OONI strings with no query name in them: the query names
of Team Cymru's service spell out the address being looked up, which may be the probe's own.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dns.message

    from netprobe.probe.dns import ResolverSpec

__all__ = ["RecordsAnswer", "ask_records"]

_MAX_DOH_MESSAGE = 65535


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
    :func:`~netprobe.probe.tls.make_verify_context`).
    """
    import dns.message
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype

    from netprobe.observations import (
        DNS_NO_ANSWER,
        DNS_NXDOMAIN,
        DNS_REFUSED,
        DNS_SERVER_MISBEHAVING,
        DNS_SERVFAIL,
    )

    try:
        query = dns.message.make_query(name, rdtype, rdclass)
        async with asyncio.timeout(timeout):
            reply = await _exchange(query, server, verify)
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

    from netprobe.observations import DNS_SERVER_MISBEHAVING
    from netprobe.probe._errors import failure_from_exception

    # No dnspython timeout is used (asyncio's is), so its exceptions are about the reply.
    if isinstance(exc, _BadReplyError | dns.exception.DNSException):
        return DNS_SERVER_MISBEHAVING
    failure = failure_from_exception(exc)
    # The text of an unknown exception may quote the query name: keep only its type.
    if failure.startswith("unknown_failure"):
        return f"unknown_failure: {type(exc).__name__}"
    return failure


async def _exchange(
    query: dns.message.Message, server: ResolverSpec, verify: ssl.SSLContext | None
) -> dns.message.Message:
    import dns.asyncquery

    from netprobe.probe.tls import make_verify_context

    if server.transport == "udp":
        # Falls back to TCP when the reply is truncated.
        reply, _ = await dns.asyncquery.udp_with_fallback(query, server.address, port=server.port)
        return reply
    if server.transport == "tcp":
        return await dns.asyncquery.tcp(query, server.address, port=server.port)
    context = verify or make_verify_context(None)
    if server.transport == "tls":
        return await dns.asyncquery.tls(
            query,
            server.address,
            port=server.port,
            ssl_context=context,
            server_hostname=server.host,
        )
    return await _exchange_doh(query, server, context)


async def _exchange_doh(
    query: dns.message.Message, server: ResolverSpec, verify: ssl.SSLContext
) -> dns.message.Message:
    """RFC 8484 POST to the server's bootstrap address, its name as Host and SNI.

    dnspython's own DoH needs the ``httpx2`` package, which netprobe does not depend on.
    """
    import dns.message
    import httpx

    assert server.url is not None  # every https ResolverSpec has one
    url = httpx.URL(server.url)
    async with (
        httpx.AsyncClient(verify=verify, trust_env=False, timeout=None) as client,
        client.stream(
            "POST",
            url.copy_with(host=server.address),
            content=query.to_wire(),
            headers={
                "Host": url.netloc.decode("ascii"),
                "Content-Type": "application/dns-message",
                "Accept": "application/dns-message",
            },
            extensions={"sni_hostname": server.host},
        ) as response,
    ):
        if response.status_code != 200:
            raise _BadReplyError(f"HTTP status {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _MAX_DOH_MESSAGE:
                raise _BadReplyError("reply too long")
    reply = dns.message.from_wire(bytes(body))
    if not query.is_response(reply):
        raise _BadReplyError("not a reply to the query")
    return reply


class _BadReplyError(Exception):
    """The DoH server answered something that is not a reply to the query."""
