"""Shared fixtures.

``testbed`` (session scope) brings the censorship testbed of ``tests/testbed`` up once for
the whole session, for the tests that ask for it; they get the ``testbed`` marker, so
``-m "not testbed"`` deselects them. Unit tests never start it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.testbed import Testbed

UP_DOWN_BUDGET_SECONDS = 15.0
_timings: list[str] = []


def _testbed_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "not running as root"
    missing = [tool for tool in ("ip", "iptables-restore") if not shutil.which(tool)]
    if missing:
        return f"missing {', '.join(missing)}"
    if not Path("/dev/net/tun").exists():
        return "no /dev/net/tun"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "testbed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.testbed)


@pytest.fixture(scope="session")
def testbed() -> Iterator[Testbed]:
    reason = _testbed_unavailable()
    if reason:
        pytest.skip(f"testbed needs root and ip netns: {reason}")
    from tests.testbed import Testbed  # only sessions that use it need trustme and friends

    bed = Testbed()
    bed.up()
    try:
        yield bed
    finally:
        bed.down()
        assert bed.up_seconds is not None and bed.down_seconds is not None
        total = bed.up_seconds + bed.down_seconds
        _timings.append(f"testbed: up {bed.up_seconds:.2f} s, down {bed.down_seconds:.2f} s")
        assert total < UP_DOWN_BUDGET_SECONDS, f"testbed up+down took {total:.1f} s"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _timings:
        terminalreporter.write_line(line)
