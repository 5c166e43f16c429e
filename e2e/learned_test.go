package e2e_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/quality"
)

// The committed sample of RouteLLM's recorded GSM8K answers.
const (
	sampleDir    = "../internal/provider/replay/testdata"
	sampleCheap  = "mistralai/Mixtral-8x7B-Instruct-v0.1"
	sampleStrong = "gpt-4-1106-preview"
)

// sampleRow is one question of the sample with each model's outcome.
type sampleRow struct {
	q                 string
	cheapOK, strongOK bool
	cheap             string
}

func readSampleRows(t *testing.T) []sampleRow {
	t.Helper()
	f, err := os.Open(filepath.Join(sampleDir, "gsm8k_sample.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []sampleRow
	for _, r := range rows[1:] {
		c, _ := strconv.ParseBool(r[1])
		s, _ := strconv.ParseBool(r[2])
		out = append(out, sampleRow{q: r[0], cheapOK: c, strongOK: s, cheap: strings.TrimSpace(r[3])})
	}
	return out
}

// TestLearnedCascade runs a cascade over two replay deployments of real
// recorded answers through the HTTP API: the learned scorer learns from
// /v1/feedback, from an operator's import, is inspected, versioned and
// rolled back, and a target calibrates the cascade's threshold.
func TestLearnedCascade(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(sampleDir)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, func(c *config.Config) { c.Upstreams.ReplayDir = dir })
	rows := readSampleRows(t)
	replay := func(name, column string, in, out int64) *chorus.Model {
		m := g.createModel(modelSpec{Name: name, MaxOutput: 4096})
		g.createDeployment(deploymentSpec{ModelID: m.ID, Name: name + "-replay", Provider: chorus.ProviderReplay, UpstreamModel: column,
			Settings: map[string]any{"file": "gsm8k_sample.csv", "model": column}, InputPrice: in, OutputPrice: out})
		return m
	}
	cheap := replay(g.unique("mixtral"), sampleCheap, 600_000, 600_000)
	strong := replay(g.unique("gpt4"), sampleStrong, 10_000_000, 30_000_000)
	key := g.customer()
	ask := func(model, q string) (int, string, string) {
		r := g.do("POST", "/v1/chat/completions", key.Key, map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": q}}})
		var out struct {
			ID      string `json:"id"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		_ = json.Unmarshal(r.Body, &out)
		if r.Status != http.StatusOK {
			return r.Status, "", string(r.Body)
		}
		return r.Status, out.ID, out.Choices[0].Message.Content
	}

	t.Run("ReplayAnswers", func(t *testing.T) {
		st, _, text := ask(cheap.Name, "  "+rows[0].q+"\n")
		if st != http.StatusOK || text != rows[0].cheap {
			t.Fatalf("status %d, answer %q, want the recorded %q", st, text, rows[0].cheap)
		}
		st, _, body := ask(cheap.Name, "What is the capital of France?")
		if st < 400 || st >= 600 || !strings.Contains(body, "no recorded answer") {
			t.Fatalf("unknown question: %d %s", st, body)
		}
	})

	routeName := g.unique("gsm")
	var rt chorus.Route
	g.mustAdmin("POST", "/api/admin/routes", map[string]any{"name": routeName, "strategy": "cascade",
		"targets": []map[string]any{{"model": cheap.Name}, {"model": strong.Name}},
		"config":  map[string]any{"scorers": []map[string]any{{"type": "learned"}}, "explore": 1}}, http.StatusCreated, &rt)
	scope := routeName + ":learned"

	t.Run("FeedbackTeaches", func(t *testing.T) {
		for _, r := range rows[:40] {
			st, id, text := ask(routeName, r.q)
			if st != http.StatusOK {
				t.Fatalf("cascade: %d %s", st, text)
			}
			good := r.cheapOK
			if text != r.cheap {
				good = r.strongOK
			}
			rating := map[bool]string{true: "up", false: "down"}[good]
			if fb := g.do("POST", "/v1/feedback", key.Key, map[string]any{"response_id": id, "rating": rating}); fb.Status != http.StatusCreated {
				t.Fatalf("feedback: %d %s", fb.Status, fb.Body)
			}
		}
		var rep struct {
			quality.LearnedReport
			Versions []chorus.LearnedModel `json:"versions"`
		}
		g.mustAdmin("GET", "/api/admin/quality/learned/scorer?scope="+scope, nil, http.StatusOK, &rep)
		if rep.Examples != 40 || rep.Sources[chorus.LearnedFromExplore] != 40 || len(rep.Models) != 2 {
			t.Fatalf("after 40 rated answers: %+v", rep.LearnedReport)
		}
	})

	t.Run("Import", func(t *testing.T) {
		var csvBody strings.Builder
		w := csv.NewWriter(&csvBody)
		_ = w.Write([]string{"question", "answer", "model", "good"})
		for _, r := range rows[40:] {
			_ = w.Write([]string{r.q, r.cheap, cheap.Name, strconv.FormatBool(r.cheapOK)})
		}
		w.Flush()
		r := g.do("POST", "/api/admin/quality/learned/examples?scope="+scope, g.MasterKey, csvBody.String(), "Content-Type", "text/csv")
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), fmt.Sprintf(`"imported":%d`, len(rows)-40)) {
			t.Fatalf("CSV import: %d %s", r.Status, r.Body)
		}
		jsonl := `{"question": "2+2?", "answer": "4", "model": "` + strong.Name + `", "good": true}` + "\n"
		if r := g.do("POST", "/api/admin/quality/learned/examples?scope="+scope, g.MasterKey, jsonl, "Content-Type", "application/x-ndjson"); r.Status != http.StatusOK {
			t.Fatalf("JSONL import: %d %s", r.Status, r.Body)
		}
		var rep quality.LearnedReport
		g.mustAdmin("GET", "/api/admin/quality/learned/scorer?scope="+scope, nil, http.StatusOK, &rep)
		if rep.Examples != int64(len(rows))+1 || rep.Accuracy == nil || rep.AUC == nil || rep.Version < 2 {
			t.Fatalf("after import: %+v", rep)
		}
	})

	t.Run("ErrImport", func(t *testing.T) {
		for name, tc := range map[string]struct {
			path, ctype, body, param string
		}{
			"NoScope":    {"", "application/json", `{"examples": [{"question": "q", "model": "m", "good": true}]}`, "scope"},
			"NoLabel":    {"?scope=" + scope, "application/json", `{"examples": [{"question": "q", "model": "m"}]}`, "examples[0].good"},
			"BadScore":   {"?scope=" + scope, "application/json", `{"examples": [{"question": "q", "model": "m", "score": 2}]}`, "examples[0].score"},
			"NoQuestion": {"?scope=" + scope, "application/json", `{"examples": [{"model": "m", "good": true}]}`, "examples[0].question"},
			"Empty":      {"?scope=" + scope, "application/json", `{"examples": []}`, "examples"},
			"BadCSV":     {"?scope=" + scope, "text/csv", "question,good\nq,maybe\n", "examples"},
			"BadType":    {"?scope=" + scope, "text/plain", "x", "Content-Type"},
			"BadInput":   {"?scope=" + scope + "&input=answers", "application/json", `{"examples": []}`, "input"},
		} {
			t.Run(name, func(t *testing.T) {
				r := g.do("POST", "/api/admin/quality/learned/examples"+tc.path, g.MasterKey, tc.body, "Content-Type", tc.ctype)
				wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", tc.param)
			})
		}
		r := g.admin("GET", "/api/admin/quality/learned/scorer?scope=nobody:learned", nil)
		wantAPIError(t, r, http.StatusNotFound, "invalid_request_error", "scope")
	})

	t.Run("VersionsAndRollback", func(t *testing.T) {
		var saved chorus.LearnedModel
		g.mustAdmin("POST", "/api/admin/quality/learned/versions?scope="+scope, map[string]any{"note": "before junk"}, http.StatusCreated, &saved)
		var before quality.LearnedReport
		g.mustAdmin("GET", "/api/admin/quality/learned/scorer?scope="+scope, nil, http.StatusOK, &before)
		junk := `{"examples": [` + strings.Repeat(`{"question": "junk", "answer": "x", "model": "m", "good": false},`, 30) + `{"question": "junk", "model": "m", "good": false}]}`
		g.mustAdmin("POST", "/api/admin/quality/learned/examples?scope="+scope, json.RawMessage(junk), http.StatusOK, nil)
		var out struct {
			Version chorus.LearnedModel   `json:"version"`
			Report  quality.LearnedReport `json:"report"`
		}
		g.mustAdmin("POST", "/api/admin/quality/learned/rollback?scope="+scope, map[string]any{"version": saved.Version}, http.StatusOK, &out)
		if out.Report.Examples != before.Examples || out.Version.Version <= saved.Version || *out.Report.AUC != *before.AUC {
			t.Fatalf("rollback: %+v, before %+v", out.Report, before)
		}
		wantAPIError(t, g.admin("POST", "/api/admin/quality/learned/rollback?scope="+scope, map[string]any{"version": 999}), http.StatusNotFound, "invalid_request_error", "version")
		wantAPIError(t, g.admin("POST", "/api/admin/quality/learned/rollback?scope="+scope, map[string]any{"version": 0}), http.StatusBadRequest, "invalid_request_error", "version")
		var list struct {
			Data []quality.LearnedReport `json:"data"`
		}
		g.mustAdmin("GET", "/api/admin/quality/learned", nil, http.StatusOK, &list)
		found := false
		for _, r := range list.Data {
			found = found || r.Scope == scope
		}
		if !found {
			t.Fatalf("%s not listed: %+v", scope, list.Data)
		}
	})

	t.Run("Target", func(t *testing.T) {
		body := map[string]any{"name": routeName, "strategy": "cascade", "targets": []map[string]any{{"model": cheap.Name}, {"model": strong.Name}},
			"config": map[string]any{"scorers": []map[string]any{{"type": "learned"}}, "target": map[string]any{"min_quality_ratio": 0.9}}}
		g.mustAdmin("PUT", fmt.Sprintf("/api/admin/routes/%d", rt.ID), body, http.StatusOK, nil)
		var c struct {
			Calibration quality.Calibration `json:"calibration"`
		}
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/routes/%d/calibration", rt.ID), nil, http.StatusOK, &c)
		if !c.Calibration.Calibrated || c.Calibration.ExpectedQualityRatio < 0.9 || c.Calibration.Examples < 20 {
			t.Fatalf("calibration %+v", c.Calibration)
		}
		if st, _, text := ask(routeName, rows[3].q); st != http.StatusOK || text == "" {
			t.Fatalf("cascade with a target: %d %q", st, text)
		}
	})

	t.Run("ErrTarget", func(t *testing.T) {
		targets := []map[string]any{{"model": cheap.Name}, {"model": strong.Name}}
		for name, tc := range map[string]struct {
			strategy string
			config   map[string]any
			param    string
		}{
			"Both":      {"cascade", map[string]any{"scorers": []map[string]any{{"type": "learned"}}, "target": map[string]any{"min_quality_ratio": 0.9, "max_cost_ratio": 0.5}}, "config.target"},
			"Neither":   {"cascade", map[string]any{"scorers": []map[string]any{{"type": "learned"}}, "target": map[string]any{}}, "config.target"},
			"Range":     {"cascade", map[string]any{"scorers": []map[string]any{{"type": "learned"}}, "target": map[string]any{"max_cost_ratio": 1.5}}, "config.target.max_cost_ratio"},
			"NoLearned": {"cascade", map[string]any{"scorers": []map[string]any{{"type": "refusal"}}, "target": map[string]any{"min_quality_ratio": 0.9}}, "config.target"},
			"Fallback":  {"fallback", map[string]any{"target": map[string]any{"min_quality_ratio": 0.9}}, "config.target"},
			"Explore":   {"cascade", map[string]any{"scorers": []map[string]any{{"type": "learned"}}, "explore": 2}, "config.explore"},
			"Input":     {"cascade", map[string]any{"scorers": []map[string]any{{"type": "learned", "input": "words"}}}, "config.scorers[0].input"},
		} {
			t.Run(name, func(t *testing.T) {
				r := g.admin("POST", "/api/admin/routes", map[string]any{"name": g.unique("bad"), "strategy": tc.strategy, "targets": targets, "config": tc.config})
				wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", tc.param)
			})
		}
		var plain chorus.Route
		g.mustAdmin("POST", "/api/admin/routes", map[string]any{"name": g.unique("plain"), "strategy": "fallback", "targets": targets}, http.StatusCreated, &plain)
		wantAPIError(t, g.admin("GET", fmt.Sprintf("/api/admin/routes/%d/calibration", plain.ID), nil), http.StatusBadRequest, "invalid_request_error", "config.target")
	})

	t.Run("ErrReplayOutsideDir", func(t *testing.T) {
		m := g.createModel(modelSpec{Name: g.unique("escape"), MaxOutput: 100})
		r := g.admin("POST", "/api/admin/deployments", deploymentSpec{ModelID: m.ID, Name: g.unique("escape-dep"), Provider: chorus.ProviderReplay,
			UpstreamModel: "x", Settings: map[string]any{"file": "../../../go.mod.csv", "model": "x"}})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "outside the replay directory") {
			t.Fatalf("deployment outside the replay directory: %d %s", r.Status, r.Body)
		}
	})
}
