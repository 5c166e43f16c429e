package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	rl := cfg.RateLimits
	c, err := limit.NewRedisClient(cfg.RedisURL, rl.Timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("rate limits: %w", err)
	}
	lm := newLimiterMetrics(m.Registry())
	r := limit.NewRedis(c, limit.RedisOptions{
		Prefix: rl.Prefix, FailOpen: rl.FailOpen, Timeout: rl.Timeout,
		Trip: rl.TripAfter, ProbeEvery: rl.ProbeEvery, Share: rl.FallbackShare,
		Logger:    log,
		OnFault:   func(error) { m.RateLimitFaults.Inc() },
		OnCircuit: lm.circuit, Observe: lm.observe,
	})
	return r, func() { r.Close(); c.Close() }, nil
}

// limiterMetrics are the Redis limiter's own metrics, next to
// chorus_ratelimit_faults_total (telemetry): how its calls went and whether
// it is deciding in process.
type limiterMetrics struct {
	ok, failed prometheus.Observer // chorus_ratelimit_redis_seconds{result}
	open       prometheus.Gauge
	opens      prometheus.Counter
}

func newLimiterMetrics(reg prometheus.Registerer) *limiterMetrics {
	calls := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chorus_ratelimit_redis_seconds",
		Help:    "Duration of the rate limiter's Redis calls, by result (ok, error).",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"result"})
	lm := &limiterMetrics{
		ok: calls.WithLabelValues("ok"), failed: calls.WithLabelValues("error"),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chorus_ratelimit_circuit_open",
			Help: "1 while the rate limiter's circuit to Redis is open: limits are enforced in process on this instance's share (or refused, fail-closed).",
		}),
		opens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_ratelimit_circuit_opens_total",
			Help: "Times the rate limiter's circuit to Redis opened after faults in a row.",
		}),
	}
	reg.MustRegister(calls, lm.open, lm.opens)
	return lm
}

func (lm *limiterMetrics) observe(took time.Duration, err error) {
	if err != nil {
		lm.failed.Observe(took.Seconds())
		return
	}
	lm.ok.Observe(took.Seconds())
}

func (lm *limiterMetrics) circuit(open bool) {
	if open {
		lm.opens.Inc()
		lm.open.Set(1)
		return
	}
	lm.open.Set(0)
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
