-- Episodes: per network (asn) and target (url), runs of consecutive observations with
-- the same verdict and blocking type, in time order; observations without a time come
-- after the timed ones. Rows: asn (0: unknown network), url, verdict, blocking,
-- evidence (of the episode's first observation), first_seen and last_seen (NULL when
-- none of its observations has a time), runs (observations), untimed (those without a
-- time); by network (unknown last), target and time.
--
-- Reads netprobe_kept (table.sql): an observation in the table twice (same url, asn,
-- time, run, verdict and blocking, under two ids) counts once. This is
-- ../duckdb/episodes.sql and history.sql in ClickHouse's words, with one difference:
-- DuckDB breaks ties (equal times, or no time) by the order it read the rows in, which a
-- ClickHouse table does not keep; here the smaller id comes first.
WITH
ordered AS
(
    SELECT
        *,
        row_number() OVER w AS position,
        -- An episode starts at a target's first observation and at each change.
        position = 1
            OR verdict != lagInFrame(verdict) OVER w
            OR blocking IS DISTINCT FROM lagInFrame(blocking) OVER w AS starts
    FROM netprobe_kept
    -- Unlike SQL's lag, lagInFrame sees only the window frame: spelled out, it holds
    -- every row before the current one whatever ClickHouse's default.
    WINDOW w AS (
        PARTITION BY asn, url ORDER BY isNull(measured_at), measured_at, id
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
),
numbered AS
(
    SELECT
        *,
        sum(starts) OVER (
            PARTITION BY asn, url ORDER BY position
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS episode
    FROM ordered
)
SELECT
    asn, url,
    -- The same in every row of an episode.
    any(verdict) AS verdict,
    any(blocking) AS blocking,
    -- In a tuple, so that a NULL evidence is kept: argMin skips NULL values.
    argMin(tuple(evidence), position).1 AS evidence,
    min(measured_at) AS first_seen,
    max(measured_at) AS last_seen,
    count() AS runs,
    countIf(measured_at IS NULL) AS untimed
FROM numbered
GROUP BY asn, url, episode
ORDER BY asn = 0, asn, url, episode;
