package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

const orderColumns = `id, team_id, user_id, status, currency, total, credits, provider, idempotency_key, request_hash,
	created_at, updated_at, paid_at, fulfilled_at, refunded_at`

// Checkout creates an order from the user's cart in one transaction: the
// items as they are now (names, prices, credits), the totals, a pending
// payment with req.Provider, and an empty cart. created is false when an
// order with req.IdempotencyKey exists already: that order is returned,
// or ECONFLICT if it was placed by a different request. An empty cart, or
// one with a product no longer on sale, is EINVALID.
func (db *DB) Checkout(ctx context.Context, req chorus.CheckoutRequest) (o *chorus.Order, created bool, err error) {
	if err := chorus.ValidIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, false, err
	}
	if req.UserID <= 0 || req.TeamID <= 0 || req.Provider == "" || req.Currency == "" {
		return nil, false, fmt.Errorf("checkout: user, team, provider and currency are required")
	}
	for attempt := 0; ; attempt++ {
		o, created, err = db.checkout(ctx, req)
		// Two checkouts with one key raced past the lookup: the loser's
		// insert failed on the unique key, and the retry finds the winner.
		if attempt == 0 && db.d.isUnique(err) {
			continue
		}
		return o, created, err
	}
}

func (db *DB) checkout(ctx context.Context, req chorus.CheckoutRequest) (*chorus.Order, bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	if err := lockCart(ctx, tx, req.UserID, now); err != nil {
		return nil, false, err
	}
	if o, found, err := orderByKey(ctx, tx, req); found || err != nil {
		return o, false, err
	}
	o, err := orderFromCart(ctx, tx, req, now)
	if err != nil {
		return nil, false, err
	}
	if err := insertOrder(ctx, tx, o); err != nil {
		return nil, false, err
	}
	if err := insertPayment(ctx, tx, o, now); err != nil {
		return nil, false, err
	}
	if err := emptyCart(ctx, tx, req.UserID, now); err != nil {
		return nil, false, err
	}
	if err := appendAudit(ctx, tx, auditEntry(chorus.AuditOrderTransition, "order", strconv.FormatInt(o.ID, 10), o.TeamID,
		map[string]any{"from": "", "to": o.Status, "total": o.Total, "currency": o.Currency, "credits": o.Credits,
			"provider": o.Provider, "payment_id": o.Payment.ID})); err != nil {
		return nil, false, err
	}
	if err := commit(tx); err != nil {
		return nil, false, err
	}
	return o, true, nil
}

// lockCart locks the user's cart, creating it if need be, so that a
// concurrent checkout of the same cart (same key or not) waits here and
// then sees this one's outcome.
func lockCart(ctx context.Context, tx *tx, userID int64, now time.Time) error {
	var version int64
	err := tx.queryRow(ctx, `INSERT INTO carts (user_id, version, updated_at) VALUES (?, 0, ?)
		ON CONFLICT (user_id) DO UPDATE SET version = carts.version RETURNING version`, userID, now).Scan(&version)
	if tx.d.isForeignKey(err) {
		return notFound("user %d not found", userID)
	}
	if err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	return nil
}

// orderByKey returns the user's order placed with req.IdempotencyKey, with
// found true, or ECONFLICT if a different request placed it. found is false
// when there is no such order.
func orderByKey(ctx context.Context, tx *tx, req chorus.CheckoutRequest) (o *chorus.Order, found bool, err error) {
	var id int64
	var hash string
	err = tx.queryRow(ctx, `SELECT id, request_hash FROM orders WHERE user_id = ? AND idempotency_key = ?`,
		req.UserID, req.IdempotencyKey).Scan(&id, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("checkout: %w", err)
	case hash != req.RequestHash:
		e := chorus.Errorf(chorus.ECONFLICT, "This Idempotency-Key was already used for a different checkout request (order %d): use a new key for a new order.", id)
		e.Param = "Idempotency-Key"
		return nil, true, e
	}
	o, err = loadOrder(ctx, tx, id, false)
	return o, true, err
}

