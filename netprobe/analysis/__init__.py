"""Analysis: a pure function from one target's observations to a verdict.

Nothing here touches the network. :func:`analyse` walks the steps in the order
they happen (DNS → TCP → TLS → HTTP) for each hop of the redirect chain; the hop
where the chain stopped names the blocking. Run-wide facts (is this network up at
all, which untrusted certificate issuers turned up on several unrelated targets,
the ASN of an address, whether the resolver under test answers made-up names)
come in through :class:`RunContext`.

Verdicts, and when each blocking type is ``blocked`` rather than an ``anomaly``:

=================  =======================================================  ===========
blocking           what was observed                                        verdict
=================  =======================================================  ===========
dns.nxdomain       the resolver under test says NXDOMAIN, control resolves  blocked
dns.bogon          it answers a bogon (127.0.0.1, 0.0.0.0…), control not    blocked
dns.blockpage      its answer is a known blockpage address / serves one     blocked
dns.inconsistent   answers disagree with control (no shared address or      anomaly [3]
                   ASN, no valid certificate for the name on them)
dns.timeout        the resolver under test never answers for this name      anomaly
dns.servfail       … answers SERVFAIL                                       anomaly
dns.refused        … answers REFUSED                                        anomaly
tcp.timeout        connecting to the (consistent) addresses times out       anomaly
tcp.refused        connecting is refused (RST or ICMP unreachable)          anomaly
tcp.reset          the connection is reset after connect whatever is sent   anomaly
tls.reset          handshakes with the target's SNI are reset, those with   blocked [1]
                   an innocuous SNI to the same address complete
tls.timeout        … stall, the innocuous ones complete                     blocked [1]
tls.failure        … fail otherwise, the innocuous ones complete; or a      blocked [1]
                   trusted CA's certificate is expired or for another name  anomaly
tls.mitm           a certificate that chains to no trusted root, on an      blocked [2]
                   address DNS and control agree on
http.reset         plain-HTTP requests with the target's Host are reset,    blocked [1]
                   those with an innocuous Host to the same address answer
http.timeout       … stall, the innocuous ones answer                       blocked [1]
http.blockpage     the response matches a blockpage fingerprint             blocked
http.diff          plain-HTTP page differs from the site's HTTPS page       anomaly
tls.throttled      handshakes with its SNI take >= 2 s and 4x those with    blocked [4]
                   an unrelated SNI to the same address
http.throttled     the page downloads 4x slower with its own name than      blocked [4]
                   with an unrelated one, to the same address
=================  =======================================================  ===========

[1] Only on a pattern chance does not produce: the failure repeats with the target's
    name (:data:`CONFIRMING_ATTEMPTS` times, :data:`STALL_CONFIRMING_ATTEMPTS` for a
    stall, which loss makes too; same kind each time) while the innocuous
    name succeeds every time in between, the innocuous attempt first. Otherwise an
    ``anomaly`` of the same type, saying what could not be confirmed (an address that
    stops taking any connection right after the first attempt is residual censorship
    or a server going away: the evidence says so).
[2] when the issuer is a known interception root or signs certificates for unrelated
    targets on other addresses in the same run; otherwise ``anomaly`` (a misconfigured
    site looks the same).
[3] ``blocked`` when a second reply to the same UDP query agrees with control (the first
    was forged by an injector racing the resolver), and for a ghost domain: a name that
    does not exist at the control resolvers, which the resolver under test answers
    although it gives no address for a made-up name.

[4] when three attempts in a row agree on a steady rate or delay (a policer);
    otherwise ``anomaly``. Looked for only when the first download looked slow; a path
    that is slow for every name is not throttling (see ``_throttle``).

``site_down`` is given when the control view fails the same way (the name does
not exist at the control resolver either); ``network_down`` when the run found
that nothing answers from this network at all. A redirect loop, or a chain longer
than the redirects followed, never delivers a page: ``error``, with OONI's failure
string for it (:data:`TOO_MANY_REDIRECTS`).

The control resolvers count only when they answer with addresses or NXDOMAIN:
SERVFAIL, REFUSED, an empty answer or silence is no control view, and the evidence
says so.

With a control proxy (a fetch of the target from the uncensored side), OONI's
control rules apply on top: a failure seen only locally, and repeated on every
attempt, is ``blocked`` whatever its type (a connect timeout becomes conclusive); a
failure seen once stays an ``anomaly``; seen through the proxy too, it is
``site_down``; a plain-HTTP page is compared with the control page.
"""

from netprobe.analysis._common import (
    CONFIRMING_ATTEMPTS,
    STALL_CONFIRMING_ATTEMPTS,
    attempts_needed,
)
from netprobe.analysis._http import blockpage_of
from netprobe.analysis._run import (
    anything_answered,
    network_is_down,
    registrable_domain,
    shared_untrusted_issuers,
)
from netprobe.analysis._service import analyse_service, judge_services
from netprobe.analysis._target import TOO_MANY_REDIRECTS, analyse
from netprobe.analysis._throttle import RATE_BYTES, RATE_SECONDS, looks_slow

__all__ = [
    "CONFIRMING_ATTEMPTS",
    "RATE_BYTES",
    "RATE_SECONDS",
    "STALL_CONFIRMING_ATTEMPTS",
    "TOO_MANY_REDIRECTS",
    "analyse",
    "analyse_service",
    "anything_answered",
    "attempts_needed",
    "blockpage_of",
    "judge_services",
    "looks_slow",
    "network_is_down",
    "registrable_domain",
    "shared_untrusted_issuers",
]
