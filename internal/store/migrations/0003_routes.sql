-- Routes: public model names that route over several models with a
-- strategy (fallback, balance, hedge, cascade, ensemble); and, on usage
-- records, the route asked for and every upstream call made for the request.
--
-- A route's name shares the namespace of model names (clients ask for either
-- as "model"). No constraint can span two tables, so the store checks it in
-- the writing transaction. Targets name models rather than pointing at them,
-- as usage records do: deleting a model leaves the route, which the registry
-- then serves without that target.

CREATE TABLE routes (
    id          {{id}},
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    strategy    TEXT NOT NULL,
    targets     TEXT NOT NULL DEFAULT '[]', -- JSON array of chorus.RouteTarget, in order
    config      TEXT NOT NULL DEFAULT '{}', -- JSON object, chorus.RouteConfig
    enabled     {{bool}} NOT NULL,
    created_at  {{timestamp}} NOT NULL,
    updated_at  {{timestamp}} NOT NULL
);

ALTER TABLE usage_records ADD COLUMN route TEXT NOT NULL DEFAULT '';
ALTER TABLE usage_records ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]'; -- JSON array of chorus.UsageAttempt