// orderFromCart returns a pending order, not yet stored, of the user's cart
// as it is now (names, prices, credits). An empty cart, or one with a
// product no longer on sale, is EINVALID.
func orderFromCart(ctx context.Context, tx *tx, req chorus.CheckoutRequest, now time.Time) (*chorus.Order, error) {
	cart, err := loadCart(ctx, tx, req.UserID)
	if err != nil {
		return nil, err
	}
	if len(cart.Items) == 0 {
		return nil, chorus.Invalid("cart", "The cart is empty: add a product before checking out.")
	}
	o := &chorus.Order{
		TeamID: req.TeamID, UserID: req.UserID, Status: chorus.OrderPending, Currency: req.Currency,
		Provider: req.Provider, IdempotencyKey: req.IdempotencyKey, RequestHash: req.RequestHash,
		CreatedAt: now, UpdatedAt: now,
	}
	for _, it := range cart.Items {
		if !it.Available {
			return nil, chorus.Invalid("cart", "Product %d (%s) is no longer on sale: remove it from the cart.", it.ProductID, it.Name)
		}
		o.Items = append(o.Items, chorus.OrderItem{
			ProductID: it.ProductID, Name: it.Name, UnitPrice: it.UnitPrice, UnitCredits: it.UnitCredits,
			Quantity: it.Quantity, Amount: it.Amount, Credits: it.Credits,
		})
	}
	o.Total, o.Credits = cart.Total, cart.Credits
	return o, nil
}

// insertOrder stores o and its items and sets o.ID. A duplicate
// idempotency key comes back unwrapped, for Checkout to retry.
func insertOrder(ctx context.Context, tx *tx, o *chorus.Order) error {
	err := tx.queryRow(ctx, `INSERT INTO orders (team_id, user_id, status, currency, total, credits, provider,
		idempotency_key, request_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		o.TeamID, o.UserID, o.Status, o.Currency, o.Total, o.Credits, o.Provider,
		o.IdempotencyKey, o.RequestHash, o.CreatedAt, o.UpdatedAt).Scan(&o.ID)
	switch {
	case tx.d.isUnique(err):
		return err // Checkout retries
	case tx.d.isForeignKey(err):
		return chorus.Invalid("team_id", "team %d does not exist", o.TeamID)
	case err != nil:
		return fmt.Errorf("checkout: %w", err)
	}
	for i, it := range o.Items {
		if _, err := tx.exec(ctx, `INSERT INTO order_items (order_id, line, product_id, name, unit_price, unit_credits, quantity)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, o.ID, i+1, it.ProductID, it.Name, it.UnitPrice, it.UnitCredits, it.Quantity); err != nil {
			return fmt.Errorf("checkout: %w", err)
		}
	}
	return nil
}

