-- Per network (asn): the name and country the first observation that has them gives,
-- and how many distinct runs measured it. Over `kept` (episodes.sql made it).
SELECT
    asn,
    first(as_name ORDER BY seq) FILTER (WHERE as_name IS NOT NULL) AS as_name,
    first(cc ORDER BY seq) FILTER (WHERE cc IS NOT NULL) AS cc,
    count(DISTINCT run) AS runs
FROM kept
GROUP BY asn;
