// Package manage serves the management API (/api/…: accounts, sessions,
// MFA, keys, team, credits, budgets, the shop, and the admin API), the
// feedback endpoint POST /v1/feedback, and the operational endpoints
// (/livez, /readyz, /metrics). Every route is registered through handle
// with who may call it (auth.go), so the authorization test can walk them
// all. A new management endpoint is a handler method on Server in the file
// of its noun, registered in that file's routes function.
package manage

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/bias"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// Store is what the management API needs from the database.
type Store interface {
	AdminStore
	AccountStore
	LedgerStore
	BudgetStore
	AuditStore
	MFAStore
	ShopStore
	ClientErrorStore
	LiveStore
	Ping(ctx context.Context) error
	CheckSchema(ctx context.Context) error
}

// Server holds the management handlers' dependencies.
type Server struct {
	Registry *registry.Registry
	Factory  registry.Factory // validates deployment settings on write
	Store    Store
	// Health is the upstreams' circuit state, for GET /api/admin/health.
	Health  *orchestrate.Health
	Meter   *meter.Meter // refreshes budgets after a change (nil: no metering)
	Metrics *telemetry.Metrics
	Logger  *slog.Logger
	Auth    config.Auth // accounts, sessions, sign-in, MFA (config/auth.go)
	// MetricsToken, when set, guards /metrics (bearer token).
	MetricsToken string
	// Security is what /.well-known/security.txt says (zero: the defaults).
	Security config.Security
	Now      func() time.Time
	// ValidateScorers checks a route's config.scorers (a JSON array) when
	// the route is written. Nil: each must be an object with a string
	// "type". A *chorus.Error with a Param is passed on as it is; any other
	// error becomes a 400 about config.scorers.
	ValidateScorers func(raw json.RawMessage) error
	// QualityStore serves feedback and the quality admin API (nil: those
	// routes are not served).
	QualityStore QualityStore
	// Learner holds the learned quality scorers: feedback teaches them, and
	// their admin API is served (nil: not served).
	Learner *quality.Learner
	// RouteCalibration returns a cascade route's threshold calibrated to
	// its config.target (GET /api/admin/routes/{id}/calibration; nil: not
	// served).
	RouteCalibration func(name string) (quality.Calibration, error)
	// Shop sells credits: checkout, manual payments, refunds, payment
	// webhooks (nil: those routes answer that the shop is not enabled).
	Shop *shop.Service
	// LoginThrottle counts failed sign-ins per account and client address
	// (nil: an in-process one from Auth.LoginThrottle).
	LoginThrottle *auth.Throttle
	// ForwardClientError, when set, also sends each stored client error
	// report elsewhere (Sentry); it must not block.
	ForwardClientError func(e *chorus.ClientError)
	// AllowPrivateNetworks lets every deployment's base URL be a loopback
	// or private address (upstreams.allow_private_networks); without it
	// only deployments with settings.allow_private_network may.
	AllowPrivateNetworks bool
	// Bias runs bias tests and serves the bias admin API (nil: those
	// routes are not served).
	Bias *bias.Runner
	// Database is the database circuit (outage.go); nil: the database is
	// pinged by readiness only.
	Database Database
	// Backups reports the backups for GET /api/admin/backups (nil: the
	// route is not served).
	Backups BackupReport
	// Readiness reports the dependencies /readyz shows beside the database
	// (health.go); its nil fields are not reported.
	Readiness Readiness
	// RollupLag is how far the usage rollups trail the newest usage
	// record (nil: not reported by /readyz).
	RollupLag func(context.Context) (time.Duration, error)
	// Analytics serves the usage reports, exports and cost alerts from the
	// rollups (analytics.go; nil: those routes are not served).
	Analytics AnalyticsStore

	throttleOnce sync.Once     // builds the default LoginThrottle
	reports      reportLimiter // error reports per client address
	live         liveHub       // live update streams
	draining     chan struct{}
	once         sync.Once
}

// Register adds the management API's routes and the operational endpoints
// to mux.
func (s *Server) Register(mux *api.Mux) {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.draining == nil {
		s.draining = make(chan struct{})
	}
	s.adminRoutes(mux)
	s.accountRoutes(mux)
	s.userAdminRoutes(mux)
	s.qualityRoutes(mux)
	s.learnedRoutes(mux)
	s.ledgerRoutes(mux)
	s.mfaRoutes(mux)
	s.shopRoutes(mux)
	s.budgetRoutes(mux)
	s.clientErrorRoutes(mux)
	s.liveRoutes(mux)
	s.biasRoutes(mux)
	s.backupRoutes(mux)
	s.analyticsRoutes(mux)

	s.handleOps(mux, "GET /livez", s.livez)
	s.handleOps(mux, "GET /readyz", s.readyz)
	s.handleOps(mux, "GET /metrics", s.metrics(s.Metrics.Handler()))
	s.handleOps(mux, "GET /.well-known/security.txt", s.securityTxt)
}

// Drain marks the server as shutting down: /readyz fails so load balancers
// stop sending traffic, while in-flight requests finish.
func (s *Server) Drain() {
	s.once.Do(func() { close(s.draining) })
}

// writeError writes err in the shape f with its status (api.WriteError).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, f api.Format, err error) {
	api.WriteError(w, r, s.Logger, f, err)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, api.FormatFor(r), chorus.Errorf(chorus.ENOTFOUND, "Unknown request URL: %s %s.", r.Method, r.URL.Path))
}
