package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
)

const sessionColumns = `s.id, s.user_id, s.token_hash, s.csrf_token, s.mfa_pending, s.mfa_at, s.ip, s.user_agent,
	s.created_at, s.last_seen, s.expires_at, s.revoked_at`

// CreateSession stores a new session and sets its ID. The caller generates
// the token and passes only its hash. It writes no audit entry: the login
// that creates the session records itself (see CreateSessionAudited).
func (db *DB) CreateSession(ctx context.Context, s *chorus.Session) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createSessionTx(ctx, tx, db.timeNow(), s); err != nil {
		return err
	}
	return commit(tx)
}

func createSessionTx(ctx context.Context, tx *tx, now time.Time, s *chorus.Session) error {
	switch {
	case len(s.TokenHash) == 0:
		return chorus.Invalid("token_hash", "session token hash is required")
	case s.UserID <= 0:
		return chorus.Invalid("user_id", "session user is required")
	case s.CSRFToken == "":
		return chorus.Invalid("csrf_token", "session CSRF token is required")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.LastSeen.IsZero() {
		s.LastSeen = s.CreatedAt
	}
	s.CreatedAt, s.LastSeen, s.ExpiresAt = normTime(s.CreatedAt), normTime(s.LastSeen), normTime(s.ExpiresAt)
	s.MFAAt = normTimePtr(s.MFAAt)
	err := tx.queryRow(ctx, `INSERT INTO sessions
		(user_id, token_hash, csrf_token, mfa_pending, mfa_at, ip, user_agent, created_at, last_seen, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		s.UserID, s.TokenHash, s.CSRFToken, s.MFAPending, s.MFAAt, s.IP, s.UserAgent,
		s.CreatedAt, s.LastSeen, s.ExpiresAt).Scan(&s.ID)
	switch {
	case tx.d.isForeignKey(err):
		return chorus.Invalid("user_id", "user %d does not exist", s.UserID)
	case err != nil:
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// CreateLoginSession stores the session a successful sign-in opens, with
// the sign-in's audit entry (auth.login.succeeded, the session's user as
// the actor) in the same transaction, and sets its ID.
func (db *DB) CreateLoginSession(ctx context.Context, s *chorus.Session) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createSessionTx(ctx, tx, db.timeNow(), s); err != nil {
		return err
	}
	var teamID int64
	if err := tx.queryRow(ctx, `SELECT COALESCE(team_id, 0) FROM users WHERE id = ?`, s.UserID).Scan(&teamID); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	actor := chorus.ActorFromContext(ctx)
	actor.UserID, actor.SessionID, actor.System = s.UserID, s.ID, ""
	e := auditEntry(chorus.AuditLoginSucceeded, "user", idString(s.UserID), teamID,
		map[string]any{"session_id": s.ID, "mfa_pending": s.MFAPending, "user_agent": s.UserAgent})
	e.Actor = actor
	if err := appendAudit(ctx, tx, e); err != nil {
		return err
	}
	return commit(tx)
}

// RecordLoginFailure records a failed sign-in (auth.login.failed). The
// email as typed is kept only as an HMAC: people type passwords into the
// email field, so the clear text could put a password in the log, while
// the HMAC still correlates the attempts on one address. userID is the
// account the email belongs to (0 when none: the entry's target is then
// empty); reason says why (unknown_user, wrong_password, disabled,
// no_password) for the operator — the client is told none of it.
func (db *DB) RecordLoginFailure(ctx context.Context, email string, userID int64, reason string) error {
	mac, err := db.auditSecret(ctx, normEmail(email))
	if err != nil {
		return err
	}
	e := auditEntry(chorus.AuditLoginFailed, "", "", 0, map[string]any{"email_hmac": mac, "reason": reason})
	if userID != 0 {
		e.TargetType, e.TargetID = "user", idString(userID)
	}
	return db.Audit(ctx, e)
}

// SessionByTokenHash returns the session whose token hashes to hash and its
// user, read from the database on every call so that a revocation or a
// disabled user takes effect on the next request on every instance. A
// revoked or expired session, or one whose user is disabled, is ENOTFOUND.
func (db *DB) SessionByTokenHash(ctx context.Context, hash []byte) (*chorus.Session, *chorus.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	row := tx.queryRow(ctx, `SELECT `+sessionColumns+`, `+prefixed("u.", userColumns)+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled_at IS NULL`,
		hash, db.timeNow())
	var s chorus.Session
	var u chorus.User
	err = row.Scan(append(sessionDest(&s), userDest(&u)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("session not found")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("session by token: %w", err)
	}
	return &s, &u, nil
}

// TouchSession records that the session was used at at.
func (db *DB) TouchSession(ctx context.Context, id int64, at time.Time) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.exec(ctx, `UPDATE sessions SET last_seen = ? WHERE id = ?`, normTime(at), id); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return commit(tx)
}

// ListSessions returns a user's active sessions, newest first.
func (db *DB) ListSessions(ctx context.Context, userID int64) ([]*chorus.Session, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT `+sessionColumns+` FROM sessions s
		WHERE s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? ORDER BY s.id DESC LIMIT ?`,
		userID, db.timeNow(), chorus.MaxPageSize)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Session
	for rows.Next() {
		var s chorus.Session
		if err := rows.Scan(sessionDest(&s)...); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		out = append(out, &s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// RevokeSession revokes one of the user's sessions (ENOTFOUND if the user
// has no such active session) and records it in the audit log.
func (db *DB) RevokeSession(ctx context.Context, userID, id int64, reason string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`,
		db.timeNow(), id, userID)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n == 0 {
		return notFound("session %d not found", id)
	}
	action := chorus.AuditSessionRevoked
	if reason == "logout" {
		action = chorus.AuditLogout
	}
	if err := appendAudit(ctx, tx, auditEntry(action, "session", strconv.FormatInt(id, 10), 0,
		map[string]any{"user_id": userID, "reason": reason})); err != nil {
		return err
	}
	return commit(tx)
}

// RevokeUserSessions revokes every active session of a user except
// exceptID (0 keeps none) in one transaction with its audit entry, and
// returns how many it revoked.
func (db *DB) RevokeUserSessions(ctx context.Context, userID, exceptID int64, reason string) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := revokeUserSessionsTx(ctx, tx, db.timeNow(), userID, exceptID, reason)
	if err != nil {
		return 0, err
	}
	return n, commit(tx)
}

// revokeUserSessionsTx revokes a user's sessions inside tx and audits it
// when there were any.
func revokeUserSessionsTx(ctx context.Context, tx *tx, now time.Time, userID, exceptID int64, reason string) (int64, error) {
	res, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`,
		now, userID, exceptID)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, err := affected(res)
	if err != nil || n == 0 {
		return n, err
	}
	err = appendAudit(ctx, tx, auditEntry(chorus.AuditSessionRevoked, "user", strconv.FormatInt(userID, 10), 0,
		map[string]any{"sessions": n, "kept_session_id": exceptID, "reason": reason}))
	return n, err
}

func sessionDest(s *chorus.Session) []any {
	return []any{&s.ID, &s.UserID, &s.TokenHash, &s.CSRFToken, &s.MFAPending, scanNullTime(&s.MFAAt), &s.IP, &s.UserAgent,
		scanTime(&s.CreatedAt), scanTime(&s.LastSeen), scanTime(&s.ExpiresAt), scanNullTime(&s.RevokedAt)}
}
