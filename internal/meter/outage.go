package meter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// When the database goes away (see docs/billing.md, "Failures"):
//
//   - strict mode refuses new requests at once (503 service_unavailable)
//     instead of waiting for a connection; a request whose settlement the
//     outage cut is answered with an error, and its hold is released as
//     soon as the database returns (not when it expires);
//   - fast mode goes on admitting against its leases in memory, within
//     their amounts and validity; a team whose lease runs short is refused
//     at once (503). Every flush's batches that cannot be written go to the
//     spool (fsync'd, with their idempotency keys) and stay in memory; when
//     the database returns they are written from memory and the spool is
//     cleared; if the instance stops first, the next start replays the
//     spool — a batch written twice is applied once (its key). When the
//     spool is full the batches stay in memory only, and while the
//     database is down new requests are refused (503): their charges could
//     not be kept safe;
//   - one line is logged when charges start waiting, one summary every
//     outageSummary while they wait, one when they are written.
//
// Holds are released sooner than their expiry where the meter knows them
// unused: at Close its own (Store.ReleaseOwner), and a team's expired ones
// when a reservation is refused (Store.ReapTeam, at most once a second per
// team), so a team is not refused for credit a dead instance held.

// Database says whether the database is reachable, and hears of failed
// calls (the app's circuit).
type Database interface {
	Down() bool
	Failed(err error)
}

// Spool keeps batches of charges on disk until the database takes them
// (spool.Spool).
type Spool interface {
	Append(v any) error
	Replay(fn func(entry json.RawMessage) error) (int, error)
	Clear() error
}

// Outage configures the meter's behaviour when the database goes away.
type Outage struct {
	// Database is the database circuit; nil: always up.
	Database Database
	// Spool keeps fast mode's unwritten batches; nil: memory only.
	Spool Spool
	// UsageSpoolFull reports whether usage records can no longer be
	// spooled: while the database is down fast mode then refuses new
	// requests. Nil: never.
	UsageSpoolFull func() bool
}

// outageSummary is how often a summary of the charges waiting for the
// database is logged.
const outageSummary = 10 * time.Second

// errDatabaseDown is the cause logged when the circuit says the database
// is down.
var errDatabaseDown = errors.New("the database is unreachable")

// outageState is what the meter keeps about an outage.
type outageState struct {
	// Fast mode, the flusher's (under fast.flushMu):
	since       time.Time // when charges started waiting; zero when none
	lastSummary time.Time
	spooled     bool        // entries in the spool since it was last cleared
	spoolFull   atomic.Bool // the spool refused a batch

	spooledBatches, replayed atomic.Int64

	// Strict mode: holds whose settlement failed, released when the
	// database returns.
	cutMu sync.Mutex
	cut   []string

	reapMu     sync.Mutex
	lastReaped map[int64]time.Time // team → its last ReapTeam

	wake chan struct{} // the database is back: run the reaper now
}

// OutageStats are the meter's outage counters.
type OutageStats struct {
	SpooledBatches int64 // fast: batches written to the spool
	Replayed       int64 // fast: spooled batches replayed at start
	Waiting        int64 // fast: batches waiting for the database now
	SpoolFull      bool  // fast: the spool refused a batch
	CutHolds       int64 // strict: holds waiting to be released
}

// dbDown reports whether the database circuit says down.
func (m *Meter) dbDown() bool { return m.opts.Database != nil && m.opts.Database.Down() }

// failed tells the circuit a store call failed.
func (m *Meter) failed(err error) {
	if m.opts.Database != nil {
		m.opts.Database.Failed(err)
	}
}

// unavailable is the error of a request refused because of the outage.
func unavailable(msg string) error {
	return &chorus.Error{Code: chorus.EUNAVAILABLE, Message: msg, RetryAfter: 5 * time.Second}
}

// admitOutage refuses a request at once when the database is down and the
// mode cannot bill it: strict always, fast when its charges or its usage
// could not be kept.
func (m *Meter) admitOutage() error {
	if !m.dbDown() {
		return nil
	}
	switch {
	case m.opts.Mode == config.BillingStrict:
		return unavailable("The database is unreachable: requests cannot be billed (strict billing). Try again shortly.")
	case m.outage.spoolFull.Load() || (m.opts.UsageSpoolFull != nil && m.opts.UsageSpoolFull()):
		return unavailable("The database is unreachable and this instance can keep no more charges until it returns. Try again shortly.")
	}
	return nil
}

// OutageStats returns the meter's outage counters.
func (m *Meter) OutageStats() OutageStats {
	m.outage.cutMu.Lock()
	cut := int64(len(m.outage.cut))
	m.outage.cutMu.Unlock()
	return OutageStats{SpooledBatches: m.outage.spooledBatches.Load(), Replayed: m.outage.replayed.Load(),
		Waiting: m.fast.waiting.Load(), SpoolFull: m.outage.spoolFull.Load(), CutHolds: cut}
}

// spooledBatch is a batch as the spool keeps it.
type spooledBatch struct {
	Key     string          `json:"key"`
	Charges []chorus.Charge `json:"charges"`
}

// spoolPending writes the waiting batches not yet in the spool to it.
// Call with fast.flushMu held.
func (m *Meter) spoolPending() {
	sp := m.opts.Spool
	if sp == nil {
		return
	}
	for _, b := range m.fast.retry {
		if b.spooled {
			continue
		}
		if err := sp.Append(spooledBatch{Key: b.key, Charges: b.charges}); err != nil {
			if !m.outage.spoolFull.Swap(true) {
				m.log.Error("billing: the spool cannot take charges; they are kept in memory only", "err", err)
			}
			return
		}
		b.spooled = true
		m.outage.spooled = true
		m.outage.spooledBatches.Add(1)
	}
}

