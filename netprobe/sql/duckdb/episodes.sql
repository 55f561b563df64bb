-- Episodes: per network (asn) and target (url), runs of consecutive observations with
-- the same verdict and blocking type, in time order (observations without a time after
-- the timed ones, each group in the order it was read: seq).
--
-- Reads the table `observations` (seq, url, asn, as_name, cc, measured_at, run, verdict,
-- blocking, evidence); an observation read twice (same url, asn, time, run, verdict and
-- blocking) counts once, as its first copy. netprobe's DuckDB engine runs this file;
-- ../clickhouse/episodes.sql is the same query in ClickHouse's words.
CREATE OR REPLACE TEMP TABLE kept AS
SELECT seq, asn, url, measured_at, run, verdict, blocking, as_name, cc
FROM observations
QUALIFY measured_at IS NULL
    OR row_number() OVER (
        PARTITION BY url, asn, measured_at, run, verdict, blocking ORDER BY seq
    ) = 1;

CREATE OR REPLACE TEMP TABLE episodes AS
WITH ordered AS (
    SELECT
        seq, asn, url, measured_at, verdict, blocking,
        (verdict IS DISTINCT FROM lag(verdict) OVER w
            OR blocking IS DISTINCT FROM lag(blocking) OVER w)::INTEGER AS starts
    FROM kept
    WINDOW w AS (PARTITION BY asn, url ORDER BY measured_at IS NULL, measured_at, seq)
),
numbered AS (
    SELECT
        *,
        sum(starts) OVER (
            PARTITION BY asn, url ORDER BY measured_at IS NULL, measured_at, seq
            ROWS UNBOUNDED PRECEDING
        ) AS episode
    FROM ordered
)
SELECT
    asn, url, episode,
    first(verdict) AS verdict,
    first(blocking) AS blocking,
    first(seq ORDER BY measured_at IS NULL, measured_at, seq) AS first_seq,
    min(measured_at) AS first_seen,
    max(measured_at) AS last_seen,
    count(*) AS runs,
    count(*) - count(measured_at) AS untimed
FROM numbered
GROUP BY asn, url, episode;
