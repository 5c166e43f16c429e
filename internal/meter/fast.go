package meter

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/periodic"
)

// Fast mode: admission against per-team leases in memory, charges written
// in batches by the flusher. See the package comment.

// fastState is the meter's fast-mode bookkeeping.
type fastState struct {
	// flushMu makes flushes (and Close) run one at a time; the fields
	// below it are the flusher's.
	flushMu sync.Mutex
	teams   sync.Map // team ID → *teamState
	seq     atomic.Int64
	// retry holds batches whose write failed: they are written again, under
	// the same keys, before anything newer (so a write that did commit
	// but reported an error is not applied twice).
	retry     []*batch
	waiting   atomic.Int64 // len(retry), for the metrics
	lastRenew time.Time
	lastLoad  time.Time // budgets
}

// teamState is one team's lease and unflushed charges on this instance.
type teamState struct {
	id  int64
	ref string // the lease's hold ref

	// growMu serialises the changes of the lease in the database (grow,
	// flush, return), so this instance's view of it stays in step.
	growMu sync.Mutex

	mu        sync.Mutex
	granted   int64 // what the lease holds in the database, as known here
	inflight  int64 // worst cases of admitted, unsettled requests the wallet pays
	used      int64 // charges settled here, not yet flushed
	flushing  int64 // charges in a batch being (or to be) written
	cost      int64 // unflushed cost, exempt requests included
	requests  int64 // unflushed requests
	spend     map[chorus.BudgetPeriod]int64
	validTill time.Time // the lease is relied on until then (its last renewal, less a margin)
	lastUsed  time.Time
	free      int64 // what the wallet had available (outside leases) at the last lease change
	lastGrant int64 // what the last lease change added: the lease is topped up below half of it
	dead      bool  // dropped from the map: look the team up again
}

// unused returns the lease's unused credit. Call with t.mu held.
func (t *teamState) unused() int64 { return t.granted - t.used - t.flushing - t.inflight }

// team returns the state of a team, created when first needed.
func (m *Meter) team(id int64) *teamState {
	if t, ok := m.fast.teams.Load(id); ok {
		return t.(*teamState)
	}
	t, _ := m.fast.teams.LoadOrStore(id, &teamState{id: id,
		ref: "lease:" + m.opts.Instance + ":" + strconv.FormatInt(id, 10)})
	return t.(*teamState)
}

// reserveFast admits h against this instance's budgets view and the team's
// lease, growing the lease from the database only when it is short.
func (m *Meter) reserveFast(ctx context.Context, h *Hold) error {
	if len(h.budgets) > 0 {
		if err := m.admitBudgets(h.budgets, h.periods, h.amount); err != nil {
			return err
		}
	}
	if !h.bill {
		return nil
	}
	t, err := m.admitWallet(ctx, h.teamID, h.amount)
	if err != nil {
		if len(h.budgets) > 0 {
			m.releaseBudgets(h.budgets, h.periods, h.amount)
		}
		return err
	}
	h.team = t
	return nil
}

// tryAdmit admits amount against the lease if it covers it.
func (t *teamState) tryAdmit(amount int64, now time.Time) (ok, dead bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dead {
		return false, true
	}
	if now.Before(t.validTill) && t.unused() >= amount {
		t.inflight += amount
		t.lastUsed = now
		return true, false
	}
	return false, false
}

// admitWallet admits amount on the team's lease.
func (m *Meter) admitWallet(ctx context.Context, teamID, amount int64) (*teamState, error) {
	for {
		t := m.team(teamID)
		ok, dead := t.tryAdmit(amount, m.now())
		if ok {
			return t, nil
		}
		if dead {
			continue
		}
		if m.dbDown() {
			return nil, unavailable("The database is unreachable and this team's credit on this instance is used up. Try again shortly.")
		}
		m.stats.leaseWaits.Add(1)
		t.growMu.Lock()
		ok, dead = t.tryAdmit(amount, m.now()) // another request may have grown it
		if !ok && !dead {
			err := m.grow(ctx, t, amount)
			if err == nil {
				ok, dead = t.tryAdmit(amount, m.now())
				if !ok && !dead {
					err = chorus.QuotaError(amount, t.available())
				}
			}
			if err != nil {
				t.growMu.Unlock()
				return nil, err
			}
		}
		t.growMu.Unlock()
		if ok {
			return t, nil
		}
	}
}

