"""Wording and thresholds the rules of every step share."""

from __future__ import annotations

from typing import Final

from netprobe.model.observations import GENERIC_TIMEOUT

CONFIRMING_ATTEMPTS: Final = 3
"""Attempts with the target's name that must all fail the same way (with the innocuous
name succeeding in between) before a name-targeted failure is called ``blocked``: a
reset or a refusal, which loss does not make."""
STALL_CONFIRMING_ATTEMPTS: Final = 5
"""The same for a stall (a timeout), which loss does make: on the testbed's harsh link
(200 ms each way, 12 % loss, 4 s steps) a handshake stalls a few times in a hundred, and
three stalls in a row, each beside a completed innocuous handshake, turned up by chance
in about one suite run in five (1,020 measurements). Five in a row does not."""


def attempts_needed(failure: str | None) -> int:
    """How many failures with the target's name make a name-targeted ``blocked``."""
    return STALL_CONFIRMING_ATTEMPTS if failure == GENERIC_TIMEOUT else CONFIRMING_ATTEMPTS


def at_hop(sentence: str, hop: int, host: str) -> str:
    return sentence if hop == 0 else f"{sentence} (redirect hop {hop}, {host})"


FAILED: Final = ("blocked", "anomaly")


NO_CONTROL: Final = "no control view: the control resolvers gave no address and no NXDOMAIN"
