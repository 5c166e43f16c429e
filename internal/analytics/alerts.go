package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/chorusgw/chorus"
)

// AlertStore is what cost alerts need from the database.
type AlertStore interface {
	ListCostAlerts(ctx context.Context, p chorus.Page) ([]*chorus.CostAlert, error)
	CostAlertValue(ctx context.Context, a *chorus.CostAlert, start, end time.Time) (float64, error)
	FireCostAlert(ctx context.Context, a *chorus.CostAlert, periodStart time.Time, value float64) (*chorus.CostAlertFiring, error)
}

// Alerts evaluates the cost alerts against the daily rollups. Every
// instance may evaluate: the store fires each alert once per period (a
// unique alert and period row), whoever sees the threshold crossed first.
type Alerts struct {
	db      AlertStore
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
	fired   func(*chorus.CostAlertFiring)
}

// Evaluate checks every enabled alert for the current period and the one
// before (whose last records may have reached the rollups after it
// ended), fires those above their threshold, and returns the new firings.
func (a *Alerts) Evaluate(ctx context.Context) []*chorus.CostAlertFiring {
	var out []*chorus.CostAlertFiring
	now := a.now()
	a.metrics.resetAlerts() // a deleted or disabled alert's gauges go
	for p := (chorus.Page{Limit: chorus.MaxPageSize}); ; {
		alerts, err := a.db.ListCostAlerts(ctx, p)
		if err != nil {
			a.log.Error("cost alerts: list failed", "err", err)
			return out
		}
		for _, al := range alerts {
			if al.Enabled {
				out = append(out, a.check(ctx, al, now)...)
			}
		}
		if len(alerts) < p.Limit {
			return out
		}
		p.After = alerts[len(alerts)-1].ID
	}
}

// check evaluates one alert over the current and the previous period.
func (a *Alerts) check(ctx context.Context, al *chorus.CostAlert, now time.Time) []*chorus.CostAlertFiring {
	var out []*chorus.CostAlertFiring
	cur := chorus.PeriodStart(al.Period, now)
	prev := chorus.PeriodStart(al.Period, cur.Add(-time.Second))
	for _, start := range []time.Time{prev, cur} {
		v, err := a.db.CostAlertValue(ctx, al, start, chorus.PeriodEnd(al.Period, start))
		if err != nil {
			a.log.Error("cost alerts: value failed", "alert", al.ID, "err", err)
			continue
		}
		if start.Equal(cur) {
			a.metrics.setAlert(al, v)
		}
		if v <= al.Threshold {
			continue
		}
		f, err := a.db.FireCostAlert(ctx, al, start, v)
		if err != nil {
			a.log.Error("cost alerts: firing failed", "alert", al.ID, "err", err)
			continue
		}
		if f == nil {
			continue // fired before, here or on another instance
		}
		a.metrics.fired(al)
		a.log.Warn("cost alert fired", "alert", al.ID, "name", al.Name, "scope", al.Scope, "metric", al.Metric,
			"period", al.Period, "period_start", start, "value", v, "threshold", al.Threshold)
		if a.fired != nil {
			a.fired(f)
		}
		out = append(out, f)
	}
	return out
}
