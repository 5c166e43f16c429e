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
	"time"

	"github.com/chorusgw/chorus"
)

const costAlertColumns = `id, name, scope, team_id, model, metric, period, threshold, webhook_url, enabled, created_at, updated_at`

func scanCostAlert(s scanner) (*chorus.CostAlert, error) {
	a := &chorus.CostAlert{}
	err := s.Scan(&a.ID, &a.Name, &a.Scope, &a.TeamID, &a.Model, &a.Metric, &a.Period, &a.Threshold, &a.WebhookURL, &a.Enabled,
		scanTime(&a.CreatedAt), scanTime(&a.UpdatedAt))
	return a, err
}

// CreateCostAlert stores a cost alert and returns the secret that signs
// its webhooks (when it has a URL; shown once).
func (db *DB) CreateCostAlert(ctx context.Context, a *chorus.CostAlert) (secret string, err error) {
	if err := a.Validate(); err != nil {
		return "", err
	}
	if a.WebhookURL != "" && db.sealer == nil {
		return "", fmt.Errorf("create cost alert: %w", ErrNoSecretKey)
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM cost_alerts`).Scan(&n); err != nil {
		return "", fmt.Errorf("create cost alert: %w", err)
	}
	if n >= chorus.MaxCostAlerts {
		return "", chorus.Invalid("", "there may be at most %d cost alerts", chorus.MaxCostAlerts)
	}
	now := db.timeNow()
	a.CreatedAt, a.UpdatedAt = now, now
	if err := tx.queryRow(ctx, `INSERT INTO cost_alerts (name, scope, team_id, model, metric, period, threshold, webhook_url, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.Name, a.Scope, a.TeamID, a.Model, a.Metric, a.Period, a.Threshold, a.WebhookURL, a.Enabled, now, now).Scan(&a.ID); err != nil {
		return "", fmt.Errorf("create cost alert: %w", err)
	}
	if a.WebhookURL != "" {
		if secret, err = db.newAlertSecret(ctx, tx, a.ID); err != nil {
			return "", err
		}
	}
	return secret, commit(tx)
}

// newAlertSecret generates, seals and stores a cost alert's webhook secret.
func (db *DB) newAlertSecret(ctx context.Context, tx *tx, id int64) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(raw[:])
	sealed, err := db.sealer.Seal([]byte(secret), alertWebhookAD(id))
	if err != nil {
		return "", err
	}
	if _, err := tx.exec(ctx, `UPDATE cost_alerts SET webhook_secret_enc = ? WHERE id = ?`, sealed, id); err != nil {
		return "", fmt.Errorf("cost alert %d: store secret: %w", id, err)
	}
	return secret, nil
}

func alertWebhookAD(id int64) []byte {
	return []byte("chorus/cost-alert-webhook/" + strconv.FormatInt(id, 10))
}

