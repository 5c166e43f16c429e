package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// StrictCommit writes many strict-mode requests' holds and settlements in
// one transaction (group commit): one wallet update per team for the sum,
// the hold rows in bulk, every settlement with its spend posting (under its
// idempotency key) and its usage record. It returns each step's outcome, in
// the order of ops, or an error when the transaction failed (then nothing
// was written and no outcome holds).
//
// The steps are applied in order against the wallets and budget periods
// read under lock (the lock order of hold.go: hold rows, wallets by team,
// budget periods by budget, then the revenue shards), so a hold that would
// overspend is refused alone (its outcome's Err is EQUOTA) and never the
// batch, and any number of instances still never overspend a wallet or a
// hard budget together. Every step means what its one-request transaction
// in hold.go means: Hold and Settle (strict: no leases). An invalid step
// fails alone with EINVALID.
func (db *DB) StrictCommit(ctx context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error) {
	out := make([]chorus.StrictOutcome, len(ops))
	db.prepareUsage(ctx, usageOnConflictNothing)
	tx, err := db.begin(ctx)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	b := &strictBatch{tx: tx, ops: ops, out: out, now: db.timeNow(), skip: make([]bool, len(ops)),
		wallets: map[int64]*walletRow{}, periods: map[chorus.BudgetPeriod]*periodRow{}}
	b.validate()
	for _, step := range []func(context.Context) error{
		b.claimSettlements, b.releaseHolds, b.lockWallets, b.lockPeriods,
	} {
		if err := step(ctx); err != nil {
			return out, err
		}
	}
	for i := range ops {
		b.apply(i)
	}
	if err := b.write(ctx); err != nil {
		return out, err
	}
	if err := db.insertUsageTx(ctx, tx, b.records, usageOnConflictNothing, usageNotFinal); err != nil {
		return out, err
	}
	if err := commit(tx); err != nil {
		return out, err
	}
	return out, nil
}

// strictBatch is one StrictCommit's state: the rows it locked, as the
// steps change them in memory, and what it has still to write.
type strictBatch struct {
	tx   *tx
	ops  []chorus.StrictOp
	out  []chorus.StrictOutcome
	now  time.Time
	skip []bool // invalid steps, settlements settled before

	settlementIDs map[int]int64         // op index → its new settlements row
	released      map[string][]released // hold ref → the rows its settlement deleted
	wallets       map[int64]*walletRow  // by team
	periods       map[chorus.BudgetPeriod]*periodRow

	holds    []holdRow
	postings []spendRow
	revenue  map[string]int64 // revenue shard row name → account ID
	alerts   []alertRow
	fixes    map[int64]int64 // settlements row → what was charged, when less than billed
	records  []chorus.Usage
}

// walletRow is a team's wallet as locked, and what the batch changes.
type walletRow struct {
	id                 int64 // 0: the team has no wallet yet
	balance, reserved  int64
	dBalance, dReserve int64
}

func (w *walletRow) available() int64 { return w.balance - w.reserved }

// periodRow is a budget period as locked, and what the batch changes.
type periodRow struct {
	budget            *chorus.Budget // nil: the budget no longer exists
	spent, reserved   int64
	alerted           bool
	dSpent, dReserved int64
	alertedNow        bool
}

type holdRow struct {
	ref, owner       string
	teamID, budgetID int64
	periodStart      *time.Time
	amount           int64
	expires          time.Time
}

type spendRow struct {
	key, ref, memo  string
	teamID, charged int64
}

type alertRow struct {
	budget *chorus.Budget
	spent  int64
}

// validate refuses invalid steps alone.
func (b *strictBatch) validate() {
	for i, op := range b.ops {
		var err error
		switch {
		case (op.Hold == nil) == (op.Settle == nil):
			err = chorus.Invalid("op", "a step places a hold or settles one, not both or neither")
		case op.Hold != nil:
			err = op.Hold.Validate()
		default:
			err = validateSettlement(op.Settle)
		}
		if err != nil {
			b.out[i].Err, b.skip[i] = err, true
		}
	}
}

