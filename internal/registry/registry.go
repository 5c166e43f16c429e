// Package registry keeps the in-memory snapshot of models, deployments and
// API keys that the request path reads. The snapshot is immutable and held in
// an atomic pointer; it is rebuilt from the database when this instance
// changes something (at once) or when another instance did (by polling a
// version counter), so the hot path never touches the database.
package registry

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/periodic"
	"github.com/chorusgw/chorus/internal/provider"
)

// Data is what a snapshot is built from, read in one consistent transaction.
type Data struct {
	Version int64
	Models  []*chorus.Model  // with Deployments filled
	Secrets map[int64]string // credential ID → decrypted secret
	Keys    []*chorus.APIKey // active keys, with Role filled
	Routes  []*chorus.Route  // configured routes, enabled or not
}

// Source reads registry data from the database.
type Source interface {
	LoadRegistry(ctx context.Context) (*Data, error)
	RegistryVersion(ctx context.Context) (int64, error)
}

// Factory builds a provider for one deployment.
type Factory func(cfg provider.Config) (provider.Provider, error)

// Snapshot is one immutable view of the registry.
type Snapshot struct {
	Version int64
	BuiltAt time.Time
	routes  map[string]*Route
	keys    map[[32]byte]*chorus.APIKey
	list    []*Route // enabled models, sorted by name
	errors  map[string]string
}

// Route is a public model name and how to serve it: a plain model is a
// route with one tier (its deployments, balanced by weight with fallback); a
// configured route has one tier per target model and a strategy.
type Route struct {
	Model    *chorus.Model // the model; for a configured route, a synthetic one named after it
	Strategy string        // chorus.Strategy*
	Config   chorus.RouteConfig
	Tiers    []*Tier   // in the route's order (a cascade's cheapest first)
	Targets  []*Target // every tier's targets, in tier order
	Routed   bool      // a configured route rather than a plain model
}

// Tier is one model of a route with its usable deployments.
type Tier struct {
	Model   *chorus.Model
	Weight  int
	Targets []*Target
}

// Target is one deployment ready to call.
type Target struct {
	Deployment *chorus.Deployment
	Model      *chorus.Model // the registry model the deployment serves
	Provider   provider.Provider
	// Timeouts from the deployment's settings (0: none beyond the request's).
	Timeout           time.Duration // whole call
	FirstTokenTimeout time.Duration // until the answer (or a stream's first chunk) starts
	// Limits are the provider's own limits on this deployment (settings
	// rpm, tpm, max_concurrency), kept so Chorus does not send what the
	// provider would reject.
	Limits limit.Limits
}

// Route returns the enabled model with the given public name, or nil.
func (s *Snapshot) Route(name string) *Route {
	return s.routes[name]
}

// Models returns the enabled models, sorted by name.
func (s *Snapshot) Models() []*Route { return s.list }

// KeyByHash returns the key whose secret hashes to h, or nil.
func (s *Snapshot) KeyByHash(h [32]byte) *chorus.APIKey { return s.keys[h] }

// DeploymentErrors returns why deployments were left out of the snapshot
// (for example, settings a provider rejected), by deployment name.
func (s *Snapshot) DeploymentErrors() map[string]string { return s.errors }

// target builds the provider for one deployment.
func (r *Registry) target(d *Data, m *chorus.Model, dep *chorus.Deployment) (*Target, error) {
	cfg := provider.Config{
		Kind:                dep.Provider,
		BaseURL:             dep.BaseURL,
		Headers:             dep.Headers,
		Settings:            dep.Settings,
		AllowPrivateNetwork: r.allowPrivate || dep.AllowsPrivateNetwork(),
	}
	if dep.CredentialID != nil {
		cfg.APIKey = d.Secrets[*dep.CredentialID]
	}
	t := &Target{Deployment: dep, Model: m}
	var err error
	if t.Timeout, err = settingDuration(dep.Settings, "timeout_ms"); err != nil {
		return nil, err
	}
	if t.FirstTokenTimeout, err = settingDuration(dep.Settings, "first_token_timeout_ms"); err != nil {
		return nil, err
	}
	if t.Limits, err = limit.DeploymentLimits(dep.Settings); err != nil {
		return nil, err
	}
	connect, err := settingDuration(dep.Settings, "connect_timeout_ms")
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = r.client(provider.ClientOptions{Connect: connect, AllowPrivateNetwork: cfg.AllowPrivateNetwork})
	if t.Provider, err = r.factory(cfg); err != nil {
		return nil, err
	}
	return t, nil
}

