package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

const budgetColumns = `b.id, b.team_id, b.scope, b.scope_id, b.period, b.amount, b.hard, b.webhook_url, b.created_at, b.updated_at`

// CreateBudget stores a budget and returns the secret that signs its
// webhooks (when it has a URL; shown once). The team is the scope's: the
// team itself, the user's or the key's; when b.TeamID is set, the scope
// must belong to that team (EINVALID otherwise). For a team budget ScopeID
// may be 0 (b.TeamID's). Recorded in the audit log.
func (db *DB) CreateBudget(ctx context.Context, b *chorus.Budget) (secret string, err error) {
	if b.Scope == chorus.BudgetTeam && b.ScopeID == 0 {
		b.ScopeID = b.TeamID
	}
	if err := b.Validate(); err != nil {
		return "", err
	}
	if b.WebhookURL != "" && db.sealer == nil {
		return "", fmt.Errorf("create budget: %w", ErrNoSecretKey)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	team, err := scopeTeam(ctx, tx, b.Scope, b.ScopeID)
	if err != nil {
		return "", err
	}
	if b.TeamID != 0 && team != b.TeamID {
		return "", chorus.Invalid("scope_id", "there is no %s %d in team %d", b.Scope, b.ScopeID, b.TeamID)
	}
	b.TeamID = team
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM budgets WHERE team_id = ?`, team).Scan(&n); err != nil {
		return "", fmt.Errorf("create budget: %w", err)
	}
	if n >= chorus.MaxBudgetsPerTeam {
		return "", chorus.Invalid("", "a team may have at most %d budgets", chorus.MaxBudgetsPerTeam)
	}
	now := db.timeNow()
	b.CreatedAt, b.UpdatedAt = now, now
	err = tx.queryRow(ctx, `INSERT INTO budgets (team_id, scope, scope_id, period, amount, hard, webhook_url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		b.TeamID, b.Scope, b.ScopeID, b.Period, b.Amount, b.Hard, b.WebhookURL, now, now).Scan(&b.ID)
	if tx.d.isUnique(err) {
		return "", conflict(err, "the %s %d has a %s %s budget already: change that one", b.Scope, b.ScopeID, hardness(b.Hard), b.Period)
	}
	if err != nil {
		return "", fmt.Errorf("create budget: %w", err)
	}
	if b.WebhookURL != "" {
		if secret, err = db.newWebhookSecret(ctx, tx, b.ID); err != nil {
			return "", err
		}
	}
	b.PeriodStart = chorus.PeriodStart(b.Period, now)
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditBudgetChanged, "budget", strconv.FormatInt(b.ID, 10), b.TeamID,
		budgetDetails("created", b, secret != ""))); err != nil {
		return "", err
	}
	return secret, commit(tx)
}

func hardness(hard bool) string {
	if hard {
		return "hard"
	}
	return "soft"
}

func budgetDetails(op string, b *chorus.Budget, secretIssued bool) map[string]any {
	return map[string]any{"op": op, "scope": b.Scope, "scope_id": b.ScopeID, "period": b.Period, "amount": b.Amount,
		"hard": b.Hard, "webhook_url": b.WebhookURL, "webhook_secret_issued": secretIssued}
}

// scopeTeam returns the team a budget's scope belongs to (EINVALID when the
// scope does not exist).
func scopeTeam(ctx context.Context, tx *tx, scope string, id int64) (int64, error) {
	var q string
	switch scope {
	case chorus.BudgetTeam:
		q = `SELECT id FROM teams WHERE id = ?`
	case chorus.BudgetUser:
		q = `SELECT COALESCE(team_id, 0) FROM users WHERE id = ?`
	default:
		q = `SELECT team_id FROM api_keys WHERE id = ?`
	}
	var team int64
	err := tx.queryRow(ctx, q, id).Scan(&team)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && team == 0) {
		return 0, chorus.Invalid("scope_id", "there is no %s %d", scope, id)
	}
	if err != nil {
		return 0, fmt.Errorf("budget scope: %w", err)
	}
	return team, nil
}

