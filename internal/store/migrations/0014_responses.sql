-- Responses API answers kept for previous_response_id and
-- GET /v1/responses/{id} (chorus.StoredResponse): the input items and the
-- response object as JSON text, per team, purged after
-- responses.retention.
CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    team_id     BIGINT NOT NULL,
    key_id      BIGINT NOT NULL DEFAULT 0,
    user_id     BIGINT NOT NULL DEFAULT 0,
    model       TEXT NOT NULL,
    previous_id TEXT NOT NULL DEFAULT '',
    input       TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  {{timestamp}} NOT NULL
);
CREATE INDEX responses_created_at ON responses (created_at);