// available estimates the team's available credit: what the wallet had
// free at the last lease change plus what is left of the lease.
func (t *teamState) available() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(t.free+t.unused(), 0)
}

// grow asks the database for enough lease to admit amount more (and up to
// a chunk), and renews the lease. Call with t.growMu held.
func (m *Meter) grow(ctx context.Context, t *teamState, amount int64) error {
	t.mu.Lock()
	need := max(amount-t.unused(), 0)
	t.mu.Unlock()
	want := max(need, m.opts.LeaseChunk)
	start := m.now()
	st, err := m.db.Lease(ctx, chorus.LeaseSpec{Ref: t.ref, TeamID: t.id, Owner: m.opts.Instance, Min: need, Want: want,
		Fraction: m.opts.LeaseFraction, ExpiresAt: start.Add(m.opts.LeaseTTL)})
	if err != nil {
		if chorus.ErrorCode(err) == chorus.EQUOTA {
			t.mu.Lock()
			t.free = st.Available
			avail := max(t.free+t.unused(), 0)
			t.mu.Unlock()
			return chorus.QuotaError(amount, avail)
		}
		return err
	}
	t.mu.Lock()
	t.granted = st.Amount
	t.free = st.Available
	if st.Granted > 0 {
		t.lastGrant = st.Granted
	}
	t.validTill = m.validTill(start)
	t.mu.Unlock()
	return nil
}

// validTill is how long a lease renewed at start may be relied on: its
// expiry less two flush intervals, so this instance stops admitting on it
// before another instance's reaper could release it.
func (m *Meter) validTill(start time.Time) time.Time {
	return start.Add(m.opts.LeaseTTL - 2*m.opts.FlushInterval)
}

// settleFast records a settled request's charge, to be flushed.
func (m *Meter) settleFast(h *Hold, cost int64) Settlement {
	if len(h.budgets) > 0 {
		m.settleBudgets(h.budgets, h.periods, h.amount, cost)
	}
	t := h.team
	if t == nil {
		t = m.team(h.teamID) // an exempt key: only budgets count the cost
		for {
			t.mu.Lock()
			if !t.dead {
				break
			}
			t.mu.Unlock()
			t = m.team(h.teamID)
		}
	} else {
		t.mu.Lock()
	}
	if h.bill {
		t.inflight -= h.amount
		t.used += cost
	}
	t.cost += cost
	t.requests++
	for i, b := range h.budgets {
		if t.spend == nil {
			t.spend = map[chorus.BudgetPeriod]int64{}
		}
		t.spend[chorus.BudgetPeriod{BudgetID: b.id, PeriodStart: h.periods[i]}] += cost
	}
	t.lastUsed = m.now()
	out := Settlement{Charged: 0, Available: -1}
	if h.bill {
		out.Charged = cost
		out.Available = max(t.free+t.unused(), 0)
	}
	t.mu.Unlock()
	return out
}

// batch is one transaction's worth of teams' charges.
type batch struct {
	key      string
	charges  []chorus.Charge
	teams    []*teamState
	flushing []int64 // per team: what moved from used to flushing
	spooled  bool    // written to the spool too
}

// writeTimeout bounds one batch's write.
const writeTimeout = 10 * time.Second

// flushLoop writes charges every flush interval until ctx ends.
func (m *Meter) flushLoop(ctx context.Context) {
	periodic.Every(ctx, m.opts.FlushInterval, false, m.flush)
}

// flush writes the pending charges, then keeps the leases: renews them,
// tops up those running low, returns idle ones, and reloads the budgets
// when due.
func (m *Meter) flush(ctx context.Context) {
	m.fast.flushMu.Lock()
	defer m.fast.flushMu.Unlock()
	m.writePending(ctx)
	if m.dbDown() {
		return // the leases are kept, and relied on, until their validity ends
	}
	now := m.now()
	if now.Sub(m.fast.lastRenew) >= m.opts.LeaseTTL/3 {
		m.renew(ctx, now)
	}
	m.keepLeases(ctx, now)
	if now.Sub(m.fast.lastLoad) >= m.opts.BudgetRefresh {
		m.fast.lastLoad = now
		if err := m.RefreshBudgets(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("billing: budget refresh failed", "err", err)
		}
	}
}

