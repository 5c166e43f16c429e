package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusgw/chorus/bench/sim"
)

// TestScenarios runs every scenario scaled down (a few hundred requests,
// seconds) and checks the directions of the results with wide margins, so
// that a loaded CI machine cannot fail it: the full benchmark and its aims
// are bench/cmd/simbench.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a few thousand requests through an in-process gateway")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := sim.Start(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	t.Run("CascadeCheaperAtTheSameQuality", func(t *testing.T) {
		r, err := sim.RunCascade(ctx, g, sim.CascadeConfig{Prompts: 200, Concurrency: 16, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if r.Cascade.Failed != 0 || r.Strongest.Failed != 0 {
			t.Fatalf("failed requests: cascade %d, strongest %d", r.Cascade.Failed, r.Strongest.Failed)
		}
		// The marks are a function of the question: the strongest model
		// gets exactly the questions easier than its quality right.
		if r.Strongest.Correct != r.Expected {
			t.Fatalf("strongest model right %d times, want %d", r.Strongest.Correct, r.Expected)
		}
		if r.Cascade.Quality() < r.Strongest.Quality()-0.02 {
			t.Fatalf("cascade quality %.3f, strongest %.3f", r.Cascade.Quality(), r.Strongest.Quality())
		}
		if r.CostRatio() <= 0 || r.CostRatio() > 0.6 {
			t.Fatalf("cascade cost %d is %.0f%% of the strongest model's %d", r.Cascade.Cost, r.CostRatio()*100, r.Strongest.Cost)
		}
		if n := r.ByTier[0] + r.ByTier[1] + r.ByTier[2]; n != r.Cascade.Requests || r.ByTier[0] < r.Cascade.Requests/3 {
			t.Fatalf("answers by tier %v of %d requests", r.ByTier, r.Cascade.Requests)
		}
	})

	t.Run("FallbackHidesUpstreamErrors", func(t *testing.T) {
		const n, conc = 400, 16
		r, err := sim.RunFallback(ctx, g, sim.FallbackConfig{Requests: n, Concurrency: conc, ErrorRate: 0.2, Retries: 2, BackoffMS: 10, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, run := range r.Runs {
			// 20% of upstream calls fail; retries and fallback leave ~0.01%.
			if run.ErrorRate() > 0.05 {
				t.Errorf("%s: %d of %d requests failed", run.Name, run.Failed, run.Requests)
			}
			if run.Calls < run.Requests {
				t.Errorf("%s: %d upstream calls for %d requests", run.Name, run.Calls, run.Requests)
			}
		}
		// The deployment that is down is taken out by its circuit breaker:
		// it sees the calls in flight before it opens, not every request.
		down := r.Runs[1].Deployments[0]
		if down.Circuit.Openings == 0 || down.Calls > n/4 {
			t.Errorf("down deployment: %d calls of %d requests, circuit opened %d times", down.Calls, n, down.Circuit.Openings)
		}
	})

	t.Run("HedgingCutsTheTail", func(t *testing.T) {
		r, err := sim.RunHedge(ctx, g, sim.HedgeConfig{Requests: 200, Concurrency: 16, Seed: 7,
			LatencyMS: 10, LatencyJitter: 0.5, TailRate: 0.05, TailLatencyMS: 600})
		if err != nil {
			t.Fatal(err)
		}
		plain, hedged := r.Arms[0], r.Arms[1]
		if plain.Failed != 0 || hedged.Failed != 0 {
			t.Fatalf("failed requests: %d without hedging, %d with", plain.Failed, hedged.Failed)
		}
		// 5% of calls take 600 ms: without hedging that is the p99; with
		// it, only both calls of one request in the tail (0.25%) are.
		if plain.Latency.P99 < 500*time.Millisecond || hedged.Latency.P99 > plain.Latency.P99*8/10 {
			t.Fatalf("p99 %v without hedging, %v with", plain.Latency.P99, hedged.Latency.P99)
		}
		if hedged.Canceled == 0 || hedged.Calls <= hedged.Requests {
			t.Fatalf("hedged arm: %d calls, %d cancelled, for %d requests", hedged.Calls, hedged.Canceled, hedged.Requests)
		}
	})
}
