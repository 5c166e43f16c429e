package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
)

// BenchmarkRequestHooks is what tracing adds to one chat request, without
// the request: the server span (middleware), the routing span, one
// attempt span with the request's parameters, the upstream traceparent,
// the response attributes and the server span's annotation; spans batched
// to a discarding exporter. bench/tracing_test.go measures the same
// through a whole gateway.
//
//	go test ./internal/tracing -run '^$' -bench RequestHooks -benchmem -count 5
func BenchmarkRequestHooks(b *testing.B) {
	maxTok, temp := 64, 0.7
	chat := &provider.ChatRequest{MaxTokens: &maxTok, Temperature: &temp,
		Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Say hello in a few words.")}}
	for _, m := range []struct {
		name string
		cfg  func(*config.Tracing)
	}{
		{"off", func(c *config.Tracing) { c.Enabled = false }},
		{"on", nil},
		{"unsampled", func(c *config.Tracing) { c.SampleRatio = 0 }},
	} {
		b.Run(m.name, func(b *testing.B) {
			cfg := config.DefaultTracing()
			cfg.Enabled = true
			if m.cfg != nil {
				m.cfg(&cfg)
			}
			tr, err := New(context.Background(), cfg, Options{Exporter: tracetest.NewNoopExporter()})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = tr.Shutdown(context.Background()) }()
			upstream := httptest.NewRequest("POST", "http://up.test/v1", nil)
			mux := http.NewServeMux()
			mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
				ctx := r.Context()
				rctx, route := tr.StartRoute(ctx, OpChat, "bench-model", "fallback")
				actx, call := tr.StartAttempt(rctx, AttemptStart{Operation: OpChat, Provider: "openai", Deployment: "d",
					Model: "bench-model", UpstreamModel: "mock-model", BaseURL: "http://127.0.0.1:9001/v1", Chat: chat})
				provider.InjectTrace(actx, upstream)
				if tr != nil {
					tr.EndAttempt(call, AttemptEnd{Outcome: "ok", Usage: provider.Usage{InputTokens: 24, OutputTokens: 16},
						ResponseModel: "mock-model", ResponseID: "chatcmpl-1", FinishReasons: []string{"stop"}})
					tr.EndRoute(route, 1, "d", -1, nil)
					tr.Annotate(ctx, Exchange{Endpoint: "chat", RequestID: "req_1", KeyID: 1, TeamID: 1, Model: "bench-model",
						ResponseModel: "bench-model", Provider: "openai", Deployment: "d", InputTokens: 24, OutputTokens: 16, Status: 200})
				}
				w.WriteHeader(http.StatusOK)
			})
			h := tr.Middleware(mux, mux)
			req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.Header())
				h.ServeHTTP(w, req)
			}
		})
	}
}
