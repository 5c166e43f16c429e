package chorus_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestValidStrategy(t *testing.T) {
	for _, tt := range []struct {
		name     string
		strategy string
		want     bool
	}{
		{"Fallback", chorus.StrategyFallback, true},
		{"Balance", chorus.StrategyBalance, true},
		{"Hedge", chorus.StrategyHedge, true},
		{"Cascade", chorus.StrategyCascade, true},
		{"Ensemble", chorus.StrategyEnsemble, true},
		{"ErrEmpty", "", false},
		{"ErrUnknown", "round_robin", false},
		{"ErrBalanceMode", chorus.BalanceWeighted, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := chorus.ValidStrategy(tt.strategy); got != tt.want {
				t.Errorf("ValidStrategy(%q) = %v, want %v", tt.strategy, got, tt.want)
			}
		})
	}
}

func TestStrategies(t *testing.T) {
	t.Run("AllValid", func(t *testing.T) {
		for _, s := range chorus.Strategies() {
			if !chorus.ValidStrategy(s) {
				t.Errorf("Strategies lists %q, which ValidStrategy refuses", s)
			}
		}
	})
	t.Run("FreshCopy", func(t *testing.T) {
		chorus.Strategies()[0] = "changed"
		if got, want := chorus.Strategies()[0], chorus.StrategyFallback; got != want {
			t.Errorf("after changing a returned slice, Strategies()[0] = %q, want %q", got, want)
		}
	})
}

func TestRouteTarget(t *testing.T) {
	learned := json.RawMessage(`[{"type": "learned"}]`)
	for _, tt := range []struct {
		name     string
		strategy string
		cfg      chorus.RouteConfig
		param    string // "" when valid
	}{
		{"QualityTarget", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MinQualityRatio: 0.95}, Explore: 0.1}, ""},
		{"CostTarget", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MaxCostRatio: 0.5}}, ""},
		{"InExpectation", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MinQualityRatio: 0.95, Margin: ptr(0)}}, ""},
		{"ErrBoth", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MinQualityRatio: 0.9, MaxCostRatio: 0.5}}, "config.target"},
		{"ErrNeither", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{}}, "config.target"},
		{"ErrQualityRange", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MinQualityRatio: 1.2}}, "config.target.min_quality_ratio"},
		{"ErrMarginRange", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MinQualityRatio: 0.9, Margin: ptr(3.5)}}, "config.target.margin"},
		{"ErrMarginNegative", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MaxCostRatio: 0.5, Margin: ptr(-1)}}, "config.target.margin"},
		{"ErrCostRange", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MaxCostRatio: -0.1}}, "config.target.max_cost_ratio"},
		{"ErrNoLearned", chorus.StrategyCascade, chorus.RouteConfig{Scorers: json.RawMessage(`[{"type": "refusal"}]`), Target: &chorus.CascadeTarget{MaxCostRatio: 0.5}}, "config.target"},
		{"ErrNotCascade", chorus.StrategyEnsemble, chorus.RouteConfig{Scorers: learned, Target: &chorus.CascadeTarget{MaxCostRatio: 0.5}}, "config.target"},
		{"ErrExploreRange", chorus.StrategyCascade, chorus.RouteConfig{Scorers: learned, Explore: 1.5}, "config.explore"},
		{"ErrExploreNotCascade", chorus.StrategyFallback, chorus.RouteConfig{Explore: 0.5}, "config.explore"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := chorus.Route{Name: "r", Strategy: tt.strategy, Targets: []chorus.RouteTarget{{Model: "a"}, {Model: "b"}}, Config: tt.cfg}
			err := r.Validate()
			if tt.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Param != tt.param {
				t.Fatalf("err = %v, want one about %s", err, tt.param)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }
