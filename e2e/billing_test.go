package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/webhook"
)

// billedGateway is a gateway with billing on in mode (SQLite), webhooks to
// loopback allowed.
func billedGateway(t *testing.T, mode string) *gateway {
	t.Helper()
	return startGateway(t, func(c *config.Config) {
		c.Billing.Mode = mode
		c.Billing.Webhook.AllowPrivate = true
		c.Billing.Webhook.Poll = 50 * time.Millisecond
		c.Billing.Webhook.Backoff = 50 * time.Millisecond
		c.Billing.BudgetRefresh = 200 * time.Millisecond
	})
}

// fund grants a team micro-credits.
func (g *gateway) fund(team, amount int64) {
	g.t.Helper()
	if _, err := g.App.DB.Post(context.Background(), &chorus.Posting{IdempotencyKey: g.unique("fund"), Kind: chorus.PostingGrant,
		Entries: []chorus.LedgerEntry{{Account: chorus.AccountPromotions, Amount: -amount}, {Account: chorus.WalletAccount(team), Amount: amount}}}); err != nil {
		g.t.Fatal(err)
	}
}

// charged returns what the team's wallet has paid for requests.
func (g *gateway) charged(team int64) int64 {
	g.t.Helper()
	_, _, c, err := g.App.DB.SettlementTotals(context.Background(), team)
	if err != nil {
		g.t.Fatal(err)
	}
	return c
}

// waitCharged polls until the team has paid want in all.
func (g *gateway) waitCharged(team, want int64) {
	g.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := g.charged(team)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("team %d paid %d, want %d", team, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// budgetFixture creates a budget of u's team (on a fresh key of u's, so
// fixtures never collide) and returns its ID.
func (g *gateway) budgetFixture(u *chorus.User) int64 {
	g.t.Helper()
	k := g.createKey(keySpec{Name: "budget", UserID: u.ID})
	b := &chorus.Budget{Scope: chorus.BudgetKey, ScopeID: k.ID, Period: chorus.PeriodDay, Amount: 1_000_000}
	if _, err := g.App.DB.CreateBudget(context.Background(), b); err != nil {
		g.t.Fatal(err)
	}
	return b.ID
}

// simCost is what the simulated models of gateway.simulated charge.
func simCost(in, out int64) int64 { return chorus.RequestCost(in, out, 1_000_000, 2_000_000) }

func TestBillingModes(t *testing.T) {
	for _, mode := range []string{config.BillingStrict, config.BillingFast} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			g := billedGateway(t, mode)
			g.simulated("sim", map[string]any{"output_tokens": 20, "tokens_per_second": 5000})
			g.simulated("slow", map[string]any{"output_tokens": 400, "tokens_per_second": 100})
			emb := g.createModel(modelSpec{Name: "emb", Kind: chorus.KindEmbedding})
			g.createDeployment(deploymentSpec{ModelID: emb.ID, Name: "emb-sim", Provider: chorus.ProviderSimulator, InputPrice: 1_000_000})
			c := g.customer()
			ctx := testContext(t, 60*time.Second)
			var paid int64 // what c's team has paid so far

			t.Run("NoCredits", func(t *testing.T) {
				_, err := g.openAI(c.Key).Chat.Completions.New(ctx, chatParams("sim", "hi"))
				e := wantOpenAIError(t, err, http.StatusPaymentRequired, "insufficient_quota", "insufficient_quota")
				if !strings.Contains(e.Message, "credits available") {
					t.Errorf("message %q does not say what is available", e.Message)
				}
				_, err = g.anthropic(c.Key).Messages.New(ctx, anthropic.MessageNewParams{Model: "sim", MaxTokens: 50,
					Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
				wantAnthropicError(t, err, http.StatusPaymentRequired, "billing_error")
			})
			g.fund(c.TeamID, 1_000_000)

			t.Run("Charged", func(t *testing.T) {
				r := g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "sim", "messages": []map[string]string{{"role": "user", "content": "hi"}}})
				if r.Status != http.StatusOK {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				var cc openai.ChatCompletion
				if err := json.Unmarshal(r.Body, &cc); err != nil {
					t.Fatal(err)
				}
				cost := simCost(cc.Usage.PromptTokens, cc.Usage.CompletionTokens)
				paid += cost
				if mode == config.BillingStrict {
					// Durable before the answer: no waiting.
					if got := g.charged(c.TeamID); got != paid {
						t.Errorf("charged %d when the answer arrived, want %d", got, paid)
					}
					if got, want := r.Header.Get("X-Chorus-Credits-Remaining"), chorus.FormatCredits(1_000_000-paid); got != want {
						t.Errorf("x-chorus-credits-remaining = %q, want %q", got, want)
					}
				} else if r.Header.Get("X-Chorus-Credits-Remaining") == "" {
					t.Error("no x-chorus-credits-remaining estimate")
				}
				g.waitCharged(c.TeamID, paid)
			})
			t.Run("Stream", func(t *testing.T) {
				p := chatParams("sim", "hi")
				p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
				out := collectOpenAI(t, g.openAI(c.Key).Chat.Completions.NewStreaming(ctx, p))
				u := out.acc.Usage
				paid += simCost(u.PromptTokens, u.CompletionTokens)
				if mode == config.BillingStrict {
					if got := g.charged(c.TeamID); got != paid {
						t.Errorf("charged %d when the stream ended, want %d", got, paid)
					}
				}
				g.waitCharged(c.TeamID, paid)
			})
			t.Run("AbortedStreamBillsWhatWasGenerated", func(t *testing.T) {
				rctx, cancel := context.WithCancel(ctx)
				body := `{"model":"slow","stream":true,"messages":[{"role":"user","content":"hi"}]}`
				req, _ := http.NewRequestWithContext(rctx, "POST", g.URL+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.Key)
				resp, err := g.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(resp.Body)
				for n := 0; n < 5 && sc.Scan(); {
					if strings.HasPrefix(sc.Text(), "data: {") {
						n++
					}
				}
				cancel()
				resp.Body.Close()
				g.waitUsage(c.ID, 5) // two refusals, two answers, this stream
				// Found by its model, not as the newest: strict mode stores a
				// record with its settlement, ahead of the refusals' records
				// the usage writer brings. Read again: by now the writer has
				// completed it with the end's status.
				var last chorus.Usage
				for _, r := range g.listUsage(c.ID) {
					if r.Model == "slow" {
						last = r
					}
				}
				if last.Status != 499 || last.OutputTokens == 0 || last.OutputTokens >= 400 || last.Cost == 0 {
					t.Fatalf("usage = %+v, want a 499 with some of the 400 tokens billed", last)
				}
				paid += last.Cost
				g.waitCharged(c.TeamID, paid)
			})
			t.Run("Embeddings", func(t *testing.T) {
				res, err := g.openAI(c.Key).Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "emb",
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two"}}})
				if err != nil {
					t.Fatal(err)
				}
				paid += chorus.RequestCost(res.Usage.PromptTokens, 0, 1_000_000, 0)
				g.waitCharged(c.TeamID, paid)
			})
			t.Run("BalanceAgrees", func(t *testing.T) {
				b, err := g.App.DB.Balance(context.Background(), c.TeamID)
				if err != nil {
					t.Fatal(err)
				}
				if b.Balance != 1_000_000-paid {
					t.Errorf("balance = %d, want %d", b.Balance, 1_000_000-paid)
				}
				if r, err := g.App.DB.CheckLedger(context.Background()); err != nil || !r.OK {
					t.Errorf("ledger check = %+v, %v", r, err)
				}
			})
		})
	}
}

