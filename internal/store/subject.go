package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chorusgw/chorus"
)

// A data subject is one person with an account. ExportSubject gathers what
// the database holds about them (the right of access, GDPR Art. 15 and 20);
// EraseSubject deletes or pseudonymises it (Art. 17), keeping what the
// books and the audit log must keep. docs/privacy-impact-assessment.md
// lists every table and what each does with it.

// queryAll runs q in tx and scans every row with scan.
func queryAll[T any](ctx context.Context, tx *tx, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ExportSubject returns everything the database holds about the user with
// the given email (ENOTFOUND when there is none), read in one snapshot,
// and records the export in the audit log (user.exported) afterwards. No
// secret is included: see chorus.SubjectExport.
func (db *DB) ExportSubject(ctx context.Context, email string) (*chorus.SubjectExport, error) {
	email = normEmail(email)
	mac, err := db.auditSecret(ctx, email) // how a failed sign-in with this email was recorded
	if err != nil {
		return nil, err
	}
	x, err := db.exportSubject(ctx, email, mac)
	if err != nil {
		return nil, err
	}
	e := auditEntry(chorus.AuditUserExported, "user", idString(x.User.ID), x.User.TeamID, map[string]any{
		"usage_records": len(x.Usage), "stored_responses": len(x.Responses), "audit_entries": len(x.Audit)})
	if err := db.Audit(ctx, e); err != nil {
		return nil, err
	}
	return x, nil
}

// exportSubject reads the export in one read transaction.
func (db *DB) exportSubject(ctx context.Context, email, mac string) (*chorus.SubjectExport, error) {
	rtx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer rtx.Rollback()
	u, err := userWhere(ctx, rtx, `email = ?`, email)
	if err != nil {
		return nil, err
	}
	x := &chorus.SubjectExport{ExportedAt: db.timeNow(), User: u}
	for _, step := range []func(context.Context, *tx, *chorus.SubjectExport) error{
		exportAccount, exportKeys, exportActivity, exportOrders,
	} {
		if err := step(ctx, rtx, x); err != nil {
			return nil, fmt.Errorf("export subject: %w", err)
		}
	}
	if x.Audit, err = exportAudit(ctx, rtx, x, mac); err != nil {
		return nil, fmt.Errorf("export subject: %w", err)
	}
	return x, nil
}

// exportAccount reads the team, MFA state and sessions.
func exportAccount(ctx context.Context, tx *tx, x *chorus.SubjectExport) error {
	id := x.User.ID
	var err error
	if x.Team, err = teamByID(ctx, tx, x.User.TeamID); err != nil {
		return err
	}
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE team_id = ?`, x.User.TeamID).Scan(&x.TeamMembers); err != nil {
		return err
	}
	x.MFA.Enabled = x.User.MFAEnabled
	if err := tx.queryRow(ctx, `SELECT mfa_pending_secret_enc IS NOT NULL,
		(SELECT COUNT(*) FROM mfa_backup_codes WHERE user_id = ? AND used_at IS NULL) FROM users WHERE id = ?`,
		id, id).Scan(&x.MFA.EnrolmentPending, &x.MFA.BackupCodesLeft); err != nil {
		return err
	}
	x.Sessions, err = queryAll(ctx, tx, func(s scanner) (*chorus.Session, error) {
		var v chorus.Session
		return &v, s.Scan(sessionDest(&v)...)
	}, `SELECT `+sessionColumns+` FROM sessions s WHERE s.user_id = ? ORDER BY s.id`, id)
	return err
}

// exportKeys reads the person's API keys (never their hashes) and the
// budgets set on them or their keys.
func exportKeys(ctx context.Context, tx *tx, x *chorus.SubjectExport) error {
	id := x.User.ID
	var err error
	if x.Keys, err = queryKeys(ctx, tx, `WHERE k.user_id = ? ORDER BY k.id`, id); err != nil {
		return err
	}
	if x.Keys == nil {
		x.Keys = []*chorus.APIKey{}
	}
	x.Budgets, err = queryBudgets(ctx, tx, tx.now(), `WHERE (b.scope = ? AND b.scope_id = ?)
		OR (b.scope = ? AND b.scope_id IN (SELECT id FROM api_keys WHERE user_id = ?)) ORDER BY b.id`,
		chorus.BudgetUser, id, chorus.BudgetKey, id)
	if x.Budgets == nil {
		x.Budgets = []*chorus.Budget{}
	}
	return err
}

// exportActivity reads what the person's requests and clicks left behind:
// usage records, feedback, quality scores, stored responses, client error
// reports, and the invitations sent to their address.
func exportActivity(ctx context.Context, tx *tx, x *chorus.SubjectExport) error {
	id := x.User.ID
	var err error
	if x.Usage, err = queryAll(ctx, tx, scanUsage,
		`SELECT id, `+usageColumns+` FROM usage_records WHERE user_id = ? ORDER BY id`, id); err != nil {
		return err
	}
	if x.Feedback, err = queryAll(ctx, tx, scanFeedback,
		`SELECT id, `+feedbackColumns+` FROM feedback WHERE user_id = ? ORDER BY id`, id); err != nil {
		return err
	}
	if x.Scores, err = queryAll(ctx, tx, scanScore,
		`SELECT id, `+scoreColumns+` FROM quality_scores WHERE user_id = ? ORDER BY id`, id); err != nil {
		return err
	}
	if x.Responses, err = queryAll(ctx, tx, scanSubjectResponse, `SELECT id, team_id, key_id, model, previous_id, input,
		response, created_at FROM responses WHERE user_id = ? ORDER BY created_at, id`, id); err != nil {
		return err
	}
	if x.ClientErrors, err = queryAll(ctx, tx, scanClientError, `SELECT `+clientErrorColumns+`
		FROM client_errors WHERE user_id = ? ORDER BY id`, id); err != nil {
		return err
	}
	x.Invites, err = queryAll(ctx, tx, scanInvite, `SELECT `+inviteColumns+` FROM invites WHERE email = ? ORDER BY id`,
		x.User.Email)
	return err
}

// exportOrders reads the orders the person placed and, when they are
// their team's only member, every order of the team: a one-person team's
// purchases are that person's.
func exportOrders(ctx context.Context, tx *tx, x *chorus.SubjectExport) error {
	var err error
	x.Orders, err = queryAll(ctx, tx, scanOrder, `SELECT `+orderColumns+` FROM orders
		WHERE user_id = ? OR (team_id = ? AND ? = 1) ORDER BY id`, x.User.ID, x.User.TeamID, x.TeamMembers)
	if err != nil {
		return err
	}
	return fillOrders(ctx, tx, x.Orders)
}

// exportAudit reads the audit entries that name the person: made by them,
// about them as a user, with their user ID or email in the details, with
// the HMAC of their email that a failed sign-in records, or about their
// team when they are its only member (its orders and payments, say).
func exportAudit(ctx context.Context, tx *tx, x *chorus.SubjectExport, mac string) ([]*chorus.AuditEntry, error) {
	u := x.User
	like := func(s string) string { return "%" + likeEscape(s) + "%" }
	uid := `"user_id":` + idString(u.ID)
	es, err := queryAudit(ctx, tx, `WHERE actor_user_id = ? OR (target_type = 'user' AND target_id = ?)
		OR details LIKE ? ESCAPE '\' OR details LIKE ? ESCAPE '\' OR details LIKE ? ESCAPE '\' OR details LIKE ? ESCAPE '\'
		OR (team_id = ? AND ? = 1) ORDER BY seq`, u.ID, idString(u.ID), like(`"`+u.Email+`"`), like(mac),
		like(uid+","), like(uid+"}"), u.TeamID, x.TeamMembers)
	if es == nil {
		es = []*chorus.AuditEntry{}
	}
	return es, err
}

func scanFeedback(s scanner) (*chorus.Feedback, error) {
	var fb chorus.Feedback
	var rating sql.NullString
	err := s.Scan(&fb.ID, &fb.ResponseID, &fb.RequestID, &fb.KeyID, &fb.UserID, &fb.TeamID, &fb.Model, &fb.Route,
		&rating, &fb.Score, &fb.Comment, scanTime(&fb.CreatedAt), scanTime(&fb.UpdatedAt))
	fb.Rating = rating.String
	return &fb, err
}

func scanScore(s scanner) (*chorus.ScoreRecord, error) {
	var r chorus.ScoreRecord
	err := s.Scan(&r.ID, &r.RequestID, &r.ResponseID, &r.Model, &r.Route, &r.Deployment, &r.KeyID, &r.UserID,
		&r.Scorer, &r.Value, &r.Reason, scanTime(&r.CreatedAt))
	return &r, err
}

func scanSubjectResponse(s scanner) (*chorus.SubjectResponse, error) {
	var r chorus.SubjectResponse
	var input, resp string
	err := s.Scan(&r.ID, &r.TeamID, &r.KeyID, &r.Model, &r.PreviousID, &input, &resp, scanTime(&r.CreatedAt))
	r.Input, r.Response = jsonOrString(input), jsonOrString(resp)
	return &r, err
}

// jsonOrString returns s as raw JSON when it is JSON (stored responses
// always are), else as a JSON string, so an export is always valid JSON.
func jsonOrString(s string) []byte {
	if json.Valid([]byte(s)) {
		return []byte(s)
	}
	b, _ := json.Marshal(s)
	return b
}

const clientErrorColumns = `id, user_id, team_id, message, stack, route, release, request_id, user_agent, created_at`

func scanClientError(s scanner) (*chorus.ClientError, error) {
	var e chorus.ClientError
	err := s.Scan(&e.ID, &e.UserID, &e.TeamID, &e.Message, &e.Stack, &e.Route, &e.Release, &e.RequestID,
		&e.UserAgent, scanTime(&e.CreatedAt))
	return &e, err
}

// EraseSubject deletes or pseudonymises the personal data of a user, in
// one transaction with its audit entry (user.erased, counts only), and
// returns what it did. Refused (ECONFLICT) for the last active admin.
//
//   - deleted: sessions, MFA secrets and backup codes, stored Responses API
//     answers, client error reports, invitations to their email, their cart;
//   - cleared: feedback comments and quality score reasons (the ratings and
//     scores stay: they are statistics about models, not about the person);
//   - revoked: every API key (named "erased");
//   - replaced: email (chorus.ErasedEmail), name (chorus.ErasedName), the
//     password hash (empty: no password matches), and the team's name when
//     the team is theirs alone or named after them; the user is disabled;
//   - kept, linked only to the user ID: usage records, ledger postings,
//     orders and payments (accounting and tax law require them), budgets;
//   - not touched: the audit log, whose hash chain would break (tamper
//     evidence is its purpose); entries written before the erasure may hold
//     the email, and leave with the log's own retention.
func (db *DB) EraseSubject(ctx context.Context, userID int64) (*chorus.Erasure, error) {
	tx, err := db.lockUsers(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u, err := userWhere(ctx, tx, `id = ?`, userID)
	if err != nil {
		return nil, err
	}
	if u.Role == chorus.RoleAdmin && u.DisabledAt == nil {
		if err := keepAnAdmin(ctx, tx, u.ID, "erase"); err != nil {
			return nil, err
		}
	}
	r := &chorus.Erasure{UserID: u.ID, TeamID: u.TeamID}
	if err := eraseData(ctx, tx, u, r); err != nil {
		return nil, fmt.Errorf("erase subject: %w", err)
	}
	if err := pseudonymise(ctx, tx, u, r); err != nil {
		return nil, fmt.Errorf("erase subject: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditUserErased, "user", idString(u.ID), u.TeamID, r)); err != nil {
		return nil, err
	}
	return r, commit(tx)
}

// eraseData deletes, clears and revokes what EraseSubject lists, counting.
func eraseData(ctx context.Context, tx *tx, u *chorus.User, r *chorus.Erasure) error {
	now := tx.now()
	var ignored int64
	steps := []struct {
		n    *int64
		q    string
		args []any
	}{
		{&r.Sessions, `DELETE FROM sessions WHERE user_id = ?`, []any{u.ID}},
		{&r.BackupCodes, `DELETE FROM mfa_backup_codes WHERE user_id = ?`, []any{u.ID}},
		{&r.KeysRevoked, `UPDATE api_keys SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, []any{now, u.ID}},
		{&ignored, `UPDATE api_keys SET name = 'erased' WHERE user_id = ?`, []any{u.ID}},
		{&r.Responses, `DELETE FROM responses WHERE user_id = ?`, []any{u.ID}},
		{&r.FeedbackComments, `UPDATE feedback SET comment = '' WHERE user_id = ? AND comment <> ''`, []any{u.ID}},
		{&r.ScoreReasons, `UPDATE quality_scores SET reason = '' WHERE user_id = ? AND reason <> ''`, []any{u.ID}},
		{&r.ClientErrors, `DELETE FROM client_errors WHERE user_id = ?`, []any{u.ID}},
		{&r.Invites, `DELETE FROM invites WHERE email = ?`, []any{u.Email}},
		{&r.CartItems, `DELETE FROM cart_items WHERE user_id = ?`, []any{u.ID}},
		{&ignored, `DELETE FROM carts WHERE user_id = ?`, []any{u.ID}},
	}
	for _, s := range steps {
		res, err := tx.exec(ctx, s.q, s.args...)
		if err != nil {
			return err
		}
		if *s.n, err = affected(res); err != nil {
			return err
		}
	}
	return nil
}

// pseudonymise replaces the user's identifying fields, disables them and
// renames a team that is theirs alone or carries their name or email.
func pseudonymise(ctx context.Context, tx *tx, u *chorus.User, r *chorus.Erasure) error {
	if _, err := tx.exec(ctx, `UPDATE users SET email = ?, name = ?, password_hash = '',
		disabled_at = COALESCE(disabled_at, ?), mfa_secret_enc = NULL, mfa_pending_secret_enc = NULL,
		mfa_enabled_at = NULL, mfa_last_step = 0 WHERE id = ?`,
		chorus.ErasedEmail(u.ID), chorus.ErasedName, tx.now(), u.ID); err != nil {
		return err
	}
	var members int64
	var name string
	if err := tx.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM users WHERE team_id = ?), name FROM teams WHERE id = ?`,
		u.TeamID, u.TeamID).Scan(&members, &name); errors.Is(err, sql.ErrNoRows) {
		return nil // no team
	} else if err != nil {
		return err
	}
	if members > 1 && name != u.Email && name != u.Name {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE teams SET name = ? WHERE id = ?`, "team "+idString(u.TeamID), u.TeamID); err != nil {
		return err
	}
	r.TeamRenamed = true
	return nil
}
