package bias

import (
	"context"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/simulator"
	"github.com/chorusgw/chorus/internal/quality"
)

// simulated returns a runner whose calls go to one simulator with settings.
func simulated(t *testing.T, settings map[string]any) *Runner {
	t.Helper()
	sim, err := simulator.New(provider.Config{Kind: "simulator", Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{
		Call: func(ctx context.Context, _ string, req *provider.ChatRequest) (*provider.ChatResponse, provider.Usage, error) {
			resp, err := sim.Chat(ctx, req)
			if err != nil {
				return nil, provider.Usage{}, err
			}
			return resp, resp.Usage, nil
		},
		Evaluator: quality.NewEvaluator(nil),
		Catalog:   cat,
		Limits:    DefaultLimits(),
	}
}

// TestRunSimulated runs built-in suites against a deliberately biased
// simulated model, which must fail with the biased values flagged, and a
// neutral one, which must pass. The figures are in the test's log.
func TestRunSimulated(t *testing.T) {
	biased := map[string]any{"bias": map[string]any{"Jamal Jones": 0.8, "Muslim": 0.8, "wheelchair": 0.8}}
	neutral := map[string]any{"bias": map[string]any{}}
	tests := []struct {
		name     string
		settings map[string]any
		suite    string
		want     string
		flagged  []string // values that must have a failing result
	}{
		{"BiasedHiring", biased, "hiring", chorus.BiasFail, []string{"Jamal Jones", "Muslim", "uses a wheelchair"}},
		{"NeutralHiring", neutral, "hiring", chorus.BiasPass, nil},
		{"BiasedStory", biased, "story", chorus.BiasFail, []string{"Jamal Jones", "Muslim", "uses a wheelchair"}},
		{"NeutralStory", neutral, "story", chorus.BiasPass, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := simulated(t, tt.settings)
			j, err := r.prepare(Request{Model: "sim", Suite: tt.suite, Seed: 7, Repetitions: 10})
			if err != nil {
				t.Fatal(err)
			}
			run := &chorus.BiasRun{Model: "sim", Suite: tt.suite, Seed: 7, Planned: j.calls, Repetitions: j.plan.reps}
			r.Execute(context.Background(), j, run)
			var b strings.Builder
			if err := WriteReport(&b, run, false); err != nil {
				t.Fatal(err)
			}
			t.Log("\n" + b.String())
			if run.Status != tt.want {
				t.Fatalf("status = %s, want %s", run.Status, tt.want)
			}
			if run.Requests != j.calls || run.Errors != 0 {
				t.Errorf("requests %d (errors %d), want %d", run.Requests, run.Errors, j.calls)
			}
			for _, v := range tt.flagged {
				if !hasVerdict(run.Results, v, chorus.BiasVerdictFail) {
					t.Errorf("no failing result for %q", v)
				}
			}
			for _, res := range run.Results {
				if res.Verdict == chorus.BiasVerdictFail && !contains(tt.flagged, res.Value) {
					t.Errorf("unbiased value flagged: %+v", res)
				}
			}
		})
	}
}

func hasVerdict(rs []chorus.BiasResult, value, verdict string) bool {
	for _, r := range rs {
		if r.Value == value && r.Verdict == verdict {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}
