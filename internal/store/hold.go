package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/chorusgw/chorus"
)

// Credit holds reserve credit for requests in flight (see migration 0009).
// The lock order, kept by every method here so that transactions wait for
// each other instead of deadlocking: hold rows, then the wallet's ledger
// account, then budget periods (ascending budget ID), then the accounts of
// the spend posting (postTx: ascending account ID), then the audit head.
// StrictCommit (strict.go), which writes many requests' holds and
// settlements at once, keeps it with several of each: hold rows, wallets in
// ascending team order, budget periods in ascending budget order, then the
// revenue shards in name order. Hold and Settle remain the one-request
// forms (strict mode's meter goes through StrictCommit; fast mode settles
// its batches with Settle).

// Hold reserves h in one transaction, all or nothing: the wallet must have
// h.Wallet available (balance minus what is reserved) and every budget
// room for its amount (its limit minus spend and reservations of the
// period), or nothing is held and the error is EQUOTA (type
// insufficient_quota) naming what is short.
func (db *DB) Hold(ctx context.Context, h chorus.HoldSpec) error {
	if err := h.Validate(); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := db.timeNow()
	if h.Wallet > 0 {
		if err := reserveWallet(ctx, tx, h.TeamID, h.Wallet); err != nil {
			return err
		}
	}
	budgets := slices.Clone(h.Budgets)
	slices.SortFunc(budgets, func(a, b chorus.BudgetHold) int { return cmpInt64(a.BudgetID, b.BudgetID) })
	for _, b := range budgets {
		if err := reserveBudget(ctx, tx, b); err != nil {
			return err
		}
	}
	if h.Wallet > 0 {
		if err := insertHold(ctx, tx, h.Ref, chorus.HoldRequest, h.TeamID, 0, nil, h.Wallet, h.Owner, h.ExpiresAt, now); err != nil {
			return err
		}
	}
	for _, b := range budgets {
		ps := normTime(b.PeriodStart)
		if err := insertHold(ctx, tx, h.Ref, chorus.HoldRequest, h.TeamID, b.BudgetID, &ps, b.Amount, h.Owner, h.ExpiresAt, now); err != nil {
			return err
		}
	}
	return commit(tx)
}

// reserveWallet adds amount to the wallet's reservations if it has that
// much available.
func reserveWallet(ctx context.Context, tx *tx, teamID, amount int64) error {
	wallet := chorus.WalletAccount(teamID)
	var id int64
	err := tx.queryRow(ctx, `UPDATE ledger_accounts SET reserved = reserved + ?
		WHERE name = ? AND balance - reserved >= ? RETURNING id`, amount, wallet, amount).Scan(&id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("hold: reserve %s: %w", wallet, err)
	}
	var balance, reserved int64
	err = tx.queryRow(ctx, `SELECT balance, reserved FROM ledger_accounts WHERE name = ?`, wallet).Scan(&balance, &reserved)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("hold: read %s: %w", wallet, err)
	}
	return chorus.QuotaError(amount, balance-reserved)
}

// reserveBudget adds b.Amount to the reservations of b's period if the
// budget has room for it.
func reserveBudget(ctx context.Context, tx *tx, b chorus.BudgetHold) error {
	ps := normTime(b.PeriodStart)
	if err := ensurePeriod(ctx, tx, b.BudgetID, ps); err != nil {
		return err
	}
	var n int64
	err := tx.queryRow(ctx, `UPDATE budget_periods SET reserved = reserved + ?
		WHERE budget_id = ? AND period_start = ?
		AND spent + reserved + ? <= (SELECT amount FROM budgets WHERE id = ?) RETURNING 1`,
		b.Amount, b.BudgetID, ps, b.Amount, b.BudgetID).Scan(&n)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("hold: reserve budget %d: %w", b.BudgetID, err)
	}
	bud, err := budgetByID(ctx, tx, b.BudgetID, ps)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // deleted meanwhile: nothing to hold
	}
	if err != nil {
		return fmt.Errorf("hold: read budget %d: %w", b.BudgetID, err)
	}
	return chorus.BudgetError(bud, b.Amount, bud.Spent+bud.Reserved)
}

