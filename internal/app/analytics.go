package app

import (
	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/analytics"
	"github.com/chorusgw/chorus/internal/store"
)

// sqliteRollupBatch caps usage.rollup_batch on SQLite.
const sqliteRollupBatch = 500

// initAnalytics builds the rollup worker (config usage: rollups,
// retention, cost alerts) and serves the analytics API from the store.
// kick wakes the webhook dispatcher when a cost alert fires. Serve runs
// the worker.
func (a *App) initAnalytics(kick func()) {
	u := a.Config.Usage
	batch := u.RollupBatch
	if a.DB.Dialect() == store.DialectSQLite {
		// SQLite has one writer: a rollup transaction holds it, and strict
		// settlements wait behind it. Smaller batches keep that short.
		batch = min(batch, sqliteRollupBatch)
	}
	a.Analytics = analytics.NewWorker(a.DB, analytics.Options{
		Interval: u.RollupInterval, Batch: batch, FinalizeAfter: u.FinalizeAfter,
		Retention: u.Retention, HourlyRetention: u.HourlyRetention, DailyRetention: u.DailyRetention,
		PurgeInterval: u.PurgeInterval, AlertInterval: u.AlertInterval,
		Metrics: analytics.NewMetrics(a.Metrics.Registry()), Logger: a.Log,
		Fired: func(*chorus.CostAlertFiring) { kick() },
	})
	a.Manage.Analytics = a.DB
	a.Manage.RollupLag = a.Analytics.RollupLag
}
