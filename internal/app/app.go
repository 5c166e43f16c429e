// Package app wires Chorus together: config, database, registry, usage
// writer, metrics and the HTTP server. The chorus binary and the end-to-end
// tests start the gateway through it, so both run the same thing.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/chorusgw/chorus/internal/analytics"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/audit"
	"github.com/chorusgw/chorus/internal/bias"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/energy"
	"github.com/chorusgw/chorus/internal/gateway"
	"github.com/chorusgw/chorus/internal/manage"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider/adapters"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/telemetry"
	"github.com/chorusgw/chorus/internal/tracing"
	"github.com/chorusgw/chorus/internal/usage"
	"github.com/chorusgw/chorus/internal/web"
	"github.com/chorusgw/chorus/ui"
)

// App is a running gateway.
type App struct {
	Config   config.Config
	DB       *store.DB
	Registry *registry.Registry
	// Gateway serves the model API (/v1); Manage the management API
	// (/api), feedback and the operational endpoints. Both register on Mux.
	Gateway *gateway.Server
	Manage  *manage.Server
	Mux     *api.Mux
	// Orchestrator runs the routing strategies and keeps deployment health.
	Orchestrator *orchestrate.Orchestrator
	// Evaluator scores answers (cascades, ensembles, and off the request path).
	Evaluator *quality.Evaluator
	// Learner holds the learned quality scorers (docs/quality-learning.md).
	Learner *quality.Learner
	// Quality scores answers off the request path and stores the scores.
	Quality *quality.Runner
	// QualityStats is per-model quality, refreshed from the scores.
	QualityStats *quality.Stats
	// Bias runs bias tests for the admin API (docs/bias-testing.md).
	Bias    *bias.Runner
	Metrics *telemetry.Metrics
	Usage   *usage.Writer
	// Energy estimates the energy and CO2e of upstream calls (energy.go);
	// nil when energy.enabled is false.
	Energy *energy.Model
	// Analytics keeps the usage rollups, their retention and the cost
	// alerts (analytics.go); RollupLag is its readiness figure.
	Analytics *analytics.Worker
	Log       *slog.Logger
	// DBHealth says whether the database is reachable (dbhealth.go).
	DBHealth *DBHealth
	// Tracer exports OpenTelemetry traces (tracing.go); nil when tracing is off.
	Tracer *tracing.Tracer

	outage outage // the circuit and the spools (outage.go)

	http     *http.Server
	stopPoll context.CancelFunc
	closers  []func() // run at the end of Shutdown, after the server drained
}

// NewLogger returns the configured slog logger writing to w.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(api.NewLogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(api.NewLogHandler(slog.NewTextHandler(w, opts)))
}

