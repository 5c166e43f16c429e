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
	"github.com/chorusgw/chorus/internal/provider"
)

// Data is what a snapshot is built from, read in one consistent transaction.
type Data struct {
	Version int64
	Models  []*chorus.Model  // with Deployments filled
	Secrets map[int64]string // credential ID → decrypted secret
	Keys    []*chorus.APIKey // active keys, with Role filled
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

// Route is a public model name and the deployments that serve it.
type Route struct {
	Model   *chorus.Model
	Targets []*Target // enabled deployments whose provider could be built
}

// Target is one deployment ready to call.
type Target struct {
	Deployment *chorus.Deployment
	Provider   provider.Provider
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

// HashKey returns the SHA-256 of an API key secret, as stored.
func HashKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Registry owns the current snapshot.
type Registry struct {
	src     Source
	factory Factory
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time

	masterHash [32]byte
	master     *chorus.APIKey

	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex // serialises rebuilds
}

// Options configure a Registry.
type Options struct {
	MasterKey  string       // admin key for automation; empty disables it
	HTTPClient *http.Client // shared by every provider
	Logger     *slog.Logger
	Now        func() time.Time
}

// New returns a registry with an empty snapshot; call Refresh before serving.
func New(src Source, factory Factory, opts Options) *Registry {
	r := &Registry{src: src, factory: factory, client: opts.HTTPClient, log: opts.Logger, now: opts.Now}
	if r.log == nil {
		r.log = slog.Default()
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
func (r *Registry) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx, false); err != nil && ctx.Err() == nil {
				r.log.Warn("registry refresh failed; serving the previous snapshot", "err", err)
			}
		}
	}
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
		rt := &Route{Model: m}
		for _, dep := range m.Deployments {
			if !dep.Enabled {
				continue
			}
			cfg := provider.Config{
				Kind:       dep.Provider,
				BaseURL:    dep.BaseURL,
				Headers:    dep.Headers,
				Settings:   dep.Settings,
				HTTPClient: r.client,
			}
			if dep.CredentialID != nil {
				cfg.APIKey = d.Secrets[*dep.CredentialID]
			}
			p, err := r.factory(cfg)
			if err != nil {
				s.errors[dep.Name] = err.Error()
				r.log.Error("deployment left out of the registry", "deployment", dep.Name, "err", err)
				continue
			}
			rt.Targets = append(rt.Targets, &Target{Deployment: dep, Provider: p})
		}
		s.routes[m.Name] = rt
		s.list = append(s.list, rt)
	}
	sort.Slice(s.list, func(i, j int) bool { return s.list[i].Model.Name < s.list[j].Model.Name })
	return s
}
