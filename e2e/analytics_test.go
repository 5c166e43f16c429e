package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// costAlertFixture creates a cost alert and returns its ID.
func (g *gateway) costAlertFixture() int64 {
	g.t.Helper()
	var a chorus.CostAlert
	g.mustAdmin("POST", "/api/admin/cost-alerts", map[string]any{"name": g.unique("alert"), "scope": "global",
		"metric": "cost", "period": "day", "threshold": 1e15}, http.StatusCreated, &a)
	return a.ID
}

// summaryPage is a usage report's answer.
type summaryPage struct {
	Data    []chorus.UsageRow `json:"data"`
	HasMore bool              `json:"has_more"`
	Next    *int64            `json:"next_after"`
}

// waitRollups polls the usage report at path until its rows count n
// requests in all (the writer flushes, then the rollup worker rolls).
func (g *gateway) waitRollups(path string, n int64) []chorus.UsageRow {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var p summaryPage
		g.mustAdmin("GET", path, nil, http.StatusOK, &p)
		var got int64
		for _, r := range p.Data {
			got += r.Requests
		}
		if got == n {
			return p.Data
		}
		if got > n || time.Now().After(deadline) {
			g.t.Fatalf("%s counts %d requests, want %d: %+v", path, got, n, p.Data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAnalytics(t *testing.T) {
	g := startGateway(t, func(c *config.Config) {
		c.Usage.RollupInterval = 50 * time.Millisecond
		c.Usage.AlertInterval = 50 * time.Millisecond
	})
	rt := g.simulated("analytics-sim", map[string]any{"latency_ms": 5})
	key := g.customer()
	chat := map[string]any{"model": rt.Model.Name, "messages": []map[string]string{{"role": "user", "content": "hello"}}}
	for range 5 {
		if r := g.do("POST", "/v1/chat/completions", key.Key, chat); r.Status != http.StatusOK {
			t.Fatalf("chat = %d %s", r.Status, r.Body)
		}
	}
	// Refused before a model was resolved: each leaves a record.
	if r := g.do("POST", "/v1/chat/completions", key.Key, []byte(`{"model":`)); r.Status != http.StatusBadRequest {
		t.Fatalf("bad JSON = %d", r.Status)
	}
	if r := g.do("POST", "/v1/chat/completions", key.Key, map[string]any{"model": "no-such-model", "messages": chat["messages"]}); r.Status != http.StatusNotFound {
		t.Fatalf("unknown model = %d", r.Status)
	}
	if r := g.do("POST", "/v1/chat/completions", "sk-not-a-key-0123456789abcdef", chat); r.Status != http.StatusUnauthorized {
		t.Fatalf("bad key = %d", r.Status)
	}

	t.Run("Summary", func(t *testing.T) {
		rows := g.waitRollups("/api/admin/usage/summary?group_by=key,model,status&percentiles=true", 8)
		byStatus := map[string]chorus.UsageRow{}
		for _, r := range rows {
			byStatus[fmt.Sprintf("%d/%d/%s", *r.KeyID, *r.Status, *r.Model)] = r
		}
		ok := byStatus[fmt.Sprintf("%d/200/%s", key.ID, rt.Model.Name)]
		if ok.Requests != 5 || ok.InputTokens == 0 || ok.Cost == 0 || ok.ProviderCost != ok.Cost || ok.LatencyMSP50 == nil || *ok.LatencyMSP50 <= 0 {
			t.Errorf("the model's row = %+v, want 5 priced requests with latency percentiles", ok)
		}
		for _, k := range []string{fmt.Sprintf("%d/400/", key.ID), fmt.Sprintf("%d/404/", key.ID), "0/401/"} {
			if r := byStatus[k]; r.Requests != 1 || r.Errors != 1 {
				t.Errorf("refused requests %s: %+v, want one error record with model \"\"", k, r)
			}
		}
	})
	t.Run("OwnTeamOnly", func(t *testing.T) {
		var p summaryPage
		r := g.do("GET", "/api/usage/summary?group_by=team", key.Key, nil)
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &p) != nil {
			t.Fatalf("own summary = %d %s", r.Status, r.Body)
		}
		if len(p.Data) != 1 || *p.Data[0].TeamID != key.TeamID || p.Data[0].Requests != 7 {
			t.Fatalf("own summary = %+v, want the team's 7 requests only", p.Data)
		}
		r = g.do("GET", fmt.Sprintf("/api/usage/summary?team_id=%d", key.TeamID+1000), key.Key, nil)
		if err := json.Unmarshal(r.Body, &p); err != nil || r.Status != http.StatusOK || len(p.Data) != 1 || p.Data[0].Requests != 7 {
			t.Fatalf("team_id is ignored for a customer: %d %s", r.Status, r.Body)
		}
	})
	t.Run("Costs", func(t *testing.T) {
		var p struct {
			Data []struct {
				Model        string `json:"model"`
				ProviderCost int64  `json:"provider_cost"`
				Revenue      int64  `json:"revenue"`
				Margin       int64  `json:"margin"`
			} `json:"data"`
		}
		g.mustAdmin("GET", "/api/admin/costs?interval=none&model="+rt.Model.Name, nil, http.StatusOK, &p)
		if len(p.Data) != 1 || p.Data[0].ProviderCost == 0 || p.Data[0].Revenue != 0 || p.Data[0].Margin != -p.Data[0].ProviderCost {
			t.Fatalf("costs = %+v, want the provider cost with no revenue (billing off)", p.Data)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		wantAPIError(t, g.admin("GET", "/api/admin/usage/summary?group_by=colour", nil), 400, "invalid_request_error", "group_by")
		wantAPIError(t, g.admin("GET", "/api/admin/usage/summary?since=2026-01-01T10:30:00Z", nil), 400, "invalid_request_error", "since")
		wantAPIError(t, g.admin("GET", "/api/admin/usage/export?format=xml", nil), 400, "invalid_request_error", "format")
		wantAPIError(t, g.admin("POST", "/api/admin/cost-alerts", map[string]any{"name": "x", "scope": "team", "metric": "cost", "period": "day"}),
			400, "invalid_request_error", "team_id")
	})
	t.Run("Export", func(t *testing.T) {
		r := g.admin("GET", "/api/admin/usage/export?format=csv", nil)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv export = %d %s", r.Status, r.Header)
		}
		recs, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil || len(recs) != 9 || recs[0][0] != "id" {
			t.Fatalf("csv = %d rows, %v; want a header and 8 records", len(recs), err)
		}
		r = g.do("GET", "/api/usage/export?format=jsonl&status=200", key.Key, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("jsonl export = %d %s", r.Status, r.Body)
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(r.Body))
		for sc.Scan() {
			var u chorus.Usage
			if err := json.Unmarshal(sc.Bytes(), &u); err != nil || u.TeamID != key.TeamID || u.Status != 200 {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			n++
		}
		if n != 5 {
			t.Fatalf("jsonl export has %d records, want the team's 5 answered ones", n)
		}
	})
	t.Run("CostAlertFiresOnce", func(t *testing.T) {
		var a struct {
			chorus.CostAlert
			Secret string `json:"webhook_secret"`
		}
		g.mustAdmin("POST", "/api/admin/cost-alerts", map[string]any{"name": "any spend", "scope": "model", "model": rt.Model.Name,
			"metric": "cost", "period": "month", "threshold": 0}, http.StatusCreated, &a)
		deadline := time.Now().Add(5 * time.Second)
		var fs struct {
			Data []chorus.CostAlertFiring `json:"data"`
		}
		for len(fs.Data) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			g.mustAdmin("GET", fmt.Sprintf("/api/admin/cost-alert-firings?alert_id=%d", a.ID), nil, http.StatusOK, &fs)
		}
		if len(fs.Data) != 1 || fs.Data[0].Value <= 0 || fs.Data[0].Name != "any spend" {
			t.Fatalf("firings = %+v, want one", fs.Data)
		}
		time.Sleep(300 * time.Millisecond) // several evaluations more
		g.mustAdmin("GET", fmt.Sprintf("/api/admin/cost-alert-firings?alert_id=%d", a.ID), nil, http.StatusOK, &fs)
		if len(fs.Data) != 1 {
			t.Fatalf("%d firings after more evaluations, want 1", len(fs.Data))
		}
		m := g.do("GET", "/metrics", "", nil)
		for _, want := range []string{`chorus_cost_alerts_fired_total{metric="cost",period="month",scope="model"} 1`,
			`chorus_cost_alert_threshold{alert="any spend",metric="cost",period="month",scope="model"} 0`, "chorus_rollup_lag_seconds 0"} {
			if !strings.Contains(string(m.Body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		g.mustAdmin("DELETE", fmt.Sprintf("/api/admin/cost-alerts/%d", a.ID), nil, http.StatusNoContent, nil)
		wantAPIError(t, g.admin("GET", fmt.Sprintf("/api/admin/cost-alerts/%d", a.ID), nil), 404, "invalid_request_error", "")
	})
}
