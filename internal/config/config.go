// Package config is the one typed configuration of Chorus: a YAML file plus
// CHORUS_* environment overrides, validated once at start and then handed to
// components as plain fields.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Config is the whole configuration. Field tags name the YAML key; the
// environment variable is CHORUS_ followed by the upper-cased path joined by
// "_" (limits.max_body_bytes → CHORUS_LIMITS_MAX_BODY_BYTES).
type Config struct {
	Listen        string `yaml:"listen"`          // address to serve on
	DataDir       string `yaml:"data_dir"`        // where the SQLite file and generated secrets live
	DatabaseURL   string `yaml:"database_url"`    // postgres://… for PostgreSQL; empty means SQLite in DataDir
	MasterKey     string `yaml:"master_key"`      // an admin API key for automation, as other gateways have
	SecretKey     string `yaml:"secret_key"`      // 32-byte key (base64 or hex) sealing provider credentials
	SecretKeyFile string `yaml:"secret_key_file"` // file holding the key; generated on first start if absent
	Bootstrap     bool   `yaml:"bootstrap"`       // create an admin, a key and simulator models on first start
	AutoMigrate   bool   `yaml:"auto_migrate"`    // apply pending migrations at start; off: refuse to start on an old schema
	PublicURL     string `yaml:"public_url"`      // how clients reach us, for printed examples

	// DatabaseReplicas are PostgreSQL read replicas of DatabaseURL
	// (postgres://… URLs; comma-separated in CHORUS_DATABASE_REPLICAS):
	// listings that may lag go to one whose lag is under ReplicaMaxLag
	// (replicas.go, docs/read-replicas.md).
	DatabaseReplicas []string      `yaml:"database_replicas"`
	ReplicaMaxLag    time.Duration `yaml:"replica_max_lag"`

	// RedisURL (redis://, rediss:// or unix://) shares state between
	// instances: the response cache (and what else uses Redis). Empty: all
	// in process.
	RedisURL string `yaml:"redis_url"`
	// MetricsToken, when set, is required as "Authorization: Bearer
	// <token>" on /metrics (Prometheus: authorization.credentials). Empty
	// leaves /metrics open to whoever reaches the port.
	MetricsToken string `yaml:"metrics_token"`
	// LedgerCheckInterval is how often each instance verifies the credits
	// ledger's invariants (what GET /api/admin/ledger/check does) and
	// exports the result as chorus_ledger_check_ok; 0 turns it off.
	LedgerCheckInterval time.Duration `yaml:"ledger_check_interval"`

	Log      Log      `yaml:"log"`
	Limits   Limits   `yaml:"limits"`
	Timeouts Timeouts `yaml:"timeouts"`
	Usage    Usage    `yaml:"usage"`
	Registry Registry `yaml:"registry"`
	Health   Health   `yaml:"health"`
	Cache    Cache    `yaml:"cache"`

	RateLimits RateLimits `yaml:"rate_limits"`

	Auth    Auth    `yaml:"auth"`    // accounts, sessions, MFA (auth.go)
	Billing Billing `yaml:"billing"` // credits metering and budgets (billing.go)
	Shop    Shop    `yaml:"shop"`    // products, orders, payments (shop.go)
	Sentry  Sentry  `yaml:"sentry"`  // where the consoles' error reports also go

	Security Security `yaml:"security"` // /.well-known/security.txt (security.go)

	Responses Responses `yaml:"responses"` // the Responses API: hosted tools, stored responses (responses.go)
	Bias      Bias      `yaml:"bias"`      // bias testing: suites, caps (bias.go)

	Upstreams Upstreams `yaml:"upstreams"` // where deployments may send requests (upstreams.go)

	Outage   Outage   `yaml:"outage"`   // when the database goes away (outage.go)
	Backup   Backup   `yaml:"backup"`   // backups: directory, schedule, retention, verification (backup.go)
	Instance Instance `yaml:"instance"` // this process's identity in a fleet (instance.go)
	Tracing  Tracing  `yaml:"tracing"`  // OpenTelemetry traces over OTLP (tracing.go); also the OTEL_* variables
	Energy   Energy   `yaml:"energy"`   // energy and carbon estimates, efficiency targets (energy.go)

	// Routes are routes the file declares; see Route for how they are
	// applied at start. The file only: not settable from the environment.
	Routes []Route `yaml:"routes"`
}