func validateSettlement(s *chorus.StrictSettlement) error {
	c := &s.Charge
	if err := validateIdempotencyKey(s.Key); err != nil || len(s.Key) > maxIdempotencyKey-40 {
		return chorus.Invalid("key", "a settlement key must be 1 to %d printable characters", maxIdempotencyKey-40)
	}
	if c.TeamID <= 0 || c.Cost < 0 || c.Bill < 0 || c.Requests < 0 || c.Lease != "" {
		return chorus.Invalid("charges", "a strict charge needs a team, a non-negative cost and no lease")
	}
	if s.Record != nil && (s.Record.Key == "" || s.Record.Cost != c.Cost) {
		return chorus.Invalid("record", "a settlement's usage record needs a key and the charge's cost")
	}
	return nil
}

// settling returns the valid settlement steps, in order.
func (b *strictBatch) settling() []int {
	var idx []int
	for i, op := range b.ops {
		if op.Settle != nil && !b.skip[i] {
			idx = append(idx, i)
		}
	}
	return idx
}

// claimSettlements inserts the settlements rows: a key settled before (or
// earlier in the batch) inserts nothing, and its step applies nothing.
func (b *strictBatch) claimSettlements(ctx context.Context) error {
	idx := b.settling()
	if len(idx) == 0 {
		return nil
	}
	type claim struct {
		key  string
		team int64
	}
	first := map[claim]int{}
	args := make([]any, 0, 6*len(idx))
	for _, i := range idx {
		s := b.ops[i].Settle
		c := claim{s.Key, s.Charge.TeamID}
		if _, dup := first[c]; dup {
			b.skip[i] = true
			continue
		}
		first[c] = i
		args = append(args, s.Key, s.Charge.TeamID, s.Charge.Requests, s.Charge.Cost, s.Charge.Bill, b.now)
	}
	b.settlementIDs = map[int]int64{}
	err := bulkExec(ctx, b.tx, `INSERT INTO settlements (key, team_id, requests, cost, charged, created_at)`, 6, args,
		` ON CONFLICT (key, team_id) DO NOTHING RETURNING id, key, team_id`, func(rows *sql.Rows) error {
			var id int64
			var c claim
			if err := rows.Scan(&id, &c.key, &c.team); err != nil {
				return err
			}
			b.settlementIDs[first[c]] = id
			return nil
		})
	if err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	for _, i := range idx {
		if _, ok := b.settlementIDs[i]; !ok {
			b.skip[i] = true // settled before: Applied stays false
		}
	}
	return nil
}

// releaseHolds deletes the hold rows of the settlements that apply.
func (b *strictBatch) releaseHolds(ctx context.Context) error {
	var refs []any
	for _, i := range b.settling() {
		if h := b.ops[i].Settle.Charge.Hold; h != "" {
			refs = append(refs, h)
		}
	}
	b.released = map[string][]released{}
	if len(refs) == 0 {
		return nil
	}
	return inChunks(refs, func(chunk []any) error {
		rows, err := b.tx.query(ctx, `DELETE FROM credit_holds WHERE kind = ? AND ref IN (`+placeholders(len(chunk))+`)
			RETURNING ref, team_id, budget_id, period_start, amount`, b.tx.d.oneShot(len(chunk), append([]any{chorus.HoldRequest}, chunk...))...)
		if err != nil {
			return fmt.Errorf("settle: release holds: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ref string
			var r released
			if err := rows.Scan(&ref, &r.teamID, &r.budgetID, scanNullTime(&r.periodStart), &r.amount); err != nil {
				return err
			}
			b.released[ref] = append(b.released[ref], r)
		}
		return rows.Err()
	})
}

// lockWallets locks, in ascending team order, the wallets the batch's
// steps reserve on, release or charge.
func (b *strictBatch) lockWallets(ctx context.Context) error {
	var teams []int64
	need := func(team int64) {
		if _, ok := b.wallets[team]; !ok {
			b.wallets[team] = &walletRow{}
			teams = append(teams, team)
		}
	}
	for i, op := range b.ops {
		switch {
		case b.skip[i]:
		case op.Hold != nil && op.Hold.Wallet > 0:
			need(op.Hold.TeamID)
		case op.Settle != nil:
			// An exempt request's settlement (nothing billed, nothing held
			// on the wallet) leaves the wallet alone.
			c := &op.Settle.Charge
			if held, _ := splitHeld(b.released[c.Hold]); c.Bill > 0 || held > 0 {
				need(c.TeamID)
			}
		}
	}
	slices.Sort(teams)
	for _, team := range teams {
		w := b.wallets[team]
		err := b.tx.queryRow(ctx, `UPDATE ledger_accounts SET reserved = reserved WHERE name = ? RETURNING id, balance, reserved`,
			chorus.WalletAccount(team)).Scan(&w.id, &w.balance, &w.reserved)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("lock wallet of team %d: %w", team, err)
		}
	}
	return nil
}