// OpenStore opens the database with the credential-sealing key, applies (or
// only checks) migrations, and checks that stored secrets can be read.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*store.DB, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	key, generated, err := sealingKey(cfg)
	if err != nil {
		return nil, err
	}
	var sealer *secret.Sealer
	if key != nil {
		if sealer, err = secret.NewSealer(key); err != nil {
			return nil, err
		}
	}
	opts := store.Options{Sealer: sealer, Replicas: cfg.DatabaseReplicas, ReplicaMaxLag: cfg.ReplicaMaxLag}
	if key != nil {
		opts.AuditKey = audit.DeriveKey(key)
	}
	db, err := store.Open(ctx, cfg.DatabaseDSN(), opts)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if migrate {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.CheckSecrets(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if generated {
		log.Info("generated a key to seal provider credentials; keep it with the database", "file", cfg.KeyFile())
	}
	return db, nil
}

// sealingKey returns the credential-sealing key from config, env or the key
// file; when none exists it creates the key file (first start). A generated
// key cannot read credentials sealed with another: CheckSecrets says so.
func sealingKey(cfg config.Config) (key []byte, generated bool, err error) {
	if cfg.SecretKey != "" {
		key, err = secret.LoadKey(cfg.SecretKey, "")
		return key, false, err
	}
	path := cfg.KeyFile()
	if _, statErr := os.Stat(path); statErr == nil {
		key, err = secret.LoadKey("", path)
		return key, false, err
	}
	if cfg.SecretKeyFile != "" {
		return nil, false, fmt.Errorf("secret_key_file %s does not exist", path)
	}
	k := secret.GenerateKey()
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	key, err = secret.LoadKey(k, "")
	return key, true, err
}

// registrySource adapts the store to what the registry reads.
type registrySource struct{ db *store.DB }

func (s registrySource) RegistryVersion(ctx context.Context) (int64, error) {
	return s.db.RegistryVersion(ctx)
}

func (s registrySource) LoadRegistry(ctx context.Context) (*registry.Data, error) {
	r, err := s.db.LoadRegistry(ctx)
	if err != nil {
		return nil, err
	}
	return &registry.Data{Version: r.Version, Models: r.Models, Secrets: r.Secrets, Keys: r.Keys, Routes: r.Routes}, nil
}

// New opens everything the gateway needs. bootstrapOut receives the
// first-start credentials (printed once).
func New(ctx context.Context, cfg config.Config, log *slog.Logger, bootstrapOut io.Writer, opts ...Option) (*App, error) {
	log = log.With("instance_id", cfg.Instance.ID) // every line says which instance wrote it
	tracer, log, err := newTracer(ctx, cfg, log, opts)
	if err != nil {
		return nil, err
	}
	db, err := OpenStore(ctx, cfg, log, cfg.AutoMigrate)
	if err != nil {
		_ = tracer.Shutdown(ctx)
		return nil, err
	}
	a := &App{Config: cfg, DB: db, Log: log, Tracer: tracer}
	a.closers = append(a.closers, a.shutdownTracer)
	if _, err := recordConfig(ctx, db, cfg); err != nil {
		db.Close()
		return nil, fmt.Errorf("record the configuration in the audit log: %w", err)
	}
	if err := a.init(ctx, bootstrapOut); err != nil {
		db.Close()
		_ = tracer.Shutdown(ctx)
		return nil, err
	}
	return a, nil
}

func (a *App) init(ctx context.Context, bootstrapOut io.Writer) error {
	cfg, log := a.Config, a.Log
	if n, err := usage.Import(ctx, a.DB, cfg.DataDir); err != nil {
		return fmt.Errorf("import usage spill: %w", err)
	} else if n > 0 {
		log.Info("imported usage records saved at the last shutdown", "records", n)
	}
	if cfg.Bootstrap {
		if err := bootstrap(ctx, a.DB, cfg, bootstrapOut); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	a.Metrics = telemetry.New()
	a.Registry = registry.New(registrySource{a.DB}, adapters.WithReplayDir(cfg.Upstreams.ReplayDir), registry.Options{
		MasterKey:            cfg.MasterKey,
		Connect:              cfg.Timeouts.Connect,
		AllowPrivateNetworks: cfg.Upstreams.AllowPrivateNetworks,
		Logger:               log,
	})
	if err := a.Registry.Refresh(ctx, true); err != nil {
		return err
	}
	if err := a.initOutage(); err != nil {
		return err
	}
	a.Usage = usage.NewWriter(a.DB, usage.Options{
		QueueSize: cfg.Usage.QueueSize, BatchSize: cfg.Usage.BatchSize, FlushInterval: cfg.Usage.FlushInterval,
		SpillDir: cfg.DataDir, Metrics: a.Metrics, Logger: log,
		Spool: a.outage.usageSpool, Database: a.outage.health,
	})
	health := a.initOrchestrator()
	if err := a.Learner.Load(ctx); err != nil {
		return err
	}
	if err := a.initServers(health); err != nil {
		return err
	}
	a.initEnergy()
	if err := a.initReadiness(); err != nil {
		return err
	}
	a.initReplicas()
	if err := a.initAccounts(); err != nil {
		return err
	}
	if err := a.initBias(); err != nil {
		return err
	}
	if err := a.applyConfigRoutes(ctx); err != nil {
		return err
	}
	if err := a.initMeter(ctx); err != nil {
		return err
	}
	handler, err := a.handler()
	if err != nil {
		return err
	}
	a.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader,
		ReadTimeout:       cfg.Timeouts.Read,
		IdleTimeout:       cfg.Timeouts.Idle,
		MaxHeaderBytes:    api.ServerMaxHeaderBytes, // api.Middleware enforces api.MaxHeaderBytes
		ConnContext:       api.ConnContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return nil
}

// initOrchestrator builds the orchestrator with its deployment health, its
// evaluator (judges call back into it) and the quality that balances
// traffic, and exports the health as metrics.
func (a *App) initOrchestrator() *orchestrate.Health {
	cfg, metrics := a.Config, a.Metrics
	health := orchestrate.NewHealth(orchestrate.BreakerConfig{
		ConsecutiveFailures: cfg.Health.ConsecutiveFailures, FailureRate: cfg.Health.FailureRate,
		MinCalls: cfg.Health.MinCalls, Window: cfg.Health.Window, Cooldown: cfg.Health.Cooldown,
	}, nil)
	a.Orchestrator = &orchestrate.Orchestrator{
		Health: health, Tracer: a.Tracer,
		Observe: func(at *orchestrate.Attempt) {
			metrics.Attempt(at.Target.Deployment.Name, at.Target.Deployment.Provider, at.Outcome)
		},
	}
	a.Evaluator = quality.NewEvaluator(judge(a.Registry, a.Orchestrator))
	a.initLearner()
	a.Orchestrator.Evaluator = quality.RouteEvaluator{E: a.Evaluator}
	a.initQuality()
	a.Orchestrator.Quality = a.QualityStats.ModelQuality
	metrics.RegisterHealth(func() []telemetry.HealthSample {
		st := health.Snapshot()
		out := make([]telemetry.HealthSample, len(st))
		for i, s := range st {
			out[i] = telemetry.HealthSample{Deployment: s.Deployment, State: s.State, InFlight: s.InFlight, LatencyEWMA: s.LatencyEWMAMS / 1000}
		}
		return out
	})
	return health
}

// initServers builds the rate limiter, the cache and the two front doors.
func (a *App) initServers(health *orchestrate.Health) error {
	cfg, log := a.Config, a.Log
	rl, closeRL, err := newRateLimiter(cfg, log, a.Metrics)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, closeRL)
	a.Orchestrator.Limits, a.Orchestrator.MaxWait = rl, cfg.RateLimits.DeploymentWait
	respCache, cacheMetrics, closeCache, err := newCache(cfg, log, a.Metrics)
	if err != nil {
		return err
	}
	a.closers = append(a.closers, closeCache)
	a.Gateway = &gateway.Server{
		RateLimiter: rl, RateLimits: ratePolicy(cfg.RateLimits),
		Cache: respCache, CacheGroup: &cache.Group{}, CacheConfig: cfg.Cache, CacheMetrics: cacheMetrics,
		Orchestrator: a.Orchestrator, Quality: a.Quality,
		Registry: a.Registry, Usage: a.Usage, Metrics: a.Metrics, Tracer: a.Tracer, Logger: log,
		Limits: cfg.Limits, Upstream: cfg.Timeouts.Upstream,
		Responses: a.DB, ResponsesConfig: cfg.Responses,
	}
	a.Manage = &manage.Server{
		Registry: a.Registry, Factory: adapters.WithReplayDir(cfg.Upstreams.ReplayDir), Store: a.DB, Health: health,
		ValidateScorers: validateScorers(a.Evaluator), QualityStore: a.DB,
		Learner: a.Learner, RouteCalibration: a.routeCalibration,
		Metrics: a.Metrics, Logger: log, MetricsToken: cfg.MetricsToken, Auth: cfg.Auth, Security: cfg.Security,
		Shop:                 shop.New(a.DB, cfg.Shop, log),
		AllowPrivateNetworks: cfg.Upstreams.AllowPrivateNetworks,
	}
	a.Gateway.Sessions = a.Manage.ConsoleKey
	a.Manage.Backups = a.reportBackups
	return a.initSentry()
}

// handler registers both front doors and the console on one mux, behind
// the middleware that gives every request its ID, log line and panic
// recovery. The console (internal/web, the embedded ui/dist) answers
// every path the APIs do not: /api/… and /v1/… stay the APIs'.
func (a *App) handler() (http.Handler, error) {
	a.Mux = api.NewMux()
	a.Gateway.Register(a.Mux)
	a.Manage.Register(a.Mux)
	console, err := web.New(web.Options{FS: ui.Dist(), Logger: a.Log, IsTLS: a.Manage.SecureRequest})
	if err != nil {
		return nil, err
	}
	a.Mux.Handle("/", console)
	a.registerInstance()
	// The server span (tracing on) wraps the access log, so its line has the trace ID.
	return api.Instance(a.Config.Instance.ID, a.Manage.Draining(), a.Tracer.Middleware(a.Mux, api.Middleware(a.Log, a.Mux))), nil
}

// Routes lists every registered route with who may call it.
func (a *App) Routes() []api.RouteInfo { return a.Mux.Routes() }

// Serve serves on ln until Shutdown; it returns http.ErrServerClosed then.
func (a *App) Serve(ln net.Listener) error {
	go a.Usage.Run()
	pollCtx, stop := context.WithCancel(context.Background())
	a.stopPoll = stop
	go a.DBHealth.Run(pollCtx)
	go a.Registry.Run(pollCtx, a.Config.Registry.PollInterval)
	go a.listenRegistry(pollCtx)
	a.runQuality(pollCtx)
	go a.Manage.RunLive(pollCtx)
	go a.purgeResponses(pollCtx)
	go a.checkReplicas(pollCtx)
	go a.checkLedger(pollCtx)
	go a.Analytics.Run(pollCtx)
	go a.syncLearner(pollCtx)
	go (&shop.Reconciler{Shop: a.Manage.Shop, Interval: a.Config.Shop.ReconcileInterval, Logger: a.Log}).Run(pollCtx)
	a.runBackups(pollCtx)
	a.Log.Info("chorus serving", "addr", ln.Addr().String(), "database", a.DB.Dialect(),
		"models", len(a.Registry.Snapshot().Models()))
	return a.http.Serve(api.Listener(ln))
}

// Shutdown fails readiness, keeps accepting for the pre-drain delay, stops
// accepting, lets in-flight requests and streams finish within the drain
// timeout (stopServing), waits for their usage to be recorded, flushes
// the usage writer and closes the database.
func (a *App) Shutdown() error {
	a.stopServing()
	drain := a.Config.Timeouts.Drain
	if a.stopPoll != nil {
		a.stopPoll()
	}
	waitCtx, cancelWait := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelWait()
	if err := a.Gateway.Wait(waitCtx); err != nil {
		a.Log.Error("some requests did not finish recording usage", "err", err)
	}
	a.closeQuality(drain / 2)
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), drain)
	defer cancelFlush()
	err := a.Usage.Close(flushCtx)
	if err != nil {
		a.Log.Error("usage flush incomplete", "err", err)
	}
	for _, c := range a.closers {
		c()
	}
	if cerr := a.DB.Close(); err == nil {
		err = cerr
	}
	a.Log.Info("shutdown complete")
	return err
}
