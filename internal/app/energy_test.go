package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/energy"
	"github.com/chorusgw/chorus/internal/telemetry"
)

type recorderFunc func(chorus.Usage) error

func (f recorderFunc) Record(u chorus.Usage) error { return f(u) }

// TestEnergyRecorder: the record reaches the writer with its energy filled
// in, each upstream call is counted in the metrics, and the writer's error
// comes back.
func TestEnergyRecorder(t *testing.T) {
	cfg := config.DefaultEnergy()
	cfg.GridGCO2ePerKWh = 500
	model := energy.New(cfg)
	m := telemetry.New()
	var got chorus.Usage
	fail := errors.New("queue closed")
	r := energyRecorder{next: recorderFunc(func(u chorus.Usage) error { got = u; return fail }), model: model,
		metrics: m.RegisterEnergy(nil, 10, 500)}
	u := chorus.Usage{Model: "m", Attempts: []chorus.UsageAttempt{
		{Model: "m", Deployment: "d1", Provider: "openai", Outcome: "canceled", InputTokens: 1000, OutputTokens: 100},
		{Model: "m", Deployment: "d2", Provider: "openai", Outcome: "ok", InputTokens: 1000, OutputTokens: 1000},
	}}
	if err := r.Record(u); !errors.Is(err, fail) {
		t.Errorf("Record = %v, want the writer's error", err)
	}
	want := (0.2 + 0.06) + (0.2 + 0.6)
	if d := got.EnergyWh - want; d > 1e-9 || d < -1e-9 {
		t.Errorf("EnergyWh = %v, want %v", got.EnergyWh, want)
	}
	if d := got.CO2eGrams - want/2; d > 1e-9 || d < -1e-9 {
		t.Errorf("CO2eGrams = %v, want %v", got.CO2eGrams, want/2)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() == "chorus_energy_wh_total" {
			for _, s := range mf.GetMetric() {
				series++
				for _, l := range s.GetLabel() {
					if l.GetName() == "deployment" && !strings.HasPrefix(l.GetValue(), "d") {
						t.Errorf("deployment label %q", l.GetValue())
					}
				}
			}
		}
	}
	if series != 2 {
		t.Errorf("chorus_energy_wh_total has %d series, want one per deployment called (2)", series)
	}
}
