// Package gateway serves the model API, the hot path: OpenAI's chat
// completions, embeddings and models, and Anthropic's Messages, for clients
// holding an API key. Each request is one exchange (exchange.go) that reads
// top to bottom: authenticate the key from the in-memory snapshot, decode,
// resolve the model or route, admit under the rate limits, reserve credit,
// look in the cache, orchestrate the upstream calls, relay the answer,
// settle, record usage.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/telemetry"
	"github.com/chorusgw/chorus/internal/tracing"
)

// UsageRecorder takes one usage record per request.
type UsageRecorder interface {
	Record(rec chorus.Usage) error
}

// Server holds the model API's dependencies.
type Server struct {
	Registry *registry.Registry
	// Cache answers repeated requests (nil disables it); CacheGroup makes
	// concurrent identical requests share one upstream call.
	Cache        cache.Cache
	CacheGroup   *cache.Group
	CacheConfig  config.Cache
	CacheMetrics *cache.Metrics
	// RateLimiter applies RateLimits per key, user and model; nil disables them.
	RateLimiter limit.Limiter
	RateLimits  limit.Policy
	// Orchestrator turns a request into upstream calls by its route's strategy.
	Orchestrator *orchestrate.Orchestrator
	Usage        UsageRecorder
	Meter        *meter.Meter // reserves and settles credits (meter.go); nil meters nothing
	Metrics      *telemetry.Metrics
	Tracer       *tracing.Tracer // adds the request's GenAI attributes to its server span; nil: off
	Logger       *slog.Logger
	Limits       config.Limits
	Upstream     time.Duration // end-to-end deadline of one upstream call
	Now          func() time.Time
	// Quality scores answers off the request path (nil: nothing is scored).
	Quality *quality.Runner
	// Sessions lets the signed-in console (its playground) call the model
	// API with its session instead of an API key: it returns the key the
	// request is billed to, or (nil, nil) when the request carries no
	// session, and is asked only when no API key was sent. Nil: API keys
	// only.
	Sessions func(r *http.Request) (*chorus.APIKey, error)
	// Responses stores the Responses API's answers (nil: store and
	// previous_response_id are refused); ResponsesConfig is its policy.
	Responses       ResponseStore
	ResponsesConfig config.Responses

	inflight sync.WaitGroup // exchanges not yet finished (usage not yet recorded)
}

// Register adds the model API's routes to mux.
func (s *Server) Register(mux *api.Mux) {
	if s.Now == nil {
		s.Now = time.Now
	}
	// The model API authenticates API keys from the in-memory snapshot
	// itself (the hot path touches no database).
	keyed := func(pattern string, h http.HandlerFunc) {
		mux.Route(api.RouteInfo{Pattern: pattern, Access: "key"}, h)
	}
	keyed("POST /v1/chat/completions", s.chat(openAIChat))
	keyed("POST /v1/messages", s.chat(anthropicChat))
	keyed("POST /v1/messages/count_tokens", s.countTokens)
	keyed("POST /v1/responses", s.chat(responsesChat))
	keyed("POST /v1/responses/input_tokens", s.responsesInputTokens)
	keyed("GET /v1/responses/{id}", s.getResponse)
	keyed("DELETE /v1/responses/{id}", s.deleteResponse)
	keyed("GET /v1/responses/{id}/input_items", s.listInputItems)
	keyed("POST /v1/embeddings", s.embeddings)
	keyed("GET /v1/models", s.listModels)
	keyed("GET /v1/models/{id...}", s.getModel)
	mux.HandleFunc("/v1/", s.notFound)
}

// Wait blocks until every exchange has recorded its usage, or ctx ends.
// Shutdown calls it after the HTTP server stopped, before flushing usage.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// authenticate returns the caller's key or an EUNAUTHORIZED error.
// A request without one may come from the signed-in console (Sessions).
func (s *Server) authenticate(r *http.Request) (*chorus.APIKey, error) {
	if s.Sessions != nil && r.Header.Get("Authorization") == "" && r.Header.Get("X-Api-Key") == "" {
		if k, err := s.Sessions(r); k != nil || err != nil {
			return k, err
		}
	}
	return api.Authenticate(r, s.Registry.Authenticate)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, api.FormatFor(r), chorus.Errorf(chorus.ENOTFOUND, "Unknown request URL: %s %s.", r.Method, r.URL.Path))
}
