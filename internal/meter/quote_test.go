package meter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// target is a deployment priced in micro-credits per million tokens, of a
// model with the given output ceiling.
func target(name string, in, out int64, maxOutput int) *registry.Target {
	return &registry.Target{
		Deployment: &chorus.Deployment{Name: name, UpstreamModel: "gpt-4o", InputPrice: in, OutputPrice: out},
		Model:      &chorus.Model{Name: name, MaxOutput: maxOutput},
	}
}

func plain(ts ...*registry.Target) *registry.Route {
	return &registry.Route{Model: &chorus.Model{Name: "m"}, Targets: ts, Tiers: []*registry.Tier{{Targets: ts}}}
}

// routed is a configured route with one tier per target.
func routed(strategy string, cfg chorus.RouteConfig, ts ...*registry.Target) *registry.Route {
	rt := &registry.Route{Model: &chorus.Model{Name: "r"}, Strategy: strategy, Config: cfg, Routed: true, Targets: ts}
	for _, t := range ts {
		rt.Tiers = append(rt.Tiers, &registry.Tier{Model: t.Model, Targets: []*registry.Target{t}})
	}
	return rt
}

func chatReq(text string, maxTokens, n int) *provider.ChatRequest {
	r := &provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, text)}}
	if maxTokens > 0 {
		r.MaxTokens = &maxTokens
	}
	if n > 0 {
		r.N = &n
	}
	return r
}

func testMeter(routes map[string]*registry.Route) *Meter {
	b := config.DefaultBilling()
	b.DefaultMaxTokens = 1000
	return New(nil, Options{Billing: b, Routes: func(name string) *registry.Route { return routes[name] }})
}

