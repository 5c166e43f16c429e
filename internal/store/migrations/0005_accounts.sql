-- Accounts: teams, sessions, MFA, invitations. Every user belongs to one
-- team; keys are owned by a user and spend their team's credits.

CREATE TABLE teams (
    id         {{id}},
    name       TEXT NOT NULL,
    created_at {{timestamp}} NOT NULL
);

ALTER TABLE users ADD COLUMN team_id BIGINT REFERENCES teams (id);
ALTER TABLE users ADD COLUMN team_role TEXT NOT NULL DEFAULT 'owner';
ALTER TABLE users ADD COLUMN password_changed_at {{timestamp}};
-- TOTP: the secret is sealed (secret.Sealer, associated data
-- "chorus/totp/<user id>"); mfa_enabled_at is set when the enrolment is
-- confirmed by a first code; mfa_last_step is the last accepted TOTP time
-- step, so a code cannot be replayed within its window.
ALTER TABLE users ADD COLUMN mfa_secret_enc {{blob}};
ALTER TABLE users ADD COLUMN mfa_enabled_at {{timestamp}};
ALTER TABLE users ADD COLUMN mfa_last_step BIGINT NOT NULL DEFAULT 0;

-- Existing users each get a team of their own (emails are unique, so the
-- name finds it back).
INSERT INTO teams (name, created_at) SELECT email, created_at FROM users;
UPDATE users SET team_id = (SELECT t.id FROM teams t WHERE t.name = users.email);
CREATE INDEX users_team_id ON users (team_id);

ALTER TABLE api_keys ADD COLUMN team_id BIGINT NOT NULL DEFAULT 0;
UPDATE api_keys SET team_id = (SELECT u.team_id FROM users u WHERE u.id = api_keys.user_id);
CREATE INDEX api_keys_team_id ON api_keys (team_id, id);

ALTER TABLE usage_records ADD COLUMN team_id BIGINT NOT NULL DEFAULT 0;
UPDATE usage_records SET team_id = COALESCE((SELECT u.team_id FROM users u WHERE u.id = usage_records.user_id), 0);
CREATE INDEX usage_records_team_id ON usage_records (team_id, id);

CREATE TABLE sessions (
    id          {{id}},
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  {{blob}} NOT NULL UNIQUE, -- SHA-256 of the cookie's token
    csrf_token  TEXT NOT NULL,
    mfa_pending {{bool}} NOT NULL,
    mfa_at      {{timestamp}},
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    created_at  {{timestamp}} NOT NULL,
    last_seen   {{timestamp}} NOT NULL,
    expires_at  {{timestamp}} NOT NULL,
    revoked_at  {{timestamp}}
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE mfa_backup_codes (
    id        {{id}},
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash {{blob}} NOT NULL, -- SHA-256 of the normalised code
    used_at   {{timestamp}}
);
CREATE INDEX mfa_backup_codes_user_id ON mfa_backup_codes (user_id);

-- Invitations: the token is shown once; only its SHA-256 is kept.
CREATE TABLE invites (
    id          {{id}},
    token_hash  {{blob}} NOT NULL UNIQUE,
    email       TEXT NOT NULL DEFAULT '', -- '' invites anyone holding the token
    team_id     BIGINT REFERENCES teams (id) ON DELETE CASCADE, -- NULL: the invitee gets a new team
    role        TEXT NOT NULL DEFAULT 'customer',
    team_role   TEXT NOT NULL DEFAULT 'member',
    created_by  BIGINT NOT NULL,
    created_at  {{timestamp}} NOT NULL,
    expires_at  {{timestamp}} NOT NULL,
    used_at     {{timestamp}},
    used_by     BIGINT
);

-- A TOTP secret whose enrolment is not yet confirmed by a first code, sealed
-- like mfa_secret_enc. Confirming moves it there, so re-enrolling does not
-- disturb the enabled factor until the new one is proven.
ALTER TABLE users ADD COLUMN mfa_pending_secret_enc {{blob}};
