-- Monthly usage rollups (docs/usage-analytics.md): the same rows as
-- usage_daily, one per calendar month (UTC) × team × key × user × model ×
-- deployment × provider × status, kept by the rollup worker in the same
-- transaction as the hourly and daily ones (store.RollUsage). A report
-- over a long range reads its whole months here and only its edges from
-- usage_daily and usage_hourly.
--
-- The months already rolled are summed here from usage_daily. A stored
-- sketch may be several sketches joined by '|' (chorus.Sketch.ParseSketch
-- merges them), so the backfill joins the days' sketches; the next batch
-- that adds to a month stores it merged.
CREATE TABLE usage_monthly (
    bucket              TEXT NOT NULL,
    team_id             BIGINT NOT NULL,
    key_id              BIGINT NOT NULL,
    user_id             BIGINT NOT NULL,
    model               TEXT NOT NULL,
    deployment          TEXT NOT NULL,
    provider            TEXT NOT NULL,
    status              INTEGER NOT NULL,
    requests            BIGINT NOT NULL DEFAULT 0,
    errors              BIGINT NOT NULL DEFAULT 0,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT NOT NULL DEFAULT 0,
    cost                BIGINT NOT NULL DEFAULT 0,
    revenue             BIGINT NOT NULL DEFAULT 0,
    provider_cost       BIGINT NOT NULL DEFAULT 0,
    saved               BIGINT NOT NULL DEFAULT 0,
    cache_hits          BIGINT NOT NULL DEFAULT 0,
    energy_wh           DOUBLE PRECISION NOT NULL DEFAULT 0,
    co2e_g              DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms_sum      DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttft_count          BIGINT NOT NULL DEFAULT 0,
    ttft_ms_sum         DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_sketch      TEXT NOT NULL DEFAULT '',
    ttft_sketch         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (bucket, team_id, key_id, user_id, model, deployment, provider, status)
);
CREATE INDEX usage_monthly_team ON usage_monthly (team_id, bucket);

INSERT INTO usage_monthly (bucket, team_id, key_id, user_id, model, deployment, provider, status, requests, errors, input_tokens, output_tokens,
    cached_input_tokens, cache_write_tokens, reasoning_tokens, cost, revenue, provider_cost, saved, cache_hits,
    energy_wh, co2e_g, latency_ms_sum, ttft_count, ttft_ms_sum, latency_sketch, ttft_sketch)
SELECT substr(bucket, 1, 8) || '01T00:00:00.000000Z', team_id, key_id, user_id, model, deployment, provider, status,
    SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens),
    SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cost), SUM(revenue), SUM(provider_cost), SUM(saved),
    SUM(cache_hits), SUM(energy_wh), SUM(co2e_g), SUM(latency_ms_sum), SUM(ttft_count), SUM(ttft_ms_sum),
    group_concat(latency_sketch, '|'), group_concat(ttft_sketch, '|')
FROM usage_daily GROUP BY 1, team_id, key_id, user_id, model, deployment, provider, status;
