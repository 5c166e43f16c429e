package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// mustCreateTeam creates a user with a team of their own and returns the
// team's ID.
func mustCreateTeam(tb testing.TB, db *store.DB, name string) int64 {
	tb.Helper()
	return mustCreateUser(tb, db, name+"@example.com").TeamID
}

// transfer returns a posting moving amount from one account to another.
func transfer(key, kind, from, to string, amount int64) *chorus.Posting {
	return &chorus.Posting{IdempotencyKey: key, Kind: kind, Entries: []chorus.LedgerEntry{
		{Account: from, Amount: -amount}, {Account: to, Amount: amount},
	}}
}

func topUp(key string, team, amount int64) *chorus.Posting {
	return transfer(key, chorus.PostingTopUp, chorus.AccountPayments, chorus.WalletAccount(team), amount)
}

func spend(key string, team, amount int64) *chorus.Posting {
	return transfer(key, chorus.PostingSpend, chorus.WalletAccount(team), chorus.AccountRevenue, amount)
}

func mustPost(tb testing.TB, db *store.DB, p *chorus.Posting) {
	tb.Helper()
	created, err := db.Post(context.Background(), p)
	if err != nil {
		tb.Fatal(err)
	}
	if !created {
		tb.Fatalf("posting %q was not created", p.IdempotencyKey)
	}
}

