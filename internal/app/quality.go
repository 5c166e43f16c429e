package app

import (
	"context"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/periodic"
	"github.com/chorusgw/chorus/internal/quality"
)

// Quality scoring off the request path: sizes of the runner. Scoring is best
// effort: beyond the queue, answers go unscored (counted in
// chorus_quality_jobs_total{outcome="dropped"}).
const (
	qualityWorkers   = 4    // judge calls wait on upstreams, so a few more than the cores
	qualityQueueSize = 4096 // answers waiting to be scored
)

// initQuality builds the scoring runner and the quality snapshot the router
// weighs by. It needs the evaluator and metrics.
func (a *App) initQuality() {
	a.Quality = quality.NewRunner(a.Evaluator, a.DB, quality.RunnerOptions{
		Workers: qualityWorkers, QueueSize: qualityQueueSize, Timeout: a.Config.Timeouts.Upstream,
		Logger: a.Log, Registerer: a.Metrics.Registry(),
	})
	a.QualityStats = quality.NewStats(a.DB, quality.StatsOptions{Window: 24 * time.Hour, Every: 30 * time.Second, Logger: a.Log})
}

// runQuality starts the runner and the snapshot refresh (until ctx ends).
func (a *App) runQuality(ctx context.Context) {
	go a.Quality.Run()
	go a.QualityStats.Run(ctx)
}

// closeQuality stores the scores of answers already queued, within limit.
// It has its own deadline so that slow judges cannot eat into the usage
// flush that follows: usage is billing, scores are best effort.
func (a *App) closeQuality(limit time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := a.Quality.Close(ctx); err != nil {
		a.Log.Warn("quality scores not all stored at shutdown", "err", err, "stats", a.Quality.Stats())
	}
	if err := a.Learner.Flush(ctx); err != nil {
		a.Log.Warn("learned scorers not all saved at shutdown", "err", err)
	}
}

// initLearner builds the learned quality scorers, persisted in the
// database, and makes them available to the evaluator. Load restores them.
func (a *App) initLearner() {
	a.Learner = quality.NewLearner(quality.LearnerOptions{Store: a.DB, Logger: a.Log})
	a.Evaluator.UseLearner(a.Learner)
}

// routeCalibration is a cascade route's threshold calibrated to its target,
// from the registry's current snapshot.
func (a *App) routeCalibration(name string) (quality.Calibration, error) {
	rt := a.Registry.Snapshot().Route(name)
	if rt == nil {
		return quality.Calibration{}, &chorus.Error{Code: chorus.ENOTFOUND, Message: "The route " + name + " is not enabled."}
	}
	c, err := quality.RouteEvaluator{E: a.Evaluator}.Calibration(rt)
	if err != nil {
		return c, chorus.Invalid("config.target", "The route %s is not a cascade with a config.target and a learned scorer.", name)
	}
	return c, nil
}

// learnerSyncInterval is how often an instance learns what the rest of the
// fleet learned (Learner.Sync) and follows the feedback other instances
// received on the answers it scored (Learner.SyncFeedback).
const learnerSyncInterval = 5 * time.Second

// syncLearner keeps the learned scorers of a fleet's instances together:
// every example is stored (numbered by the database), each instance reads
// the others' examples, and feedback reaches the instance that remembers
// the answer's features wherever the client sent it. A failing database
// is logged once per failing streak.
func (a *App) syncLearner(ctx context.Context) {
	failing := false
	periodic.Every(ctx, learnerSyncInterval, true, func(ctx context.Context) {
		_, err := a.Learner.SyncFeedback(ctx, a.DB)
		if err == nil {
			_, err = a.Learner.Sync(ctx)
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			a.Log.Warn("learned scorers not synced with the fleet", "err", err)
		case err == nil && failing:
			failing = false
			a.Log.Info("learned scorers synced with the fleet again")
		}
	})
}
