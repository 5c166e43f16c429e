package tracing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
)

// newTestTracer returns a tracer whose spans go to the returned recorder.
func newTestTracer(t *testing.T, edit func(*config.Tracing)) (*Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	cfg := config.DefaultTracing()
	cfg.Enabled = true
	if edit != nil {
		edit(&cfg)
	}
	tr, err := New(context.Background(), cfg, Options{Processor: rec, InstanceID: "i-1", Version: "v9"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, rec
}

func attrOf(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func TestOff(t *testing.T) {
	tr, err := New(context.Background(), config.DefaultTracing(), Options{})
	if err != nil || tr != nil {
		t.Fatalf("New(off) = %v, %v; want nil, nil", tr, err)
	}
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if h := tr.Middleware(nil, next); fmt.Sprintf("%p", h) != fmt.Sprintf("%p", next) {
		t.Error("Middleware off must be next itself")
	}
	ctx := context.Background()
	upstream := httptest.NewRequest("POST", "http://up.test/v1", nil)
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tr.StartAttempt(ctx, AttemptStart{Operation: OpChat})
		tr.EndAttempt(span, AttemptEnd{})
		c, span = tr.StartRoute(c, OpChat, "m", "fallback")
		tr.EndRoute(span, 1, "d", -1, nil)
		_, span = tr.StartEvaluate(c, "m", "d")
		tr.EndEvaluate(span, 1, 0)
		tr.Annotate(c, Exchange{})
		provider.InjectTrace(c, upstream)
	})
	if allocs > 0 {
		t.Errorf("tracing off allocates %v times per request's hooks", allocs)
	}
	if tr.Shutdown(ctx) != nil || tr.ForceFlush(ctx) != nil || tr.CapturesContent() {
		t.Error("nil tracer methods must be no-ops")
	}
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		protocol, endpoint, want string
	}{
		{config.TracingHTTP, "", "http://localhost:4318/v1/traces"},
		{config.TracingHTTP, "http://c:4318", "http://c:4318/v1/traces"},
		{config.TracingHTTP, "https://c:4318/", "https://c:4318/v1/traces"},
		{config.TracingHTTP, "https://c/otlp/v1/traces", "https://c/otlp/v1/traces"},
		{config.TracingGRPC, "", "http://localhost:4317"},
		{config.TracingGRPC, "https://c:4317", "https://c:4317"},
	} {
		if got := endpoint(config.Tracing{Protocol: tc.protocol, Endpoint: tc.endpoint}); got != tc.want {
			t.Errorf("endpoint(%s, %q) = %q, want %q", tc.protocol, tc.endpoint, got, tc.want)
		}
	}
}

func TestNewExporters(t *testing.T) {
	for _, p := range []string{config.TracingHTTP, config.TracingGRPC} {
		cfg := config.DefaultTracing()
		cfg.Enabled, cfg.Protocol, cfg.Headers = true, p, map[string]string{"authorization": "Bearer x"}
		tr, err := New(context.Background(), cfg, Options{})
		if err != nil || tr == nil {
			t.Fatalf("%s: New = %v, %v", p, tr, err)
		}
		// No collector listens: shutting down must still return, bounded.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = tr.Shutdown(ctx)
		cancel()
	}
}

func TestSampler(t *testing.T) {
	sampledParent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
	for _, tc := range []struct {
		sampler             string
		ratio               float64
		root, sampledParent bool
	}{
		{"parentbased_traceidratio", 0, false, true},
		{"parentbased_traceidratio", 1, true, true},
		{"traceidratio", 0, false, false},
		{"always_on", 0, true, true},
		{"always_off", 1, false, false},
		{"parentbased_always_on", 0, true, true},
		{"parentbased_always_off", 1, false, true},
	} {
		tr, _ := newTestTracer(t, func(c *config.Tracing) { c.Sampler, c.SampleRatio = tc.sampler, tc.ratio })
		_, root := tr.Start(context.Background(), "root")
		_, child := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), sampledParent), "child")
		if root.SpanContext().IsSampled() != tc.root || child.SpanContext().IsSampled() != tc.sampledParent {
			t.Errorf("%s ratio %g: root sampled %v, child of a sampled parent %v; want %v, %v",
				tc.sampler, tc.ratio, root.SpanContext().IsSampled(), child.SpanContext().IsSampled(), tc.root, tc.sampledParent)
		}
		if !root.SpanContext().TraceID().IsValid() {
			t.Errorf("%s: an unsampled request still has a trace ID (for logs and the header)", tc.sampler)
		}
	}
}

