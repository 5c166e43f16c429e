-- Metering: credit holds (reservations of requests in flight and the
-- leases of fast-mode instances), settlements, budgets, and the events and
-- webhook deliveries of budget alerts.

-- A hold reserves credit on one counter: a team's wallet (budget_id 0,
-- counted in ledger_accounts.reserved) or a budget's period (counted in
-- budget_periods.reserved). A strict-mode request holds its worst case on
-- the wallet and on each hard budget it falls under, all rows sharing its
-- ref; a fast-mode instance holds one lease per team it serves. Holds of a
-- crashed instance are released by the reaper once expired.
CREATE TABLE credit_holds (
    id           {{id}},
    ref          TEXT NOT NULL,                -- "<request id>.<nonce>", or "lease:<instance>:<team>"
    kind         TEXT NOT NULL,                -- 'request' or 'lease'
    team_id      BIGINT NOT NULL REFERENCES teams (id),
    budget_id    BIGINT NOT NULL DEFAULT 0,    -- 0: the team's wallet
    period_start {{timestamp}},                -- the budget's period; NULL on the wallet
    amount       BIGINT NOT NULL,              -- micro-credits held
    owner        TEXT NOT NULL,                -- the instance that holds it
    expires_at   {{timestamp}} NOT NULL,
    created_at   {{timestamp}} NOT NULL,
    UNIQUE (ref, budget_id)
);
CREATE INDEX credit_holds_expires_at ON credit_holds (expires_at);
CREATE INDEX credit_holds_owner ON credit_holds (owner, kind);

-- A settlement applies the charges of one request (strict) or of one
-- instance's batch (fast) exactly once: its key is unique, so a retried
-- settlement changes nothing.
CREATE TABLE settlements (
    id         {{id}},
    key        TEXT NOT NULL,
    team_id    BIGINT NOT NULL,
    requests   BIGINT NOT NULL,                -- requests settled
    cost       BIGINT NOT NULL,                -- what they cost
    charged    BIGINT NOT NULL,                -- what the wallet paid: cost, less what was exempt or not covered
    created_at {{timestamp}} NOT NULL,
    UNIQUE (key, team_id)
);
CREATE INDEX settlements_team_id ON settlements (team_id, id);

-- Budgets cap what a team, a user or a key spends per UTC day or month.
-- A hard budget refuses requests that could exceed it; a soft one alerts
-- (an event, and a signed webhook when webhook_url is set) once per period.
CREATE TABLE budgets (
    id                 {{id}},
    team_id            BIGINT NOT NULL REFERENCES teams (id),
    scope              TEXT NOT NULL,          -- team, user, key
    scope_id           BIGINT NOT NULL,        -- the team's, user's or key's ID
    period             TEXT NOT NULL,          -- day, month
    amount             BIGINT NOT NULL,        -- micro-credits per period
    hard               {{bool}} NOT NULL,
    webhook_url        TEXT NOT NULL DEFAULT '',
    webhook_secret_enc {{blob}},               -- sealed (secret.Sealer); shown once at creation
    created_at         {{timestamp}} NOT NULL,
    updated_at         {{timestamp}} NOT NULL,
    UNIQUE (scope, scope_id, period, hard)
);
CREATE INDEX budgets_team_id ON budgets (team_id, id);

CREATE TABLE budget_periods (
    budget_id    BIGINT NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
    period_start {{timestamp}} NOT NULL,
    spent        BIGINT NOT NULL DEFAULT 0,
    reserved     BIGINT NOT NULL DEFAULT 0,    -- held by strict-mode requests in flight
    alerted_at   {{timestamp}},                -- a soft budget's alert, once per period
    PRIMARY KEY (budget_id, period_start)
);

-- Events the consoles show (GET /api/events), such as budget alerts.
CREATE TABLE events (
    id         {{id}},
    team_id    BIGINT NOT NULL,
    type       TEXT NOT NULL,
    budget_id  BIGINT NOT NULL DEFAULT 0,
    data       TEXT NOT NULL,                  -- JSON
    created_at {{timestamp}} NOT NULL
);
CREATE INDEX events_team_id ON events (team_id, id);

-- The outbox of webhook deliveries: written in the transaction that raised
-- the event, sent by any instance's dispatcher, retried with backoff.
CREATE TABLE webhook_deliveries (
    id              {{id}},
    event_id        BIGINT NOT NULL REFERENCES events (id),
    budget_id       BIGINT NOT NULL,
    team_id         BIGINT NOT NULL,
    url             TEXT NOT NULL,
    status          TEXT NOT NULL,             -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {{timestamp}} NOT NULL,
    last_status     INTEGER NOT NULL DEFAULT 0, -- HTTP status of the last attempt; 0 when none came back
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    {{timestamp}},
    created_at      {{timestamp}} NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_event_id ON webhook_deliveries (event_id);
