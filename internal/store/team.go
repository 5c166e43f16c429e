package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// Teams own API keys, budgets and credits; every user belongs to exactly
// one. A team's owners manage it (rename, invite, remove members); the
// store keeps every team that has members with at least one owner.

const teamColumns = `id, name, created_at`

// CreateTeam stores a new, empty team with its audit entry (team.created)
// and sets its ID and CreatedAt. Callers validate the name first
// (auth.NormalizeName).
func (db *DB) CreateTeam(ctx context.Context, t *chorus.Team) error {
	if err := validateTeamName(t.Name); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t.CreatedAt = db.timeNow()
	if err := tx.queryRow(ctx, `INSERT INTO teams (name, created_at) VALUES (?, ?) RETURNING id`,
		t.Name, t.CreatedAt).Scan(&t.ID); err != nil {
		return fmt.Errorf("create team: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditTeamCreated, "team", idString(t.ID), t.ID,
		map[string]any{"name": t.Name})); err != nil {
		return err
	}
	return commit(tx)
}

// TeamByID returns a team, or ENOTFOUND.
func (db *DB) TeamByID(ctx context.Context, id int64) (*chorus.Team, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return teamByID(ctx, tx, id)
}

func teamByID(ctx context.Context, tx *tx, id int64) (*chorus.Team, error) {
	var t chorus.Team
	err := tx.queryRow(ctx, `SELECT `+teamColumns+` FROM teams WHERE id = ?`, id).Scan(&t.ID, &t.Name, scanTime(&t.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("team %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get team: %w", err)
	}
	return &t, nil
}

// ListTeams returns one page of teams in ID order; query, when set, keeps
// those whose name contains it (ASCII letters compared case-insensitively).
func (db *DB) ListTeams(ctx context.Context, query string, page chorus.Page) ([]*chorus.Team, error) {
	where, args := `id > ?`, []any{page.After}
	if query != "" {
		where += ` AND LOWER(name) LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(strings.ToLower(query))+"%")
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT `+teamColumns+` FROM teams WHERE `+where+` ORDER BY id LIMIT ?`,
		append(args, limit(page))...)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Team
	for rows.Next() {
		var t chorus.Team
		if err := rows.Scan(&t.ID, &t.Name, scanTime(&t.CreatedAt)); err != nil {
			return nil, fmt.Errorf("list teams: %w", err)
		}
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return out, nil
}

// RenameTeam changes a team's name with its audit entry (team.updated).
func (db *DB) RenameTeam(ctx context.Context, id int64, name string) (*chorus.Team, error) {
	if err := validateTeamName(name); err != nil {
		return nil, err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t, err := teamByID(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if t.Name == name {
		return t, nil
	}
	from := t.Name
	if _, err := tx.exec(ctx, `UPDATE teams SET name = ? WHERE id = ?`, name, id); err != nil {
		return nil, fmt.Errorf("rename team: %w", err)
	}
	t.Name = name
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditTeamUpdated, "team", idString(id), id,
		map[string]any{"from": from, "to": name})); err != nil {
		return nil, err
	}
	return t, commit(tx)
}

// TeamMembers returns one page of a team's members in ID order.
func (db *DB) TeamMembers(ctx context.Context, teamID int64, page chorus.Page) ([]*chorus.User, error) {
	return db.SearchUsers(ctx, chorus.UserFilter{TeamID: &teamID}, page)
}

// SetUserTeam moves a user into team teamID with teamRole, or changes
// their role in the team they are in, with its audit entry
// (user.team_changed). A user who leaves a team leaves their API keys
// behind, revoked: those keys spent the old team's credits. Leaving a team
// that would keep members but no owner is ECONFLICT (make another member
// owner first); a team that does not exist is EINVALID.
func (db *DB) SetUserTeam(ctx context.Context, userID, teamID int64, teamRole string) (*chorus.User, error) {
	if teamRole != chorus.TeamOwner && teamRole != chorus.TeamMember {
		return nil, chorus.Invalid("team_role", "team_role must be %q or %q", chorus.TeamOwner, chorus.TeamMember)
	}
	tx, err := db.lockUsers(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := userWhere(ctx, tx, `id = ?`, userID)
	if err != nil {
		return nil, err
	}
	if _, err := teamByID(ctx, tx, teamID); chorus.ErrorCode(err) == chorus.ENOTFOUND {
		return nil, chorus.Invalid("team_id", "team %d does not exist", teamID)
	} else if err != nil {
		return nil, err
	}
	if u.TeamID == teamID && u.TeamRole == teamRole {
		return u, nil
	}
	if err := moveUserTx(ctx, tx, db.timeNow(), u, teamID, teamRole, "admin"); err != nil {
		return nil, err
	}
	return u, commit(tx)
}

// SetTeamRole makes a member of team teamID its owner or a member
// (ENOTFOUND when they are not in it); recorded as user.team_changed.
// Demoting the team's last owner is ECONFLICT.
func (db *DB) SetTeamRole(ctx context.Context, teamID, userID int64, teamRole string) (*chorus.User, error) {
	tx, err := db.lockUsers(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := userWhere(ctx, tx, `id = ? AND team_id = ?`, userID, teamID)
	if err != nil { // another team's member is not found, whatever the role asked
		return nil, notFound("user %d is not a member of this team", userID)
	}
	if teamRole != chorus.TeamOwner && teamRole != chorus.TeamMember {
		return nil, chorus.Invalid("team_role", "team_role must be %q or %q", chorus.TeamOwner, chorus.TeamMember)
	}
	if u.TeamRole == teamRole {
		return u, nil
	}
	if err := moveUserTx(ctx, tx, db.timeNow(), u, teamID, teamRole, "role"); err != nil {
		return nil, err
	}
	return u, commit(tx)
}

// RemoveTeamMember takes a member out of team teamID (ENOTFOUND when they
// are not in it): they get a new team of their own, as its owner, and
// their API keys in the old team are revoked; recorded as
// user.team_changed. Removing the team's last owner is ECONFLICT.
func (db *DB) RemoveTeamMember(ctx context.Context, teamID, userID int64) (*chorus.User, error) {
	tx, err := db.lockUsers(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := userWhere(ctx, tx, `id = ? AND team_id = ?`, userID, teamID)
	if err != nil {
		return nil, notFound("user %d is not a member of this team", userID)
	}
	name := u.Name
	if name == "" {
		name = u.Email
	}
	var newTeam int64
	if err := tx.queryRow(ctx, `INSERT INTO teams (name, created_at) VALUES (?, ?) RETURNING id`,
		name, db.timeNow()).Scan(&newTeam); err != nil {
		return nil, fmt.Errorf("remove member: create team: %w", err)
	}
	if err := moveUserTx(ctx, tx, db.timeNow(), u, newTeam, chorus.TeamOwner, "removed"); err != nil {
		return nil, err
	}
	return u, commit(tx)
}

// moveUserTx sets u's team and team role inside tx (which holds the user
// lock), revokes their keys in a team they leave, and records it.
func moveUserTx(ctx context.Context, tx *tx, now time.Time, u *chorus.User, teamID int64, teamRole, reason string) error {
	from, fromRole := u.TeamID, u.TeamRole
	if fromRole == chorus.TeamOwner && (teamID != from || teamRole != chorus.TeamOwner) {
		var owners, members int64
		if err := tx.queryRow(ctx, `SELECT COUNT(CASE WHEN team_role = ? THEN 1 END), COUNT(*)
			FROM users WHERE team_id = ? AND id <> ?`, chorus.TeamOwner, from, u.ID).Scan(&owners, &members); err != nil {
			return fmt.Errorf("count owners: %w", err)
		}
		if members > 0 && owners == 0 {
			return chorus.Errorf(chorus.ECONFLICT, "User %d is the last owner of team %d: make another member owner first.", u.ID, from)
		}
	}
	if _, err := tx.exec(ctx, `UPDATE users SET team_id = ?, team_role = ? WHERE id = ?`, teamID, teamRole, u.ID); err != nil {
		return fmt.Errorf("set team: %w", err)
	}
	var revoked int64
	if teamID != from {
		res, err := tx.exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND team_id = ? AND revoked_at IS NULL`,
			now, u.ID, from)
		if err != nil {
			return fmt.Errorf("set team: revoke keys: %w", err)
		}
		if revoked, err = affected(res); err != nil {
			return err
		}
	}
	u.TeamID, u.TeamRole = teamID, teamRole
	return appendAudit(ctx, tx, auditEntry(chorus.AuditTeamChanged, "user", idString(u.ID), teamID,
		map[string]any{"from_team": from, "from_team_role": fromRole, "to_team": teamID, "to_team_role": teamRole,
			"keys_revoked": revoked, "reason": reason}))
}

func validateTeamName(name string) error {
	if strings.TrimSpace(name) == "" {
		return chorus.Invalid("name", "name is required")
	}
	if len(name) > 400 {
		return chorus.Invalid("name", "name must be at most 100 characters")
	}
	return nil
}