func TestMiddleware(t *testing.T) {
	tr, rec := newTestTracer(t, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		if !trace.SpanFromContext(r.Context()).IsRecording() {
			t.Error("the handler's context has no span")
		}
		w.WriteHeader(http.StatusTeapot)
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		tr.Annotate(r.Context(), Exchange{Endpoint: "chat", ErrorCode: chorus.EINTERNAL})
		w.WriteHeader(http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
		http.NewResponseController(w).Flush()
	})
	h := tr.Middleware(mux, mux)
	for _, tc := range []struct {
		method, path, name, status, errType string
		failed                              bool
	}{
		{"POST", "/v1/chat/completions", "POST /v1/chat/completions", "418", "", false},
		{"GET", "/boom", "GET /boom", "500", chorus.EINTERNAL, true},
		{"GET", "/down", "GET /down", "502", "502", true},
		{"GET", "/console/page", "GET", "200", "", false},
	} {
		req := httptest.NewRequest(tc.method, "http://chorus.test:8080"+tc.path, nil)
		req.Header.Set("User-Agent", "sdk/1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		spans := rec.Ended()
		s := spans[len(spans)-1]
		if s.Name() != tc.name || s.SpanKind() != trace.SpanKindServer {
			t.Errorf("%s %s: span %q kind %v", tc.method, tc.path, s.Name(), s.SpanKind())
		}
		if got := w.Header().Get(TraceIDHeader); got != s.SpanContext().TraceID().String() {
			t.Errorf("%s: trace header %q, span trace %s", tc.path, got, s.SpanContext().TraceID())
		}
		for k, v := range map[string]string{"http.response.status_code": tc.status, "error.type": tc.errType,
			"server.address": "chorus.test", "server.port": "8080", "user_agent.original": "sdk/1", "url.path": tc.path} {
			if got := attrOf(s, k); got != v {
				t.Errorf("%s: %s = %q, want %q", tc.path, k, got, v)
			}
		}
		if (s.Status().Code == codes.Error) != tc.failed {
			t.Errorf("%s: status %v", tc.path, s.Status())
		}
	}
}

func TestLogHandler(t *testing.T) {
	tr, _ := newTestTracer(t, nil)
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewTextHandler(&buf, nil))).With("instance_id", "i").WithGroup("g")
	ctx, span := tr.Start(context.Background(), "req")
	log.InfoContext(ctx, "inside", "k", 1)
	log.InfoContext(context.Background(), "outside")
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %q", buf.String())
	}
	sc := span.SpanContext()
	if !strings.Contains(lines[0], "trace_id="+sc.TraceID().String()) || !strings.Contains(lines[0], "span_id="+sc.SpanID().String()) ||
		!strings.Contains(lines[0], "instance_id=i") {
		t.Errorf("line in a span: %q", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("line outside a span: %q", lines[1])
	}
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&provider.Error{Status: 429}, "429"},
		{fmt.Errorf("wrapped: %w", &provider.Error{Timeout: true}), "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "canceled"},
		{&chorus.Error{Code: chorus.EUNAVAILABLE}, chorus.EUNAVAILABLE},
		{errors.New("odd"), "_OTHER"},
	} {
		if got := ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestProviderName(t *testing.T) {
	for kind, want := range map[string]string{chorus.ProviderOpenAI: "openai", chorus.ProviderAzure: "azure.ai.openai",
		chorus.ProviderAnthropic: "anthropic", chorus.ProviderGemini: "gcp.gemini", chorus.ProviderSimulator: "chorus.simulator", "other": "other"} {
		if got := ProviderName(kind); got != want {
			t.Errorf("ProviderName(%s) = %q, want %q", kind, got, want)
		}
	}
}

func TestContentCapture(t *testing.T) {
	req := &provider.ChatRequest{Messages: []provider.Message{
		provider.TextMessage(provider.RoleSystem, "be brief"),
		{Role: provider.RoleUser, Content: []provider.Part{{Type: provider.PartText, Text: "héllo wörld"}, {Type: provider.PartImage, ImageURL: "data:image/png;base64,SECRET"}}},
		{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c1", Name: "f", Arguments: `{}`}}},
		{Role: provider.RoleTool, ToolCallID: "c1", Content: []provider.Part{{Type: provider.PartText, Text: "42"}}},
	}}
	t.Run("Whole", func(t *testing.T) {
		attrs := inputContent(req, 1000)
		got := map[string]string{}
		for _, kv := range attrs {
			got[string(kv.Key)] = kv.Value.String()
		}
		if want := `[{"type":"text","content":"be brief"}]`; got["gen_ai.system_instructions"] != want {
			t.Errorf("system = %s, want %s", got["gen_ai.system_instructions"], want)
		}
		want := `[{"role":"user","parts":[{"type":"text","content":"héllo wörld"},{"type":"image"}]},` +
			`{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"f","arguments":"{}"}]},` +
			`{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"42"}]}]`
		if got["gen_ai.input.messages"] != want {
			t.Errorf("input = %s\nwant    %s", got["gen_ai.input.messages"], want)
		}
		if strings.Contains(got["gen_ai.input.messages"], "SECRET") || got["chorus.content.truncated"] != "" {
			t.Error("image data captured, or truncated when it fits")
		}
	})
	t.Run("CutOnRuneBoundary", func(t *testing.T) {
		attrs := inputContent(req, 2) // "h" and the first byte of "é": only "h" fits whole
		var in string
		var cut bool
		for _, kv := range attrs {
			switch kv.Key {
			case "gen_ai.input.messages":
				in = kv.Value.AsString()
			case AttrTruncated:
				cut = kv.Value.AsBool()
			}
		}
		if !strings.Contains(in, `"content":"h"`) || !cut || strings.Contains(in, "\ufffd") {
			t.Errorf("truncated input %s (cut %v)", in, cut)
		}
	})
	t.Run("Output", func(t *testing.T) {
		resp := &provider.ChatResponse{Choices: []provider.Choice{{Message: provider.TextMessage(provider.RoleAssistant, "hi"), FinishReason: provider.FinishStop}}}
		kv := outputContent(resp, 10)
		if want := `[{"role":"assistant","parts":[{"type":"text","content":"hi"}],"finish_reason":"stop"}]`; kv[0].Value.AsString() != want {
			t.Errorf("output = %s", kv[0].Value.AsString())
		}
	})
}

func TestAttemptSpan(t *testing.T) {
	tr, rec := newTestTracer(t, func(c *config.Tracing) { c.CaptureContent = true })
	maxTok, temp, topP, topK, n, seed, pp, fp := 10, 0.1, 0.9, 5, 2, int64(7), 0.3, 0.4
	req := &provider.ChatRequest{MaxTokens: &maxTok, Temperature: &temp, TopP: &topP, TopK: &topK, N: &n, Seed: &seed,
		PresencePenalty: &pp, FrequencyPenalty: &fp, Stop: []string{"END"}, Stream: true,
		Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "q")}}
	_, span := tr.StartAttempt(context.Background(), AttemptStart{Operation: OpChat, Provider: chorus.ProviderAnthropic,
		Deployment: "d", Model: "m", UpstreamModel: "claude", BaseURL: "https://api.anthropic.com/v1", Tier: 2, Chat: req})
	end := time.Now().Add(-time.Millisecond)
	tr.EndAttempt(span, AttemptEnd{Outcome: "ok", Usage: provider.Usage{InputTokens: 3, OutputTokens: 4, CachedInputTokens: 1, CacheWriteTokens: 2},
		ResponseModel: "claude-x", ResponseID: "msg_1", FinishReasons: []string{"stop"}, Output: "answer", End: end})
	s := rec.Ended()[0]
	for k, v := range map[string]string{"gen_ai.request.max_tokens": "10", "gen_ai.request.temperature": "0.1",
		"gen_ai.request.top_p": "0.9", "gen_ai.request.top_k": "5", "gen_ai.request.choice.count": "2", "gen_ai.request.seed": "7",
		"gen_ai.request.presence_penalty": "0.3", "gen_ai.request.frequency_penalty": "0.4", "gen_ai.request.stop_sequences": `["END"]`,
		"server.address": "api.anthropic.com", "server.port": "443", "gen_ai.provider.name": "anthropic", "chorus.tier": "2",
		"gen_ai.usage.cache_read.input_tokens": "1", "gen_ai.usage.cache_creation.input_tokens": "2", "gen_ai.response.model": "claude-x",
		"gen_ai.output.messages": `[{"role":"assistant","parts":[{"type":"text","content":"answer"}],"finish_reason":"stop"}]`} {
		if got := attrOf(s, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !s.EndTime().Equal(end) || s.Name() != "chat claude" {
		t.Errorf("span %q ended %v, want %v", s.Name(), s.EndTime(), end)
	}
}

func TestRouteAndEvaluateSpans(t *testing.T) {
	tr, rec := newTestTracer(t, nil)
	ctx, route := tr.StartRoute(context.Background(), OpChat, "support", "cascade")
	_, eval := tr.StartEvaluate(ctx, "support", "cheap")
	tr.EndEvaluate(eval, 0.75, 2)
	tr.EndRoute(route, 3, "strong", 1, &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "none"})
	_, ok := tr.StartRoute(context.Background(), OpEmbeddings, "emb", "fallback")
	tr.EndRoute(ok, 1, "e1", -1, nil)
	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	e, r, o := spans[0], spans[1], spans[2]
	if e.Name() != "evaluate support" || attrOf(e, "gen_ai.evaluation.score.value") != "0.75" || attrOf(e, "chorus.judge.calls") != "2" ||
		e.Parent().SpanID() != r.SpanContext().SpanID() {
		t.Errorf("evaluate span %q %v", e.Name(), e.Attributes())
	}
	if r.Name() != "route support" || attrOf(r, "chorus.route.attempts") != "3" || attrOf(r, "chorus.route.winner") != "strong" ||
		attrOf(r, "chorus.tier") != "1" || attrOf(r, "error.type") != chorus.EUNAVAILABLE || r.Status().Code != codes.Error {
		t.Errorf("route span %q %v %v", r.Name(), r.Attributes(), r.Status())
	}
	if attrOf(o, "chorus.tier") != "" || attrOf(o, "gen_ai.operation.name") != OpEmbeddings || o.Status().Code == codes.Error {
		t.Errorf("embeddings route span %v", o.Attributes())
	}
}

func TestAnnotate(t *testing.T) {
	tr, rec := newTestTracer(t, nil)
	ctx, span := tr.Start(context.Background(), "server")
	tr.Annotate(ctx, Exchange{Endpoint: "embeddings", RequestID: "req_1", KeyID: 4, TeamID: 5, Model: "route-a",
		ResponseModel: "member", Provider: chorus.ProviderGemini, Deployment: "g1", Cache: "miss", Stream: true,
		InputTokens: 9, OutputTokens: 1, Status: 503, ErrorCode: chorus.EUNAVAILABLE})
	span.End()
	tr.Annotate(context.Background(), Exchange{Endpoint: "chat"}) // no span: nothing to do
	s := rec.Ended()[0]
	for k, v := range map[string]string{"gen_ai.operation.name": "embeddings", "chorus.request_id": "req_1", "chorus.key_id": "4",
		"chorus.team_id": "5", "gen_ai.request.model": "route-a", "gen_ai.response.model": "member", "gen_ai.provider.name": "gcp.gemini",
		"chorus.deployment": "g1", "chorus.cache": "miss", "chorus.stream": "true", "gen_ai.usage.input_tokens": "9",
		"gen_ai.usage.output_tokens": "1", "error.type": chorus.EUNAVAILABLE} {
		if got := attrOf(s, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestEndAttemptFailedWholeAnswer(t *testing.T) {
	tr, rec := newTestTracer(t, func(c *config.Tracing) { c.CaptureContent = true })
	resp := &provider.ChatResponse{ID: "r1", Model: "m-2024", Choices: []provider.Choice{
		{Message: provider.TextMessage(provider.RoleAssistant, "a"), FinishReason: provider.FinishLength},
		{Index: 1, Message: provider.TextMessage(provider.RoleAssistant, "b")}}}
	if got := FinishReasons(resp); len(got) != 1 || got[0] != "length" {
		t.Errorf("FinishReasons = %v", got)
	}
	if FinishReasons(nil) != nil {
		t.Error("FinishReasons(nil) must be nil")
	}
	_, span := tr.StartAttempt(context.Background(), AttemptStart{Operation: OpChat, UpstreamModel: "m", BaseURL: "http://vllm.internal/v1"})
	score := 0.5
	tr.EndAttempt(span, AttemptEnd{Outcome: "rejected", Chat: resp, ResponseModel: resp.Model, FinishReasons: FinishReasons(resp), Score: &score})
	_, failed := tr.StartAttempt(context.Background(), AttemptStart{Operation: OpChat, UpstreamModel: "m"})
	tr.EndAttempt(failed, AttemptEnd{Outcome: "error", Err: &provider.Error{Status: 500}})
	_, canceled := tr.StartAttempt(context.Background(), AttemptStart{Operation: OpChat, UpstreamModel: "m"})
	tr.EndAttempt(canceled, AttemptEnd{Outcome: "canceled", Err: context.Canceled})
	spans := rec.Ended()
	if got := attrOf(spans[0], "gen_ai.output.messages"); !strings.Contains(got, `"finish_reason":"length"`) || !strings.Contains(got, `"content":"b"`) {
		t.Errorf("output messages %s", got)
	}
	if attrOf(spans[0], "server.port") != "80" || attrOf(spans[0], "chorus.quality.score") != "0.5" || attrOf(spans[0], "chorus.attempt.outcome") != "rejected" {
		t.Errorf("attempt attributes %v", spans[0].Attributes())
	}
	if spans[1].Status().Code != codes.Error || attrOf(spans[1], "error.type") != "500" {
		t.Errorf("failed attempt %v %v", spans[1].Status(), spans[1].Attributes())
	}
	if spans[2].Status().Code == codes.Error || attrOf(spans[2], "error.type") != "" {
		t.Errorf("canceled attempt %v %v", spans[2].Status(), spans[2].Attributes())
	}
}

func TestMiddlewareUnsampled(t *testing.T) {
	tr, rec := newTestTracer(t, func(c *config.Tracing) { c.SampleRatio = 0 })
	var inner trace.SpanContext
	h := tr.Middleware(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusInternalServerError)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if len(rec.Ended()) != 0 {
		t.Fatal("an unsampled request recorded a span")
	}
	probe := httptest.NewRecorder()
	tr.Middleware(nil, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(probe, httptest.NewRequest("GET", "/livez", nil))
	if probe.Header().Get(TraceIDHeader) != "" {
		t.Error("a probe was traced")
	}
	if !inner.IsValid() || inner.IsSampled() || w.Header().Get(TraceIDHeader) != inner.TraceID().String() {
		t.Errorf("unsampled: context span %v, header %q", inner, w.Header().Get(TraceIDHeader))
	}
	// A sampled client's parent wins over the ratio.
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if n := len(rec.Ended()); n != 1 {
		t.Fatalf("a sampled parent's request recorded %d spans, want 1", n)
	}
}

func TestStatusWriterForwards(t *testing.T) {
	w := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if sw.Unwrap() != w {
		t.Error("Unwrap must return the wrapped writer")
	}
	sw.WriteHeader(http.StatusContinue) // informational: the final status follows
	sw.WriteHeader(http.StatusAccepted)
	_, _ = sw.Write([]byte("x"))
	sw.Flush()
	if sw.status != http.StatusAccepted || !w.Flushed {
		t.Errorf("status %d flushed %v", sw.status, w.Flushed)
	}
	if !untraced("/readyz") || untraced("/v1/models") {
		t.Error("untraced")
	}
	if routeOf("GET example.com/a/{id}") != "/a/{id}" || routeOf("/") != "" || routeOf("POST /v1/x") != "/v1/x" {
		t.Error("routeOf")
	}
}
