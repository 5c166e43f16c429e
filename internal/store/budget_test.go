package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestPeriodStart(t *testing.T) {
	at := time.Date(2030, 2, 28, 23, 59, 59, 0, time.FixedZone("east", 3*3600)) // 20:59:59 UTC
	tests := []struct {
		period string
		want   time.Time
	}{
		{chorus.PeriodDay, time.Date(2030, 2, 28, 0, 0, 0, 0, time.UTC)},
		{chorus.PeriodMonth, time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.period, func(t *testing.T) {
			if got := chorus.PeriodStart(tt.period, at); !got.Equal(tt.want) {
				t.Errorf("PeriodStart(%s, %v) = %v, want %v", tt.period, at, got, tt.want)
			}
		})
	}
}

func TestBudgetCRUD(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		u := mustCreateUser(t, db, "budget@example.com")
		other := mustCreateUser(t, db, "other@example.com")
		key := mustCreateKey(t, db, u.ID, "sk-budget-key-secret")

		t.Run("Validation", func(t *testing.T) {
			tests := []struct {
				name  string
				b     chorus.Budget
				param string
			}{
				{"BadScope", chorus.Budget{Scope: "org", ScopeID: 1, Period: "day", Amount: 1}, "scope"},
				{"NoUser", chorus.Budget{Scope: "user", Period: "day", Amount: 1}, "scope_id"},
				{"BadPeriod", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "week", Amount: 1}, "period"},
				{"ZeroAmount", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "day"}, "amount"},
				{"HugeAmount", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "day", Amount: chorus.MaxBudgetAmount + 1}, "amount"},
				{"HookOnHard", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "day", Amount: 1, Hard: true, WebhookURL: "https://x.test/h"}, "webhook_url"},
				{"HookNotHTTP", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "day", Amount: 1, WebhookURL: "ftp://x.test/h"}, "webhook_url"},
				{"HookWithCredentials", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "day", Amount: 1, WebhookURL: "https://a:b@x.test/h"}, "webhook_url"},
				{"HookTooLong", chorus.Budget{Scope: "team", TeamID: u.TeamID, Period: "day", Amount: 1, WebhookURL: "https://x.test/" + strings.Repeat("a", 2048)}, "webhook_url"},
				{"OtherTeamsUser", chorus.Budget{Scope: "user", ScopeID: other.ID, TeamID: u.TeamID, Period: "day", Amount: 1}, "scope_id"},
				{"UnknownKey", chorus.Budget{Scope: "key", ScopeID: 99999, Period: "day", Amount: 1}, "scope_id"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					b := tt.b
					_, err := db.CreateBudget(ctx, &b)
					var e *chorus.Error
					if chorus.ErrorCode(err) != chorus.EINVALID || !asError(err, &e) || e.Param != tt.param {
						t.Fatalf("got %v, want EINVALID about %s", err, tt.param)
					}
				})
			}
			if bs, err := db.ListBudgets(ctx, chorus.BudgetFilter{}, chorus.Page{}); err != nil || len(bs) != 0 {
				t.Fatalf("budgets after refused creations = %v, %v; want none", bs, err)
			}
		})

		var teamBudget, keyBudget chorus.Budget
		t.Run("Create", func(t *testing.T) {
			teamBudget = chorus.Budget{Scope: chorus.BudgetTeam, TeamID: u.TeamID, Period: chorus.PeriodMonth, Amount: 5_000_000, WebhookURL: "https://hooks.example.com/b"}
			secret, err := db.CreateBudget(ctx, &teamBudget)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
				t.Errorf("secret = %q, want a whsec_ secret", secret)
			}
			if teamBudget.ID == 0 || teamBudget.ScopeID != u.TeamID || teamBudget.TeamID != u.TeamID {
				t.Errorf("budget = %+v, want an ID and the team as its scope", teamBudget)
			}
			keyBudget = chorus.Budget{Scope: chorus.BudgetKey, ScopeID: key.ID, Period: chorus.PeriodDay, Amount: 1000, Hard: true}
			if secret, err := db.CreateBudget(ctx, &keyBudget); err != nil || secret != "" {
				t.Fatalf("create = %q, %v; want no secret without a URL", secret, err)
			}
			if keyBudget.TeamID != u.TeamID {
				t.Errorf("key budget's team = %d, want the key's team %d", keyBudget.TeamID, u.TeamID)
			}
		})
		t.Run("ErrDuplicate", func(t *testing.T) {
			dup := chorus.Budget{Scope: chorus.BudgetKey, ScopeID: key.ID, Period: chorus.PeriodDay, Amount: 5, Hard: true}
			_, err := db.CreateBudget(ctx, &dup)
			assertCode(t, err, chorus.ECONFLICT)
		})
		t.Run("Update", func(t *testing.T) {
			amount := int64(7_000_000)
			got, secret, err := db.UpdateBudget(ctx, teamBudget.ID, u.TeamID, chorus.BudgetChange{Amount: &amount, RotateSecret: true})
			if err != nil {
				t.Fatal(err)
			}
			if got.Amount != amount || !strings.HasPrefix(secret, "whsec_") {
				t.Errorf("updated = %+v with secret %q, want amount %d and a new secret", got, secret, amount)
			}
			_, _, err = db.UpdateBudget(ctx, teamBudget.ID, other.TeamID, chorus.BudgetChange{Amount: &amount})
			assertCode(t, err, chorus.ENOTFOUND)
			zero := int64(0)
			_, _, err = db.UpdateBudget(ctx, teamBudget.ID, 0, chorus.BudgetChange{Amount: &zero})
			assertCode(t, err, chorus.EINVALID)
		})
		t.Run("ListAndGet", func(t *testing.T) {
			mine, err := db.ListBudgets(ctx, chorus.BudgetFilter{TeamID: &u.TeamID}, chorus.Page{Limit: 1})
			if err != nil || len(mine) != 1 || mine[0].ID != teamBudget.ID {
				t.Fatalf("first page = %v, %v; want the team budget", mine, err)
			}
			next, err := db.ListBudgets(ctx, chorus.BudgetFilter{TeamID: &u.TeamID}, chorus.Page{After: mine[0].ID, Limit: 5})
			if err != nil || len(next) != 1 || next[0].ID != keyBudget.ID {
				t.Fatalf("second page = %v, %v; want the key budget", next, err)
			}
			if none, err := db.ListBudgets(ctx, chorus.BudgetFilter{TeamID: &other.TeamID}, chorus.Page{}); err != nil || len(none) != 0 {
				t.Fatalf("other team's budgets = %v, %v; want none", none, err)
			}
			_, err = db.BudgetByID(ctx, keyBudget.ID, other.TeamID)
			assertCode(t, err, chorus.ENOTFOUND)
		})
		t.Run("Delete", func(t *testing.T) {
			assertCode(t, db.DeleteBudget(ctx, keyBudget.ID, other.TeamID), chorus.ENOTFOUND)
			if err := db.DeleteBudget(ctx, keyBudget.ID, u.TeamID); err != nil {
				t.Fatal(err)
			}
			_, err := db.BudgetByID(ctx, keyBudget.ID, 0)
			assertCode(t, err, chorus.ENOTFOUND)
		})
		t.Run("Audited", func(t *testing.T) {
			es, err := db.ListAudit(ctx, chorus.AuditFilter{Action: chorus.AuditBudgetChanged}, chorus.AuditPage{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			var ops []string
			for _, e := range es {
				var d struct {
					Op string `json:"op"`
				}
				_ = json.Unmarshal(e.Details, &d)
				ops = append(ops, d.Op)
				if strings.Contains(string(e.Details), "whsec_") {
					t.Errorf("audit entry %d holds a webhook secret: %s", e.Seq, e.Details)
				}
			}
			if got := strings.Join(ops, ","); got != "deleted,updated,created,created" { // newest first
				t.Errorf("audited ops = %s, want deleted,updated,created,created", got)
			}
		})
	})
}

