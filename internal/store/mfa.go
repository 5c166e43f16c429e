package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
)

// Multi-factor authentication. A user's TOTP secret is sealed with the
// DB's Sealer, bound to the user ("chorus/totp/<id>"), in
// users.mfa_secret_enc; an enrolment not yet confirmed keeps its secret in
// users.mfa_pending_secret_enc. Every verification locks the user's row
// first, so one user's verifications run one at a time on every instance:
// the failure count that throttles them is exact, and the conditional
// updates that consume a TOTP step or a backup code see each other.

// mfaUser is a user's MFA state, read under the lock on their row.
type mfaUser struct {
	id            int64
	teamID        int64
	secret        []byte // sealed; nil when MFA is off
	pendingSecret []byte // sealed; nil when no enrolment is pending
	enabled       bool
}

// totpAD is the associated data a user's TOTP secret is sealed with.
func totpAD(userID int64) []byte { return []byte("chorus/totp/" + strconv.FormatInt(userID, 10)) }

// errBadProof is the answer to a wrong, replayed or malformed code. One
// message for all, so an attacker learns nothing about which.
func errBadProof(p chorus.MFAProof) error {
	if p.BackupCode != "" {
		return chorus.Invalid("backup_code", "The backup code is incorrect or has been used.")
	}
	return chorus.Invalid("code", "The code is incorrect, expired or already used. Enter the current code from your authenticator app.")
}

// StartMFAEnrolment stores secret (a base32 TOTP secret, see
// auth.NewTOTP) sealed as the user's pending enrolment, replacing any
// earlier pending one. It does not change an enabled factor: that happens
// when ConfirmMFAEnrolment sees a first code. ENOTFOUND if there is no such
// user.
func (db *DB) StartMFAEnrolment(ctx context.Context, userID int64, secret string) error {
	if secret == "" {
		return chorus.Invalid("secret", "secret is required")
	}
	if db.sealer == nil {
		return fmt.Errorf("start mfa enrolment: %w", ErrNoSecretKey)
	}
	sealed, err := db.sealer.Seal([]byte(secret), totpAD(userID))
	if err != nil {
		return fmt.Errorf("start mfa enrolment: %w", err)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `UPDATE users SET mfa_pending_secret_enc = ? WHERE id = ?`, sealed, userID)
	if err != nil {
		return fmt.Errorf("start mfa enrolment: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n == 0 {
		return notFound("user %d not found", userID)
	}
	return commit(tx)
}

// ConfirmMFAEnrolment enables the pending enrolment when code is right for
// its secret: the secret becomes the user's factor (replacing an enabled
// one), backupHashes (auth.NewBackupCodes) replace every backup code, the
// code's step is consumed, and the session sessionID (0 for none) counts
// as verified now. A wrong code is recorded as a failure and refused
// (EINVALID); ECONFLICT when no enrolment is pending; ERATELIMIT while the
// user is throttled. Audited as AuditMFAEnrolled.
func (db *DB) ConfirmMFAEnrolment(ctx context.Context, userID int64, code string, backupHashes [][]byte, sessionID int64) error {
	proof := chorus.MFAProof{Code: code}
	if err := proof.Validate(); err != nil {
		return err
	}
	if len(backupHashes) == 0 {
		return chorus.Invalid("backup_codes", "backup codes are required")
	}
	if db.sealer == nil {
		return fmt.Errorf("confirm mfa enrolment: %w", ErrNoSecretKey)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return err
	}
	if err := mfaThrottleTx(ctx, tx, now, userID); err != nil {
		return err
	}
	if u.pendingSecret == nil {
		return chorus.Errorf(chorus.ECONFLICT, "No MFA enrolment is in progress: start one with POST /api/auth/mfa/enroll.")
	}
	secret, err := db.openTOTP(userID, u.pendingSecret)
	if err != nil {
		return err
	}
	step, ok, err := auth.MatchTOTP(secret, code, now)
	if err != nil {
		return fmt.Errorf("confirm mfa enrolment: %w", err)
	}
	if !ok {
		return failMFA(ctx, tx, u, proof, "enroll", "incorrect")
	}
	// The new secret's step is set outright: a step consumed by the old
	// secret says nothing about the new one.
	if _, err := tx.exec(ctx, `UPDATE users SET mfa_secret_enc = mfa_pending_secret_enc, mfa_pending_secret_enc = NULL,
		mfa_enabled_at = ?, mfa_last_step = ? WHERE id = ?`, now, step, userID); err != nil {
		return fmt.Errorf("confirm mfa enrolment: %w", err)
	}
	if err := replaceBackupCodesTx(ctx, tx, userID, backupHashes); err != nil {
		return err
	}
	if err := markSessionVerifiedTx(ctx, tx, now, userID, chorus.MFASession{ID: sessionID}); err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditMFAEnrolled, "user", idString(userID), u.teamID,
		map[string]any{"method": chorus.MFAMethodTOTP, "replaced_factor": u.enabled, "backup_codes": len(backupHashes)})); err != nil {
		return err
	}
	return commit(tx)
}

