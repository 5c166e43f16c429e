package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/chorusgw/chorus"
)

const userColumns = `id, email, name, role, password_hash, disabled_at, created_at, COALESCE(team_id, 0), team_role, mfa_enabled_at IS NOT NULL`

// CreateUser stores a new user and sets its ID and CreatedAt, with its
// audit entry (user.created, and team.created for a new team) in the same
// transaction. The email is stored trimmed and lower-cased, and must be
// unique (ECONFLICT). A user with TeamID 0 gets a new team of their own,
// named after them, whose owner they are; otherwise the team must exist
// (EINVALID). Callers validate the email and name first (auth.NormalizeEmail,
// auth.NormalizeName); the store checks only what the schema needs.
func (db *DB) CreateUser(ctx context.Context, u *chorus.User) error {
	u.Email = normEmail(u.Email)
	if err := u.Validate(); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := bumpRegistry(ctx, tx); err != nil {
		return err
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.timeNow()
	}
	u.CreatedAt, u.DisabledAt = normTime(u.CreatedAt), normTimePtr(u.DisabledAt)
	newTeam := u.TeamID == 0
	if err := createUserTx(ctx, tx, u); err != nil {
		return err
	}
	if newTeam {
		if err := appendAudit(ctx, tx, auditEntry(chorus.AuditTeamCreated, "team", idString(u.TeamID), u.TeamID,
			map[string]any{"owner_id": u.ID})); err != nil {
			return err
		}
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditUserCreated, "user", idString(u.ID), u.TeamID,
		map[string]any{"email": u.Email, "role": u.Role, "team_role": u.TeamRole, "new_team": newTeam})); err != nil {
		return err
	}
	return commit(tx)
}

