package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"

	"github.com/chorusgw/chorus"
)

// RouteStore is what the route admin API needs from the database.
type RouteStore interface {
	CreateRoute(ctx context.Context, r *chorus.Route) error
	RouteByID(ctx context.Context, id int64) (*chorus.Route, error)
	UpdateRoute(ctx context.Context, r *chorus.Route) error
	DeleteRoute(ctx context.Context, id int64) error
	ListRoutes(ctx context.Context, p chorus.Page) ([]*chorus.Route, error)
	ModelByName(ctx context.Context, name string) (*chorus.Model, error)
}

// Bounds of a route's shape and config.
const (
	maxRouteTargets  = 32
	maxRetries       = 10
	maxBackoffMS     = 60_000
	maxDeadlineMS    = 3_600_000
	maxHedgeDelayMS  = 600_000
	maxTargetWeight  = 1_000_000
	defaultThreshold = 0.7
)

// balanceModes are the values of RouteConfig.Balance ("" means weighted).
var balanceModes = []string{chorus.BalanceWeighted, chorus.BalanceLeastInFlight, chorus.BalanceLatency}

// routeAdminRoutes registers the route admin API (admin keys only).
func (s *Server) routeAdminRoutes(mux *http.ServeMux) {
	admin := func(pattern string, h handlerFunc) { s.handle(mux, pattern, accessAdmin, h) }
	admin("GET /api/admin/routes", s.adminListRoutes)
	admin("POST /api/admin/routes", s.adminCreateRoute)
	admin("GET /api/admin/routes/{id}", s.adminGetRoute)
	admin("PUT /api/admin/routes/{id}", s.adminUpdateRoute)
	admin("DELETE /api/admin/routes/{id}", s.adminDeleteRoute)
}

// routeInput is the body of POST and PUT /api/admin/routes. PUT replaces
// every field; enabled defaults to true.
type routeInput struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Strategy    string               `json:"strategy"`
	Targets     []chorus.RouteTarget `json:"targets"`
	Config      chorus.RouteConfig   `json:"config"`
	Enabled     *bool                `json:"enabled"`
}

// applyRoute copies the input onto rt and validates it in full.
func (s *Server) applyRoute(ctx context.Context, in *routeInput, rt *chorus.Route) error {
	rt.Name, rt.Description, rt.Strategy = in.Name, in.Description, in.Strategy
	rt.Targets, rt.Config = in.Targets, in.Config
	rt.Enabled = in.Enabled == nil || *in.Enabled
	if err := s.ValidateRoute(rt); err != nil {
		return err
	}
	return s.CheckRouteTargets(ctx, rt)
}

// ValidateRoute checks a route on its own, without I/O: its name, strategy,
// targets and config ranges, and its scorers (with ValidateScorers when
// set). It fills the defaults the strategy needs stored (a hedge's
// hedge_max 1, a cascade's threshold 0.7). Errors are EINVALID naming the
// field at fault.
func (s *Server) ValidateRoute(rt *chorus.Route) error {
	if err := validName("name", rt.Name); err != nil {
		return err
	}
	if len(rt.Description) > 2000 {
		return chorus.Invalid("description", "description must be at most 2000 characters")
	}
	if !slices.Contains(chorus.Strategies(), rt.Strategy) {
		return chorus.Invalid("strategy", "strategy must be one of %v, got %q", chorus.Strategies(), rt.Strategy)
	}
	if err := validateTargets(rt); err != nil {
		return err
	}
	n, err := s.validateScorers(&rt.Config)
	if err != nil {
		return err
	}
	return validateRouteConfig(rt, n)
}

// validateTargets checks the targets' count, names, weights and that none
// is listed twice.
func validateTargets(rt *chorus.Route) error {
	n := len(rt.Targets)
	if n == 0 || n > maxRouteTargets {
		return chorus.Invalid("targets", "targets must list 1 to %d models, got %d", maxRouteTargets, n)
	}
	seen := make(map[string]int, n)
	for i, t := range rt.Targets {
		field := fmt.Sprintf("targets[%d]", i)
		if err := validName(field+".model", t.Model); err != nil {
			return err
		}
		if j, dup := seen[t.Model]; dup {
			return chorus.Invalid(field+".model", "%s.model: model %q is already targets[%d]", field, t.Model, j)
		}
		seen[t.Model] = i
		if t.Weight < 0 || t.Weight > maxTargetWeight {
			return chorus.Invalid(field+".weight", "%s.weight must be between 0 and %d (0 means 1)", field, maxTargetWeight)
		}
	}
	// Hedge, cascade and ensemble race or compare two models or more.
	if n < 2 && rt.Strategy != chorus.StrategyFallback && rt.Strategy != chorus.StrategyBalance {
		return chorus.Invalid("targets", "a %s route needs at least 2 targets, got %d", rt.Strategy, n)
	}
	return nil
}