// TestBillingCacheHit: a cache hit is charged what the cache policy says
// (cache.cost_fraction of the original answer), in strict mode at once.
func TestBillingCacheHit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) {
		c.Billing.Mode = config.BillingStrict
		c.Cache.TTL = time.Minute
		c.Cache.CostFraction = 0.5
	})
	g.simulated("sim", map[string]any{"output_tokens": 20, "tokens_per_second": 5000})
	c := g.customer()
	g.fund(c.TeamID, 1_000_000)
	ask := func() (int64, string) {
		t.Helper()
		r := g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "sim", "messages": []map[string]string{{"role": "user", "content": "cache me"}}})
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(r.Body, &cc); err != nil {
			t.Fatal(err)
		}
		return simCost(cc.Usage.PromptTokens, cc.Usage.CompletionTokens), r.Header.Get("X-Chorus-Cache")
	}
	cost, status := ask()
	if status != "miss" {
		t.Fatalf("first answer x-chorus-cache = %q, want miss", status)
	}
	if _, status := ask(); status != "hit" {
		t.Fatalf("second answer x-chorus-cache = %q, want hit", status)
	}
	want := cost + cache.HitCost(cost, 0.5)
	if got := g.charged(c.TeamID); got != want || want == 2*cost {
		t.Errorf("charged %d for a miss and a hit, want %d (the hit at half of %d)", got, want, cost)
	}
}

// budgetAnswer is a budget as the API returns it.
type budgetAnswer struct {
	chorus.Budget
	Object        string `json:"object"`
	WebhookSecret string `json:"webhook_secret"`
}

