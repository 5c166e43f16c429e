package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chorusgw/chorus"
)

// Invitations: the token is shown once to whoever created the invitation;
// the store keeps only its SHA-256. Signup claims one (see DB.Signup).

const inviteColumns = `id, token_hash, email, COALESCE(team_id, 0), role, team_role, created_by, created_at, expires_at, used_at, used_by, revoked_at`

// CreateInvite stores an invitation with its audit entry
// (team.invite.created) and sets its ID and CreatedAt. The caller makes
// the token and passes its hash; TeamID 0 invites into a new team. A team
// that does not exist is EINVALID.
func (db *DB) CreateInvite(ctx context.Context, inv *chorus.Invite) error {
	inv.Email = normEmail(inv.Email)
	switch {
	case len(inv.TokenHash) == 0:
		return chorus.Invalid("token_hash", "invite token hash is required")
	case inv.Role != chorus.RoleAdmin && inv.Role != chorus.RoleCustomer:
		return chorus.Invalid("role", "role must be %q or %q", chorus.RoleAdmin, chorus.RoleCustomer)
	case inv.TeamRole != chorus.TeamOwner && inv.TeamRole != chorus.TeamMember:
		return chorus.Invalid("team_role", "team_role must be %q or %q", chorus.TeamOwner, chorus.TeamMember)
	case inv.ExpiresAt.IsZero():
		return chorus.Invalid("expires_at", "invite expiry is required")
	case len(inv.Email) > 254:
		return chorus.Invalid("email", "email must be at most 254 characters")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	inv.CreatedAt = db.timeNow()
	inv.ExpiresAt = normTime(inv.ExpiresAt)
	if !inv.ExpiresAt.After(inv.CreatedAt) {
		return chorus.Invalid("expires_at", "invite expiry must be in the future")
	}
	inv.UsedAt, inv.UsedBy = nil, nil
	var team any
	if inv.TeamID != 0 {
		team = inv.TeamID
	}
	err = tx.queryRow(ctx, `INSERT INTO invites (token_hash, email, team_id, role, team_role, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		inv.TokenHash, inv.Email, team, inv.Role, inv.TeamRole, inv.CreatedBy, inv.CreatedAt, inv.ExpiresAt).Scan(&inv.ID)
	switch {
	case tx.d.isForeignKey(err):
		return chorus.Invalid("team_id", "team %d does not exist", inv.TeamID)
	case tx.d.isUnique(err):
		return conflict(err, "an invitation with this token exists already")
	case err != nil:
		return fmt.Errorf("create invite: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditInviteIssued, "invite", idString(inv.ID), inv.TeamID,
		map[string]any{"email": inv.Email, "role": inv.Role, "team_role": inv.TeamRole, "expires_at": inv.ExpiresAt})); err != nil {
		return err
	}
	return commit(tx)
}

// InviteByID returns an invitation, or ENOTFOUND.
func (db *DB) InviteByID(ctx context.Context, id int64) (*chorus.Invite, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	inv, err := scanInvite(tx.queryRow(ctx, `SELECT `+inviteColumns+` FROM invites WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("invite %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get invite: %w", err)
	}
	return inv, nil
}

// claimInviteTx marks the unused, unexpired invitation whose token hashes
// to hash used at now, in one conditional update: of two transactions
// claiming the same invitation, the second finds it used (on PostgreSQL it
// waits for the first's row lock, then re-checks the condition). Anything
// else is EINVALID about invite_token, with one message whatever the
// reason, so the answer does not help guess tokens.
func claimInviteTx(ctx context.Context, tx *tx, now time.Time, hash []byte) (*chorus.Invite, error) {
	inv, err := scanInvite(tx.queryRow(ctx, `UPDATE invites SET used_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ? RETURNING `+inviteColumns, now, hash, now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, chorus.Invalid("invite_token", "This invitation is not valid: it may have expired or been used already. Ask for a new one.")
	}
	if err != nil {
		return nil, fmt.Errorf("claim invite: %w", err)
	}
	return inv, nil
}

func scanInvite(s scanner) (*chorus.Invite, error) {
	var inv chorus.Invite
	var usedBy sql.NullInt64
	if err := s.Scan(&inv.ID, &inv.TokenHash, &inv.Email, &inv.TeamID, &inv.Role, &inv.TeamRole, &inv.CreatedBy,
		scanTime(&inv.CreatedAt), scanTime(&inv.ExpiresAt), scanNullTime(&inv.UsedAt), &usedBy, scanNullTime(&inv.RevokedAt)); err != nil {
		return nil, err
	}
	if usedBy.Valid {
		inv.UsedBy = &usedBy.Int64
	}
	return &inv, nil
}

// ListInvites returns one page of invitations in ID order, the team's only
// when teamID is not nil. Used, expired and revoked ones
// are included (see their times).
func (db *DB) ListInvites(ctx context.Context, teamID *int64, page chorus.Page) ([]*chorus.Invite, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q, args := `SELECT `+inviteColumns+` FROM invites WHERE id > ?`, []any{page.After}
	if teamID != nil {
		q, args = q+` AND team_id = ?`, append(args, *teamID)
	}
	rows, err := tx.query(ctx, q+` ORDER BY id LIMIT ?`, append(args, limit(page))...)
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Invite
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, fmt.Errorf("list invites: %w", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	return out, nil
}

// RevokeInvite revokes an unused invitation (of that team only, when
// teamID is not nil) with its audit entry; ENOTFOUND when there is no such
// invitation, ECONFLICT when it was used already. Revoking a revoked
// invitation changes nothing.
func (db *DB) RevokeInvite(ctx context.Context, id int64, teamID *int64) (*chorus.Invite, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	inv, err := scanInvite(tx.queryRow(ctx, `SELECT `+inviteColumns+` FROM invites WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && teamID != nil && inv.TeamID != *teamID) {
		return nil, notFound("invite %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke invite: %w", err)
	}
	switch {
	case inv.RevokedAt != nil:
		return inv, nil
	case inv.UsedAt != nil:
		return nil, chorus.Errorf(chorus.ECONFLICT, "Invitation %d was used already; it cannot be revoked.", id)
	}
	now := db.timeNow()
	res, err := tx.exec(ctx, `UPDATE invites SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL`, now, id)
	if err != nil {
		return nil, fmt.Errorf("revoke invite: %w", err)
	}
	if n, err := affected(res); err != nil {
		return nil, err
	} else if n == 0 { // claimed between the read and the update
		return nil, chorus.Errorf(chorus.ECONFLICT, "Invitation %d was used already; it cannot be revoked.", id)
	}
	inv.RevokedAt = &now
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditInviteRevoked, "invite", idString(id), inv.TeamID,
		map[string]any{"email": inv.Email})); err != nil {
		return nil, err
	}
	return inv, commit(tx)
}