// Sentry forwards the consoles' error reports (which Chorus stores for
// admins in any case) to Sentry or a Sentry-compatible service, through
// the official SDK. Empty DSN: nothing is sent.
type Sentry struct {
	DSN         string `yaml:"dsn"`         // https://public@host/project
	Environment string `yaml:"environment"` // e.g. production
}

// Health configures every deployment's circuit breaker.
type Health struct {
	ConsecutiveFailures int           `yaml:"consecutive_failures"` // open after this many failures in a row
	FailureRate         float64       `yaml:"failure_rate"`         // or this fraction failed in the window...
	MinCalls            int           `yaml:"min_calls"`            // ...over at least this many calls
	Window              time.Duration `yaml:"window"`
	Cooldown            time.Duration `yaml:"cooldown"` // an open circuit refuses calls this long, then probes
}

// Cache configures the response cache. Answers are cached only for keys
// and routes that opt in (their cache_ttl_s), unless TTL is set here.
type Cache struct {
	Enabled bool `yaml:"enabled"` // false: no caching at all, whatever keys and routes say
	// TTL caches every request's answer this long unless its key or route
	// opts out; 0 (the default) caches only for keys and routes that opt in.
	TTL          time.Duration `yaml:"ttl"`
	MaxEntries   int           `yaml:"max_entries"`   // in-process cache: at most this many answers...
	MaxBytes     int64         `yaml:"max_bytes"`     // ...and about this many bytes
	CostFraction float64       `yaml:"cost_fraction"` // what a hit costs, as a fraction of the original answer (0: free)
	Timeout      time.Duration `yaml:"timeout"`       // Redis: a lookup or store slower than this is skipped
	Prefix       string        `yaml:"prefix"`        // Redis: key prefix, to share one Redis between deployments
	// Scope is who shares an answer: "team" (the default) serves a cached
	// answer only to the team whose request stored it, so no tenant learns
	// from a hit what another asked; "global" shares answers between every
	// team (a single-tenant gateway's best hit rate).
	Scope string `yaml:"scope"`
}

// Cache scopes (cache.scope).
const (
	CacheScopeTeam   = "team"
	CacheScopeGlobal = "global"
)

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Limits bound what one request may ask for.
type Limits struct {
	MaxBodyBytes       int64 `yaml:"max_body_bytes"`
	MaxMessages        int   `yaml:"max_messages"`
	MaxTokens          int   `yaml:"max_tokens"` // ceiling for max_tokens when the model states none
	MaxEmbeddingInputs int   `yaml:"max_embedding_inputs"`
}

// Timeouts bound how long things may take.
type Timeouts struct {
	ReadHeader time.Duration `yaml:"read_header"` // client must send headers within this
	Read       time.Duration `yaml:"read"`        // client must send the whole body within this
	Idle       time.Duration `yaml:"idle"`        // keep-alive connections idle longer are closed
	Upstream   time.Duration `yaml:"upstream"`    // one request to an upstream, end to end
	Connect    time.Duration `yaml:"connect"`     // TCP+TLS connect to an upstream
	Drain      time.Duration `yaml:"drain"`       // on SIGTERM, in-flight requests get this long
	// PreDrain is how long, on SIGTERM, the instance keeps accepting while
	// /readyz says draining, so load balancers stop sending to it before it
	// stops listening (docs/deployment-ha.md). 0: stop accepting at once.
	PreDrain time.Duration `yaml:"pre_drain"`
}

// Usage configures the batched usage writer, the usage rollups and the
// retention of both (docs/usage-analytics.md).
type Usage struct {
	QueueSize     int           `yaml:"queue_size"`
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Retention is how long raw usage records are kept (0: for ever); the
	// rollups keep their sums.
	Retention time.Duration `yaml:"retention"`
	// RollupInterval is how often the rollup worker looks for new records
	// once caught up; RollupBatch how many records one rollup transaction
	// takes.
	RollupInterval time.Duration `yaml:"rollup_interval"`
	RollupBatch    int           `yaml:"rollup_batch"`
	// FinalizeAfter is how long a strict-mode record stored with its
	// settlement waits for the usage writer to complete it before the
	// rollups take it as it is.
	FinalizeAfter time.Duration `yaml:"finalize_after"`
	// HourlyRetention and DailyRetention are how long the hourly and daily
	// rollups are kept (0: for ever).
	HourlyRetention time.Duration `yaml:"hourly_retention"`
	DailyRetention  time.Duration `yaml:"daily_retention"`
	// PurgeInterval is how often retention runs; AlertInterval how often
	// the cost alerts are evaluated (docs/cost-monitoring.md).
	PurgeInterval time.Duration `yaml:"purge_interval"`
	AlertInterval time.Duration `yaml:"alert_interval"`
}