func mustBalance(tb testing.TB, db *store.DB, team int64) chorus.Balance {
	tb.Helper()
	b, err := db.Balance(context.Background(), team)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustCheckLedger fails unless CheckLedger finds no problem.
func mustCheckLedger(tb testing.TB, db *store.DB) chorus.LedgerReport {
	tb.Helper()
	r, err := db.CheckLedger(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if !r.OK {
		tb.Fatalf("ledger check failed: %v", r.Problems)
	}
	return r
}

func TestLedgerPost(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		team := mustCreateTeam(t, db, "a")
		other := mustCreateTeam(t, db, "b")

		t.Run("OK", func(t *testing.T) {
			p := topUp("ok-1", team, 5_000_000)
			p.Memo, p.Ref = "first top-up", "order:1"
			created, err := db.Post(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if !created || p.ID == 0 || p.CreatedAt.IsZero() {
				t.Fatalf("created=%v ID=%d CreatedAt=%v", created, p.ID, p.CreatedAt)
			}
			if got, want := p.TeamID, team; got != want {
				t.Errorf("TeamID %d, want %d (inferred from the wallet)", got, want)
			}
			if got, want := mustBalance(t, db, team), (chorus.Balance{TeamID: team, Balance: 5_000_000, Available: 5_000_000}); got != want {
				t.Errorf("balance %+v, want %+v", got, want)
			}
			got, err := db.PostingByKey(ctx, "ok-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != p.ID || got.Memo != p.Memo || got.Ref != p.Ref || got.Kind != p.Kind || !got.CreatedAt.Equal(p.CreatedAt) ||
				fmt.Sprint(got.Entries) != fmt.Sprint(p.Entries) {
				t.Errorf("read back %+v, want %+v", got, p)
			}
		})

		t.Run("Replay", func(t *testing.T) {
			first := topUp("replay-1", team, 1_000_000)
			mustPost(t, db, first)
			before := mustBalance(t, db, team)
			// Same content, entries in another order.
			again := topUp("replay-1", team, 1_000_000)
			again.Entries[0], again.Entries[1] = again.Entries[1], again.Entries[0]
			created, err := db.Post(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			if created {
				t.Error("a replay was created again")
			}
			if again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) {
				t.Errorf("replay returned ID %d at %v, want the first posting %d at %v", again.ID, again.CreatedAt, first.ID, first.CreatedAt)
			}
			if got := mustBalance(t, db, team); got != before {
				t.Errorf("a replay moved credits: %+v, want %+v", got, before)
			}
		})

		t.Run("ErrReplayDifferent", func(t *testing.T) {
			mustPost(t, db, topUp("diff-1", team, 1_000_000))
			before := mustBalance(t, db, team)
			for name, p := range map[string]*chorus.Posting{
				"Amount": topUp("diff-1", team, 2_000_000),
				"Team":   topUp("diff-1", other, 1_000_000),
				"Kind":   transfer("diff-1", chorus.PostingGrant, chorus.AccountPayments, chorus.WalletAccount(team), 1_000_000),
				"Memo":   func() *chorus.Posting { p := topUp("diff-1", team, 1_000_000); p.Memo = "x"; return p }(),
			} {
				t.Run(name, func(t *testing.T) {
					_, err := db.Post(ctx, p)
					assertCode(t, err, chorus.ECONFLICT)
				})
			}
			if got := mustBalance(t, db, team); got != before {
				t.Errorf("a conflicting replay moved credits: %+v, want %+v", got, before)
			}
		})

		t.Run("ErrInsufficient", func(t *testing.T) {
			poor := mustCreateTeam(t, db, "poor")
			mustPost(t, db, topUp("poor-1", poor, 100))
			_, err := db.Post(ctx, spend("poor-2", poor, 101))
			assertCode(t, err, chorus.EQUOTA)
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Type != "insufficient_quota" {
				t.Errorf("error %v, want type insufficient_quota", err)
			}
			if got := mustBalance(t, db, poor).Balance; got != 100 {
				t.Errorf("balance %d after a refused spend, want 100", got)
			}
			if _, err := db.PostingByKey(ctx, "poor-2"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("a refused posting was stored (err %v)", err)
			}
			// The key is still free: the same posting succeeds once the money is there.
			mustPost(t, db, topUp("poor-3", poor, 1))
			mustPost(t, db, spend("poor-2", poor, 101))
			if got := mustBalance(t, db, poor).Balance; got != 0 {
				t.Errorf("balance %d, want 0", got)
			}
		})

		t.Run("AllowNegative", func(t *testing.T) {
			neg := mustCreateTeam(t, db, "neg")
			p := spend("neg-1", neg, 300)
			p.AllowNegative = true
			mustPost(t, db, p)
			if got := mustBalance(t, db, neg).Balance; got != -300 {
				t.Errorf("balance %d, want -300", got)
			}
			// A credit to a negative wallet is fine; a further debit is not.
			mustPost(t, db, topUp("neg-2", neg, 100))
			_, err := db.Post(ctx, spend("neg-3", neg, 1))
			assertCode(t, err, chorus.EQUOTA)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			w := chorus.WalletAccount(team)
			for _, tt := range []struct {
				name  string
				p     *chorus.Posting
				param string
			}{
				{"KeyEmpty", topUp("", team, 1), "idempotency_key"},
				{"KeyLong", topUp(strings.Repeat("k", 201), team, 1), "idempotency_key"},
				{"KeyControl", topUp("a\nb", team, 1), "idempotency_key"},
				{"KeyInvalidUTF8", topUp("a\xffb", team, 1), "idempotency_key"},
				{"Kind", transfer("inv-kind", "gift", chorus.AccountPayments, w, 1), "kind"},
				{"MemoLong", func() *chorus.Posting { p := topUp("inv-memo", team, 1); p.Memo = strings.Repeat("é", 501); return p }(), "memo"},
				{"OneEntry", &chorus.Posting{IdempotencyKey: "inv-one", Kind: chorus.PostingGrant, Entries: []chorus.LedgerEntry{{Account: w, Amount: 1}}}, "entries"},
				{"ZeroAmount", transfer("inv-zero", chorus.PostingTopUp, chorus.AccountPayments, w, 0), "entries"},
				{"Unbalanced", &chorus.Posting{IdempotencyKey: "inv-unb", Kind: chorus.PostingTopUp, Entries: []chorus.LedgerEntry{
					{Account: chorus.AccountPayments, Amount: -2}, {Account: w, Amount: 1}}}, "entries"},
				{"Overflow", &chorus.Posting{IdempotencyKey: "inv-ovf", Kind: chorus.PostingTopUp, Entries: []chorus.LedgerEntry{
					{Account: chorus.AccountPayments, Amount: math.MaxInt64}, {Account: chorus.AccountRevenue, Amount: 2},
					{Account: w, Amount: math.MinInt64 + 2}}}, "entries"},
				{"MinInt", &chorus.Posting{IdempotencyKey: "inv-min", Kind: chorus.PostingTopUp, Entries: []chorus.LedgerEntry{
					{Account: chorus.AccountPayments, Amount: math.MinInt64}, {Account: chorus.AccountRevenue, Amount: math.MaxInt64},
					{Account: w, Amount: 1}}}, "entries"},
				{"UnknownSystem", transfer("inv-acct", chorus.PostingTopUp, "system:mint", w, 1), "entries"},
				{"BadWallet", transfer("inv-wallet", chorus.PostingTopUp, chorus.AccountPayments, "team:012", 1), "entries"},
				{"MissingTeam", topUp("inv-team", 999999, 1), "entries"},
				{"Duplicate", &chorus.Posting{IdempotencyKey: "inv-dup", Kind: chorus.PostingTopUp, Entries: []chorus.LedgerEntry{
					{Account: chorus.AccountPayments, Amount: -2}, {Account: w, Amount: 1}, {Account: w, Amount: 1}}}, "entries"},
				{"TwoWallets", transfer("inv-two", chorus.PostingGrant, chorus.WalletAccount(other), w, 1), "entries"},
				{"TeamNotInEntries", func() *chorus.Posting { p := topUp("inv-tid", team, 1); p.TeamID = other; return p }(), "team_id"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					before := mustBalance(t, db, team)
					_, err := db.Post(ctx, tt.p)
					assertCode(t, err, chorus.EINVALID)
					var ce *chorus.Error
					if !errors.As(err, &ce) || ce.Param != tt.param {
						t.Errorf("error %v, want param %q", err, tt.param)
					}
					if got := mustBalance(t, db, team); got != before {
						t.Errorf("an invalid posting moved credits: %+v, want %+v", got, before)
					}
				})
			}
		})

		t.Run("ErrBalanceOverflow", func(t *testing.T) {
			rich := mustCreateTeam(t, db, "rich")
			mustPost(t, db, transfer("rich-1", chorus.PostingGrant, chorus.AccountPromotions, chorus.WalletAccount(rich), math.MaxInt64-10))
			_, err := db.Post(ctx, topUp("rich-2", rich, 11))
			assertCode(t, err, chorus.EINVALID)
			if err == nil || !strings.Contains(err.Error(), "team:") {
				t.Errorf("error %v, want the wallet's overflow", err)
			}
			if got := mustBalance(t, db, rich).Balance; got != math.MaxInt64-10 {
				t.Errorf("balance %d, want MaxInt64-10", got)
			}
		})

		mustCheckLedger(t, db)
	})
}

// TestLedgerPostClock checks that a posting without a time is stamped by
// the store's clock, not the wall clock.
func TestLedgerPostClock(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		want := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
		db := MustOpenDB(t, b, withNow(func() time.Time { return want }))
		p := topUp("clock-1", mustCreateTeam(t, db, "a"), 10)
		mustPost(t, db, p)
		if got := p.CreatedAt; !got.Equal(want) {
			t.Errorf("CreatedAt %v, want the store's clock %v", got, want)
		}
		got, err := db.PostingByKey(context.Background(), "clock-1")
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(want) {
			t.Errorf("stored CreatedAt %v, want %v", got.CreatedAt, want)
		}
	})
}

