"""Defaults shared by the library and the command line (kept import-light for start-up)."""

__all__ = [
    "BODY_CAP",
    "CONCURRENCY",
    "MAX_REDIRECTS",
    "STEP_TIMEOUT",
    "TARGET_DEADLINE_STEPS",
]

STEP_TIMEOUT = 10.0
"""Seconds allowed for each network step (OONI uses 10 s for connect, handshake and fetch)."""
CONCURRENCY = 1024
"""Targets measured at once: enough that a list with many blackholed targets, each holding
its slot for a whole timeout, does not queue the rest behind them. Memory does not grow
with it: each body in flight holds only its first bytes (``probe.http.BODY_KEPT``)."""
BODY_CAP = 1 << 20
"""Most bytes of a response body ever read."""
MAX_REDIRECTS = 10
"""Redirects followed before a chain counts as never ending (OONI and browsers stop at 10
or 20)."""
TARGET_DEADLINE_STEPS = 6
"""A target's overall deadline, in step timeouts: room for a stalled page, the repeats
that tell a targeted name from chance, and a redirect; a chain of stalls past it ends."""
