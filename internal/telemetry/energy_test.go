package telemetry

import (
	"errors"
	"io"
	"math"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestEnergy(t *testing.T) {
	m := New()
	e := m.RegisterEnergy(map[string]float64{"gpt-4o": 0.8}, 20, 500)
	e.Call("gpt-4o", "eu-1", "openai", 1000, 500, 0.5, 0.028)
	e.Call("gpt-4o", "eu-1", "openai", 0, 0, 0, 0)
	if got := value(e.wh.WithLabelValues("gpt-4o", "eu-1", "openai")); got != 0.5 {
		t.Errorf("chorus_energy_wh_total = %v", got)
	}
	if got := value(e.co2e.WithLabelValues("gpt-4o", "eu-1", "openai")); got != 0.028 {
		t.Errorf("chorus_co2e_grams_total = %v", got)
	}
	if got := value(e.tokens.WithLabelValues("gpt-4o", "eu-1", "openai", "output")); got != 500 {
		t.Errorf("chorus_energy_tokens_total{output} = %v", got)
	}
	if got := value(e.target.WithLabelValues("gpt-4o")); got != 0.8 {
		t.Errorf("chorus_energy_target_wh_per_1k_tokens = %v", got)
	}
	m.Observe(&Request{Endpoint: "chat", Status: 200})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, name := range []string{"chorus_process_energy_wh_total", "chorus_process_co2e_grams_total", "chorus_process_wh_per_1k_requests", "chorus_process_watts_per_core 20"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestProcessEnergy(t *testing.T) {
	var served atomic.Int64
	c := &processEnergy{requests: &served, wattsPerCore: 36, gPerKWh: 400, cpu: func() (float64, error) { return 100, nil }}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	// 100 CPU-seconds at 36 W = 1 Wh; 0.4 g at 400 g/kWh; no request yet.
	want := map[string]float64{"chorus_process_energy_wh_total": 1, "chorus_process_co2e_grams_total": 0.4, "chorus_process_wh_per_1k_requests": 0, "chorus_process_watts_per_core": 36}
	check := func() {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			var v float64
			if g := mf.GetMetric()[0].GetGauge(); g != nil {
				v = g.GetValue()
			} else {
				v = mf.GetMetric()[0].GetCounter().GetValue()
			}
			if math.Abs(v-want[mf.GetName()]) > 1e-9 {
				t.Errorf("%s = %v, want %v", mf.GetName(), v, want[mf.GetName()])
			}
		}
	}
	check()
	served.Add(500) // 1 Wh over 500 requests = 2 Wh per 1,000
	want["chorus_process_wh_per_1k_requests"] = 2
	check()

	c.cpu = func() (float64, error) { return 0, errors.New("no rusage") }
	if _, err := reg.Gather(); err == nil {
		t.Error("a failing CPU reading was not reported")
	}
}

func TestProcessCPUSeconds(t *testing.T) {
	a, err := processCPUSeconds()
	if err != nil || a < 0 {
		t.Fatalf("processCPUSeconds = %v, %v", a, err)
	}
	x := 0
	for i := 0; i < 20_000_000; i++ {
		x += i % 7
	}
	b, _ := processCPUSeconds()
	if b <= a && x >= 0 {
		t.Errorf("CPU time did not advance over a busy loop: %v → %v", a, b)
	}
}

// value reads one counter's or gauge's value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return math.NaN()
	}
	if d.Gauge != nil {
		return d.GetGauge().GetValue()
	}
	return d.GetCounter().GetValue()
}