func TestLedgerBalance(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		team := mustCreateTeam(t, db, "a")
		t.Run("NeverFunded", func(t *testing.T) {
			if got, want := mustBalance(t, db, team), (chorus.Balance{TeamID: team}); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.Balance(ctx, 424242)
			assertCode(t, err, chorus.ENOTFOUND)
		})
	})
}

// TestLedgerConcurrentDuplicate posts one key from many goroutines at once:
// exactly one posting is created, the others return it.
func TestLedgerConcurrentDuplicate(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		team := mustCreateTeam(t, db, "a")
		const n = 16
		var wg sync.WaitGroup
		created := make(chan int64, n)
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				p := topUp("dup", team, 7)
				ok, err := db.Post(ctx, p)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					created <- p.ID
				}
			})
		}
		wg.Wait()
		close(created)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := len(created); got != 1 {
			t.Errorf("%d postings created, want 1", got)
		}
		if got := mustBalance(t, db, team).Balance; got != 7 {
			t.Errorf("balance %d, want 7", got)
		}
		mustCheckLedger(t, db)
	})
}

func TestLedgerListPostings(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		db := MustOpenDB(t, b, withNow(func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Minute)
			return now
		}))
		a, c := mustCreateTeam(t, db, "a"), mustCreateTeam(t, db, "c")
		var aIDs []int64
		for i := range 12 {
			p := topUp(fmt.Sprintf("a-%d", i), a, 10)
			mustPost(t, db, p)
			aIDs = append(aIDs, p.ID)
			mustPost(t, db, topUp(fmt.Sprintf("c-%d", i), c, 10))
		}
		sp := spend("a-spend", a, 5)
		mustPost(t, db, sp)
		aIDs = append(aIDs, sp.ID)

		t.Run("TeamPaged", func(t *testing.T) {
			got := walk(t, 5, func(p *chorus.Posting) int64 { return p.ID }, func(pg chorus.Page) ([]*chorus.Posting, error) {
				return db.ListPostings(ctx, chorus.PostingFilter{TeamID: &a}, pg)
			})
			if !equalIDs(got, aIDs) {
				t.Errorf("got %v, want %v", got, aIDs)
			}
		})
		t.Run("Kind", func(t *testing.T) {
			got, err := db.ListPostings(ctx, chorus.PostingFilter{Kind: chorus.PostingSpend}, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != sp.ID || len(got[0].Entries) != 2 || got[0].Entries[0].Amount != -5 {
				t.Errorf("got %+v, want the one spend with its entries", got)
			}
		})
		t.Run("Window", func(t *testing.T) {
			all, err := db.ListPostings(ctx, chorus.PostingFilter{TeamID: &a}, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			since, until := all[2].CreatedAt, all[5].CreatedAt
			got, err := db.ListPostings(ctx, chorus.PostingFilter{TeamID: &a, Since: since, Until: until}, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{all[2].ID, all[3].ID, all[4].ID}; !equalIDs(ids(got), want) {
				t.Errorf("got %v, want %v", ids(got), want)
			}
		})
	})
}

