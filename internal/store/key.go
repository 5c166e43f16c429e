package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chorusgw/chorus"
)

const keyColumns = `k.id, k.name, k.prefix, k.hash, k.user_id, u.role, k.allowed_models,
	k.expires_at, k.revoked_at, k.created_at, k.last_used_at, k.cache_ttl_s, k.team_id`

const keyFrom = ` FROM api_keys k JOIN users u ON u.id = k.user_id `

// CreateKey stores a new API key and sets its ID, CreatedAt and Role (the
// owner's). The caller computes Hash and Prefix from the secret, which is
// never stored. A missing user is EINVALID; a duplicate hash ECONFLICT.
func (db *DB) CreateKey(ctx context.Context, k *chorus.APIKey) error {
	switch {
	case len(k.Hash) == 0:
		return chorus.Invalid("hash", "key hash is required")
	case k.Prefix == "":
		return chorus.Invalid("prefix", "key prefix is required")
	case k.UserID <= 0:
		return chorus.Invalid("user_id", "key owner is required")
	}
	allowed, err := jsonText(k.AllowedModels, "[]")
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var team sql.NullInt64
	err = tx.queryRow(ctx, `SELECT role, team_id FROM users WHERE id = ?`, k.UserID).Scan(&k.Role, &team)
	k.TeamID = team.Int64
	if errors.Is(err, sql.ErrNoRows) {
		return chorus.Invalid("user_id", "user %d does not exist", k.UserID)
	}
	if err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.timeNow()
	}
	k.CreatedAt = normTime(k.CreatedAt)
	k.ExpiresAt, k.RevokedAt = normTimePtr(k.ExpiresAt), normTimePtr(k.RevokedAt)
	err = tx.queryRow(ctx, `INSERT INTO api_keys
		(name, prefix, hash, user_id, allowed_models, expires_at, revoked_at, created_at, cache_ttl_s, team_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		k.Name, k.Prefix, k.Hash, k.UserID, allowed, k.ExpiresAt, k.RevokedAt, k.CreatedAt, k.CacheTTLSeconds, k.TeamID).Scan(&k.ID)
	switch {
	case db.d.isUnique(err):
		return conflict(err, "a key with this secret exists already")
	case db.d.isForeignKey(err):
		return chorus.Invalid("user_id", "user %d does not exist", k.UserID)
	case err != nil:
		return fmt.Errorf("create key: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditKeyCreated, "key", idString(k.ID), k.TeamID, keyDetails(k)))
}

// KeyByHash returns the key whose secret hashes to hash, with its owner's
// Role. A key whose owner is disabled is not found. Revoked and expired keys
// are returned: check APIKey.Active.
func (db *DB) KeyByHash(ctx context.Context, hash []byte) (*chorus.APIKey, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	k, err := scanKey(tx.queryRow(ctx, `SELECT `+keyColumns+keyFrom+
		`WHERE k.hash = ? AND u.disabled_at IS NULL`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API key not found")
	}
	if err != nil {
		return nil, fmt.Errorf("key by hash: %w", err)
	}
	return k, nil
}

// KeyByID returns the key with the given ID, revoked and expired ones
// included, with its owner's Role.
func (db *DB) KeyByID(ctx context.Context, id int64) (*chorus.APIKey, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	k, err := scanKey(tx.queryRow(ctx, `SELECT `+keyColumns+keyFrom+`WHERE k.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API key %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("key by id: %w", err)
	}
	return k, nil
}

// ListKeys returns one page of keys in ID order, revoked and expired ones
// included.
func (db *DB) ListKeys(ctx context.Context, f chorus.KeyFilter, page chorus.Page) ([]*chorus.APIKey, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := `WHERE k.id > ?`, []any{page.After}
	if f.UserID != nil {
		where += ` AND k.user_id = ?`
		args = append(args, *f.UserID)
	}
	if f.TeamID != nil {
		where += ` AND k.team_id = ?`
		args = append(args, *f.TeamID)
	}
	args = append(args, limit(page))
	keys, err := queryKeys(ctx, tx, where+` ORDER BY k.id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey marks a key revoked at the given time (ENOTFOUND if there is no
// such key). Revoking a revoked key changes nothing and is not an error.
func (db *DB) RevokeKey(ctx context.Context, id int64, at time.Time) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var teamID int64
	var prefix string
	err = tx.queryRow(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL
		RETURNING team_id, prefix`, at, id).Scan(&teamID, &prefix)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		var exists int
		err := tx.queryRow(ctx, `SELECT COUNT(*) FROM api_keys WHERE id = ?`, id).Scan(&exists)
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if exists == 0 {
			return notFound("API key %d not found", id)
		}
		return nil // revoked already
	case err != nil:
		return fmt.Errorf("revoke key: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditKeyRevoked, "key", idString(id), teamID,
		map[string]any{"prefix": prefix, "revoked_at": normTime(at)}))
}

// SetKeyCacheTTL sets a key's response cache opt-in (see
// chorus.APIKey.CacheTTLSeconds); ENOTFOUND if there is no such key. The
// registry is bumped, so every instance applies it at its next refresh.
func (db *DB) SetKeyCacheTTL(ctx context.Context, id int64, seconds int) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var teamID int64
	var prefix string
	err = tx.queryRow(ctx, `UPDATE api_keys SET cache_ttl_s = ? WHERE id = ? RETURNING team_id, prefix`,
		seconds, id).Scan(&teamID, &prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("API key %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("set key cache ttl: %w", err)
	}
	return commitRegistryChange(ctx, tx, auditEntry(chorus.AuditKeyUpdated, "key", idString(id), teamID,
		map[string]any{"prefix": prefix, "cache_ttl_s": seconds}))
}

// ActiveKeys returns every key that may be used now: not revoked, not
// expired, and owned by a user who is not disabled.
func (db *DB) ActiveKeys(ctx context.Context) ([]*chorus.APIKey, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return activeKeys(ctx, tx, db.timeNow())
}

// TouchKeys records when keys were last used. It is meant to be called in
// batches off the request path; a time earlier than the stored one is
// ignored. It does not bump the registry version: last use is not part of
// the snapshot.
func (db *DB) TouchKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for id, at := range used {
		if _, err := tx.exec(ctx, `UPDATE api_keys SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, at, id, at); err != nil {
			return fmt.Errorf("touch keys: %w", err)
		}
	}
	return commit(tx)
}

func activeKeys(ctx context.Context, tx *tx, now time.Time) ([]*chorus.APIKey, error) {
	keys, err := queryKeys(ctx, tx, `WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)
		AND u.disabled_at IS NULL ORDER BY k.id`, now)
	if err != nil {
		return nil, fmt.Errorf("active keys: %w", err)
	}
	return keys, nil
}

func queryKeys(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.APIKey, error) {
	rows, err := tx.query(ctx, `SELECT `+keyColumns+keyFrom+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func scanKey(s scanner) (*chorus.APIKey, error) {
	var k chorus.APIKey
	err := s.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &k.UserID, &k.Role, jsonCol{&k.AllowedModels},
		scanNullTime(&k.ExpiresAt), scanNullTime(&k.RevokedAt), scanTime(&k.CreatedAt), scanNullTime(&k.LastUsedAt),
		&k.CacheTTLSeconds, &k.TeamID)
	if err != nil {
		return nil, err
	}
	if len(k.AllowedModels) == 0 {
		k.AllowedModels = nil
	}
	return &k, nil
}
