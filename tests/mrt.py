"""A builder of small MRT RIB dumps, byte by byte, for the tests of `netprobe asn update`.

RFC 6396, TABLE_DUMP_V2 (MRT type 13): a PEER_INDEX_TABLE record (subtype 1), then one
RIB_IPV4_UNICAST (2) or RIB_IPV6_UNICAST (4) record per prefix. Every record has the MRT
header: timestamp, type, subtype, length (4, 2, 2, 4 octets). A RIB record holds a
sequence number, the prefix (length, then only the octets it needs) and RIB entries
(peer index, originated time, BGP path attributes); the origin AS is the last of the
AS_PATH attribute (type 2), whose AS numbers are 4 octets long in TABLE_DUMP_V2.
"""

from __future__ import annotations

import ipaddress
import struct

__all__ = ["AS_SEQUENCE", "AS_SET", "MRT_TIME", "rib_dump"]

MRT_TIME = 1_700_000_000
AS_SET, AS_SEQUENCE = 1, 2

Segment = tuple[int, list[int]]
"""An AS_PATH segment: (AS_SET or AS_SEQUENCE, AS numbers)."""


def rib_dump(*routes: tuple[str, list[Segment]]) -> bytes:
    """A dump of one peer's routes: ``(prefix, AS_PATH segments)`` each; no route gives a
    dump with only its peer table."""
    return _peer_index_table() + b"".join(
        _rib(sequence, prefix, *segments) for sequence, (prefix, segments) in enumerate(routes)
    )


def _mrt(subtype: int, body: bytes) -> bytes:
    return struct.pack(">IHHI", MRT_TIME, 13, subtype, len(body)) + body


def _peer_index_table() -> bytes:
    collector = bytes([198, 18, 0, 1])
    # One peer: type 0x02 = IPv4 address and 4-octet AS number; BGP ID, address, AS.
    peer = struct.pack(">B4s4sI", 0x02, collector, collector, 3333)
    return _mrt(1, struct.pack(">4sHH", collector, 0, 1) + peer)


def _rib(sequence: int, prefix: str, *segments: tuple[int, list[int]]) -> bytes:
    network = ipaddress.ip_network(prefix)
    as_path = b"".join(
        struct.pack(f">BB{len(asns)}I", kind, len(asns), *asns) for kind, asns in segments
    )
    origin_igp = bytes([0x40, 1, 1, 0])  # ORIGIN: well-known transitive, IGP
    attributes = origin_igp + bytes([0x40, 2, len(as_path)]) + as_path
    entry = struct.pack(">HIH", 0, MRT_TIME, len(attributes)) + attributes
    octets = (network.prefixlen + 7) // 8
    body = (
        struct.pack(">IB", sequence, network.prefixlen)
        + network.network_address.packed[:octets]
        + struct.pack(">H", 1)
        + entry
    )
    return _mrt(2 if network.version == 4 else 4, body)