// VerifyMFA checks a user's second factor and, when it is right, consumes
// it (a TOTP step is accepted only if it is later than the last accepted
// one, so a code cannot be replayed, here or on another instance; a backup
// code is used up) and marks the session verified, rotating its token when
// s says so, all in one transaction with its audit entries
// (AuditMFAVerified, and AuditBackupCodeUsed for a backup code). A wrong or
// replayed proof is recorded (AuditMFAFailed) and refused (EINVALID);
// ERATELIMIT while the user is throttled; ECONFLICT when the user has no
// MFA. purpose ("login", "step_up") goes into the audit entries.
func (db *DB) VerifyMFA(ctx context.Context, userID int64, proof chorus.MFAProof, s chorus.MFASession, purpose string) (*chorus.MFAResult, error) {
	if err := proof.Validate(); err != nil {
		return nil, err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return nil, err
	}
	res, err := db.verifyProofTx(ctx, tx, now, u, proof, purpose)
	if err != nil {
		return nil, err
	}
	if err := markSessionVerifiedTx(ctx, tx, now, userID, s); err != nil {
		return nil, err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditMFAVerified, "user", idString(userID), u.teamID,
		map[string]any{"method": res.Method, "purpose": purpose, "session_id": s.ID, "rotated": len(s.NewTokenHash) > 0})); err != nil {
		return nil, err
	}
	return res, commit(tx)
}

// DisableMFA turns a user's MFA off when proof is right: the secret, any
// pending enrolment and every backup code are deleted in one transaction,
// audited as AuditMFADisabled. The caller has checked the password (and
// step-up) first. Failures and throttling are as for VerifyMFA.
func (db *DB) DisableMFA(ctx context.Context, userID int64, proof chorus.MFAProof) error {
	if err := proof.Validate(); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return err
	}
	res, err := db.verifyProofTx(ctx, tx, now, u, proof, "disable")
	if err != nil {
		return err
	}
	if err := clearMFATx(ctx, tx, userID); err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditMFADisabled, "user", idString(userID), u.teamID,
		map[string]any{"method": res.Method, "by": "user"})); err != nil {
		return err
	}
	return commit(tx)
}

// ResetMFA turns a user's MFA off for an admin (the user lost their
// device): secret, pending enrolment and backup codes are deleted, audited
// as AuditMFADisabled by the admin in ctx. ENOTFOUND if there is no such
// user; ECONFLICT if they have neither MFA nor a pending enrolment.
func (db *DB) ResetMFA(ctx context.Context, userID int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return err
	}
	if !u.enabled && u.pendingSecret == nil {
		return chorus.Errorf(chorus.ECONFLICT, "User %d has no MFA to reset.", userID)
	}
	if err := clearMFATx(ctx, tx, userID); err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditMFADisabled, "user", idString(userID), u.teamID,
		map[string]any{"by": "admin", "was_enabled": u.enabled})); err != nil {
		return err
	}
	return commit(tx)
}

