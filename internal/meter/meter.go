// Package meter charges requests for the tokens they use, from their team's
// prepaid credits, within their budgets.
//
// Before a request goes upstream, Reserve holds its worst-case cost (see
// quote.go for the rule) on the team's wallet and on the hard budgets it
// falls under, or refuses it (EQUOTA, HTTP 402 insufficient_quota). After
// the response, Settle charges what every upstream attempt actually cost and
// releases the rest. Two modes (config billing.mode):
//
// Strict: the hold is a database row and an update of the wallet's
// reservations made only if the wallet, read under its row lock, has the
// amount available (balance − reserved ≥ amount), so any number of
// instances on one database can never together overspend a wallet or a
// hard budget. The settlement — spend posting, hold release, budget spend,
// alerts, and the request's usage record (SettleUsage) — is one fact,
// written in one transaction before the response completes (before the
// body of a plain answer, before the final event of a stream), so a killed
// instance loses no completed request's charge, and every charge has its
// usage record. Holds and settlements are group-committed (groupcommit.go):
// the steps of many concurrent requests share one transaction, each
// admitted or refused on its own, and Reserve and Settle return once their
// step's transaction committed. A hold whose instance died is released by
// any instance's reaper after billing.hold_expiry.
//
// Fast: the request path touches no database. Each instance leases credit
// from a team's wallet in chunks (a database hold of at most
// billing.lease_chunk, and at most billing.lease_fraction of what the wallet
// has available, so instances share a small wallet), admits requests
// against its lease in memory, and every billing.flush_interval writes the
// charges of all its teams in batches — one spend posting per team per
// flush, under an idempotency key per batch, paid from the lease — renews
// its leases, tops them up and returns idle ones. Many instances still
// cannot overspend: each admits only against credit its lease took from the
// wallet in the database. A killed instance loses the charges it had not yet
// flushed (at most one flush_interval of its traffic plus the flush then in
// flight): those requests are served free, never charged twice; its leases
// expire after billing.lease_ttl and their credit is free again.
//
// In both modes a settlement never takes a wallet below zero nor into
// credit other requests hold: when a request cost more than its hold (an
// upstream that counted more tokens than the worst case), the excess is
// taken from free credit and what none covers is not collected
// (Stats.Uncollected).
//
// Keys of admins are exempt from the wallet when billing.exempt_admins is
// set (the default), and the master key has no team: their requests are
// neither reserved on nor charged to a wallet, but budgets still count them.
package meter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/periodic"
	"github.com/chorusgw/chorus/internal/registry"
)

// Store is what the meter needs from the database.
type Store interface {
	StrictCommit(ctx context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error)
	Lease(ctx context.Context, s chorus.LeaseSpec) (chorus.LeaseState, error)
	ReturnLease(ctx context.Context, ref string, amount int64) (int64, error)
	RenewLeases(ctx context.Context, owner string, expiresAt time.Time) (int64, error)
	ReapHolds(ctx context.Context, limit int) (int, error)
	Settle(ctx context.Context, key string, charges []chorus.Charge) (chorus.SettleResult, error)
	AllBudgets(ctx context.Context) ([]*chorus.Budget, error)
	// Releasing holds before they expire (outage.go).
	ReleaseOwner(ctx context.Context, owner string) (int, error)
	ReleaseHold(ctx context.Context, ref string) (bool, error)
	ReapTeam(ctx context.Context, teamID int64) (int, error)
}

// Options configure a Meter.
type Options struct {
	// Billing is the billing section; its HoldExpiry must be set (the app
	// turns 0 into timeouts.upstream + 1m).
	config.Billing
	// Routes resolves a judge's model name (the registry snapshot).
	Routes func(name string) *registry.Route
	Logger *slog.Logger
	Now    func() time.Time
	// OnAlert is called, and must not block, when a settlement or flush
	// raised budget alerts: their webhook deliveries are due (the app
	// wakes the webhook dispatcher). Nil does nothing.
	OnAlert func()
	// Instance names this instance in lease and hold rows; random if empty.
	Instance string
	// Outage is what to do when the database goes away (outage.go).
	Outage
}

