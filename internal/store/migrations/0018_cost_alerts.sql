-- Cost alerts (docs/cost-monitoring.md): thresholds on the usage rollups
-- per UTC day or month, fired once per alert and period — the unique
-- (alert_id, period_start) row makes that hold across instances and
-- restarts — as an event and, with a URL, a signed webhook delivery.
CREATE TABLE cost_alerts (
    id                 {{id}},
    name               TEXT NOT NULL,
    scope              TEXT NOT NULL,
    team_id            BIGINT NOT NULL DEFAULT 0,
    model              TEXT NOT NULL DEFAULT '',
    metric             TEXT NOT NULL,
    period             TEXT NOT NULL,
    threshold          DOUBLE PRECISION NOT NULL,
    webhook_url        TEXT NOT NULL DEFAULT '',
    webhook_secret_enc {{blob}},
    enabled            {{bool}} NOT NULL,
    created_at         {{timestamp}} NOT NULL,
    updated_at         {{timestamp}} NOT NULL
);

CREATE TABLE cost_alert_firings (
    id           {{id}},
    alert_id     BIGINT NOT NULL,
    period_start {{timestamp}} NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    threshold    DOUBLE PRECISION NOT NULL,
    event_id     BIGINT NOT NULL DEFAULT 0,
    fired_at     {{timestamp}} NOT NULL,
    UNIQUE (alert_id, period_start)
);

-- A webhook delivery carries a budget's alert or a cost alert's firing:
-- the secret that signs it is the one or the other's.
ALTER TABLE webhook_deliveries ADD COLUMN alert_id BIGINT NOT NULL DEFAULT 0;