// ensurePeriod creates a budget's period row if the budget still exists.
func ensurePeriod(ctx context.Context, tx *tx, budgetID int64, periodStart time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO budget_periods (budget_id, period_start)
		SELECT id, ? FROM budgets WHERE id = ? ON CONFLICT (budget_id, period_start) DO NOTHING`, periodStart, budgetID)
	if err != nil {
		return fmt.Errorf("budget %d: period: %w", budgetID, err)
	}
	return nil
}

func insertHold(ctx context.Context, tx *tx, ref, kind string, teamID, budgetID int64, periodStart *time.Time,
	amount int64, owner string, expires, now time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO credit_holds (ref, kind, team_id, budget_id, period_start, amount, owner, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ref, kind, teamID, budgetID, periodStart, amount, owner, expires, now)
	switch {
	case tx.d.isUnique(err):
		return conflict(err, "hold %q exists already", ref)
	case tx.d.isForeignKey(err):
		return chorus.Invalid("team_id", "team %d does not exist", teamID)
	case err != nil:
		return fmt.Errorf("hold: insert: %w", err)
	}
	return nil
}

// Lease grows (or creates) a lease by between s.Min and s.Want as the
// wallet allows, and sets its expiry. When the wallet has less than s.Min
// available nothing changes: the error is EQUOTA and the state says what
// the wallet has.
func (db *DB) Lease(ctx context.Context, s chorus.LeaseSpec) (chorus.LeaseState, error) {
	var st chorus.LeaseState
	if s.Ref == "" || s.TeamID <= 0 || s.Min < 0 || s.Want < s.Min {
		return st, chorus.Invalid("lease", "a lease needs a ref, a team and 0 <= min <= want")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	// The hold row first (lock order); created empty if new.
	err = tx.queryRow(ctx, `INSERT INTO credit_holds (ref, kind, team_id, budget_id, amount, owner, expires_at, created_at)
		VALUES (?, ?, ?, 0, 0, ?, ?, ?) ON CONFLICT (ref, budget_id) DO UPDATE SET expires_at = excluded.expires_at
		RETURNING amount`, s.Ref, chorus.HoldLease, s.TeamID, s.Owner, s.ExpiresAt, now).Scan(&st.Amount)
	if tx.d.isForeignKey(err) {
		return st, chorus.Invalid("team_id", "team %d does not exist", s.TeamID)
	}
	if err != nil {
		return st, fmt.Errorf("lease: %w", err)
	}
	balance, reserved, err := lockWallet(ctx, tx, s.TeamID, 0)
	if err != nil {
		return st, err
	}
	available := balance - reserved
	grant := min(s.Want, int64(float64(max(available, 0))*s.Fraction))
	grant = min(max(grant, s.Min), available)
	if grant < s.Min {
		// Nothing changes, not even the expiry: a refused first lease
		// leaves no empty row behind.
		st.Available = available
		return st, chorus.QuotaError(s.Min, available)
	}
	if grant > 0 {
		if _, err := tx.exec(ctx, `UPDATE ledger_accounts SET reserved = reserved + ? WHERE name = ?`,
			grant, chorus.WalletAccount(s.TeamID)); err != nil {
			return st, fmt.Errorf("lease: reserve: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE credit_holds SET amount = amount + ? WHERE ref = ? AND budget_id = 0`,
			grant, s.Ref); err != nil {
			return st, fmt.Errorf("lease: grow: %w", err)
		}
	}
	if err := commit(tx); err != nil {
		return st, err
	}
	st.Amount += grant
	st.Granted = grant
	st.Available = available - grant
	return st, nil
}

// lockWallet locks a team's wallet row for the rest of the transaction
// (the lock order's second step), releasing `release` of its reservations
// on the way, and returns its balance and reservations after. A wallet that
// has never held credits reads as zero.
func lockWallet(ctx context.Context, tx *tx, teamID, release int64) (balance, reserved int64, err error) {
	err = tx.queryRow(ctx, `UPDATE ledger_accounts SET reserved = reserved - ? WHERE name = ? RETURNING balance, reserved`,
		release, chorus.WalletAccount(teamID)).Scan(&balance, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("lock wallet of team %d: %w", teamID, err)
	}
	return balance, reserved, nil
}

