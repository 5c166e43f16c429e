-- On PostgreSQL usage_records becomes a table partitioned by month
-- (0020_usage_partitions.postgres.sql). SQLite has no partitions: raw
-- records keep being purged row by row (store.PurgeUsage).
SELECT 1;
