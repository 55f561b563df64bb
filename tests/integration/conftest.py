"""Fixtures of the integration tests (the testbed itself comes from tests/conftest.py)."""

from __future__ import annotations

import json

import pytest

from tests.integration.helpers import AS_NAMES, IPASN


@pytest.fixture(scope="session")
def asn_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("asn")
    (folder / "ipasn.dat").write_text(IPASN)
    (folder / "asnames.json").write_text(json.dumps(AS_NAMES))
    return str(folder / "ipasn.dat")