// Meter reserves and settles requests' credits. Its methods are safe for
// concurrent use; a nil *Meter meters nothing.
type Meter struct {
	db   Store
	opts Options
	log  *slog.Logger
	now  func() time.Time
	tok  *tokenizers

	budgets   atomic.Pointer[budgetIndex]
	refreshMu sync.Mutex // one refresh at a time
	statesMu  sync.Mutex
	states    map[int64]*budgetState

	fast   fastState
	strict committer // strict mode's group commit
	outage outageState

	stats stats

	stop    context.CancelFunc
	done    chan struct{}
	closing sync.Once
}

// stats are the meter's counters (see Stats).
type stats struct {
	admitted, refused, settled atomic.Int64
	cost, charged, uncollected atomic.Int64
	tokenized, leaseWaits      atomic.Int64
	flushes, flushErrors       atomic.Int64
	alerts                     atomic.Int64
	lost                       atomic.Int64 // fast: charges dropped at Close
}

// Stats are the meter's counters since it started.
type Stats struct {
	Admitted, Refused, Settled int64
	Cost                       int64 // micro-credits the settled requests cost
	Charged                    int64 // micro-credits charged to wallets (strict: at once; fast: when flushed)
	Uncollected                int64 // micro-credits no credit covered (requests that cost more than their hold)
	Tokenized                  int64 // reservations that needed the tokenizer
	LeaseWaits                 int64 // fast: requests that waited for the database to grow a lease
	Flushes                    int64 // fast: batches written
	FlushErrors                int64
	Alerts                     int64 // budget alerts raised
	// GroupCommits and GroupSteps (strict): the transactions written and
	// the holds and settlements they carried.
	GroupCommits, GroupSteps int64
}

// Stats returns the meter's counters.
func (m *Meter) Stats() Stats {
	s := &m.stats
	return Stats{Admitted: s.admitted.Load(), Refused: s.refused.Load(), Settled: s.settled.Load(), Cost: s.cost.Load(),
		Charged: s.charged.Load(), Uncollected: s.uncollected.Load(), Tokenized: s.tokenized.Load(),
		LeaseWaits: s.leaseWaits.Load(), Flushes: s.flushes.Load(), FlushErrors: s.flushErrors.Load(),
		Alerts: s.alerts.Load(), GroupCommits: m.strict.batches.Load(), GroupSteps: m.strict.steps.Load()}
}

// New returns a meter; Start runs its background work (flushes, budget
// refreshes, the reaper) and Close stops it.
func New(db Store, opts Options) *Meter {
	m := &Meter{db: db, opts: opts, log: opts.Logger, now: opts.Now, tok: newTokenizers(),
		states: map[int64]*budgetState{}, outage: outageState{wake: make(chan struct{}, 1)}}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.opts.Instance == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		m.opts.Instance = "inst-" + hex.EncodeToString(b[:])
	}
	if m.opts.HoldExpiry <= 0 {
		m.opts.HoldExpiry = 11 * time.Minute
	}
	m.budgets.Store(&budgetIndex{})
	m.strict.commit = func(ctx context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error) {
		return m.db.StrictCommit(ctx, ops)
	}
	return m
}

// Mode returns the billing mode; "off" for a nil meter.
func (m *Meter) Mode() string {
	if m == nil {
		return config.BillingOff
	}
	return m.opts.Mode
}

// Instance returns the name this instance's holds and leases carry.
func (m *Meter) Instance() string { return m.opts.Instance }

// Metered reports whether requests of k go through Reserve at all: billing
// is on and the key belongs to a team. It is the request path's only cost
// when billing is off.
func (m *Meter) Metered(k *chorus.APIKey) bool {
	return m != nil && m.opts.Mode != config.BillingOff && k != nil && k.TeamID > 0
}