// Registry configures the in-memory snapshot of models and keys.
type Registry struct {
	// PollInterval is how often an instance checks whether another instance
	// changed the registry. Changes made through this instance apply at once.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Default returns the configuration used when nothing is set: SQLite under
// ./data, the simulator models, listening on :8080.
func Default() Config {
	return Config{
		Listen:      ":8080",
		DataDir:     "./data",
		Bootstrap:   true,
		AutoMigrate: true,
		Log:         Log{Level: "info", Format: "text"},
		Limits: Limits{
			MaxBodyBytes:       8 << 20,
			MaxMessages:        2048,
			MaxTokens:          128_000,
			MaxEmbeddingInputs: 2048,
		},
		Timeouts: Timeouts{
			ReadHeader: 10 * time.Second,
			Read:       60 * time.Second,
			Idle:       120 * time.Second,
			Upstream:   10 * time.Minute,
			Connect:    10 * time.Second,
			Drain:      30 * time.Second,
		},
		Usage: Usage{QueueSize: 65536, BatchSize: 512, FlushInterval: 200 * time.Millisecond,
			Retention: 90 * 24 * time.Hour, RollupInterval: 5 * time.Second, RollupBatch: 5000, FinalizeAfter: 5 * time.Minute,
			HourlyRetention: 400 * 24 * time.Hour, DailyRetention: 5 * 365 * 24 * time.Hour,
			PurgeInterval: time.Hour, AlertInterval: time.Minute},
		Registry: Registry{PollInterval: time.Second},
		Health:   Health{ConsecutiveFailures: 10, FailureRate: 0.5, MinCalls: 50, Window: 30 * time.Second, Cooldown: 10 * time.Second},
		Cache: Cache{
			Enabled: true, MaxEntries: 100_000, MaxBytes: 256 << 20,
			Timeout: 50 * time.Millisecond, Prefix: "chorus:cache:", Scope: CacheScopeTeam,
		},
		RateLimits: DefaultRateLimits(),
		Auth:       DefaultAuth(),
		Billing:    DefaultBilling(),
		Shop:       DefaultShop(),
		Responses:  DefaultResponses(),
		Security:   DefaultSecurity(),
		Bias:       DefaultBias(),
		Outage:     DefaultOutage(),

		ReplicaMaxLag: DefaultReplicaMaxLag,
		Backup:        DefaultBackup(),
		Instance:      DefaultInstance(),
		Tracing:       DefaultTracing(),
		Energy:        DefaultEnergy(),

		LedgerCheckInterval: time.Hour,
	}
}

// Load reads the file at path (if path is non-empty), applies environment
// overrides from environ (os.Environ() form), and validates the result.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path) // #nosec G304 -- the configuration file the operator named (--config / CHORUS_CONFIG)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if errs := applyOTelEnv(&cfg.Tracing, environ); len(errs) > 0 {
		return cfg, fmt.Errorf("invalid environment:\n  %w", joinLines(errs))
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return cfg, err
	}
	if otelDisabled(environ) {
		cfg.Tracing.Enabled = false
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Validate checks every field and reports all problems at once, each with
// the key to fix.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.serverErrors()...)
	errs = append(errs, c.logErrors()...)
	errs = append(errs, c.limitErrors()...)
	errs = append(errs, c.durationErrors()...)
	errs = append(errs, c.usageErrors()...)
	errs = append(errs, c.healthErrors()...)
	errs = append(errs, c.redisErrors()...)
	errs = append(errs, c.cacheErrors()...)
	errs = append(errs, c.rateLimitErrors()...)
	errs = append(errs, c.routeErrors()...)
	errs = append(errs, c.Auth.errors()...)
	errs = append(errs, c.Billing.errors()...)
	errs = append(errs, c.Shop.errors()...)
	errs = append(errs, c.Responses.errors()...)
	errs = append(errs, c.Security.errors()...)
	errs = append(errs, c.Bias.errors()...)
	errs = append(errs, c.Outage.errors()...)
	errs = append(errs, c.replicaErrors()...)
	errs = append(errs, c.Backup.errors()...)
	errs = append(errs, c.instanceErrors()...)
	errs = append(errs, c.tracingErrors()...)
	errs = append(errs, c.Energy.errors()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration:\n  %w", joinLines(errs))
}

// problems collects what is wrong with a configuration, each problem
// naming its key and its environment variable.
type problems []error

// add records one problem with key.
func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s (%s): %s", key, envName(key), fmt.Sprintf(format, args...)))
}