// newWebhookSecret generates, seals and stores a budget's webhook secret.
func (db *DB) newWebhookSecret(ctx context.Context, tx *tx, id int64) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(raw[:])
	sealed, err := db.sealer.Seal([]byte(secret), webhookAD(id))
	if err != nil {
		return "", err
	}
	if _, err := tx.exec(ctx, `UPDATE budgets SET webhook_secret_enc = ? WHERE id = ?`, sealed, id); err != nil {
		return "", fmt.Errorf("budget %d: store secret: %w", id, err)
	}
	return secret, nil
}

func webhookAD(id int64) []byte { return []byte("chorus/budget-webhook/" + strconv.FormatInt(id, 10)) }

// UpdateBudget changes a budget (ENOTFOUND if there is none; with teamID
// non-zero, also if it belongs to another team) and returns it, with the
// new webhook secret when one was issued. Recorded in the audit log.
func (db *DB) UpdateBudget(ctx context.Context, id, teamID int64, c chorus.BudgetChange) (*chorus.Budget, string, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, "", err
	}
	defer tx.Rollback()
	now := db.timeNow()
	b, err := budgetByID(ctx, tx, id, now)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && teamID != 0 && b.TeamID != teamID) {
		return nil, "", notFound("budget %d not found", id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("update budget: %w", err)
	}
	hadURL := b.WebhookURL != ""
	if c.Amount != nil {
		b.Amount = *c.Amount
	}
	if c.Hard != nil {
		b.Hard = *c.Hard
	}
	if c.WebhookURL != nil {
		b.WebhookURL = *c.WebhookURL
	}
	if err := b.Validate(); err != nil {
		return nil, "", err
	}
	issue := b.WebhookURL != "" && (!hadURL || c.RotateSecret)
	if issue && db.sealer == nil {
		return nil, "", fmt.Errorf("update budget: %w", ErrNoSecretKey)
	}
	b.UpdatedAt = now
	_, err = tx.exec(ctx, `UPDATE budgets SET amount = ?, hard = ?, webhook_url = ?, updated_at = ? WHERE id = ?`,
		b.Amount, b.Hard, b.WebhookURL, now, id)
	if tx.d.isUnique(err) {
		return nil, "", conflict(err, "the %s %d has a %s %s budget already", b.Scope, b.ScopeID, hardness(b.Hard), b.Period)
	}
	if err != nil {
		return nil, "", fmt.Errorf("update budget: %w", err)
	}
	var secret string
	switch {
	case issue:
		if secret, err = db.newWebhookSecret(ctx, tx, id); err != nil {
			return nil, "", err
		}
	case b.WebhookURL == "":
		if _, err := tx.exec(ctx, `UPDATE budgets SET webhook_secret_enc = NULL WHERE id = ?`, id); err != nil {
			return nil, "", fmt.Errorf("update budget: %w", err)
		}
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditBudgetChanged, "budget", strconv.FormatInt(id, 10), b.TeamID,
		budgetDetails("updated", b, secret != ""))); err != nil {
		return nil, "", err
	}
	if err := commit(tx); err != nil {
		return nil, "", err
	}
	return b, secret, nil
}