func TestBudgetsAPI(t *testing.T) {
	t.Parallel()
	g := billedGateway(t, config.BillingStrict)
	g.simulated("sim", map[string]any{"output_tokens": 20, "tokens_per_second": 5000})
	owner := g.createUser(chorus.RoleCustomer)
	key := g.createKey(keySpec{Name: "owner", UserID: owner.ID})
	member := &chorus.User{Email: g.unique("member") + "@example.test", Name: "Member", Role: chorus.RoleCustomer, TeamID: owner.TeamID, TeamRole: chorus.TeamMember}
	if err := g.App.DB.CreateUser(context.Background(), member); err != nil {
		t.Fatal(err)
	}
	memberKey := g.createKey(keySpec{Name: "member", UserID: member.ID})
	other := g.customer()
	g.fund(owner.TeamID, 10_000_000)
	ctx := testContext(t, 60*time.Second)
	create := func(k string, body any, want int) budgetAnswer {
		t.Helper()
		r := g.do("POST", "/api/budgets", k, body)
		if r.Status != want {
			t.Fatalf("POST /api/budgets %v = %d %s, want %d", body, r.Status, r.Body, want)
		}
		var b budgetAnswer
		_ = json.Unmarshal(r.Body, &b)
		return b
	}

	t.Run("Validation", func(t *testing.T) {
		tests := []struct {
			name  string
			body  string
			param string
		}{
			{"NoScope", `{"period":"day","amount":1}`, "scope"},
			{"BadScope", `{"scope":"org","period":"day","amount":1}`, "scope"},
			{"BadPeriod", `{"scope":"team","period":"week","amount":1}`, "period"},
			{"NoAmount", `{"scope":"team","period":"day"}`, "amount"},
			{"NegativeAmount", `{"scope":"team","period":"day","amount":-5}`, "amount"},
			{"AmountNotInteger", `{"scope":"team","period":"day","amount":1.5}`, "amount"},
			{"HookOnHard", `{"scope":"team","period":"day","amount":1,"hard":true,"webhook_url":"https://x.test/h"}`, "webhook_url"},
			{"HookNotURL", `{"scope":"team","period":"day","amount":1,"webhook_url":"not a url"}`, "webhook_url"},
			{"OtherTeamsKey", fmt.Sprintf(`{"scope":"key","scope_id":%d,"period":"day","amount":1}`, other.ID), "scope_id"},
			{"UnknownField", `{"scope":"team","period":"day","amount":1,"colour":"red"}`, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantAPIError(t, g.do("POST", "/api/budgets", key.Key, tt.body), 400, "invalid_request_error", tt.param)
			})
		}
		wantAPIError(t, g.do("GET", "/api/budgets?limit=0", key.Key, nil), 400, "invalid_request_error", "limit")
		wantAPIError(t, g.do("GET", "/api/events?after=x", key.Key, nil), 400, "invalid_request_error", "after")
	})
	t.Run("MembersMayNotChange", func(t *testing.T) {
		r := g.do("POST", "/api/budgets", memberKey.Key, map[string]any{"scope": "team", "period": "day", "amount": 1})
		wantAPIError(t, r, 403, "permission_error", "")
	})

	hard := create(key.Key, map[string]any{"scope": "key", "scope_id": key.ID, "period": "day", "amount": 10, "hard": true}, 201)
	t.Run("HardBudgetRefuses", func(t *testing.T) {
		if hard.ID == 0 || hard.TeamID != owner.TeamID || hard.WebhookSecret != "" {
			t.Fatalf("created %+v, want a budget of the owner's team and no secret", hard)
		}
		_, err := g.openAI(key.Key).Chat.Completions.New(ctx, chatParams("sim", "hi"))
		e := wantOpenAIError(t, err, 402, "insufficient_quota", "insufficient_quota")
		if !strings.Contains(e.Message, fmt.Sprintf("daily budget %d", hard.ID)) {
			t.Errorf("message %q does not name budget %d", e.Message, hard.ID)
		}
		// The member's key is not under the key's budget.
		if _, err := g.openAI(memberKey.Key).Chat.Completions.New(ctx, chatParams("sim", "hi")); err != nil {
			t.Errorf("member's request: %v", err)
		}
	})
	t.Run("OtherTeamSeesNothing", func(t *testing.T) {
		path := fmt.Sprintf("/api/budgets/%d", hard.ID)
		wantAPIError(t, g.do("GET", path, other.Key, nil), 404, "invalid_request_error", "")
		wantAPIError(t, g.do("PUT", path, other.Key, map[string]any{"amount": 5}), 404, "invalid_request_error", "")
		wantAPIError(t, g.do("DELETE", path, other.Key, nil), 404, "invalid_request_error", "")
		var list struct{ Data []budgetAnswer }
		if r := g.do("GET", "/api/budgets", other.Key, nil); r.Status != 200 || json.Unmarshal(r.Body, &list) != nil || len(list.Data) != 0 {
			t.Errorf("other team's list = %d %s, want empty", r.Status, r.Body)
		}
	})
	t.Run("RaiseThenDelete", func(t *testing.T) {
		path := fmt.Sprintf("/api/budgets/%d", hard.ID)
		r := g.do("PUT", path, key.Key, map[string]any{"amount": 100_000_000})
		if r.Status != 200 {
			t.Fatalf("PUT = %d %s", r.Status, r.Body)
		}
		if _, err := g.openAI(key.Key).Chat.Completions.New(ctx, chatParams("sim", "hi")); err != nil {
			t.Errorf("after raising the budget: %v", err)
		}
		wantAPIError(t, g.do("PUT", path, key.Key, map[string]any{"period": "month"}), 400, "invalid_request_error", "scope")
		if r := g.do("DELETE", path, key.Key, nil); r.Status != 204 {
			t.Fatalf("DELETE = %d %s", r.Status, r.Body)
		}
	})

	t.Run("SoftBudgetAlerts", func(t *testing.T) {
		got := make(chan *http.Request, 4)
		bodies := make(chan []byte, 4)
		var calls atomic.Int64
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			calls.Add(1)
			got <- r
			bodies <- b
		}))
		defer sink.Close()
		soft := create(key.Key, map[string]any{"scope": "team", "period": "month", "amount": 1, "webhook_url": sink.URL}, 201)
		if !strings.HasPrefix(soft.WebhookSecret, "whsec_") {
			t.Fatalf("created %+v, want a webhook secret shown once", soft)
		}
		if r := g.do("GET", fmt.Sprintf("/api/budgets/%d", soft.ID), key.Key, nil); strings.Contains(string(r.Body), "whsec_") {
			t.Errorf("GET shows the secret again: %s", r.Body)
		}
		if _, err := g.openAI(key.Key).Chat.Completions.New(ctx, chatParams("sim", "hi")); err != nil {
			t.Fatal(err)
		}
		var req *http.Request
		var body []byte
		select {
		case req = <-got:
			body = <-bodies
		case <-time.After(10 * time.Second):
			t.Fatal("no webhook within 10s")
		}
		if err := webhook.Verify(soft.WebhookSecret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v (%s)", err, req.Header.Get(webhook.SignatureHeader))
		}
		var events struct {
			Data []chorus.Event `json:"data"`
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := g.do("GET", "/api/events", key.Key, nil)
			if err := json.Unmarshal(r.Body, &events); err != nil {
				t.Fatal(err)
			}
			if len(events.Data) == 1 && events.Data[0].Webhook != nil && events.Data[0].Webhook.Status == chorus.DeliveryDelivered {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("events = %s, want one delivered budget alert", r.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if e := events.Data[0]; e.Type != chorus.EventBudgetExceeded || e.BudgetID != soft.ID {
			t.Errorf("event = %+v, want budget.exceeded of budget %d", e, soft.ID)
		}
		if r := g.do("GET", "/api/events", other.Key, nil); strings.Contains(string(r.Body), "budget.exceeded") {
			t.Errorf("another team sees the event: %s", r.Body)
		}
		if n := calls.Load(); n != 1 {
			t.Errorf("%d webhook calls, want 1", n)
		}
	})
	t.Run("Admin", func(t *testing.T) {
		var b budgetAnswer
		g.mustAdmin("POST", "/api/admin/budgets", map[string]any{"scope": "user", "scope_id": other.UserID, "period": "day", "amount": 5, "hard": true}, 201, &b)
		if b.TeamID != other.TeamID {
			t.Errorf("admin budget's team = %d, want the user's %d", b.TeamID, other.TeamID)
		}
		var list struct{ Data []budgetAnswer }
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/budgets?team_id=%d", other.TeamID), nil, 200, &list)
		if len(list.Data) != 1 || list.Data[0].ID != b.ID {
			t.Errorf("admin list for team %d = %+v, want budget %d", other.TeamID, list.Data, b.ID)
		}
		wantAPIError(t, g.admin("GET", "/api/admin/budgets?team_id=x", nil), 400, "invalid_request_error", "team_id")
		wantAPIError(t, g.admin("POST", "/api/admin/budgets", map[string]any{"scope": "team", "period": "day", "amount": 5}), 400, "invalid_request_error", "scope_id")
		audit, err := g.App.DB.ListAudit(context.Background(), chorus.AuditFilter{Action: chorus.AuditBudgetChanged}, chorus.AuditPage{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(audit) != 5 { // hard: created, updated, deleted; soft: created; admin's: created
			t.Errorf("%d budget audit entries, want 5", len(audit))
		}
	})
}
