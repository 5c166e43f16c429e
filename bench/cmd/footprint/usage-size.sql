-- Bytes a usage record takes in PostgreSQL (table and its indexes), for
-- docs/resource-right-sizing.md. Run against a fresh, migrated database:
--
--   createdb chorus_size && CHORUS_DATABASE_URL=postgres://…/chorus_size ./bin/chorus migrate
--   psql postgres://…/chorus_size -f bench/cmd/footprint/usage-size.sql && dropdb chorus_size
--
-- The rows look like a plain model's records (no route, no attempts).
INSERT INTO usage_records (request_id, response_id, key_id, user_id, team_id, model, deployment, provider, endpoint, stream,
  input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms, status,
  error_code, cost, route, attempts, created_at)
SELECT 'req_' || md5(i::text), 'chatcmpl-' || md5((i*7)::text), 1 + i % 50, 1 + i % 40, 1 + i % 10, 'gpt-4o',
  'gpt-4o-openai', 'openai', 'chat', i % 2 = 0, 1200 + i % 500, 300 + i % 200, 0, 0, 0, 850.5 + i % 100, 210.25, 200,
  '', 4200 + i % 1000, '', '[]', now() - (i || ' seconds')::interval
FROM generate_series(1, 200000) i;
ANALYZE usage_records;
SELECT count(*), pg_size_pretty(pg_relation_size('usage_records')) AS heap,
  pg_size_pretty(pg_indexes_size('usage_records')) AS indexes,
  pg_total_relation_size('usage_records') / count(*) AS bytes_per_record
FROM usage_records;
