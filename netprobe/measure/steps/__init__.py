"""The network steps of a measurement: each sends something and returns an observation.

    dns.py    query(): one DNS question over UDP/TCP/DoT/DoH -> DNSObservation
              parse_resolver(), system_resolver(): where questions go
    tcp.py    connect(): one TCP connect -> TCPObservation; host_has_ipv6()
    tls.py    handshake(): one TLS handshake, chain kept -> TLSObservation
              make_verify_context(): the CAs servers are checked against
    http.py   fetch(): one HTTP request, no redirect followed -> HTTPObservation

    _errors.py  exceptions -> OONI failure strings (the only place they are decided)
    _clock.py   t0 / duration_ms;  _body.py  capped body reads;  _html.py  page titles
    _trace.py   httpcore's connection steps (TLS failure or not; leaked-socket cleanup)

Every step is ``async``, bounded by its ``timeout`` (seconds, the whole step) and never
raises for network failures: they are the observation's ``failure``. Submodules are
imported by name (``from netprobe.measure.steps import dns``): they pull in httpx and dnspython.
"""

__all__: list[str] = []