// client returns the shared client for o (o.Connect 0 meaning the default
// timeout), made on first use and kept across rebuilds so its connection
// pool survives them. The caller holds mu.
func (r *Registry) client(o provider.ClientOptions) *http.Client {
	if o.Connect <= 0 {
		o.Connect = r.connect
	}
	c, ok := r.clients[o]
	if !ok {
		c = r.clientFor(o)
		r.clients[o] = c
	}
	return c
}

// settingDuration reads a millisecond setting.
func settingDuration(m map[string]any, key string) (time.Duration, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, nil
	}
	f, ok := v.(float64)
	if !ok {
		if i, isInt := v.(int); isInt {
			f, ok = float64(i), true
		}
	}
	if !ok || f < 0 || f > 3_600_000 {
		return 0, fmt.Errorf("setting %s must be a number of milliseconds from 0 to 3600000, got %v", key, v)
	}
	return time.Duration(f * float64(time.Millisecond)), nil
}

// route resolves a configured route's targets to the snapshot's models.
func (r *Registry) route(s *Snapshot, cr *chorus.Route) *Route {
	rt := &Route{
		Model:    &chorus.Model{ID: -cr.ID, Name: cr.Name, Description: cr.Description, Enabled: true, OwnedBy: "chorus-route", CreatedAt: cr.CreatedAt, UpdatedAt: cr.UpdatedAt},
		Strategy: cr.Strategy,
		Config:   cr.Config,
		Routed:   true,
	}
	for _, tg := range cr.Targets {
		base := s.routes[tg.Model]
		if base == nil || base.Routed {
			s.errors["route:"+cr.Name] = "target " + tg.Model + " is not an enabled model"
			continue
		}
		w := tg.Weight
		if w <= 0 {
			w = 1
		}
		tier := &Tier{Model: base.Model, Weight: w, Targets: base.Targets}
		rt.Tiers = append(rt.Tiers, tier)
		rt.Targets = append(rt.Targets, tier.Targets...)
		m := rt.Model
		if m.Kind == "" {
			m.Kind = base.Model.Kind
		}
		if mo := base.Model.MaxOutput; mo > 0 && (m.MaxOutput == 0 || mo < m.MaxOutput) {
			m.MaxOutput = mo
		}
		if cw := base.Model.ContextWindow; cw > 0 && (m.ContextWindow == 0 || cw < m.ContextWindow) {
			m.ContextWindow = cw
		}
	}
	rt.Model.MaxTokensPolicy = routePolicy(cr, rt.Tiers)
	return rt
}

// routePolicy is a route's max_tokens_policy: its config's, else clamp when
// every target model clamps (the route's ceiling is the lowest of theirs,
// which each of them accepts), else refuse.
func routePolicy(cr *chorus.Route, tiers []*Tier) string {
	if p := cr.Config.MaxTokensPolicy; p != "" {
		return p
	}
	for _, t := range tiers {
		if t.Model.MaxTokensPolicy != chorus.MaxTokensClamp {
			return chorus.MaxTokensRefuse
		}
	}
	if len(tiers) == 0 {
		return chorus.MaxTokensRefuse
	}
	return chorus.MaxTokensClamp
}

// HashKey returns the SHA-256 of an API key secret, as stored.
func HashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Registry owns the current snapshot.
type Registry struct {
	src          Source
	factory      Factory
	clientFor    func(provider.ClientOptions) *http.Client
	connect      time.Duration                           // the default connect timeout
	allowPrivate bool                                    // every deployment may dial private addresses
	clients      map[provider.ClientOptions]*http.Client // guarded by mu
	log          *slog.Logger
	now          func() time.Time

	masterHash [32]byte
	master     *chorus.APIKey

	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex // serialises rebuilds
}

// Options configure a Registry.
type Options struct {
	MasterKey string // admin key for automation; empty disables it
	// ClientFor returns the HTTP client for deployments with the given
	// options (connect_timeout_ms, allow_private_network); the registry
	// keeps one per distinct value. Nil means provider.NewHTTPClient.
	ClientFor func(provider.ClientOptions) *http.Client
	// Connect is the connect timeout of deployments that set none
	// (timeouts.connect); 0 means provider.DefaultConnectTimeout.
	Connect time.Duration
	// AllowPrivateNetworks lets every deployment dial loopback and private
	// addresses (upstreams.allow_private_networks); without it only
	// deployments with settings.allow_private_network may.
	AllowPrivateNetworks bool
	Logger               *slog.Logger // nil discards the registry's log lines
	Now                  func() time.Time
}