// Hold is a request's reservation, settled once with Settle.
type Hold struct {
	ref       string // strict: the hold's rows; the settlement's key
	requestID string
	teamID    int64
	bill      bool  // the wallet pays
	amount    int64 // the worst case held
	budgets   []*budgetDef
	periods   []time.Time // each budget's period when reserved
	team      *teamState  // fast mode
	settled   atomic.Bool
}

// Bills reports whether the team's wallet pays the request (false for an
// exempt key).
func (h *Hold) Bills() bool { return h != nil && h.bill }

// Amount returns the credit the hold reserves (micro-credits).
func (h *Hold) Amount() int64 { return h.amount }

// Reserve holds q's worst case for a request of key k, or refuses it with
// EQUOTA (type insufficient_quota) when the team's wallet or one of the hard
// budgets it falls under cannot cover it. It returns nil (and no error) when
// nothing is metered: billing off, no team, or an exempt key without
// budgets.
//
// It first reserves on the byte bound of the input; only if that is
// refused does it count the tokens and try again with the tighter amount.
func (m *Meter) Reserve(ctx context.Context, k *chorus.APIKey, requestID string, q Quote) (*Hold, error) {
	if !m.Metered(k) {
		return nil, nil
	}
	bill := !(m.opts.ExemptAdmins && k.Role == chorus.RoleAdmin)
	bs := m.budgetsFor(k)
	if !bill && len(bs) == 0 {
		return nil, nil
	}
	if err := m.admitOutage(); err != nil {
		return nil, err
	}
	h := &Hold{requestID: requestID, teamID: k.TeamID, bill: bill, budgets: bs}
	if len(bs) > 0 {
		now := m.now()
		h.periods = make([]time.Time, len(bs))
		for i, b := range bs {
			h.periods[i] = chorus.PeriodStart(b.period, now)
		}
	}
	bound := m.inputTokens(q, false)
	h.amount = m.worstCase(q, bound)
	err := m.reserve(ctx, h)
	if chorus.ErrorCode(err) == chorus.EQUOTA {
		if exact := m.worstCase(q, m.inputTokens(q, true)); exact < h.amount {
			h.amount = exact
			err = m.reserve(ctx, h)
		}
	}
	if err != nil {
		switch chorus.ErrorCode(err) {
		case chorus.EQUOTA:
			m.stats.refused.Add(1)
			return nil, err
		case chorus.EUNAVAILABLE: // the database is away: said once, by the circuit
			return nil, err
		}
		m.failed(err)
		m.log.ErrorContext(ctx, "billing: reserve failed", "err", err)
		return nil, &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "Billing is unavailable; try again shortly.", Err: err}
	}
	m.stats.admitted.Add(1)
	return h, nil
}

// reserve reserves h in the meter's mode; when that is refused and the
// team had expired holds (a dead instance's), it releases them and tries
// once more.
func (m *Meter) reserve(ctx context.Context, h *Hold) error {
	err := m.reserveMode(ctx, h)
	if chorus.ErrorCode(err) == chorus.EQUOTA && m.reapTeam(ctx, h.teamID) {
		err = m.reserveMode(ctx, h)
	}
	return err
}

func (m *Meter) reserveMode(ctx context.Context, h *Hold) error {
	if m.opts.Mode == config.BillingStrict {
		return m.reserveStrict(ctx, h)
	}
	return m.reserveFast(ctx, h)
}

// reserveStrict places the hold (wallet and hard budgets) through the
// group commit.
func (m *Meter) reserveStrict(ctx context.Context, h *Hold) error {
	if h.ref == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		h.ref = h.requestID + "." + hex.EncodeToString(b[:])
	}
	spec := chorus.HoldSpec{Ref: h.ref, TeamID: h.teamID, Owner: m.opts.Instance, ExpiresAt: m.now().Add(m.opts.HoldExpiry)}
	if h.bill {
		spec.Wallet = h.amount
	}
	for i, b := range h.budgets {
		if b.hard {
			spec.Budgets = append(spec.Budgets, chorus.BudgetHold{BudgetID: b.id, PeriodStart: h.periods[i], Amount: h.amount})
		}
	}
	out, err := m.strict.do(ctx, chorus.StrictOp{Hold: &spec})
	if err != nil {
		return err
	}
	return out.Err
}

