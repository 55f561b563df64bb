"""Autonomous systems: which AS announces an address.

    resolver = ASNResolver()                       # ~/.cache/netprobe/ipasn.dat, or Cymru
    info = await resolver.lookup_async("198.18.5.5")  # ASInfo(asn=12389, ...)
    resolver.asn_of("198.18.5.5")                  # 12389, from the cache: for the analysis
    update_database()                              # what 'netprobe asn update' runs

Lookups use pyasn and an IPASN data file when there is one (offline: nothing is sent),
else Team Cymru's DNS service. Each distinct address is looked up once per resolver.

Where things are:

- ``_resolver``: :class:`ASNResolver`, lookups with a cache, one query per address;
- ``_data``: the data files (paths, loading, the AS names format);
- ``_update``: building the data files from a RouteViews RIB dump and the CIDR report;
- ``_cymru``: Team Cymru's query names and answer parsers.

The probe's own public address and AS are found by :mod:`netprobe.measure.identity`.
"""

from netprobe.errors import ASNDatabaseError, ASNError, ASNUpdateError
from netprobe.measure.asn._cymru import parse_cymru_asname, parse_cymru_origin
from netprobe.measure.asn._data import (
    asnames_path,
    default_db_path,
    load_asnames,
    load_ipasn,
    split_asname,
)
from netprobe.measure.asn._resolver import DEFAULT_DB, ASNResolver
from netprobe.measure.asn._update import (
    ASNAMES_URL,
    ROUTEVIEWS_ARCHIVE,
    UpdateResult,
    parse_autnums,
    update_database,
)
from netprobe.model.networks import ASInfo

__all__ = [
    "ASNAMES_URL",
    "DEFAULT_DB",
    "ROUTEVIEWS_ARCHIVE",
    "ASInfo",
    "ASNDatabaseError",
    "ASNError",
    "ASNResolver",
    "ASNUpdateError",
    "UpdateResult",
    "asnames_path",
    "default_db_path",
    "load_asnames",
    "load_ipasn",
    "parse_autnums",
    "parse_cymru_asname",
    "parse_cymru_origin",
    "split_asname",
    "update_database",
]