// lockPeriods locks, in ascending budget order, the budget periods the
// batch's steps hold on, release or spend in, creating them as needed.
func (b *strictBatch) lockPeriods(ctx context.Context) error {
	var keys []chorus.BudgetPeriod
	need := func(id int64, start time.Time) {
		k := chorus.BudgetPeriod{BudgetID: id, PeriodStart: normTime(start)}
		if _, ok := b.periods[k]; !ok {
			b.periods[k] = &periodRow{}
			keys = append(keys, k)
		}
	}
	for i, op := range b.ops {
		switch {
		case b.skip[i]:
		case op.Hold != nil:
			for _, h := range op.Hold.Budgets {
				need(h.BudgetID, h.PeriodStart)
			}
		case op.Settle != nil:
			for _, s := range op.Settle.Charge.Spend {
				need(s.BudgetID, s.PeriodStart)
			}
			for _, r := range b.released[op.Settle.Charge.Hold] {
				if r.budgetID != 0 && r.periodStart != nil {
					need(r.budgetID, *r.periodStart)
				}
			}
		}
	}
	slices.SortFunc(keys, func(x, y chorus.BudgetPeriod) int {
		if c := cmpInt64(x.BudgetID, y.BudgetID); c != 0 {
			return c
		}
		return x.PeriodStart.Compare(y.PeriodStart)
	})
	for _, k := range keys {
		if err := b.lockPeriod(ctx, k, b.periods[k]); err != nil {
			return err
		}
	}
	return nil
}

