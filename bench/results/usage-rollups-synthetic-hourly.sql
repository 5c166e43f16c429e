SET search_path = chorus_bench_usage10m;
SET work_mem = '512MB';
TRUNCATE usage_hourly;
INSERT INTO usage_hourly (bucket, team_id, key_id, user_id, model, deployment, provider, status, requests, errors, input_tokens, output_tokens,
  cached_input_tokens, cache_write_tokens, reasoning_tokens, cost, revenue, provider_cost, saved, cache_hits, energy_wh, co2e_g,
  latency_ms_sum, ttft_count, ttft_ms_sum, latency_sketch, ttft_sketch)
SELECT TIMESTAMPTZ '2026-12-01T00:00:00Z' - make_interval(hours => h), 1 + k % 50, k, 1 + k % 120, 'model-' || m, 'model-' || m || '-' || (c % 2),
  (ARRAY['openai','anthropic','gemini','simulator'])[1 + m % 4], st, 9, CASE WHEN st >= 400 THEN 9 ELSE 0 END, 9 * 550, 9 * 220, 0, 0, 0, 9 * 3500, 9 * 3500, 9 * 3500, 0, 1,
  2.7, 1.08, 9 * 2550, 3, 3 * 160,
  'z0 ' || (95 + c % 60) || ':3 ' || (140 + c % 50) || ':4 ' || (170 + c % 30) || ':2', 'z0 ' || (60 + c % 40) || ':2 ' || (110 + c % 30) || ':1'
FROM generate_series(1, 2160) AS h, generate_series(0, 599) AS c,
  LATERAL (SELECT 1 + c % 200 AS k) kk, LATERAL (SELECT (k + (c / 200) % 2) % 10 AS m, CASE WHEN c / 200 = 2 THEN 429 ELSE 200 END AS st) mm
ON CONFLICT DO NOTHING;
ANALYZE usage_hourly;
ANALYZE usage_daily;
SELECT (SELECT COUNT(*) FROM usage_hourly), (SELECT COUNT(*) FROM usage_daily);
