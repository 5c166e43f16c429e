package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

func mustCreateBatch(tb testing.TB, db *store.DB, b chorus.CodeBatch) *chorus.CodeBatch {
	tb.Helper()
	if err := db.CreateCodeBatch(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return &b
}

// promotions returns the balance of the promotions account, as the sum of
// its entries in the ledger history.
func promotions(tb testing.TB, db *store.DB) int64 {
	tb.Helper()
	var sum int64
	page := chorus.Page{Limit: chorus.MaxPageSize}
	for {
		ps, err := db.ListPostings(context.Background(), chorus.PostingFilter{}, page)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range ps {
			for _, e := range p.Entries {
				if e.Account == chorus.AccountPromotions {
					sum += e.Amount
				}
			}
		}
		if len(ps) < page.Limit {
			return sum
		}
		page.After = ps[len(ps)-1].ID
	}
}

func TestCodeCreate(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		t.Run("OK", func(t *testing.T) {
			ctx := chorus.NewContextWithActor(ctx, chorus.Actor{UserID: 42})
			exp := time.Now().Add(time.Hour)
			batch := &chorus.CodeBatch{Count: 1234, Amount: 2_500_000, MaxUses: 3, ExpiresAt: &exp, Memo: "launch"}
			if err := db.CreateCodeBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if batch.ID == 0 || batch.CreatedAt.IsZero() || batch.CreatedBy != 42 {
				t.Errorf("batch %+v: ID, CreatedAt and CreatedBy must be set", batch)
			}
			shape := regexp.MustCompile(`^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}$`)
			seen := map[string]bool{}
			for _, c := range batch.Codes {
				if !shape.MatchString(c) {
					t.Errorf("code %q does not have the shape XXXX-XXXX-XXXX-XXXX", c)
				}
				if seen[c] {
					t.Errorf("code %q twice", c)
				}
				seen[c] = true
			}
			if got := len(batch.Codes); got != 1234 {
				t.Errorf("%d codes, want 1234 (three INSERTs)", got)
			}
			// A code of the last INSERT is stored as well as one of the first.
			team := mustCreateTeam(t, db, "create")
			for _, c := range []string{batch.Codes[0], batch.Codes[1233]} {
				if _, err := db.Redeem(ctx, team, c); err != nil {
					t.Errorf("redeem %s: %v", c, err)
				}
			}
			list, err := db.ListCodeBatches(ctx, chorus.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].ID != batch.ID || list[0].Count != 1234 || list[0].Amount != 2_500_000 ||
				list[0].MaxUses != 3 || list[0].Memo != "launch" || list[0].ExpiresAt == nil || len(list[0].Codes) != 0 || list[0].Uses != 2 {
				t.Errorf("listed %+v, want the batch without its codes", list)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			past := time.Now().Add(-time.Second)
			for _, tt := range []struct {
				name  string
				b     chorus.CodeBatch
				param string
			}{
				{"CountZero", chorus.CodeBatch{Count: 0, Amount: 1, MaxUses: 1}, "count"},
				{"CountLarge", chorus.CodeBatch{Count: chorus.MaxCodesPerBatch + 1, Amount: 1, MaxUses: 1}, "count"},
				{"AmountZero", chorus.CodeBatch{Count: 1, Amount: 0, MaxUses: 1}, "amount"},
				{"AmountNegative", chorus.CodeBatch{Count: 1, Amount: -5, MaxUses: 1}, "amount"},
				{"MaxUsesZero", chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 0}, "max_uses"},
				{"Expired", chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 1, ExpiresAt: &past}, "expires_at"},
				{"MemoLong", chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 1, Memo: strings.Repeat("m", 501)}, "memo"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					err := db.CreateCodeBatch(ctx, &tt.b)
					assertCode(t, err, chorus.EINVALID)
					if got := err.(*chorus.Error).Param; got != tt.param {
						t.Errorf("param %q, want %q", got, tt.param)
					}
				})
			}
		})
	})
}

