package orchestrate_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/tracing"
)

// traced returns an orchestrator whose spans go to the returned recorder,
// and a root span's context (the request's server span, in the gateway).
func traced(t *testing.T, edit func(*config.Tracing)) (*orchestrate.Orchestrator, *tracetest.SpanRecorder, context.Context, trace.Span) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	cfg := config.DefaultTracing()
	cfg.Enabled = true
	if edit != nil {
		edit(&cfg)
	}
	tr, err := tracing.New(context.Background(), cfg, tracing.Options{Processor: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	o := newOrch()
	o.Tracer = tr
	ctx, root := tr.Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	return o, rec, ctx, root
}

// spanNamed returns the one ended span called name.
func spanNamed(t *testing.T, rec *tracetest.SpanRecorder, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ended spans named %q, want 1; ended: %s", len(found), name, spanNames(rec.Ended()))
	}
	return found[0]
}

func spanNames(spans []sdktrace.ReadOnlySpan) string {
	var s []string
	for _, sp := range spans {
		s = append(s, sp.Name())
	}
	return strings.Join(s, ", ")
}

// attr returns the value of key on s ("" when absent).
func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := attr(s, k); got != v {
			t.Errorf("span %q: %s = %q, want %q (attributes %v)", s.Name(), k, got, v, s.Attributes())
		}
	}
}

func wantParent(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("span %q is not a child of %q", child.Name(), parent.Name())
	}
}

func TestTraceFallback(t *testing.T) {
	o, rec, ctx, root := traced(t, nil)
	a, b := failing("a", 503), answer("b", "ok", 0)
	rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b)
	r := req()
	maxTokens, temp := 64, 0.5
	r.MaxTokens, r.Temperature = &maxTokens, &temp
	if _, err := o.Chat(ctx, rt, r); err != nil {
		t.Fatal(err)
	}
	root.End()
	rs, failed, won := spanNamed(t, rec, "route r"), spanNamed(t, rec, "chat a"), spanNamed(t, rec, "chat b")
	wantParent(t, rs, spanNamed(t, rec, "request"))
	wantParent(t, failed, rs)
	wantParent(t, won, rs)
	wantAttrs(t, rs, map[string]string{"chorus.route.strategy": "fallback", "chorus.route.attempts": "2", "chorus.route.winner": "b"})
	wantAttrs(t, failed, map[string]string{"chorus.attempt.outcome": "error", "error.type": "503",
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "a", "gen_ai.provider.name": "fake"})
	if failed.Status().Code != codes.Error || failed.SpanKind() != trace.SpanKindClient {
		t.Errorf("failed attempt: status %v kind %v, want Error, client", failed.Status(), failed.SpanKind())
	}
	wantAttrs(t, won, map[string]string{"chorus.attempt.outcome": "ok", "gen_ai.usage.input_tokens": "10",
		"gen_ai.usage.output_tokens": "5", "gen_ai.response.id": "b", "gen_ai.response.finish_reasons": `["stop"]`,
		"gen_ai.request.max_tokens": "64", "gen_ai.request.temperature": "0.5", "error.type": ""})
	if won.Status().Code == codes.Error {
		t.Error("the answering attempt is marked failed")
	}
	if attr(won, "gen_ai.input.messages") != "" {
		t.Error("prompt captured without capture_content")
	}
}

func TestTraceHedgeLoserCanceled(t *testing.T) {
	o, rec, ctx, root := traced(t, nil)
	slow, fast := answer("slow", "late", 2*time.Second), answer("fast", "quick", 10*time.Millisecond)
	if _, err := o.Chat(ctx, route(chorus.StrategyHedge, chorus.RouteConfig{HedgeDelay: 30}, slow, fast), req()); err != nil {
		t.Fatal(err)
	}
	root.End()
	loser, winner := spanNamed(t, rec, "chat slow"), spanNamed(t, rec, "chat fast")
	wantAttrs(t, loser, map[string]string{"chorus.attempt.outcome": "canceled"})
	wantAttrs(t, winner, map[string]string{"chorus.attempt.outcome": "ok"})
	if loser.Status().Code == codes.Error {
		t.Error("a hedge's cancelled loser is not a failure")
	}
	if loser.EndTime().Sub(loser.StartTime()) > time.Second {
		t.Errorf("loser span lasted %v: it must end when its call was cancelled", loser.EndTime().Sub(loser.StartTime()))
	}
	wantParent(t, loser, spanNamed(t, rec, "route r"))
}

