package meter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// TestStrictOneTeamExhausted loads one team from 32 goroutines through two
// meters (two instances) on one database, each request holding and then
// charging exactly its worst case, with 320 requests for a wallet that pays
// 200: exactly 200 are admitted and charged, the wallet ends at exactly
// zero with nothing reserved, every other request is refused with EQUOTA,
// the ledger's spend equals the settlements, and every charge has its usage
// record of its cost.
func TestStrictOneTeamExhausted(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		dsn := newDSN(t)
		dbs := []*store.DB{openDB(t, dsn), openDB(t, dsn)}
		meters := []*Meter{startMeter(t, dbs[0], billing(config.BillingStrict)), startMeter(t, dbs[1], billing(config.BillingStrict))}
		const fits = 200
		k := customer(t, dbs[0], "exhaust", fits*helloWorst)
		var admitted, refused atomic.Int64
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := meters[g%2]
				for i := range 10 {
					id := fmt.Sprintf("req_%d_%d", g, i)
					h, err := m.Reserve(ctx, k, id, hello(100))
					if chorus.ErrorCode(err) == chorus.EQUOTA {
						refused.Add(1)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					admitted.Add(1)
					rec := &chorus.Usage{Key: "key-" + id, RequestID: id, KeyID: k.ID, UserID: k.UserID, TeamID: k.TeamID,
						Model: "m", Endpoint: "chat", Status: 200, Cost: h.Amount()}
					if s, err := m.SettleUsage(ctx, h, rec); err != nil || s.Charged != helloWorst {
						t.Errorf("settlement = %+v, %v; want %d charged", s, err, helloWorst)
						return
					}
				}
			}()
		}
		wg.Wait()
		if admitted.Load() != fits || refused.Load() != 320-fits {
			t.Errorf("%d admitted, %d refused; want exactly %d and %d", admitted.Load(), refused.Load(), fits, 320-fits)
		}
		if got := balance(t, dbs[0], k.TeamID); got.Balance != 0 || got.Reserved != 0 {
			t.Errorf("wallet = %+v, want exactly exhausted, nothing reserved", got)
		}
		reqs, cost, charged, err := dbs[0].SettlementTotals(ctx, k.TeamID)
		if err != nil || reqs != fits || cost != fits*helloWorst || charged != cost {
			t.Errorf("settlements: %d requests, cost %d, charged %d (%v); want %d at %d each", reqs, cost, charged, err, fits, helloWorst)
		}
		ps, err := dbs[0].ListPostings(ctx, chorus.PostingFilter{TeamID: &k.TeamID, Kind: chorus.PostingSpend}, chorus.Page{Limit: chorus.MaxPageSize})
		if err != nil || len(ps) != fits {
			t.Errorf("%d spend postings (%v), want %d", len(ps), err, fits)
		}
		us, err := dbs[0].ListUsage(ctx, chorus.UsageFilter{TeamID: &k.TeamID}, chorus.Page{Limit: chorus.MaxPageSize})
		if err != nil || len(us) != fits {
			t.Fatalf("%d usage records (%v), want one per charge: %d", len(us), err, fits)
		}
		for _, u := range us {
			if u.Cost != helloWorst {
				t.Errorf("record %s costs %d, want its charge %d", u.RequestID, u.Cost, helloWorst)
			}
		}
		if r, err := dbs[0].CheckLedger(ctx); err != nil || !r.OK {
			t.Errorf("ledger check = %+v, %v", r, err)
		}
		var commits, steps int64
		for _, m := range meters {
			st := m.Stats()
			commits, steps = commits+st.GroupCommits, steps+st.GroupSteps
		}
		t.Logf("%d steps in %d transactions", steps, commits)
		if steps <= commits {
			t.Errorf("%d steps in %d transactions: nothing was committed together", steps, commits)
		}
	})
}

// TestStrictSettleReplay: settling a hold twice charges once.
func TestStrictSettleReplay(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir()+"/chorus.db")
	m := startMeter(t, db, billing(config.BillingStrict))
	k := customer(t, db, "replay", 1000)
	h, err := m.Reserve(ctx, k, "req_1", hello(100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Settle(ctx, h, 100); err != nil {
		t.Fatal(err)
	}
	// The same settlement once more, as a retry after a lost commit would
	// write it: the key is settled, nothing moves.
	again := &Hold{ref: h.ref, requestID: h.requestID, teamID: h.teamID, bill: h.bill, amount: h.amount}
	if s, err := m.Settle(ctx, again, 100); err != nil || s.Charged != 0 {
		t.Errorf("replayed settlement = %+v, %v; want nothing charged", s, err)
	}
	if got := balance(t, db, k.TeamID); got.Balance != 900 || got.Reserved != 0 {
		t.Errorf("wallet = %+v, want 900: charged once", got)
	}
}

// TestCommitterSplitsFailedBatch: a step that makes its batch's
// transaction fail fails alone; the others of its batch are written.
func TestCommitterSplitsFailedBatch(t *testing.T) {
	poison := errors.New("poisoned")
	var calls atomic.Int64
	release := make(chan struct{})
	c := &committer{commit: func(_ context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error) {
		if calls.Add(1) == 1 {
			<-release // hold the first batch so the others queue behind it
		}
		outs := make([]chorus.StrictOutcome, len(ops))
		for i, op := range ops {
			if op.Hold.Ref == "bad" {
				return nil, poison
			}
			outs[i].Charged = op.Hold.Wallet
		}
		return outs, nil
	}}
	refs := []string{"first", "a", "b", "bad", "c", "d"}
	errs := make([]error, len(refs))
	got := make([]int64, len(refs))
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.do(context.Background(), chorus.StrictOp{Hold: &chorus.HoldSpec{Ref: ref, Wallet: int64(i + 1)}})
			errs[i], got[i] = err, out.Charged
		}()
		if i == 0 {
			waitFor(t, time.Second, "the first batch to start", func() bool { return calls.Load() == 1 })
		}
	}
	waitFor(t, time.Second, "the others to queue", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue) == len(refs)-1
	})
	close(release)
	wg.Wait()
	for i, ref := range refs {
		switch {
		case ref == "bad" && !errors.Is(errs[i], poison):
			t.Errorf("the poisoned step: %v, want its batch's error", errs[i])
		case ref != "bad" && (errs[i] != nil || got[i] != int64(i+1)):
			t.Errorf("step %s: %d, %v; want its own outcome", ref, got[i], errs[i])
		}
	}
	if st := c.steps.Load(); st != int64(len(refs)-1) {
		t.Errorf("%d steps committed, want %d", st, len(refs)-1)
	}
}

// TestCommitterCanceledBeforeTaken: a step whose context ends while it
// waits in the queue is dropped, never written.
func TestCommitterCanceledBeforeTaken(t *testing.T) {
	release := make(chan struct{})
	var written atomic.Int64
	c := &committer{commit: func(_ context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error) {
		<-release
		written.Add(int64(len(ops)))
		return make([]chorus.StrictOutcome, len(ops)), nil
	}}
	done := make(chan error)
	go func() { _, err := c.do(context.Background(), chorus.StrictOp{}); done <- err }()
	waitFor(t, time.Second, "the first batch to start", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.running && len(c.queue) == 0
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.do(ctx, chorus.StrictOp{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled step: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the committer to stop", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.running
	})
	if n := written.Load(); n != 1 {
		t.Errorf("%d steps written, want 1: the canceled one is dropped", n)
	}
}
