package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/bias"
)

// TestBiasRuns runs a built-in suite through the admin API, and so through
// the orchestrator, against a deliberately biased simulated model (the run
// fails, the biased values flagged) and a neutral one (it passes), then
// lists and compares the stored runs.
func TestBiasRuns(t *testing.T) {
	g := startGateway(t, nil)
	g.simulated("bias-biased", map[string]any{"bias": map[string]any{"Jamal Jones": 0.8, "Muslim": 0.8, "wheelchair": 0.8}})
	g.simulated("bias-neutral", map[string]any{"bias": map[string]any{}})

	var suites struct{ Data []bias.SuiteInfo }
	g.mustAdmin("GET", "/api/admin/bias/suites", nil, http.StatusOK, &suites)
	if len(suites.Data) < 5 {
		t.Fatalf("suites = %+v, want the five built-in ones", suites.Data)
	}

	ask := map[string]any{"suite": "hiring", "tasks": []string{"suitability"}, "repetitions": 10, "seed": 3}
	biased := g.biasRun(with(ask, "model", "bias-biased"))
	neutral := g.biasRun(with(ask, "model", "bias-neutral"))
	for _, tt := range []struct {
		name    string
		run     *chorus.BiasRun
		want    string
		flagged []string
	}{
		{"Biased", biased, chorus.BiasFail, []string{"Jamal Jones", "Muslim", "uses a wheelchair"}},
		{"Neutral", neutral, chorus.BiasPass, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			_ = bias.WriteReport(&b, tt.run, false)
			t.Log("\n" + b.String())
			if tt.run.Status != tt.want || tt.run.Requests != tt.run.Planned || tt.run.Errors != 0 || tt.run.OutputTokens == 0 {
				t.Fatalf("run = %s, %d of %d calls (%d errors, %d output tokens); want %s with every call answered",
					tt.run.Status, tt.run.Requests, tt.run.Planned, tt.run.Errors, tt.run.OutputTokens, tt.want)
			}
			failed := map[string]bool{}
			for _, r := range tt.run.Results {
				if r.Verdict == chorus.BiasVerdictFail {
					failed[r.Value] = true
				}
			}
			if len(failed) != len(tt.flagged) {
				t.Errorf("failing values = %v, want %v", failed, tt.flagged)
			}
			for _, v := range tt.flagged {
				if !failed[v] {
					t.Errorf("%q not flagged", v)
				}
			}
		})
	}

	t.Run("History", func(t *testing.T) {
		var list struct{ Data []chorus.BiasRun }
		g.mustAdmin("GET", "/api/admin/bias/runs?model=bias-biased&suite=hiring&results=true", nil, http.StatusOK, &list)
		if len(list.Data) != 1 || list.Data[0].ID != biased.ID || len(list.Data[0].Results) != len(biased.Results) {
			t.Fatalf("list = %+v", list.Data)
		}
		var cmp bias.Comparison
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/bias/compare?runs=%d,%d", biased.ID, neutral.ID), nil, http.StatusOK, &cmp)
		if len(cmp.Runs) != 2 || len(cmp.Rows) != len(biased.Results) || len(cmp.Rows[0].Cells) != 2 || cmp.Rows[0].Cells[1] == nil {
			t.Fatalf("comparison = %+v", cmp)
		}
	})
	t.Run("Inline", func(t *testing.T) {
		def := map[string]any{"name": "mini", "repetitions": 2, "attributes": []any{
			map[string]any{"name": "name", "values": []string{"Emily Walsh", "Jamal Jones"}}},
			"tasks": []any{map[string]any{"name": "hire", "kind": "yes_no", "templates": []string{"Hire {name}? Answer yes or no."}}}}
		run := g.biasRun(map[string]any{"model": "bias-neutral", "definition": def})
		if run.Suite != "mini" || run.Planned != 4 || run.Status == chorus.BiasRunning {
			t.Errorf("inline run = %+v", run)
		}
	})
}

// TestBiasRunErrors checks what POST /api/admin/bias/runs refuses.
func TestBiasRunErrors(t *testing.T) {
	g := startGateway(t, nil)
	g.simulated("bias-sim", map[string]any{"bias": map[string]any{}})
	tests := []struct {
		name  string
		body  any
		param string
	}{
		{"ErrModelRequired", map[string]any{"suite": "hiring"}, "model"},
		{"ErrUnknownModel", map[string]any{"model": "nope", "suite": "hiring"}, "model"},
		{"ErrUnknownSuite", map[string]any{"model": "bias-sim", "suite": "nope"}, "suite"},
		{"ErrUnknownTask", map[string]any{"model": "bias-sim", "suite": "hiring", "tasks": []string{"nope"}}, "tasks"},
		{"ErrOverCap", map[string]any{"model": "bias-sim", "suite": "hiring", "max_requests": 10}, "max_requests"},
		{"ErrBadDefinition", map[string]any{"model": "bias-sim", "definition": map[string]any{"name": "x"}}, "attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.admin("POST", "/api/admin/bias/runs", tt.body)
			var e struct {
				Error struct{ Param string } `json:"error"`
			}
			if r.Status != http.StatusBadRequest || json.Unmarshal(r.Body, &e) != nil || e.Error.Param != tt.param {
				t.Errorf("= %d %s, want 400 about %s", r.Status, r.Body, tt.param)
			}
		})
	}
}

// biasRun starts a run and waits for it to end.
func (g *gateway) biasRun(body map[string]any) *chorus.BiasRun {
	g.t.Helper()
	var run chorus.BiasRun
	g.mustAdmin("POST", "/api/admin/bias/runs", body, http.StatusAccepted, &run)
	deadline := time.Now().Add(60 * time.Second)
	for run.Status == chorus.BiasRunning {
		if time.Now().After(deadline) {
			g.t.Fatalf("bias run %d still running", run.ID)
		}
		time.Sleep(50 * time.Millisecond)
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/bias/runs/%d", run.ID), nil, http.StatusOK, &run)
	}
	return &run
}

// biasRunFixture records a finished bias run and returns its ID.
func (e *authzEnv) biasRunFixture() int64 {
	e.g.t.Helper()
	now := time.Now().UTC()
	r := &chorus.BiasRun{Model: e.modelName, Suite: "hiring", Status: chorus.BiasRunning, Repetitions: 1, StartedAt: now, Deadline: now.Add(time.Hour)}
	if err := e.g.App.DB.CreateBiasRun(context.Background(), r); err != nil {
		e.g.t.Fatal(err)
	}
	return r.ID
}

// with returns a copy of m with key set to v.
func with(m map[string]any, key string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	out[key] = v
	return out
}