// judgeEvaluator scores by asking a judge route through the orchestrator,
// as app's judge does.
type judgeEvaluator struct {
	o     *orchestrate.Orchestrator
	judge *registry.Route
}

func (j judgeEvaluator) Evaluate(ctx context.Context, _ *registry.Route, req *provider.ChatRequest, _ *provider.ChatResponse) (float64, []*orchestrate.Attempt, error) {
	res, err := j.o.Chat(ctx, j.judge, req)
	if err != nil {
		return 0, res.Attempts, err
	}
	return 0.9, res.Attempts, nil
}

func TestTraceCascadeJudge(t *testing.T) {
	o, rec, ctx, root := traced(t, nil)
	judge := route(chorus.StrategyFallback, chorus.RouteConfig{}, answer("judge", "9", 0))
	judge.Model = &chorus.Model{Name: "judge-model", Kind: chorus.KindChat}
	o.Evaluator = judgeEvaluator{o: o, judge: judge}
	res, err := o.Chat(ctx, route(chorus.StrategyCascade, chorus.RouteConfig{Threshold: 0.7}, answer("cheap", "cheap", 0), answer("strong", "strong", 0)), req())
	if err != nil {
		t.Fatal(err)
	}
	root.End()
	if got, want := outcomes(res.Attempts), "cheap:ok judge:judge"; got != want {
		t.Fatalf("attempts %q, want %q", got, want)
	}
	outer, eval, judgeRoute, judgeCall := spanNamed(t, rec, "route r"), spanNamed(t, rec, "evaluate r"),
		spanNamed(t, rec, "route judge-model"), spanNamed(t, rec, "chat judge")
	wantParent(t, eval, outer)
	wantParent(t, judgeRoute, eval)
	wantParent(t, judgeCall, judgeRoute)
	wantParent(t, spanNamed(t, rec, "chat cheap"), outer)
	wantAttrs(t, eval, map[string]string{"gen_ai.evaluation.score.value": "0.9", "chorus.judge.calls": "1", "chorus.deployment": "cheap"})
	wantAttrs(t, judgeCall, map[string]string{"chorus.attempt.outcome": "judge"})
	wantAttrs(t, spanNamed(t, rec, "chat cheap"), map[string]string{"chorus.quality.score": "0.9", "chorus.tier": "0"})
	wantAttrs(t, outer, map[string]string{"chorus.route.strategy": "cascade", "chorus.tier": "0", "chorus.route.winner": "cheap"})
}

func TestTraceStream(t *testing.T) {
	o, rec, ctx, root := traced(t, func(c *config.Tracing) { c.CaptureContent = true; c.CaptureContentMaxBytes = 8 })
	a, b := failing("a", 500), answer("b", "streamed answer", 0)
	r := req()
	r.Stream = true
	sr, err := o.ChatStream(ctx, route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Ended() {
		if s.Name() == "chat b" || s.Name() == "route r" {
			t.Fatalf("span %q ended before its stream", s.Name())
		}
	}
	spanNamed(t, rec, "chat a") // the failed attempt ends at once
	for c := sr.First; c != nil; c, err = sr.Stream.Next() {
		_ = c
	}
	time.Sleep(5 * time.Millisecond)
	end := time.Now()
	sr.Finish(provider.Usage{InputTokens: 7, OutputTokens: 3}, err)
	root.End()
	won := spanNamed(t, rec, "chat b")
	wantAttrs(t, won, map[string]string{"gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": "3",
		"gen_ai.response.finish_reasons": `["stop"]`, "gen_ai.response.id": "b", "chorus.stream": "true",
		"gen_ai.input.messages":    `[{"role":"user","parts":[{"type":"text","content":"hi"}]}]`,
		"gen_ai.output.messages":   `[{"role":"assistant","parts":[{"type":"text","content":"streamed"}],"finish_reason":"stop"}]`,
		"chorus.content.truncated": "true"})
	if won.EndTime().Before(end) {
		t.Errorf("stream span ended at %v, before the stream did (%v)", won.EndTime(), end)
	}
	wantAttrs(t, spanNamed(t, rec, "route r"), map[string]string{"chorus.route.winner": "b", "chorus.route.attempts": "2"})
}

func TestTracePropagatesUpstream(t *testing.T) {
	o, rec, ctx, root := traced(t, nil)
	var mu sync.Mutex
	var sent http.Header
	f := &fake{name: "up", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
		shared := http.Header{"Authorization": {"Bearer k"}} // adapters may share one header map
		r, _ := http.NewRequestWithContext(ctx, "POST", "http://up.test/v1", nil)
		r.Header = shared
		provider.InjectTrace(ctx, r) // what every adapter does on its request
		if len(shared) != 1 {
			t.Error("InjectTrace wrote into the shared header map")
		}
		mu.Lock()
		sent = r.Header
		mu.Unlock()
		return answer("up", "ok", 0).chat(ctx)
	}}
	if _, err := o.Chat(ctx, route(chorus.StrategyFallback, chorus.RouteConfig{}, f), req()); err != nil {
		t.Fatal(err)
	}
	root.End()
	call := spanNamed(t, rec, "chat up")
	want := "00-" + call.SpanContext().TraceID().String() + "-" + call.SpanContext().SpanID().String() + "-01"
	mu.Lock()
	defer mu.Unlock()
	if got := sent.Get("traceparent"); got != want {
		t.Fatalf("upstream traceparent %q, want the attempt span's %q", got, want)
	}
	// Off, nothing is sent.
	r, _ := http.NewRequest("POST", "http://up.test/v1", nil)
	provider.InjectTrace(context.Background(), r)
	if len(r.Header) != 0 {
		t.Fatalf("headers without a span: %v", r.Header)
	}
}

