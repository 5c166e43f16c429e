package app

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// registerInstance exports the instance's identity as a constant metric,
// chorus_instance_info{instance_id="…"} 1 (join on it rather than carry the
// label on every series), and whether it is draining.
func (a *App) registerInstance() {
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "chorus_instance_info",
		Help:        "This instance's identity (instance.id); always 1.",
		ConstLabels: prometheus.Labels{"instance_id": a.Config.Instance.ID},
	})
	info.Set(1)
	draining := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chorus_draining",
		Help: "1 once the instance is shutting down (readiness fails, connections close after their response), else 0.",
	}, func() float64 {
		select {
		case <-a.Manage.Draining():
			return 1
		default:
			return 0
		}
	})
	a.Metrics.Registry().MustRegister(info, draining)
}

// stopServing runs the drain sequence of docs/deployment-ha.md: readiness
// fails and every response asks for its connection to be closed; the
// listener stays open for timeouts.pre_drain, while load balancers notice
// and stop sending; then it closes, and in-flight requests and streams get
// timeouts.drain to finish before their connections are cut.
func (a *App) stopServing() {
	a.Manage.Drain()
	if d := a.Config.Timeouts.PreDrain; d > 0 {
		a.Log.Info("draining: not ready, still accepting while load balancers notice", "pre_drain", d)
		time.Sleep(d)
	}
	drain := a.Config.Timeouts.Drain
	a.Log.Info("draining: stopped accepting; in-flight requests finish", "timeout", drain)
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := a.http.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		a.Log.Warn("drain timeout passed; closing remaining connections")
		_ = a.http.Close()
	}
}
