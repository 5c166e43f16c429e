package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// strictHold is a step that holds amount on team's wallet under ref.
func strictHold(ref string, team, amount int64, exp time.Time) chorus.StrictOp {
	return chorus.StrictOp{Hold: &chorus.HoldSpec{Ref: ref, TeamID: team, Owner: "i1", Wallet: amount, ExpiresAt: exp}}
}

// strictSettle is a step that settles ref at cost, with rec (nil for none).
func strictSettle(ref string, team, cost int64, rec *chorus.Usage) chorus.StrictOp {
	return chorus.StrictOp{Settle: &chorus.StrictSettlement{Key: ref, Record: rec,
		Charge: chorus.Charge{TeamID: team, Ref: "req-" + ref, Requests: 1, Cost: cost, Bill: cost, Hold: ref}}}
}

func mustStrict(tb testing.TB, db *store.DB, ops ...chorus.StrictOp) []chorus.StrictOutcome {
	tb.Helper()
	outs, err := db.StrictCommit(context.Background(), ops)
	if err != nil {
		tb.Fatal(err)
	}
	if len(outs) != len(ops) {
		tb.Fatalf("%d outcomes for %d steps", len(outs), len(ops))
	}
	return outs
}

func TestStrictCommit(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		team := fundedTeam(t, db, "strict", 1000)
		exp := clk.now().Add(time.Minute)

		t.Run("RefusedAlone", func(t *testing.T) {
			// In order against the wallet: 600 fits, the next 600 does not
			// (refused alone), 300 still fits.
			outs := mustStrict(t, db, strictHold("a", team, 600, exp), strictHold("b", team, 600, exp), strictHold("c", team, 300, exp))
			if outs[0].Err != nil || outs[2].Err != nil {
				t.Fatalf("outcomes = %+v, want a and c held", outs)
			}
			wantQuota(t, outs[1].Err)
			if outs[2].Balance.Available != 100 {
				t.Errorf("c's balance = %+v, want 100 available after it", outs[2].Balance)
			}
			if got := mustBalance(t, db, team); got.Balance != 1000 || got.Reserved != 900 {
				t.Errorf("wallet = %+v, want 1000 with 900 reserved", got)
			}
		})
		t.Run("InvalidAlone", func(t *testing.T) {
			outs := mustStrict(t, db, chorus.StrictOp{}, strictHold("d", team, 100, exp))
			assertCode(t, outs[0].Err, chorus.EINVALID)
			if outs[1].Err != nil {
				t.Fatalf("a valid hold beside an invalid step: %v", outs[1].Err)
			}
			mustStrict(t, db, strictSettle("d", team, 0, nil)) // frees it again
		})
		rec := usageRecord(7, 1, 1, clk.now())
		rec.Key, rec.TeamID, rec.Cost = "rec-a", team, 250
		t.Run("SettleWithRecord", func(t *testing.T) {
			// a and c settle in the same transaction as a new hold placed
			// after them, which needs the credit they free.
			outs := mustStrict(t, db, strictSettle("a", team, 250, &rec), strictSettle("c", team, 0, nil), strictHold("e", team, 700, exp))
			if !outs[0].Applied || outs[0].Charged != 250 || !outs[1].Applied || outs[2].Err != nil {
				t.Fatalf("outcomes = %+v, want a charged 250, c settled, e held", outs)
			}
			if got := mustBalance(t, db, team); got.Balance != 750 || got.Reserved != 700 {
				t.Errorf("wallet = %+v, want 750 with e's 700 reserved", got)
			}
			us, err := db.ListUsage(ctx, chorus.UsageFilter{TeamID: &team}, chorus.Page{})
			if err != nil || len(us) != 1 || us[0].Cost != 250 || us[0].RequestID != rec.RequestID {
				t.Fatalf("usage = %+v, %v; want a's record of cost 250", us, err)
			}
			mustStrict(t, db, strictSettle("e", team, 0, nil))
		})
		t.Run("WriterCompletesRecord", func(t *testing.T) {
			// The usage writer's later write of the record: the fields known
			// at the end change, what was charged does not.
			end := rec
			end.LatencyMS, end.Status, end.ErrorCode, end.ResponseID, end.Cost, end.OutputTokens = 99.5, 499, "canceled", "chatcmpl-end", 1, 1
			if err := db.InsertUsage(ctx, []chorus.Usage{end}); err != nil {
				t.Fatal(err)
			}
			us, err := db.ListUsage(ctx, chorus.UsageFilter{TeamID: &team}, chorus.Page{})
			if err != nil || len(us) != 1 {
				t.Fatalf("usage = %+v, %v; want one record", us, err)
			}
			got := us[0]
			if got.LatencyMS != 99.5 || got.Status != 499 || got.ErrorCode != "canceled" || got.ResponseID != "chatcmpl-end" {
				t.Errorf("record = %+v, want the end's latency, status, error and response ID", got)
			}
			if got.Cost != 250 || got.OutputTokens != rec.OutputTokens {
				t.Errorf("record cost %d, output tokens %d; want the settlement's %d and %d", got.Cost, got.OutputTokens, 250, rec.OutputTokens)
			}
		})
		t.Run("Replay", func(t *testing.T) {
			// A step written again (a retry after a commit whose outcome was
			// lost) changes nothing.
			outs := mustStrict(t, db, strictSettle("a", team, 250, &rec), strictHold("f", team, 100, exp))
			if outs[0].Applied || outs[0].Charged != 0 {
				t.Errorf("replayed settlement = %+v, want not applied", outs[0])
			}
			outs = mustStrict(t, db, strictHold("f", team, 100, exp))
			if outs[0].Err != nil {
				t.Fatalf("replayed hold: %v", outs[0].Err)
			}
			if got := mustBalance(t, db, team); got.Balance != 750 || got.Reserved != 100 {
				t.Errorf("wallet = %+v, want 750 with f's 100 reserved once", got)
			}
			ps, err := db.ListPostings(ctx, chorus.PostingFilter{TeamID: &team, Kind: chorus.PostingSpend}, chorus.Page{})
			if err != nil || len(ps) != 1 {
				t.Errorf("spend postings = %d, %v; want 1", len(ps), err)
			}
			if n, err := db.CountUsage(ctx); err != nil || n != 1 {
				t.Errorf("usage records = %d, %v; want 1", n, err)
			}
			mustStrict(t, db, strictSettle("f", team, 0, nil))
		})
		t.Run("Uncollected", func(t *testing.T) {
			// A request that cost more than its hold pays what is free.
			outs := mustStrict(t, db, strictHold("g", team, 100, exp), strictHold("h", team, 600, exp))
			if outs[0].Err != nil || outs[1].Err != nil {
				t.Fatal(outs)
			}
			outs = mustStrict(t, db, strictSettle("g", team, 400, nil))
			if outs[0].Charged != 150 {
				t.Errorf("charged %d, want 150: g's 100 and the 50 nobody holds", outs[0].Charged)
			}
			_, cost, charged, err := db.SettlementTotals(ctx, team)
			if err != nil || cost != 650 || charged != 400 {
				t.Errorf("settlements: cost %d, charged %d (%v); want 650 and 400", cost, charged, err)
			}
			mustStrict(t, db, strictSettle("h", team, 0, nil))
		})
		t.Run("Budgets", func(t *testing.T) {
			hard := &chorus.Budget{Scope: chorus.BudgetTeam, TeamID: team, Period: chorus.PeriodDay, Amount: 300, Hard: true}
			soft := &chorus.Budget{Scope: chorus.BudgetTeam, TeamID: team, Period: chorus.PeriodDay, Amount: 100}
			for _, bud := range []*chorus.Budget{hard, soft} {
				if _, err := db.CreateBudget(ctx, bud); err != nil {
					t.Fatal(err)
				}
			}
			day := chorus.PeriodStart(chorus.PeriodDay, clk.now())
			hold := func(ref string, amount int64) chorus.StrictOp {
				op := strictHold(ref, team, amount, exp)
				op.Hold.Budgets = []chorus.BudgetHold{{BudgetID: hard.ID, PeriodStart: day, Amount: amount}}
				return op
			}
			outs := mustStrict(t, db, hold("i", 200), hold("j", 200), hold("k", 100))
			if outs[0].Err != nil || outs[2].Err != nil {
				t.Fatalf("outcomes = %+v, want i and k held", outs)
			}
			wantQuota(t, outs[1].Err)
			settle := func(ref string, cost int64) chorus.StrictOp {
				op := strictSettle(ref, team, cost, nil)
				op.Settle.Charge.Spend = []chorus.BudgetSpend{{BudgetID: hard.ID, PeriodStart: day, Amount: cost}, {BudgetID: soft.ID, PeriodStart: day, Amount: cost}}
				return op
			}
			outs = mustStrict(t, db, settle("i", 60), settle("k", 60))
			if outs[0].Alerts != 0 || outs[1].Alerts != 1 {
				t.Errorf("alerts = %d and %d, want the soft budget's one alert on the settlement that reached it", outs[0].Alerts, outs[1].Alerts)
			}
			got, err := db.BudgetByID(ctx, hard.ID, 0)
			if err != nil || got.Spent != 120 || got.Reserved != 0 {
				t.Errorf("hard budget = %+v, %v; want 120 spent, nothing reserved", got, err)
			}
			if es, err := db.ListEvents(ctx, chorus.EventFilter{TeamID: &team}, chorus.Page{}); err != nil || len(es) != 1 {
				t.Errorf("events = %d, %v; want 1", len(es), err)
			}
		})
		if r, err := db.CheckLedger(ctx); err != nil || !r.OK {
			t.Errorf("ledger check = %+v, %v", r, err)
		}
		if got := mustBalance(t, db, team); got.Reserved != 0 {
			t.Errorf("reserved = %d at the end, want 0", got.Reserved)
		}
	})
}
