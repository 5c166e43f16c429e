package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

func loadYAML(t *testing.T, body string) (config.Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(p, nil)
}

func TestRoutes(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c, err := loadYAML(t, `
routes:
  - name: smart
    description: cheap first
    strategy: cascade
    targets:
      - model: sim-small
      - {model: sim-large, weight: 3}
    config:
      retries: 2
      backoff_ms: 150
      deadline_ms: 30000
      balance: latency
      quality_weighted: true
      hedge_delay_ms: 400
      hedge_max: 1
      threshold: 0.8
      ensemble_n: 2
      scorers:
        - {type: length, min: 20}
        - type: judge
          model: sim-large
  - name: plain
    strategy: fallback
    targets: [{model: a}]
    enabled: false
`)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Routes) != 2 {
			t.Fatalf("got %d routes, want 2", len(c.Routes))
		}
		got, err := c.Routes[0].Decode()
		if err != nil {
			t.Fatal(err)
		}
		want := &chorus.Route{
			Name: "smart", Description: "cheap first", Strategy: chorus.StrategyCascade, Enabled: true,
			Targets: []chorus.RouteTarget{{Model: "sim-small"}, {Model: "sim-large", Weight: 3}},
			Config: chorus.RouteConfig{
				Retries: 2, BackoffMS: 150, DeadlineMS: 30000, Balance: chorus.BalanceLatency, Quality: true,
				HedgeDelay: 400, HedgeMax: 1, Threshold: 0.8, EnsembleN: 2,
			},
		}
		scorers := got.Config.Scorers
		got.Config.Scorers = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Decode:\n got %+v\nwant %+v", got, want)
		}
		var s []map[string]any
		if err := json.Unmarshal(scorers, &s); err != nil {
			t.Fatalf("scorers %s: %v", scorers, err)
		}
		if wantS := []map[string]any{{"type": "length", "min": 20.0}, {"type": "judge", "model": "sim-large"}}; !reflect.DeepEqual(s, wantS) {
			t.Errorf("scorers: got %v, want %v", s, wantS)
		}
		plain, err := c.Routes[1].Decode()
		if err != nil {
			t.Fatal(err)
		}
		if plain.Enabled || !reflect.DeepEqual(plain.Config, chorus.RouteConfig{}) {
			t.Errorf("plain: got %+v, want disabled with a zero config", plain)
		}
	})

	t.Run("None", func(t *testing.T) {
		c, err := loadYAML(t, "listen: :9000\n")
		if err != nil || c.Routes != nil {
			t.Fatalf("got %v, %v; want no routes", c.Routes, err)
		}
	})

	for name, tc := range map[string]struct {
		yaml string
		want []string // each must appear in the error
	}{
		"ErrNoName":        {"routes: [{strategy: fallback, targets: [{model: a}]}]", []string{"routes[0] (): name is required"}},
		"ErrDuplicate":     {"routes: [{name: r, strategy: fallback, targets: [{model: a}]}, {name: r, strategy: balance, targets: [{model: b}]}]", []string{"routes[1] (r): routes[0] has the same name"}},
		"ErrNoStrategy":    {"routes: [{name: r, targets: [{model: a}]}]", []string{"routes[0] (r): strategy is required"}},
		"ErrNoTargets":     {"routes: [{name: r, strategy: fallback}]", []string{"routes[0] (r): targets must list"}},
		"ErrTargetModel":   {"routes: [{name: r, strategy: fallback, targets: [{model: a}, {weight: 2}]}]", []string{"targets[1].model is required"}},
		"ErrUnknownConfig": {"routes: [{name: r, strategy: fallback, targets: [{model: a}], config: {retry: 2}}]", []string{`routes[0] (r): config: json: unknown field "retry"`}},
		"ErrConfigType":    {"routes: [{name: r, strategy: fallback, targets: [{model: a}], config: {retries: many}}]", []string{"routes[0] (r): config:", "retries"}},
		"ErrUnknownKey":    {"routes: [{name: r, strategy: fallback, targets: [{model: a}], weight: 2}]", []string{"weight"}},
		"ErrTargetKey":     {"routes: [{name: r, strategy: fallback, targets: [{name: a}]}]", []string{"name"}},
		"AllAtOnce": {"routes: [{name: r, targets: [{model: a}]}, {name: s, strategy: fallback}]",
			[]string{"routes[0] (r): strategy is required", "routes[1] (s): targets must list"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}

	t.Run("ErrEnv", func(t *testing.T) {
		_, err := config.Load("", []string{"CHORUS_ROUTES=smart"})
		if err == nil || !strings.Contains(err.Error(), "CHORUS_ROUTES") {
			t.Fatalf("err = %v, want it to refuse CHORUS_ROUTES", err)
		}
	})
}
