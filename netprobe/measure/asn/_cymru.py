"""Team Cymru's IP-to-ASN service over DNS: query names and answer parsers.

    origin_query_name("198.18.5.5")   # "5.5.18.198.origin.asn.cymru.com"
    parse_cymru_origin("12389 | 198.18.0.0/15 | RU | ripencc | 2001-01-01")
                                      # (12389, "198.18.0.0/15", "RU")
    parse_cymru_asname("12389 | RU | ripencc | 2001-01-01 | ROSTELECOM-AS, RU")
                                      # ("ROSTELECOM-AS", "RU")

The parsers take one TXT record and return None for anything malformed: the answers
come over the network, maybe from an interfering resolver, and must never crash a run.
"""

from __future__ import annotations

import ipaddress

from netprobe.measure.asn._data import split_asname

__all__ = [
    "CYMRU_ASNAME_ZONE",
    "CYMRU_ORIGIN6_ZONE",
    "CYMRU_ORIGIN_ZONE",
    "asname_query_name",
    "origin_query_name",
    "parse_cymru_asname",
    "parse_cymru_origin",
]

CYMRU_ORIGIN_ZONE = "origin.asn.cymru.com"
CYMRU_ORIGIN6_ZONE = "origin6.asn.cymru.com"
CYMRU_ASNAME_ZONE = "asn.cymru.com"

_MAX_ASN = 2**32 - 1


def origin_query_name(address: str) -> str:
    """The TXT name giving the origin AS of ``address`` (reversed octets, or nibbles)."""
    ip = ipaddress.ip_address(address)
    # reverse_pointer: "5.5.18.198.in-addr.arpa", or 32 nibbles then "ip6.arpa".
    labels = ip.reverse_pointer.rsplit(".", 2)[0]
    zone = CYMRU_ORIGIN_ZONE if ip.version == 4 else CYMRU_ORIGIN6_ZONE
    return f"{labels}.{zone}"


def asname_query_name(asn: int) -> str:
    """The TXT name giving the name and country of AS ``asn``."""
    return f"AS{asn}.{CYMRU_ASNAME_ZONE}"


def parse_cymru_origin(txt: str) -> tuple[int, str, str | None] | None:
    """``"ASN [ASN...] | prefix | CC | registry | date"`` as ``(asn, prefix, cc)``.

    Several origin ASNs (a multi-origin prefix): the first is taken. None if malformed.
    """
    fields = [field.strip() for field in txt.split("|")]
    if len(fields) < 3:
        return None
    asns = fields[0].split()
    asn = _asn(asns[0]) if asns else None
    try:
        prefix = str(ipaddress.ip_network(fields[1]))
    except ValueError:
        return None
    if asn is None:
        return None
    return asn, prefix, _country(fields[2])


def parse_cymru_asname(txt: str) -> tuple[str, str | None] | None:
    """``"ASN | CC | registry | date | NAME, CC"`` as ``(name, cc)``; None if malformed.

    The name keeps any ``|`` it contains; its ``, CC`` suffix is dropped.
    """
    fields = [field.strip() for field in txt.split("|", 4)]
    if len(fields) < 5 or _asn(fields[0]) is None:
        return None
    name, name_cc = split_asname(fields[4])
    if name is None:
        return None
    return name, _country(fields[1]) or name_cc


def _asn(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()):
        return None
    asn = int(text)
    return asn if 0 < asn <= _MAX_ASN else None


def _country(text: str) -> str | None:
    code = text.strip().upper()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None
