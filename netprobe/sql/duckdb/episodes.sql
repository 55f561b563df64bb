-- Episodes: per network (asn) and target (url), runs of consecutive observations with
-- the same verdict and blocking type, in time order (observations without a time after
-- the timed ones, each group in the order it was read: seq).
--
-- Reads the table `observations` (seq, url, asn, as_name, cc, measured_at, run, verdict,
-- blocking, evidence); an observation read twice (same url, asn, time, run, verdict and
-- blocking) counts once, as its first copy. netprobe's DuckDB engine runs this file;
-- ../clickhouse/episodes.sql is the same query in ClickHouse's words.
--
-- Written for ten million rows in well under a gigabyte: the exact search for copies
-- runs only on rows whose identity hashes alike (rows that hash apart cannot be
-- copies), and the sort that orders each history runs on integers (a target's number,
-- an outcome's number) rather than on strings.

CREATE OR REPLACE TEMP TABLE copies AS
WITH hashed AS (
    SELECT seq, hash(url, asn, measured_at, run, verdict, blocking) AS identity
    FROM observations
    WHERE measured_at IS NOT NULL
),
alike AS (
    SELECT seq FROM hashed
    WHERE identity IN (SELECT identity FROM hashed GROUP BY identity HAVING count(*) > 1)
)
SELECT seq
FROM observations
WHERE seq IN (SELECT seq FROM alike)
QUALIFY row_number() OVER (
    PARTITION BY url, asn, measured_at, run, verdict, blocking ORDER BY seq
) > 1;

CREATE OR REPLACE TEMP VIEW kept AS
SELECT seq, asn, url, measured_at, run, verdict, blocking, as_name, cc
FROM observations
ANTI JOIN copies USING (seq);

CREATE OR REPLACE TEMP TABLE targets AS
SELECT url, (row_number() OVER ())::INTEGER AS target
FROM (SELECT DISTINCT url FROM kept);

CREATE OR REPLACE TEMP TABLE outcomes AS
SELECT verdict, blocking, (row_number() OVER ())::SMALLINT AS outcome
FROM (SELECT DISTINCT verdict, blocking FROM kept);

CREATE OR REPLACE TEMP TABLE episodes AS
WITH numbered AS (
    SELECT k.seq, k.asn, t.target, k.measured_at, o.outcome
    FROM kept k
    JOIN targets t ON t.url = k.url
    JOIN outcomes o ON o.verdict = k.verdict AND o.blocking IS NOT DISTINCT FROM k.blocking
),
marked AS (
    SELECT
        *,
        (outcome IS DISTINCT FROM lag(outcome) OVER history)::INTEGER AS starts
    FROM numbered
    WINDOW history AS (PARTITION BY asn, target ORDER BY measured_at ASC NULLS LAST, seq)
),
counted AS (
    SELECT
        *,
        sum(starts) OVER (
            PARTITION BY asn, target ORDER BY measured_at ASC NULLS LAST, seq
            ROWS UNBOUNDED PRECEDING
        ) AS episode
    FROM marked
)
SELECT
    asn, target, episode,
    any_value(outcome) AS outcome,
    -- The row an episode starts with: its evidence is the episode's.
    max(seq) FILTER (WHERE starts = 1) AS first_seq,
    min(measured_at) AS first_seen,
    max(measured_at) AS last_seen,
    count(*) AS runs,
    count(*) - count(measured_at) AS untimed
FROM counted
GROUP BY asn, target, episode;
