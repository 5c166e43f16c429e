package config

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/chorusgw/chorus"
)

// Route declares a route in the config file:
//
//	routes:
//	  - name: smart
//	    strategy: cascade
//	    targets: [{model: sim-small}, {model: sim-large}]
//	    config: {threshold: 0.8, scorers: [{type: length, min: 20}]}
//
// At start the gateway creates each declared route, or updates the stored
// route of that name where it differs: for the routes it names, the file
// wins over edits made through the admin API, which last until the next
// start. Routes the file does not name are left alone, so removing a route
// from the file does not delete it.
//
// Config validates the shape here; the rest (strategy, ranges, scorers,
// target models) is checked at start, as the admin API checks it.
type Route struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Strategy    string        `yaml:"strategy"`
	Targets     []RouteTarget `yaml:"targets"`
	// Config holds chorus.RouteConfig's fields under their JSON names
	// (retries, backoff_ms, deadline_ms, balance, quality_weighted,
	// hedge_delay_ms, hedge_max, threshold, ensemble_n, scorers).
	Config  map[string]any `yaml:"config"`
	Enabled *bool          `yaml:"enabled"` // default true
}

// RouteTarget is one model a declared route may call.
type RouteTarget struct {
	Model  string `yaml:"model"`
	Weight int    `yaml:"weight"`
}

// Decode returns the route as the domain type. Its config goes through
// JSON, so the file's keys are exactly the admin API's, and an unknown key
// is an error.
func (r *Route) Decode() (*chorus.Route, error) {
	rt := &chorus.Route{Name: r.Name, Description: r.Description, Strategy: r.Strategy,
		Enabled: r.Enabled == nil || *r.Enabled}
	for _, t := range r.Targets {
		rt.Targets = append(rt.Targets, chorus.RouteTarget{Model: t.Model, Weight: t.Weight})
	}
	if len(r.Config) == 0 {
		return rt, nil
	}
	b, err := json.Marshal(r.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rt.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return rt, nil
}

// routeErrors checks the shape of the declared routes: each has a name no
// other declares, at least one target, every target a model, and a config
// that decodes.
func (c *Config) routeErrors() []error {
	var errs []error
	seen := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("routes[%d] (%s): %s", i, r.Name, fmt.Sprintf(format, args...)))
		}
		if r.Name == "" {
			bad("name is required")
		} else if j, dup := seen[r.Name]; dup {
			bad("routes[%d] has the same name", j)
		} else {
			seen[r.Name] = i
		}
		if r.Strategy == "" {
			bad("strategy is required: one of %v", chorus.Strategies())
		}
		if len(r.Targets) == 0 {
			bad("targets must list at least one model")
		}
		for j, t := range r.Targets {
			if t.Model == "" {
				bad("targets[%d].model is required", j)
			}
		}
		if _, err := r.Decode(); err != nil {
			bad("%v", err)
		}
	}
	return errs
}