// CostAlertByID returns a cost alert, or ENOTFOUND.
func (db *DB) CostAlertByID(ctx context.Context, id int64) (*chorus.CostAlert, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	a, err := scanCostAlert(tx.queryRow(ctx, `SELECT `+costAlertColumns+` FROM cost_alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("No cost alert %d.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("cost alert: %w", err)
	}
	return a, nil
}

// UpdateCostAlert replaces a cost alert's settings (ENOTFOUND if there is
// none) and returns the new webhook secret when one was issued: when the
// URL changed to a new one, or rotate is set. Its firings stay: a period
// that fired does not fire again.
func (db *DB) UpdateCostAlert(ctx context.Context, a *chorus.CostAlert, rotate bool) (secret string, err error) {
	if err := a.Validate(); err != nil {
		return "", err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var oldURL string
	err = tx.queryRow(ctx, `SELECT webhook_url FROM cost_alerts WHERE id = ?`, a.ID).Scan(&oldURL)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("No cost alert %d.", a.ID)
	}
	if err != nil {
		return "", fmt.Errorf("update cost alert: %w", err)
	}
	now := db.timeNow()
	a.UpdatedAt = now
	if err := tx.queryRow(ctx, `UPDATE cost_alerts SET name = ?, scope = ?, team_id = ?, model = ?, metric = ?, period = ?, threshold = ?,
		webhook_url = ?, enabled = ?, updated_at = ? WHERE id = ? RETURNING created_at`,
		a.Name, a.Scope, a.TeamID, a.Model, a.Metric, a.Period, a.Threshold, a.WebhookURL, a.Enabled, now, a.ID).Scan(scanTime(&a.CreatedAt)); err != nil {
		return "", fmt.Errorf("update cost alert: %w", err)
	}
	switch {
	case a.WebhookURL == "":
		if _, err := tx.exec(ctx, `UPDATE cost_alerts SET webhook_secret_enc = NULL WHERE id = ?`, a.ID); err != nil {
			return "", fmt.Errorf("update cost alert: %w", err)
		}
	case a.WebhookURL != oldURL || rotate:
		if db.sealer == nil {
			return "", fmt.Errorf("update cost alert: %w", ErrNoSecretKey)
		}
		if secret, err = db.newAlertSecret(ctx, tx, a.ID); err != nil {
			return "", err
		}
	}
	return secret, commit(tx)
}

// DeleteCostAlert removes a cost alert (ENOTFOUND if there is none); its
// firings stay in the history.
func (db *DB) DeleteCostAlert(ctx context.Context, id int64) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `DELETE FROM cost_alerts WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete cost alert: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("No cost alert %d.", id)
	}
	return commit(tx)
}

// ListCostAlerts returns one page of cost alerts in ID order.
func (db *DB) ListCostAlerts(ctx context.Context, p chorus.Page) ([]*chorus.CostAlert, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT `+costAlertColumns+` FROM cost_alerts WHERE id > ? ORDER BY id LIMIT ?`, p.After, limit(p))
	if err != nil {
		return nil, fmt.Errorf("list cost alerts: %w", err)
	}
	defer rows.Close()
	var out []*chorus.CostAlert
	for rows.Next() {
		a, err := scanCostAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list cost alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// CostAlertValue returns a's metric over [start, end) from the daily
// rollups.
func (db *DB) CostAlertValue(ctx context.Context, a *chorus.CostAlert, start, end time.Time) (float64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	where, args := `bucket >= ? AND bucket < ?`, []any{start, end}
	switch a.Scope {
	case chorus.AlertTeam:
		where, args = where+` AND team_id = ?`, append(args, a.TeamID)
	case chorus.AlertModel:
		where, args = where+` AND model = ?`, append(args, a.Model)
	}
	var cost, revenue, tokens int64
	var energy, co2e float64
	if err := tx.queryRow(ctx, `SELECT COALESCE(SUM(provider_cost), 0), COALESCE(SUM(revenue), 0), COALESCE(SUM(input_tokens + output_tokens), 0),
		COALESCE(SUM(energy_wh), 0), COALESCE(SUM(co2e_g), 0) FROM usage_daily WHERE `+where, args...).Scan(&cost, &revenue, &tokens, &energy, &co2e); err != nil {
		return 0, fmt.Errorf("cost alert %d: value: %w", a.ID, err)
	}
	switch a.Metric {
	case chorus.AlertCost:
		return float64(cost), nil
	case chorus.AlertRevenue:
		return float64(revenue), nil
	case chorus.AlertEnergy:
		return energy, nil
	case chorus.AlertCO2e:
		return co2e, nil
	default: // chorus.AlertWhPer1kTokens
		if tokens == 0 {
			return 0, nil
		}
		return energy * 1000 / float64(tokens), nil
	}
}

// FireCostAlert records that a's metric reached value in the period that
// starts at periodStart, with its event and webhook delivery, in one
// transaction — unless that period fired already (on any instance): then
// it returns nil and changes nothing.
func (db *DB) FireCostAlert(ctx context.Context, a *chorus.CostAlert, periodStart time.Time, value float64) (*chorus.CostAlertFiring, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	f := &chorus.CostAlertFiring{AlertID: a.ID, Name: a.Name, Scope: a.Scope, TeamID: a.TeamID, Model: a.Model, Metric: a.Metric,
		Period: a.Period, PeriodStart: normTime(periodStart), Value: value, Threshold: a.Threshold, FiredAt: now}
	err = tx.queryRow(ctx, `INSERT INTO cost_alert_firings (alert_id, period_start, value, threshold, fired_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (alert_id, period_start) DO NOTHING RETURNING id`, a.ID, f.PeriodStart, value, a.Threshold, now).Scan(&f.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // fired before
	}
	if err != nil {
		return nil, fmt.Errorf("fire cost alert %d: %w", a.ID, err)
	}
	data, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if err := tx.queryRow(ctx, `INSERT INTO events (team_id, type, budget_id, data, created_at) VALUES (?, ?, 0, ?, ?) RETURNING id`,
		a.TeamID, chorus.EventCostAlert, string(data), now).Scan(&f.EventID); err != nil {
		return nil, fmt.Errorf("fire cost alert %d: event: %w", a.ID, err)
	}
	if _, err := tx.exec(ctx, `UPDATE cost_alert_firings SET event_id = ? WHERE id = ?`, f.EventID, f.ID); err != nil {
		return nil, fmt.Errorf("fire cost alert %d: %w", a.ID, err)
	}
	if a.WebhookURL != "" {
		if _, err := tx.exec(ctx, `INSERT INTO webhook_deliveries (event_id, budget_id, alert_id, team_id, url, status, next_attempt_at, created_at)
			VALUES (?, 0, ?, ?, ?, ?, ?, ?)`, f.EventID, a.ID, a.TeamID, a.WebhookURL, chorus.DeliveryPending, now, now); err != nil {
			return nil, fmt.Errorf("fire cost alert %d: delivery: %w", a.ID, err)
		}
	}
	if err := notifyLive(ctx, tx); err != nil {
		return nil, err
	}
	return f, commit(tx)
}

// ListCostAlertFirings returns one page of firings in ID order, of one
// alert when alertID is not nil.
func (db *DB) ListCostAlertFirings(ctx context.Context, alertID *int64, p chorus.Page) ([]*chorus.CostAlertFiring, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q, args := `SELECT f.id, f.alert_id, f.period_start, f.value, f.threshold, f.event_id, f.fired_at, e.data
		FROM cost_alert_firings f LEFT JOIN events e ON e.id = f.event_id WHERE f.id > ?`, []any{p.After}
	if alertID != nil {
		q, args = q+` AND f.alert_id = ?`, append(args, *alertID)
	}
	rows, err := tx.query(ctx, q+` ORDER BY f.id LIMIT ?`, append(args, limit(p))...)
	if err != nil {
		return nil, fmt.Errorf("list cost alert firings: %w", err)
	}
	defer rows.Close()
	var out []*chorus.CostAlertFiring
	for rows.Next() {
		f := &chorus.CostAlertFiring{}
		var data sql.NullString
		var id, alert, event int64
		var start, fired time.Time
		var value, threshold float64
		if err := rows.Scan(&id, &alert, scanTime(&start), &value, &threshold, &event, scanTime(&fired), &data); err != nil {
			return nil, fmt.Errorf("list cost alert firings: %w", err)
		}
		if data.Valid { // the alert's settings as they were when it fired
			_ = json.Unmarshal([]byte(data.String), f)
		}
		f.ID, f.AlertID, f.PeriodStart, f.Value, f.Threshold, f.EventID, f.FiredAt = id, alert, start, value, threshold, event, fired
		out = append(out, f)
	}
	return out, rows.Err()
}
