"""TCP connect: accepted, refused, and silently dropped (timeout) on loopback."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from netprobe.probe.tcp import connect, host_has_ipv6


async def test_accepted(loopback) -> None:
    async with loopback.serve_tcp(loopback.hold) as port:
        obs = await connect("127.0.0.1", port, "local", timeout=1, t_origin=time.monotonic())
    assert obs.failure is None
    assert (obs.address, obs.port, obs.role) == ("127.0.0.1", port, "local")
    assert obs.duration_ms is not None and 0 <= obs.duration_ms < 1000
    assert obs.t0 >= 0


async def test_refused(loopback) -> None:
    obs = await connect(
        "127.0.0.1", loopback.closed_port(), "control", timeout=1, t_origin=time.monotonic()
    )
    assert obs.failure == "connection_refused"
    assert obs.role == "control"


@contextlib.contextmanager
def _full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: Linux drops further SYNs (no RST, no reply)."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port


async def test_timeout_is_bounded() -> None:
    with _full_backlog() as port:
        started = time.monotonic()
        obs = await connect("127.0.0.1", port, "local", timeout=0.5, t_origin=started)
        elapsed = time.monotonic() - started
    if obs.failure is None:
        pytest.skip("this kernel accepted a connection beyond a full backlog")
    assert obs.failure == "generic_timeout_error"
    assert 0.45 <= elapsed < 0.8
    assert obs.duration_ms is not None and obs.duration_ms >= 450


def test_host_has_ipv6_is_a_cached_bool() -> None:
    assert isinstance(host_has_ipv6(), bool)
    assert host_has_ipv6.cache_info().currsize == 1