// writePending writes the batches that failed before, oldest first, then
// new ones, and stops at the first that fails: the rest wait, spooled,
// for the next flush (writing them now would fail the same way, and
// logging each would flood the log). It reports whether everything was
// written.
func (m *Meter) writePending(ctx context.Context) bool {
	m.fast.retry = append(m.fast.retry, m.collect()...)
	defer func() { m.fast.waiting.Store(int64(len(m.fast.retry))) }()
	cause := errDatabaseDown
	if !m.dbDown() {
		for len(m.fast.retry) > 0 {
			err := m.writeBatch(ctx, m.fast.retry[0])
			if err != nil {
				m.stats.flushErrors.Add(1)
				m.failed(err)
				cause = err
				break
			}
			m.fast.retry[0] = nil
			m.fast.retry = m.fast.retry[1:]
		}
	}
	if len(m.fast.retry) == 0 {
		m.fast.retry = nil
		m.chargesWritten()
		return true
	}
	m.spoolPending()
	if ctx.Err() == nil {
		m.chargesWaiting(cause)
	}
	return false
}

// collect moves every team's unflushed charges into batches.
func (m *Meter) collect() []*batch {
	var teams []*teamState
	m.fast.teams.Range(func(_, v any) bool {
		teams = append(teams, v.(*teamState))
		return true
	})
	slices.SortFunc(teams, func(a, b *teamState) int { return cmp.Compare(a.id, b.id) })
	var out []*batch
	var cur *batch
	for _, t := range teams {
		t.mu.Lock()
		if t.requests == 0 && t.used == 0 && len(t.spend) == 0 {
			t.mu.Unlock()
			continue
		}
		c := chorus.Charge{TeamID: t.id, Requests: t.requests, Cost: t.cost, Bill: t.used}
		if t.used > 0 {
			c.Lease = t.ref
		}
		for bp, amount := range t.spend {
			c.Spend = append(c.Spend, chorus.BudgetSpend{BudgetID: bp.BudgetID, PeriodStart: bp.PeriodStart, Amount: amount})
		}
		moved := t.used
		t.flushing += moved
		t.used, t.cost, t.requests, t.spend = 0, 0, 0, nil
		t.mu.Unlock()
		if cur == nil || len(cur.teams) >= m.opts.BatchSize {
			cur = &batch{key: "batch:" + m.opts.Instance + ":" + strconv.FormatInt(m.fast.seq.Add(1), 10)}
			out = append(out, cur)
		}
		c.Ref = cur.key
		cur.charges = append(cur.charges, c)
		cur.teams = append(cur.teams, t)
		cur.flushing = append(cur.flushing, moved)
	}
	return out
}

// writeBatch writes one batch in one transaction and updates the teams'
// leases and budgets from what the database says after it.
func (m *Meter) writeBatch(ctx context.Context, b *batch) error {
	for _, t := range b.teams { // ascending team IDs: no lock cycles
		t.growMu.Lock()
	}
	defer func() {
		for _, t := range b.teams {
			t.growMu.Unlock()
		}
	}()
	// Not cancelled with ctx (a write cut in the middle is retried), but
	// bounded: a database that stalls must not stall the flusher.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	res, err := m.db.Settle(ctx, b.key, b.charges)
	if err != nil {
		return err
	}
	m.stats.flushes.Add(1)
	for i, t := range b.teams {
		t.mu.Lock()
		switch {
		case res.Applied && res.Leases[i] >= 0:
			t.granted = res.Leases[i]
		case !res.Applied: // written by an earlier attempt: assume the lease paid
			t.granted -= min(b.flushing[i], t.granted)
		}
		t.flushing -= b.flushing[i]
		if res.Applied && b.charges[i].Bill > 0 {
			t.free = res.Balances[i].Available
		}
		t.mu.Unlock()
		for _, s := range b.charges[i].Spend {
			spent := int64(-1)
			if v, ok := res.Spent[chorus.BudgetPeriod{BudgetID: s.BudgetID, PeriodStart: s.PeriodStart.UTC()}]; ok && res.Applied {
				spent = v
			}
			m.flushedBudget(s.BudgetID, s.PeriodStart, s.Amount, spent)
		}
		if res.Applied {
			m.account(b.charges[i].Bill, res.Charged[i], 0)
		}
	}
	if res.Applied && res.Alerts > 0 {
		m.stats.alerts.Add(int64(res.Alerts))
		m.alerted()
	}
	return nil
}

