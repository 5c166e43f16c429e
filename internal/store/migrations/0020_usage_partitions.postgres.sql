-- usage_records becomes a table partitioned by RANGE (created_at), one
-- partition a month (usage_records_pYYYYMM, months in UTC) and a DEFAULT
-- partition (usage_records_default) for rows outside the created months.
-- store.MaintainUsagePartitions creates the coming months' partitions and
-- drops a month whose whole range is older than the raw retention once
-- all its rows are rolled (docs/usage-analytics.md).
--
-- A partitioned table's unique indexes must hold the partition key, so
-- the id is unique per (id, created_at) — a unique index, not a primary
-- key constraint: pg_restore --clean cannot drop a partition's inherited
-- constraint (PostgreSQL 15), which would break backups' restores — and
-- the idempotency key is unique per (record_key, created_at): both writes of a record carry the same
-- created_at (the request's start). The id keeps coming from a sequence
-- (identity columns on partitioned tables need PostgreSQL 17), set past
-- the largest id copied.
CREATE TABLE usage_records_new (LIKE usage_records INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);
CREATE TABLE usage_records_default PARTITION OF usage_records_new DEFAULT;

-- Months from the oldest record's (at most 24 months back: older rows
-- stay in the DEFAULT partition) to 3 months ahead.
DO $$
DECLARE
    last  timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months') AT TIME ZONE 'UTC';
    m     timestamptz;
BEGIN
    SELECT date_trunc('month', min(created_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' INTO m FROM usage_records;
    m := GREATEST(COALESCE(m, last - interval '3 months'), last - interval '27 months');
    WHILE m <= last LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF usage_records_new FOR VALUES FROM (%L) TO (%L)',
            'usage_records_p' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM'), m, m + interval '1 month');
        m := m + interval '1 month';
    END LOOP;
END $$;

INSERT INTO usage_records_new SELECT * FROM usage_records;
DROP TABLE usage_records;
ALTER TABLE usage_records_new RENAME TO usage_records;

CREATE SEQUENCE usage_records_id_seq OWNED BY usage_records.id;
SELECT setval('usage_records_id_seq', COALESCE((SELECT max(id) FROM usage_records), 0) + 1, false);
ALTER TABLE usage_records ALTER COLUMN id SET DEFAULT nextval('usage_records_id_seq');

CREATE UNIQUE INDEX usage_records_id ON usage_records (id, created_at);
CREATE UNIQUE INDEX usage_records_record_key ON usage_records (record_key, created_at);
CREATE INDEX usage_records_created_at ON usage_records (created_at);
CREATE INDEX usage_records_key_id ON usage_records (key_id, id);
CREATE INDEX usage_records_user_id ON usage_records (user_id, id);
CREATE INDEX usage_records_team_id ON usage_records (team_id, id);
CREATE INDEX usage_records_response_id ON usage_records (response_id);
CREATE INDEX usage_records_unrolled ON usage_records (id) WHERE rolled = 0;
