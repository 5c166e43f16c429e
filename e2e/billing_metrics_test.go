package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/config"
)

// TestBillingMetrics: the meter's counters reach /metrics — a refused and
// an admitted reservation, a settlement, and the micro-credits charged.
func TestBillingMetrics(t *testing.T) {
	g := billedGateway(t, config.BillingStrict)
	g.simulated("sim", map[string]any{"output_tokens": 20, "tokens_per_second": 5000})
	c := g.customer()
	chat := func() int {
		return g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "sim",
			"messages": []map[string]string{{"role": "user", "content": "hi"}}}).Status
	}
	if status := chat(); status != http.StatusPaymentRequired {
		t.Fatalf("without credits: %d, want 402", status)
	}
	g.fund(c.TeamID, 1_000_000)
	if status := chat(); status != http.StatusOK {
		t.Fatalf("with credits: %d, want 200", status)
	}
	paid := g.charged(c.TeamID)
	if paid <= 0 {
		t.Fatalf("charged %d after an answered request", paid)
	}
	r := g.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`chorus_billing_reservations_total{result="refused"} 1`,
		`chorus_billing_reservations_total{result="admitted"} 1`,
		`chorus_billing_settlements_total 1`,
		fmt.Sprintf(`chorus_billing_charged_microcredits_total %d`, paid),
	} {
		if !strings.Contains(string(r.Body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Strict mode's group commit: the answered request's hold and its
	// settlement went through it (the refusal may too), in at most as many
	// transactions as steps.
	var commits, steps int
	for _, line := range strings.Split(string(r.Body), "\n") {
		fmt.Sscanf(line, "chorus_billing_group_commits_total %d", &commits)
		fmt.Sscanf(line, "chorus_billing_group_steps_total %d", &steps)
	}
	if commits < 1 || steps < 2 || steps < commits {
		t.Errorf("group commit metrics: %d commits, %d steps; want ≥ 1 commit and ≥ 2 steps (a hold and a settlement)", commits, steps)
	}
}
