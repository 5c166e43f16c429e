package app

import (
	"fmt"
	"log/slog"

	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// newCache returns the response cache: in process, with Redis behind it
// when redis_url is set. close releases it after the server drained.
func newCache(cfg config.Config, log *slog.Logger, m *telemetry.Metrics) (cache.Cache, *cache.Metrics, func(), error) {
	mem := cache.NewMemory(cfg.Cache.MaxEntries, cfg.Cache.MaxBytes, nil)
	cm := cache.NewMetrics(m.Registry(), mem)
	if cfg.RedisURL == "" {
		return mem, cm, func() {}, nil
	}
	rc, err := cache.NewRedisClient(cfg.RedisURL, cfg.Cache.Timeout)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cache: %w", err)
	}
	r := cache.NewRedis(rc, cache.RedisOptions{Timeout: cfg.Cache.Timeout, Prefix: cfg.Cache.Prefix, Logger: log, OnFault: cm.Fault})
	return &cache.Tiered{L1: mem, L2: r}, cm, func() { rc.Close() }, nil
}
