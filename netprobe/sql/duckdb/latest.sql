-- One side of `compare`: each target's latest observation (by time; untimed ones rank
-- after timed ones; between equals the one read last). networks.sql then reads the
-- side's networks from `kept`.
CREATE OR REPLACE TEMP TABLE latest AS
SELECT url, asn, measured_at, run, verdict, blocking, evidence
FROM observations
QUALIFY row_number() OVER (
    PARTITION BY url ORDER BY measured_at IS NULL DESC, measured_at DESC, seq DESC
) = 1;

-- compare reads every observation, duplicates too: networks.sql runs over all of them.
CREATE OR REPLACE TEMP VIEW kept AS SELECT * FROM observations;

SELECT url, asn, measured_at, run, verdict, blocking, evidence FROM latest;
