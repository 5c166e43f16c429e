// Package api serves Chorus's HTTP API: the OpenAI-compatible endpoints,
// Anthropic's Messages endpoint, the admin JSON API and the operational
// endpoints. Handlers are methods on Server, which holds their dependencies.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// Store is what the API needs from the database.
type Store interface {
	AdminStore
	AccountStore
	LedgerStore
	BudgetStore
	AuditStore
	MFAStore
	ShopStore
	Ping(ctx context.Context) error
	CheckSchema(ctx context.Context) error
}

// UsageRecorder takes one usage record per request.
type UsageRecorder interface {
	Record(rec chorus.Usage) error
}

// Server holds the handlers' dependencies.
type Server struct {
	Registry *registry.Registry
	Factory  registry.Factory // validates deployment settings on write
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
	Store        Store
	Usage        UsageRecorder
	Meter        *meter.Meter // reserves and settles credits (meter.go); nil meters nothing
	Metrics      *telemetry.Metrics
	Logger       *slog.Logger
	Limits       config.Limits
	Auth         config.Auth // accounts, sessions, sign-in, MFA (config/auth.go)
	// MetricsToken, when set, guards /metrics (bearer token).
	MetricsToken string
	Upstream     time.Duration // end-to-end deadline of one upstream call
	Now          func() time.Time
	// ValidateScorers checks a route's config.scorers (a JSON array) when
	// the route is written. Nil: each must be an object with a string
	// "type". A *chorus.Error with a Param is passed on as it is; any other
	// error becomes a 400 about config.scorers.
	ValidateScorers func(raw json.RawMessage) error
	// Quality scores answers off the request path (nil: nothing is scored).
	Quality *quality.Runner
	// QualityStore serves feedback and the quality admin API (nil: those
	// routes are not served).
	QualityStore QualityStore
	// Shop sells credits: checkout, manual payments, refunds, payment
	// webhooks (nil: those routes answer that the shop is not enabled).
	Shop *shop.Service
	// LoginThrottle counts failed sign-ins per account and client address
	// (nil: an in-process one from Auth.LoginThrottle).
	LoginThrottle *auth.Throttle

	routes       []RouteInfo // every management route with its access, for Routes
	throttleOnce sync.Once   // builds the default LoginThrottle
	draining     chan struct{}
	once         sync.Once
	inflight     sync.WaitGroup // API exchanges not yet finished (usage not yet recorded)
}

// Handler returns the HTTP handler with every route and the middleware.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.draining == nil {
		s.draining = make(chan struct{})
	}
	mux := http.NewServeMux()
	// The model API authenticates API keys from the in-memory snapshot
	// itself (the hot path touches no database).
	s.handleKeyed(mux, "POST /v1/chat/completions", s.chat(openAIChat))
	s.handleKeyed(mux, "POST /v1/messages", s.chat(anthropicChat))
	s.handleKeyed(mux, "POST /v1/embeddings", s.embeddings)
	s.handleKeyed(mux, "GET /v1/models", s.listModels)
	s.handleKeyed(mux, "GET /v1/models/{id...}", s.getModel)
	mux.HandleFunc("/v1/", s.notFound)

	s.adminRoutes(mux)
	s.accountRoutes(mux)
	s.userAdminRoutes(mux)
	s.qualityRoutes(mux)
	s.ledgerRoutes(mux)
	s.mfaRoutes(mux)
	s.shopRoutes(mux)
	s.budgetRoutes(mux)

	s.handleOps(mux, "GET /livez", s.livez)
	s.handleOps(mux, "GET /readyz", s.readyz)
	s.handleOps(mux, "GET /metrics", s.metrics(s.Metrics.Handler()))
	return s.middleware(mux)
}

// Drain marks the server as shutting down: /readyz fails so load balancers
// stop sending traffic, while in-flight requests finish.
func (s *Server) Drain() {
	s.once.Do(func() { close(s.draining) })
}

// Wait blocks until every API exchange has recorded its usage, or ctx ends.
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

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID returns the request ID stored in ctx.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// validRequestID accepts a caller's ID when it is short and printable, so a
// trace can cross the gateway; anything else is replaced.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// middleware sets the request ID, recovers panics into a 500 in the API's
// error shape, and logs every request with its ID.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic serving request", "request_id", id, "panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r, formatFor(r), chorus.Errorf(chorus.EINTERNAL, "internal error"))
				}
			}
			if s.Logger.Enabled(ctx, slog.LevelInfo) && !quietPath(r.URL.Path) {
				s.Logger.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("request_id", id),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.Int("status", rec.status),
					slog.Duration("duration", time.Since(start)),
				)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// quietPath is true for probes and scrapes, which would drown the log.
func quietPath(p string) bool {
	return p == "/livez" || p == "/readyz" || p == "/metrics"
}

// statusRecorder remembers the status for the log line. It forwards
// Flush and Unwrap so streaming and http.ResponseController keep working.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	r.wrote = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bearer returns the API key from Authorization: Bearer or x-api-key
// (Anthropic clients send the latter).
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}

// authenticate returns the caller's key or an EUNAUTHORIZED error.
func (s *Server) authenticate(r *http.Request) (*chorus.APIKey, error) {
	secret := bearer(r)
	if secret == "" {
		return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY' (or 'x-api-key: YOUR_KEY')."}
	}
	k := s.Registry.Authenticate(secret)
	if k == nil {
		return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Incorrect API key provided: " + redactKey(secret) + ". The key is unknown, revoked or expired."}
	}
	return k, nil
}

// redactKey shows only the start and end of a presented key, as OpenAI does.
func redactKey(k string) string {
	if len(k) <= 12 {
		return "****"
	}
	return k[:8] + "****" + k[len(k)-4:]
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, formatFor(r), chorus.Errorf(chorus.ENOTFOUND, "Unknown request URL: %s %s.", r.Method, r.URL.Path))
}
