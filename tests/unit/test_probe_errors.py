"""Exceptions from every layer of the stack map to OONI failure strings."""

from __future__ import annotations

import asyncio
import errno
import ssl

import anyio
import httpcore
import httpx
import pytest

from netprobe.measure.steps._errors import failure_from_exception


def _verify_error(code: int) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = code
    return exc


def _wrapped(inner: BaseException, *layers: type[Exception]) -> BaseException:
    """``inner`` raised through ``layers`` (innermost first), each ``raise ... from``."""
    exc = inner
    for layer in layers:
        try:
            raise layer("wrapper") from exc
        except Exception as wrapper:
            exc = wrapper
    return exc


def _during_handling(inner: BaseException, outer: Exception) -> BaseException:
    """``outer`` raised while handling ``inner`` (implicit ``__context__``)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the implicit __context__ is the point
    except Exception as exc:
        return exc


CASES: list[tuple[str, BaseException, str]] = [
    ("RST", ConnectionResetError(errno.ECONNRESET, "reset by peer"), "connection_reset"),
    ("asyncio's FIN during TLS", ConnectionResetError(), "eof_error"),
    ("refused", ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
    ("kernel timeout", OSError(errno.ETIMEDOUT, "timed out"), "generic_timeout_error"),
    ("asyncio timeout", TimeoutError(), "generic_timeout_error"),
    ("httpx timeout", httpx.ReadTimeout("read timeout"), "generic_timeout_error"),
    ("no route to host", OSError(errno.EHOSTUNREACH, "no route"), "host_unreachable"),
    ("no route to network", OSError(errno.ENETUNREACH, "unreachable"), "network_unreachable"),
    ("hostname mismatch", _verify_error(62), "ssl_invalid_hostname"),
    ("IP mismatch", _verify_error(64), "ssl_invalid_hostname"),
    ("self-signed", _verify_error(18), "ssl_unknown_authority"),
    ("self-signed in chain", _verify_error(19), "ssl_unknown_authority"),
    ("unknown issuer", _verify_error(20), "ssl_unknown_authority"),
    ("unverifiable leaf", _verify_error(21), "ssl_unknown_authority"),
    ("no issuer", _verify_error(2), "ssl_unknown_authority"),
    ("expired", _verify_error(10), "ssl_invalid_certificate"),
    ("TLS alert", ssl.SSLError(1, "[SSL: TLSV1_ALERT] alert"), "ssl_failed_handshake"),
    ("TLS EOF", ssl.SSLEOFError(8, "EOF occurred"), "eof_error"),
    ("anyio EOF", anyio.EndOfStream(), "eof_error"),
    ("asyncio short read", asyncio.IncompleteReadError(b"", 2), "eof_error"),
    (
        "no response",
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        "eof_error",
    ),
    (
        "cut body",
        httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body "
            "(received 10 bytes, expected 100)"
        ),
        "eof_error",
    ),
    (
        "httpx over httpcore over anyio over RST",
        _wrapped(
            ConnectionResetError(errno.ECONNRESET, "reset"),
            anyio.BrokenResourceError,
            httpcore.ConnectError,
            httpx.ConnectError,
        ),
        "connection_reset",
    ),
    (
        "httpx over a verification failure",
        _wrapped(_verify_error(62), httpcore.ConnectError, httpx.ConnectError),
        "ssl_invalid_hostname",
    ),
    (
        "anyio's every-attempt-failed group",
        _wrapped(
            ExceptionGroup("attempts", [ConnectionRefusedError(errno.ECONNREFUSED, "no")]),
            OSError,
        ),
        "connection_refused",
    ),
    (
        "implicit context",
        _during_handling(ConnectionResetError(errno.ECONNRESET, "reset"), RuntimeError("x")),
        "connection_reset",
    ),
    (
        "garbage instead of HTTP",
        httpx.RemoteProtocolError("illegal status line: bytearray(b'SSH-2.0')"),
        "unknown_failure: illegal status line: bytearray(b'SSH-2.0')",
    ),
    ("unexpected, multi-line", ValueError("first\nsecond"), "unknown_failure: first second"),
    ("unexpected, no text", KeyError(), "unknown_failure: KeyError"),
]


@pytest.mark.parametrize(
    ("exc", "failure"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_failure_from_exception(exc: BaseException, failure: str) -> None:
    assert failure_from_exception(exc) == failure


def test_unknown_failure_text_is_short() -> None:
    assert len(failure_from_exception(RuntimeError("x" * 10_000))) < 200


def test_cyclic_chain_terminates() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert failure_from_exception(first) == "unknown_failure: a"
