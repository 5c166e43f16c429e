package meter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/spool"
	"github.com/chorusgw/chorus/internal/store"
)

// flakyStore is the store with a switch that makes every billing call
// fail the way an unreachable database does.
type flakyStore struct {
	*store.DB
	down atomic.Bool
}

var errRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (f *flakyStore) Hold(ctx context.Context, h chorus.HoldSpec) error {
	if f.down.Load() {
		return errRefused
	}
	return f.DB.Hold(ctx, h)
}

func (f *flakyStore) StrictCommit(ctx context.Context, ops []chorus.StrictOp) ([]chorus.StrictOutcome, error) {
	if f.down.Load() {
		return nil, errRefused
	}
	return f.DB.StrictCommit(ctx, ops)
}

func (f *flakyStore) Lease(ctx context.Context, s chorus.LeaseSpec) (chorus.LeaseState, error) {
	if f.down.Load() {
		return chorus.LeaseState{}, errRefused
	}
	return f.DB.Lease(ctx, s)
}

func (f *flakyStore) RenewLeases(ctx context.Context, owner string, at time.Time) (int64, error) {
	if f.down.Load() {
		return 0, errRefused
	}
	return f.DB.RenewLeases(ctx, owner, at)
}

func (f *flakyStore) Settle(ctx context.Context, key string, cs []chorus.Charge) (chorus.SettleResult, error) {
	if f.down.Load() {
		return chorus.SettleResult{}, errRefused
	}
	return f.DB.Settle(ctx, key, cs)
}

func (f *flakyStore) ReleaseOwner(ctx context.Context, owner string) (int, error) {
	if f.down.Load() {
		return 0, errRefused
	}
	return f.DB.ReleaseOwner(ctx, owner)
}

func (f *flakyStore) ReleaseHold(ctx context.Context, ref string) (bool, error) {
	if f.down.Load() {
		return false, errRefused
	}
	return f.DB.ReleaseHold(ctx, ref)
}

// fakeCircuit is a database circuit set by hand.
type fakeCircuit struct {
	down   atomic.Bool
	failed atomic.Int64
}

func (c *fakeCircuit) Down() bool        { return c.down.Load() }
func (c *fakeCircuit) Failed(error)      { c.failed.Add(1) }
func (f *flakyStore) cut(c *fakeCircuit) { f.down.Store(true); c.down.Store(true) }
func (f *flakyStore) restore(c *fakeCircuit) {
	f.down.Store(false)
	c.down.Store(false)
}

// logBuffer is a log sink safe for the meter's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func openSpool(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, "billing", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// serve admits and settles n requests of k at cost each.
func serve(t *testing.T, m *Meter, k *chorus.APIKey, prefix string, n int, cost int64) {
	t.Helper()
	for i := range n {
		h, err := m.Reserve(context.Background(), k, fmt.Sprintf("%s_%d", prefix, i), hello(100))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if _, err := m.Settle(context.Background(), h, cost); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFastOutage(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		db := &flakyStore{DB: openDB(t, newDSN(t))}
		c := &fakeCircuit{}
		var logs logBuffer
		sp := openSpool(t, t.TempDir())
		// Not started: the test flushes by hand, 50 times for a 10 s outage
		// at the default 200 ms flush interval.
		m := New(db, Options{Billing: billing(config.BillingFast), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Outage: Outage{Database: c, Spool: sp}})
		k := customer(t, db.DB, "outage", 100_000)
		serve(t, m, k, "before", 5, 100)
		m.flush(ctx)

		db.cut(c)
		t.Run("ServesFromTheLease", func(t *testing.T) {
			for i := range 50 {
				serve(t, m, k, fmt.Sprintf("during%d", i), 2, 100)
				m.flush(ctx)
			}
			if st := m.OutageStats(); st.SpooledBatches != 50 || st.Waiting != 50 {
				t.Fatalf("outage stats %+v, want 50 batches spooled and waiting", st)
			}
		})
		t.Run("NoLogFlood", func(t *testing.T) {
			// Before: every flush logged every waiting batch, 1,275 lines.
			if n := strings.Count(logs.String(), "\n"); n > 2 {
				t.Fatalf("%d log lines for one outage, want at most 2:\n%s", n, logs.String())
			}
		})
		t.Run("ShortLeaseRefusedAtOnce", func(t *testing.T) {
			poor := customer(t, db.DB, "poor", 0)
			start := time.Now()
			_, err := m.Reserve(ctx, poor, "poor_1", hello(100))
			if chorus.ErrorCode(err) != chorus.EUNAVAILABLE || time.Since(start) > 100*time.Millisecond {
				t.Fatalf("Reserve without a lease = %v after %v, want EUNAVAILABLE at once", err, time.Since(start))
			}
		})
		db.restore(c)
		t.Run("WrittenOnceWhenBack", func(t *testing.T) {
			m.flush(ctx)
			if st := m.OutageStats(); st.Waiting != 0 {
				t.Fatalf("%d batches still waiting", st.Waiting)
			}
			reqs, cost, charged, err := db.SettlementTotals(ctx, k.TeamID)
			if err != nil {
				t.Fatal(err)
			}
			if reqs != 105 || cost != 10_500 || charged != 10_500 {
				t.Fatalf("settled %d requests, cost %d, charged %d; want 105, 10500, 10500", reqs, cost, charged)
			}
			if got := balance(t, db.DB, k.TeamID).Balance; got != 100_000-10_500 {
				t.Fatalf("balance %d, want %d", got, 100_000-10_500)
			}
			if n := sp.Size(); n != 0 {
				t.Fatalf("%d bytes left in the spool once every charge was written", n)
			}
			if !strings.Contains(logs.String(), "waiting charges written") {
				t.Fatalf("no line says the charges were written:\n%s", logs.String())
			}
		})
		t.Run("CloseReleasesTheLease", func(t *testing.T) {
			if err := m.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got := balance(t, db.DB, k.TeamID).Reserved; got != 0 {
				t.Fatalf("reserved %d after Close, want 0", got)
			}
		})
	})
}

