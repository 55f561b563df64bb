"""TLS handshakes against loopback servers: valid, mismatched, untrusted, reset, silent."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import ssl
import time
from pathlib import Path
from typing import Literal

import pytest

from netprobe.measure.steps.tls import CABundleError, handshake, make_verify_context
from netprobe.model.observations import TLSObservation

NAME = "www.example.test"


async def _handshake(
    port: int,
    sni: str,
    verify: ssl.SSLContext,
    purpose: Literal["target", "innocuous"] = "target",
    timeout: float = 1.0,
) -> TLSObservation:
    return await handshake(
        "127.0.0.1", port, sni, purpose, verify=verify, timeout=timeout, t_origin=time.monotonic()
    )


async def test_valid_certificate(loopback, ca, trusting) -> None:
    sni_seen: list[str] = []
    issued = ca.issue_cert(NAME)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issued.configure_cert(context)
    context.sni_callback = lambda _obj, name, _ctx: sni_seen.append(name)
    async with loopback.serve_tcp(loopback.hold, ssl=context) as port:
        obs = await _handshake(port, NAME, trusting)
    assert obs.failure is None
    assert obs.handshake_completed
    assert (obs.address, obs.port, obs.sni, obs.purpose) == ("127.0.0.1", port, NAME, "target")
    assert obs.version == "TLSv1.3"
    assert obs.cipher
    leaf_der = ssl.PEM_cert_to_DER_cert(issued.cert_chain_pems[0].bytes().decode())
    assert obs.chain[0].sha256 == hashlib.sha256(leaf_der).hexdigest()
    assert "O=trustme" in obs.chain[0].issuer
    assert sni_seen == [NAME]


@pytest.mark.parametrize(
    ("issuer", "identity", "issue", "failure"),
    [
        ("ca", "other.example.test", {}, "ssl_invalid_hostname"),
        ("other_ca", NAME, {}, "ssl_unknown_authority"),
        (
            "ca",
            NAME,
            {"not_after": datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)},
            "ssl_invalid_certificate",
        ),
    ],
    ids=["wrong name", "unknown CA", "expired"],
)
async def test_certificate_that_does_not_verify_still_records_the_chain(
    request: pytest.FixtureRequest,
    loopback,
    trusting,
    issuer: str,
    identity: str,
    issue: dict[str, object],
    failure: str,
) -> None:
    context = loopback.server_context(request.getfixturevalue(issuer), identity, **issue)
    async with loopback.serve_tcp(loopback.hold, ssl=context) as port:
        obs = await _handshake(port, NAME, trusting)
    assert obs.failure == failure
    assert obs.handshake_completed  # the server did its part
    assert obs.chain and obs.version
    assert obs.chain[0].subject


async def test_innocuous_accepts_any_certificate(loopback, other_ca, trusting) -> None:
    context = loopback.server_context(other_ca, NAME)
    async with loopback.serve_tcp(loopback.hold, ssl=context) as port:
        obs = await _handshake(port, "innocuous.example", trusting, purpose="innocuous")
    assert (obs.failure, obs.handshake_completed, obs.purpose) == (None, True, "innocuous")
    assert len(obs.chain) == 1


async def test_reset_after_client_hello(loopback, trusting) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello has arrived
        loopback.reset(writer)

    async with loopback.serve_tcp(reset) as port:
        obs = await _handshake(port, NAME, trusting)
    assert (obs.failure, obs.handshake_completed, obs.chain) == ("connection_reset", False, ())


async def test_close_after_client_hello(loopback, trusting) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    async with loopback.serve_tcp(close) as port:
        obs = await _handshake(port, NAME, trusting)
    assert (obs.failure, obs.handshake_completed) == ("eof_error", False)


async def test_garbage_instead_of_server_hello(loopback, trusting) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await reader.read()

    async with loopback.serve_tcp(garbage) as port:
        obs = await _handshake(port, NAME, trusting)
    assert (obs.failure, obs.handshake_completed) == ("ssl_failed_handshake", False)


async def test_silent_server_times_out_within_budget(loopback, trusting) -> None:
    async with loopback.serve_tcp(loopback.hold) as port:
        started = time.monotonic()
        obs = await _handshake(port, NAME, trusting, timeout=0.5)
        elapsed = time.monotonic() - started
    assert obs.failure == "generic_timeout_error"
    assert 0.45 <= elapsed < 0.8


async def test_refused(loopback, trusting) -> None:
    obs = await _handshake(loopback.closed_port(), NAME, trusting)
    assert obs.failure == "connection_refused"


def test_make_verify_context(tmp_path: Path, ca, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert len(make_verify_context(str(bundle)).get_ca_certs()) == 1
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert len(make_verify_context(None).get_ca_certs()) == 1
    monkeypatch.delenv("SSL_CERT_FILE")
    assert len(make_verify_context(None).get_ca_certs()) > 10  # certifi


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "garbage"])
def test_make_verify_context_rejects_bad_bundles(tmp_path: Path, content: str | None) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    with pytest.raises(CABundleError, match=os.fspath(bundle)):
        make_verify_context(str(bundle))