func (b *strictBatch) lockPeriod(ctx context.Context, k chorus.BudgetPeriod, p *periodRow) error {
	if err := ensurePeriod(ctx, b.tx, k.BudgetID, k.PeriodStart); err != nil {
		return err
	}
	var alertedAt *time.Time
	err := b.tx.queryRow(ctx, `UPDATE budget_periods SET reserved = reserved WHERE budget_id = ? AND period_start = ?
		RETURNING spent, reserved, alerted_at`, k.BudgetID, k.PeriodStart).Scan(&p.spent, &p.reserved, scanNullTime(&alertedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the budget is gone: nothing to hold or count on it
	}
	if err != nil {
		return fmt.Errorf("lock budget %d: %w", k.BudgetID, err)
	}
	p.alerted = alertedAt != nil
	if p.budget, err = budgetByID(ctx, b.tx, k.BudgetID, k.PeriodStart); err != nil {
		return fmt.Errorf("budget %d: %w", k.BudgetID, err)
	}
	return nil
}

// apply applies step i to the locked rows in memory, or refuses it.
func (b *strictBatch) apply(i int) {
	if b.skip[i] {
		return
	}
	if h := b.ops[i].Hold; h != nil {
		b.out[i].Err = b.hold(h)
		b.out[i].Balance = b.balance(h.TeamID)
		return
	}
	b.settle(i, b.ops[i].Settle)
}

// balance returns a team's wallet as the steps so far left it.
func (b *strictBatch) balance(team int64) chorus.Balance {
	bal := chorus.Balance{TeamID: team}
	if w := b.wallets[team]; w != nil {
		bal.Balance, bal.Reserved, bal.Available = w.balance, w.reserved, w.available()
	}
	return bal
}

// hold places h on the wallet and its budget periods, all or nothing.
func (b *strictBatch) hold(h *chorus.HoldSpec) error {
	w := b.wallets[h.TeamID]
	if h.Wallet > 0 && w.available() < h.Wallet {
		return chorus.QuotaError(h.Wallet, w.available())
	}
	budgets := slices.Clone(h.Budgets)
	slices.SortFunc(budgets, func(x, y chorus.BudgetHold) int { return cmpInt64(x.BudgetID, y.BudgetID) })
	for _, bh := range budgets {
		p := b.period(bh.BudgetID, bh.PeriodStart)
		if p.budget != nil && p.spent+p.reserved+bh.Amount > p.budget.Amount {
			return chorus.BudgetError(p.budget, bh.Amount, p.spent+p.reserved)
		}
	}
	if h.Wallet > 0 {
		w.reserved += h.Wallet
		w.dReserve += h.Wallet
		b.holds = append(b.holds, holdRow{ref: h.Ref, owner: h.Owner, teamID: h.TeamID, amount: h.Wallet, expires: h.ExpiresAt})
	}
	for _, bh := range budgets {
		if p := b.period(bh.BudgetID, bh.PeriodStart); p.budget != nil {
			p.reserved += bh.Amount
			p.dReserved += bh.Amount
		}
		ps := normTime(bh.PeriodStart)
		b.holds = append(b.holds, holdRow{ref: h.Ref, owner: h.Owner, teamID: h.TeamID, budgetID: bh.BudgetID,
			periodStart: &ps, amount: bh.Amount, expires: h.ExpiresAt})
	}
	return nil
}

func (b *strictBatch) period(id int64, start time.Time) *periodRow {
	return b.periods[chorus.BudgetPeriod{BudgetID: id, PeriodStart: normTime(start)}]
}

// settle releases step i's hold and charges what free credit covers of
// its bill (never below zero, nor into credit others hold), counts its cost
// in its budgets, and raises the alerts of soft budgets it takes to their
// amount.
func (b *strictBatch) settle(i int, s *chorus.StrictSettlement) {
	c := &s.Charge
	w := b.wallets[c.TeamID]
	if w == nil {
		w = &walletRow{} // not locked: the settlement moves nothing on it
	}
	walletHeld, budgetHolds := splitHeld(b.released[c.Hold])
	w.reserved -= walletHeld
	w.dReserve -= walletHeld
	charged := min(c.Bill, max(w.available(), 0))
	if charged > 0 {
		w.balance -= charged
		w.dBalance -= charged
		b.postings = append(b.postings, spendRow{key: "spend:" + s.Key + ":" + strconv.FormatInt(c.TeamID, 10),
			ref: c.Ref, memo: settleMemo(c.Requests), teamID: c.TeamID, charged: charged})
	}
	for _, r := range budgetHolds {
		if p := b.period(r.budgetID, derefTime(r.periodStart)); r.periodStart != nil && p != nil && p.budget != nil {
			p.reserved -= r.amount
			p.dReserved -= r.amount
		}
	}
	spend := slices.Clone(c.Spend)
	slices.SortFunc(spend, func(x, y chorus.BudgetSpend) int { return cmpInt64(x.BudgetID, y.BudgetID) })
	for _, sp := range spend {
		p := b.period(sp.BudgetID, sp.PeriodStart)
		if p.budget == nil {
			continue
		}
		p.spent += sp.Amount
		p.dSpent += sp.Amount
		if !p.alerted && !p.budget.Hard && p.spent >= p.budget.Amount {
			p.alerted, p.alertedNow = true, true
			b.alerts = append(b.alerts, alertRow{budget: p.budget, spent: p.spent})
			b.out[i].Alerts++
		}
	}
	if charged != c.Bill {
		if b.fixes == nil {
			b.fixes = map[int64]int64{}
		}
		b.fixes[b.settlementIDs[i]] = charged
	}
	if s.Record != nil {
		b.records = append(b.records, *s.Record)
	}
	b.out[i].Applied, b.out[i].Charged, b.out[i].Balance = true, charged, b.balance(c.TeamID)
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// write stores what the steps did: the hold rows, wallets, budget periods
// and their alerts, the revenue shards, the spend postings and the
// settlements charged less than billed.
func (b *strictBatch) write(ctx context.Context) error {
	for _, step := range []func(context.Context) error{
		b.writeHolds, b.writeWallets, b.writePeriods, b.writeRevenue, b.writePostings, b.writeFixes,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *strictBatch) writeWallets(ctx context.Context) error {
	for team, w := range b.wallets {
		if w.id == 0 || (w.dBalance == 0 && w.dReserve == 0) {
			continue
		}
		if _, err := b.tx.exec(ctx, `UPDATE ledger_accounts SET balance = balance + ?, reserved = reserved + ? WHERE id = ?`,
			w.dBalance, w.dReserve, w.id); err != nil {
			return fmt.Errorf("update wallet of team %d: %w", team, err)
		}
	}
	return nil
}

func (b *strictBatch) writePeriods(ctx context.Context) error {
	for k, p := range b.periods {
		if p.budget == nil || (p.dSpent == 0 && p.dReserved == 0 && !p.alertedNow) {
			continue
		}
		var alertedAt any
		if p.alertedNow {
			alertedAt = b.now
		}
		if _, err := b.tx.exec(ctx, `UPDATE budget_periods SET spent = spent + ?, reserved = reserved + ?,
			alerted_at = COALESCE(alerted_at, ?) WHERE budget_id = ? AND period_start = ?`,
			p.dSpent, p.dReserved, alertedAt, k.BudgetID, k.PeriodStart); err != nil {
			return fmt.Errorf("budget %d: %w", k.BudgetID, err)
		}
	}
	for _, a := range b.alerts {
		if err := raiseBudgetAlert(ctx, b.tx, a.budget, a.spent, b.now); err != nil {
			return err
		}
	}
	return nil
}

// writeRevenue credits each revenue shard with what the batch charged the
// teams it serves, in name order: the same order in every batch, and any
// other transaction moves one revenue shard at most.
func (b *strictBatch) writeRevenue(ctx context.Context) error {
	sums := map[string]int64{}
	for _, p := range b.postings {
		sums[accountRow(chorus.AccountRevenue, p.teamID)] += p.charged
	}
	names := make([]string, 0, len(sums))
	for name := range sums {
		names = append(names, name)
	}
	slices.Sort(names)
	b.revenue = make(map[string]int64, len(names))
	for _, name := range names {
		id, err := b.credit(ctx, name, sums[name])
		if err != nil {
			return err
		}
		b.revenue[name] = id
	}
	return nil
}

// credit adds amount to a system account's row, creating it if needed,
// and returns its ID.
func (b *strictBatch) credit(ctx context.Context, name string, amount int64) (int64, error) {
	for try := 0; ; try++ {
		var id int64
		err := b.tx.queryRow(ctx, `UPDATE ledger_accounts SET balance = balance + ? WHERE name = ? AND balance <= ? RETURNING id`,
			amount, name, int64(math.MaxInt64)-amount).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("settle: update %s: %w", name, err)
		}
		if try > 0 {
			return 0, chorus.Invalid("entries", "the balance of %s would overflow", name)
		}
		if _, err := ensureAccount(ctx, b.tx, name); err != nil {
			return 0, err
		}
	}
}

// writePostings writes one spend posting per charged settlement, with its
// two entries: the wallet pays, the team's revenue shard receives.
func (b *strictBatch) writePostings(ctx context.Context) error {
	if len(b.postings) == 0 {
		return nil
	}
	args := make([]any, 0, 6*len(b.postings))
	for _, p := range b.postings {
		args = append(args, p.key, chorus.PostingSpend, p.teamID, p.memo, p.ref, b.now)
	}
	ids := make(map[string]int64, len(b.postings))
	err := bulkExec(ctx, b.tx, `INSERT INTO ledger_postings (idempotency_key, kind, team_id, memo, ref, created_at)`, 6, args,
		` ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key`, func(rows *sql.Rows) error {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				return err
			}
			ids[key] = id
			return nil
		})
	if err != nil {
		return fmt.Errorf("settle: post: %w", err)
	}
	args = args[:0]
	for _, p := range b.postings {
		id, ok := ids[p.key]
		if !ok {
			return chorus.Errorf(chorus.ECONFLICT, "idempotency key %q was used already for a different posting", p.key)
		}
		args = append(args, id, b.wallets[p.teamID].id, -p.charged, id, b.revenue[accountRow(chorus.AccountRevenue, p.teamID)], p.charged)
	}
	if err := bulkExec(ctx, b.tx, `INSERT INTO ledger_entries (posting_id, account_id, amount)`, 3, args, "", nil); err != nil {
		return fmt.Errorf("settle: post: entries: %w", err)
	}
	return nil
}

// writeHolds inserts the hold rows of the holds placed. A hold whose rows
// exist already (placed by an earlier try of the step, whose commit's
// outcome was lost) inserts nothing and reserves nothing again: its
// amounts come off the batch's reservations before they are written. (The
// batch's later steps were admitted as if it had reserved them: a rare
// retry errs on the side of refusing, never of overspending.)
func (b *strictBatch) writeHolds(ctx context.Context) error {
	if len(b.holds) == 0 {
		return nil
	}
	args := make([]any, 0, 9*len(b.holds))
	for _, h := range b.holds {
		args = append(args, h.ref, chorus.HoldRequest, h.teamID, h.budgetID, h.periodStart, h.amount, h.owner, h.expires, b.now)
	}
	type row struct {
		ref    string
		budget int64
	}
	inserted := make(map[row]bool, len(b.holds))
	err := bulkExec(ctx, b.tx, `INSERT INTO credit_holds (ref, kind, team_id, budget_id, period_start, amount, owner, expires_at, created_at)`,
		9, args, ` ON CONFLICT (ref, budget_id) DO NOTHING RETURNING ref, budget_id`, func(rows *sql.Rows) error {
			var r row
			if err := rows.Scan(&r.ref, &r.budget); err != nil {
				return err
			}
			inserted[r] = true
			return nil
		})
	if err != nil {
		return fmt.Errorf("hold: insert: %w", err)
	}
	for _, h := range b.holds {
		if inserted[row{h.ref, h.budgetID}] {
			continue
		}
		if h.budgetID == 0 {
			b.wallets[h.teamID].dReserve -= h.amount
		} else if p := b.period(h.budgetID, derefTime(h.periodStart)); p != nil && p.budget != nil {
			p.dReserved -= h.amount
		}
	}
	return nil
}

func (b *strictBatch) writeFixes(ctx context.Context) error {
	for id, charged := range b.fixes {
		if _, err := b.tx.exec(ctx, `UPDATE settlements SET charged = ? WHERE id = ?`, charged, id); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
	}
	return nil
}

// maxBulkParams bounds the parameters of one statement: within SQLite's
// 32,766 and PostgreSQL's 65,535.
const maxBulkParams = 30_000

// bulkExec runs head + " VALUES (?, …), (?, …) …" + tail for the rows in
// args (cols values each), in statements of at most maxBulkParams
// parameters; scan, when not nil, reads each row the statements return.
func bulkExec(ctx context.Context, tx *tx, head string, cols int, args []any, tail string, scan func(*sql.Rows) error) error {
	per := maxBulkParams / cols * cols
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	for start := 0; start < len(args); start += per {
		chunk := args[start:min(start+per, len(args))]
		q := head + " VALUES " + row + strings.Repeat(", "+row, len(chunk)/cols-1) + tail
		if scan == nil {
			if _, err := tx.exec(ctx, q, tx.d.oneShot(len(chunk)/cols, chunk)...); err != nil {
				return err
			}
			continue
		}
		if err := queryEach(ctx, tx, q, tx.d.oneShot(len(chunk)/cols, chunk), scan); err != nil {
			return err
		}
	}
	return nil
}

func queryEach(ctx context.Context, tx *tx, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// inChunks calls fn on values in chunks that fit one statement.
func inChunks(values []any, fn func(chunk []any) error) error {
	for start := 0; start < len(values); start += maxBulkParams {
		if err := fn(values[start:min(start+maxBulkParams, len(values))]); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return "?" + strings.Repeat(", ?", n-1)
}
