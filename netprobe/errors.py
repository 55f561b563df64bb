"""Every error netprobe raises on purpose, under one base, :class:`NetprobeError`.

Three kinds, by what the user does about them:

- :class:`UsageError`: what was asked cannot be done as asked (a bad target);
- :class:`DataFileError`: a file netprobe reads is missing, unreadable or malformed
  (a target list, the ASN data, a saved report); the message names the file and,
  where it can, the line;
- :class:`NetworkSetupError`: the network around the run is not as needed (a
  download that failed).

Every message is one line, fit to show as it is. A failure of a measurement step is no
exception: it is an observation, with OONI's failure string.
"""

from __future__ import annotations

__all__ = [
    "ASNDatabaseError",
    "ASNError",
    "ASNUpdateError",
    "DataFileError",
    "EngineError",
    "NetprobeError",
    "NetworkSetupError",
    "ReplayError",
    "TargetError",
    "TargetListError",
    "UsageError",
]


class NetprobeError(Exception):
    """Base of netprobe's errors; ``str()`` is one line for humans."""


class UsageError(NetprobeError, ValueError):
    """What was asked cannot be done as asked."""


class DataFileError(NetprobeError):
    """A file netprobe reads is missing, unreadable or malformed."""


class NetworkSetupError(NetprobeError):
    """The network around the run is not as the run needs it."""


class TargetError(UsageError):
    """A target (or a list of targets) cannot be used."""


class TargetListError(TargetError, DataFileError):
    """A target file cannot be read or holds a bad entry.

    ``str()`` is ``PATH:LINE: reason`` (``PATH: reason`` when no line applies).
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {reason}")


class ASNError(NetprobeError):
    """The ASN data cannot be had."""


class ASNDatabaseError(ASNError, DataFileError):
    """A data file is missing or unreadable; the message says how to fix it."""


class ASNUpdateError(ASNError, NetworkSetupError):
    """Downloading or converting the ASN data failed."""


class ReplayError(DataFileError, ValueError):
    """A saved file, line or result that cannot be judged again; the message names where."""


class EngineError(NetprobeError):
    """Saved results cannot be aggregated as asked: the engine asked for is not
    installed, or the inputs are too big for memory without it."""
