-- Errors the consoles report from the browser (POST /api/client-errors),
-- scrubbed of secrets, for admins (GET /api/admin/client-errors). Kept for
-- store.ClientErrorRetention, then purged.
CREATE TABLE client_errors (
    id         {{id}},
    user_id    BIGINT NOT NULL DEFAULT 0,
    team_id    BIGINT NOT NULL DEFAULT 0,
    message    TEXT NOT NULL,
    stack      TEXT NOT NULL DEFAULT '',
    route      TEXT NOT NULL DEFAULT '',
    release    TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at {{timestamp}} NOT NULL
);
CREATE INDEX client_errors_created_at ON client_errors (created_at);
