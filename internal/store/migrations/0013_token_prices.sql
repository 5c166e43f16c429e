-- Prices that match providers' bills: optional per-deployment prices of
-- cached input, cache writes and reasoning (micro-credits per million
-- tokens; NULL charges them at the input or output price); usage records
-- count those classes apart. And what a request asking for more output
-- tokens than its model allows gets: refused (400) or clamped.
ALTER TABLE deployments ADD COLUMN cached_input_price BIGINT;
ALTER TABLE deployments ADD COLUMN cache_write_price BIGINT;
ALTER TABLE deployments ADD COLUMN reasoning_price BIGINT;

ALTER TABLE models ADD COLUMN max_tokens_policy TEXT NOT NULL DEFAULT 'refuse'
    CHECK (max_tokens_policy IN ('refuse', 'clamp'));

ALTER TABLE usage_records ADD COLUMN cached_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;
