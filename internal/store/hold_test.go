package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// holdClock is a settable time source for the store.
type holdClock struct {
	mu sync.Mutex
	t  time.Time
}

func newHoldClock() *holdClock { return &holdClock{t: time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)} }

func (c *holdClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *holdClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fundedTeam creates a team whose wallet holds amount.
func fundedTeam(tb testing.TB, db *store.DB, name string, amount int64) int64 {
	tb.Helper()
	team := mustCreateTeam(tb, db, name)
	if amount > 0 {
		mustPost(tb, db, topUp("fund-"+name, team, amount))
	}
	return team
}

func wantQuota(tb testing.TB, err error) {
	tb.Helper()
	var e *chorus.Error
	if !errors.As(err, &e) || e.Code != chorus.EQUOTA || e.Type != "insufficient_quota" {
		tb.Fatalf("got %v, want EQUOTA of type insufficient_quota", err)
	}
}

func TestHold(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		team := fundedTeam(t, db, "hold", 1000)
		exp := clk.now().Add(time.Minute)

		t.Run("OK", func(t *testing.T) {
			if err := db.Hold(ctx, chorus.HoldSpec{Ref: "req-1.a", TeamID: team, Owner: "i1", Wallet: 600, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
			if got := mustBalance(t, db, team); got.Balance != 1000 || got.Reserved != 600 || got.Available != 400 {
				t.Errorf("balance = %+v, want 1000 with 600 reserved", got)
			}
		})
		t.Run("ErrInsufficient", func(t *testing.T) {
			err := db.Hold(ctx, chorus.HoldSpec{Ref: "req-2.a", TeamID: team, Owner: "i1", Wallet: 401, ExpiresAt: exp})
			wantQuota(t, err)
			if got := mustBalance(t, db, team); got.Reserved != 600 {
				t.Errorf("reserved = %d after a refused hold, want 600", got.Reserved)
			}
		})
		t.Run("ErrDuplicateRef", func(t *testing.T) {
			err := db.Hold(ctx, chorus.HoldSpec{Ref: "req-1.a", TeamID: team, Owner: "i1", Wallet: 1, ExpiresAt: exp})
			assertCode(t, err, chorus.ECONFLICT)
			if got := mustBalance(t, db, team); got.Reserved != 600 {
				t.Errorf("reserved = %d after a duplicate hold, want 600", got.Reserved)
			}
		})
		t.Run("ErrNoCredits", func(t *testing.T) {
			empty := mustCreateTeam(t, db, "empty")
			wantQuota(t, db.Hold(ctx, chorus.HoldSpec{Ref: "req-3.a", TeamID: empty, Owner: "i1", Wallet: 1, ExpiresAt: exp}))
		})
		t.Run("SettleReleasesAndCharges", func(t *testing.T) {
			res, err := db.Settle(ctx, "req-1.a", []chorus.Charge{{TeamID: team, Ref: "req-1", Requests: 1, Cost: 250, Bill: 250, Hold: "req-1.a"}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Applied || res.Charged[0] != 250 || res.Balances[0].Balance != 750 || res.Balances[0].Reserved != 0 {
				t.Errorf("settle = %+v, want applied, 250 charged, balance 750 with nothing reserved", res)
			}
			if got := mustBalance(t, db, team); got.Balance != 750 || got.Reserved != 0 {
				t.Errorf("balance = %+v, want 750 and nothing reserved", got)
			}
			p, err := db.PostingByKey(ctx, "spend:req-1.a:"+fmt.Sprint(team))
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != chorus.PostingSpend || p.Ref != "req-1" || p.TeamID != team {
				t.Errorf("posting = %+v, want a spend of team %d with ref req-1", p, team)
			}
		})
		t.Run("SettleTwice", func(t *testing.T) {
			res, err := db.Settle(ctx, "req-1.a", []chorus.Charge{{TeamID: team, Ref: "req-1", Requests: 1, Cost: 250, Bill: 250, Hold: "req-1.a"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Applied {
				t.Error("a settlement applied twice")
			}
			if got := mustBalance(t, db, team); got.Balance != 750 {
				t.Errorf("balance = %d after a replayed settlement, want 750", got.Balance)
			}
			reqs, cost, charged, err := db.SettlementTotals(ctx, team)
			if err != nil {
				t.Fatal(err)
			}
			if reqs != 1 || cost != 250 || charged != 250 {
				t.Errorf("settlement totals = %d requests, %d cost, %d charged; want 1, 250, 250", reqs, cost, charged)
			}
		})
		t.Run("CostAboveHoldNeverTakesOthersCredit", func(t *testing.T) {
			// 750 in the wallet: 500 held by another request, 100 by this one.
			mustHold(t, db, chorus.HoldSpec{Ref: "other.a", TeamID: team, Owner: "i1", Wallet: 500, ExpiresAt: exp})
			mustHold(t, db, chorus.HoldSpec{Ref: "mine.a", TeamID: team, Owner: "i1", Wallet: 100, ExpiresAt: exp})
			res, err := db.Settle(ctx, "mine.a", []chorus.Charge{{TeamID: team, Ref: "mine", Requests: 1, Cost: 900, Bill: 900, Hold: "mine.a"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Charged[0] != 250 {
				t.Errorf("charged %d, want 250 (its hold plus the 150 nobody held)", res.Charged[0])
			}
			if got := mustBalance(t, db, team); got.Balance != 500 || got.Reserved != 500 || got.Available != 0 {
				t.Errorf("balance = %+v, want 500 all held by the other request", got)
			}
			mustSettle(t, db, "other.a", chorus.Charge{TeamID: team, Ref: "other", Requests: 1, Cost: 500, Bill: 500, Hold: "other.a"})
			if got := mustBalance(t, db, team); got.Balance != 0 || got.Reserved != 0 {
				t.Errorf("balance = %+v, want 0", got)
			}
		})
		t.Run("ExemptReleasesWithoutCharge", func(t *testing.T) {
			free := fundedTeam(t, db, "exempt", 100)
			mustHold(t, db, chorus.HoldSpec{Ref: "ex.a", TeamID: free, Owner: "i1", Wallet: 100, ExpiresAt: exp})
			res := mustSettle(t, db, "ex.a", chorus.Charge{TeamID: free, Ref: "ex", Requests: 1, Cost: 70, Hold: "ex.a"})
			if res.Charged[0] != 0 || res.Leases[0] != -1 {
				t.Errorf("an exempt charge paid %d (lease %d), want 0 and no lease", res.Charged[0], res.Leases[0])
			}
			if got := mustBalance(t, db, free); got.Balance != 100 || got.Reserved != 0 {
				t.Errorf("balance = %+v, want 100 and nothing reserved", got)
			}
		})
		mustCheckLedger(t, db)
	})
}

func mustHold(tb testing.TB, db *store.DB, h chorus.HoldSpec) {
	tb.Helper()
	if err := db.Hold(context.Background(), h); err != nil {
		tb.Fatal(err)
	}
}

func mustSettle(tb testing.TB, db *store.DB, key string, c ...chorus.Charge) chorus.SettleResult {
	tb.Helper()
	res, err := db.Settle(context.Background(), key, c)
	if err != nil {
		tb.Fatal(err)
	}
	if !res.Applied {
		tb.Fatalf("settlement %q not applied", key)
	}
	return res
}

func TestLease(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		team := fundedTeam(t, db, "lease", 10_000)
		exp := func() time.Time { return clk.now().Add(30 * time.Second) }
		lease := func(ref string, min, want int64) (chorus.LeaseState, error) {
			return db.Lease(ctx, chorus.LeaseSpec{Ref: ref, TeamID: team, Owner: ref, Min: min, Want: want, Fraction: 0.5, ExpiresAt: exp()})
		}
		tests := []struct {
			name      string
			ref       string
			min, want int64
			granted   int64 // added by this call
			available int64 // in the wallet after
		}{
			{"HalfOfAvailable", "lease:a:1", 1, 8000, 5000, 5000},
			{"CappedByWant", "lease:b:1", 1, 1000, 1000, 4000},
			{"FractionOfWhatIsLeft", "lease:b:1", 1, 8000, 2000, 2000},
			{"AtLeastMin", "lease:a:1", 1500, 8000, 1500, 500},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st, err := lease(tt.ref, tt.min, tt.want)
				if err != nil {
					t.Fatal(err)
				}
				if st.Granted != tt.granted || st.Available != tt.available {
					t.Errorf("lease = %+v, want %d granted and %d available", st, tt.granted, tt.available)
				}
				if got := mustBalance(t, db, team); got.Available != tt.available {
					t.Errorf("wallet available = %d, want %d", got.Available, tt.available)
				}
			})
		}
		t.Run("ErrMinAboveAvailable", func(t *testing.T) {
			_, err := lease("lease:b:1", 501, 8000)
			wantQuota(t, err)
			if got := mustBalance(t, db, team); got.Available != 500 {
				t.Errorf("available = %d after a refused lease, want 500", got.Available)
			}
			empty := mustCreateTeam(t, db, "lease-empty")
			st, err := db.Lease(ctx, chorus.LeaseSpec{Ref: "lease:c:1", TeamID: empty, Owner: "c", Min: 1, Want: 10, Fraction: 1, ExpiresAt: exp()})
			wantQuota(t, err)
			if holds, err := db.HoldsOf(ctx, empty); err != nil || len(holds) != 0 || st.Available != 0 {
				t.Errorf("a refused first lease left holds %v (%v), available %d; want none", holds, err, st.Available)
			}
		})
		t.Run("SettlePaysFromLease", func(t *testing.T) {
			// Lease a holds 6500; a batch of 3 requests cost 700.
			res := mustSettle(t, db, "batch:a:1", chorus.Charge{TeamID: team, Ref: "batch:a:1", Requests: 3, Cost: 700, Bill: 700, Lease: "lease:a:1"})
			if res.Charged[0] != 700 || res.Leases[0] != 5800 {
				t.Errorf("charged %d leaving %d leased, want 700 leaving 5800", res.Charged[0], res.Leases[0])
			}
			got := mustBalance(t, db, team)
			if got.Balance != 9300 || got.Reserved != 8800 || got.Available != 500 {
				t.Errorf("wallet = %+v, want 9300 with 8800 reserved (leases 5800 + 3000)", got)
			}
		})
		t.Run("ReturnLease", func(t *testing.T) {
			left, err := db.ReturnLease(ctx, "lease:a:1", 800)
			if err != nil {
				t.Fatal(err)
			}
			if left != 5000 {
				t.Errorf("lease left = %d, want 5000", left)
			}
			if left, err = db.ReturnLease(ctx, "lease:a:1", 1<<40); err != nil || left != 0 {
				t.Fatalf("return all = %d, %v; want 0", left, err)
			}
			if got := mustBalance(t, db, team); got.Reserved != 3000 {
				t.Errorf("reserved = %d after returning lease a, want 3000 (lease b)", got.Reserved)
			}
			holds, err := db.HoldsOf(ctx, team)
			if err != nil {
				t.Fatal(err)
			}
			if holds[chorus.HoldLease] != 3000 {
				t.Errorf("holds = %v, want 3000 leased", holds)
			}
		})
		t.Run("RenewThenReap", func(t *testing.T) {
			mustHold(t, db, chorus.HoldSpec{Ref: "req-x.a", TeamID: team, Owner: "dead", Wallet: 100, ExpiresAt: clk.now().Add(10 * time.Second)})
			clk.add(20 * time.Second)
			if n, err := db.RenewLeases(ctx, "lease:b:1", exp()); err != nil || n != 1 {
				t.Fatalf("renew = %d, %v; want 1 lease", n, err)
			}
			clk.add(20 * time.Second) // the request hold expired 30 s ago, the lease renewed 20 s ago
			n, err := db.ReapHolds(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("reaped %d holds, want 1 (the request's)", n)
			}
			if got := mustBalance(t, db, team); got.Reserved != 3000 {
				t.Errorf("reserved = %d, want 3000 (the renewed lease)", got.Reserved)
			}
			clk.add(time.Minute)
			if n, err := db.ReapHolds(ctx, 100); err != nil || n != 1 {
				t.Fatalf("reaped %d, %v; want the lease once it expired", n, err)
			}
			if got := mustBalance(t, db, team); got.Reserved != 0 || got.Available != got.Balance {
				t.Errorf("wallet = %+v, want nothing reserved", got)
			}
			// A settlement after its lease was reaped still charges, from free credit.
			res := mustSettle(t, db, "batch:b:2", chorus.Charge{TeamID: team, Ref: "batch:b:2", Requests: 1, Cost: 100, Bill: 100, Lease: "lease:b:1"})
			if res.Charged[0] != 100 || res.Leases[0] != 0 {
				t.Errorf("charged %d after the lease was reaped (lease %d), want 100 and lease 0", res.Charged[0], res.Leases[0])
			}
		})
		mustCheckLedger(t, db)
	})
}

// TestHoldConcurrent hammers one small wallet with holds and settlements
// from many goroutines (and, on PostgreSQL, two connection pools standing
// for two instances): the charges never exceed the balance, the wallet
// never goes negative and nothing stays reserved.
func TestHoldConcurrent(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDSN(t)
		db1 := mustOpen(t, dsn)
		if err := db1.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		dbs := []*store.DB{db1}
		if b.name == store.DialectPostgres {
			dbs = append(dbs, mustOpen(t, dsn))
		}
		const initial = 50_000
		team := fundedTeam(t, db1, "hammer", initial)
		var admitted, refused, charged atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := dbs[g%len(dbs)]
				r := rand.New(rand.NewPCG(uint64(g), 7))
				for i := range 40 {
					ref := fmt.Sprintf("req-%d-%d.n", g, i)
					worst := 500 + r.Int64N(2500)
					err := db.Hold(ctx, chorus.HoldSpec{Ref: ref, TeamID: team, Owner: "i", Wallet: worst, ExpiresAt: time.Now().Add(time.Hour)})
					if chorus.ErrorCode(err) == chorus.EQUOTA {
						refused.Add(1)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					admitted.Add(1)
					// Mostly below the worst case, sometimes above it.
					cost := r.Int64N(worst * 6 / 5)
					res, err := db.Settle(ctx, ref, []chorus.Charge{{TeamID: team, Ref: ref, Requests: 1, Cost: cost, Bill: cost, Hold: ref}})
					if err != nil {
						t.Error(err)
						return
					}
					charged.Add(res.Charged[0])
				}
			}()
		}
		wg.Wait()
		got := mustBalance(t, db1, team)
		t.Logf("%d admitted, %d refused, %d charged of %d", admitted.Load(), refused.Load(), charged.Load(), initial)
		if admitted.Load() == 0 || refused.Load() == 0 {
			t.Errorf("want some admitted and some refused: %d, %d", admitted.Load(), refused.Load())
		}
		if c := charged.Load(); c > initial || got.Balance != initial-c {
			t.Errorf("charged %d of %d, balance %d: want charged <= initial and balance = initial - charged", c, initial, got.Balance)
		}
		if got.Balance < 0 || got.Reserved != 0 {
			t.Errorf("wallet = %+v, want non-negative with nothing reserved", got)
		}
		_, _, total, err := db1.SettlementTotals(ctx, team)
		if err != nil {
			t.Fatal(err)
		}
		if total != charged.Load() {
			t.Errorf("settlements record %d charged, the callers saw %d", total, charged.Load())
		}
		mustCheckLedger(t, db1)
	})
}
