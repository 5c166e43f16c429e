package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// onBothDatabases runs fn on a gateway config edit for SQLite (the
// default) and for PostgreSQL (a schema of its own, when
// CHORUS_TEST_POSTGRES_URL is set).
func onBothDatabases(t *testing.T, fn func(t *testing.T, db func(*config.Config))) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, func(*config.Config) {})
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
		if base == "" {
			if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
				t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
			}
			t.Skip("set CHORUS_TEST_POSTGRES_URL to run on PostgreSQL too")
		}
		t.Parallel()
		dsn := postgresSchema(t, base)
		fn(t, func(c *config.Config) { c.DatabaseURL = dsn })
	})
}

func price(v int64) *int64 { return &v }

// Prices of the deployments below, in micro-credits per million tokens:
// 3 and 15 credits per million input and output tokens, cache reads at 0.3,
// cache writes at 3.75, reasoning at 60.
const (
	testInputPrice  = 3_000_000
	testOutputPrice = 15_000_000
)

// pricedUpstream creates a chat model served by one deployment of kind at
// baseURL, with every optional price set.
func (g *gateway) pricedUpstream(name, kind, baseURL string) *chorus.Deployment {
	g.t.Helper()
	c := g.createCredential(name+"-cred", kind, "sk-test")
	m := g.createModel(modelSpec{Name: name, MaxOutput: 4096})
	return g.createDeployment(deploymentSpec{ModelID: m.ID, Name: name + "-dep", Provider: kind, UpstreamModel: name + "-up",
		BaseURL: baseURL, CredentialID: &c.ID, InputPrice: testInputPrice, OutputPrice: testOutputPrice,
		CachedInputPrice: price(300_000), CacheWritePrice: price(3_750_000), ReasoningPrice: price(60_000_000)})
}

// TestTokenClassBilling: upstreams report cached, cache-write and reasoning
// tokens; each request's ledger charge and usage record are what the
// deployment's prices say, on SQLite and PostgreSQL, streamed or not.
func TestTokenClassBilling(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, db func(*config.Config)) {
		g := startGateway(t, func(c *config.Config) {
			db(c)
			c.Billing.Mode = config.BillingStrict
		})
		oai := openaitest.New(t)
		oai.Script(conformance.Scenario{Text: "thought it through", FinishReason: provider.FinishStop,
			Usage: provider.Usage{InputTokens: 1000, CachedInputTokens: 600, OutputTokens: 300, ReasoningTokens: 100}})
		ant := anthropictest.NewServer(t)
		ant.Script(conformance.Scenario{Text: "from the cache", FinishReason: provider.FinishStop,
			Usage: provider.Usage{InputTokens: 1000, CachedInputTokens: 400, CacheWriteTokens: 200, OutputTokens: 300}})
		d := g.pricedUpstream("gpt", chorus.ProviderOpenAI, oai.URL())
		g.pricedUpstream("claude", chorus.ProviderAnthropic, ant.URL())

		var got chorus.Deployment
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/deployments/%d", d.ID), nil, http.StatusOK, &got)
		if got.CachedInputPrice == nil || *got.CachedInputPrice != 300_000 || got.CacheWritePrice == nil ||
			*got.CacheWritePrice != 3_750_000 || got.ReasoningPrice == nil || *got.ReasoningPrice != 60_000_000 {
			t.Fatalf("deployment read back = %+v, want its optional prices", got)
		}

		// gpt: 400 uncached × 3 + 600 cached × 0.3 + 200 output × 15 + 100
		// reasoning × 60 = 1200 + 180 + 3000 + 6000 micro-credits.
		// claude: 400 × 3 + 400 × 0.3 + 200 written × 3.75 + 300 × 15 =
		// 1200 + 120 + 750 + 4500.
		const gptCost, claudeCost = 10_380, 6_570
		c := g.customer()
		g.fund(c.TeamID, 10_000_000)
		for _, r := range []struct{ path, model string }{
			{"/v1/chat/completions", "gpt"}, {"/v1/messages", "claude"}, // same format: relayed as received
			{"/v1/messages", "gpt"}, {"/v1/chat/completions", "claude"}, // translated
		} {
			for _, stream := range []bool{false, true} {
				body := map[string]any{"model": r.model, "max_tokens": 100, "stream": stream,
					"messages": []map[string]string{{"role": "user", "content": "hi"}}}
				if resp := g.do("POST", r.path, c.Key, body); resp.Status != http.StatusOK {
					t.Fatalf("%s %s stream=%v: %d %s", r.path, r.model, stream, resp.Status, resp.Body)
				}
			}
		}
		g.waitCharged(c.TeamID, 4*gptCost+4*claudeCost)
		want := map[string]chorus.Usage{
			"gpt":    {InputTokens: 1000, CachedInputTokens: 600, OutputTokens: 300, ReasoningTokens: 100, Cost: gptCost},
			"claude": {InputTokens: 1000, CachedInputTokens: 400, CacheWriteTokens: 200, OutputTokens: 300, Cost: claudeCost},
		}
		for _, u := range g.waitUsage(c.ID, 8) {
			w := want[u.Model]
			if u.InputTokens != w.InputTokens || u.CachedInputTokens != w.CachedInputTokens || u.CacheWriteTokens != w.CacheWriteTokens ||
				u.OutputTokens != w.OutputTokens || u.ReasoningTokens != w.ReasoningTokens || u.Cost != w.Cost {
				t.Errorf("%s %s stream=%v: usage %+v, want %+v", u.Endpoint, u.Model, u.Stream, u, w)
			}
			if len(u.Attempts) != 1 || u.Attempts[0].CachedInputTokens != w.CachedInputTokens ||
				u.Attempts[0].CacheWriteTokens != w.CacheWriteTokens || u.Attempts[0].ReasoningTokens != w.ReasoningTokens {
				t.Errorf("%s %s: attempts %+v, want one with the token classes", u.Endpoint, u.Model, u.Attempts)
			}
		}
	})
}