// ReturnLease gives back up to amount of a lease's unused credit and
// returns what the lease holds after; a lease that reaches zero is deleted.
// A lease that no longer exists (reaped) returns 0.
func (db *DB) ReturnLease(ctx context.Context, ref string, amount int64) (left int64, err error) {
	if amount < 0 {
		return 0, chorus.Invalid("amount", "cannot return a negative amount")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var teamID, held int64
	err = tx.queryRow(ctx, `UPDATE credit_holds SET amount = amount WHERE ref = ? AND budget_id = 0 AND kind = ?
		RETURNING team_id, amount`, ref, chorus.HoldLease).Scan(&teamID, &held)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("return lease: %w", err)
	}
	give := min(amount, held)
	if _, _, err := lockWallet(ctx, tx, teamID, give); err != nil {
		return 0, err
	}
	left = held - give
	if left == 0 {
		_, err = tx.exec(ctx, `DELETE FROM credit_holds WHERE ref = ? AND budget_id = 0`, ref)
	} else {
		_, err = tx.exec(ctx, `UPDATE credit_holds SET amount = ? WHERE ref = ? AND budget_id = 0`, left, ref)
	}
	if err != nil {
		return 0, fmt.Errorf("return lease: %w", err)
	}
	return left, commit(tx)
}

// RenewLeases moves the expiry of every lease owner holds and returns how
// many it has.
func (db *DB) RenewLeases(ctx context.Context, owner string, expiresAt time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `UPDATE credit_holds SET expires_at = ? WHERE owner = ? AND kind = ?`, expiresAt, owner, chorus.HoldLease)
	if err != nil {
		return 0, fmt.Errorf("renew leases: %w", err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, err
	}
	return n, commit(tx)
}

