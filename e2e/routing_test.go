package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider/simulator"
)

// TestRouting drives each strategy through the real gateway with simulator
// deployments and checks what the client sees, the transparency headers,
// and that every upstream attempt is in the usage record with its own cost.
func TestRouting(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	ctx := testContext(t, 30*time.Second)

	t.Run("FallbackAccountsEveryAttempt", func(t *testing.T) {
		bad := g.simulated(g.unique("bad"), map[string]any{"error_rate": 1, "error_status": 503})
		good := g.simulated(g.unique("good"), map[string]any{"output_tokens": 4})
		name := g.unique("chain")
		g.mustAdmin("POST", "/api/admin/routes", routeBody(name, chorus.StrategyFallback, []string{bad.Model.Name, good.Model.Name}), http.StatusCreated, nil)
		key := g.customer()
		var httpResp *http.Response
		resp, err := g.openAI(key.Key).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: name, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		}, option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.Content == "" {
			t.Fatal("empty answer")
		}
		h := httpResp.Header
		if h.Get("X-Chorus-Model") != name || h.Get("X-Chorus-Deployment") != good.Deployment.Name ||
			h.Get("X-Chorus-Attempts") != "2" || h.Get("X-Chorus-Strategy") != chorus.StrategyFallback {
			t.Fatalf("headers model=%q deployment=%q attempts=%q strategy=%q", h.Get("X-Chorus-Model"),
				h.Get("X-Chorus-Deployment"), h.Get("X-Chorus-Attempts"), h.Get("X-Chorus-Strategy"))
		}
		u := g.waitUsage(key.ID, 1)[0]
		if u.Route != name || u.Model != good.Model.Name || len(u.Attempts) != 2 {
			t.Fatalf("usage route=%q model=%q attempts=%+v", u.Route, u.Model, u.Attempts)
		}
		if a := u.Attempts[0]; a.Deployment != bad.Deployment.Name || a.Outcome != "error" || a.Status != 503 {
			t.Fatalf("first attempt %+v, want the failed deployment with 503", a)
		}
		if a := u.Attempts[1]; a.Outcome != "ok" || a.OutputTokens != int64(resp.Usage.CompletionTokens) || a.Cost == 0 {
			t.Fatalf("second attempt %+v", a)
		}
		if u.Cost != u.Attempts[0].Cost+u.Attempts[1].Cost || u.OutputTokens != u.Attempts[0].OutputTokens+u.Attempts[1].OutputTokens {
			t.Fatalf("usage totals %d/%d are not the sum of the attempts", u.Cost, u.OutputTokens)
		}
	})

	t.Run("HedgeCancelsTheSlowCall", func(t *testing.T) {
		slow := g.simulated(g.unique("slow"), map[string]any{"latency_ms": 3000})
		fast := g.simulated(g.unique("fast"), map[string]any{"latency_ms": 5})
		name := g.unique("hedged")
		g.mustAdmin("POST", "/api/admin/routes", routeBody(name, chorus.StrategyHedge, []string{slow.Model.Name, fast.Model.Name},
			withConfig("hedge_delay_ms", 50)), http.StatusCreated, nil)
		key := g.customer()
		start := time.Now()
		var httpResp *http.Response
		if _, err := g.openAI(key.Key).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: name, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		}, option.WithResponseInto(&httpResp)); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("hedged request took %v", took)
		}
		if httpResp.Header.Get("X-Chorus-Deployment") != fast.Deployment.Name {
			t.Fatalf("answered by %q, want the fast deployment", httpResp.Header.Get("X-Chorus-Deployment"))
		}
		u := g.waitUsage(key.ID, 1)[0]
		if len(u.Attempts) != 2 || u.Attempts[1].Outcome != "canceled" || u.Attempts[1].Deployment != slow.Deployment.Name {
			t.Fatalf("attempts %+v, want the fast answer and the cancelled slow call", u.Attempts)
		}
	})

	t.Run("StreamNeverMixesUpstreams", func(t *testing.T) {
		bad := g.simulated(g.unique("sbad"), map[string]any{"error_rate": 1, "error_status": 500})
		good := g.simulated(g.unique("sgood"), map[string]any{"text": "only from the good one"})
		name := g.unique("schain")
		g.mustAdmin("POST", "/api/admin/routes", routeBody(name, chorus.StrategyFallback, []string{bad.Model.Name, good.Model.Name}), http.StatusCreated, nil)
		key := g.customer()
		st := g.openAI(key.Key).Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: name, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		var text strings.Builder
		for st.Next() {
			for _, c := range st.Current().Choices {
				text.WriteString(c.Delta.Content)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "only from the good one" {
			t.Fatalf("streamed %q", text.String())
		}
	})

	t.Run("CascadeEscalatesOnQuality", func(t *testing.T) {
		weak := g.simulated(g.unique("weak"), map[string]any{"quality": 0.0, "output_tokens": 3})
		strong := g.simulated(g.unique("strong"), map[string]any{"quality": 1.0, "output_tokens": 3})
		name := g.unique("cascade")
		g.mustAdmin("POST", "/api/admin/routes", routeBody(name, chorus.StrategyCascade, []string{weak.Model.Name, strong.Model.Name},
			withConfig("scorers", []map[string]any{{"type": "regex", "pattern": `\[correct\]$`}})), http.StatusCreated, nil)
		key := g.customer()
		var httpResp *http.Response
		resp, err := g.openAI(key.Key).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: name, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a hard question")},
		}, option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(resp.Choices[0].Message.Content, simulator.CorrectMark) {
			t.Fatalf("answer %q, want the strong model's correct one", resp.Choices[0].Message.Content)
		}
		if httpResp.Header.Get("X-Chorus-Cascade-Tier") != "2" {
			t.Fatalf("cascade tier %q, want 2", httpResp.Header.Get("X-Chorus-Cascade-Tier"))
		}
		u := g.waitUsage(key.ID, 1)[0]
		if len(u.Attempts) != 2 || u.Attempts[0].Outcome != "rejected" || u.Attempts[0].Score == nil || *u.Attempts[0].Score != 0 ||
			u.Attempts[1].Score == nil || *u.Attempts[1].Score != 1 {
			t.Fatalf("attempts %+v", u.Attempts)
		}
		if u.Attempts[0].Cost == 0 {
			t.Fatal("the rejected cheap answer was not billed")
		}
	})

	t.Run("HealthVisible", func(t *testing.T) {
		r := g.admin("GET", "/api/admin/health", nil)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"state":"closed"`) {
			t.Fatalf("health %d %s", r.Status, r.Body)
		}
		m := g.do("GET", "/metrics", "", nil)
		if !strings.Contains(string(m.Body), "chorus_deployment_circuit_open") {
			t.Fatal("no circuit metric")
		}
	})
}
