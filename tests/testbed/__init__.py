"""Censorship testbed: real servers behind emulated ISPs in network namespaces.

See README.md beside this file. The API: :class:`Testbed` (``up``/``down``, ``networks``,
``sites``, ``ca_bundle``, ``control_resolver``), :class:`Network` (``run`` a command in its
client namespace) and :class:`Site`.
"""

from tests.testbed.topology import (
    BLOCKPAGE_IP,
    CONTROL_DNS_IP,
    ECHO_IP,
    INTERCEPTION_CA_NAME,
    MITM_IP,
    SUBSTITUTE_IP,
    TLS_FAILURE_IP,
    UNRELATED_IP,
    Network,
    Site,
    Testbed,
    TestbedError,
    remove_leftovers,
)

__all__ = [
    "BLOCKPAGE_IP",
    "CONTROL_DNS_IP",
    "ECHO_IP",
    "INTERCEPTION_CA_NAME",
    "MITM_IP",
    "SUBSTITUTE_IP",
    "TLS_FAILURE_IP",
    "UNRELATED_IP",
    "Network",
    "Site",
    "Testbed",
    "TestbedError",
    "remove_leftovers",
]