// validateRouteConfig checks the config's ranges against the strategy and
// the number of targets and scorers, and fills the stored defaults.
func validateRouteConfig(rt *chorus.Route, scorers int) error {
	c, n := &rt.Config, len(rt.Targets)
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"retries", c.Retries, maxRetries},
		{"backoff_ms", c.BackoffMS, maxBackoffMS},
		{"deadline_ms", c.DeadlineMS, maxDeadlineMS},
		{"hedge_delay_ms", c.HedgeDelay, maxHedgeDelayMS},
	} {
		if f.v < 0 || f.v > f.limit {
			return chorus.Invalid("config."+f.name, "config.%s must be between 0 and %d, got %d", f.name, f.limit, f.v)
		}
	}
	if c.Balance != "" && !slices.Contains(balanceModes, c.Balance) {
		return chorus.Invalid("config.balance", "config.balance must be one of %v, got %q", balanceModes, c.Balance)
	}
	if rt.Strategy == chorus.StrategyHedge && c.HedgeMax == 0 {
		c.HedgeMax = 1
	}
	if c.HedgeMax < 0 || c.HedgeMax > n-1 {
		return chorus.Invalid("config.hedge_max", "config.hedge_max must be between 0 and %d (one less than the targets), got %d", max(n-1, 0), c.HedgeMax)
	}
	if math.IsNaN(c.Threshold) || c.Threshold < 0 || c.Threshold > 1 {
		return chorus.Invalid("config.threshold", "config.threshold must be between 0 and 1, got %g", c.Threshold)
	}
	if rt.Strategy == chorus.StrategyCascade && c.Threshold == 0 {
		c.Threshold = defaultThreshold
	}
	if c.CacheTTL < -1 || c.CacheTTL > 30*24*3600 {
		return chorus.Invalid("config.cache_ttl_s", "config.cache_ttl_s must be -1 (never cache), 0 (the default) or up to 2592000 seconds, got %d", c.CacheTTL)
	}
	if c.EnsembleN != 0 && (c.EnsembleN < 2 || c.EnsembleN > n) {
		return chorus.Invalid("config.ensemble_n", "config.ensemble_n must be 0 (all targets) or between 2 and %d, got %d", n, c.EnsembleN)
	}
	if (rt.Strategy == chorus.StrategyEnsemble || rt.Strategy == chorus.StrategyCascade) && scorers == 0 {
		return chorus.Invalid("config.scorers", "a %s route needs at least one scorer to judge its answers", rt.Strategy)
	}
	return nil
}

// validateScorers checks config.scorers and returns how many there are.
// "null" is stored as no scorers.
func (s *Server) validateScorers(c *chorus.RouteConfig) (int, error) {
	if len(c.Scorers) == 0 || string(c.Scorers) == "null" {
		c.Scorers = nil
		return 0, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(c.Scorers, &items); err != nil {
		return 0, chorus.Invalid("config.scorers", "config.scorers must be a JSON array of objects")
	}
	check := s.ValidateScorers
	if check == nil {
		check = checkScorerTypes
	}
	if err := check(c.Scorers); err != nil {
		var ce *chorus.Error
		if !errors.As(err, &ce) {
			return 0, chorus.Invalid("config.scorers", "config.scorers: %s", err.Error())
		}
		if ce.Code == chorus.EINVALID && ce.Param != "" {
			return 0, ce // the evaluator named the field itself
		}
		return 0, chorus.Invalid("config.scorers", "config.scorers: %s", ce.Message)
	}
	return len(items), nil
}

// checkScorerTypes is the scorer check used when no evaluator is plugged in:
// an array of objects, each with a string "type".
func checkScorerTypes(raw json.RawMessage) error {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return errors.New("must be a JSON array of objects")
	}
	for i, it := range items {
		var typ string
		if err := json.Unmarshal(it["type"], &typ); err != nil || typ == "" {
			return fmt.Errorf("[%d].type must be a non-empty string", i)
		}
	}
	return nil
}

// CheckRouteTargets checks a route against the registry in the database:
// every target names an existing model, all of one kind, and an embedding
// route uses fallback or balance (the only strategies that do not compare
// answers). Errors are EINVALID naming the field at fault.
func (s *Server) CheckRouteTargets(ctx context.Context, rt *chorus.Route) error {
	var kind string
	for i, t := range rt.Targets {
		field := fmt.Sprintf("targets[%d].model", i)
		m, err := s.Store.ModelByName(ctx, t.Model)
		if chorus.ErrorCode(err) == chorus.ENOTFOUND {
			return chorus.Invalid(field, "%s: no model named %q", field, t.Model)
		}
		if err != nil {
			return err
		}
		if i == 0 {
			kind = m.Kind
		} else if m.Kind != kind {
			return chorus.Invalid(field, "%s: model %q is a %s model, targets[0] a %s model: a route's targets must be of one kind", field, t.Model, m.Kind, kind)
		}
	}
	if kind == chorus.KindEmbedding && rt.Strategy != chorus.StrategyFallback && rt.Strategy != chorus.StrategyBalance {
		return chorus.Invalid("strategy", "an embedding route may only use %q or %q, got %q", chorus.StrategyFallback, chorus.StrategyBalance, rt.Strategy)
	}
	return nil
}

func (s *Server) adminListRoutes(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return err
	}
	rs, err := s.Store.ListRoutes(r.Context(), p)
	if err != nil {
		return err
	}
	writeList(w, rs, p, func(rt *chorus.Route) int64 { return rt.ID })
	return nil
}

func (s *Server) adminCreateRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in routeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rt := &chorus.Route{}
	if err := s.applyRoute(r.Context(), &in, rt); err != nil {
		return err
	}
	if err := s.Store.CreateRoute(r.Context(), rt); err != nil {
		return err
	}
	s.changed(r.Context())
	writeJSON(w, http.StatusCreated, rt)
	return nil
}

func (s *Server) adminGetRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rt, err := s.Store.RouteByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rt)
	return nil
}

func (s *Server) adminUpdateRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in routeInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rt, err := s.Store.RouteByID(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.applyRoute(r.Context(), &in, rt); err != nil {
		return err
	}
	if err := s.Store.UpdateRoute(r.Context(), rt); err != nil {
		return err
	}
	s.changed(r.Context())
	writeJSON(w, http.StatusOK, rt)
	return nil
}

func (s *Server) adminDeleteRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteRoute(r.Context(), id); err != nil {
		return err
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
