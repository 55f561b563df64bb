"""The AS of an address: from the IPASN data file (pyasn), else from Team Cymru."""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from netprobe.errors import ASNDatabaseError
from netprobe.measure.asn._cymru import (
    asname_query_name,
    origin_query_name,
    parse_cymru_asname,
    parse_cymru_origin,
)
from netprobe.measure.asn._data import (
    asnames_path,
    default_db_path,
    load_asnames,
    load_ipasn,
    split_asname,
)
from netprobe.model.addresses import IPNetwork, is_bogon
from netprobe.model.networks import ASInfo

if TYPE_CHECKING:
    from netprobe.measure.steps.dns import ResolverSpec

__all__ = ["DEFAULT_DB", "ASNResolver"]

_K = TypeVar("_K")
_V = TypeVar("_V")

_NO_DATA = "no IPASN data file (run 'netprobe asn update')"


class _Default(enum.Enum):
    DB = enum.auto()


DEFAULT_DB: Final = _Default.DB
"""``ASNResolver``'s default ``db_path``: :func:`default_db_path`, used if it exists."""


class _Once(Generic[_K, _V]):
    """Results by key, each computed once; concurrent askers of a key share the computation."""

    def __init__(self) -> None:
        self.results: dict[_K, _V] = {}
        self._running: dict[_K, asyncio.Task[_V]] = {}

    async def get(self, key: _K, compute: Callable[[], Awaitable[_V]]) -> _V:
        if key in self.results:
            return self.results[key]
        task = self._running.get(key)
        # A task left unfinished by an earlier event loop (an interrupted run) cannot be awaited.
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(compute())
            self._running[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        # Shielded: one asker being cancelled must not cancel the others' answer.
        return await asyncio.shield(task)

    def _settle(self, key: _K, task: asyncio.Task[_V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled() and task.exception() is None:
            self.results[key] = task.result()


class ASNResolver:
    """ASN lookups for one run, each distinct address looked up once.

    ``db_path``: an IPASN data file (its AS names are read from ``asnames.json`` beside
    it). :data:`DEFAULT_DB` uses :func:`default_db_path` when it exists and falls back to
    Team Cymru otherwise; an explicit path must exist and load, else
    :class:`ASNDatabaseError`; None means no data file. Without data, lookups go to Team
    Cymru's DNS service through ``cymru_resolver`` (default: the system's resolver) unless
    ``use_cymru`` is false. ``timeout`` bounds each Cymru query; ``verify`` checks a DoT or
    DoH ``cymru_resolver`` (default: :func:`~netprobe.measure.steps.tls.make_verify_context`).

    ``note`` says, in one line, when lookups are degraded (no data file, Cymru in use).
    ``routable``: special-purpose blocks looked up like any address (a test network).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | _Default | None = DEFAULT_DB,
        *,
        use_cymru: bool = True,
        cymru_resolver: ResolverSpec | None = None,
        timeout: float = 4.0,
        verify: ssl.SSLContext | None = None,
        routable: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.note: str | None = None
        self._routable = routable
        self._timeout = timeout
        self._verify = verify
        self._db: Any = None
        self._names: dict[int, str] = {}
        self._cymru: ResolverSpec | None = None
        self._by_address: _Once[str, ASInfo] = _Once()
        self._by_asn: _Once[int, tuple[str | None, str | None]] = _Once()

        problem = self._load(db_path)
        if self._db is not None:
            return
        if not use_cymru:
            self.note = f"ASN lookups disabled: {problem}"
            return
        self._cymru = cymru_resolver or self._system_resolver(problem)
        if self._cymru is not None:
            self.note = f"{problem}; using Team Cymru's DNS service"

    def _load(self, db_path: str | os.PathLike[str] | _Default | None) -> str:
        """Load the data files; returns what is wrong when the IPASN file cannot be used.

        Only an explicit ``db_path`` raises: a bad default file is a note, not a failed run.
        """
        if db_path is None:
            return "no IPASN data file"
        explicit = db_path is not DEFAULT_DB
        path = Path(db_path) if not isinstance(db_path, _Default) else default_db_path()
        try:
            self._db = load_ipasn(path)
        except ASNDatabaseError as exc:
            if explicit:
                raise
            return str(exc) if path.exists() else _NO_DATA
        names_file = asnames_path(path)
        try:
            self._names = load_asnames(names_file) if names_file.exists() else {}
        except ASNDatabaseError as exc:
            if explicit:
                raise
            self.note = str(exc)
        return ""

    def _system_resolver(self, problem: str) -> ResolverSpec | None:
        from netprobe.measure.steps.dns import ResolverSpecError, system_resolver

        try:
            return system_resolver()
        except ResolverSpecError as exc:
            self.note = (
                f"ASN lookups unavailable: {problem}, and no resolver for Team Cymru ({exc})"
            )
            return None

    def lookup(self, address: str) -> ASInfo:
        """The AS of ``address`` from the data file (cached); never touches the network.

        Without a data file the ASN is None unless :meth:`lookup_async` found it before.
        Raises ValueError if ``address`` is not an IP address.
        """
        key = _canonical(address)
        info = self._by_address.results.get(key) or self._offline(key)
        if info is None:
            return ASInfo(None, None, None, None, "none", self.note or _NO_DATA)
        return info

    async def lookup_async(self, address: str) -> ASInfo:
        """The AS of ``address``: from the data file, else from Team Cymru (cached).

        Concurrent calls for one address share one query. Never raises for network
        failures (``note`` says what happened); ValueError if ``address`` is not an IP.
        """
        key = _canonical(address)
        info = self._by_address.results.get(key) or self._offline(key)
        if info is not None:
            return info
        cymru = self._cymru
        if cymru is None:
            return ASInfo(None, None, None, None, "none", self.note or _NO_DATA)
        return await self._by_address.get(key, lambda: self._ask_cymru(key, cymru))

    def asn_of(self, address: str) -> int | None:
        """The ASN of ``address`` if known without a query (for the analysis): never waits.

        With Team Cymru, only addresses :meth:`lookup_async` has seen are known.
        """
        try:
            key = _canonical(address)
        except ValueError:
            return None
        info = self._by_address.results.get(key) or self._offline(key)
        return info.asn if info is not None else None

    def as_name_of(self, asn: int) -> tuple[str | None, str | None]:
        """Name and country of AS ``asn`` from the local AS names file; no query."""
        return split_asname(self._names.get(asn))

    def _offline(self, key: str) -> ASInfo | None:
        """What is known without a query, cached; None when Team Cymru must be asked."""
        if is_bogon(key, self._routable):
            info = ASInfo(None, None, None, None, "none", "reserved address")
        elif self._db is not None:
            asn, prefix = self._db.lookup(key)
            if asn is None:
                info = ASInfo(None, None, None, None, "none", "not announced in the IPASN data")
            else:
                name, cc = self.as_name_of(asn)
                info = ASInfo(asn, prefix, name, cc, "pyasn")
        else:
            return None
        self._by_address.results[key] = info
        return info

    async def _ask_cymru(self, key: str, server: ResolverSpec) -> ASInfo:
        from netprobe.measure._dns_records import ask_records

        answer = await ask_records(
            origin_query_name(key), "TXT", server, timeout=self._timeout, verify=self._verify
        )
        if answer.failure is not None:
            note = (
                "not announced (Team Cymru)"
                if answer.failure == "dns_nxdomain_error"
                else f"Team Cymru's DNS service failed ({answer.failure})"
            )
            return ASInfo(None, None, None, None, "none", note)
        origins = [origin for origin in map(parse_cymru_origin, answer.records) if origin]
        if not origins:
            return ASInfo(None, None, None, None, "none", "malformed answer from Team Cymru")
        # One record per announced prefix holding the address: the most specific one routes.
        asn, prefix, cc = max(origins, key=lambda origin: _prefix_length(origin[1]))
        name, name_cc = await self._by_asn.get(asn, lambda: self._ask_cymru_name(asn, server))
        return ASInfo(asn, prefix, name, cc or name_cc, "cymru")

    async def _ask_cymru_name(
        self, asn: int, server: ResolverSpec
    ) -> tuple[str | None, str | None]:
        from netprobe.measure._dns_records import ask_records

        answer = await ask_records(
            asname_query_name(asn), "TXT", server, timeout=self._timeout, verify=self._verify
        )
        parsed = next(filter(None, map(parse_cymru_asname, answer.records)), None)
        return parsed or (None, None)


def _canonical(address: str) -> str:
    ip = ipaddress.ip_address(address.strip())
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _prefix_length(prefix: str) -> int:
    return ipaddress.ip_network(prefix).prefixlen
