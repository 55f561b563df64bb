"""Wording and thresholds the rules of every step share."""

from __future__ import annotations

from typing import Final

CONFIRMING_ATTEMPTS: Final = 3
"""Attempts with the target's name that must all fail the same way (with the innocuous
name succeeding in between) before a name-targeted failure is called ``blocked``. One
stalled handshake in a few hundred is normal on a lossy mobile link; three in a row,
each beside a success, is not chance."""


def at_hop(sentence: str, hop: int, host: str) -> str:
    return sentence if hop == 0 else f"{sentence} (redirect hop {hop}, {host})"


FAILED: Final = ("blocked", "anomaly")


NO_CONTROL: Final = "no control view: the control resolvers gave no address and no NXDOMAIN"
