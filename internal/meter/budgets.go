package meter

import (
	"context"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
)

// The meter knows every budget from an in-memory index, rebuilt every
// billing.budget_refresh and at once when a budget changes through this
// instance, so a request finds its budgets without touching the database.
// A budget created through another instance applies here within one
// refresh.
//
// Hard budgets are enforced
//
//   - in strict mode by the database: each request holds its worst case on
//     the budget's period in the same transaction as its wallet hold, so
//     instances can never together exceed it;
//   - in fast mode by this instance: the spend last read or written, plus
//     its own unflushed charges, plus the worst cases of its requests in
//     flight must stay within the budget. Instances do not see each other's
//     unflushed charges, so N instances can exceed a hard budget by what the
//     other N-1 admit within one budget_refresh; the wallet is still never
//     overspent (leases).

// budgetDef is one budget as the index holds it, with its fast-mode state.
type budgetDef struct {
	id, teamID int64
	scope      string
	scopeID    int64
	period     string
	amount     int64
	hard       bool
	st         *budgetState
}

// applies reports whether the budget covers requests of k.
func (b *budgetDef) applies(k *chorus.APIKey) bool {
	switch b.scope {
	case chorus.BudgetTeam:
		return true
	case chorus.BudgetUser:
		return b.scopeID == k.UserID
	case chorus.BudgetKey:
		return b.scopeID == k.ID
	}
	return false
}

// record returns the budget as the store's refusal message wants it.
func (b *budgetDef) record() *chorus.Budget {
	return &chorus.Budget{ID: b.id, TeamID: b.teamID, Scope: b.scope, ScopeID: b.scopeID, Period: b.period, Amount: b.amount, Hard: b.hard}
}

// budgetState is fast mode's view of a budget's current period.
type budgetState struct {
	mu       sync.Mutex
	start    time.Time // the period the counters are for
	spent    int64     // in the database, as last read or written here
	pending  int64     // charged here, not yet in the database
	inflight int64     // worst cases of requests admitted here, not yet settled
}

// roll moves the counters to the period starting at start, if it is a new
// one. Requests admitted in the old period settle there.
func (s *budgetState) roll(start time.Time) {
	if start.After(s.start) {
		s.start, s.spent, s.pending, s.inflight = start, 0, 0, 0
	}
}

// budgetIndex is one immutable view of every budget, by team.
type budgetIndex struct {
	byTeam map[int64][]*budgetDef
}

// budgetsFor returns the budgets covering k's requests (nil for none).
func (m *Meter) budgetsFor(k *chorus.APIKey) []*budgetDef {
	all := m.budgets.Load().byTeam[k.TeamID]
	if len(all) == 0 {
		return nil
	}
	out := make([]*budgetDef, 0, len(all))
	for _, b := range all {
		if b.applies(k) {
			out = append(out, b)
		}
	}
	return out
}

// RefreshBudgets reloads every budget and (fast mode) its spend. The API
// calls it after a change, so the change applies to this instance's next
// request.
func (m *Meter) RefreshBudgets(ctx context.Context) error {
	if m == nil {
		return nil
	}
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	bs, err := m.db.AllBudgets(ctx)
	if err != nil {
		return err
	}
	m.statesMu.Lock()
	defer m.statesMu.Unlock()
	idx := &budgetIndex{byTeam: map[int64][]*budgetDef{}}
	live := make(map[int64]bool, len(bs))
	for _, b := range bs {
		st := m.states[b.ID]
		if st == nil {
			st = &budgetState{}
			m.states[b.ID] = st
		}
		live[b.ID] = true
		st.mu.Lock()
		st.roll(b.PeriodStart)
		if st.start.Equal(b.PeriodStart) {
			st.spent = b.Spent
		}
		st.mu.Unlock()
		idx.byTeam[b.TeamID] = append(idx.byTeam[b.TeamID], &budgetDef{id: b.ID, teamID: b.TeamID, scope: b.Scope,
			scopeID: b.ScopeID, period: b.Period, amount: b.Amount, hard: b.Hard, st: st})
	}
	for id := range m.states {
		if !live[id] {
			delete(m.states, id)
		}
	}
	m.budgets.Store(idx)
	return nil
}

// admitBudgets (fast mode) reserves amount on every hard budget in bs for
// the periods in periods, all or nothing.
func (m *Meter) admitBudgets(bs []*budgetDef, periods []time.Time, amount int64) error {
	for i, b := range bs {
		if !b.hard {
			continue
		}
		st := b.st
		st.mu.Lock()
		st.roll(periods[i])
		used := st.spent + st.pending + st.inflight
		if st.start.Equal(periods[i]) && used+amount > b.amount {
			st.mu.Unlock()
			m.releaseBudgets(bs[:i], periods, amount)
			return chorus.BudgetError(b.record(), amount, used)
		}
		st.inflight += amount
		st.mu.Unlock()
	}
	return nil
}

// releaseBudgets undoes admitBudgets.
func (m *Meter) releaseBudgets(bs []*budgetDef, periods []time.Time, amount int64) {
	for i, b := range bs {
		if !b.hard {
			continue
		}
		b.st.mu.Lock()
		if b.st.start.Equal(periods[i]) {
			b.st.inflight -= amount
		}
		b.st.mu.Unlock()
	}
}

// settleBudgets (fast mode) moves a settled request from in flight to
// pending on its budgets.
func (m *Meter) settleBudgets(bs []*budgetDef, periods []time.Time, held, cost int64) {
	for i, b := range bs {
		b.st.mu.Lock()
		if b.st.start.Equal(periods[i]) {
			if b.hard {
				b.st.inflight -= held
			}
			b.st.pending += cost
		}
		b.st.mu.Unlock()
	}
}

// flushedBudget (fast mode) records that amount of pending spend reached
// the database, where the period's spend is now spent.
func (m *Meter) flushedBudget(id int64, start time.Time, amount, spent int64) {
	m.statesMu.Lock()
	st := m.states[id]
	m.statesMu.Unlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.start.Equal(start) {
		st.pending -= amount
		if spent >= 0 {
			st.spent = spent
		}
	}
	st.mu.Unlock()
}
