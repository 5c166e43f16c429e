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

const inviteColumns = `id, token_hash, email, COALESCE(team_id, 0), role, team_role, created_by, created_at, expires_at, used_at, used_by`

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
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING `+inviteColumns, now, hash, now))
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
		scanTime(&inv.CreatedAt), scanTime(&inv.ExpiresAt), scanNullTime(&inv.UsedAt), &usedBy); err != nil {
		return nil, err
	}
	if usedBy.Valid {
		inv.UsedBy = &usedBy.Int64
	}
	return &inv, nil
}
