-- The episodes in the order a summary lists them (by network, unknown last, then by
-- target and time), each with the evidence of the observation it began with.
SELECT e.asn, e.url, e.verdict, e.blocking, o.evidence, e.first_seen, e.last_seen,
       e.runs, e.untimed
FROM episodes e
JOIN observations o ON o.seq = e.first_seq
ORDER BY e.asn IS NULL, e.asn, e.url, e.episode;
