"""Output: what a run's results become for people and programs.

- ``report``: the JSON report and JSON Lines results, their versioned schema
  (``schema/report-2.json``), written atomically;
- ``table``: the terminal table, summary line and progress bar, and ``sanitize``,
  which keeps remote text from driving the terminal;
- ``ooni``: results as OONI measurements (``netprobe export --ooni``), and the JSON
  Schema they are checked against (``schema/ooni-measurement.json``);
- ``_json_records``: reading back the files ``report`` writes, each record with its
  ``FILE:LINE``.

Nothing here measures or judges: it imports only :mod:`netprobe.model`.
"""