// New returns a registry with an empty snapshot; call Refresh before serving.
func New(src Source, factory Factory, opts Options) *Registry {
	r := &Registry{src: src, factory: factory, clientFor: opts.ClientFor, connect: opts.Connect,
		allowPrivate: opts.AllowPrivateNetworks, clients: map[provider.ClientOptions]*http.Client{}, log: opts.Logger, now: opts.Now}
	if r.clientFor == nil {
		r.clientFor = provider.NewHTTPClient
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if opts.MasterKey != "" {
		r.masterHash = HashKey(opts.MasterKey)
		r.master = &chorus.APIKey{ID: 0, Name: "master", Prefix: "master", Role: chorus.RoleAdmin}
	}
	r.cur.Store(&Snapshot{routes: map[string]*Route{}, keys: map[[32]byte]*chorus.APIKey{}, Version: -1})
	return r
}

// Snapshot returns the current snapshot. It never blocks.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Authenticate returns the active key for a presented secret, or nil.
func (r *Registry) Authenticate(secret string) *chorus.APIKey {
	h := HashKey(secret)
	if r.master != nil && subtle.ConstantTimeCompare(h[:], r.masterHash[:]) == 1 {
		return r.master
	}
	k := r.cur.Load().keys[h]
	if k == nil || !k.Active(r.now()) {
		return nil
	}
	return k
}

// Refresh rebuilds the snapshot from the database if its version changed
// (or always, when force is set).
func (r *Registry) Refresh(ctx context.Context, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !force {
		v, err := r.src.RegistryVersion(ctx)
		if err != nil {
			return fmt.Errorf("registry version: %w", err)
		}
		if v == r.cur.Load().Version {
			return nil
		}
	}
	data, err := r.src.LoadRegistry(ctx)
	if err != nil {
		return fmt.Errorf("load registry: %w", err)
	}
	snap := r.build(data)
	r.cur.Store(snap)
	r.log.Debug("registry snapshot rebuilt", "version", snap.Version, "models", len(snap.list), "keys", len(snap.keys))
	return nil
}

// Run polls for changes made by other instances until ctx is done.
//
// While refreshes fail (the database is away) the snapshot in memory is
// served as it is; the first failure and the first success after are
// logged, not every poll.
func (r *Registry) Run(ctx context.Context, every time.Duration) {
	failing := false
	periodic.Every(ctx, every, false, func(ctx context.Context) {
		err := r.Refresh(ctx, false)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			failing = true
			r.log.Warn("registry refresh failed; serving the previous snapshot until it succeeds", "err", err)
		case err == nil && failing:
			failing = false
			r.log.Info("registry refresh succeeded again")
		}
	})
}

func (r *Registry) build(d *Data) *Snapshot {
	s := &Snapshot{
		Version: d.Version,
		BuiltAt: r.now(),
		routes:  make(map[string]*Route, len(d.Models)),
		keys:    make(map[[32]byte]*chorus.APIKey, len(d.Keys)),
		errors:  map[string]string{},
	}
	for _, k := range d.Keys {
		var h [32]byte
		if len(k.Hash) != len(h) {
			continue
		}
		copy(h[:], k.Hash)
		s.keys[h] = k
	}
	for _, m := range d.Models {
		if !m.Enabled {
			continue
		}
		tier := &Tier{Model: m, Weight: 1}
		for _, dep := range m.Deployments {
			if !dep.Enabled {
				continue
			}
			t, err := r.target(d, m, dep)
			if err != nil {
				s.errors[dep.Name] = err.Error()
				r.log.Error("deployment left out of the registry", "deployment", dep.Name, "err", err)
				continue
			}
			tier.Targets = append(tier.Targets, t)
		}
		rt := &Route{Model: m, Strategy: chorus.StrategyBalance, Tiers: []*Tier{tier}, Targets: tier.Targets}
		s.routes[m.Name] = rt
		s.list = append(s.list, rt)
	}
	for _, cr := range d.Routes {
		if !cr.Enabled {
			continue
		}
		if _, clash := s.routes[cr.Name]; clash {
			s.errors["route:"+cr.Name] = "a model has the same name"
			continue
		}
		rt := r.route(s, cr)
		s.routes[cr.Name] = rt
		s.list = append(s.list, rt)
	}
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].Model.Name < s.list[j].Model.Name })
	return s
}