// copyDir copies the files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(src, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestFastOutageShutdown(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		dsn := newDSN(t)
		db := &flakyStore{DB: openDB(t, dsn)}
		c := &fakeCircuit{}
		dir := t.TempDir()
		b := billing(config.BillingFast)
		m := New(db, Options{Billing: b, Logger: testLogger(), Outage: Outage{Database: c, Spool: openSpool(t, dir)}})
		k := customer(t, db.DB, "down", 100_000)
		serve(t, m, k, "before", 3, 100)
		m.flush(ctx)
		db.cut(c)
		serve(t, m, k, "during", 7, 100)

		t.Run("CloseDoesNotWait", func(t *testing.T) {
			closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			start := time.Now()
			if err := m.Close(closeCtx); err != nil {
				t.Fatalf("Close with every charge spooled: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close took %v while the database was down, want at once", d)
			}
		})
		crashCopy := copyDir(t, dir) // as if the next run crashed before clearing the spool
		db.restore(c)
		next := func(t *testing.T, dir string) {
			t.Helper()
			m2 := New(openDB(t, dsn), Options{Billing: b, Logger: testLogger(), Outage: Outage{Spool: openSpool(t, dir)}})
			if err := m2.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if err := m2.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("NextStartReplays", func(t *testing.T) {
			next(t, dir)
			if _, cost, charged, _ := db.SettlementTotals(ctx, k.TeamID); cost != 1000 || charged != 1000 {
				t.Fatalf("cost %d, charged %d after the replay; want 1000 each", cost, charged)
			}
		})
		t.Run("ReplayedTwiceChargedOnce", func(t *testing.T) {
			next(t, crashCopy)
			if _, cost, charged, _ := db.SettlementTotals(ctx, k.TeamID); cost != 1000 || charged != 1000 {
				t.Fatalf("cost %d, charged %d after a second replay; want 1000 each: charged twice", cost, charged)
			}
			if got := balance(t, db.DB, k.TeamID); got.Balance != 99_000 {
				t.Fatalf("balance %d, want 99000", got.Balance)
			}
		})
	})
}

func TestStrictOutage(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		db := &flakyStore{DB: openDB(t, newDSN(t))}
		c := &fakeCircuit{}
		m := New(db, Options{Billing: billing(config.BillingStrict), Logger: testLogger(), Outage: Outage{Database: c}})
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctx)
		k := customer(t, db.DB, "strictout", 10_000)
		cutHold, err := m.Reserve(ctx, k, "cut", hello(100))
		if err != nil {
			t.Fatal(err)
		}
		db.cut(c)
		t.Run("RefusedAtOnce", func(t *testing.T) {
			start := time.Now()
			_, err := m.Reserve(ctx, k, "new", hello(100))
			if chorus.ErrorCode(err) != chorus.EUNAVAILABLE {
				t.Fatalf("Reserve while down = %v, want EUNAVAILABLE", err)
			}
			if d := time.Since(start); d > 50*time.Millisecond {
				t.Fatalf("refused after %v, want at once", d)
			}
		})
		t.Run("CutHoldReleasedWhenBack", func(t *testing.T) {
			if _, err := m.Settle(ctx, cutHold, 50); chorus.ErrorCode(err) != chorus.EUNAVAILABLE {
				t.Fatalf("Settle while down = %v, want EUNAVAILABLE", err)
			}
			if got := balance(t, db.DB, k.TeamID).Reserved; got != helloWorst {
				t.Fatalf("reserved %d, want the cut hold's %d", got, helloWorst)
			}
			db.restore(c)
			waitFor(t, 5*time.Second, "the cut hold's release", func() bool {
				return balance(t, db.DB, k.TeamID).Reserved == 0
			})
		})
	})
}

func TestCloseReleasesOwnHolds(t *testing.T) {
	eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
		ctx := context.Background()
		db := openDB(t, newDSN(t))
		k := customer(t, db, "sigterm", 10_000)
		m := New(db, Options{Billing: billing(config.BillingStrict), Logger: testLogger()})
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// A request whose hold was never settled (its settlement failed,
		// or it was cut): at shutdown nothing of this instance's is in use.
		if _, err := m.Reserve(ctx, k, "orphan", hello(100)); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if got := balance(t, db, k.TeamID).Reserved; got != 0 {
			t.Fatalf("reserved %d after a clean shutdown, want 0", got)
		}
	})
}

func TestExpiredHoldsDoNotRefuse(t *testing.T) {
	for _, mode := range []string{config.BillingStrict, config.BillingFast} {
		t.Run(mode, func(t *testing.T) {
			eachDB(t, func(t *testing.T, _ string, newDSN func(*testing.T) string) {
				ctx := context.Background()
				db := openDB(t, newDSN(t))
				k := customer(t, db, "stuck", 1000)
				// A dead instance's hold on the whole wallet, expired.
				if err := db.Hold(ctx, chorus.HoldSpec{Ref: "dead.1", TeamID: k.TeamID, Owner: "dead", Wallet: 1000,
					ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
					t.Fatal(err)
				}
				b := billing(mode)
				b.ReapInterval = time.Hour // the reaper has not run yet
				m := New(db, Options{Billing: b, Logger: testLogger()})
				// Not started either: only the refusal may release it.
				if _, err := m.Reserve(ctx, k, "alive", hello(100)); err != nil {
					t.Fatalf("refused for credit an expired hold kept: %v", err)
				}
			})
		})
	}
}
