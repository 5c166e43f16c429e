package sim

import (
	"context"
	"fmt"
	"math"

	"github.com/chorusgw/chorus"
)

// HedgeConfig sizes the hedging scenario.
type HedgeConfig struct {
	Requests    int // per arm
	Concurrency int // requests in flight
	Seed        uint64
	// Upstream latency: LatencyMS plus up to LatencyJitter of it, or with
	// probability TailRate, TailLatencyMS.
	LatencyMS     int
	LatencyJitter float64
	TailRate      float64
	TailLatencyMS int
	// DelayMS is the hedge route's fixed delay; 0 means the p95 of the
	// upstream's normal (non-tail) latency.
	DelayMS int
}

// normalP95MS is the 95th percentile of the upstream's latency outside the
// tail: uniform jitter puts it at 95% of the jitter range.
func (c *HedgeConfig) normalP95MS() int {
	return int(math.Ceil(float64(c.LatencyMS) * (1 + 0.95*c.LatencyJitter)))
}

// HedgeArm is one way of routing over the same two heavy-tailed deployments.
type HedgeArm struct {
	Name     string
	Requests int
	Failed   int
	Latency  Latencies
	Calls    int   // upstream calls
	Canceled int   // of which cancelled: a hedge's losers
	Cost     int64 // micro-credits
}

// ExtraCalls is the share of requests that made a second upstream call.
func (a *HedgeArm) ExtraCalls() float64 { return ratio(a.Calls-a.Requests, a.Requests) }

// HedgeResult compares no hedging with hedging.
type HedgeResult struct {
	Config  HedgeConfig
	DelayMS int // the fixed delay used
	// Arms: no hedging, hedging after the fixed delay, and hedging after
	// the primary's observed p95 (hedge_delay_ms 0).
	Arms []HedgeArm
}

// Reduction is how much hedging after the fixed delay cut the p99, as a
// share of the p99 without hedging.
func (r *HedgeResult) Reduction() float64 {
	base, hedged := r.Arms[0].Latency.P99, r.Arms[1].Latency.P99
	if base == 0 {
		return 0
	}
	return 1 - float64(hedged)/float64(base)
}

// RunHedge sends the same requests over two deployments with heavy-tailed
// latency: spread by a balance route without hedging, and through hedge
// routes. Every arm gets its own pair of deployments with the same
// simulator seeds, so each sees the same tail events in the same order of
// calls.
func RunHedge(ctx context.Context, g *Gateway, cfg HedgeConfig) (*HedgeResult, error) {
	delay := cfg.DelayMS
	if delay == 0 {
		delay = cfg.normalP95MS()
	}
	res := &HedgeResult{Config: cfg, DelayMS: delay}
	arms := []struct {
		name     string
		strategy string
		config   map[string]any
	}{
		{"no hedging (balance)", chorus.StrategyBalance, map[string]any{}},
		{fmt.Sprintf("hedge after %d ms", delay), chorus.StrategyHedge, map[string]any{"hedge_delay_ms": delay}},
		{"hedge after observed p95", chorus.StrategyHedge, map[string]any{}},
	}
	questions := Questions(cfg.Seed, cfg.Requests)
	for a, arm := range arms {
		prefix := fmt.Sprintf("hedge-%d-%d-", cfg.Seed, a)
		var models []string
		for i := range 2 {
			t := Model{Name: fmt.Sprintf("%sdep%d", prefix, i+1), InputPrice: 1_000_000, OutputPrice: 4_000_000, Settings: map[string]any{
				"latency_ms": cfg.LatencyMS, "latency_jitter": cfg.LatencyJitter, "output_tokens": 16,
				"tail_rate": cfg.TailRate, "tail_latency_ms": cfg.TailLatencyMS, "seed": cfg.Seed*10 + uint64(i) + 1,
			}}
			if err := g.createModel(ctx, t); err != nil {
				return nil, err
			}
			models = append(models, t.Name)
		}
		route := prefix + "route"
		if err := g.createRoute(ctx, route, arm.strategy, models, arm.config); err != nil {
			return nil, err
		}
		k, err := g.createKey(ctx, route)
		if err != nil {
			return nil, err
		}
		calls := g.drive(ctx, k, route, route, cfg.Requests, cfg.Concurrency, func(i int) string { return questions[i] })
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out := HedgeArm{Name: arm.name, Requests: len(calls), Latency: latencies(calls)}
		out.Failed, _ = failures(calls)
		recs, err := g.usage(ctx, k, len(calls))
		if err != nil {
			return nil, err
		}
		for _, u := range recs {
			out.Cost += u.Cost
			out.Calls += len(u.Attempts)
			for _, at := range u.Attempts {
				if at.Outcome == "canceled" {
					out.Canceled++
				}
			}
		}
		res.Arms = append(res.Arms, out)
	}
	return res, nil
}
