-- Each usage record carries its request's idempotency key, so a batch
-- written again (a retry after a commit whose outcome was lost, a spool
-- replayed after a crash) stores every request once. Records written
-- before this migration have none (NULL; unique indexes ignore NULLs).
ALTER TABLE usage_records ADD COLUMN record_key TEXT;
CREATE UNIQUE INDEX usage_records_record_key ON usage_records (record_key);