func ids(ps []*chorus.Posting) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// ledgerModel is what the property test expects the ledger to hold: every
// posting that was created, by idempotency key.
type ledgerModel struct {
	mu       sync.Mutex
	postings map[string]*chorus.Posting
	keys     []string       // of postings, in the order they were created
	negative map[int64]bool // wallets an AllowNegative posting touched
}

func (m *ledgerModel) created(p *chorus.Posting) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.postings[p.IdempotencyKey]; dup {
		return fmt.Errorf("posting %q created twice", p.IdempotencyKey)
	}
	c := *p
	c.Entries = slices.Clone(p.Entries)
	m.postings[p.IdempotencyKey] = &c
	m.keys = append(m.keys, p.IdempotencyKey)
	if p.AllowNegative {
		m.negative[p.TeamID] = true
	}
	return nil
}

// pick returns a copy of a created posting, or nil when there is none yet.
func (m *ledgerModel) pick(r *rand.Rand) *chorus.Posting {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.keys) == 0 {
		return nil
	}
	p := *m.postings[m.keys[r.IntN(len(m.keys))]]
	p.Entries = slices.Clone(p.Entries)
	p.ID, p.CreatedAt, p.AllowNegative = 0, time.Time{}, false
	return &p
}

// balances returns the sum of the entries of every account.
func (m *ledgerModel) balances() map[string]int64 {
	out := map[string]int64{}
	for _, p := range m.postings {
		for _, e := range p.Entries {
			out[e.Account] += e.Amount
		}
	}
	return out
}

