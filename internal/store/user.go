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

// CreateUser stores a new user and sets its ID and CreatedAt. The email is
// stored trimmed and lower-cased, and must be unique (ECONFLICT). A user
// with TeamID 0 gets a new team of their own, named after them, whose owner
// they are; otherwise the team must exist (EINVALID).
func (db *DB) CreateUser(ctx context.Context, u *chorus.User) error {
	u.Email = normEmail(u.Email)
	if err := validateUser(u); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.timeNow()
	}
	u.CreatedAt, u.DisabledAt = normTime(u.CreatedAt), normTimePtr(u.DisabledAt)
	if err := createUserTx(ctx, tx, u); err != nil {
		return err
	}
	if err := bumpRegistry(ctx, tx); err != nil {
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
// their keys out of ActiveKeys and KeyByHash.
func (db *DB) UpdateUser(ctx context.Context, u *chorus.User) error {
	u.Email = normEmail(u.Email)
	if err := validateUser(u); err != nil {
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
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`,
		page.After, limit(page))
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

func validateUser(u *chorus.User) error {
	switch {
	case u.Email == "" || !strings.Contains(u.Email, "@"):
		return chorus.Invalid("email", "a valid email address is required")
	case u.Role != chorus.RoleAdmin && u.Role != chorus.RoleCustomer:
		return chorus.Invalid("role", "role must be %q or %q", chorus.RoleAdmin, chorus.RoleCustomer)
	}
	return nil
}
