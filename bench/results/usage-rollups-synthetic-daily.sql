SET search_path = chorus_bench_usage10m;
SET work_mem = '512MB';
TRUNCATE usage_hourly;
TRUNCATE usage_daily;
INSERT INTO usage_hourly (bucket, team_id, key_id, user_id, model, deployment, provider, status, requests, errors, input_tokens, output_tokens,
  cached_input_tokens, cache_write_tokens, reasoning_tokens, cost, revenue, provider_cost, saved, cache_hits, energy_wh, co2e_g,
  latency_ms_sum, ttft_count, ttft_ms_sum, latency_sketch, ttft_sketch)
SELECT TIMESTAMPTZ '2026-12-01T00:00:00Z' - make_interval(hours => h), 1 + k % 50, k, 1 + k % 120, 'model-' || m, 'model-' || m || '-' || (c % 2),
  (ARRAY['openai','anthropic','gemini','simulator'])[1 + m % 4], st, 9, CASE WHEN st >= 400 THEN 9 ELSE 0 END, 9 * 550, 9 * 220, 0, 0, 0, 9 * 3500, 9 * 3500, 9 * 3500, 0, 1,
  2.7, 1.08, 9 * 2550, 3, 3 * 160,
  'z0 ' || (95 + c % 60) || ':3 ' || (140 + c % 50) || ':4 ' || (170 + c % 30) || ':2', 'z0 ' || (60 + c % 40) || ':2 ' || (110 + c % 30) || ':1'
FROM generate_series(1, 2160) AS h, generate_series(0, 509) AS c,
  LATERAL (SELECT 1 + (c * 7) % 200 AS k) kk, LATERAL (SELECT (k + c % 2) % 10 AS m, CASE WHEN c % 50 = 7 THEN 429 WHEN c % 97 = 3 THEN 500 ELSE 200 END AS st) mm;
INSERT INTO usage_daily (bucket, team_id, key_id, user_id, model, deployment, provider, status, requests, errors, input_tokens, output_tokens,
  cached_input_tokens, cache_write_tokens, reasoning_tokens, cost, revenue, provider_cost, saved, cache_hits, energy_wh, co2e_g,
  latency_ms_sum, ttft_count, ttft_ms_sum, latency_sketch, ttft_sketch)
SELECT TIMESTAMPTZ '2026-12-01T00:00:00Z' - make_interval(days => d), 1 + k % 50, k, 1 + k % 120, 'model-' || m, 'model-' || m || '-' || (c % 2),
  (ARRAY['openai','anthropic','gemini','simulator'])[1 + m % 4], st, 93, CASE WHEN st >= 400 THEN 93 ELSE 0 END, 93 * 550, 93 * 220, 0, 0, 0, 93 * 3500, 93 * 3500, 93 * 3500, 0, 9,
  27.9, 11.16, 93 * 2550, 31, 31 * 160,
  'z0 ' || (SELECT string_agg((90 + i * 4 + c % 4) || ':' || (1 + (i + c) % 5), ' ') FROM generate_series(1, 30) i),
  'z0 ' || (SELECT string_agg((50 + i * 5 + c % 5) || ':' || (1 + (i + c) % 3), ' ') FROM generate_series(1, 12) i)
FROM generate_series(1, 90) AS d, generate_series(0, 1199) AS c,
  LATERAL (SELECT 1 + c % 200 AS k) kk, LATERAL (SELECT (k + (c / 200) % 2) % 10 AS m, CASE WHEN c / 400 = 1 THEN 429 WHEN c / 400 = 2 THEN 500 ELSE 200 END AS st) mm
ON CONFLICT DO NOTHING;
ANALYZE usage_hourly;
ANALYZE usage_daily;
SELECT (SELECT COUNT(*) FROM usage_hourly), (SELECT COUNT(*) FROM usage_daily);
