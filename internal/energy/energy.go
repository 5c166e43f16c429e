// Package energy estimates what the upstream calls behind a request
// consumed in energy and emitted in CO2e: watt-hours per 1,000 input and
// output tokens for each model (defaults by model family, overrides per
// deployment) times the tokens of each call, and the grid's carbon
// intensity where the deployment runs. The figures and their sources are
// in docs/energy.md; they are estimates with wide uncertainty, not
// measurements. Standard library, the root package and config only.
package energy

import (
	"path"
	"strings"
	"sync"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// Rates are what one deployment's calls cost: watt-hours per 1,000
// tokens of each class and grams CO2e per kWh of its grid.
type Rates struct {
	InputWhPer1K       float64
	CachedInputWhPer1K float64
	OutputWhPer1K      float64
	GCO2ePerKWh        float64
}

// Wh is the energy of one call with in input tokens (of which cached were
// read from a prompt cache) and out output tokens.
func (r Rates) Wh(in, cached, out int64) float64 {
	if cached > in {
		cached = in
	}
	return float64(in-cached)/1000*r.InputWhPer1K + float64(cached)/1000*r.CachedInputWhPer1K + float64(out)/1000*r.OutputWhPer1K
}

// CO2e is the grams CO2e of wh watt-hours on this grid.
func (r Rates) CO2e(wh float64) float64 { return wh / 1000 * r.GCO2ePerKWh }

// Line is one upstream call's estimate, with the names and tokens it was
// computed from.
type Line struct {
	Model, Deployment, Provider string
	InputTokens, OutputTokens   int64
	Wh, CO2eGrams               float64
}

// Model is the configured energy model. Its methods are safe for
// concurrent use; rates are resolved once per (provider, deployment,
// model) and remembered.
type Model struct {
	def         Rates
	regions     map[string]float64
	models      []config.EnergyModel
	deployments []config.EnergyDeployment
	targets     map[string]float64

	mu    sync.RWMutex
	cache map[rateKey]Rates // resolved rates (the registry's names are few)
}

type rateKey struct{ provider, deployment, model string }

// New builds the model from a validated configuration (config.Energy's
// checks have run); nil when energy is disabled.
func New(cfg config.Energy) *Model {
	if !cfg.Enabled {
		return nil
	}
	m := &Model{
		regions:     make(map[string]float64, len(cfg.Regions)),
		models:      cfg.Models,
		deployments: cfg.Deployments,
		targets:     make(map[string]float64, len(cfg.Targets)),
		cache:       map[rateKey]Rates{},
	}
	for k, v := range cfg.Regions {
		m.regions[strings.ToUpper(k)] = v
	}
	m.def = Rates{InputWhPer1K: cfg.InputWhPer1K, CachedInputWhPer1K: cfg.InputWhPer1K, OutputWhPer1K: cfg.OutputWhPer1K}
	if cfg.GridGCO2ePerKWh > 0 {
		m.def.GCO2ePerKWh = cfg.GridGCO2ePerKWh
	} else {
		m.def.GCO2ePerKWh, _ = m.intensity(cfg.Region)
	}
	for _, t := range cfg.Targets {
		m.targets[t.Model] = t.WhPer1KTokens
	}
	return m
}

// Default returns the rates of a model no entry matches, on the default
// grid: Chorus's own footprint is counted at its intensity.
func (m *Model) Default() Rates { return m.def }

// Targets returns the efficiency targets, Wh per 1,000 tokens by model.
func (m *Model) Targets() map[string]float64 {
	out := make(map[string]float64, len(m.targets))
	for k, v := range m.targets {
		out[k] = v
	}
	return out
}

// intensity looks a region up in the operator's regions, then the
// built-in table.
func (m *Model) intensity(region string) (float64, bool) {
	if v, ok := m.regions[strings.ToUpper(region)]; ok {
		return v, true
	}
	return config.GridIntensity(region)
}

// Rates returns the rates of a deployment of a model.
func (m *Model) Rates(provider, deployment, model string) Rates {
	key := rateKey{provider, deployment, model}
	m.mu.RLock()
	r, ok := m.cache[key]
	m.mu.RUnlock()
	if ok {
		return r
	}
	r = m.resolve(provider, deployment, model)
	m.mu.Lock()
	m.cache[key] = r
	m.mu.Unlock()
	return r
}

// resolve applies the entries in order: coefficients from the first
// matching deployment entry that sets them, else the first matching model
// entry, else the defaults (each coefficient on its own); the intensity
// from the first matching deployment entry that sets one.
func (m *Model) resolve(provider, deployment, model string) Rates {
	var in, cached, out *float64
	take := func(c config.EnergyCoefficients) {
		if in == nil {
			in = c.InputWhPer1K
		}
		if cached == nil {
			cached = c.CachedInputWhPer1K
		}
		if out == nil {
			out = c.OutputWhPer1K
		}
	}
	r := m.def
	grid := false
	for i := range m.deployments {
		d := &m.deployments[i]
		if !match(d.Match, deployment) {
			continue
		}
		take(d.EnergyCoefficients)
		if !grid {
			switch {
			case d.GridGCO2ePerKWh != nil:
				r.GCO2ePerKWh, grid = *d.GridGCO2ePerKWh, true
			case d.Region != "":
				if v, ok := m.intensity(d.Region); ok {
					r.GCO2ePerKWh, grid = v, true
				}
			}
		}
	}
	for i := range m.models {
		e := &m.models[i]
		if (e.Provider == "" || e.Provider == provider) && match(e.Match, model) {
			take(e.EnergyCoefficients)
		}
	}
	if in != nil {
		r.InputWhPer1K = *in
		r.CachedInputWhPer1K = *in
	}
	if cached != nil {
		r.CachedInputWhPer1K = *cached
	}
	if out != nil {
		r.OutputWhPer1K = *out
	}
	return r
}

// match reports whether name matches the glob (a bad glob matches nothing;
// config validation refuses them).
func match(glob, name string) bool {
	ok, err := path.Match(glob, name)
	return err == nil && ok
}

// Lines estimates each upstream call of a usage record: one line per
// attempt that reached an upstream (a cache hit consumed nothing
// upstream; an attempt without tokens, such as a connect error, counts
// zero), or, for a record without attempts, one line from its own
// deployment and totals.
//
// A nil Model (energy disabled) estimates nothing.
func (m *Model) Lines(u *chorus.Usage) []Line {
	if m == nil {
		return nil
	}
	if len(u.Attempts) == 0 {
		if u.Deployment == "" {
			return nil
		}
		return []Line{m.line(u.Model, u.Deployment, u.Provider, u.InputTokens, u.CachedInputTokens, u.OutputTokens)}
	}
	out := make([]Line, 0, len(u.Attempts))
	for i := range u.Attempts {
		a := &u.Attempts[i]
		if a.Outcome == "cache_hit" {
			continue
		}
		out = append(out, m.line(a.Model, a.Deployment, a.Provider, a.InputTokens, a.CachedInputTokens, a.OutputTokens))
	}
	return out
}

func (m *Model) line(model, deployment, provider string, in, cached, out int64) Line {
	r := m.Rates(provider, deployment, model)
	wh := r.Wh(in, cached, out)
	return Line{Model: model, Deployment: deployment, Provider: provider, InputTokens: in, OutputTokens: out, Wh: wh, CO2eGrams: r.CO2e(wh)}
}

// Fill sets u.EnergyWh and u.CO2eGrams to the sum of its calls' estimates
// (Lines); a nil Model sets them to 0. It may be called more than once on
// a record.
func (m *Model) Fill(u *chorus.Usage) {
	FillFrom(u, m.Lines(u))
}

// FillFrom sets u's totals from lines already computed for it.
func FillFrom(u *chorus.Usage, lines []Line) {
	var wh, g float64
	for i := range lines {
		wh += lines[i].Wh
		g += lines[i].CO2eGrams
	}
	u.EnergyWh, u.CO2eGrams = wh, g
}
