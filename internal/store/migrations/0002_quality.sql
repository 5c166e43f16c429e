-- Quality: the scores scorers gave answers, the feedback clients gave them,
-- and the answer ID on usage records that ties feedback to the request.
--
-- Like usage records, these rows keep names rather than foreign keys: they
-- outlive the key, model or route they name.

ALTER TABLE usage_records ADD COLUMN response_id TEXT NOT NULL DEFAULT '';
CREATE INDEX usage_records_response_id ON usage_records (response_id);

-- One row per scorer per scored answer.
CREATE TABLE quality_scores (
    id          {{id}},
    request_id  TEXT NOT NULL DEFAULT '',
    response_id TEXT NOT NULL DEFAULT '',
    model       TEXT NOT NULL,
    route       TEXT NOT NULL DEFAULT '',
    deployment  TEXT NOT NULL DEFAULT '',
    key_id      BIGINT NOT NULL DEFAULT 0,
    user_id     BIGINT NOT NULL DEFAULT 0,
    scorer      TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL, -- in [0, 1]
    reason      TEXT NOT NULL DEFAULT '',
    created_at  {{timestamp}} NOT NULL
);
CREATE INDEX quality_scores_created_at ON quality_scores (created_at);
CREATE INDEX quality_scores_model ON quality_scores (model, created_at);
CREATE INDEX quality_scores_route ON quality_scores (route, created_at);
CREATE INDEX quality_scores_response_id ON quality_scores (response_id);

-- One row per answer per key: a key's later feedback on the same answer
-- replaces its earlier one.
CREATE TABLE feedback (
    id          {{id}},
    response_id TEXT NOT NULL,
    request_id  TEXT NOT NULL DEFAULT '',
    key_id      BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    model       TEXT NOT NULL DEFAULT '',
    route       TEXT NOT NULL DEFAULT '',
    rating      TEXT CHECK (rating IN ('up', 'down')), -- NULL when only a score was given
    score       DOUBLE PRECISION CHECK (score >= 0 AND score <= 1),
    comment     TEXT NOT NULL DEFAULT '',
    created_at  {{timestamp}} NOT NULL,
    updated_at  {{timestamp}} NOT NULL,
    UNIQUE (response_id, key_id)
);
CREATE INDEX feedback_created_at ON feedback (created_at);
CREATE INDEX feedback_model ON feedback (model, created_at);
CREATE INDEX feedback_route ON feedback (route, created_at);
