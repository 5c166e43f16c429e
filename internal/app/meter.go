package app

import (
	"context"
	"time"

	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/telemetry"
	"github.com/chorusgw/chorus/internal/webhook"
)

// initMeter starts the credits meter (config billing) and hands it to the
// server, and the webhook dispatcher that delivers the budget alerts it
// raises (config billing.webhook). Their background work stops, and in
// fast mode the meter's last charges are written and its leases returned,
// at the end of Shutdown — after every request has settled and before the
// database closes.
func (a *App) initMeter(ctx context.Context) error {
	b := a.Config.Billing
	if b.HoldExpiry == 0 {
		b.HoldExpiry = a.Config.Timeouts.Upstream + time.Minute // a hold outlives any request it covers
	}
	hooks := webhook.New(a.DB, webhook.Options{Webhook: b.Webhook, Logger: a.Log})
	reg := a.Registry
	m := meter.New(a.DB, meter.Options{Billing: b, Logger: a.Log, OnAlert: hooks.Kick,
		Routes: func(name string) *registry.Route { return reg.Snapshot().Route(name) },
		Outage: meter.Outage{Database: a.outage.health, Spool: a.outage.billingSpool, UsageSpoolFull: a.usageSpoolFull}})
	if err := m.Start(ctx); err != nil {
		return err
	}
	hooks.Start(ctx)
	a.initAnalytics(hooks.Kick)
	a.Gateway.Meter, a.Manage.Meter = m, m
	if h := a.outage.health; h != nil { // nil on SQLite: the readiness pings
		a.Manage.Database = h
		h.OnRecover(m.Recovered)
	}
	a.registerOutageMetrics()
	a.Metrics.RegisterBilling(func() telemetry.BillingSample {
		st, ws := m.Stats(), hooks.Stats()
		return telemetry.BillingSample{Admitted: st.Admitted, Refused: st.Refused, Settled: st.Settled,
			Cost: st.Cost, Charged: st.Charged, Uncollected: st.Uncollected, Tokenized: st.Tokenized,
			LeaseWaits: st.LeaseWaits, Flushes: st.Flushes, FlushErrors: st.FlushErrors, Alerts: st.Alerts,
			WebhooksDelivered: ws.Delivered, WebhooksFailed: ws.Failed,
			GroupCommits: st.GroupCommits, GroupSteps: st.GroupSteps}
	})
	drain := a.Config.Timeouts.Drain
	a.closers = append(a.closers, hooks.Close, func() {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			a.Log.Error("billing: closing the meter", "err", err)
		}
		a.closeOutage() // after the meter's last spooling
	})
	return nil
}
