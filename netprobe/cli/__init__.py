"""Command line: parse options, call the library, print. Nothing else lives here.

- ``_app``: the ``netprobe`` group, exit statuses, and what every command shares
  (errors on one line, JSON on stdout, terminal-safe logs);
- ``_measure``: ``run`` and ``watch``;
- ``_lists``: ``lists`` and ``lists update`` (the Citizen Lab test lists);
- ``_history``: ``summarize``, ``compare``, ``analyse`` and ``export``;
- ``_asn``: ``asn update`` and ``asn lookup``;
- ``_notice``: the risks notice of the first interactive run.

Heavy modules (httpx, dnspython, rich, the runner) are imported inside the commands
so that ``netprobe --help`` starts fast.
"""

from netprobe.cli import _asn, _history, _lists, _measure
from netprobe.cli._app import main

__all__ = ["main"]

# Imported for their commands, which they add to ``main``.
del _asn, _history, _lists, _measure
