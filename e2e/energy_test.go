package e2e_test

import (
	"bufio"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/config"
)

// TestEnergyMetrics: an answered request's upstream call is estimated
// with the deployment's configured coefficients and grid, counted in the
// energy metrics by model, deployment and provider, and the efficiency
// target and Chorus's own footprint are exported.
func TestEnergyMetrics(t *testing.T) {
	in, out, grid := 0.5, 2.0, 100.0
	g := startGateway(t, func(c *config.Config) {
		c.Energy.Deployments = []config.EnergyDeployment{{Match: "green-*",
			EnergyCoefficients: config.EnergyCoefficients{InputWhPer1K: &in, OutputWhPer1K: &out}, GridGCO2ePerKWh: &grid}}
		c.Energy.Targets = []config.EnergyTarget{{Model: "green", WhPer1KTokens: 1.5}}
		c.Energy.WattsPerCore = 12
	})
	r := g.simulated("green", map[string]any{"output_tokens": 40, "tokens_per_second": 5000})
	c := g.customer()
	resp := g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "green",
		"messages": []map[string]string{{"role": "user", "content": "how green is this?"}}})
	if resp.Status != http.StatusOK {
		t.Fatalf("chat: %d %s", resp.Status, resp.Body)
	}
	recs := g.waitUsage(c.ID, 1)
	inTok, outTok := recs[0].InputTokens, recs[0].OutputTokens
	if inTok <= 0 || outTok != 40 {
		t.Fatalf("usage tokens %d in, %d out", inTok, outTok)
	}
	wantWh := float64(inTok)/1000*in + float64(outTok)/1000*out
	m := scrape(t, g)
	labels := `{deployment="` + r.Deployment.Name + `",model="green",provider="simulator"}`
	for name, want := range map[string]float64{
		"chorus_energy_wh_total" + labels:  wantWh,
		"chorus_co2e_grams_total" + labels: wantWh / 1000 * grid,
		`chorus_energy_tokens_total{deployment="` + r.Deployment.Name + `",direction="output",model="green",provider="simulator"}`: 40,
		`chorus_energy_target_wh_per_1k_tokens{model="green"}`:                                                                     1.5,
		"chorus_process_watts_per_core": 12,
	} {
		got, ok := m[name]
		if !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if m["chorus_process_energy_wh_total"] <= 0 || m["chorus_process_wh_per_1k_requests"] <= 0 {
		t.Errorf("own footprint: %v Wh, %v Wh per 1,000 requests; want both above 0",
			m["chorus_process_energy_wh_total"], m["chorus_process_wh_per_1k_requests"])
	}
}

// TestEnergyDisabled: with energy.enabled false no energy metric exists.
func TestEnergyDisabled(t *testing.T) {
	g := startGateway(t, func(c *config.Config) { c.Energy.Enabled = false })
	g.simulated("plain", map[string]any{"output_tokens": 5})
	c := g.customer()
	if resp := g.do("POST", "/v1/chat/completions", c.Key, map[string]any{"model": "plain",
		"messages": []map[string]string{{"role": "user", "content": "hi"}}}); resp.Status != http.StatusOK {
		t.Fatalf("chat: %d", resp.Status)
	}
	g.waitUsage(c.ID, 1)
	for name := range scrape(t, g) {
		if strings.HasPrefix(name, "chorus_energy_") || strings.HasPrefix(name, "chorus_process_energy") {
			t.Errorf("energy disabled, yet /metrics has %s", name)
		}
	}
}

// scrape reads /metrics into series (name{labels} as exposed) → value.
func scrape(t *testing.T, g *gateway) map[string]float64 {
	t.Helper()
	r := g.do("GET", "/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
