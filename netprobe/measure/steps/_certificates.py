"""The certificates a TLS server presented, as observations record them."""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509

from netprobe.model.observations import Certificate

__all__ = ["chain_of"]


def chain_of(ssl_object: ssl.SSLObject) -> tuple[Certificate, ...]:
    """The chain the server sent, leaf first, whether it verified or not."""
    return tuple(_certificate(der) for der in _presented_chain(ssl_object))


def _presented_chain(ssl_object: ssl.SSLObject) -> list[bytes]:
    """The DER certificates the server sent, leaf first."""
    # Public (and returning DER) since Python 3.13; on the private _sslobj before.
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:
        return list(public() or ())
    private = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in private() or ()]  # type: ignore[attr-defined]
    leaf = ssl_object.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _certificate(der: bytes) -> Certificate:
    sha256 = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
        return Certificate(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), sha256)
    except Exception:
        # DER that OpenSSL accepts but cryptography refuses, each its own way (ValueError,
        # InvalidVersion, KeyError for an odd string tag...): the hash still names it.
        return Certificate("", "", sha256)
