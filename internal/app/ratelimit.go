package app

import (
	"fmt"
	"log/slog"

	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// newRateLimiter returns the limiter: shared through Redis when redis_url is
// set, in process otherwise. close releases it after the server drained.
func newRateLimiter(cfg config.Config, log *slog.Logger, m *telemetry.Metrics) (limit.Limiter, func(), error) {
	if cfg.RedisURL == "" {
		return limit.NewMemory(nil), func() {}, nil
	}
	c, err := limit.NewRedisClient(cfg.RedisURL, cfg.RateLimits.Timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("rate limits: %w", err)
	}
	r := limit.NewRedis(c, limit.RedisOptions{
		Prefix: cfg.RateLimits.Prefix, FailOpen: cfg.RateLimits.FailOpen, Timeout: cfg.RateLimits.Timeout,
		Logger: log, OnFault: func(error) { m.RateLimitFaults.Inc() },
	})
	return r, func() { r.Close(); c.Close() }, nil
}

// ratePolicy turns the rate_limits config into the limiter's policy.
func ratePolicy(c config.RateLimits) limit.Policy {
	l := func(r config.RateLimit) limit.Limits {
		return limit.Limits{RPM: r.RPM, TPM: r.TPM, Concurrency: r.Concurrency}
	}
	p := limit.Policy{Key: l(c.Key), User: l(c.User), Team: l(c.Team), Models: map[string]limit.Limits{}}
	for name, m := range c.Models {
		p.Models[name] = l(m)
	}
	return p
}
