package e2e_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus"
)

// wantUsage is what one usage record must say.
type wantUsage struct {
	model, deployment, provider, endpoint string
	stream                                bool
	in, out                               int64
	status                                int
	errorCode                             string
	inPrice, outPrice                     int64
}

// TestUsageRecords makes a mix of requests with one key and checks the
// usage log records each exactly once, with what the SDKs reported.
func TestUsageRecords(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	sim := g.simulated("sim", map[string]any{"output_tokens": 12, "seed": 1})
	g.simulated("sim-429", map[string]any{"error_rate": 1, "error_status": 429})
	embed := g.createModel(modelSpec{Name: "sim-embed", Kind: chorus.KindEmbedding})
	g.createDeployment(deploymentSpec{ModelID: embed.ID, Name: "sim-embed-sim", Provider: chorus.ProviderSimulator,
		Settings: map[string]any{"dimensions": 8}, InputPrice: 20_000})
	key := g.customer()
	other := g.customer() // its requests must not show up under key
	oc, ac := g.openAI(key.Key), g.anthropic(key.Key)
	ctx := testContext(t, 60*time.Second)

	want := map[string]wantUsage{} // by request ID
	simUsage := func(endpoint string, stream bool, in, out int64) wantUsage {
		return wantUsage{model: "sim", deployment: sim.Deployment.Name, provider: "simulator", endpoint: endpoint, stream: stream,
			in: in, out: out, status: 200, inPrice: 1_000_000, outPrice: 2_000_000}
	}

	// 1. OpenAI, not streamed.
	var raw *http.Response
	resp, err := oc.Chat.Completions.New(ctx, chatParams("sim", "count me"), option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	want[raw.Header.Get("X-Request-Id")] = simUsage("chat", false, resp.Usage.PromptTokens, resp.Usage.CompletionTokens)

	// 2. OpenAI, streamed with usage.
	var log exchangeLog
	p := chatParams("sim", "count me too")
	p.StreamOptions.IncludeUsage = openai.Bool(true)
	s := collectOpenAI(t, oc.Chat.Completions.NewStreaming(ctx, p, log.openAI()))
	want[log.Header().Get("X-Request-Id")] = simUsage("chat", true, s.acc.Usage.PromptTokens, s.acc.Usage.CompletionTokens)

	// 3. OpenAI, streamed without usage: the same prompt costs the same.
	collectOpenAI(t, oc.Chat.Completions.NewStreaming(ctx, chatParams("sim", "count me too"), log.openAI()))
	want[log.Header().Get("X-Request-Id")] = simUsage("chat", true, s.acc.Usage.PromptTokens, s.acc.Usage.CompletionTokens)

	// 4. Anthropic, not streamed.
	var araw *http.Response
	m, err := ac.Messages.New(ctx, messageParams("sim", "anthropic counts"), anthropicoption.WithResponseInto(&araw))
	if err != nil {
		t.Fatal(err)
	}
	want[araw.Header.Get("X-Request-Id")] = simUsage("messages", false, m.Usage.InputTokens, m.Usage.OutputTokens)

	// 5. Anthropic, streamed.
	as := collectAnthropic(t, ac.Messages.NewStreaming(ctx, messageParams("sim", "anthropic streams"), log.anthropic()))
	want[log.Header().Get("X-Request-Id")] = simUsage("messages", true, as.msg.Usage.InputTokens, as.msg.Usage.OutputTokens)

	// 6. Embeddings.
	e, err := oc.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "sim-embed",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("embed this please")}}, option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	want[raw.Header.Get("X-Request-Id")] = wantUsage{model: "sim-embed", deployment: "sim-embed-sim", provider: "simulator",
		endpoint: "embeddings", in: e.Usage.PromptTokens, status: 200, inPrice: 20_000}

	// 7. An upstream error: recorded with its status and no tokens.
	_, err = oc.Chat.Completions.New(ctx, chatParams("sim-429", "fail"), option.WithResponseInto(&raw))
	wantOpenAIError(t, err, 429, "rate_limit_error", "rate_limit_exceeded")
	want[raw.Header.Get("X-Request-Id")] = wantUsage{model: "sim-429", deployment: "sim-429-sim", provider: "simulator",
		endpoint: "chat", status: 429, errorCode: chorus.ERATELIMIT}

	// 8. Rejected after the model was resolved: recorded, nothing consumed.
	tooMany := chatParams("sim", "x")
	tooMany.MaxTokens = openai.Int(5000)
	_, err = oc.Chat.Completions.New(ctx, tooMany, option.WithResponseInto(&raw))
	wantOpenAIError(t, err, 400, "invalid_request_error", "")
	want[raw.Header.Get("X-Request-Id")] = wantUsage{model: "sim", endpoint: "chat", status: 400, errorCode: chorus.EINVALID}

	// 9. Refused before a model was resolved: recorded with model "", so
	// an operator sees why a client integration fails.
	_, err = oc.Chat.Completions.New(ctx, chatParams("nope", "x"), option.WithResponseInto(&raw))
	wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found")
	want[raw.Header.Get("X-Request-Id")] = wantUsage{endpoint: "chat", status: 404, errorCode: chorus.ENOTFOUND}

	// Not recorded for this key: a bad key (recorded under key 0), another key's request.
	_, err = g.openAI("sk-bogus-key-000000000000000000").Chat.Completions.New(ctx, chatParams("sim", "x"))
	wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
	if _, err := g.openAI(other.Key).Chat.Completions.New(ctx, chatParams("sim", "x")); err != nil {
		t.Fatal(err)
	}

	if len(want) != 9 {
		t.Fatalf("collected %d distinct request IDs, want 9: %v", len(want), want)
	}
	recs := g.waitUsage(key.ID, len(want))
	for _, r := range recs {
		w, ok := want[r.RequestID]
		if !ok {
			t.Errorf("unexpected usage record %+v", r)
			continue
		}
		delete(want, r.RequestID)
		if r.KeyID != key.ID || r.UserID != key.UserID {
			t.Errorf("%s: key %d user %d, want %d %d", r.RequestID, r.KeyID, r.UserID, key.ID, key.UserID)
		}
		if r.Model != w.model || r.Deployment != w.deployment || r.Provider != w.provider || r.Endpoint != w.endpoint || r.Stream != w.stream {
			t.Errorf("%s: model %q deployment %q provider %q endpoint %q stream %v; want %q %q %q %q %v", r.RequestID,
				r.Model, r.Deployment, r.Provider, r.Endpoint, r.Stream, w.model, w.deployment, w.provider, w.endpoint, w.stream)
		}
		if r.InputTokens != w.in || r.OutputTokens != w.out {
			t.Errorf("%s (%s stream=%v): tokens %d in %d out, want what the SDK reported: %d %d", r.RequestID, r.Endpoint, r.Stream,
				r.InputTokens, r.OutputTokens, w.in, w.out)
		}
		if r.Status != w.status || r.ErrorCode != w.errorCode {
			t.Errorf("%s: status %d code %q, want %d %q", r.RequestID, r.Status, r.ErrorCode, w.status, w.errorCode)
		}
		if wantCost := chorus.RequestCost(w.in, w.out, w.inPrice, w.outPrice); r.Cost != wantCost {
			t.Errorf("%s: cost %d, want %d", r.RequestID, r.Cost, wantCost)
		}
		if w.status == 200 && w.inPrice > 0 && r.Cost <= 0 {
			t.Errorf("%s: a priced request cost nothing", r.RequestID)
		}
		if r.LatencyMS <= 0 || r.CreatedAt.IsZero() || time.Since(r.CreatedAt) > time.Minute {
			t.Errorf("%s: latency %v created %v", r.RequestID, r.LatencyMS, r.CreatedAt)
		}
		if r.Stream && r.Status == 200 && (r.TTFTMS <= 0 || r.TTFTMS > r.LatencyMS) {
			t.Errorf("%s: ttft %v latency %v; want 0 < ttft <= latency", r.RequestID, r.TTFTMS, r.LatencyMS)
		}
	}
	for id, w := range want {
		t.Errorf("no usage record for %s (%+v)", id, w)
	}
}