func TestCodeRedeem(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		var mu sync.Mutex
		now := time.Now()
		db := MustOpenDB(t, b, withNow(func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		}))
		advance := func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(d)
		}
		a, c, d := mustCreateTeam(t, db, "a"), mustCreateTeam(t, db, "c"), mustCreateTeam(t, db, "d")

		t.Run("OK", func(t *testing.T) {
			batch := mustCreateBatch(t, db, chorus.CodeBatch{Count: 1, Amount: 3_000_000, MaxUses: 5, Memo: "welcome"})
			// Case, dashes and spaces do not matter.
			typed := " " + strings.ToLower(strings.ReplaceAll(batch.Codes[0], "-", " ")) + " "
			p, err := db.Redeem(ctx, a, typed)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != chorus.PostingRedemption || p.TeamID != a || p.Memo != "welcome" ||
				!strings.HasPrefix(p.IdempotencyKey, "code:") || !strings.HasSuffix(p.IdempotencyKey, fmt.Sprintf(":team:%d", a)) {
				t.Errorf("posting %+v", p)
			}
			if got := mustBalance(t, db, a).Balance; got != 3_000_000 {
				t.Errorf("balance %d, want 3000000", got)
			}
			t.Run("ErrAgain", func(t *testing.T) {
				_, err := db.Redeem(ctx, a, batch.Codes[0])
				assertCode(t, err, chorus.ECONFLICT)
				if !strings.Contains(chorus.ErrorMessage(err), "already redeemed") {
					t.Errorf("message %q", chorus.ErrorMessage(err))
				}
				if got := mustBalance(t, db, a).Balance; got != 3_000_000 {
					t.Errorf("balance %d after a second redemption, want 3000000", got)
				}
			})
		})

		t.Run("ErrUsedUp", func(t *testing.T) {
			batch := mustCreateBatch(t, db, chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 2})
			for _, team := range []int64{a, c} {
				if _, err := db.Redeem(ctx, team, batch.Codes[0]); err != nil {
					t.Fatal(err)
				}
			}
			_, err := db.Redeem(ctx, d, batch.Codes[0])
			assertCode(t, err, chorus.ECONFLICT)
			if !strings.Contains(chorus.ErrorMessage(err), "fully redeemed") {
				t.Errorf("message %q", chorus.ErrorMessage(err))
			}
			list, err := db.ListCodeBatches(ctx, chorus.Page{After: batch.ID - 1, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := list[0].Uses; got != 2 {
				t.Errorf("uses %d, want 2", got)
			}
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			expiring := mustCreateBatch(t, db, chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 9, ExpiresAt: ptr(now.Add(time.Hour))})
			disabled := mustCreateBatch(t, db, chorus.CodeBatch{Count: 1, Amount: 1, MaxUses: 9})
			if err := db.DisableCodeBatch(ctx, disabled.ID); err != nil {
				t.Fatal(err)
			}
			if err := db.DisableCodeBatch(ctx, disabled.ID); err != nil {
				t.Errorf("disabling twice: %v", err)
			}
			assertCode(t, db.DisableCodeBatch(ctx, 999999), chorus.ENOTFOUND)
			advance(time.Hour)
			before := mustBalance(t, db, d)
			for name, code := range map[string]string{
				"Unknown":  "2345-6789-ABCD-EFGH",
				"Shape":    "not a code",
				"Empty":    "",
				"Expired":  expiring.Codes[0],
				"Disabled": disabled.Codes[0],
			} {
				t.Run(name, func(t *testing.T) {
					_, err := db.Redeem(ctx, d, code)
					assertCode(t, err, chorus.EINVALID)
					if got, want := chorus.ErrorMessage(err), "code is invalid or expired"; got != want {
						t.Errorf("message %q, want %q (the same for every invalid code)", got, want)
					}
				})
			}
			if got := mustBalance(t, db, d); got != before {
				t.Errorf("balance %+v after invalid codes, want %+v", got, before)
			}
		})
		mustCheckLedger(t, db)
	})
}

// TestCodeRedeemConcurrent redeems one code from many goroutines at once.
func TestCodeRedeemConcurrent(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		db := MustOpenDB(t, b)
		const amount = 1_234_567
		t.Run("ManyTeams", func(t *testing.T) {
			batch := mustCreateBatch(t, db, chorus.CodeBatch{Count: 1, Amount: amount, MaxUses: 10})
			teams := make([]int64, 40)
			for i := range teams {
				teams[i] = mustCreateTeam(t, db, fmt.Sprintf("many-%d", i))
			}
			before := promotions(t, db)
			ok, usedUp := redeemAll(t, db, teams, batch.Codes[0], "fully redeemed")
			if ok != 10 || usedUp != 30 {
				t.Errorf("%d redemptions succeeded and %d were refused as used up, want 10 and 30", ok, usedUp)
			}
			if got, want := before-promotions(t, db), int64(10*amount); got != want {
				t.Errorf("promotions moved %d, want %d", got, want)
			}
		})
		t.Run("OneTeam", func(t *testing.T) {
			batch := mustCreateBatch(t, db, chorus.CodeBatch{Count: 1, Amount: amount, MaxUses: 10})
			team := mustCreateTeam(t, db, "one")
			teams := make([]int64, 20)
			for i := range teams {
				teams[i] = team
			}
			ok, again := redeemAll(t, db, teams, batch.Codes[0], "already redeemed")
			if ok != 1 || again != 19 {
				t.Errorf("%d redemptions succeeded and %d were refused as repeats, want 1 and 19", ok, again)
			}
			if got := mustBalance(t, db, team).Balance; got != amount {
				t.Errorf("balance %d, want %d", got, amount)
			}
		})
		mustCheckLedger(t, db)
	})
}

// redeemAll redeems code for each team at once and counts successes and
// ECONFLICT refusals whose message contains refusal; any other error fails
// the test.
func redeemAll(t *testing.T, db *store.DB, teams []int64, code, refusal string) (ok, refused int) {
	t.Helper()
	var nOK, nRefused atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, team := range teams {
		wg.Go(func() {
			<-start
			_, err := db.Redeem(context.Background(), team, code)
			switch {
			case err == nil:
				nOK.Add(1)
			case chorus.ErrorCode(err) == chorus.ECONFLICT && strings.Contains(chorus.ErrorMessage(err), refusal):
				nRefused.Add(1)
			default:
				t.Errorf("team %d: %v", team, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(nOK.Load()), int(nRefused.Load())
}
