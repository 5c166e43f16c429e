-- Learned quality scorers (internal/quality/learned.go, docs/quality-learning.md):
-- their labelled examples (hashed features as JSON, the label, whether the
-- example is held out to measure the scorer) and saved versions of their
-- weights. Rolling a scorer back to a version deletes the examples after
-- the version's seq.
CREATE TABLE learned_examples (
    scope         TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    response_id   TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL,
    label         DOUBLE PRECISION NOT NULL CHECK (label >= 0 AND label <= 1),
    weight        DOUBLE PRECISION NOT NULL DEFAULT 1,
    holdout       INTEGER NOT NULL DEFAULT 0,
    features      TEXT NOT NULL,
    prior_features TEXT NOT NULL DEFAULT '',
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    created_at    {{timestamp}} NOT NULL,
    PRIMARY KEY (scope, seq)
);

CREATE TABLE learned_models (
    scope      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    snapshot   TEXT NOT NULL,
    created_at {{timestamp}} NOT NULL,
    PRIMARY KEY (scope, version)
);