func asError(err error, target **chorus.Error) bool {
	e, ok := err.(*chorus.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestBudgetSpendAndAlerts(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		u := mustCreateUser(t, db, "spend@example.com")
		team := u.TeamID
		mustPost(t, db, topUp("fund", team, 1_000_000))
		soft := chorus.Budget{Scope: chorus.BudgetUser, ScopeID: u.ID, Period: chorus.PeriodDay, Amount: 1000, WebhookURL: "https://hooks.example.com/x"}
		secret, err := db.CreateBudget(ctx, &soft)
		if err != nil {
			t.Fatal(err)
		}
		hard := chorus.Budget{Scope: chorus.BudgetTeam, TeamID: team, Period: chorus.PeriodMonth, Amount: 3000, Hard: true}
		if _, err := db.CreateBudget(ctx, &hard); err != nil {
			t.Fatal(err)
		}
		day := func() time.Time { return chorus.PeriodStart(chorus.PeriodDay, clk.now()) }
		month := func() time.Time { return chorus.PeriodStart(chorus.PeriodMonth, clk.now()) }
		n := 0
		request := func(worst, cost int64) error {
			n++
			ref := "r" + string(rune('a'+n)) + ".x"
			err := db.Hold(ctx, chorus.HoldSpec{Ref: ref, TeamID: team, Owner: "i", Wallet: worst, ExpiresAt: clk.now().Add(time.Hour),
				Budgets: []chorus.BudgetHold{{BudgetID: hard.ID, PeriodStart: month(), Amount: worst}}})
			if err != nil {
				return err
			}
			_, err = db.Settle(ctx, ref, []chorus.Charge{{TeamID: team, Ref: ref, Requests: 1, Cost: cost, Bill: cost, Hold: ref,
				Spend: []chorus.BudgetSpend{{BudgetID: soft.ID, PeriodStart: day(), Amount: cost}, {BudgetID: hard.ID, PeriodStart: month(), Amount: cost}}}})
			return err
		}
		events := func() []*chorus.Event {
			es, err := db.ListEvents(ctx, chorus.EventFilter{TeamID: &team}, chorus.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return es
		}

		t.Run("BelowSoftNoAlert", func(t *testing.T) {
			if err := request(800, 600); err != nil {
				t.Fatal(err)
			}
			if es := events(); len(es) != 0 {
				t.Errorf("events = %v, want none below the budget", es)
			}
		})
		t.Run("CrossingSoftAlertsOnce", func(t *testing.T) {
			for range 2 {
				if err := request(800, 500); err != nil {
					t.Fatal(err)
				}
			}
			es := events()
			if len(es) != 1 || es[0].Type != chorus.EventBudgetExceeded || es[0].BudgetID != soft.ID {
				t.Fatalf("events = %+v, want one budget.exceeded of budget %d", es, soft.ID)
			}
			var a chorus.BudgetAlert
			if err := json.Unmarshal(es[0].Data, &a); err != nil || a.Spent != 1100 || a.Amount != 1000 || a.Scope != chorus.BudgetUser {
				t.Errorf("alert = %+v (%v), want spent 1100 of 1000 on the user", a, err)
			}
			if w := es[0].Webhook; w == nil || w.Status != chorus.DeliveryPending {
				t.Errorf("webhook = %+v, want a pending delivery", w)
			}
		})
		t.Run("HardRefuses", func(t *testing.T) {
			// The month's hard budget: 1600 spent of 3000.
			err := request(1401, 100)
			wantQuota(t, err)
			if !strings.Contains(chorus.ErrorMessage(err), "budget") {
				t.Errorf("message %q does not name the budget", chorus.ErrorMessage(err))
			}
			if got := mustBalance(t, db, team); got.Reserved != 0 {
				t.Errorf("reserved = %d after a refusal, want 0 (all or nothing)", got.Reserved)
			}
			if err := request(1400, 100); err != nil {
				t.Errorf("a request that fits the budget: %v", err)
			}
			got, err := db.BudgetByID(ctx, hard.ID, team)
			if err != nil {
				t.Fatal(err)
			}
			if got.Spent != 1700 || got.Reserved != 0 {
				t.Errorf("hard budget = spent %d reserved %d, want 1700 and 0", got.Spent, got.Reserved)
			}
		})
		t.Run("NextDayAlertsAgain", func(t *testing.T) {
			clk.add(24 * time.Hour)
			if err := request(1200, 1000); err != nil {
				t.Fatal(err)
			}
			if es := events(); len(es) != 2 {
				t.Errorf("%d events, want a second alert on the next day", len(es))
			}
		})
		t.Run("Deliveries", func(t *testing.T) {
			ds, err := db.ClaimDeliveries(ctx, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 2 || ds[0].Attempt != 1 || ds[0].Secret != secret || ds[0].URL != soft.WebhookURL || ds[0].Event.Type != chorus.EventBudgetExceeded {
				t.Fatalf("claimed %+v, want 2 first attempts with the budget's secret", ds)
			}
			if again, err := db.ClaimDeliveries(ctx, 10, time.Minute); err != nil || len(again) != 0 {
				t.Fatalf("claimed again = %v, %v; want nothing while claimed", again, err)
			}
			if err := db.FinishDelivery(ctx, ds[0].ID, chorus.DeliveryResult{Status: 200, Delivered: true}); err != nil {
				t.Fatal(err)
			}
			if err := db.FinishDelivery(ctx, ds[1].ID, chorus.DeliveryResult{Status: 500, Error: "HTTP 500", Retry: clk.now().Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
			clk.add(2 * time.Second)
			retry, err := db.ClaimDeliveries(ctx, 10, time.Minute)
			if err != nil || len(retry) != 1 || retry[0].ID != ds[1].ID || retry[0].Attempt != 2 {
				t.Fatalf("retry = %+v, %v; want the failed delivery's second attempt", retry, err)
			}
			if err := db.FinishDelivery(ctx, retry[0].ID, chorus.DeliveryResult{Status: 500, Error: "HTTP 500"}); err != nil {
				t.Fatal(err)
			}
			es := events()
			if es[0].Webhook.Status != chorus.DeliveryDelivered || es[1].Webhook.Status != chorus.DeliveryFailed || es[1].Webhook.Attempts != 2 {
				t.Errorf("webhooks = %+v, %+v; want delivered, and failed after 2 attempts", es[0].Webhook, es[1].Webhook)
			}
		})
		mustCheckLedger(t, db)
	})
}