// RegenerateBackupCodes replaces all of a user's backup codes with
// hashes (auth.NewBackupCodes) in one transaction: the old ones stop
// working as the new ones start. Audited as AuditBackupCodesReset.
// ECONFLICT if the user has no MFA.
func (db *DB) RegenerateBackupCodes(ctx context.Context, userID int64, hashes [][]byte) error {
	if len(hashes) == 0 {
		return chorus.Invalid("backup_codes", "backup codes are required")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return err
	}
	if !u.enabled {
		return chorus.Errorf(chorus.ECONFLICT, "MFA is not enabled: backup codes come with enrolment (POST /api/auth/mfa/enroll).")
	}
	if err := replaceBackupCodesTx(ctx, tx, userID, hashes); err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditBackupCodesReset, "user", idString(userID), u.teamID,
		map[string]any{"backup_codes": len(hashes)})); err != nil {
		return err
	}
	return commit(tx)
}

// MFAStatus returns a user's MFA status; ENOTFOUND if there is no such
// user.
func (db *DB) MFAStatus(ctx context.Context, userID int64) (*chorus.MFAStatus, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var st chorus.MFAStatus
	var pending bool
	err = tx.queryRow(ctx, `SELECT mfa_enabled_at, mfa_pending_secret_enc IS NOT NULL,
		(SELECT COUNT(*) FROM mfa_backup_codes c WHERE c.user_id = users.id AND c.used_at IS NULL)
		FROM users WHERE id = ?`, userID).Scan(scanNullTime(&st.EnabledAt), &pending, &st.BackupCodesRemaining)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %d not found", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("mfa status: %w", err)
	}
	st.Enabled, st.EnrolmentPending = st.EnabledAt != nil, pending
	return &st, nil
}

// CheckMFAThrottle returns ERATELIMIT (with a RetryAfter) while a user's
// verifications are throttled, nil otherwise. Callers check it before
// work that an attacker must not be able to repeat at will, such as a
// password re-entry.
func (db *DB) CheckMFAThrottle(ctx context.Context, userID int64) error {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return mfaThrottleTx(ctx, tx, db.timeNow(), userID)
}

// Reauthenticate records a correct password re-entry by a user without
// MFA, the step-up of such users: the session sessionID counts as verified
// now (AuditReauthenticated). A user with MFA must verify it instead
// (EFORBIDDEN): a password alone is not their second factor. ENOTFOUND if
// the session is not the user's active session.
func (db *DB) Reauthenticate(ctx context.Context, userID, sessionID int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return err
	}
	if u.enabled {
		return chorus.Errorf(chorus.EFORBIDDEN, "This account uses MFA: verify a code with POST /api/auth/mfa/verify instead.")
	}
	if err := markSessionVerifiedTx(ctx, tx, now, userID, chorus.MFASession{ID: sessionID}); err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditReauthenticated, "user", idString(userID), u.teamID,
		map[string]any{"method": chorus.MFAMethodPassword, "session_id": sessionID})); err != nil {
		return err
	}
	return commit(tx)
}

// RecordReauthFailure records a wrong password re-entry
// (AuditReauthFailed), which counts towards the user's throttle.
func (db *DB) RecordReauthFailure(ctx context.Context, userID int64, purpose string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	u, err := lockMFAUser(ctx, tx, userID)
	if err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditReauthFailed, "user", idString(userID), u.teamID,
		map[string]any{"method": chorus.MFAMethodPassword, "purpose": purpose})); err != nil {
		return err
	}
	return commit(tx)
}

// lockMFAUser reads a user's MFA state and locks their row until tx ends
// (a no-op update: a row lock on PostgreSQL; SQLite has one writer).
func lockMFAUser(ctx context.Context, tx *tx, userID int64) (*mfaUser, error) {
	u := mfaUser{id: userID}
	err := tx.queryRow(ctx, `UPDATE users SET mfa_last_step = mfa_last_step WHERE id = ?
		RETURNING COALESCE(team_id, 0), mfa_secret_enc, mfa_pending_secret_enc, mfa_enabled_at IS NOT NULL`, userID).
		Scan(&u.teamID, &u.secret, &u.pendingSecret, &u.enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %d not found", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("lock user: %w", err)
	}
	return &u, nil
}

