-- Usage analytics (docs/usage-analytics.md). Usage records carry what the
-- team was billed (revenue), what the providers' calls cost at the
-- deployments' prices (provider_cost), what the cache or a cascade saved,
-- whether the cache answered, and the energy and emissions estimates.
--
-- Rollups are maintained by the rollup worker: it takes records with
-- rolled = 0 that are final (or whose completion is overdue), adds them to
-- the hourly and daily rollups and sets rolled = 1, in one transaction, so
-- a crash or a replay never counts a record twice. A strict-mode record
-- stored with its settlement is final = 0 until the usage writer completes
-- it; a rolled record is never changed again (see store.InsertUsage).
ALTER TABLE usage_records ADD COLUMN revenue BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN provider_cost BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN saved BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN cache_hit {{bool}} NOT NULL DEFAULT FALSE;
ALTER TABLE usage_records ADD COLUMN energy_wh DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN co2e_g DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN final INTEGER NOT NULL DEFAULT 1;
ALTER TABLE usage_records ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN written_at {{timestamp}};
-- Records written before this migration cost the providers what they
-- cost the teams (no cache hit was told apart then).
UPDATE usage_records SET provider_cost = cost;
CREATE INDEX usage_records_unrolled ON usage_records (id) WHERE rolled = 0;

CREATE TABLE usage_hourly (
    bucket              {{timestamp}} NOT NULL,
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
CREATE INDEX usage_hourly_team ON usage_hourly (team_id, bucket);

CREATE TABLE usage_daily (
    bucket              {{timestamp}} NOT NULL,
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
CREATE INDEX usage_daily_team ON usage_daily (team_id, bucket);