// insertPayment stores the pending payment of o's total and sets o.Payment.
func insertPayment(ctx context.Context, tx *tx, o *chorus.Order, now time.Time) error {
	pay := &chorus.Payment{
		OrderID: o.ID, TeamID: o.TeamID, Provider: o.Provider, Status: chorus.PaymentPending,
		Amount: o.Total, Currency: o.Currency, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.queryRow(ctx, `INSERT INTO payments (order_id, team_id, provider, status, amount, currency, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, pay.OrderID, pay.TeamID, pay.Provider, pay.Status,
		pay.Amount, pay.Currency, pay.CreatedAt, pay.UpdatedAt).Scan(&pay.ID); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	o.Payment = pay
	return nil
}

// emptyCart removes the user's cart items and bumps the cart's version.
func emptyCart(ctx context.Context, tx *tx, userID int64, now time.Time) error {
	if _, err := tx.exec(ctx, `DELETE FROM cart_items WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE carts SET version = version + 1, updated_at = ? WHERE user_id = ?`, now, userID); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	return nil
}

// OrderByID returns the order with its items and payment, or ENOTFOUND.
func (db *DB) OrderByID(ctx context.Context, id int64) (*chorus.Order, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return loadOrder(ctx, tx, id, false)
}

// ListOrders returns one page of orders, with their items and payments, in
// ID order.
// A read replica may serve it (see beginLagged and ReadAfter).
func (db *DB) ListOrders(ctx context.Context, f chorus.OrderFilter, page chorus.Page) ([]*chorus.Order, error) {
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
	args = append(args, limit(page))
	rows, err := tx.query(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	var out []*chorus.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	if err := fillOrders(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetPaymentStart records how the payment of a pending order was started
// and returns the order. On an order that is no longer pending it changes
// nothing (the order moved on while the provider was being asked).
func (db *DB) SetPaymentStart(ctx context.Context, orderID int64, s chorus.PaymentStart) (*chorus.Order, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.exec(ctx, `UPDATE payments SET external_id = ?, redirect_url = ?, instructions = ?, updated_at = ?
		WHERE order_id = ? AND status = ?`, s.ExternalID, s.RedirectURL, s.Instructions, db.timeNow(), orderID,
		chorus.PaymentPending); err != nil {
		return nil, fmt.Errorf("set payment start: %w", err)
	}
	o, err := loadOrder(ctx, tx, orderID, false)
	if err != nil {
		return nil, err
	}
	return o, commit(tx)
}

// TransitionOrder moves an order from its state to t.To in one
// transaction, with its effects and audit entries:
//
//   - paid: the payment succeeded, with t.Reference;
//   - fulfilled: the order's credits are posted to the team's wallet
//     (PostingTopUp, idempotency key "order:<id>:fulfil");
//   - failed, cancelled: the payment too;
//   - refunded: the payment too, with t.Reference; a fulfilled order's
//     credits are taken back (PostingRefund, "order:<id>:refund").
//
// A transition the state machine does not allow (chorus.OrderTransitionAllowed)
// is ECONFLICT and changes nothing, unless t.EventID is set (see
// OrderTransition). changed reports whether the order moved; the order
// is returned as it is after the call (nil for a duplicate event).
func (db *DB) TransitionOrder(ctx context.Context, t chorus.OrderTransition) (o *chorus.Order, changed bool, err error) {
	if !slices.Contains(chorus.OrderStatuses(), t.To) || t.To == chorus.OrderPending {
		return nil, false, chorus.Invalid("status", "an order cannot be moved to %q", t.To)
	}
	if t.EventID != "" && t.Provider == "" {
		return nil, false, errors.New("transition order: an event needs its provider")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	if t.EventID != "" {
		res, err := tx.exec(ctx, `INSERT INTO payment_events (provider, event_id, type, order_id, received_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING`, t.Provider, t.EventID, t.EventType, t.OrderID, now)
		if err != nil {
			return nil, false, fmt.Errorf("record event: %w", err)
		}
		if n, err := affected(res); err != nil {
			return nil, false, err
		} else if n == 0 {
			return nil, false, nil // seen before: its effect is done
		}
	}
	id := t.OrderID
	if id == 0 {
		err := tx.queryRow(ctx, `SELECT order_id FROM payments WHERE provider = ? AND reference = ? AND reference <> ''`,
			t.Provider, t.PaymentReference).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, notFound("no order has a payment with reference %q", t.PaymentReference)
		}
		if err != nil {
			return nil, false, fmt.Errorf("transition order: %w", err)
		}
	}
	o, err = loadOrder(ctx, tx, id, true)
	if err != nil {
		return nil, false, err
	}
	if (t.TeamID != 0 && o.TeamID != t.TeamID) || (t.Provider != "" && o.Provider != t.Provider) ||
		(t.ExternalID != "" && (o.Payment == nil || o.Payment.ExternalID != t.ExternalID)) {
		return nil, false, notFound("order %d not found", id)
	}
	from := o.Status
	if !chorus.OrderTransitionAllowed(from, t.To) {
		if t.EventID != "" {
			if _, err := tx.exec(ctx, `UPDATE payment_events SET order_id = ? WHERE provider = ? AND event_id = ?`,
				o.ID, t.Provider, t.EventID); err != nil {
				return nil, false, fmt.Errorf("record event: %w", err)
			}
			return o, false, commit(tx)
		}
		e := chorus.Errorf(chorus.ECONFLICT, "Order %d is %s: it cannot become %s.", o.ID, from, t.To)
		return o, false, e
	}
	if err := applyTransition(ctx, tx, o, t, now); err != nil {
		return nil, false, err
	}
	if t.BeforeCommit != nil {
		if err := t.BeforeCommit(o); err != nil {
			return nil, false, err
		}
	}
	if err := commit(tx); err != nil {
		return nil, false, err
	}
	return o, true, nil
}

// applyTransition writes o's move to t.To (allowed, checked by the caller)
// with its posting, payment change and audit entries, updating o.
func applyTransition(ctx context.Context, tx *tx, o *chorus.Order, t chorus.OrderTransition, now time.Time) error {
	from := o.Status
	details := map[string]any{"from": from, "to": t.To}
	for k, v := range map[string]string{"reason": t.Reason, "reference": t.Reference, "event_id": t.EventID, "event_type": t.EventType} {
		if v != "" {
			details[k] = v
		}
	}
	ref := "order:" + strconv.FormatInt(o.ID, 10)
	switch t.To {
	case chorus.OrderPaid:
		o.PaidAt = &now
	case chorus.OrderFulfilled:
		p := &chorus.Posting{
			IdempotencyKey: ref + ":fulfil", Kind: chorus.PostingTopUp, TeamID: o.TeamID, Ref: ref, CreatedAt: now,
			Memo: "credits of order " + strconv.FormatInt(o.ID, 10),
			Entries: []chorus.LedgerEntry{
				{Account: chorus.AccountPayments, Amount: -o.Credits},
				{Account: chorus.WalletAccount(o.TeamID), Amount: o.Credits},
			},
		}
		if _, err := postTx(ctx, tx, p); err != nil {
			return fmt.Errorf("fulfil order %d: %w", o.ID, err)
		}
		details["credits"], details["posting"] = o.Credits, p.IdempotencyKey
		o.FulfilledAt = &now
	case chorus.OrderRefunded:
		if from == chorus.OrderFulfilled {
			p := &chorus.Posting{
				IdempotencyKey: ref + ":refund", Kind: chorus.PostingRefund, TeamID: o.TeamID, Ref: ref, CreatedAt: now,
				Memo:          "refund of order " + strconv.FormatInt(o.ID, 10),
				AllowNegative: t.AllowNegative,
				Entries: []chorus.LedgerEntry{
					{Account: chorus.WalletAccount(o.TeamID), Amount: -o.Credits},
					{Account: chorus.AccountRefunds, Amount: o.Credits},
				},
			}
			if _, err := postTx(ctx, tx, p); err != nil {
				if chorus.ErrorCode(err) == chorus.EQUOTA {
					e := chorus.Errorf(chorus.ECONFLICT, "Team %d has already spent some of the %s credits of order %d: "+
						"refunding would take its balance below zero. Refund with allow_negative to do so anyway.",
						o.TeamID, chorus.FormatCredits(o.Credits), o.ID)
					e.Err = err
					return e
				}
				return fmt.Errorf("refund order %d: %w", o.ID, err)
			}
			details["credits"], details["posting"], details["allow_negative"] = o.Credits, p.IdempotencyKey, t.AllowNegative
		}
		o.RefundedAt = &now
	}
	res, err := tx.exec(ctx, `UPDATE orders SET status = ?, updated_at = ?, paid_at = ?, fulfilled_at = ?, refunded_at = ?
		WHERE id = ? AND status = ?`, t.To, now, o.PaidAt, o.FulfilledAt, o.RefundedAt, o.ID, from)
	if err != nil {
		return fmt.Errorf("transition order: %w", err)
	}
	if n, err := affected(res); err != nil {
		return err
	} else if n != 1 {
		return chorus.Errorf(chorus.ECONFLICT, "Order %d changed concurrently: try again.", o.ID)
	}
	o.Status, o.UpdatedAt = t.To, now
	action := chorus.AuditOrderTransition
	if t.To == chorus.OrderRefunded {
		action = chorus.AuditRefund
	}
	if err := appendAudit(ctx, tx, auditEntry(action, "order", strconv.FormatInt(o.ID, 10), o.TeamID, details)); err != nil {
		return err
	}
	return updatePayment(ctx, tx, o, t, now)
}

// updatePayment moves o's payment to the state that goes with o's.
func updatePayment(ctx context.Context, tx *tx, o *chorus.Order, t chorus.OrderTransition, now time.Time) error {
	pay := o.Payment
	if pay == nil {
		return fmt.Errorf("order %d has no payment", o.ID)
	}
	to := chorus.PaymentStatusFor(o.Status)
	if pay.Status == to {
		return nil
	}
	from := pay.Status
	switch to {
	case chorus.PaymentSucceeded:
		if t.Reference != "" {
			pay.Reference = t.Reference
		}
	case chorus.PaymentRefunded:
		if t.Reference != "" {
			pay.RefundReference = t.Reference
		}
	}
	pay.Status, pay.UpdatedAt = to, now
	if _, err := tx.exec(ctx, `UPDATE payments SET status = ?, reference = ?, refund_reference = ?, updated_at = ? WHERE id = ?`,
		pay.Status, pay.Reference, pay.RefundReference, pay.UpdatedAt, pay.ID); err != nil {
		return fmt.Errorf("update payment: %w", err)
	}
	return appendAudit(ctx, tx, auditEntry(chorus.AuditPaymentTransition, "payment", strconv.FormatInt(pay.ID, 10), o.TeamID,
		map[string]any{"from": from, "to": to, "order_id": o.ID, "provider": pay.Provider, "reference": t.Reference}))
}

// loadOrder reads an order with its items and payment (ENOTFOUND), locking
// its row on PostgreSQL when lock is set.
func loadOrder(ctx context.Context, tx *tx, id int64, lock bool) (*chorus.Order, error) {
	q := `SELECT ` + orderColumns + ` FROM orders WHERE id = ?`
	if lock {
		q += forUpdate(tx)
	}
	o, err := scanOrder(tx.queryRow(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get order: %w", err)
	}
	if err := fillOrders(ctx, tx, []*chorus.Order{o}); err != nil {
		return nil, err
	}
	return o, nil
}

func scanOrder(s scanner) (*chorus.Order, error) {
	var o chorus.Order
	if err := s.Scan(&o.ID, &o.TeamID, &o.UserID, &o.Status, &o.Currency, &o.Total, &o.Credits, &o.Provider,
		&o.IdempotencyKey, &o.RequestHash, scanTime(&o.CreatedAt), scanTime(&o.UpdatedAt),
		scanNullTime(&o.PaidAt), scanNullTime(&o.FulfilledAt), scanNullTime(&o.RefundedAt)); err != nil {
		return nil, err
	}
	o.Items = []chorus.OrderItem{}
	return &o, nil
}

// fillOrders reads the items and payments of orders, two queries for all.
func fillOrders(ctx context.Context, tx *tx, orders []*chorus.Order) error {
	if len(orders) == 0 {
		return nil
	}
	byID := make(map[int64]*chorus.Order, len(orders))
	ids := make([]any, len(orders))
	for i, o := range orders {
		byID[o.ID] = o
		ids[i] = o.ID
	}
	in := `(?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
	rows, err := tx.query(ctx, `SELECT order_id, product_id, name, unit_price, unit_credits, quantity
		FROM order_items WHERE order_id IN `+in+` ORDER BY order_id, line`, ids...)
	if err != nil {
		return fmt.Errorf("get order items: %w", err)
	}
	for rows.Next() {
		var id int64
		var it chorus.OrderItem
		if err := rows.Scan(&id, &it.ProductID, &it.Name, &it.UnitPrice, &it.UnitCredits, &it.Quantity); err != nil {
			rows.Close()
			return fmt.Errorf("get order items: %w", err)
		}
		it.Amount, it.Credits = it.UnitPrice*it.Quantity, it.UnitCredits*it.Quantity
		byID[id].Items = append(byID[id].Items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("get order items: %w", err)
	}
	rows, err = tx.query(ctx, `SELECT `+paymentColumns+` FROM payments WHERE order_id IN `+in, ids...)
	if err != nil {
		return fmt.Errorf("get payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return fmt.Errorf("get payments: %w", err)
		}
		byID[p.OrderID].Payment = p
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("get payments: %w", err)
	}
	return nil
}