// createUserTx inserts u (normalised and validated) and, when u.TeamID is
// 0, a team of its own; it writes no audit entry.
func createUserTx(ctx context.Context, tx *tx, u *chorus.User) error {
	if u.TeamID == 0 {
		name := u.Name
		if name == "" {
			name = u.Email
		}
		if err := tx.queryRow(ctx, `INSERT INTO teams (name, created_at) VALUES (?, ?) RETURNING id`,
			name, u.CreatedAt).Scan(&u.TeamID); err != nil {
			return fmt.Errorf("create user: create team: %w", err)
		}
		u.TeamRole = chorus.TeamOwner
	}
	if u.TeamRole == "" {
		u.TeamRole = chorus.TeamMember
	}
	err := tx.queryRow(ctx, `INSERT INTO users (email, name, role, password_hash, disabled_at, created_at, team_id, team_role, password_changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Email, u.Name, u.Role, u.PasswordHash, u.DisabledAt, u.CreatedAt, u.TeamID, u.TeamRole, u.CreatedAt).Scan(&u.ID)
	switch {
	case tx.d.isUnique(err):
		return conflict(err, "a user with email %q exists already", u.Email)
	case tx.d.isForeignKey(err):
		return chorus.Invalid("team_id", "team %d does not exist", u.TeamID)
	case err != nil:
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// UpdateUser replaces a user's email, name, role, password hash and
// disabled time (ENOTFOUND if there is no such user). Disabling a user takes
// their keys out of ActiveKeys and KeyByHash. It is the raw update for
// tools and tests: it writes no audit entry and enforces none of the rules
// of SetUserRole and SetUserDisabled (the last admin, sessions revoked),
// which the API uses.
func (db *DB) UpdateUser(ctx context.Context, u *chorus.User) error {
	u.Email = normEmail(u.Email)
	if err := u.Validate(); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = tx.queryRow(ctx, `UPDATE users SET email = ?, name = ?, role = ?, password_hash = ?, disabled_at = ?
		WHERE id = ? RETURNING created_at`,
		u.Email, u.Name, u.Role, u.PasswordHash, u.DisabledAt, u.ID).Scan(scanTime(&u.CreatedAt))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("user %d not found", u.ID)
	case db.d.isUnique(err):
		return conflict(err, "a user with email %q exists already", u.Email)
	case err != nil:
		return fmt.Errorf("update user: %w", err)
	}
	u.DisabledAt = normTimePtr(u.DisabledAt)
	if err := bumpRegistry(ctx, tx); err != nil {
		return err
	}
	return commit(tx)
}

// UserByID returns the user with the given ID, or ENOTFOUND.
func (db *DB) UserByID(ctx context.Context, id int64) (*chorus.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return userWhere(ctx, tx, `id = ?`, id)
}

// UserByEmail returns the user with the given email (compared
// case-insensitively), or ENOTFOUND.
func (db *DB) UserByEmail(ctx context.Context, email string) (*chorus.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return userWhere(ctx, tx, `email = ?`, normEmail(email))
}

// ListUsers returns one page of users in ID order.
func (db *DB) ListUsers(ctx context.Context, page chorus.Page) ([]*chorus.User, error) {
	return db.SearchUsers(ctx, chorus.UserFilter{}, page)
}

// CountUsers returns the number of users, disabled ones included.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func userWhere(ctx context.Context, tx *tx, where string, args ...any) (*chorus.User, error) {
	u, err := scanUser(tx.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user not found")
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanUser(s scanner) (*chorus.User, error) {
	var u chorus.User
	if err := s.Scan(userDest(&u)...); err != nil {
		return nil, err
	}
	return &u, nil
}

// userDest is the scan destination of userColumns.
func userDest(u *chorus.User) []any {
	return []any{&u.ID, &u.Email, &u.Name, &u.Role, &u.PasswordHash,
		scanNullTime(&u.DisabledAt), scanTime(&u.CreatedAt), &u.TeamID, &u.TeamRole, &u.MFAEnabled}
}

// prefixed qualifies each column of a column list with a table alias
// ("u." + "id, email" → "u.id, u.email"); expressions keep their shape.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		switch {
		case strings.HasPrefix(p, "COALESCE("):
			p = "COALESCE(" + alias + strings.TrimPrefix(p, "COALESCE(")
		case p[0] >= '0' && p[0] <= '9': // a literal: the "0)" of "COALESCE(team_id, 0)", split at its comma
		default:
			p = alias + p
		}
		parts[i] = p
	}
	return strings.Join(parts, ", ")
}

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Signup creates a user who signed up themselves, in one transaction with
// its audit entry (auth.signup). With inviteHash (the SHA-256 of an
// invitation token) it first claims that invitation — unused, unexpired,
// and for u's email when it names one — and the user takes the invite's
// role, team and team role (a new team of their own when the invite has
// none); the claim is undone if anything after it fails, so a failed
// sign-up does not use up the invitation, and of two sign-ups racing for
// one invitation exactly one succeeds. Without an invitation the user is a
// customer who owns a new team. It returns the invitation used, if any.
//
// An invalid invitation is EINVALID about invite_token; one for another
// email is EFORBIDDEN; an email with an account already is ECONFLICT —
// ErrInviteSpent, with the invitation spent, when an invitation was given.
func (db *DB) Signup(ctx context.Context, u *chorus.User, inviteHash []byte) (*chorus.Invite, error) {
	u.Email = normEmail(u.Email)
	u.Role, u.TeamID, u.TeamRole = chorus.RoleCustomer, 0, ""
	if err := u.Validate(); err != nil {
		return nil, err
	}
	var emailMAC string // for the audit entry of a spent invitation, made outside the transaction
	if inviteHash != nil {
		var err error
		if emailMAC, err = db.auditSecret(ctx, u.Email); err != nil {
			return nil, err
		}
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	if err := bumpRegistry(ctx, tx); err != nil {
		return nil, err
	}
	var inv *chorus.Invite
	if inviteHash != nil {
		if inv, err = claimInviteTx(ctx, tx, now, inviteHash); err != nil {
			return nil, err
		}
		if inv.Email != "" && inv.Email != u.Email {
			return nil, &chorus.Error{Code: chorus.EFORBIDDEN, Param: "email",
				Message: "This invitation is for another email address: sign up with the address it was sent to."}
		}
		if err := spendOnTakenEmail(ctx, tx, u.Email, emailMAC, inv); err != nil {
			return nil, err
		}
		u.Role, u.TeamID, u.TeamRole = inv.Role, inv.TeamID, inv.TeamRole
	}
	u.CreatedAt, u.DisabledAt = now, nil
	newTeam := u.TeamID == 0
	if err := createUserTx(ctx, tx, u); err != nil {
		return nil, err
	}
	details := map[string]any{"email": u.Email, "role": u.Role, "team_role": u.TeamRole, "new_team": newTeam}
	if inv != nil {
		if _, err := tx.exec(ctx, `UPDATE invites SET used_by = ? WHERE id = ?`, u.ID, inv.ID); err != nil {
			return nil, fmt.Errorf("signup: %w", err)
		}
		inv.UsedBy = &u.ID
		details["invite_id"] = inv.ID
	}
	// The new user is the actor of their own sign-up.
	actor := chorus.ActorFromContext(ctx)
	actor.UserID, actor.System = u.ID, ""
	e := auditEntry(chorus.AuditSignup, "user", idString(u.ID), u.TeamID, details)
	e.Actor = actor
	if err := appendAudit(ctx, tx, e); err != nil {
		return nil, err
	}
	return inv, commit(tx)
}

// ErrInviteSpent is the error of a sign-up with a valid invitation and an
// email that has an account: the invitation is spent all the same
// (spendOnTakenEmail), and the caller answers as for any unusable
// invitation.
var ErrInviteSpent = &chorus.Error{Code: chorus.ECONFLICT, Param: "invite_token", Message: "invitation spent on an email that has an account"}

// spendOnTakenEmail commits the claim of inv, with an audit entry, when
// email has an account already, and returns ErrInviteSpent; nil when the
// email is free. Spending the invitation makes it an oracle of one
// question, like a sign-up that succeeds: a leaked invitation cannot be
// used to test emails one after another.
func spendOnTakenEmail(ctx context.Context, tx *tx, email, emailMAC string, inv *chorus.Invite) error {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM users WHERE email = ?`, email).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	e := auditEntry(chorus.AuditSignupRefused, "invite", idString(inv.ID), inv.TeamID,
		map[string]any{"reason": "email_taken", "email_hmac": emailMAC})
	if err := appendAudit(ctx, tx, e); err != nil {
		return err
	}
	if err := commit(tx); err != nil {
		return err
	}
	return ErrInviteSpent
}

