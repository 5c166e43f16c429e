package orchestrate_test

import (
	"context"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// calibrated is an evaluator that scores by text, calibrates thresholds to
// a fixed value and pre-scores tiers from a table; it records whether each
// scored answer was explored.
type calibrated struct {
	scoreByText
	threshold  float64
	calibrates bool
	pre        map[int]float64
	explored   []bool
}

func (c *calibrated) Evaluate(ctx context.Context, rt *registry.Route, req *provider.ChatRequest, resp *provider.ChatResponse) (float64, []*orchestrate.Attempt, error) {
	c.explored = append(c.explored, orchestrate.Exploring(ctx))
	return c.scoreByText.Evaluate(ctx, rt, req, resp)
}

func (c *calibrated) Threshold(*registry.Route) (float64, bool) { return c.threshold, c.calibrates }

func (c *calibrated) PreScore(_ *registry.Route, _ *provider.ChatRequest, tier int) (float64, bool) {
	s, ok := c.pre[tier]
	return s, ok
}

func TestCascadeTarget(t *testing.T) {
	scores := scoreByText{"cheap": 0.6, "strong": 0.9}
	target := &chorus.CascadeTarget{MinQualityRatio: 0.95}
	for name, tc := range map[string]struct {
		cfg        chorus.RouteConfig
		ev         *calibrated
		wantWinner string
		wantCalls  [2]int32
	}{
		"CalibratedLowerAccepts":  {chorus.RouteConfig{Threshold: 0.7, Target: target}, &calibrated{scoreByText: scores, threshold: 0.5, calibrates: true}, "cheap", [2]int32{1, 0}},
		"NotCalibratedKeepsFixed": {chorus.RouteConfig{Threshold: 0.7, Target: target}, &calibrated{scoreByText: scores, threshold: 0.5}, "strong", [2]int32{1, 1}},
		"NoTargetIgnoresIt":       {chorus.RouteConfig{Threshold: 0.7}, &calibrated{scoreByText: scores, threshold: 0.5, calibrates: true}, "strong", [2]int32{1, 1}},
		"PreScoreSkipsCheap":      {chorus.RouteConfig{Threshold: 0.5}, &calibrated{scoreByText: scores, pre: map[int]float64{0: 0.2, 1: 0.1}}, "strong", [2]int32{0, 1}},
		"PreScoreCallsCheap":      {chorus.RouteConfig{Threshold: 0.5}, &calibrated{scoreByText: scores, pre: map[int]float64{0: 0.8}}, "cheap", [2]int32{1, 0}},
		"ExploreAlwaysServes":     {chorus.RouteConfig{Threshold: 0.99, Explore: 1}, &calibrated{scoreByText: scores, pre: map[int]float64{0: 0}}, "", [2]int32{-1, -1}},
	} {
		t.Run(name, func(t *testing.T) {
			fs := []*fake{answer("cheap", "cheap", 0), answer("strong", "strong", 0)}
			o := newOrch()
			o.Evaluator = tc.ev
			res, err := o.Chat(context.Background(), route(chorus.StrategyCascade, tc.cfg, fs...), req())
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantWinner == "" { // exploring: the chosen tier answers whatever its score, those before it are scored
				want := fs[0].calls.Load() + fs[1].calls.Load() // 1: the first tier chosen; 2: the second
				if fs[0].calls.Load() != 1 || int(want) != len(tc.ev.explored) || res.Tier != int(want)-1 {
					t.Fatalf("explored request: calls %d+%d, tier %d, scored %d", fs[0].calls.Load(), fs[1].calls.Load(), res.Tier, len(tc.ev.explored))
				}
				for _, e := range tc.ev.explored {
					if !e {
						t.Fatal("an explored request's scoring was not marked exploring")
					}
				}
				return
			}
			if got := res.Winner.Target.Deployment.Name; got != tc.wantWinner {
				t.Fatalf("winner %s, want %s", got, tc.wantWinner)
			}
			for i, f := range fs {
				if f.calls.Load() != tc.wantCalls[i] {
					t.Fatalf("%s called %d times, want %d", f.name, f.calls.Load(), tc.wantCalls[i])
				}
			}
			for _, e := range tc.ev.explored {
				if e {
					t.Fatal("a request without explore was marked exploring")
				}
			}
		})
	}
	t.Run("ExploreReachesEveryTier", func(t *testing.T) {
		fs := []*fake{answer("cheap", "cheap", 0), answer("strong", "strong", 0)}
		o := newOrch()
		o.Evaluator = &calibrated{scoreByText: scores}
		rt := route(chorus.StrategyCascade, chorus.RouteConfig{Threshold: 0.99, Explore: 1}, fs...)
		for range 200 {
			if _, err := o.Chat(context.Background(), rt, req()); err != nil {
				t.Fatal(err)
			}
		}
		cheap, strong := fs[0].calls.Load(), fs[1].calls.Load()
		if cheap != 200 || strong < 25 || strong > 80 {
			t.Fatalf("explored calls: cheap %d, strong %d (want 200 and about 50)", cheap, strong)
		}
	})
}