// DeleteBudget removes a budget and its periods (ENOTFOUND if there is
// none; with teamID non-zero, also if it belongs to another team).
// Recorded in the audit log.
func (db *DB) DeleteBudget(ctx context.Context, id, teamID int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	b, err := budgetByID(ctx, tx, id, db.timeNow())
	if errors.Is(err, sql.ErrNoRows) || (err == nil && teamID != 0 && b.TeamID != teamID) {
		return notFound("budget %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("delete budget: %w", err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM budget_periods WHERE budget_id = ?`, id); err != nil {
		return fmt.Errorf("delete budget: %w", err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM budgets WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete budget: %w", err)
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditBudgetChanged, "budget", strconv.FormatInt(id, 10), b.TeamID,
		budgetDetails("deleted", b, false))); err != nil {
		return err
	}
	return commit(tx)
}

// BudgetByID returns a budget with its current period's spend (ENOTFOUND
// if there is none; with teamID non-zero, also if it belongs to another
// team).
func (db *DB) BudgetByID(ctx context.Context, id, teamID int64) (*chorus.Budget, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	b, err := budgetByID(ctx, tx, id, db.timeNow())
	if errors.Is(err, sql.ErrNoRows) || (err == nil && teamID != 0 && b.TeamID != teamID) {
		return nil, notFound("budget %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	return b, nil
}

// budgetByID reads a budget with the spend of the period at `at` (a time
// in that period, or the period's start).
func budgetByID(ctx context.Context, tx *tx, id int64, at time.Time) (*chorus.Budget, error) {
	bs, err := queryBudgets(ctx, tx, at, `WHERE b.id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, sql.ErrNoRows
	}
	return bs[0], nil
}

// ListBudgets returns one page of budgets in ID order, each with its
// current period's spend.
func (db *DB) ListBudgets(ctx context.Context, f chorus.BudgetFilter, page chorus.Page) ([]*chorus.Budget, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := `WHERE b.id > ?`, []any{page.After}
	if f.TeamID != nil {
		where, args = where+` AND b.team_id = ?`, append(args, *f.TeamID)
	}
	bs, err := queryBudgets(ctx, tx, db.timeNow(), where+` ORDER BY b.id LIMIT ?`, append(args, limit(page))...)
	if err != nil {
		return nil, fmt.Errorf("list budgets: %w", err)
	}
	return bs, nil
}

// AllBudgets returns every budget with its current period's spend, for
// the meter's in-memory view.
func (db *DB) AllBudgets(ctx context.Context) ([]*chorus.Budget, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	bs, err := queryBudgets(ctx, tx, db.timeNow(), `ORDER BY b.id`)
	if err != nil {
		return nil, fmt.Errorf("all budgets: %w", err)
	}
	return bs, nil
}

// queryBudgets reads budgets with the spend of the periods that contain
// at (each budget's own kind of period).
func queryBudgets(ctx context.Context, tx *tx, at time.Time, where string, args ...any) ([]*chorus.Budget, error) {
	day, month := chorus.PeriodStart(chorus.PeriodDay, at), chorus.PeriodStart(chorus.PeriodMonth, at)
	rows, err := tx.query(ctx, `SELECT `+budgetColumns+`, COALESCE(p.spent, 0), COALESCE(p.reserved, 0) FROM budgets b
		LEFT JOIN budget_periods p ON p.budget_id = b.id
			AND ((b.period = 'month' AND p.period_start = ?) OR (b.period <> 'month' AND p.period_start = ?)) `+where,
		append([]any{month, day}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*chorus.Budget
	for rows.Next() {
		b := &chorus.Budget{}
		if err := rows.Scan(&b.ID, &b.TeamID, &b.Scope, &b.ScopeID, &b.Period, &b.Amount, &b.Hard, &b.WebhookURL,
			scanTime(&b.CreatedAt), scanTime(&b.UpdatedAt), &b.Spent, &b.Reserved); err != nil {
			return nil, err
		}
		b.PeriodStart = chorus.PeriodStart(b.Period, at)
		out = append(out, b)
	}
	return out, rows.Err()
}

// addBudgetSpend adds s.Amount to a budget period's spend and returns the
// spend after (-1 when the budget no longer exists) and whether it raised
// the alert of a soft budget it took to its amount.
func addBudgetSpend(ctx context.Context, tx *tx, s chorus.BudgetSpend, now time.Time) (int64, bool, error) {
	ps := normTime(s.PeriodStart)
	if err := ensurePeriod(ctx, tx, s.BudgetID, ps); err != nil {
		return -1, false, err
	}
	var spent int64
	var alertedAt *time.Time
	err := tx.queryRow(ctx, `UPDATE budget_periods SET spent = spent + ? WHERE budget_id = ? AND period_start = ?
		RETURNING spent, alerted_at`, s.Amount, s.BudgetID, ps).Scan(&spent, scanNullTime(&alertedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return -1, false, nil
	}
	if err != nil {
		return -1, false, fmt.Errorf("budget %d: spend: %w", s.BudgetID, err)
	}
	if alertedAt != nil {
		return spent, false, nil
	}
	b, err := budgetByID(ctx, tx, s.BudgetID, ps)
	if err != nil {
		return -1, false, fmt.Errorf("budget %d: %w", s.BudgetID, err)
	}
	if b.Hard || spent < b.Amount {
		return spent, false, nil
	}
	res, err := tx.exec(ctx, `UPDATE budget_periods SET alerted_at = ? WHERE budget_id = ? AND period_start = ? AND alerted_at IS NULL`,
		now, s.BudgetID, ps)
	if err != nil {
		return -1, false, fmt.Errorf("budget %d: alert: %w", s.BudgetID, err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		return spent, false, err
	}
	return spent, true, raiseBudgetAlert(ctx, tx, b, spent, now)
}

// raiseBudgetAlert writes a budget's event and, when it has a URL, the
// webhook delivery that will carry it.
func raiseBudgetAlert(ctx context.Context, tx *tx, b *chorus.Budget, spent int64, now time.Time) error {
	data, err := json.Marshal(chorus.BudgetAlert{BudgetID: b.ID, Scope: b.Scope, ScopeID: b.ScopeID, Period: b.Period,
		PeriodStart: b.PeriodStart, Amount: b.Amount, Spent: spent, Hard: b.Hard})
	if err != nil {
		return err
	}
	var eventID int64
	if err := tx.queryRow(ctx, `INSERT INTO events (team_id, type, budget_id, data, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		b.TeamID, chorus.EventBudgetExceeded, b.ID, string(data), now).Scan(&eventID); err != nil {
		return fmt.Errorf("budget %d: event: %w", b.ID, err)
	}
	if err := notifyLive(ctx, tx); err != nil {
		return err
	}
	if b.WebhookURL == "" {
		return nil
	}
	if _, err := tx.exec(ctx, `INSERT INTO webhook_deliveries (event_id, budget_id, team_id, url, status, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, eventID, b.ID, b.TeamID, b.WebhookURL, chorus.DeliveryPending, now, now); err != nil {
		return fmt.Errorf("budget %d: delivery: %w", b.ID, err)
	}
	return nil
}

// ListEvents returns one page of events in ID order.
func (db *DB) ListEvents(ctx context.Context, f chorus.EventFilter, page chorus.Page) ([]*chorus.Event, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := []string{"e.id > ?"}, []any{page.After}
	if f.TeamID != nil {
		where, args = append(where, "e.team_id = ?"), append(args, *f.TeamID)
	}
	if f.Type != "" {
		where, args = append(where, "e.type = ?"), append(args, f.Type)
	}
	rows, err := tx.query(ctx, `SELECT e.id, e.team_id, e.type, e.budget_id, e.data, e.created_at,
		d.status, d.attempts, d.last_status, d.last_error, d.delivered_at
		FROM events e LEFT JOIN webhook_deliveries d ON d.event_id = e.id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY e.id LIMIT ?`, append(args, limit(page))...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Event
	for rows.Next() {
		e := &chorus.Event{}
		var data string
		var status, lastError sql.NullString
		var attempts, lastStatus sql.NullInt64
		var delivered *time.Time
		if err := rows.Scan(&e.ID, &e.TeamID, &e.Type, &e.BudgetID, &data, scanTime(&e.CreatedAt),
			&status, &attempts, &lastStatus, &lastError, scanNullTime(&delivered)); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		if status.Valid {
			e.Webhook = &chorus.DeliveryState{Status: status.String, Attempts: int(attempts.Int64), LastStatus: int(lastStatus.Int64),
				LastError: lastError.String, DeliveredAt: delivered}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ClaimDeliveries returns up to limit due webhook deliveries, each claimed
// for `claim` (another instance will not send it meanwhile) with its
// attempt counted.
func (db *DB) ClaimDeliveries(ctx context.Context, limit int, claim time.Duration) ([]*chorus.Delivery, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	// The outer condition is checked again on each row once locked, so two
	// instances never claim one delivery.
	rows, err := tx.query(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?
		WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = ? AND next_attempt_at <= ? ORDER BY id LIMIT ?)
		AND status = ? AND next_attempt_at <= ?
		RETURNING id, event_id, budget_id, alert_id, team_id, url, attempts`,
		now.Add(claim), chorus.DeliveryPending, now, limit, chorus.DeliveryPending, now)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	var out []*chorus.Delivery
	alerts := map[*chorus.Delivery]int64{} // a cost alert's deliveries: their alert
	for rows.Next() {
		d := &chorus.Delivery{}
		var alert int64
		if err := rows.Scan(&d.ID, &d.EventID, &d.BudgetID, &alert, &d.TeamID, &d.URL, &d.Attempt); err != nil {
			rows.Close()
			return nil, err
		}
		if alert > 0 {
			alerts[d] = alert
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, d := range out {
		var data string
		err := tx.queryRow(ctx, `SELECT id, team_id, type, budget_id, data, created_at FROM events WHERE id = ?`, d.EventID).
			Scan(&d.Event.ID, &d.Event.TeamID, &d.Event.Type, &d.Event.BudgetID, &data, scanTime(&d.Event.CreatedAt))
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: event %d: %w", d.EventID, err)
		}
		d.Event.Data = json.RawMessage(data)
		if alert, ok := alerts[d]; ok {
			if d.Secret, err = db.alertSecret(ctx, tx, alert); err != nil {
				return nil, err
			}
			continue
		}
		var sealed []byte
		err = tx.queryRow(ctx, `SELECT webhook_secret_enc FROM budgets WHERE id = ?`, d.BudgetID).Scan(&sealed)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("claim deliveries: budget %d: %w", d.BudgetID, err)
		}
		if len(sealed) > 0 && db.sealer != nil {
			pt, err := db.sealer.Open(sealed, webhookAD(d.BudgetID))
			if err != nil {
				return nil, fmt.Errorf("budget %d: webhook secret cannot be decrypted: %w", d.BudgetID, err)
			}
			d.Secret = string(pt)
		}
	}
	return out, commit(tx)
}

// FinishDelivery records an attempt's outcome.
func (db *DB) FinishDelivery(ctx context.Context, id int64, r chorus.DeliveryResult) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	if len(r.Error) > 500 {
		r.Error = r.Error[:500]
	}
	status, next, delivered := chorus.DeliveryFailed, now, (*time.Time)(nil)
	switch {
	case r.Delivered:
		status, delivered = chorus.DeliveryDelivered, &now
	case !r.Retry.IsZero():
		status, next = chorus.DeliveryPending, r.Retry
	}
	if _, err := tx.exec(ctx, `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_status = ?, last_error = ?,
		delivered_at = ? WHERE id = ?`, status, next, r.Status, r.Error, delivered, id); err != nil {
		return fmt.Errorf("finish delivery %d: %w", id, err)
	}
	return commit(tx)
}

// alertSecret returns a cost alert's webhook secret ("" when the alert is
// gone or has none).
func (db *DB) alertSecret(ctx context.Context, tx *tx, id int64) (string, error) {
	var sealed []byte
	err := tx.queryRow(ctx, `SELECT webhook_secret_enc FROM cost_alerts WHERE id = ?`, id).Scan(&sealed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("claim deliveries: cost alert %d: %w", id, err)
	}
	if len(sealed) == 0 || db.sealer == nil {
		return "", nil
	}
	pt, err := db.sealer.Open(sealed, alertWebhookAD(id))
	if err != nil {
		return "", fmt.Errorf("cost alert %d: webhook secret cannot be decrypted: %w", id, err)
	}
	return string(pt), nil
}
