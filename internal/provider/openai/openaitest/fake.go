// Package openaitest provides a fake OpenAI server for tests and benchmarks.
// It speaks the documented Chat Completions and Embeddings wire format (JSON
// answers, "data: {...}" SSE chunks ended by "data: [DONE]", usage chunks
// only when stream_options.include_usage is set, error bodies of the shape
// {"error":{"message","type","param","code"}}), on OpenAI's paths or Azure's
// deployment paths, and the Responses API (POST /v1/responses: response
// objects and semantic SSE events). It implements conformance.Fake.
package openaitest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// Server is the fake. Script it, point a client at URL, then inspect Last.
type Server struct {
	azure bool
	url   string

	mu       sync.Mutex
	scenario conformance.Scenario
	last     conformance.Captured
	n        int
}

var _ conformance.Fake = (*Server)(nil)

// New starts a fake serving OpenAI's paths under /v1 and stops it when the
// test ends. Until scripted it answers "Hello from the fake." with usage.
func New(tb testing.TB) *Server { return start(tb, NewHandler(false)) }

// NewAzure starts a fake serving Azure OpenAI's deployment paths
// (/openai/deployments/{deployment}/chat/completions?api-version=…).
func NewAzure(tb testing.TB) *Server { return start(tb, NewHandler(true)) }

// NewHandler returns a fake that is not listening, to mount on a server of
// the caller's (a benchmark's mock upstream, say). URL is empty.
func NewHandler(azure bool) *Server {
	return &Server{azure: azure, scenario: conformance.Scenario{
		Text:         "Hello from the fake.",
		FinishReason: "stop",
		Usage:        defaultUsage,
	}}
}

func start(tb testing.TB, s *Server) *Server {
	srv := httptest.NewServer(s)
	tb.Cleanup(srv.Close)
	s.url = srv.URL
	if !s.azure {
		s.url += "/v1"
	}
	return s
}

// URL returns the base URL to configure a client with.
func (s *Server) URL() string { return s.url }

// Script makes the fake answer every following request as sc says.
func (s *Server) Script(sc conformance.Scenario) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scenario = sc
}

// Last returns the last request received.
func (s *Server) Last() conformance.Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Requests returns how many requests were received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	c := conformance.Captured{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
	op, deployment, ok := s.route(r)
	s.mu.Lock()
	s.n++
	s.last = c
	sc := s.scenario
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path), "")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "Content-Type must be application/json, got "+ct, "")
		return
	}
	if op == "responses" {
		s.serveResponses(w, r, c, sc)
		return
	}
	var req wireRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "We could not parse the JSON body of your request.", "")
		return
	}
	if deployment != "" {
		req.Model = deployment
	}
	if op == "chat/completions" {
		err = req.capture(&c)
	} else {
		err = req.captureEmbedding(&c)
	}
	s.mu.Lock()
	s.last = c
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), "")
		return
	}
	if !wait(r, sc.Delay) {
		return
	}
	if sc.Status != 0 {
		if sc.RetryAfter != "" {
			w.Header().Set("Retry-After", sc.RetryAfter)
		}
		writeError(w, sc.Status, sc.ErrType, sc.ErrMessage, "")
		return
	}
	switch {
	case op == "embeddings":
		writeEmbeddings(w, &sc, &req)
	case req.Stream:
		writeStream(w, r, &sc, &req)
	default:
		writeJSON(w, completion(&sc, req.Model))
	}
}

// route checks the path against the fake's mode: /v1/{op}, or
// /openai/deployments/{deployment}/{op}?api-version=… for Azure.
func (s *Server) route(r *http.Request) (op, deployment string, ok bool) {
	if r.Method != http.MethodPost {
		return "", "", false
	}
	p := r.URL.Path
	if !s.azure {
		op = strings.TrimPrefix(p, "/v1/")
		return op, "", op != p && (op == "chat/completions" || op == "embeddings" || op == "responses")
	}
	rest, found := strings.CutPrefix(p, "/openai/deployments/")
	if !found || r.URL.Query().Get("api-version") == "" {
		return "", "", false
	}
	deployment, op, found = strings.Cut(rest, "/")
	return op, deployment, found && deployment != "" && (op == "chat/completions" || op == "embeddings")
}

// wait holds the answer back for d, giving up if the client goes away.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

var defaultUsage = provider.Usage{InputTokens: 9, OutputTokens: 5}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the fake's own values always marshal
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// writeError writes OpenAI's error body.
func writeError(w http.ResponseWriter, status int, typ, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(errorBody(typ, msg, code))
	w.Write(b)
}

func errorBody(typ, msg, code string) map[string]any {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	return map[string]any{"error": e}
}

func writeEmbeddings(w http.ResponseWriter, sc *conformance.Scenario, req *wireRequest) {
	n := len(req.inputs)
	data := make([]map[string]any, n)
	for i := range data {
		var vec []float32
		if len(sc.Embeddings) > 0 {
			vec = sc.Embeddings[i%len(sc.Embeddings)]
		} else {
			vec = []float32{0.1, 0.2, 0.3}
		}
		var emb any = vec
		if req.EncodingFormat == "base64" {
			b := make([]byte, 0, 4*len(vec))
			for _, f := range vec {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	writeJSON(w, map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]any{"prompt_tokens": sc.Usage.InputTokens, "total_tokens": sc.Usage.InputTokens},
	})
}
