// Package analytics keeps the usage rollups (docs/usage-analytics.md) and
// watches them (docs/cost-monitoring.md): its Worker rolls the usage
// records into the hourly, daily and monthly rollups, enforces the raw records' and
// the rollups' retention, and evaluates the cost alerts.
//
// The rollups are exact: the store adds a batch of records to them and
// marks the records rolled in one transaction (store.RollUsage), so a
// crash, a retried batch or a replayed spool never counts a record twice,
// and any number of instances may run a Worker.
package analytics

import (
	"context"
	"log/slog"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/periodic"
	"github.com/chorusgw/chorus/internal/store"
)

// Store is what the worker needs from the database.
type Store interface {
	RollUsage(ctx context.Context, o store.RollOptions) (int, error)
	UsageRollupLag(ctx context.Context) (time.Duration, error)
	PurgeUsage(ctx context.Context, before time.Time, limit int) (int64, error)
	PurgeRollups(ctx context.Context, hourly, daily time.Time) (int64, error)
	AlertStore
}

// Options configure a Worker (the usage section of the config).
type Options struct {
	Interval      time.Duration // how often to roll when caught up (default 5s)
	Batch         int           // records per rollup transaction (default 5,000)
	FinalizeAfter time.Duration // see store.RollOptions (default 5m)
	// Retention is how long raw usage records are kept (0: for ever);
	// HourlyRetention and DailyRetention the rollups' (0: for ever).
	Retention, HourlyRetention, DailyRetention time.Duration
	PurgeInterval                              time.Duration // how often retention runs (default 1h)
	AlertInterval                              time.Duration // how often cost alerts are evaluated (default 1m)
	Metrics                                    *Metrics      // nil: none
	Logger                                     *slog.Logger  // nil discards
	Now                                        func() time.Time
	// Fired, when set, hears of every firing (after its commit), e.g. to
	// kick the webhook dispatcher.
	Fired func(*chorus.CostAlertFiring)
}

// Partitioner is what a store with partitioned usage records (PostgreSQL)
// adds: see store.MaintainUsagePartitions. The worker calls it before each
// purge (the first at start).
type Partitioner interface {
	MaintainUsagePartitions(ctx context.Context, now time.Time, ahead int, before time.Time) (store.PartitionReport, error)
}

// partitionsAhead is how many months' usage partitions exist ahead of the
// current month's.
const partitionsAhead = 3

// purgeChunk is how many raw records one purge transaction deletes.
const purgeChunk = 10000

// Worker maintains the rollups; Run runs it.
type Worker struct {
	db     Store
	opts   Options
	log    *slog.Logger
	alerts *Alerts
}

// NewWorker returns a worker with its defaults filled in.
func NewWorker(db Store, o Options) *Worker {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.FinalizeAfter <= 0 {
		o.FinalizeAfter = 5 * time.Minute
	}
	if o.PurgeInterval <= 0 {
		o.PurgeInterval = time.Hour
	}
	if o.AlertInterval <= 0 {
		o.AlertInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Worker{db: db, opts: o, log: o.Logger,
		alerts: &Alerts{db: db, metrics: o.Metrics, log: o.Logger, now: o.Now, fired: o.Fired}}
}

// Alerts returns the worker's cost alert evaluator.
func (w *Worker) Alerts() *Alerts { return w.alerts }

// Run rolls, purges and evaluates alerts until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	go periodic.Every(ctx, w.opts.PurgeInterval, true, func(ctx context.Context) { w.Purge(ctx) })
	go periodic.Every(ctx, w.opts.AlertInterval, false, func(ctx context.Context) { w.alerts.Evaluate(ctx) })
	periodic.Every(ctx, w.opts.Interval, true, func(ctx context.Context) { w.CatchUp(ctx) })
}

// CatchUp rolls batches until no record is left to roll (or an error, or
// ctx ends), then updates the lag gauge. It returns how many it rolled.
func (w *Worker) CatchUp(ctx context.Context) int {
	total := 0
	for ctx.Err() == nil {
		start := time.Now()
		n, err := w.db.RollUsage(ctx, store.RollOptions{Batch: w.opts.Batch, FinalizeAfter: w.opts.FinalizeAfter})
		if err != nil {
			w.log.Error("usage rollup failed; retrying at the next tick", "err", err)
			w.opts.Metrics.rollFailed()
			break
		}
		w.opts.Metrics.rolled(n, time.Since(start))
		total += n
		if n < w.opts.Batch {
			break
		}
	}
	if lag, err := w.RollupLag(ctx); err == nil {
		w.opts.Metrics.setLag(lag)
	}
	return total
}

// RollupLag is the age of the oldest usage record not yet in the rollups;
// 0 when they are caught up. For readiness checks.
func (w *Worker) RollupLag(ctx context.Context) (time.Duration, error) {
	return w.db.UsageRollupLag(ctx)
}

// maintainPartitions creates the coming months' usage partitions and drops
// the months past the retention whose records are all rolled, when the
// store partitions usage records.
func (w *Worker) maintainPartitions(ctx context.Context, now time.Time) {
	p, ok := w.db.(Partitioner)
	if !ok {
		return
	}
	var before time.Time
	if r := w.opts.Retention; r > 0 {
		before = now.Add(-r)
	}
	rep, err := p.MaintainUsagePartitions(ctx, now, partitionsAhead, before)
	if err != nil {
		w.log.Error("usage partition maintenance failed", "err", err)
	}
	if len(rep.Created) > 0 {
		w.log.Info("usage partitions created", "partitions", rep.Created)
	}
	if len(rep.Dropped) > 0 {
		w.log.Info("usage retention: partitions dropped", "partitions", rep.Dropped, "older_than", before)
	}
}

// Purge deletes the raw records older than the retention (rolled ones
// only: the rollups keep their sums) and the rollups older than theirs.
func (w *Worker) Purge(ctx context.Context) {
	now := w.opts.Now()
	w.maintainPartitions(ctx, now)
	if r := w.opts.Retention; r > 0 {
		var total int64
		for ctx.Err() == nil {
			n, err := w.db.PurgeUsage(ctx, now.Add(-r), purgeChunk)
			if err != nil {
				w.log.Error("usage retention failed", "err", err)
				break
			}
			total += n
			if n < purgeChunk {
				break
			}
		}
		w.opts.Metrics.purged("usage_records", total)
		if total > 0 {
			w.log.Info("usage retention: raw records deleted", "records", total, "older_than", now.Add(-r))
		}
	}
	var hourly, daily time.Time
	if r := w.opts.HourlyRetention; r > 0 {
		hourly = now.Add(-r)
	}
	if r := w.opts.DailyRetention; r > 0 {
		daily = now.Add(-r)
	}
	if hourly.IsZero() && daily.IsZero() {
		return
	}
	n, err := w.db.PurgeRollups(ctx, hourly, daily)
	if err != nil {
		w.log.Error("rollup retention failed", "err", err)
		return
	}
	w.opts.Metrics.purged("rollups", n)
}