// TestTokenPricesValidated: the admin API refuses negative optional prices
// and unknown max_tokens policies, and stores null prices as null.
func TestTokenPricesValidated(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	m := g.createModel(modelSpec{Name: "m"})
	if m.MaxTokensPolicy != chorus.MaxTokensRefuse {
		t.Errorf("max_tokens_policy = %q, want the default %q", m.MaxTokensPolicy, chorus.MaxTokensRefuse)
	}
	for _, field := range []string{"cached_input_price", "cache_write_price", "reasoning_price"} {
		r := g.admin("POST", "/api/admin/deployments", map[string]any{"model_id": m.ID, "name": "d", "provider": "simulator", field: -1})
		wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", field)
	}
	r := g.admin("POST", "/api/admin/models", map[string]any{"name": "x", "max_tokens_policy": "truncate"})
	wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "max_tokens_policy")
	r = g.admin("POST", "/api/admin/deployments", map[string]any{"model_id": m.ID, "name": "d", "provider": "simulator"})
	if r.Status != http.StatusCreated || !bytes.Contains(r.Body, []byte(`"cached_input_price":null`)) {
		t.Errorf("deployment without optional prices = %d %s, want them null", r.Status, r.Body)
	}
}

// TestMaxTokensPolicy: a request over the model's max_output_tokens is
// refused by default and clamped under "clamp" — in the request the
// upstream sees, whether the body is relayed as received or translated,
// streamed or not — with the clamp reported in X-Chorus-Max-Tokens-Clamped.
func TestMaxTokensPolicy(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	oai := openaitest.New(t)
	oai.Script(conformance.Scenario{Text: "ok", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 5, OutputTokens: 1}})
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Text: "ok", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 5, OutputTokens: 1}})
	for _, m := range []struct{ name, kind, url, policy string }{
		{"gpt-refuse", chorus.ProviderOpenAI, oai.URL(), ""},
		{"gpt-clamp", chorus.ProviderOpenAI, oai.URL(), chorus.MaxTokensClamp},
		{"claude-clamp", chorus.ProviderAnthropic, ant.URL(), chorus.MaxTokensClamp},
	} {
		c := g.createCredential(m.name+"-cred", m.kind, "sk-test")
		mod := g.createModel(modelSpec{Name: m.name, MaxOutput: 1000, MaxTokensPolicy: m.policy})
		g.createDeployment(deploymentSpec{ModelID: mod.ID, Name: m.name + "-dep", Provider: m.kind, UpstreamModel: m.name + "-up",
			BaseURL: m.url, CredentialID: &c.ID})
	}
	g.mustAdmin("POST", "/api/admin/routes", map[string]any{"name": "route-clamp", "strategy": chorus.StrategyFallback,
		"targets": []map[string]any{{"model": "gpt-refuse"}}, "config": map[string]any{"max_tokens_policy": chorus.MaxTokensClamp}},
		http.StatusCreated, nil)
	key := g.customer()
	chat := func(path, model, field string, stream bool) response {
		t.Helper()
		return g.do("POST", path, key.Key, map[string]any{"model": model, field: 32000, "stream": stream,
			"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	}

	t.Run("Refuse", func(t *testing.T) {
		before := oai.Requests()
		r := chat("/v1/chat/completions", "gpt-refuse", "max_tokens", false)
		wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "max_tokens")
		if h := r.Header.Get("X-Chorus-Max-Tokens-Clamped"); h != "" || oai.Requests() != before {
			t.Errorf("refused request: header %q, upstream called %d times", h, oai.Requests()-before)
		}
	})

	for _, tt := range []struct {
		name, path, model, field string
		fake                     conformance.Fake
		upstreamField            string // the member of the upstream body that must say 1000
	}{
		{"OpenAI", "/v1/chat/completions", "gpt-clamp", "max_tokens", oai, `"max_tokens":1000`},
		{"OpenAIMaxCompletionTokens", "/v1/chat/completions", "gpt-clamp", "max_completion_tokens", oai, `"max_completion_tokens":1000`},
		{"Anthropic", "/v1/messages", "claude-clamp", "max_tokens", ant, `"max_tokens":1000`},
		{"OpenAIToAnthropic", "/v1/chat/completions", "claude-clamp", "max_tokens", ant, `"max_tokens":1000`},
		{"AnthropicToOpenAI", "/v1/messages", "gpt-clamp", "max_tokens", oai, ""},
		{"RouteOverride", "/v1/chat/completions", "route-clamp", "max_tokens", oai, `"max_tokens":1000`},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tt.name, stream), func(t *testing.T) {
				r := chat(tt.path, tt.model, tt.field, stream)
				if r.Status != http.StatusOK {
					t.Fatalf("status %d: %s", r.Status, r.Body)
				}
				if h := r.Header.Get("X-Chorus-Max-Tokens-Clamped"); h != "32000->1000" {
					t.Errorf("X-Chorus-Max-Tokens-Clamped = %q, want 32000->1000", h)
				}
				last := tt.fake.Last()
				if last.MaxTokens != 1000 {
					t.Errorf("upstream max tokens = %d, want 1000: %s", last.MaxTokens, last.Body)
				}
				if tt.upstreamField != "" && !bytes.Contains(last.Body, []byte(tt.upstreamField)) {
					t.Errorf("upstream body %s does not hold %s", last.Body, tt.upstreamField)
				}
				if bytes.Contains(last.Body, []byte("32000")) {
					t.Errorf("upstream body %s still asks for 32000", last.Body)
				}
			})
		}
	}
}