// TestLedgerProperty runs a random concurrent workload against the ledger
// and then checks every invariant against the database and a model of
// what succeeded. CHORUS_TEST_SEED replays a failing run.
func TestLedgerProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHORUS_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHORUS_TEST_SEED: %v", err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: rerun with CHORUS_TEST_SEED=%d", seed, seed)
		}
	})
	eachDB(t, func(t *testing.T, b backend) {
		const (
			workers  = 8
			opsEach  = 250
			nTeams   = 5
			nShared  = 24
			duration = 3 * time.Second
		)
		ctx := context.Background()
		dsn := b.newDSN(t)
		db := mustOpen(t, dsn)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		teams := make([]int64, nTeams)
		for i := range teams {
			teams[i] = mustCreateTeam(t, db, fmt.Sprintf("prop-%d", i))
		}
		batch := mustCreateBatch(t, db, chorus.CodeBatch{Count: 4, Amount: 700_000, MaxUses: 3})
		m := &ledgerModel{postings: map[string]*chorus.Posting{}, negative: map[int64]bool{}}
		var refused, replays, conflicts, redeemed atomic.Int64
		deadline := time.Now().Add(duration)

		// shared returns posting i of a small pool that every worker may
		// post: its content depends on i only, so concurrent posts of one
		// key must resolve to one posting.
		shared := func(i int) *chorus.Posting {
			return topUp(fmt.Sprintf("shared-%d", i), teams[i%nTeams], int64(i+1)*1000)
		}

		run := func(w int) {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for op := 0; op < opsEach && time.Now().Before(deadline); op++ {
				team := teams[r.IntN(nTeams)]
				wallet := chorus.WalletAccount(team)
				key := fmt.Sprintf("w%d-op%d", w, op)
				amount := 1 + r.Int64N(2_000_000)
				var p *chorus.Posting
				mayRefuse := false // EQUOTA is a correct answer
				switch k := r.IntN(100); {
				case k < 25:
					p = topUp(key, team, amount)
				case k < 55:
					p, mayRefuse = spend(key, team, amount), true
				case k < 62:
					p = transfer(key, chorus.PostingRefund, wallet, chorus.AccountRefunds, amount)
					p.AllowNegative = r.IntN(3) == 0
					mayRefuse = !p.AllowNegative
				case k < 70:
					if r.IntN(2) == 0 {
						amount = -amount
					}
					p = transfer(key, chorus.PostingGrant, chorus.AccountPromotions, wallet, amount)
					mayRefuse = amount < 0
				case k < 78:
					code := batch.Codes[r.IntN(len(batch.Codes))]
					got, err := db.Redeem(ctx, team, code)
					switch {
					case err == nil:
						redeemed.Add(1)
						if err := m.created(got); err != nil {
							t.Error(err)
						}
					case chorus.ErrorCode(err) != chorus.ECONFLICT:
						t.Errorf("redeem: %v", err)
					}
					continue
				case k < 86:
					p = shared(r.IntN(nShared))
				default:
					p = m.pick(r)
					if p == nil {
						continue
					}
					replays.Add(1)
					if r.IntN(3) == 0 { // changed content: must conflict
						for i := range p.Entries {
							p.Entries[i].Amount *= 2
						}
						_, err := db.Post(ctx, p)
						if chorus.ErrorCode(err) != chorus.ECONFLICT {
							t.Errorf("replay of %q with changed content: got %v, want ECONFLICT", p.IdempotencyKey, err)
						}
						conflicts.Add(1)
						continue
					}
					want := p.IdempotencyKey
					created, err := db.Post(ctx, p)
					if err != nil || created || p.ID == 0 {
						t.Errorf("replay of %q: created=%v ID=%d err=%v, want the first posting", want, created, p.ID, err)
					}
					continue
				}
				created, err := db.Post(ctx, p)
				switch {
				case err == nil && created:
					if err := m.created(p); err != nil {
						t.Error(err)
					}
				case err == nil && strings.HasPrefix(p.IdempotencyKey, "shared-"):
					// Another worker created it first.
				case mayRefuse && chorus.ErrorCode(err) == chorus.EQUOTA:
					refused.Add(1)
				default:
					t.Errorf("post %+v: created=%v err=%v", p, created, err)
				}
			}
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { run(w) })
		}
		wg.Wait()
		t.Logf("%d postings, %d refused for lack of credits, %d replays (%d with changed content), %d redemptions",
			len(m.postings), refused.Load(), replays.Load(), conflicts.Load(), redeemed.Load())
		if len(m.postings) == 0 || refused.Load() == 0 || replays.Load() == 0 {
			t.Errorf("the workload exercised too little: %d postings, %d refused, %d replays",
				len(m.postings), refused.Load(), replays.Load())
		}

		report := mustCheckLedger(t, db)
		if got, want := report.Postings, int64(len(m.postings)); got != want {
			t.Errorf("%d postings stored, %d created", got, want)
		}
		// Every stored posting is one that was created, with its content.
		stored := map[string]int64{}
		page := chorus.Page{Limit: chorus.MaxPageSize}
		for {
			ps, err := db.ListPostings(ctx, chorus.PostingFilter{}, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				var sum int64
				for _, e := range p.Entries {
					sum += e.Amount
					stored[e.Account] += e.Amount
				}
				if sum != 0 {
					t.Errorf("posting %q: entries sum to %d", p.IdempotencyKey, sum)
				}
				want := m.postings[p.IdempotencyKey]
				if want == nil || want.ID != p.ID || want.Kind != p.Kind || want.TeamID != p.TeamID ||
					fmt.Sprint(want.Entries) != fmt.Sprint(p.Entries) {
					t.Errorf("stored posting %+v, model %+v", p, want)
				}
			}
			if len(ps) < page.Limit {
				break
			}
			page.After = ps[len(ps)-1].ID
		}
		// Balances: the model's sums, the stored entries' sums and the
		// wallets agree; refused postings and replays moved nothing.
		want := m.balances()
		if fmt.Sprint(stored) != fmt.Sprint(want) {
			t.Errorf("entries per account %v, model %v", stored, want)
		}
		for _, team := range teams {
			got := mustBalance(t, db, team)
			if w := want[chorus.WalletAccount(team)]; got.Balance != w || got.Available != w {
				t.Errorf("team %d: balance %+v, model %d", team, got, w)
			}
			if got.Balance < 0 && !m.negative[team] {
				t.Errorf("team %d: balance %d below zero, and no AllowNegative posting touched it", team, got.Balance)
			}
		}
		for _, nw := range report.NegativeWallets {
			if !m.negative[nw.TeamID] {
				t.Errorf("negative wallet %+v without an AllowNegative posting", nw)
			}
		}
		checkRunningBalances(t, rawDB(t, b, dsn), m)
		batches, err := db.ListCodeBatches(ctx, chorus.Page{After: batch.ID - 1, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := batches[0].Uses; got != redeemed.Load() || got > int64(len(batch.Codes))*batch.MaxUses {
			t.Errorf("code uses %d, successful redemptions %d, limit %d", got, redeemed.Load(), int64(len(batch.Codes))*batch.MaxUses)
		}
	})
}

