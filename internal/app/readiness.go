package app

import (
	"context"
	"fmt"

	"github.com/chorusgw/chorus/internal/limit"
)

// initReadiness gives /readyz what it reports beyond the database: the
// usage queue and, with redis_url set, a Redis ping on a connection of its
// own (so a pool busy with rate-limit calls does not make it look down).
// The rollup lag (manage.Server.RollupLag) is wired where the rollups are
// (initAnalytics).
func (a *App) initReadiness() error {
	a.Manage.Readiness.UsageQueue = func() (int, int) { return a.Metrics.UsageQueueDepth(), a.Config.Usage.QueueSize }
	if a.Config.RedisURL == "" {
		return nil
	}
	c, err := limit.NewRedisClient(a.Config.RedisURL, a.Config.RateLimits.Timeout)
	if err != nil {
		return fmt.Errorf("readiness: %w", err)
	}
	a.Manage.Readiness.Redis = func(ctx context.Context) error { return c.Ping(ctx).Err() }
	a.closers = append(a.closers, func() { _ = c.Close() })
	return nil
}