func TestTraceEmbed(t *testing.T) {
	o, rec, ctx, root := traced(t, nil)
	emb := &embedder{fake: answer("e", "", 0)}
	rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, emb.fake)
	rt.Targets[0].Provider = emb
	if _, err := o.Embed(ctx, rt, &provider.EmbeddingRequest{Model: "r", Input: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	root.End()
	s := spanNamed(t, rec, "embeddings e")
	wantAttrs(t, s, map[string]string{"gen_ai.operation.name": "embeddings", "gen_ai.response.model": "emb-1", "gen_ai.usage.input_tokens": "3"})
}

type embedder struct{ *fake }

func (e *embedder) Embed(ctx context.Context, req *provider.EmbeddingRequest) (*provider.EmbeddingResponse, error) {
	return &provider.EmbeddingResponse{Model: "emb-1", Data: [][]float32{{1}}, Usage: provider.Usage{InputTokens: 3}}, nil
}

// TestTraceOffAddsNothing: without a tracer, no span is started and the
// context the provider sees carries none.
func TestTraceOffAddsNothing(t *testing.T) {
	var seen trace.SpanContext
	f := &fake{name: "x", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
		seen = trace.SpanContextFromContext(ctx)
		return answer("x", "ok", 0).chat(ctx)
	}}
	if _, err := newOrch().Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{}, f), req()); err != nil {
		t.Fatal(err)
	}
	if seen.IsValid() {
		t.Fatal("a span context reached the upstream call with tracing off")
	}
}

func TestTraceStreamFails(t *testing.T) {
	o, rec, ctx, root := traced(t, nil)
	_, err := o.ChatStream(ctx, route(chorus.StrategyFallback, chorus.RouteConfig{}, failing("a", 503), failing("b", 500)), req())
	if err == nil {
		t.Fatal("want an error")
	}
	root.End()
	rs := spanNamed(t, rec, "route r")
	wantAttrs(t, rs, map[string]string{"chorus.route.attempts": "2", "chorus.route.winner": "", "error.type": "500"})
	wantAttrs(t, spanNamed(t, rec, "chat b"), map[string]string{"chorus.attempt.outcome": "error"})
}

func TestTraceStreamKeepsReady(t *testing.T) {
	o, _, ctx, _ := traced(t, nil)
	sr, err := o.ChatStream(ctx, route(chorus.StrategyFallback, chorus.RouteConfig{}, answer("a", "some words", 0)), req())
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Finish(provider.Usage{}, nil)
	r, ok := sr.Stream.(interface{ Ready() bool })
	if !ok || !r.Ready() {
		t.Fatal("the traced stream hides the replayed stream's Ready, which the relay batches by")
	}
}
