"""Known signs of censorship: blockpages, blockpage addresses, state TLS interception.

Each sign has a stable id (``ru.rostelecom.warning``, ``generic.ru.restricted``,
``http.451``, ``kz.qaznet.root``…); :func:`fingerprint_info` says what it
stands for and where the fact comes from. The data lives in two JSON files
beside this module (``blockpages.json``, ``interception_roots.json``), loaded on
first use. Sources: Censored Planet's blockpage signatures (Apache-2.0), OONI's
blocking fingerprints, and published reports on Kazakhstan's HTTPS
interception; each entry names its own.

>>> match_blockpage(451, [], b"")
'http.451'
>>> interception_issuer("CN=Qaznet Trust Network,C=KZ")
'kz.qaznet.root'
"""

from netprobe.analysis.fingerprints._database import Fingerprint, Kind
from netprobe.analysis.fingerprints._match import (
    all_fingerprints,
    blockpage_for_address,
    fingerprint_info,
    interception_certificate,
    interception_issuer,
    match_blockpage,
)
from netprobe.analysis.fingerprints._page import ERROR_EXCERPT_BYTES, SMALL_BODY_BYTES
from netprobe.analysis.fingerprints._page import excerpt as blockpage_excerpt

__all__ = [
    "ERROR_EXCERPT_BYTES",
    "SMALL_BODY_BYTES",
    "Fingerprint",
    "Kind",
    "all_fingerprints",
    "blockpage_excerpt",
    "blockpage_for_address",
    "fingerprint_info",
    "interception_certificate",
    "interception_issuer",
    "match_blockpage",
]
