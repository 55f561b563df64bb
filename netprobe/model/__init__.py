"""The data every layer shares, as plain records: nothing here measures or judges.

- ``observations``: what each network step tried and what happened;
- ``results``: verdicts (:class:`~netprobe.model.results.Analysis`), the run-wide facts
  they rest on, and each target's and service's result;
- ``targets``: targets and services, URLs normalised;
- ``addresses``: address facts (IANA's special-purpose blocks, URL endpoints);
- ``networks``: the AS of an address.
"""
