-- The tamper-evident audit log (package audit): an append-only hash chain.
-- seq runs 1, 2, 3… without gaps; hash = SHA-256 of the canonical encoding
-- of every other column (package audit documents it). audit_head holds the
-- seq and hash of the last entry; every append updates it in the append's
-- transaction, which serialises appends (a row lock on PostgreSQL; SQLite
-- has one writer) and lets a verifier notice a truncated tail.
--
-- This file has a PostgreSQL twin (0006_audit.postgres.sql). They differ only in
-- the collation of action, byte order (SQLite's default BINARY here) so that a
-- prefix is a range, and in the blob literal.

CREATE TABLE audit_log (
    seq              BIGINT PRIMARY KEY,
    at               {{timestamp}} NOT NULL,
    actor_user_id    BIGINT NOT NULL DEFAULT 0,
    actor_key_id     BIGINT NOT NULL DEFAULT 0,
    actor_session_id BIGINT NOT NULL DEFAULT 0,
    actor_ip         TEXT NOT NULL DEFAULT '',
    actor_request_id TEXT NOT NULL DEFAULT '',
    actor_system     TEXT NOT NULL DEFAULT '',
    action           TEXT NOT NULL,
    target_type      TEXT NOT NULL DEFAULT '',
    target_id        TEXT NOT NULL DEFAULT '',
    team_id          BIGINT NOT NULL DEFAULT 0,
    details          TEXT NOT NULL DEFAULT '', -- canonical JSON, '' for none; hashed as stored
    prev_hash        {{blob}} NOT NULL,
    hash             {{blob}} NOT NULL
);
CREATE INDEX audit_log_actor_user ON audit_log (actor_user_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq); -- exact match and prefix ranges
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, seq);
CREATE INDEX audit_log_team ON audit_log (team_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash {{blob}} NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, X'0000000000000000000000000000000000000000000000000000000000000000');
