-- Response cache opt-in per API key: cache_ttl_s > 0 caches the key's
-- answers that long (seconds), 0 leaves it to the route and the config,
-- < 0 opts the key out. See cache.Decide.

ALTER TABLE api_keys ADD COLUMN cache_ttl_s INTEGER NOT NULL DEFAULT 0;
