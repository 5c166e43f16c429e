package telemetry

import (
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// Energy exports the energy and carbon estimates (internal/energy,
// docs/energy.md): per upstream call by model, deployment and provider,
// the efficiency targets, and Chorus's own footprint.
type Energy struct {
	wh     *prometheus.CounterVec
	co2e   *prometheus.CounterVec
	tokens *prometheus.CounterVec
	target *prometheus.GaugeVec
}

// RegisterEnergy registers the energy collectors: targets are Wh per 1,000
// tokens by model; wattsPerCore and gPerKWh price the process's CPU time
// (its own footprint).
func (m *Metrics) RegisterEnergy(targets map[string]float64, wattsPerCore, gPerKWh float64) *Energy {
	e := &Energy{
		wh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_energy_wh_total", Help: "Estimated energy of upstream calls, watt-hours, by model, deployment and provider (docs/energy.md).",
		}, []string{"model", "deployment", "provider"}),
		co2e: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_co2e_grams_total", Help: "Estimated emissions of that energy on the deployment's grid, grams CO2e, by model, deployment and provider.",
		}, []string{"model", "deployment", "provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_energy_tokens_total", Help: "Tokens of the upstream calls the energy estimate was computed from, by model, deployment, provider and direction (input, output).",
		}, []string{"model", "deployment", "provider", "direction"}),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chorus_energy_target_wh_per_1k_tokens", Help: "Configured efficiency target (energy.targets): watt-hours per 1,000 tokens, by model.",
		}, []string{"model"}),
	}
	for model, v := range targets {
		e.target.WithLabelValues(model).Set(v)
	}
	m.reg.MustRegister(e.wh, e.co2e, e.tokens, e.target,
		&processEnergy{requests: &m.served, wattsPerCore: wattsPerCore, gPerKWh: gPerKWh, cpu: processCPUSeconds})
	return e
}

// Call records one upstream call's estimate.
func (e *Energy) Call(model, deployment, provider string, in, out int64, wh, co2e float64) {
	e.wh.WithLabelValues(model, deployment, provider).Add(wh)
	e.co2e.WithLabelValues(model, deployment, provider).Add(co2e)
	if in > 0 {
		e.tokens.WithLabelValues(model, deployment, provider, "input").Add(float64(in))
	}
	if out > 0 {
		e.tokens.WithLabelValues(model, deployment, provider, "output").Add(float64(out))
	}
}

var (
	descProcessWh      = prometheus.NewDesc("chorus_process_energy_wh_total", "Chorus's own estimated energy: the process's CPU time × energy.watts_per_core, watt-hours.", nil, nil)
	descProcessCO2e    = prometheus.NewDesc("chorus_process_co2e_grams_total", "Chorus's own estimated emissions: its energy on the default grid (energy.region), grams CO2e.", nil, nil)
	descProcessPer1K   = prometheus.NewDesc("chorus_process_wh_per_1k_requests", "Chorus's own energy per 1,000 API requests since the process started, watt-hours (0 before the first request).", nil, nil)
	descProcessWattsPC = prometheus.NewDesc("chorus_process_watts_per_core", "The configured watts one busy core draws (energy.watts_per_core).", nil, nil)
)

// processEnergy turns the process's CPU time into energy at each scrape.
type processEnergy struct {
	requests              *atomic.Int64
	wattsPerCore, gPerKWh float64
	cpu                   func() (float64, error)
}

func (c *processEnergy) Describe(ch chan<- *prometheus.Desc) {
	ch <- descProcessWh
	ch <- descProcessCO2e
	ch <- descProcessPer1K
	ch <- descProcessWattsPC
}

func (c *processEnergy) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descProcessWattsPC, prometheus.GaugeValue, c.wattsPerCore)
	secs, err := c.cpu()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descProcessWh, err)
		return
	}
	wh := secs * c.wattsPerCore / 3600
	ch <- prometheus.MustNewConstMetric(descProcessWh, prometheus.CounterValue, wh)
	ch <- prometheus.MustNewConstMetric(descProcessCO2e, prometheus.CounterValue, wh/1000*c.gPerKWh)
	per1k := 0.0
	if n := c.requests.Load(); n > 0 {
		per1k = wh / float64(n) * 1000
	}
	ch <- prometheus.MustNewConstMetric(descProcessPer1K, prometheus.GaugeValue, per1k)
}

// processCPUSeconds is the process's user + system CPU time so far.
func processCPUSeconds() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return tv(ru.Utime) + tv(ru.Stime), nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