// Settlement is what settling a request did.
type Settlement struct {
	Charged int64 // what the wallet paid (strict); what it will pay (fast)
	// Available is the team's available credit after the charge: exact in
	// strict mode; in fast mode an estimate — what the wallet had free at
	// this instance's last lease change plus what is left of its lease —
	// that ignores other instances' charges since. -1 when unknown.
	Available int64
}

// strictRetries are the pauses before retrying a strict settlement that
// failed (the settlement is idempotent, so a retry cannot charge twice).
var strictRetries = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 400 * time.Millisecond}

// Settle charges a held request what it cost (the sum of its upstream
// attempts, in micro-credits) and releases the rest of its hold. It runs
// once per hold; later calls do nothing. In strict mode it writes the
// settlement before returning and fails (EUNAVAILABLE) if it cannot, after
// retries: the caller must then not complete the response. In fast mode it
// only records the charge in memory.
func (m *Meter) Settle(ctx context.Context, h *Hold, cost int64) (Settlement, error) {
	return m.settle(ctx, h, cost, nil)
}

// SettleUsage is Settle for a request whose usage record rec says what it
// cost (rec.Cost). In strict mode rec is stored in the settlement's
// transaction, so a charged request always has its record, whatever
// happens to the instance afterwards; the caller's own later write of the
// record (the same rec.Key) then completes the fields known only at the end
// of the request (see store.InsertUsage). rec.Key must be set; a record
// without one is not stored here. Fast mode stores no record.
func (m *Meter) SettleUsage(ctx context.Context, h *Hold, rec *chorus.Usage) (Settlement, error) {
	if rec == nil {
		return m.settle(ctx, h, 0, nil)
	}
	var stored *chorus.Usage
	if rec.Key != "" && m.Mode() == config.BillingStrict {
		c := *rec
		stored = &c
	}
	return m.settle(ctx, h, rec.Cost, stored)
}

func (m *Meter) settle(ctx context.Context, h *Hold, cost int64, rec *chorus.Usage) (Settlement, error) {
	out := Settlement{Available: -1}
	if h == nil || !h.settled.CompareAndSwap(false, true) {
		return out, nil
	}
	cost = max(cost, 0)
	m.stats.settled.Add(1)
	m.stats.cost.Add(cost)
	if m.opts.Mode != config.BillingStrict {
		return m.settleFast(h, cost), nil
	}
	res, err := m.settleStrict(context.WithoutCancel(ctx), h, cost, rec)
	if err != nil {
		m.failed(err)
		m.cutHold(h) // released when the database returns
		m.log.ErrorContext(ctx, "billing: settlement failed", "cost", cost, "err", err)
		return out, &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "Billing is unavailable: the answer could not be charged.", Err: err}
	}
	if res.Applied {
		bill := int64(0)
		if h.bill {
			bill = cost
			out.Available = res.Balance.Available
		}
		m.account(bill, res.Charged, res.Alerts)
		out.Charged = res.Charged
		if res.Alerts > 0 {
			m.alerted()
		}
	}
	return out, nil
}