// TestStreamAbort cancels a stream after its first chunks: the usage record
// says 499 and bills what was generated.
func TestStreamAbort(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("slow", map[string]any{"output_tokens": 60, "tokens_per_second": 20, "seed": 4})
	key := g.customer()
	oc := g.openAI(key.Key)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := oc.Chat.Completions.NewStreaming(ctx, chatParams("slow", "take your time"))
	content := 0
	for s.Next() {
		if len(s.Current().Choices) > 0 && s.Current().Choices[0].Delta.Content != "" {
			content++
		}
		if content == 3 {
			cancel()
			break
		}
	}
	s.Close()
	if content != 3 {
		t.Fatalf("got %d content chunks before the stream ended (%v), want 3", content, s.Err())
	}
	recs := g.waitUsage(key.ID, 1)
	r := recs[0]
	if r.Status != 499 || r.ErrorCode != "client_closed" || !r.Stream {
		t.Errorf("aborted stream recorded as status %d code %q stream %v; want 499 client_closed true", r.Status, r.ErrorCode, r.Stream)
	}
	if r.OutputTokens < 1 || r.OutputTokens >= 60 || r.InputTokens < 1 {
		t.Errorf("aborted stream billed %d in %d out; want input, and some but not all 60 output tokens", r.InputTokens, r.OutputTokens)
	}
	if want := chorus.RequestCost(r.InputTokens, r.OutputTokens, 1_000_000, 2_000_000); r.Cost != want || r.Cost <= 0 {
		t.Errorf("cost = %d, want %d for what was generated", r.Cost, want)
	}
	// The upstream stream was stopped: the full answer would take 3 s.
	if r.LatencyMS > 2500 {
		t.Errorf("latency %v ms: the gateway kept streaming after the client left", r.LatencyMS)
	}
}

