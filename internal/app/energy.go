package app

import (
	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/energy"
	"github.com/chorusgw/chorus/internal/gateway"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// initEnergy builds the energy model (docs/energy.md) and puts it between
// the gateway and the usage writer: every usage record leaves with its
// energy and CO2e filled in, and each of its upstream calls is counted in
// the energy metrics. Chorus's own footprint is exported from its CPU time.
func (a *App) initEnergy() {
	cfg := a.Config.Energy
	a.Energy = energy.New(cfg)
	if a.Energy == nil {
		return
	}
	m := a.Metrics.RegisterEnergy(a.Energy.Targets(), cfg.WattsPerCore, a.Energy.Default().GCO2ePerKWh)
	a.Gateway.Usage = energyRecorder{next: a.Gateway.Usage, model: a.Energy, metrics: m}
}

// energyRecorder fills a usage record's energy and counts its calls before
// passing it on.
type energyRecorder struct {
	next    gateway.UsageRecorder
	model   *energy.Model
	metrics *telemetry.Energy
}

var _ gateway.UsageRecorder = energyRecorder{}

func (r energyRecorder) Record(u chorus.Usage) error {
	lines := r.model.Lines(&u)
	for i := range lines {
		l := &lines[i]
		r.metrics.Call(l.Model, l.Deployment, l.Provider, l.InputTokens, l.OutputTokens, l.Wh, l.CO2eGrams)
	}
	energy.FillFrom(&u, lines)
	return r.next.Record(u)
}
