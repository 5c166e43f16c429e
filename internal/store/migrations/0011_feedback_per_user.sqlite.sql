-- One row per answer per key AND user: feedback given in a session has no
-- key (key_id 0), so two members of a team rating one answer in the
-- console must not share a row. SQLite cannot change a table's
-- constraints: the table is rebuilt.

CREATE TABLE feedback_new (
    id          {{id}},
    response_id TEXT NOT NULL,
    request_id  TEXT NOT NULL DEFAULT '',
    key_id      BIGINT NOT NULL,
    user_id     BIGINT NOT NULL,
    model       TEXT NOT NULL DEFAULT '',
    route       TEXT NOT NULL DEFAULT '',
    rating      TEXT CHECK (rating IN ('up', 'down')),
    score       DOUBLE PRECISION CHECK (score >= 0 AND score <= 1),
    comment     TEXT NOT NULL DEFAULT '',
    created_at  {{timestamp}} NOT NULL,
    updated_at  {{timestamp}} NOT NULL,
    team_id     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (response_id, key_id, user_id)
);
INSERT INTO feedback_new (id, response_id, request_id, key_id, user_id, model, route, rating, score, comment,
    created_at, updated_at, team_id)
SELECT id, response_id, request_id, key_id, user_id, model, route, rating, score, comment,
    created_at, updated_at, team_id FROM feedback;
DROP TABLE feedback;
ALTER TABLE feedback_new RENAME TO feedback;
CREATE INDEX feedback_created_at ON feedback (created_at);
CREATE INDEX feedback_model ON feedback (model, created_at);
CREATE INDEX feedback_route ON feedback (route, created_at);
CREATE INDEX feedback_team_id ON feedback (team_id, id);
