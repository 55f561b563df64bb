-- Adds the rows of a netprobe dataset (`netprobe export --dataset DIR`) to
-- netprobe_results (table.sql). The dataset's directory is the query parameter
-- {dataset:String}, given on the command line:
--
--   clickhouse local --path netprobe-ch --param_dataset="$PWD/results" \
--       --queries-file table.sql load.sql
--
-- clickhouse client takes the same --param_dataset; a server, though, reads only files
-- under its user_files_path, and takes a relative path from there.
-- Loading a dataset again after it grew adds only its new rows: rows whose id the table
-- holds are left out, as `netprobe export` leaves them out.
--
-- The partition values come from each file's path. ClickHouse's own reading of them
-- (use_hive_partitioning) would guess a Date type for date, which 'unknown' is not, and
-- keep cc URL-encoded as pyarrow writes it. Export's staging directories (.incoming-*)
-- do not match the pattern, and rows `netprobe summarize` skips (without a url, or with
-- a verdict it does not know) are not loaded.
INSERT INTO netprobe_results
SELECT
    id, run, measured_at,
    decodeURLComponent(partition[1]) AS date,
    decodeURLComponent(partition[2]) AS cc,
    toUInt32(partition[3]) AS asn,
    as_name, url, domain, list, category, service, verdict, blocking, evidence,
    tool_version, observations
FROM
(
    SELECT
        *,
        extractGroups(_path, '/date=([^/]*)/cc=([^/]*)/asn=([^/]*)/[^/]*$') AS partition
    FROM file({dataset:String} || '/date=*/cc=*/asn=*/*.parquet', Parquet)
)
WHERE id NOT IN (SELECT id FROM netprobe_results)
    AND url != ''
    AND verdict IN ('accessible', 'blocked', 'anomaly', 'site_down', 'network_down', 'error')
-- Two copies of one export in a dataset hold the same ids: one row each.
LIMIT 1 BY id
SETTINGS use_hive_partitioning = 0;
