package sim

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/chorusgw/chorus"
)

// FallbackConfig sizes the fallback scenario.
type FallbackConfig struct {
	Requests    int     // per run
	Concurrency int     // requests in flight
	ErrorRate   float64 // injected 503s of each flaky deployment
	Retries     int     // the route's retries on the same deployment before moving on
	BackoffMS   int     // the route's backoff base (0: the gateway's default, 100 ms)
	Seed        uint64
}

// FallbackRun is one fallback chain under load.
type FallbackRun struct {
	Name        string
	Requests    int
	Failed      int         // client-visible errors
	ByStatus    map[int]int // client-visible errors by HTTP status (0: no answer)
	Calls       int         // upstream calls
	ByCalls     map[int]int // requests by the number of upstream calls they made
	Latency     Latencies
	Deployments []FallbackDeployment // in chain order
	Duration    time.Duration
}

// ErrorRate is the share of requests the client saw fail.
func (r *FallbackRun) ErrorRate() float64 { return ratio(r.Failed, r.Requests) }

// FallbackDeployment is one link of the chain.
type FallbackDeployment struct {
	Name      string
	ErrorRate float64 // injected
	Calls     int     // upstream calls it received
	Failures  int     // of which failed
	Circuit   Circuit
	// CallsAfterOpen are the calls it received in requests sent after its
	// circuit first opened: half-open probes (the cooldown is 10 s).
	CallsAfterOpen int
}

// FallbackResult holds both runs: every deployment flaky, and the first
// one down.
type FallbackResult struct {
	Config  FallbackConfig
	Breaker string // the gateway's circuit breaker settings, for the report
	Runs    []FallbackRun
}

// RunFallback sends requests through a fallback chain of three simulated
// deployments that fail with 503 at cfg.ErrorRate, then through a chain
// whose first deployment always fails, and reports what the client saw,
// the upstream calls per request and the circuit breakers' openings.
func RunFallback(ctx context.Context, g *Gateway, cfg FallbackConfig) (*FallbackResult, error) {
	h := g.App.Config.Health
	res := &FallbackResult{Config: cfg, Breaker: fmt.Sprintf("opens after %d failures in a row or ≥ %.0f%% failed of ≥ %d calls in %v; %v cooldown",
		h.ConsecutiveFailures, h.FailureRate*100, h.MinCalls, h.Window, h.Cooldown)}
	variants := []struct {
		name  string
		rates []float64
	}{
		{fmt.Sprintf("3 deployments, %.0f%% errors each", cfg.ErrorRate*100), []float64{cfg.ErrorRate, cfg.ErrorRate, cfg.ErrorRate}},
		{fmt.Sprintf("first down, 2 with %.0f%% errors", cfg.ErrorRate*100), []float64{1, cfg.ErrorRate, cfg.ErrorRate}},
	}
	for v, variant := range variants {
		run, err := g.runFallback(ctx, fmt.Sprintf("fallback-%d-%d-", cfg.Seed, v), variant.name, variant.rates, cfg)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, *run)
	}
	return res, nil
}

func (g *Gateway) runFallback(ctx context.Context, prefix, name string, rates []float64, cfg FallbackConfig) (*FallbackRun, error) {
	start := time.Now()
	run := &FallbackRun{Name: name, ByCalls: map[int]int{}}
	var models, deps []string
	index := map[string]int{}
	for i, rate := range rates {
		t := Model{Name: fmt.Sprintf("%sdep%d", prefix, i+1), InputPrice: 1_000_000, OutputPrice: 4_000_000, Settings: map[string]any{
			"latency_ms": 20, "latency_jitter": 0.25, "output_tokens": 16,
			"error_rate": rate, "error_status": http.StatusServiceUnavailable, "seed": cfg.Seed*10 + uint64(i) + 1,
		}}
		if err := g.createModel(ctx, t); err != nil {
			return nil, err
		}
		models = append(models, t.Name)
		deps = append(deps, deployment(t.Name))
		index[deployment(t.Name)] = i
		run.Deployments = append(run.Deployments, FallbackDeployment{Name: deployment(t.Name), ErrorRate: rate})
	}
	route := prefix + "chain"
	rc := map[string]any{"retries": cfg.Retries}
	if cfg.BackoffMS > 0 {
		rc["backoff_ms"] = cfg.BackoffMS
	}
	if err := g.createRoute(ctx, route, chorus.StrategyFallback, models, rc); err != nil {
		return nil, err
	}
	k, err := g.createKey(ctx, route)
	if err != nil {
		return nil, err
	}
	stop := g.watch(deps)
	questions := Questions(cfg.Seed, cfg.Requests)
	calls := g.drive(ctx, k, route, route, cfg.Requests, cfg.Concurrency, func(i int) string { return questions[i] })
	circuits := stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	run.Duration = time.Since(start)
	run.Requests = len(calls)
	run.Failed, run.ByStatus = failures(calls)
	run.Latency = latencies(calls)
	for i := range run.Deployments {
		run.Deployments[i].Circuit = *circuits[run.Deployments[i].Name]
	}
	recs, err := g.usage(ctx, k, len(calls))
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*chorus.Usage, len(recs))
	for i := range recs {
		byID[recs[i].RequestID] = &recs[i]
	}
	for i := range calls {
		u := byID[calls[i].ID]
		if u == nil {
			return nil, fmt.Errorf("request %s has no usage record", calls[i].ID)
		}
		run.Calls += len(u.Attempts)
		run.ByCalls[len(u.Attempts)]++
		for _, a := range u.Attempts {
			j, ok := index[a.Deployment]
			if !ok {
				continue
			}
			d := &run.Deployments[j]
			d.Calls++
			if a.Outcome != "ok" {
				d.Failures++
			}
			if open := d.Circuit.FirstOpen; !open.IsZero() && !calls[i].Start.Before(open) {
				d.CallsAfterOpen++
			}
		}
	}
	return run, nil
}
