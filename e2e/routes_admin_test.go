package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// routeBody is a valid POST /api/admin/routes body over models, which edit
// may change.
func routeBody(name, strategy string, models []string, edit ...func(map[string]any)) map[string]any {
	var targets []any
	for _, m := range models {
		targets = append(targets, map[string]any{"model": m})
	}
	b := map[string]any{"name": name, "strategy": strategy, "targets": targets, "config": map[string]any{}}
	for _, f := range edit {
		f(b)
	}
	return b
}

// withConfig sets one key of the body's config.
func withConfig(key string, v any) func(map[string]any) {
	return func(b map[string]any) { b["config"].(map[string]any)[key] = v }
}

// modelIDs lists the IDs GET /v1/models answers with for key.
func (g *gateway) modelIDs(key string) []string {
	g.t.Helper()
	r := g.do("GET", "/v1/models", key, nil)
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil {
		g.t.Fatalf("GET /v1/models = %d %s", r.Status, r.Body)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

// adminRoutes lists every route through the admin API.
func (g *gateway) adminRoutes() []chorus.Route {
	g.t.Helper()
	var list struct {
		Data []chorus.Route `json:"data"`
	}
	g.mustAdmin("GET", "/api/admin/routes?limit=500", nil, 200, &list)
	return list.Data
}

func TestAdminRoutes(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	for _, name := range []string{"rt-a", "rt-b", "rt-c"} {
		g.simulated(name, nil)
	}
	for _, name := range []string{"rt-e1", "rt-e2"} {
		g.createModel(modelSpec{Name: name, Kind: chorus.KindEmbedding})
	}
	chat := []string{"rt-a", "rt-b", "rt-c"}

	t.Run("CRUD", func(t *testing.T) {
		var rt chorus.Route
		g.mustAdmin("POST", "/api/admin/routes", map[string]any{
			"name": "crud-route", "description": "cheap first", "strategy": "cascade",
			"targets": []any{map[string]any{"model": "rt-a"}, map[string]any{"model": "rt-b", "weight": 2}},
			"config":  map[string]any{"retries": 1, "scorers": []any{map[string]any{"type": "length", "min": 3}}},
		}, 201, &rt)
		if rt.ID < 1 || rt.Name != "crud-route" || rt.Strategy != chorus.StrategyCascade || !rt.Enabled ||
			rt.Description != "cheap first" || len(rt.Targets) != 2 || rt.Targets[1] != (chorus.RouteTarget{Model: "rt-b", Weight: 2}) ||
			rt.Config.Retries != 1 || rt.Config.Threshold != 0.7 || rt.CreatedAt.IsZero() {
			t.Errorf("created %+v", rt)
		}
		if got := string(rt.Config.Scorers); got != `[{"min":3,"type":"length"}]` {
			t.Errorf("scorers = %s", got)
		}
		var got chorus.Route
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/routes/%d", rt.ID), nil, 200, &got)
		if got.Name != rt.Name || got.Config.Threshold != 0.7 || !got.CreatedAt.Equal(rt.CreatedAt) || len(got.Targets) != 2 {
			t.Errorf("read %+v, want %+v", got, rt)
		}
		if ids := g.modelIDs(g.MasterKey); !slices.Contains(ids, "crud-route") {
			t.Errorf("GET /v1/models = %v, want the route listed", ids)
		}

		// PUT replaces every field: what it leaves out goes back to its default.
		var up chorus.Route
		g.mustAdmin("PUT", fmt.Sprintf("/api/admin/routes/%d", rt.ID), routeBody("crud-route-2", "hedge", chat,
			withConfig("hedge_delay_ms", 250), func(b map[string]any) { b["enabled"] = false }), 200, &up)
		if up.ID != rt.ID || up.Name != "crud-route-2" || up.Strategy != chorus.StrategyHedge || up.Enabled ||
			up.Description != "" || len(up.Targets) != 3 || up.Config.HedgeMax != 1 || up.Config.HedgeDelay != 250 ||
			up.Config.Retries != 0 || up.Config.Threshold != 0 || up.Config.Scorers != nil {
			t.Errorf("updated %+v", up)
		}
		if ids := g.modelIDs(g.MasterKey); slices.Contains(ids, "crud-route") || slices.Contains(ids, "crud-route-2") {
			t.Errorf("GET /v1/models = %v, want neither the old name nor the disabled route", ids)
		}
		found := false
		for _, r := range g.adminRoutes() {
			found = found || r.ID == rt.ID && r.Name == "crud-route-2"
		}
		if !found {
			t.Errorf("route %d missing from the list", rt.ID)
		}

		g.mustAdmin("DELETE", fmt.Sprintf("/api/admin/routes/%d", rt.ID), nil, 204, nil)
		wantAPIError(t, g.admin("GET", fmt.Sprintf("/api/admin/routes/%d", rt.ID), nil), 404, "invalid_request_error", "")
		wantAPIError(t, g.admin("DELETE", fmt.Sprintf("/api/admin/routes/%d", rt.ID), nil), 404, "invalid_request_error", "")
		// The name is free again, even for a model.
		g.createModel(modelSpec{Name: "crud-route-2"})
	})

	t.Run("Strategies", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   map[string]any
			check  func(chorus.Route) bool
			expect string
		}{
			{"Fallback", routeBody("s-fallback", "fallback", chat, withConfig("retries", 10), withConfig("backoff_ms", 60000)),
				func(r chorus.Route) bool { return r.Config.Retries == 10 && r.Config.BackoffMS == 60000 }, "retries 10, backoff 60000"},
			{"Balance", routeBody("s-balance", "balance", chat, withConfig("balance", "least_inflight"), withConfig("quality_weighted", true)),
				func(r chorus.Route) bool { return r.Config.Balance == "least_inflight" && r.Config.Quality }, "least_inflight, quality weighted"},
			{"Hedge", routeBody("s-hedge", "hedge", chat, withConfig("hedge_max", 2)),
				func(r chorus.Route) bool { return r.Config.HedgeMax == 2 }, "hedge_max 2"},
			{"Cascade", routeBody("s-cascade", "cascade", chat[:2], withConfig("threshold", 0.9), withConfig("scorers", []any{map[string]any{"type": "length", "min": 1}})),
				func(r chorus.Route) bool { return r.Config.Threshold == 0.9 }, "threshold 0.9"},
			{"Ensemble", routeBody("s-ensemble", "ensemble", chat, withConfig("ensemble_n", 2), withConfig("scorers", []any{map[string]any{"type": "judge", "model": "rt-a", "rubric": "a correct, concise answer"}})),
				func(r chorus.Route) bool { return r.Config.EnsembleN == 2 && len(r.Config.Scorers) > 0 }, "ensemble_n 2 with a scorer"},
			{"EmbeddingFallback", routeBody("s-embed", "fallback", []string{"rt-e1", "rt-e2"}),
				func(r chorus.Route) bool { return len(r.Targets) == 2 }, "two embedding targets"},
			{"Deadline", routeBody("s-deadline", "fallback", chat[:1], withConfig("deadline_ms", 3600000)),
				func(r chorus.Route) bool { return r.Config.DeadlineMS == 3600000 }, "deadline 3600000"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var rt chorus.Route
				g.mustAdmin("POST", "/api/admin/routes", tc.body, 201, &rt)
				if !tc.check(rt) {
					t.Errorf("created %+v, want %s", rt, tc.expect)
				}
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		body := func(edit ...func(map[string]any)) map[string]any {
			return routeBody("bad-route", "fallback", chat, edit...)
		}
		set := func(key string, v any) func(map[string]any) { return func(b map[string]any) { b[key] = v } }
		targets := func(ts ...any) func(map[string]any) { return set("targets", ts) }
		m := func(name string) map[string]any { return map[string]any{"model": name} }
		scorers := func(v any) func(map[string]any) { return withConfig("scorers", v) }
		many := make([]any, 33)
		for i := range many {
			many[i] = m(fmt.Sprintf("m%d", i))
		}
		runInvalid(t, g, "POST", "/api/admin/routes", []invalidCase{
			{"NameEmpty", body(set("name", "")), "name", ""},
			{"NameSpace", body(set("name", "bad route")), "name", ""},
			{"NameTooLong", body(set("name", strings.Repeat("r", 129))), "name", ""},
			{"Description", body(set("description", strings.Repeat("d", 2001))), "description", ""},
			{"StrategyMissing", body(set("strategy", "")), "strategy", ""},
			{"StrategyUnknown", body(set("strategy", "random")), "strategy", "random"},
			{"NoTargets", body(targets()), "targets", ""},
			{"TargetsNull", body(set("targets", nil)), "targets", ""},
			{"TooManyTargets", body(targets(many...)), "targets", "32"},
			{"TargetName", body(targets(m("rt-a"), m("bad model"))), "targets[1].model", ""},
			{"UnknownModel", body(targets(m("rt-a"), m("ghost"))), "targets[1].model", `targets[1].model: no model named "ghost"`},
			{"TargetIsRoute", body(targets(m("rt-a"), m("s-fallback"))), "targets[1].model", "no model named"},
			{"DuplicateTarget", body(targets(m("rt-a"), m("rt-b"), m("rt-a"))), "targets[2].model", "targets[0]"},
			{"NegativeWeight", body(targets(m("rt-a"), map[string]any{"model": "rt-b", "weight": -1})), "targets[1].weight", ""},
			{"HugeWeight", body(targets(map[string]any{"model": "rt-a", "weight": 1_000_001})), "targets[0].weight", ""},
			{"MixedKinds", body(targets(m("rt-a"), m("rt-e1"))), "targets[1].model", "one kind"},
			{"EmbeddingHedge", routeBody("bad-route", "hedge", []string{"rt-e1", "rt-e2"}), "strategy", "embedding"},
			{"EmbeddingCascade", routeBody("bad-route", "cascade", []string{"rt-e1", "rt-e2"}, scorers([]any{map[string]any{"type": "length", "min": 1}})), "strategy", "embedding"},
			{"EmbeddingEnsemble", routeBody("bad-route", "ensemble", []string{"rt-e1", "rt-e2"}, scorers([]any{map[string]any{"type": "length", "min": 1}})), "strategy", "embedding"},
			{"RetriesNegative", body(withConfig("retries", -1)), "config.retries", ""},
			{"RetriesHigh", body(withConfig("retries", 11)), "config.retries", "10"},
			{"Backoff", body(withConfig("backoff_ms", 60001)), "config.backoff_ms", ""},
			{"Deadline", body(withConfig("deadline_ms", 3600001)), "config.deadline_ms", ""},
			{"DeadlineNegative", body(withConfig("deadline_ms", -1)), "config.deadline_ms", ""},
			{"Balance", body(withConfig("balance", "random")), "config.balance", "random"},
			{"HedgeDelay", body(withConfig("hedge_delay_ms", 600001)), "config.hedge_delay_ms", ""},
			{"HedgeMax", routeBody("bad-route", "hedge", chat, withConfig("hedge_max", 3)), "config.hedge_max", ""},
			{"HedgeMaxNegative", body(withConfig("hedge_max", -1)), "config.hedge_max", ""},
			{"HedgeOneTarget", routeBody("bad-route", "hedge", chat[:1]), "targets", "at least 2"},
			{"ThresholdHigh", routeBody("bad-route", "cascade", chat, withConfig("threshold", 1.5)), "config.threshold", ""},
			{"ThresholdNegative", body(withConfig("threshold", -0.1)), "config.threshold", ""},
			{"CascadeOneTarget", routeBody("bad-route", "cascade", chat[:1]), "targets", "at least 2"},
			{"EnsembleNOne", routeBody("bad-route", "ensemble", chat, withConfig("ensemble_n", 1), scorers([]any{map[string]any{"type": "length", "min": 1}})), "config.ensemble_n", ""},
			{"EnsembleNHigh", routeBody("bad-route", "ensemble", chat, withConfig("ensemble_n", 4), scorers([]any{map[string]any{"type": "length", "min": 1}})), "config.ensemble_n", ""},
			{"EnsembleOneTarget", routeBody("bad-route", "ensemble", chat[:1], scorers([]any{map[string]any{"type": "length", "min": 1}})), "targets", "at least 2"},
			{"EnsembleNoScorer", routeBody("bad-route", "ensemble", chat), "config.scorers", "scorer"},
			{"EnsembleEmptyScorers", routeBody("bad-route", "ensemble", chat, scorers([]any{})), "config.scorers", "scorer"},
			{"ScorersNotArray", body(scorers(map[string]any{"type": "judge"})), "config.scorers", "array"},
			{"ScorerNotObject", body(scorers([]any{"judge"})), "config.scorers[0]", "object"},
			{"ScorerNoType", body(scorers([]any{map[string]any{"model": "rt-a"}})), "config.scorers[0].type", "unknown scorer type"},
			{"ScorerTypeNotString", body(scorers([]any{map[string]any{"type": 3}})), "config.scorers[0]", "type"},
			{"JudgeWithoutModel", body(scorers([]any{map[string]any{"type": "judge", "rubric": "r"}})), "config.scorers[0].model", "model"},
			{"BadRegex", body(scorers([]any{map[string]any{"type": "regex", "pattern": "("}})), "config.scorers[0].pattern", ""},
			{"UnknownField", body(set("colour", "red")), "", "colour"},
			{"UnknownTargetField", body(targets(map[string]any{"model": "rt-a", "share": 2})), "", "share"},
			{"UnknownConfigField", body(withConfig("retry", 2)), "", "retry"},
			{"RetriesNotNumber", body(withConfig("retries", "many")), "config.retries", ""},
			{"NotJSON", "{name", "", ""},
		})
		for _, r := range g.adminRoutes() {
			if r.Name == "bad-route" {
				t.Errorf("an invalid request created a route: %+v", r)
			}
		}
	})

	t.Run("InvalidUpdate", func(t *testing.T) {
		var rt chorus.Route
		g.mustAdmin("POST", "/api/admin/routes", routeBody("upd-route", "fallback", chat), 201, &rt)
		path := fmt.Sprintf("/api/admin/routes/%d", rt.ID)
		runInvalid(t, g, "PUT", path, []invalidCase{
			{"UnknownModel", routeBody("upd-route", "fallback", []string{"ghost"}), "targets[0].model", "no model named"},
			{"Strategy", routeBody("upd-route", "random", chat), "strategy", ""},
			{"HedgeMax", routeBody("upd-route", "hedge", chat, withConfig("hedge_max", 5)), "config.hedge_max", ""},
		})
		var got chorus.Route
		g.mustAdmin("GET", path, nil, 200, &got)
		if got.Strategy != chorus.StrategyFallback || len(got.Targets) != 3 || !got.UpdatedAt.Equal(rt.UpdatedAt) {
			t.Errorf("refused updates changed the route: %+v", got)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		var rt chorus.Route
		g.mustAdmin("POST", "/api/admin/routes", routeBody("taken-route", "fallback", chat), 201, &rt)
		other := g.createModel(modelSpec{Name: "taken-model"})
		var second chorus.Route
		g.mustAdmin("POST", "/api/admin/routes", routeBody("second-route", "fallback", chat), 201, &second)

		e := wantAPIError(t, g.admin("POST", "/api/admin/routes", routeBody("rt-a", "fallback", chat)), 409, "conflict_error", "")
		if !strings.Contains(e.Error.Message, `a model named "rt-a" exists`) {
			t.Errorf("message %q does not name the model", e.Error.Message)
		}
		wantAPIError(t, g.admin("POST", "/api/admin/routes", routeBody("taken-route", "fallback", chat)), 409, "conflict_error", "")
		wantAPIError(t, g.admin("PUT", fmt.Sprintf("/api/admin/routes/%d", second.ID), routeBody("taken-model", "fallback", chat)), 409, "conflict_error", "")
		wantAPIError(t, g.admin("PUT", fmt.Sprintf("/api/admin/routes/%d", second.ID), routeBody("taken-route", "fallback", chat)), 409, "conflict_error", "")

		e = wantAPIError(t, g.admin("POST", "/api/admin/models", modelSpec{Name: "taken-route"}), 409, "conflict_error", "")
		if !strings.Contains(e.Error.Message, `a route named "taken-route" exists`) {
			t.Errorf("message %q does not name the route", e.Error.Message)
		}
		wantAPIError(t, g.admin("PUT", fmt.Sprintf("/api/admin/models/%d", other.ID), modelSpec{Name: "taken-route"}), 409, "conflict_error", "")

		var got chorus.Route
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/routes/%d", second.ID), nil, 200, &got)
		var gotModel chorus.Model
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/models/%d", other.ID), nil, 200, &gotModel)
		if got.Name != "second-route" || gotModel.Name != "taken-model" {
			t.Errorf("refused renames changed things: route %q, model %q", got.Name, gotModel.Name)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		notFound(t, g, "/api/admin/routes", routeBody("ghost-route", "fallback", chat))
	})

	t.Run("CustomerForbidden", func(t *testing.T) {
		cust := g.customer()
		for _, rt := range []struct{ method, path string }{
			{"GET", "/api/admin/routes"}, {"POST", "/api/admin/routes"}, {"GET", "/api/admin/routes/1"},
			{"PUT", "/api/admin/routes/1"}, {"DELETE", "/api/admin/routes/1"},
		} {
			wantAPIError(t, g.do(rt.method, rt.path, cust.Key, routeBody("x", "fallback", chat)), 403, "permission_error", "")
			if r := g.do(rt.method, rt.path, "", nil); r.Status != 401 {
				t.Errorf("anonymous %s %s = %d, want 401", rt.method, rt.path, r.Status)
			}
		}
	})
}

// TestConfigRoutes checks routes declared in the config file: applied at
// start, winning over admin edits at the next start, and a route over a
// model that does not exist yet left out without stopping the gateway.
func TestConfigRoutes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	routes := []config.Route{
		{Name: "cfg-smart", Description: "from the file", Strategy: chorus.StrategyCascade,
			Targets: []config.RouteTarget{{Model: "sim-small"}, {Model: "sim-large", Weight: 2}},
			Config:  map[string]any{"retries": 1, "scorers": []any{map[string]any{"type": "length", "min": 5}}}},
		{Name: "cfg-later", Strategy: chorus.StrategyFallback, Targets: []config.RouteTarget{{Model: "not-yet"}}},
	}
	edit := func(c *config.Config) {
		c.DataDir = dir
		c.Bootstrap = true // the simulator models
		c.Routes = routes
	}
	g := startGateway(t, edit)

	byName := func(g *gateway) map[string]chorus.Route {
		out := map[string]chorus.Route{}
		for _, r := range g.adminRoutes() {
			out[r.Name] = r
		}
		return out
	}
	got := byName(g)
	smart, ok := got["cfg-smart"]
	if !ok || smart.Description != "from the file" || smart.Strategy != chorus.StrategyCascade || !smart.Enabled ||
		len(smart.Targets) != 2 || smart.Targets[1].Weight != 2 || smart.Config.Retries != 1 || smart.Config.Threshold != 0.7 ||
		string(smart.Config.Scorers) != `[{"min":5,"type":"length"}]` {
		t.Fatalf("routes after the first start = %+v, want cfg-smart as the file says", got)
	}
	if _, ok := got["cfg-later"]; ok {
		t.Errorf("cfg-later was stored though its model does not exist")
	}
	if ids := g.modelIDs(g.MasterKey); !slices.Contains(ids, "cfg-smart") {
		t.Errorf("GET /v1/models = %v, want cfg-smart", ids)
	}

	// An admin edits the route and creates the missing model; at the next
	// start the file wins for cfg-smart, and cfg-later is applied.
	g.mustAdmin("PUT", fmt.Sprintf("/api/admin/routes/%d", smart.ID),
		routeBody("cfg-smart", "fallback", []string{"sim-large"}), 200, nil)
	g.createModel(modelSpec{Name: "not-yet"})
	other := startGateway(t, edit) // a second instance on the same database
	got = byName(other)
	again := got["cfg-smart"]
	if again.ID != smart.ID || again.Strategy != chorus.StrategyCascade || again.Description != "from the file" ||
		len(again.Targets) != 2 || string(again.Config.Scorers) != string(smart.Config.Scorers) {
		t.Errorf("cfg-smart after the restart = %+v, want the file's version %+v", again, smart)
	}
	if later, ok := got["cfg-later"]; !ok || later.Targets[0].Model != "not-yet" {
		t.Errorf("cfg-later after the restart = %+v (found %v), want it applied", later, ok)
	}

	// A start that changes nothing writes nothing.
	before, err := other.App.DB.RegistryVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	startGateway(t, edit)
	if after, err := other.App.DB.RegistryVersion(context.Background()); err != nil || after != before {
		t.Errorf("registry version %d → %d (%v): an unchanged file rewrote routes", before, after, err)
	}
}

// TestConfigRoutesInvalid checks that a route invalid on its own stops the
// start, as any bad config does.
func TestConfigRoutesInvalid(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey = apptest.MasterKey
	cfg.Routes = []config.Route{{Name: "cfg-bad", Strategy: chorus.StrategyFallback,
		Targets: []config.RouteTarget{{Model: "sim-small"}}, Config: map[string]any{"retries": 99}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the shape is valid, so Validate should pass: %v", err)
	}
	a, err := app.New(context.Background(), cfg, apptest.Logger(), io.Discard)
	if err == nil {
		a.DB.Close()
		t.Fatal("the gateway started with an invalid route in its config")
	}
	if want := "config routes[0] (cfg-bad): config.retries"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to mention %q", err, want)
	}
}
