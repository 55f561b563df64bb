"""Censorship testbed: real servers behind emulated ISPs in network namespaces.

See README.md beside this file. The API: :class:`Testbed` (``up``/``down``, ``networks``,
``sites``, ``ca_bundle``, ``control_resolver`` and the failing ones, ``clear_residual``,
``hostile_urls``), :class:`Network` (``run`` a command in its client namespace) and
:class:`Site`.
"""

from tests.testbed.topology import (
    BLOCKPAGE_IP,
    CONTROL_DNS_IP,
    DOH_NAME,
    ECHO_IP,
    GOOD_DOH_IP,
    HOSTILE_DNS,
    HOSTILE_URLS,
    INTERCEPTION_CA_NAME,
    MITM_IP,
    RESIDUAL_SECONDS,
    SELF_SIGNED_ORG,
    SERVFAIL_DNS_IP,
    SILENT_DNS_IP,
    SUBSTITUTE_IP,
    TLS_FAILURE_IP,
    UNRELATED_IP,
    WRONG_CERT_NAME,
    WRONG_NAME_DOH_IP,
    Network,
    Site,
    Testbed,
    TestbedError,
    remove_leftovers,
)

__all__ = [
    "BLOCKPAGE_IP",
    "CONTROL_DNS_IP",
    "DOH_NAME",
    "ECHO_IP",
    "GOOD_DOH_IP",
    "HOSTILE_DNS",
    "HOSTILE_URLS",
    "INTERCEPTION_CA_NAME",
    "MITM_IP",
    "RESIDUAL_SECONDS",
    "SELF_SIGNED_ORG",
    "SERVFAIL_DNS_IP",
    "SILENT_DNS_IP",
    "SUBSTITUTE_IP",
    "TLS_FAILURE_IP",
    "UNRELATED_IP",
    "WRONG_CERT_NAME",
    "WRONG_NAME_DOH_IP",
    "Network",
    "Site",
    "Testbed",
    "TestbedError",
    "remove_leftovers",
]