// chargesWaiting logs the first time charges cannot be written, and a
// summary every outageSummary while they wait. Call with fast.flushMu held.
func (m *Meter) chargesWaiting(cause error) {
	now := m.now()
	if m.outage.since.IsZero() {
		m.outage.since, m.outage.lastSummary = now, now
		m.log.Error("billing: writing charges failed; they wait (spooled) until the database takes them", "err", cause)
		return
	}
	if now.Sub(m.outage.lastSummary) < outageSummary {
		return
	}
	m.outage.lastSummary = now
	batches, owed := m.waitingCharges()
	m.log.Warn("billing: charges still waiting for the database", "batches", batches, "micro_credits", owed,
		"for", now.Sub(m.outage.since).Round(time.Second).String(), "spool_full", m.outage.spoolFull.Load())
}

// waitingCharges sums the batches waiting. Call with fast.flushMu held.
func (m *Meter) waitingCharges() (batches int, owed int64) {
	for _, b := range m.fast.retry {
		for _, c := range b.charges {
			owed += c.Bill
		}
	}
	return len(m.fast.retry), owed
}

// chargesWritten ends a wait: every batch is written, so the spool's
// entries are needed no more. Call with fast.flushMu held.
func (m *Meter) chargesWritten() {
	if m.outage.spooled {
		if err := m.opts.Spool.Clear(); err != nil {
			// Left in the spool, they are replayed at the next start and
			// applied once: their keys are settled already.
			m.log.Warn("billing: clearing the spool failed", "err", err)
		} else {
			m.outage.spooled = false
			m.outage.spoolFull.Store(false)
		}
	}
	if m.outage.since.IsZero() {
		return
	}
	m.log.Info("billing: waiting charges written", "after", m.now().Sub(m.outage.since).Round(time.Millisecond).String())
	m.outage.since = time.Time{}
}

// replaySpool writes the batches an earlier process spooled and did not
// write, each under its own key (applied at most once), then clears the
// spool.
func (m *Meter) replaySpool(ctx context.Context) error {
	sp := m.opts.Spool
	if sp == nil {
		return nil
	}
	n, err := sp.Replay(func(entry json.RawMessage) error {
		var b spooledBatch
		if err := json.Unmarshal(entry, &b); err != nil {
			m.log.Error("billing: skipping an unreadable spool entry", "err", err)
			return nil
		}
		res, err := m.db.Settle(ctx, b.Key, b.Charges)
		if err != nil {
			return fmt.Errorf("replay %s: %w", b.Key, err)
		}
		if res.Applied {
			for i, c := range b.Charges {
				m.account(c.Bill, res.Charged[i], 0)
			}
		}
		return nil
	})
	m.outage.replayed.Add(int64(n))
	if n > 0 {
		m.log.Info("billing: charges spooled by an earlier run written", "batches", n)
	}
	return err
}

// Recovered tells the meter the database is back after an outage: the
// holds the outage cut are released at once, not at the next reap. (Fast
// mode's waiting charges are written at the next flush.)
func (m *Meter) Recovered() {
	if m == nil {
		return
	}
	select {
	case m.outage.wake <- struct{}{}:
	default:
	}
}

// cutHold remembers a strict hold whose settlement failed, to release it
// when the database returns.
func (m *Meter) cutHold(h *Hold) {
	if h.ref == "" {
		return
	}
	m.outage.cutMu.Lock()
	m.outage.cut = append(m.outage.cut, h.ref)
	m.outage.cutMu.Unlock()
}

// releaseCut releases the holds of settlements the outage cut.
func (m *Meter) releaseCut(ctx context.Context) {
	if m.dbDown() {
		return
	}
	m.outage.cutMu.Lock()
	refs := m.outage.cut
	m.outage.cut = nil
	m.outage.cutMu.Unlock()
	released := 0
	for i, ref := range refs {
		if _, err := m.db.ReleaseHold(ctx, ref); err != nil {
			m.failed(err)
			m.outage.cutMu.Lock()
			m.outage.cut = append(m.outage.cut, refs[i:]...)
			m.outage.cutMu.Unlock()
			return
		}
		released++
	}
	if released > 0 {
		m.log.Info("billing: released the holds of requests the database's loss cut", "holds", released)
	}
}

// reapTeam releases a team's expired holds and leases, at most once a
// second per team, and reports whether it released any.
func (m *Meter) reapTeam(ctx context.Context, teamID int64) bool {
	if m.dbDown() {
		return false
	}
	now := m.now()
	m.outage.reapMu.Lock()
	if m.outage.lastReaped == nil {
		m.outage.lastReaped = map[int64]time.Time{}
	}
	if now.Sub(m.outage.lastReaped[teamID]) < time.Second {
		m.outage.reapMu.Unlock()
		return false
	}
	m.outage.lastReaped[teamID] = now
	if len(m.outage.lastReaped) > 10_000 { // forget old entries; a team reaped twice a second at worst
		clear(m.outage.lastReaped)
	}
	m.outage.reapMu.Unlock()
	n, err := m.db.ReapTeam(ctx, teamID)
	if err != nil {
		m.failed(err)
		return false
	}
	if n > 0 {
		m.log.Info("billing: released a team's expired holds", "team", teamID, "holds", n)
	}
	return n > 0
}

// releaseOwn releases every hold and lease this instance still has, at
// Close: its requests have settled and its charges are written.
func (m *Meter) releaseOwn(ctx context.Context) error {
	if m.dbDown() {
		return nil // they expire; the reapers release them
	}
	n, err := m.db.ReleaseOwner(ctx, m.opts.Instance)
	if n > 0 {
		m.log.Info("billing: released this instance's holds and leases", "holds", n)
	}
	return err
}