// serverErrors checks the listen address, the data directory, the database
// URL and the secrets.
func (c *Config) serverErrors() []error {
	var errs problems
	bad := errs.add
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "must be host:port or :port, got %q", c.Listen)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		bad("listen", "port must be 0-65535, got %q", port)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite:") &&
		!strings.HasPrefix(c.DatabaseURL, "file:") {
		bad("database_url", "must start with postgres://, postgresql://, sqlite: or file:, got %q", redactURL(c.DatabaseURL))
	}
	if c.Sentry.DSN != "" {
		if u, err := url.Parse(c.Sentry.DSN); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User == nil || u.Host == "" {
			bad("sentry.dsn", "must be a Sentry DSN: https://PUBLIC_KEY@HOST/PROJECT_ID")
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		bad("metrics_token", "must be at least 16 characters so it cannot be guessed")
	}
	if c.LedgerCheckInterval < 0 || (c.LedgerCheckInterval > 0 && c.LedgerCheckInterval < time.Minute) {
		bad("ledger_check_interval", "must be 0 (off) or at least 1m, got %s", c.LedgerCheckInterval)
	}
	if c.MasterKey != "" && len(c.MasterKey) < 16 {
		bad("master_key", "must be at least 16 characters so it cannot be guessed")
	}
	return errs
}

// logErrors checks the log section.
func (c *Config) logErrors() []error {
	var errs problems
	bad := errs.add
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be one of debug, info, warn, error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	return errs
}

// limitErrors checks the limits section.
func (c *Config) limitErrors() []error {
	var errs problems
	bad := errs.add
	if c.Limits.MaxBodyBytes < 1024 {
		bad("limits.max_body_bytes", "must be at least 1024, got %d", c.Limits.MaxBodyBytes)
	}
	if c.Limits.MaxMessages < 1 {
		bad("limits.max_messages", "must be at least 1, got %d", c.Limits.MaxMessages)
	}
	if c.Limits.MaxTokens < 1 {
		bad("limits.max_tokens", "must be at least 1, got %d", c.Limits.MaxTokens)
	}
	if c.Limits.MaxEmbeddingInputs < 1 {
		bad("limits.max_embedding_inputs", "must be at least 1, got %d", c.Limits.MaxEmbeddingInputs)
	}
	return errs
}

// durationErrors checks the timeouts and intervals of every section but
// the cache's.
func (c *Config) durationErrors() []error {
	var errs problems
	bad := errs.add
	for key, d := range map[string]time.Duration{
		"timeouts.read_header": c.Timeouts.ReadHeader, "timeouts.read": c.Timeouts.Read,
		"timeouts.idle": c.Timeouts.Idle, "timeouts.upstream": c.Timeouts.Upstream,
		"timeouts.connect": c.Timeouts.Connect, "timeouts.drain": c.Timeouts.Drain,
		"usage.flush_interval": c.Usage.FlushInterval, "registry.poll_interval": c.Registry.PollInterval,
		"usage.rollup_interval": c.Usage.RollupInterval, "usage.finalize_after": c.Usage.FinalizeAfter,
		"usage.purge_interval": c.Usage.PurgeInterval, "usage.alert_interval": c.Usage.AlertInterval,
		"health.window": c.Health.Window, "health.cooldown": c.Health.Cooldown,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 30s, got %s", d)
		}
	}
	return errs
}

// usageErrors checks the usage section's sizes.
func (c *Config) usageErrors() []error {
	var errs problems
	bad := errs.add
	if c.Usage.QueueSize < 1 {
		bad("usage.queue_size", "must be at least 1, got %d", c.Usage.QueueSize)
	}
	if c.Usage.BatchSize < 1 || c.Usage.BatchSize > 10000 {
		bad("usage.batch_size", "must be 1-10000, got %d", c.Usage.BatchSize)
	}
	if c.Usage.RollupBatch < 1 || c.Usage.RollupBatch > 100000 {
		bad("usage.rollup_batch", "must be 1-100000, got %d", c.Usage.RollupBatch)
	}
	for key, d := range map[string]time.Duration{"usage.retention": c.Usage.Retention,
		"usage.hourly_retention": c.Usage.HourlyRetention, "usage.daily_retention": c.Usage.DailyRetention} {
		if d != 0 && d < 24*time.Hour {
			bad(key, "must be 0 (keep for ever) or at least 24h, got %s", d)
		}
	}
	return errs
}

