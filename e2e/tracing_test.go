package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/bench/mockupstream"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/tracing"
)

// syncBuffer is a log destination safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// recordingUpstream is the mock OpenAI upstream, noting the trace context
// each request brought.
type recordingUpstream struct {
	mu          sync.Mutex
	traceparent []string
	baggage     []string
}

func (u *recordingUpstream) start(t *testing.T) string {
	mock := mockupstream.New(mockupstream.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.traceparent = append(u.traceparent, r.Header.Get("traceparent"))
		u.baggage = append(u.baggage, r.Header.Get("baggage"))
		u.mu.Unlock()
		mock.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

func (u *recordingUpstream) last() (traceparent, baggage string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := len(u.traceparent)
	if n == 0 {
		return "", ""
	}
	return u.traceparent[n-1], u.baggage[n-1]
}

// tracedGateway starts a gateway with tracing on, its spans recorded, and
// its log (info, JSON) kept.
func tracedGateway(t *testing.T) (*gateway, *tracetest.SpanRecorder, *syncBuffer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	logs := &syncBuffer{}
	edit := func(c *config.Config) {
		c.Tracing.Enabled = true
		c.Log.Level, c.Log.Format = "info", "json"
	}
	g := &gateway{t: t, Gateway: apptest.StartLogged(t, edit, logs, app.WithSpanProcessor(rec)), client: newClient()}
	t.Cleanup(g.client.CloseIdleConnections)
	return g, rec, logs
}

// serverSpan waits for the server span of the request that answered
// traceID (spans end just after the response is written).
func serverSpan(t *testing.T, rec *tracetest.SpanRecorder, traceID string) sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range rec.Ended() {
			if s.SpanKind() == trace.SpanKindServer && s.SpanContext().TraceID().String() == traceID {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span for trace %s", traceID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inTrace returns the ended spans of traceID by name.
func inTrace(rec *tracetest.SpanRecorder, traceID string) map[string]sdktrace.ReadOnlySpan {
	out := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			out[s.Name()] = s
		}
	}
	return out
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := spanAttr(s, k); got != v {
			t.Errorf("span %q: %s = %q, want %q", s.Name(), k, got, v)
		}
	}
}

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

func TestTracingGateway(t *testing.T) {
	g, rec, logs := tracedGateway(t)
	up := &recordingUpstream{}
	rt := g.upstream("traced", chorus.ProviderOpenAI, up.start(t), "mock-model", "sk-upstream-secret")
	key := g.customer()

	t.Run("TraceparentInAndOut", func(t *testing.T) {
		r := g.do("POST", "/v1/chat/completions", key.Key,
			`{"model":"traced","messages":[{"role":"user","content":"hello"}],"max_tokens":32,"temperature":0.2}`,
			"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01", "baggage", "tenant=acme")
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if got := r.Header.Get(tracing.TraceIDHeader); got != clientTraceID {
			t.Fatalf("%s = %q, want the client's trace %s", tracing.TraceIDHeader, got, clientTraceID)
		}
		srv := serverSpan(t, rec, clientTraceID)
		if srv.Parent().SpanID().String() != clientSpanID || !srv.Parent().IsRemote() {
			t.Errorf("server span's parent %v, want the client's span %s", srv.Parent(), clientSpanID)
		}
		checkAttrs(t, srv, map[string]string{"http.request.method": "POST", "http.route": "/v1/chat/completions",
			"http.response.status_code": "200", "gen_ai.operation.name": "chat", "gen_ai.request.model": "traced",
			"gen_ai.provider.name": "openai", "chorus.deployment": rt.Deployment.Name,
			"gen_ai.usage.input_tokens": strconv.Itoa(mockupstream.PromptTokens), "gen_ai.usage.output_tokens": strconv.Itoa(mockupstream.CompletionTokens),
			"chorus.request_id": r.Header.Get("X-Request-Id")})
		if srv.Name() != "POST /v1/chat/completions" {
			t.Errorf("server span named %q", srv.Name())
		}
		spans := inTrace(rec, clientTraceID)
		call, ok := spans["chat mock-model"]
		if !ok {
			t.Fatalf("no attempt span; spans %v", spans)
		}
		checkAttrs(t, call, map[string]string{"gen_ai.request.max_tokens": "32", "gen_ai.request.temperature": "0.2",
			"gen_ai.response.model": "mock-model", "gen_ai.usage.input_tokens": strconv.Itoa(mockupstream.PromptTokens), "gen_ai.response.finish_reasons": `["stop"]`,
			"server.address": "127.0.0.1"})
		tp, bag := up.last()
		if want := "00-" + clientTraceID + "-" + call.SpanContext().SpanID().String() + "-01"; tp != want {
			t.Errorf("upstream traceparent %q, want the attempt span's %q", tp, want)
		}
		if bag != "tenant=acme" {
			t.Errorf("upstream baggage %q, want the client's", bag)
		}
		// Every log line about the request carries its trace ID.
		var found bool
		for _, l := range logs.lines(t) {
			if l["request_id"] == r.Header.Get("X-Request-Id") {
				found = true
				if l["trace_id"] != clientTraceID {
					t.Errorf("log line %v: trace_id %v, want %s", l, l["trace_id"], clientTraceID)
				}
			}
		}
		if !found {
			t.Error("no log line about the request")
		}
	})

	t.Run("NewTraceWithoutTraceparent", func(t *testing.T) {
		r := g.do("POST", "/v1/chat/completions", key.Key, `{"model":"traced","messages":[{"role":"user","content":"hi"}]}`)
		id := r.Header.Get(tracing.TraceIDHeader)
		if r.Status != http.StatusOK || len(id) != 32 || id == clientTraceID {
			t.Fatalf("status %d trace %q", r.Status, id)
		}
		if srv := serverSpan(t, rec, id); srv.Parent().IsValid() {
			t.Errorf("a request without traceparent must start a trace, got parent %v", srv.Parent())
		}
		if tp, _ := up.last(); !strings.Contains(tp, id) {
			t.Errorf("upstream traceparent %q not in trace %s", tp, id)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		r := g.do("POST", "/v1/chat/completions", key.Key,
			`{"model":"traced","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
		if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("[DONE]")) {
			t.Fatalf("status %d body %s", r.Status, r.Body)
		}
		id := r.Header.Get(tracing.TraceIDHeader)
		srv := serverSpan(t, rec, id)
		checkAttrs(t, srv, map[string]string{"chorus.stream": "true", "gen_ai.usage.output_tokens": strconv.Itoa(mockupstream.CompletionTokens)})
		call := inTrace(rec, id)["chat mock-model"]
		if call == nil {
			t.Fatal("no attempt span for the stream")
		}
		checkAttrs(t, call, map[string]string{"chorus.stream": "true", "gen_ai.usage.input_tokens": strconv.Itoa(mockupstream.PromptTokens),
			"gen_ai.usage.output_tokens": strconv.Itoa(mockupstream.CompletionTokens), "gen_ai.response.finish_reasons": `["stop"]`})
		if call.EndTime().After(srv.EndTime()) {
			t.Error("the attempt span outlived the request")
		}
	})

	t.Run("ClientError", func(t *testing.T) {
		r := g.do("POST", "/v1/chat/completions", key.Key, `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`)
		if r.Status != http.StatusNotFound {
			t.Fatalf("status %d", r.Status)
		}
		srv := serverSpan(t, rec, r.Header.Get(tracing.TraceIDHeader))
		checkAttrs(t, srv, map[string]string{"http.response.status_code": "404", "error.type": chorus.ENOTFOUND})
		if srv.Status().Code.String() == "Error" {
			t.Error("a 4xx is the client's error, not the server span's")
		}
	})

	t.Run("UpstreamDown", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String() + "/v1"
		ln.Close()
		g.upstream("down", chorus.ProviderOpenAI, dead, "gone-model", "sk-x")
		r := g.do("POST", "/v1/chat/completions", key.Key, `{"model":"down","messages":[{"role":"user","content":"hi"}]}`)
		if r.Status < 500 {
			t.Fatalf("status %d", r.Status)
		}
		id := r.Header.Get(tracing.TraceIDHeader)
		srv := serverSpan(t, rec, id)
		if srv.Status().Code.String() != "Error" || spanAttr(srv, "error.type") == "" {
			t.Errorf("server span status %v error.type %q", srv.Status(), spanAttr(srv, "error.type"))
		}
		call := inTrace(rec, id)["chat gone-model"]
		if call == nil || call.Status().Code.String() != "Error" || spanAttr(call, "chorus.attempt.outcome") != "error" {
			t.Fatalf("failed attempt span %v", call)
		}
	})
}

// otlpHTTPReceiver decodes OTLP/HTTP protobuf exports.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	auth     []string
	resource map[string]string // the last export's resource attributes
}

func (o *otlpReceiver) add(req *coltracepb.ExportTraceServiceRequest, auth string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.auth = append(o.auth, auth)
	for _, rs := range req.ResourceSpans {
		o.resource = map[string]string{}
		for _, kv := range rs.Resource.GetAttributes() {
			o.resource[kv.Key] = kv.Value.GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
}

// waitTrace waits until the receiver holds a server span of traceID and
// returns that trace's spans by name.
func (o *otlpReceiver) waitTrace(t *testing.T, traceID string) map[string]*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		out := map[string]*tracepb.Span{}
		var server bool
		for _, s := range o.spans {
			if hexID(s.TraceId) == traceID {
				out[s.Name] = s
				server = server || s.Kind == tracepb.Span_SPAN_KIND_SERVER
			}
		}
		o.mu.Unlock()
		if server {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span of trace %s received", traceID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.add(&req, r.Header.Get("Authorization"))
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// grpcReceiver is the OTLP/gRPC trace service.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	*otlpReceiver
}

func (g grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.add(req, "")
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestTracingOTLPExport runs Chorus against local OTLP receivers, over
// HTTP/protobuf and over gRPC, as an operator points it at a collector:
// through the standard OTEL_* variables and the config file.
func TestTracingOTLPExport(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // export within 50 ms rather than 5 s
	for _, protocol := range []string{config.TracingHTTP, config.TracingGRPC} {
		t.Run(protocol, func(t *testing.T) {
			recv := &otlpReceiver{}
			var endpoint string
			if protocol == config.TracingHTTP {
				srv := httptest.NewServer(recv)
				t.Cleanup(srv.Close)
				endpoint = srv.URL // no path: /v1/traces is added
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				coltracepb.RegisterTraceServiceServer(gs, grpcReceiver{otlpReceiver: recv})
				go func() { _ = gs.Serve(ln) }()
				t.Cleanup(gs.Stop)
				endpoint = "http://" + ln.Addr().String()
			}
			env := []string{"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol, "OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
				"OTEL_SERVICE_NAME=chorus-e2e", "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20collector-token"}
			loaded, err := config.Load("", env)
			if err != nil {
				t.Fatal(err)
			}
			g := &gateway{t: t, client: newClient()}
			g.Gateway = apptest.Start(t, func(c *config.Config) { c.Tracing = loaded.Tracing })
			t.Cleanup(g.client.CloseIdleConnections)
			sim := g.simulated(g.unique("otlp"), map[string]any{"output_tokens": 5, "seed": 1})
			key := g.customer()
			r := g.do("POST", "/v1/chat/completions", key.Key,
				`{"model":"`+sim.Model.Name+`","messages":[{"role":"user","content":"hi"}]}`,
				"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01")
			if r.Status != http.StatusOK {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			spans := recv.waitTrace(t, clientTraceID)
			srv := spans["POST /v1/chat/completions"]
			if srv == nil || hexID(srv.ParentSpanId) != clientSpanID {
				t.Fatalf("server span %v", srv)
			}
			route := spans["route "+sim.Model.Name]
			if route == nil || hexID(route.ParentSpanId) != hexID(srv.SpanId) {
				t.Fatalf("routing span %v, want a child of the server span", route)
			}
			call := spans["chat "+sim.Deployment.UpstreamModel]
			if call == nil || hexID(call.ParentSpanId) != hexID(route.SpanId) || call.Kind != tracepb.Span_SPAN_KIND_CLIENT {
				t.Fatalf("attempt span %v, want a client child of the routing span (spans %v)", call, spanKeys(spans))
			}
			var provider string
			for _, kv := range call.Attributes {
				if kv.Key == "gen_ai.provider.name" {
					provider = kv.Value.GetStringValue()
				}
			}
			if provider != "chorus.simulator" {
				t.Errorf("gen_ai.provider.name %q", provider)
			}
			recv.mu.Lock()
			res := recv.resource
			recv.mu.Unlock()
			if res["service.name"] != "chorus-e2e" || res["service.instance.id"] != g.App.Config.Instance.ID || res["telemetry.sdk.language"] != "go" {
				t.Errorf("resource %v: want OTEL_SERVICE_NAME's service.name and the instance ID", res)
			}
			if protocol == config.TracingHTTP {
				recv.mu.Lock()
				auth := recv.auth[0]
				recv.mu.Unlock()
				if auth != "Bearer collector-token" {
					t.Errorf("export Authorization %q, want OTEL_EXPORTER_OTLP_HEADERS's", auth)
				}
			}
		})
	}
}

func spanKeys(m map[string]*tracepb.Span) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestTracingFlushedAtShutdown: spans still queued in the batch (the
// schedule is far off) reach the collector when Chorus shuts down
// gracefully.
func TestTracingFlushedAtShutdown(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "600000") // 10 minutes: only the shutdown can send them
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.MasterKey, cfg.Bootstrap = t.TempDir(), "127.0.0.1:0", apptest.MasterKey, false
	cfg.Log.Level, cfg.Billing.Mode = "warn", config.BillingOff
	cfg.Tracing.Enabled, cfg.Tracing.Endpoint = true, srv.URL
	a, err := app.New(context.Background(), cfg, apptest.Logger(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/models", nil)
	req.Header.Set("traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(50 * time.Millisecond) // the server span ends just after the answer
	recv.mu.Lock()
	early := len(recv.spans)
	recv.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d spans exported before shutdown; the test needs them queued", early)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	<-done
	recv.mu.Lock()
	defer recv.mu.Unlock()
	var found bool
	for _, s := range recv.spans {
		found = found || (hexID(s.TraceId) == clientTraceID && s.Name == "GET /v1/models")
	}
	if !found {
		t.Fatalf("the request's server span was not exported at shutdown (%d spans)", len(recv.spans))
	}
}
