-- The results of a netprobe dataset (`netprobe export --dataset DIR`) as a ClickHouse
-- table: one row per result, every column of the dataset (netprobe/output/dataset.py,
-- COLUMNS), the partition columns date, cc and asn included. load.sql fills it.
--
-- As in the dataset, an unknown network is asn 0 and cc 'ZZ', and a row without a
-- time (a result stream) has measured_at NULL and date 'unknown'.
CREATE TABLE IF NOT EXISTS netprobe_results
(
    id           String,
    run          Nullable(String),
    measured_at  Nullable(DateTime64(6, 'UTC')),
    date         LowCardinality(String),
    cc           LowCardinality(String),
    asn          UInt32,
    as_name      LowCardinality(Nullable(String)),
    url          LowCardinality(String),
    domain       LowCardinality(String),
    list         LowCardinality(Nullable(String)),
    category     LowCardinality(Nullable(String)),
    service      LowCardinality(Nullable(String)),
    verdict      LowCardinality(String),
    blocking     LowCardinality(Nullable(String)),
    evidence     Nullable(String),
    tool_version LowCardinality(String),
    -- Every step of the result as JSON: by far the largest column, and the least read.
    observations String CODEC(ZSTD(3))
)
ENGINE = MergeTree
-- A month a partition ('2026-11'); rows without a time in one of their own ('unknown').
PARTITION BY left(date, 7)
-- Each target's history on a network together, in time order, untimed rows last as the
-- queries read them. A nullable column cannot be a key column (without the
-- allow_nullable_key setting), so the key has the time as two columns that are never NULL.
ORDER BY (asn, url, isNull(measured_at), assumeNotNull(measured_at));

-- The results with each observation once: a result in the table twice (the same url,
-- asn, time, run, verdict and blocking under two ids) keeps its smaller id. Results
-- without a time are never taken for copies. episodes.sql and network_shares.sql read it.
CREATE VIEW IF NOT EXISTS netprobe_kept AS
SELECT asn, url, measured_at, run, verdict, blocking, evidence, as_name, cc, id
FROM netprobe_results
QUALIFY measured_at IS NULL
    OR row_number() OVER (
        PARTITION BY url, asn, measured_at, run, verdict, blocking ORDER BY id
    ) = 1;
