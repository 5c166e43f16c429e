package store

import (
	"context"
	"fmt"

	"github.com/chorusgw/chorus"
)

const paymentColumns = `id, order_id, team_id, provider, status, amount, currency, external_id, reference,
	refund_reference, redirect_url, instructions, created_at, updated_at`

// ListPayments returns one page of payments in ID order. Payments change
// only with their order (see TransitionOrder).
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListPayments(ctx context.Context, f chorus.PaymentFilter, page chorus.Page) ([]*chorus.Payment, error) {
	tx, err := db.beginLagged(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	where, args := `id > ?`, []any{page.After}
	if f.TeamID != 0 {
		where += ` AND team_id = ?`
		args = append(args, f.TeamID)
	}
	if f.Status != "" {
		where += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Provider != "" {
		where += ` AND provider = ?`
		args = append(args, f.Provider)
	}
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT `+paymentColumns+` FROM payments WHERE `+where+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	defer rows.Close()
	var out []*chorus.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, fmt.Errorf("list payments: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return out, nil
}

// PaymentEventSeen reports whether a provider's event has been applied
// (recorded by TransitionOrder).
func (db *DB) PaymentEventSeen(ctx context.Context, provider, eventID string) (bool, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM payment_events WHERE provider = ? AND event_id = ?`,
		provider, eventID).Scan(&n); err != nil {
		return false, fmt.Errorf("payment event: %w", err)
	}
	return n > 0, nil
}

func scanPayment(s scanner) (*chorus.Payment, error) {
	var p chorus.Payment
	if err := s.Scan(&p.ID, &p.OrderID, &p.TeamID, &p.Provider, &p.Status, &p.Amount, &p.Currency,
		&p.ExternalID, &p.Reference, &p.RefundReference, &p.RedirectURL, &p.Instructions,
		scanTime(&p.CreatedAt), scanTime(&p.UpdatedAt)); err != nil {
		return nil, err
	}
	return &p, nil
}
