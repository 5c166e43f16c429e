package chorus_test

import (
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