// renew moves the expiry of every lease this instance holds.
func (m *Meter) renew(ctx context.Context, start time.Time) {
	n, err := m.db.RenewLeases(ctx, m.opts.Instance, start.Add(m.opts.LeaseTTL))
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("billing: renewing leases failed", "err", err)
		}
		return
	}
	m.fast.lastRenew = start
	if n == 0 {
		return
	}
	till := m.validTill(start)
	m.fast.teams.Range(func(_, v any) bool {
		t := v.(*teamState)
		t.mu.Lock()
		if t.granted > 0 && till.After(t.validTill) {
			t.validTill = till
		}
		t.mu.Unlock()
		return true
	})
}

// keepLeases tops up the leases of active teams running low (so their
// requests need not wait for the database) and returns those idle for
// billing.lease_idle.
func (m *Meter) keepLeases(ctx context.Context, now time.Time) {
	m.fast.teams.Range(func(_, v any) bool {
		t := v.(*teamState)
		if !t.growMu.TryLock() {
			return true // a request is growing it right now
		}
		defer t.growMu.Unlock()
		t.mu.Lock()
		idle := now.Sub(t.lastUsed) >= m.opts.LeaseIdle && t.inflight == 0 && t.used == 0 && t.flushing == 0 &&
			t.requests == 0 && len(t.spend) == 0
		low := !idle && t.free > 0 && t.unused() < t.lastGrant/2 && now.Sub(t.lastUsed) < m.opts.LeaseIdle
		held := t.granted > 0 || t.lastGrant > 0 // a lease row may exist
		if idle {
			t.granted = 0 // at once: nothing is admitted on credit being returned
		}
		t.mu.Unlock()
		switch {
		case idle && held:
			// All of it: idle, the lease's whole amount in the database is
			// unused (even if this instance's view of it fell behind).
			if _, err := m.db.ReturnLease(ctx, t.ref, math.MaxInt64); err != nil && ctx.Err() == nil {
				m.log.Warn("billing: returning a lease failed; it will expire", "team", t.id, "err", err)
			}
			m.drop(t)
		case idle:
			m.drop(t)
		case low:
			if err := m.grow(ctx, t, 0); err != nil && chorus.ErrorCode(err) != chorus.EQUOTA && ctx.Err() == nil {
				m.log.Warn("billing: topping up a lease failed", "team", t.id, "err", err)
			}
		}
		return true
	})
}

// drop forgets an idle team (call with t.growMu held).
func (m *Meter) drop(t *teamState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inflight != 0 || t.used != 0 || t.flushing != 0 || t.requests != 0 || len(t.spend) != 0 || t.granted != 0 {
		return // became busy meanwhile
	}
	t.dead = true
	m.fast.teams.CompareAndDelete(t.id, t)
}

// closeFast writes what is left, within ctx, and stops admitting on the
// leases; Close then releases them (releaseOwn). While the database is
// down it does not wait: what is left is in the spool, written by the next
// start.
func (m *Meter) closeFast(ctx context.Context) error {
	m.fast.flushMu.Lock()
	defer m.fast.flushMu.Unlock()
	for !m.writePending(ctx) {
		if m.dbDown() || ctx.Err() != nil {
			return m.leftAtClose(ctx)
		}
		select {
		case <-ctx.Done():
		case <-time.After(m.opts.FlushInterval):
		}
	}
	m.fast.teams.Range(func(_, v any) bool {
		t := v.(*teamState)
		t.growMu.Lock()
		defer t.growMu.Unlock()
		t.mu.Lock()
		t.granted = 0 // every request has settled: the whole lease is unused
		t.mu.Unlock()
		return true
	})
	return nil
}

// leftAtClose reports the charges not written at Close: spooled, they are
// written at the next start; otherwise they are lost. Call with
// fast.flushMu held.
func (m *Meter) leftAtClose(ctx context.Context) error {
	var spooled, lost int64
	for _, b := range m.fast.retry {
		for _, c := range b.charges {
			if b.spooled {
				spooled += c.Bill
			} else {
				lost += c.Bill
			}
		}
	}
	m.stats.lost.Add(lost)
	if lost > 0 {
		m.log.Error("billing: charges not written at shutdown", "micro_credits", lost, "batches", len(m.fast.retry))
	}
	if spooled > 0 {
		m.log.Warn("billing: charges spooled at shutdown; the next start writes them", "micro_credits", spooled)
	}
	if lost > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return errDatabaseDown
	}
	return nil
}
