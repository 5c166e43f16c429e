-- The double-entry credits ledger and redemption codes.
--
-- Every posting moves credits between accounts: its entries sum to zero.
-- An account's balance is the sum of its entries, kept up to date in the
-- posting's own transaction so that reading a balance is one row. Amounts
-- are micro-credits (1 credit = 1,000,000).

CREATE TABLE ledger_accounts (
    id       {{id}},
    name     TEXT NOT NULL UNIQUE,                 -- "team:<id>" or "system:<name>"
    team_id  BIGINT REFERENCES teams (id),          -- set for a team's wallet
    balance  BIGINT NOT NULL DEFAULT 0,            -- the sum of the account's entries
    reserved BIGINT NOT NULL DEFAULT 0             -- held by requests in flight; available = balance - reserved
);
CREATE INDEX ledger_accounts_team_id ON ledger_accounts (team_id);

CREATE TABLE ledger_postings (
    id              {{id}},
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    team_id         BIGINT NOT NULL DEFAULT 0,     -- the team it concerns; 0 for none
    memo            TEXT NOT NULL DEFAULT '',
    ref             TEXT NOT NULL DEFAULT '',
    created_at      {{timestamp}} NOT NULL
);
CREATE INDEX ledger_postings_team_id ON ledger_postings (team_id, id);
CREATE INDEX ledger_postings_created_at ON ledger_postings (created_at);

CREATE TABLE ledger_entries (
    id         {{id}},
    posting_id BIGINT NOT NULL REFERENCES ledger_postings (id),
    account_id BIGINT NOT NULL REFERENCES ledger_accounts (id),
    amount     BIGINT NOT NULL                     -- signed; positive credits the account
);
CREATE INDEX ledger_entries_posting_id ON ledger_entries (posting_id);
CREATE INDEX ledger_entries_account_id ON ledger_entries (account_id);

-- Redemption codes come in batches; a code is shown once at creation and
-- only its SHA-256 (of the normalised form) is kept.
CREATE TABLE code_batches (
    id          {{id}},
    memo        TEXT NOT NULL DEFAULT '',
    amount      BIGINT NOT NULL,                   -- micro-credits per redemption
    max_uses    BIGINT NOT NULL,                   -- per code
    code_count  INTEGER NOT NULL,
    expires_at  {{timestamp}},
    disabled_at {{timestamp}},
    created_by  BIGINT NOT NULL DEFAULT 0,         -- user ID, 0 for a system actor
    created_at  {{timestamp}} NOT NULL
);

CREATE TABLE redemption_codes (
    id        {{id}},
    batch_id  BIGINT NOT NULL REFERENCES code_batches (id),
    code_hash {{blob}} NOT NULL UNIQUE,
    uses      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX redemption_codes_batch_id ON redemption_codes (batch_id);

CREATE TABLE code_redemptions (
    id         {{id}},
    code_id    BIGINT NOT NULL REFERENCES redemption_codes (id),
    team_id    BIGINT NOT NULL REFERENCES teams (id),
    posting_id BIGINT NOT NULL REFERENCES ledger_postings (id),
    created_at {{timestamp}} NOT NULL,
    UNIQUE (code_id, team_id)                      -- once per team
);