// metricLines returns the samples of /metrics, by name and labels.
func metricLines(t *testing.T, g *gateway) map[string]float64 {
	t.Helper()
	r := g.do("GET", "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics = %d", r.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics checks the Prometheus metrics after some traffic.
func TestMetrics(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", map[string]any{"output_tokens": 5})
	g.simulated("sim-500", map[string]any{"error_rate": 1, "error_status": 500})
	key := g.customer()
	oc := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)

	resp, err := oc.Chat.Completions.New(ctx, chatParams("sim", "one"))
	if err != nil {
		t.Fatal(err)
	}
	p := chatParams("sim", "two")
	p.StreamOptions.IncludeUsage = openai.Bool(true)
	st := collectOpenAI(t, oc.Chat.Completions.NewStreaming(ctx, p))
	_, err = oc.Chat.Completions.New(ctx, chatParams("sim-500", "three"))
	wantOpenAIError(t, err, 502, "upstream_error", "")
	if _, err := g.anthropic(key.Key).Messages.New(ctx, messageParams("sim", "four")); err != nil {
		t.Fatal(err)
	}

	// Metrics are observed as the handler returns, just after the last byte
	// reached the client: wait for the last request's.
	var ms map[string]float64
	deadline := time.Now().Add(2 * time.Second)
	for {
		ms = metricLines(t, g)
		if (ms[`chorus_requests_total{endpoint="messages",model="sim",provider="simulator",status="200"}`] == 1 &&
			ms[`chorus_tokens_total{direction="output",model="sim",provider="simulator"}`] == 15) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checks := map[string]float64{
		`chorus_requests_total{endpoint="chat",model="sim",provider="simulator",status="200"}`:          2,
		`chorus_requests_total{endpoint="chat",model="sim-500",provider="simulator",status="502"}`:      1,
		`chorus_requests_total{endpoint="messages",model="sim",provider="simulator",status="200"}`:      1,
		`chorus_request_duration_seconds_count{endpoint="chat",model="sim",provider="simulator"}`:       2,
		`chorus_time_to_first_token_seconds_count{model="sim",provider="simulator"}`:                    1,
		`chorus_errors_total{code="upstream",model="sim-500",provider="simulator",status="502"}`:        1,
		`chorus_upstream_attempts_total{deployment="sim-sim",outcome="ok",provider="simulator"}`:        3,
		`chorus_upstream_attempts_total{deployment="sim-500-sim",outcome="error",provider="simulator"}`: 1,
	}
	for name, v := range checks {
		if got, ok := ms[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	// Output tokens: 5 per answer, three answers.
	if got := ms[`chorus_tokens_total{direction="output",model="sim",provider="simulator"}`]; got != 15 {
		t.Errorf("output tokens = %v, want 15", got)
	}
	in := resp.Usage.PromptTokens + st.acc.Usage.PromptTokens
	if got := ms[`chorus_tokens_total{direction="input",model="sim",provider="simulator"}`]; got <= float64(in) {
		t.Errorf("input tokens = %v, want more than the two OpenAI requests' %d", got, in)
	}
}

// TestHealth checks the probes, and that /readyz fails once draining.
func TestHealth(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	if r := g.do("GET", "/livez", "", nil); r.Status != 200 || strings.TrimSpace(string(r.Body)) != "ok" {
		t.Errorf("/livez = %d %q, want 200 ok", r.Status, r.Body)
	}
	if r := g.do("GET", "/readyz", "", nil); r.Status != 200 || readyStatus(t, r) != "ok" {
		t.Errorf("/readyz = %d %s, want 200 ok", r.Status, r.Body)
	}
	g.App.Manage.Drain()
	if r := g.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable || !strings.Contains(string(r.Body), "draining") {
		t.Errorf("/readyz while draining = %d %q, want 503 draining", r.Status, r.Body)
	}
	if r := g.do("GET", "/livez", "", nil); r.Status != 200 {
		t.Errorf("/livez while draining = %d, want 200: the process is alive", r.Status)
	}
}
