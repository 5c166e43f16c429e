-- The registry (users, keys, models, deployments, credentials), usage
-- records, and instance metadata.
--
-- Portable SQL for SQLite and PostgreSQL. {{id}}, {{timestamp}}, {{blob}}
-- and {{bool}} expand to each database's types (see dialect.ddl). JSON
-- documents are TEXT in both: nothing queries inside them.

CREATE TABLE users (
    id            {{id}},
    email         TEXT NOT NULL UNIQUE, -- stored lower-cased
    name          TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    disabled_at   {{timestamp}},
    created_at    {{timestamp}} NOT NULL
);

CREATE TABLE api_keys (
    id             {{id}},
    name           TEXT NOT NULL DEFAULT '',
    prefix         TEXT NOT NULL,
    hash           {{blob}} NOT NULL UNIQUE, -- SHA-256 of the secret
    user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    allowed_models TEXT NOT NULL DEFAULT '[]', -- JSON array of model names; empty means all
    expires_at     {{timestamp}},
    revoked_at     {{timestamp}},
    created_at     {{timestamp}} NOT NULL,
    last_used_at   {{timestamp}}
);
CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE models (
    id             {{id}},
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    context_window INTEGER NOT NULL DEFAULT 0,
    max_output     INTEGER NOT NULL DEFAULT 0,
    owned_by       TEXT NOT NULL DEFAULT '',
    enabled        {{bool}} NOT NULL,
    created_at     {{timestamp}} NOT NULL,
    updated_at     {{timestamp}} NOT NULL
);

CREATE TABLE credentials (
    id         {{id}},
    name       TEXT NOT NULL UNIQUE,
    provider   TEXT NOT NULL,
    secret_enc {{blob}} NOT NULL, -- secret.Sealer output, associated data "chorus/credential/<id>"
    hint       TEXT NOT NULL DEFAULT '',
    created_at {{timestamp}} NOT NULL,
    updated_at {{timestamp}} NOT NULL
);

CREATE TABLE deployments (
    id             {{id}},
    model_id       BIGINT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    name           TEXT NOT NULL UNIQUE,
    provider       TEXT NOT NULL,
    upstream_model TEXT NOT NULL DEFAULT '',
    base_url       TEXT NOT NULL DEFAULT '',
    credential_id  BIGINT REFERENCES credentials (id) ON DELETE RESTRICT,
    headers        TEXT NOT NULL DEFAULT '{}', -- JSON object
    settings       TEXT NOT NULL DEFAULT '{}', -- JSON object
    input_price    BIGINT NOT NULL DEFAULT 0,  -- micro-credits per million tokens
    output_price   BIGINT NOT NULL DEFAULT 0,
    weight         INTEGER NOT NULL DEFAULT 1,
    enabled        {{bool}} NOT NULL,
    created_at     {{timestamp}} NOT NULL,
    updated_at     {{timestamp}} NOT NULL
);
CREATE INDEX deployments_model_id ON deployments (model_id);
CREATE INDEX deployments_credential_id ON deployments (credential_id);

-- Usage records keep names rather than foreign keys: a record outlives the
-- key, model or deployment it names, and writing one must never fail on a
-- concurrent delete.
CREATE TABLE usage_records (
    id            {{id}},
    request_id    TEXT NOT NULL,
    key_id        BIGINT NOT NULL,
    user_id       BIGINT NOT NULL,
    model         TEXT NOT NULL,
    deployment    TEXT NOT NULL DEFAULT '',
    provider      TEXT NOT NULL DEFAULT '',
    endpoint      TEXT NOT NULL,
    stream        {{bool}} NOT NULL,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    latency_ms    DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttft_ms       DOUBLE PRECISION NOT NULL DEFAULT 0,
    status        INTEGER NOT NULL,
    error_code    TEXT NOT NULL DEFAULT '',
    cost          BIGINT NOT NULL DEFAULT 0, -- micro-credits
    created_at    {{timestamp}} NOT NULL
);
CREATE INDEX usage_records_created_at ON usage_records (created_at);
CREATE INDEX usage_records_key_id ON usage_records (key_id, id);
CREATE INDEX usage_records_user_id ON usage_records (user_id, id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row. Every write to the registry tables increments it in the same
-- transaction; instances poll it to know when to rebuild their snapshot.
CREATE TABLE registry_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (1, 1);