// SearchUsers returns one page of the users matching f, in ID order.
func (db *DB) SearchUsers(ctx context.Context, f chorus.UserFilter, page chorus.Page) ([]*chorus.User, error) {
	where, args := `id > ?`, []any{page.After}
	if f.Query != "" {
		pat := "%" + likeEscape(strings.ToLower(f.Query)) + "%"
		where += ` AND (LOWER(email) LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\')`
		args = append(args, pat, pat)
	}
	if f.Role != "" {
		where += ` AND role = ?`
		args = append(args, f.Role)
	}
	if f.TeamID != nil {
		where += ` AND team_id = ?`
		args = append(args, *f.TeamID)
	}
	if f.Disabled != nil {
		if *f.Disabled {
			where += ` AND disabled_at IS NOT NULL`
		} else {
			where += ` AND disabled_at IS NULL`
		}
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return queryUsers(ctx, tx, where+` ORDER BY id LIMIT ?`, append(args, limit(page))...)
}

// likeEscape escapes the LIKE wildcards of s (with ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func queryUsers(ctx context.Context, tx *tx, where string, args ...any) ([]*chorus.User, error) {
	rows, err := tx.query(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*chorus.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// lockUsers begins a write transaction that holds the registry version row
// from its first statement: every write to users bumps that row, so the
// transactions that change users run one at a time on every instance and
// a rule that counts users (the last active admin, the last owner of a
// team) sees every committed change.
func (db *DB) lockUsers(ctx context.Context) (*tx, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	if err := bumpRegistry(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// SetUserRole changes a user's role (admin or customer) with its audit
// entry (user.role_changed). Demoting the last active admin is ECONFLICT,
// so the gateway always keeps someone who can administer it. Setting the
// role a user has already changes and records nothing.
func (db *DB) SetUserRole(ctx context.Context, id int64, role string) (*chorus.User, error) {
	if role != chorus.RoleAdmin && role != chorus.RoleCustomer {
		return nil, chorus.Invalid("role", "role must be %q or %q", chorus.RoleAdmin, chorus.RoleCustomer)
	}
	tx, err := db.lockUsers(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := userWhere(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if u.Role == role {
		return u, nil
	}
	if u.Role == chorus.RoleAdmin && u.DisabledAt == nil {
		if err := keepAnAdmin(ctx, tx, u.ID, "demote"); err != nil {
			return nil, err
		}
	}
	from := u.Role
	if _, err := tx.exec(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id); err != nil {
		return nil, fmt.Errorf("set role: %w", err)
	}
	u.Role = role
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditRoleChanged, "user", idString(id), u.TeamID,
		map[string]any{"from": from, "to": role})); err != nil {
		return nil, err
	}
	return u, commit(tx)
}

// keepAnAdmin refuses (ECONFLICT) when user id is the last active admin.
func keepAnAdmin(ctx context.Context, tx *tx, id int64, verb string) error {
	var n int64
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE role = ? AND disabled_at IS NULL AND id <> ?`,
		chorus.RoleAdmin, id).Scan(&n); err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n == 0 {
		return chorus.Errorf(chorus.ECONFLICT, "You cannot %s the last active admin: make another user admin first.", verb)
	}
	return nil
}

// SetUserDisabled disables or re-enables a user, with its audit entry
// (user.disabled or user.enabled) in the same transaction. Disabling
// revokes every session of the user and takes their API keys out of
// service (they are not revoked: re-enabling the user brings them back),
// and bumps the registry version, so that every instance refuses the
// user's keys on its next refresh (at once on PostgreSQL, which notifies).
// Disabling the last active admin is ECONFLICT. A user already in the
// wanted state is returned unchanged, with nothing recorded.
func (db *DB) SetUserDisabled(ctx context.Context, id int64, disabled bool) (*chorus.User, error) {
	tx, err := db.lockUsers(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := userWhere(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if (u.DisabledAt != nil) == disabled {
		return u, nil
	}
	now := db.timeNow()
	if !disabled {
		if _, err := tx.exec(ctx, `UPDATE users SET disabled_at = NULL WHERE id = ?`, id); err != nil {
			return nil, fmt.Errorf("enable user: %w", err)
		}
		u.DisabledAt = nil
		if err := appendAudit(ctx, tx, auditEntry(chorus.AuditUserEnabled, "user", idString(id), u.TeamID, nil)); err != nil {
			return nil, err
		}
		return u, commit(tx)
	}
	if u.Role == chorus.RoleAdmin {
		if err := keepAnAdmin(ctx, tx, u.ID, "disable"); err != nil {
			return nil, err
		}
	}
	if _, err := tx.exec(ctx, `UPDATE users SET disabled_at = ? WHERE id = ?`, now, id); err != nil {
		return nil, fmt.Errorf("disable user: %w", err)
	}
	u.DisabledAt = &now
	res, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now, id)
	if err != nil {
		return nil, fmt.Errorf("disable user: revoke sessions: %w", err)
	}
	sessions, err := affected(res)
	if err != nil {
		return nil, err
	}
	var keys int64
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL
		AND (expires_at IS NULL OR expires_at > ?)`, id, now).Scan(&keys); err != nil {
		return nil, fmt.Errorf("disable user: count keys: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditUserDisabled, "user", idString(id), u.TeamID,
		map[string]any{"sessions_revoked": sessions, "keys_suspended": keys})); err != nil {
		return nil, err
	}
	return u, commit(tx)
}

// ChangePassword stores a user's new password hash and revokes every other
// session of theirs (all of them when keepSessionID is 0), with its audit
// entry (auth.password.changed), in one transaction. It returns how many
// sessions it revoked.
func (db *DB) ChangePassword(ctx context.Context, userID int64, hash string, keepSessionID int64) (int64, error) {
	if hash == "" {
		return 0, chorus.Invalid("password", "password hash is required")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	var teamID int64
	err = tx.queryRow(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?
		RETURNING COALESCE(team_id, 0)`, hash, now, userID).Scan(&teamID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("user %d not found", userID)
	}
	if err != nil {
		return 0, fmt.Errorf("change password: %w", err)
	}
	res, err := tx.exec(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`,
		now, userID, keepSessionID)
	if err != nil {
		return 0, fmt.Errorf("change password: revoke sessions: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditPasswordChanged, "user", idString(userID), teamID,
		map[string]any{"sessions_revoked": n, "kept_session_id": keepSessionID})); err != nil {
		return 0, err
	}
	return n, commit(tx)
}