// healthErrors checks the health section's thresholds.
func (c *Config) healthErrors() []error {
	var errs problems
	bad := errs.add
	if c.Health.ConsecutiveFailures < 1 {
		bad("health.consecutive_failures", "must be at least 1, got %d", c.Health.ConsecutiveFailures)
	}
	if c.Health.FailureRate <= 0 || c.Health.FailureRate > 1 {
		bad("health.failure_rate", "must be in (0, 1], got %g", c.Health.FailureRate)
	}
	if c.Health.MinCalls < 1 {
		bad("health.min_calls", "must be at least 1, got %d", c.Health.MinCalls)
	}
	return errs
}

// redisErrors checks the Redis URL.
func (c *Config) redisErrors() []error {
	var errs problems
	bad := errs.add
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") &&
		!strings.HasPrefix(c.RedisURL, "unix://") {
		bad("redis_url", "must start with redis://, rediss:// or unix://, got %q", redactURL(c.RedisURL))
	}
	return errs
}

// cacheErrors checks the cache section.
func (c *Config) cacheErrors() []error {
	var errs problems
	bad := errs.add
	cc := &c.Cache
	if cc.TTL < 0 {
		bad("cache.ttl", "must be 0 (cache only what keys and routes opt in) or a positive duration, got %s", cc.TTL)
	}
	if cc.MaxEntries < 1 {
		bad("cache.max_entries", "must be at least 1, got %d", cc.MaxEntries)
	}
	if cc.MaxBytes < 1<<20 {
		bad("cache.max_bytes", "must be at least 1048576 (1 MiB), got %d", cc.MaxBytes)
	}
	if cc.CostFraction < 0 || cc.CostFraction > 1 {
		bad("cache.cost_fraction", "must be in [0, 1], got %g", cc.CostFraction)
	}
	if cc.Timeout <= 0 {
		bad("cache.timeout", "must be a positive duration such as 50ms, got %s", cc.Timeout)
	}
	if cc.Prefix == "" {
		bad("cache.prefix", "must not be empty")
	}
	if cc.Scope != CacheScopeTeam && cc.Scope != CacheScopeGlobal {
		bad("cache.scope", "must be team or global, got %q", cc.Scope)
	}
	return errs
}

// DatabaseDSN returns the DSN to open: DatabaseURL, or the SQLite file in DataDir.
func (c *Config) DatabaseDSN() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "chorus.db")
}

// KeyFile returns where the credential-sealing key is read from (and written
// to on first start).
func (c *Config) KeyFile() string {
	if c.SecretKeyFile != "" {
		return c.SecretKeyFile
	}
	return filepath.Join(c.DataDir, "secret.key")
}

type lineErrors []error

func (l lineErrors) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n  ")
}

func joinLines(errs []error) error { return lineErrors(errs) }

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	if i := strings.Index(s, "@"); i > 0 {
		if j := strings.Index(s, "://"); j > 0 && j < i {
			return s[:j+3] + "…@" + s[i+1:]
		}
	}
	return s
}

// envName returns the environment variable for a dotted key.
func envName(key string) string {
	return "CHORUS_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv sets fields from CHORUS_* variables by walking the struct.
func applyEnv(cfg *Config, environ []string) error {
	env := make(map[string]string)
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CHORUS_") {
			env[k] = v
		}
	}
	var errs []error
	walk(reflect.ValueOf(cfg).Elem(), "", func(key string, f reflect.Value) {
		v, ok := env[envName(key)]
		if !ok {
			return
		}
		if err := setValue(f, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", envName(key), err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("invalid environment:\n  %w", joinLines(errs))
	}
	return nil
}

func walk(v reflect.Value, prefix string, fn func(key string, f reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("yaml")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			walk(f, key, fn)
			continue
		}
		fn(key, f)
	}
}

func setValue(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 2m, got %q", s)
		}
		f.SetInt(int64(d))
		return nil
	case []string: // a comma-separated list
		f.Set(reflect.ValueOf(splitList(s)))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		f.SetBool(b)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		f.SetFloat(x)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
