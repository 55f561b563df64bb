-- The episodes in the order a summary lists them (by network, unknown last, then by
-- target and time), each with its target, outcome and the evidence of the observation
-- it began with.
SELECT e.asn, t.url, o.verdict, o.blocking, obs.evidence, e.first_seen, e.last_seen,
       e.runs, e.untimed
FROM episodes e
JOIN targets t USING (target)
JOIN outcomes o USING (outcome)
JOIN observations obs ON obs.seq = e.first_seq
ORDER BY e.asn IS NULL, e.asn, t.url, e.episode;