// checkRunningBalances replays every wallet's entries in the order they
// were applied and fails if one took the wallet below zero without
// AllowNegative. Entry IDs of one account are in the order of its balance
// updates: a posting inserts its entries after it has updated (on
// PostgreSQL, locked) every account it touches.
func checkRunningBalances(t *testing.T, raw *sql.DB, m *ledgerModel) {
	t.Helper()
	rows, err := raw.Query(`SELECT a.name, e.amount, p.idempotency_key FROM ledger_entries e
		JOIN ledger_accounts a ON a.id = e.account_id JOIN ledger_postings p ON p.id = e.posting_id
		WHERE a.team_id IS NOT NULL ORDER BY e.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	running := map[string]int64{}
	n := 0
	for rows.Next() {
		var name, key string
		var amount int64
		if err := rows.Scan(&name, &amount, &key); err != nil {
			t.Fatal(err)
		}
		n++
		running[name] += amount
		if p := m.postings[key]; amount < 0 && running[name] < 0 && (p == nil || !p.AllowNegative) {
			t.Errorf("posting %q took %s to %d without AllowNegative", key, name, running[name])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no wallet entries")
	}
}

// TestLedgerCheck breaks the ledger behind the store's back and expects
// CheckLedger to say so.
func TestLedgerCheck(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDSN(t)
		db := mustOpen(t, dsn)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		team := mustCreateTeam(t, db, "a")
		top := topUp("t1", team, 100)
		mustPost(t, db, top)
		mustPost(t, db, spend("t2", team, 40))
		r := mustCheckLedger(t, db)
		if r.Accounts != 3 || r.Postings != 2 || r.Entries != 4 || r.Total != 0 || len(r.NegativeWallets) != 0 {
			t.Errorf("report %+v", r)
		}
		raw := rawDB(t, b, dsn)
		rebind := func(q string) string {
			if b.name == store.DialectPostgres {
				for i := 1; strings.Contains(q, "?"); i++ {
					q = strings.Replace(q, "?", "$"+strconv.Itoa(i), 1)
				}
			}
			return q
		}
		for _, tt := range []struct {
			name, query string
			args        []any
			want        string
		}{
			{"Balance", `UPDATE ledger_accounts SET balance = balance - 1000 WHERE name = ?`, []any{chorus.WalletAccount(team)},
				fmt.Sprintf("account team:%d: balance -940, but its entries sum to 60", team)},
			{"Unbalanced", `UPDATE ledger_entries SET amount = amount + 1 WHERE posting_id = ? AND amount > 0`, []any{top.ID},
				fmt.Sprintf("posting %d: 2 entries summing to 1", top.ID)},
			{"NoEntries", `INSERT INTO ledger_postings (idempotency_key, kind, team_id, memo, ref, created_at) VALUES ('ghost', 'grant', 0, '', '', ?)`,
				[]any{"2026-01-01T00:00:00.000000Z"}, "has no entries"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := raw.Exec(rebind(tt.query), tt.args...); err != nil {
					t.Fatal(err)
				}
				r, err := db.CheckLedger(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r.OK || !strings.Contains(strings.Join(r.Problems, "\n"), tt.want) {
					t.Errorf("OK=%v problems %q, want one containing %q", r.OK, r.Problems, tt.want)
				}
			})
		}
		r, err := db.CheckLedger(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.NegativeWallets) != 1 || r.NegativeWallets[0].TeamID != team || r.NegativeWallets[0].Balance != -940 {
			t.Errorf("negative wallets %+v", r.NegativeWallets)
		}
		if r.Total != 1 {
			t.Errorf("total %d, want 1", r.Total)
		}
	})
}

// TestLedgerSystemShards: a system account is spread over shard rows by
// team, so different teams' postings do not queue on one row; entries read
// back name the account, and the shards sum to it.
func TestLedgerSystemShards(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.newDSN(t)
		db := mustOpen(t, dsn)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		var teams []int64
		for i := range 3 {
			team := mustCreateTeam(t, db, fmt.Sprintf("shard-%d-%s", i, randomHex(4)))
			teams = append(teams, team)
			mustPost(t, db, topUp(fmt.Sprintf("shard-top-%d", i), team, 1000))
			mustPost(t, db, spend(fmt.Sprintf("shard-spend-%d", i), team, 100*int64(i+1)))
		}
		ps, err := db.ListPostings(ctx, chorus.PostingFilter{Kind: chorus.PostingSpend}, chorus.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 3 {
			t.Fatalf("%d spend postings, want 3", len(ps))
		}
		for _, p := range ps {
			for _, e := range p.Entries {
				if e.Account != chorus.AccountRevenue && e.Account != chorus.WalletAccount(p.TeamID) {
					t.Errorf("posting %d: entry on %q, want %q or the wallet", p.ID, e.Account, chorus.AccountRevenue)
				}
			}
		}
		raw := rawDB(t, b, dsn)
		var rows, total int64
		if err := raw.QueryRow(`SELECT COUNT(*), COALESCE(SUM(balance), 0) FROM ledger_accounts WHERE name LIKE 'system:revenue%'`).Scan(&rows, &total); err != nil {
			t.Fatal(err)
		}
		want := map[int64]bool{}
		for _, team := range teams {
			want[team%16] = true
		}
		if rows != int64(len(want)) || total != 600 {
			t.Errorf("revenue: %d rows holding %d, want %d shard rows holding 600", rows, total, len(want))
		}
		mustCheckLedger(t, db)
	})
}