func TestWorstCase(t *testing.T) {
	cheap, mid, dear := target("cheap", 1_000_000, 2_000_000, 500), target("mid", 2_000_000, 4_000_000, 0), target("dear", 3_000_000, 10_000_000, 2000)
	judge := plain(target("judge", 5_000_000, 20_000_000, 0))
	m := testMeter(map[string]*registry.Route{"judge": judge})
	scorers := json.RawMessage(`[{"type":"length","min":1},{"type":"judge","model":"judge","rubric":"0123456789"}]`)
	const in = 100 // input tokens
	// cost(t, out) at in input tokens, by chorus.RequestCost.
	cost := func(t *registry.Target, out int64) int64 {
		return chorus.RequestCost(in, out, t.Deployment.InputPrice, t.Deployment.OutputPrice)
	}
	// One judge call on an answer of at most `answer` tokens.
	judgeCall := func(answer int64) int64 {
		return chorus.RequestCost(in+answer+judgePromptTokens+10, judgeOutputTokens, 5_000_000, 20_000_000)
	}
	tests := []struct {
		name  string
		route *registry.Route
		req   *provider.ChatRequest
		want  int64
	}{
		{"PlainMaxTokens", plain(cheap), chatReq("x", 50, 0), cost(cheap, 50)},
		{"PlainModelCeiling", plain(cheap), chatReq("x", 0, 0), cost(cheap, 500)},
		{"PlainConfigDefault", plain(mid), chatReq("x", 0, 0), cost(mid, 1000)},
		{"PlainNChoices", plain(cheap), chatReq("x", 50, 3), cost(cheap, 150)},
		{"PlainMostExpensiveDeployment", plain(cheap, dear), chatReq("x", 0, 0), cost(dear, 2000)},
		{"FallbackMostExpensive", routed(chorus.StrategyFallback, chorus.RouteConfig{Retries: 3}, cheap, mid, dear), chatReq("x", 100, 0), cost(dear, 100)},
		{"BalanceMostExpensive", routed(chorus.StrategyBalance, chorus.RouteConfig{}, dear, cheap), chatReq("x", 100, 0), cost(dear, 100)},
		{"HedgeTwo", routed(chorus.StrategyHedge, chorus.RouteConfig{}, cheap, mid, dear), chatReq("x", 100, 0), cost(dear, 100) + cost(mid, 100)},
		{"HedgeMaxTwo", routed(chorus.StrategyHedge, chorus.RouteConfig{HedgeMax: 2}, cheap, mid, dear), chatReq("x", 100, 0),
			cost(dear, 100) + cost(mid, 100) + cost(cheap, 100)},
		{"EnsembleNAndJudges", routed(chorus.StrategyEnsemble, chorus.RouteConfig{EnsembleN: 2, Scorers: scorers}, cheap, mid, dear), chatReq("x", 100, 0),
			cost(cheap, 100) + cost(mid, 100) + 2*judgeCall(100)},
		{"CascadeEveryTierAndJudge", routed(chorus.StrategyCascade, chorus.RouteConfig{Scorers: scorers}, cheap, dear), chatReq("x", 0, 0),
			cost(cheap, 500) + cost(dear, 2000) + 2*judgeCall(2000)},
		{"CascadeWithoutJudge", routed(chorus.StrategyCascade, chorus.RouteConfig{}, cheap, dear), chatReq("x", 10, 0), cost(cheap, 10) + cost(dear, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.worstCase(ChatQuote(tt.route, tt.req), in); got != tt.want {
				t.Errorf("worst case = %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("Embedding", func(t *testing.T) {
		emb := plain(target("e1", 20_000, 0, 0), target("e2", 100_000, 0, 0))
		q := EmbedQuote(emb, &provider.EmbeddingRequest{Input: []string{"hello", "world!"}, InputTokens: [][]int{{1, 2, 3}}})
		if got, want := m.inputTokens(q, false), int64(5+6+3); got != want {
			t.Errorf("input bound = %d, want %d", got, want)
		}
		if got, want := m.worstCase(q, 1_000_000), int64(100_000); got != want {
			t.Errorf("worst case = %d, want %d (a million tokens at the dearer deployment)", got, want)
		}
	})
}

func TestInputTokens(t *testing.T) {
	m := testMeter(nil)
	rt := plain(target("t", 1, 1, 0))
	text := strings.TrimSpace(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 40)) // 1,799 bytes, 400 tokens in o200k
	req := chatReq(text, 0, 0)
	req.Messages = append(req.Messages, provider.Message{Role: provider.RoleUser, Content: []provider.Part{{Type: provider.PartImage, ImageURL: "https://x.test/a.png"}}})
	q := ChatQuote(rt, req)
	bound := m.inputTokens(q, false)
	if want := int64(framePrime + 2*framePerMessage + len(text) + imageTokens); bound != want {
		t.Errorf("byte bound = %d, want %d", bound, want)
	}
	exact := m.inputTokens(q, true)
	// 400 text tokens + framing + the image, with the 20% margin.
	lo, hi := int64(float64(400+imageTokens)*1.2), int64(float64(400+imageTokens+20)*1.2)+1
	if exact < lo || exact > hi {
		t.Errorf("tokenizer count = %d, want %d..%d", exact, lo, hi)
	}
	if exact >= bound {
		t.Errorf("tokenizer count %d is not below the byte bound %d", exact, bound)
	}
	if got := m.Stats().Tokenized; got != 1 {
		t.Errorf("tokenized %d times, want 1 (the byte bound needs no tokenizer)", got)
	}
	t.Run("OutputTokens", func(t *testing.T) {
		if got := m.OutputTokens("gpt-4o", text); got != 400 {
			t.Errorf("OutputTokens = %d, want 400", got)
		}
		var nilMeter *Meter
		if got := nilMeter.OutputTokens("gpt-4o", "12345678"); got != 2 {
			t.Errorf("a nil meter's estimate = %d, want 2 (bytes / 4)", got)
		}
	})
	t.Run("Encodings", func(t *testing.T) {
		for model, want := range map[string]*counter{"gpt-4": &m.tok.cl100k, "gpt-3.5-turbo": &m.tok.cl100k, "openai/gpt-4-turbo": &m.tok.cl100k,
			"gpt-4o-mini": &m.tok.o200k, "gpt-4.1": &m.tok.o200k, "claude-sonnet-4": &m.tok.o200k, "text-embedding-3-small": &m.tok.cl100k} {
			if got := m.tok.forModel(model); got != want {
				t.Errorf("%s counts with %s, want %s", model, got.enc, want.enc)
			}
		}
	})
}
