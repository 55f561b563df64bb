-- Per network (asn): how many of its targets are blocked now, and how many were at some
-- point; the networks of `netprobe summarize --json`. Rows, by network (unknown last):
--   asn              0: unknown network
--   as_name, cc      of the network's earliest observation that has them (NULL: unknown)
--   targets          distinct urls
--   observations     rows, an observation in the table twice counted once
--   runs             distinct run ids
--   first_seen, last_seen
--   latest_<verdict> targets whose latest episode has that verdict, one column for each
--                    of accessible, blocked, anomaly, site_down, network_down and error
--   share_blocked    latest_blocked / targets, to 4 places
--   ever_interfered  targets with a blocked or anomaly episode
--   latest_blockings {blocking: targets whose latest episode is blocked or anomaly with it}
--   ever_blockings   {blocking: targets with a blocked or anomaly episode with it}
--
-- Reads netprobe_kept (table.sql: each observation once). No episode is needed: a
-- target's latest episode has the verdict and blocking of its latest observation (in
-- the order episodes.sql uses), and a target had an episode with a verdict and blocking
-- if and only if one of its observations had them.
WITH
marked AS
(
    SELECT
        *,
        row_number() OVER (
            PARTITION BY asn, url ORDER BY isNull(measured_at) DESC, measured_at DESC, id DESC
        ) = 1 AS latest,
        verdict IN ('blocked', 'anomaly') AS interfered
    FROM netprobe_kept
)
SELECT
    asn,
    -- argMin passes over NULL values; assumeNotNull gives untimed rows a time, but
    -- isNull already put them after the others.
    argMin(nullIf(as_name, ''), (isNull(measured_at), assumeNotNull(measured_at), id)) AS as_name,
    argMin(if(cc IN ('', 'ZZ'), NULL, cc), (isNull(measured_at), assumeNotNull(measured_at), id)) AS cc,
    uniqExact(url) AS targets,
    count() AS observations,
    uniqExact(run) AS runs,
    min(measured_at) AS first_seen,
    max(measured_at) AS last_seen,
    countIf(latest AND verdict = 'accessible') AS latest_accessible,
    countIf(latest AND verdict = 'blocked') AS latest_blocked,
    countIf(latest AND verdict = 'anomaly') AS latest_anomaly,
    countIf(latest AND verdict = 'site_down') AS latest_site_down,
    countIf(latest AND verdict = 'network_down') AS latest_network_down,
    countIf(latest AND verdict = 'error') AS latest_error,
    round(latest_blocked / targets, 4) AS share_blocked,
    uniqExactIf(url, interfered) AS ever_interfered,
    -- A NULL blocking fails `blocking != ''` too: neither is a blocking type.
    sumMapIf(map(assumeNotNull(blocking), toUInt64(1)), latest AND interfered AND blocking != '')
        AS latest_blockings,
    uniqExactMapIf(map(assumeNotNull(blocking), url), interfered AND blocking != '')
        AS ever_blockings
FROM marked
GROUP BY asn
ORDER BY asn = 0, asn;
