package manage_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/manage"
)

func testRoute(strategy string, scorers string, models ...string) *chorus.Route {
	rt := &chorus.Route{Name: "r", Strategy: strategy, Config: chorus.RouteConfig{Scorers: json.RawMessage(scorers)}}
	for _, m := range models {
		rt.Targets = append(rt.Targets, chorus.RouteTarget{Model: m})
	}
	return rt
}

func TestValidateRouteDefaults(t *testing.T) {
	s := &manage.Server{}
	for _, tc := range []struct {
		name          string
		rt            *chorus.Route
		hedgeMax      int
		threshold     float64
		scorersStored bool
	}{
		{"Hedge", testRoute(chorus.StrategyHedge, "", "a", "b"), 1, 0, false},
		{"Cascade", testRoute(chorus.StrategyCascade, `[{"type":"length","min":1}]`, "a", "b"), 0, 0.7, true},
		{"Fallback", testRoute(chorus.StrategyFallback, "null", "a"), 0, 0, false},
		{"Ensemble", testRoute(chorus.StrategyEnsemble, `[{"type":"judge"}]`, "a", "b"), 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.ValidateRoute(tc.rt); err != nil {
				t.Fatal(err)
			}
			c := tc.rt.Config
			if c.HedgeMax != tc.hedgeMax || c.Threshold != tc.threshold || (c.Scorers != nil) != tc.scorersStored {
				t.Errorf("config %+v, want hedge_max %d, threshold %g, scorers kept %v", c, tc.hedgeMax, tc.threshold, tc.scorersStored)
			}
		})
	}
}

func TestValidateScorersHook(t *testing.T) {
	var seen string
	hook := func(err error) *manage.Server {
		return &manage.Server{ValidateScorers: func(raw json.RawMessage) error { seen = string(raw); return err }}
	}
	const scorers = `[{"type":"judge","model":"a"}]`

	t.Run("OK", func(t *testing.T) {
		if err := hook(nil).ValidateRoute(testRoute(chorus.StrategyEnsemble, scorers, "a", "b")); err != nil {
			t.Fatal(err)
		}
		if seen != scorers {
			t.Errorf("the hook saw %s, want %s", seen, scorers)
		}
	})
	for _, tc := range []struct {
		name      string
		err       error
		param     string
		message   string
		notArray  bool
		hookCalls bool
	}{
		{"PlainError", errors.New("unknown scorer type \"vibes\""), "config.scorers", `config.scorers: unknown scorer type "vibes"`, false, true},
		{"ChorusError", chorus.Errorf(chorus.EINVALID, "judge needs a model"), "config.scorers", "config.scorers: judge needs a model", false, true},
		{"ChorusErrorWithParam", chorus.Invalid("config.scorers[0].model", "no model named x"), "config.scorers[0].model", "no model named x", false, true},
		{"NotArray", nil, "config.scorers", "config.scorers must be a JSON array of objects", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = ""
			raw := scorers
			if tc.notArray {
				raw = `{"type":"judge"}`
			}
			err := hook(tc.err).ValidateRoute(testRoute(chorus.StrategyEnsemble, raw, "a", "b"))
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Code != chorus.EINVALID || ce.Param != tc.param || ce.Message != tc.message {
				t.Fatalf("got %#v, want EINVALID %q: %q", err, tc.param, tc.message)
			}
			if (seen != "") != tc.hookCalls {
				t.Errorf("hook called: %v, want %v", seen != "", tc.hookCalls)
			}
		})
	}
}