// settleStrict writes h's settlement, with rec when not nil, through the
// group commit, retrying a failure (the settlement is idempotent by its
// key, so a retry cannot charge twice).
func (m *Meter) settleStrict(ctx context.Context, h *Hold, cost int64, rec *chorus.Usage) (chorus.StrictOutcome, error) {
	bill := int64(0)
	if h.bill {
		bill = cost
	}
	if rec != nil {
		rec.Cost = cost
	}
	s := &chorus.StrictSettlement{Key: h.ref, Record: rec,
		Charge: chorus.Charge{TeamID: h.teamID, Ref: h.requestID, Requests: 1, Cost: cost, Bill: bill, Hold: h.ref}}
	for i, b := range h.budgets {
		s.Charge.Spend = append(s.Charge.Spend, chorus.BudgetSpend{BudgetID: b.id, PeriodStart: h.periods[i], Amount: cost})
	}
	for i := 0; ; i++ {
		res, err := m.strict.do(ctx, chorus.StrictOp{Settle: s})
		if err == nil {
			err = res.Err
		}
		if err == nil || i == len(strictRetries) || chorus.ErrorCode(err) == chorus.EINVALID {
			return res, err
		}
		time.Sleep(strictRetries[i])
	}
}

// account counts a settlement's charge.
func (m *Meter) account(bill, charged int64, alerts int) {
	m.stats.charged.Add(charged)
	if bill > charged {
		m.stats.uncollected.Add(bill - charged)
		m.log.Warn("billing: a charge exceeded the credit available; the rest is not collected",
			"billed", bill, "charged", charged)
	}
	m.stats.alerts.Add(int64(alerts))
}

// alerted tells OnAlert that budget alerts were raised.
func (m *Meter) alerted() {
	if m.opts.OnAlert != nil {
		m.opts.OnAlert()
	}
}

// Start runs the meter's background work until Close: in fast mode the
// flusher, and in every mode the budget refresher and the reaper. It loads
// the budgets first.
func (m *Meter) Start(ctx context.Context) error {
	if m == nil {
		return nil
	}
	if err := m.RefreshBudgets(ctx); err != nil {
		return err
	}
	if err := m.replaySpool(ctx); err != nil {
		return err
	}
	ctx, m.stop = context.WithCancel(context.WithoutCancel(ctx))
	m.done = make(chan struct{})
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	if m.opts.Mode == config.BillingFast {
		run(m.flushLoop) // which refreshes the budgets in step with its flushes
	} else {
		run(m.refreshLoop)
	}
	run(m.reapLoop)
	go func() { wg.Wait(); close(m.done) }()
	return nil
}

// Close stops the background work and, in fast mode, writes the charges
// not yet flushed and returns the leases, within ctx. Call it after the
// last request settled.
func (m *Meter) Close(ctx context.Context) error {
	if m == nil {
		return nil
	}
	var err error
	m.closing.Do(func() {
		if m.stop != nil {
			m.stop()
			<-m.done
		}
		if m.opts.Mode == config.BillingFast {
			err = m.closeFast(ctx)
		}
		if err == nil && m.fast.waiting.Load() == 0 { // nothing left to pay from the leases
			m.releaseCut(ctx)
			err = m.releaseOwn(ctx)
		}
	})
	return err
}

// refreshLoop re-reads the budgets' spend (strict mode; fast mode's
// flusher does it).
func (m *Meter) refreshLoop(ctx context.Context) {
	periodic.Every(ctx, m.opts.BudgetRefresh, false, func(ctx context.Context) {
		if m.dbDown() {
			return
		}
		if err := m.RefreshBudgets(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("billing: budget refresh failed", "err", err)
		}
	})
}

// reapLoop releases the expired holds and leases of dead instances (at
// once at start: every instance may have restarted), and the holds of
// settlements the database's loss cut.
func (m *Meter) reapLoop(ctx context.Context) {
	reap := func(ctx context.Context) {
		if m.dbDown() {
			return
		}
		m.releaseCut(ctx)
		n, err := m.db.ReapHolds(ctx, 500)
		switch {
		case err != nil && ctx.Err() == nil:
			m.log.Warn("billing: reaping expired holds failed", "err", err)
		case n > 0:
			m.log.Info("billing: released expired holds", "holds", n)
		}
	}
	reap(ctx)
	periodic.EveryOrWake(ctx, m.opts.ReapInterval, m.outage.wake, reap)
}