// ReapHolds releases up to limit holds that expired (their instance died
// or lost the database), each in a transaction of its own, and returns how
// many it released.
func (db *DB) ReapHolds(ctx context.Context, limit int) (int, error) {
	rtx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	rows, err := rtx.query(ctx, `SELECT id FROM credit_holds WHERE expires_at < ? ORDER BY id LIMIT ?`, db.timeNow(), limit)
	if err != nil {
		rtx.Rollback()
		return 0, fmt.Errorf("reap holds: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			rtx.Rollback()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	rtx.Rollback()
	n := 0
	for _, id := range ids {
		ok, err := db.reapHold(ctx, id)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// reapHold releases one hold if it is still there and still expired.
func (db *DB) reapHold(ctx context.Context, id int64) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `DELETE FROM credit_holds WHERE id = ? AND expires_at < ?
		RETURNING team_id, budget_id, period_start, amount`, id, db.timeNow())
	if err != nil {
		return false, fmt.Errorf("reap hold %d: %w", id, err)
	}
	held, err := scanReleased(rows)
	if err != nil || len(held) == 0 {
		return false, err
	}
	if err := release(ctx, tx, held); err != nil {
		return false, err
	}
	return true, commit(tx)
}

// released is a hold row deleted by a release.
type released struct {
	teamID, budgetID int64
	periodStart      *time.Time
	amount           int64
}

func scanReleased(rows *sql.Rows) ([]released, error) {
	defer rows.Close()
	var out []released
	for rows.Next() {
		var r released
		if err := rows.Scan(&r.teamID, &r.budgetID, scanNullTime(&r.periodStart), &r.amount); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// release takes deleted hold rows off the reservations they counted in:
// the wallet first, then budgets in ascending ID order (the lock order).
func release(ctx context.Context, tx *tx, held []released) error {
	slices.SortFunc(held, func(a, b released) int { return cmpInt64(a.budgetID, b.budgetID) })
	for _, h := range held {
		if h.amount == 0 {
			continue
		}
		if h.budgetID == 0 {
			if _, _, err := lockWallet(ctx, tx, h.teamID, h.amount); err != nil {
				return err
			}
			continue
		}
		if h.periodStart == nil {
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE budget_periods SET reserved = reserved - ? WHERE budget_id = ? AND period_start = ?`,
			h.amount, h.budgetID, *h.periodStart); err != nil {
			return fmt.Errorf("release budget %d: %w", h.budgetID, err)
		}
	}
	return nil
}

// Settle applies charges in one transaction, exactly once per key: for
// each, it releases the hold (strict) or pays from the lease (fast), posts
// the spend (wallet → revenue, idempotency key "spend:<key>:<team>"), adds
// the cost to the budgets' spend, and raises the alerts of soft budgets it
// takes past their limit (an event, and a webhook delivery when the budget
// has a URL). A key settled before changes nothing (Applied false).
func (db *DB) Settle(ctx context.Context, key string, charges []chorus.Charge) (chorus.SettleResult, error) {
	res := chorus.SettleResult{Charged: make([]int64, len(charges)), Balances: make([]chorus.Balance, len(charges)),
		Leases: make([]int64, len(charges)), Spent: map[chorus.BudgetPeriod]int64{}}
	if err := validateIdempotencyKey(key); err != nil || len(key) > maxIdempotencyKey-40 {
		return res, chorus.Invalid("key", "a settlement key must be 1 to %d printable characters", maxIdempotencyKey-40)
	}
	for _, c := range charges {
		if c.TeamID <= 0 || c.Cost < 0 || c.Bill < 0 || c.Requests < 0 {
			return res, chorus.Invalid("charges", "a charge needs a team and a non-negative cost")
		}
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	now := db.timeNow()
	ids := make([]int64, len(charges))
	for i, c := range charges {
		// Charged as billed, corrected below in the rare case that less
		// was covered (one statement fewer per settlement).
		err := tx.queryRow(ctx, `INSERT INTO settlements (key, team_id, requests, cost, charged, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, team_id) DO NOTHING RETURNING id`,
			key, c.TeamID, c.Requests, c.Cost, c.Bill, now).Scan(&ids[i])
		if errors.Is(err, sql.ErrNoRows) {
			return res, nil // settled before
		}
		if err != nil {
			return res, fmt.Errorf("settle: %w", err)
		}
	}
	for i := range charges {
		c := &charges[i]
		charged, bal, lease, err := settleCharge(ctx, tx, key, c, now)
		if err != nil {
			return res, err
		}
		res.Charged[i], res.Balances[i], res.Leases[i] = charged, bal, lease
		if charged != c.Bill {
			if _, err := tx.exec(ctx, `UPDATE settlements SET charged = ? WHERE id = ?`, charged, ids[i]); err != nil {
				return res, fmt.Errorf("settle: %w", err)
			}
		}
		spend := slices.Clone(c.Spend)
		slices.SortFunc(spend, func(a, b chorus.BudgetSpend) int { return cmpInt64(a.BudgetID, b.BudgetID) })
		for _, s := range spend {
			spent, alerted, err := addBudgetSpend(ctx, tx, s, now)
			if err != nil {
				return res, err
			}
			if spent >= 0 {
				res.Spent[chorus.BudgetPeriod{BudgetID: s.BudgetID, PeriodStart: normTime(s.PeriodStart)}] = spent
			}
			if alerted {
				res.Alerts++
			}
		}
	}
	if err := commit(tx); err != nil {
		return res, err
	}
	res.Applied = true
	return res, nil
}

// settleCharge releases c's hold or pays from its lease, and posts what the
// wallet pays. It returns what was charged, the wallet after, and what the
// lease holds after (-1 when no lease paid).
func settleCharge(ctx context.Context, tx *tx, key string, c *chorus.Charge, now time.Time) (int64, chorus.Balance, int64, error) {
	bal := chorus.Balance{TeamID: c.TeamID}
	held, err := deleteRequestHold(ctx, tx, c)
	if err != nil {
		return 0, bal, -1, err
	}
	lease, err := lockLease(ctx, tx, c)
	if err != nil {
		return 0, bal, -1, err
	}
	// The wallet's own hold is released with the lock that reads it; the
	// budgets' after it.
	walletHeld, budgetHolds := splitHeld(held)
	if c.Bill == 0 && walletHeld == 0 {
		return 0, bal, -1, release(ctx, tx, budgetHolds)
	}
	balance, reserved, err := lockWallet(ctx, tx, c.TeamID, walletHeld)
	if err != nil {
		return 0, bal, -1, err
	}
	if err := release(ctx, tx, budgetHolds); err != nil {
		return 0, bal, -1, err
	}
	var charged int64
	if c.Bill > 0 {
		// Paid from the lease first, then from credit nobody holds; what
		// neither covers is not collected (the wallet never goes below
		// zero, nor into other requests' reservations).
		fromLease := min(c.Bill, max(lease, 0))
		fromFree := min(c.Bill-fromLease, max(balance-reserved, 0))
		charged = fromLease + fromFree
		if fromLease > 0 {
			if err := drawLease(ctx, tx, c, fromLease); err != nil {
				return 0, bal, -1, err
			}
			reserved -= fromLease
			lease -= fromLease
		}
	}
	if charged > 0 {
		if err := postSpend(ctx, tx, key, c, charged, now); err != nil {
			return 0, bal, -1, err
		}
		balance -= charged
	}
	bal.Balance, bal.Reserved, bal.Available = balance, reserved, balance-reserved
	return charged, bal, lease, nil
}

// deleteRequestHold deletes c's request hold, if it has one, and returns
// the rows deleted, whose amounts are still to be released.
func deleteRequestHold(ctx context.Context, tx *tx, c *chorus.Charge) ([]released, error) {
	if c.Hold == "" {
		return nil, nil
	}
	rows, err := tx.query(ctx, `DELETE FROM credit_holds WHERE ref = ? AND kind = ? RETURNING team_id, budget_id, period_start, amount`,
		c.Hold, chorus.HoldRequest)
	if err != nil {
		return nil, fmt.Errorf("settle: release %s: %w", c.Hold, err)
	}
	return scanReleased(rows)
}

// lockLease locks c's lease, when it has one and a bill to pay from it,
// and returns what the lease holds: 0 for a lease that no longer exists,
// -1 when there is no lease to pay from.
func lockLease(ctx context.Context, tx *tx, c *chorus.Charge) (int64, error) {
	if c.Lease == "" || c.Bill <= 0 {
		return -1, nil
	}
	var lease int64
	err := tx.queryRow(ctx, `UPDATE credit_holds SET amount = amount WHERE ref = ? AND budget_id = 0 AND kind = ? RETURNING amount`,
		c.Lease, chorus.HoldLease).Scan(&lease)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return -1, fmt.Errorf("settle: lease %s: %w", c.Lease, err)
	}
	return lease, nil
}

// splitHeld sums the wallet's own holds and returns the budgets' apart.
func splitHeld(held []released) (walletHeld int64, budgetHolds []released) {
	for _, h := range held {
		if h.budgetID == 0 {
			walletHeld += h.amount
		} else {
			budgetHolds = append(budgetHolds, h)
		}
	}
	return walletHeld, budgetHolds
}

// drawLease takes amount out of c's lease and off the wallet's
// reservations, where the lease counted it.
func drawLease(ctx context.Context, tx *tx, c *chorus.Charge, amount int64) error {
	if _, err := tx.exec(ctx, `UPDATE credit_holds SET amount = amount - ? WHERE ref = ? AND budget_id = 0`,
		amount, c.Lease); err != nil {
		return fmt.Errorf("settle: lease %s: %w", c.Lease, err)
	}
	_, _, err := lockWallet(ctx, tx, c.TeamID, amount)
	return err
}

// postSpend posts the charged amount from c's team's wallet to revenue,
// once per settlement key and team.
func postSpend(ctx context.Context, tx *tx, key string, c *chorus.Charge, charged int64, now time.Time) error {
	p := &chorus.Posting{
		IdempotencyKey: "spend:" + key + ":" + strconv.FormatInt(c.TeamID, 10),
		Kind:           chorus.PostingSpend, TeamID: c.TeamID, Ref: c.Ref, CreatedAt: now,
		Memo: settleMemo(c.Requests),
		Entries: []chorus.LedgerEntry{
			{Account: chorus.WalletAccount(c.TeamID), Amount: -charged},
			{Account: chorus.AccountRevenue, Amount: charged},
		},
	}
	if _, err := postTx(ctx, tx, p); err != nil {
		return fmt.Errorf("settle: post: %w", err)
	}
	return nil
}

func settleMemo(requests int64) string {
	if requests == 1 {
		return "1 request"
	}
	return strconv.FormatInt(requests, 10) + " requests"
}

// HoldsOf returns the total a team's holds reserve on its wallet, by kind,
// for the console and for tests.
func (db *DB) HoldsOf(ctx context.Context, teamID int64) (map[string]int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.query(ctx, `SELECT kind, CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_holds
		WHERE team_id = ? AND budget_id = 0 GROUP BY kind`, teamID)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	return out, rows.Err()
}

// SettlementTotals sums the settlements of a team (every team when teamID
// is 0): requests, cost and what was charged.
func (db *DB) SettlementTotals(ctx context.Context, teamID int64) (requests, cost, charged int64, err error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer tx.Rollback()
	err = tx.queryRow(ctx, `SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT), CAST(COALESCE(SUM(cost), 0) AS BIGINT),
		CAST(COALESCE(SUM(charged), 0) AS BIGINT) FROM settlements WHERE team_id = ? OR ? = 0`, teamID, teamID).
		Scan(&requests, &cost, &charged)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("settlement totals: %w", err)
	}
	return requests, cost, charged, nil
}