// verifyProofTx checks and consumes proof for u inside tx. On a wrong or
// replayed proof it records the failure, commits tx and returns the
// refusal, so the caller only returns the error.
func (db *DB) verifyProofTx(ctx context.Context, tx *tx, now time.Time, u *mfaUser, proof chorus.MFAProof, purpose string) (*chorus.MFAResult, error) {
	if err := mfaThrottleTx(ctx, tx, now, u.id); err != nil {
		return nil, err
	}
	if !u.enabled || u.secret == nil {
		return nil, chorus.Errorf(chorus.ECONFLICT, "MFA is not enabled for this account.")
	}
	res := &chorus.MFAResult{Method: chorus.MFAMethodTOTP}
	if proof.BackupCode != "" {
		res.Method = chorus.MFAMethodBackupCode
		ok, err := useBackupCodeTx(ctx, tx, now, u.id, proof.BackupCode)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, failMFA(ctx, tx, u, proof, purpose, "incorrect_or_used")
		}
	} else {
		if db.sealer == nil {
			return nil, fmt.Errorf("verify mfa: %w", ErrNoSecretKey)
		}
		secret, err := db.openTOTP(u.id, u.secret)
		if err != nil {
			return nil, err
		}
		step, ok, err := auth.MatchTOTP(secret, proof.Code, now)
		if err != nil {
			return nil, fmt.Errorf("verify mfa: %w", err)
		}
		if !ok {
			return nil, failMFA(ctx, tx, u, proof, purpose, "incorrect")
		}
		// Accept the step only if it is later than every step accepted
		// before: the same code (or an earlier one) is refused even when
		// another instance took it a moment ago.
		r, err := tx.exec(ctx, `UPDATE users SET mfa_last_step = ? WHERE id = ? AND mfa_last_step < ?`, step, u.id, step)
		if err != nil {
			return nil, fmt.Errorf("verify mfa: %w", err)
		}
		if n, err := affected(r); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, failMFA(ctx, tx, u, proof, purpose, "replayed")
		}
	}
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = ? AND used_at IS NULL`, u.id).
		Scan(&res.BackupCodesRemaining); err != nil {
		return nil, fmt.Errorf("verify mfa: %w", err)
	}
	if res.Method == chorus.MFAMethodBackupCode {
		if err := appendAudit(ctx, tx, auditEntry(chorus.AuditBackupCodeUsed, "user", idString(u.id), u.teamID,
			map[string]any{"purpose": purpose, "remaining": res.BackupCodesRemaining})); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// useBackupCodeTx marks the user's backup code used; false when it is not
// one of their unused codes. Of two transactions using one code at once,
// exactly one changes the row.
func useBackupCodeTx(ctx context.Context, tx *tx, now time.Time, userID int64, code string) (bool, error) {
	norm, ok := auth.NormalizeBackupCode(code)
	if !ok {
		return false, nil
	}
	r, err := tx.exec(ctx, `UPDATE mfa_backup_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`,
		now, userID, auth.HashBackupCode(norm))
	if err != nil {
		return false, fmt.Errorf("use backup code: %w", err)
	}
	n, err := affected(r)
	return n > 0, err
}

// failMFA records a failed verification (never the code), commits it, and
// returns the refusal for the caller to return.
func failMFA(ctx context.Context, tx *tx, u *mfaUser, proof chorus.MFAProof, purpose, reason string) error {
	method := chorus.MFAMethodTOTP
	if proof.BackupCode != "" {
		method = chorus.MFAMethodBackupCode
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditMFAFailed, "user", idString(u.id), u.teamID,
		map[string]any{"method": method, "purpose": purpose, "reason": reason})); err != nil {
		return err
	}
	if err := commit(tx); err != nil {
		return err
	}
	return errBadProof(proof)
}

// mfaThrottleTx refuses while the user has MFAMaxFailures failures in the
// window and no success after them.
func mfaThrottleTx(ctx context.Context, tx *tx, now time.Time, userID int64) error {
	since := now.Add(-chorus.MFAFailureWindow)
	target := idString(userID)
	rows, err := tx.query(ctx, `SELECT at FROM audit_log
		WHERE target_type = 'user' AND target_id = ? AND action IN (?, ?) AND at >= ?
		AND seq > (SELECT COALESCE(MAX(seq), 0) FROM audit_log
			WHERE target_type = 'user' AND target_id = ? AND action IN (?, ?, ?) AND at >= ?)
		ORDER BY seq DESC LIMIT ?`,
		target, chorus.AuditMFAFailed, chorus.AuditReauthFailed, since,
		target, chorus.AuditMFAVerified, chorus.AuditMFAEnrolled, chorus.AuditReauthenticated, since,
		chorus.MFAMaxFailures)
	if err != nil {
		return fmt.Errorf("mfa throttle: %w", err)
	}
	defer rows.Close()
	var times []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(scanTime(&at)); err != nil {
			return fmt.Errorf("mfa throttle: %w", err)
		}
		times = append(times, at)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mfa throttle: %w", err)
	}
	if len(times) < chorus.MFAMaxFailures {
		return nil
	}
	// Open again when the oldest of the last MFAMaxFailures leaves the window.
	wait := times[len(times)-1].Add(chorus.MFAFailureWindow).Sub(now)
	wait = max(wait, time.Second)
	return &chorus.Error{Code: chorus.ERATELIMIT, RetryAfter: wait, Message: fmt.Sprintf(
		"Too many failed verification attempts. Try again in %s.", wait.Round(time.Second))}
}

// markSessionVerifiedTx sets the session's mfa_at to now and clears
// mfa_pending, rotating its token when s carries a new one.
func markSessionVerifiedTx(ctx context.Context, tx *tx, now time.Time, userID int64, s chorus.MFASession) error {
	if s.ID == 0 {
		return nil
	}
	var r sql.Result
	var err error
	if len(s.NewTokenHash) > 0 {
		if s.NewCSRFToken == "" {
			return chorus.Invalid("csrf_token", "a rotated session needs a new CSRF token")
		}
		r, err = tx.exec(ctx, `UPDATE sessions SET mfa_pending = ?, mfa_at = ?, token_hash = ?, csrf_token = ?
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
			false, now, s.NewTokenHash, s.NewCSRFToken, s.ID, userID, now)
	} else {
		r, err = tx.exec(ctx, `UPDATE sessions SET mfa_pending = ?, mfa_at = ?
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
			false, now, s.ID, userID, now)
	}
	if err != nil {
		return fmt.Errorf("mark session verified: %w", err)
	}
	if n, err := affected(r); err != nil {
		return err
	} else if n == 0 {
		return chorus.Errorf(chorus.EUNAUTHORIZED, "Your session has ended. Sign in again.")
	}
	return nil
}

// replaceBackupCodesTx deletes every backup code of the user and stores
// hashes instead.
func replaceBackupCodesTx(ctx context.Context, tx *tx, userID int64, hashes [][]byte) error {
	if _, err := tx.exec(ctx, `DELETE FROM mfa_backup_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("replace backup codes: %w", err)
	}
	for _, h := range hashes {
		if len(h) == 0 {
			return chorus.Invalid("backup_codes", "a backup code hash is empty")
		}
		if _, err := tx.exec(ctx, `INSERT INTO mfa_backup_codes (user_id, code_hash) VALUES (?, ?)`, userID, h); err != nil {
			return fmt.Errorf("replace backup codes: %w", err)
		}
	}
	return nil
}

// clearMFATx deletes a user's TOTP secrets and backup codes.
func clearMFATx(ctx context.Context, tx *tx, userID int64) error {
	if _, err := tx.exec(ctx, `UPDATE users SET mfa_secret_enc = NULL, mfa_pending_secret_enc = NULL, mfa_enabled_at = NULL
		WHERE id = ?`, userID); err != nil {
		return fmt.Errorf("clear mfa: %w", err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM mfa_backup_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("clear mfa: %w", err)
	}
	return nil
}

// openTOTP decrypts a user's sealed TOTP secret.
func (db *DB) openTOTP(userID int64, sealed []byte) (string, error) {
	if db.sealer == nil {
		return "", fmt.Errorf("open totp secret: %w", ErrNoSecretKey)
	}
	pt, err := db.sealer.Open(sealed, totpAD(userID))
	if err != nil {
		return "", fmt.Errorf("the TOTP secret of user %d cannot be decrypted with the configured secret key: %w", userID, err)
	}
	return string(pt), nil
}
