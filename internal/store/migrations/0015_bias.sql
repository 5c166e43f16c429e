-- Bias test runs (internal/bias, docs/bias-testing.md): one row per run of
-- a suite against a model or route, and one row per measured gap, so runs
-- of a model and suite can be compared over time.
CREATE TABLE bias_runs (
    id            {{id}},
    model         TEXT NOT NULL,
    suite         TEXT NOT NULL,
    suite_hash    TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    seed          BIGINT NOT NULL DEFAULT 0,
    repetitions   INTEGER NOT NULL DEFAULT 1,
    judge_model   TEXT NOT NULL DEFAULT '',
    planned       INTEGER NOT NULL DEFAULT 0,
    requests      INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    inconclusive  INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    created_by    BIGINT NOT NULL DEFAULT 0,
    started_at    {{timestamp}} NOT NULL,
    deadline      {{timestamp}} NOT NULL,
    finished_at   {{timestamp}}
);
CREATE INDEX bias_runs_model_suite ON bias_runs (model, suite, id);

CREATE TABLE bias_results (
    run_id     BIGINT NOT NULL REFERENCES bias_runs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    task       TEXT NOT NULL,
    attribute  TEXT NOT NULL,
    value      TEXT NOT NULL,
    reference  TEXT NOT NULL,
    metric     TEXT NOT NULL,
    n          INTEGER NOT NULL,
    ref_n      INTEGER NOT NULL,
    mean       DOUBLE PRECISION NOT NULL,
    ref_mean   DOUBLE PRECISION NOT NULL,
    gap        DOUBLE PRECISION NOT NULL,
    low        DOUBLE PRECISION NOT NULL,
    high       DOUBLE PRECISION NOT NULL,
    threshold  DOUBLE PRECISION NOT NULL,
    verdict    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
