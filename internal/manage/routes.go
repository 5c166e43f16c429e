package manage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
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

// routeAdminRoutes registers the route admin API (admin keys only).
func (s *Server) routeAdminRoutes(mux *api.Mux) {
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

// ValidateRoute checks a route on its own, without I/O: everything
// chorus.Route.Validate checks (and the defaults it fills), then each
// scorer's settings with ValidateScorers when set. Errors are EINVALID
// naming the field at fault.
func (s *Server) ValidateRoute(rt *chorus.Route) error {
	if err := rt.Validate(); err != nil {
		return err
	}
	return s.validateScorers(&rt.Config)
}

// validateScorers checks each scorer's settings in config.scorers (a JSON
// array, as Route.Validate checked).
func (s *Server) validateScorers(c *chorus.RouteConfig) error {
	if c.Scorers == nil {
		return nil
	}
	check := s.ValidateScorers
	if check == nil {
		check = checkScorerTypes
	}
	if err := check(c.Scorers); err != nil {
		var ce *chorus.Error
		if !errors.As(err, &ce) {
			return chorus.Invalid("config.scorers", "config.scorers: %s", err.Error())
		}
		if ce.Code == chorus.EINVALID && ce.Param != "" {
			return ce // the evaluator named the field itself
		}
		return chorus.Invalid("config.scorers", "config.scorers: %s", ce.Message)
	}
	return nil
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
	p, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	rs, err := s.Store.ListRoutes(r.Context(), p)
	if err != nil {
		return err
	}
	api.WriteList(w, rs, p, func(rt *chorus.Route) int64 { return rt.ID })
	return nil
}

func (s *Server) adminCreateRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in routeInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
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
	api.WriteJSON(w, http.StatusCreated, rt)
	return nil
}

func (s *Server) adminGetRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	rt, err := s.Store.RouteByID(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, rt)
	return nil
}

func (s *Server) adminUpdateRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in routeInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
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
	api.WriteJSON(w, http.StatusOK, rt)
	return nil
}

func (s *Server) adminDeleteRoute(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
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
