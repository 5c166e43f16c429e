// Command simbench runs the simulation benchmark of Chorus's routing
// strategies (cascade, fallback, hedge) against an in-process gateway and
// prints Markdown tables. It exits with status 1 when an aim is missed.
// See bench/sim/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/chorusgw/chorus/bench/sim"
	"github.com/chorusgw/chorus/internal/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simbench:", err)
		os.Exit(2)
	}
}

func run() error {
	var (
		seed      = flag.Uint64("seed", 1, "seed of the questions and the simulators")
		only      = flag.String("scenarios", "cascade,fallback,hedge", "which scenarios to run")
		prompts   = flag.Int("cascade-prompts", 2000, "cascade: distinct questions")
		cascadeC  = flag.Int("cascade-concurrency", 32, "cascade: requests in flight")
		fbN       = flag.Int("fallback-requests", 10000, "fallback: requests per run")
		fbC       = flag.Int("fallback-concurrency", 32, "fallback: requests in flight")
		fbRate    = flag.Float64("fallback-error-rate", 0.2, "fallback: injected 503 rate of each flaky deployment")
		retries   = flag.Int("fallback-retries", 2, "fallback: the route's retries on the same deployment")
		backoff   = flag.Int("fallback-backoff-ms", 0, "fallback: the route's backoff base (0: the gateway's default, 100 ms)")
		hedgeN    = flag.Int("hedge-requests", 2000, "hedge: requests per arm")
		hedgeC    = flag.Int("hedge-concurrency", 16, "hedge: requests in flight")
		hedgeD    = flag.Int("hedge-delay-ms", 0, "hedge: the route's delay (0: the p95 of the upstream's normal latency)")
		tailRate  = flag.Float64("tail-rate", 0.05, "hedge: share of upstream calls in the tail")
		tailMS    = flag.Int("tail-latency-ms", 1000, "hedge: latency of a tail call")
		breakerN  = flag.Int("breaker-consecutive", 0, "the gateway's circuit breaker: failures in a row that open it (0: the gateway's default)")
		breakerM  = flag.Int("breaker-min-calls", 0, "the gateway's circuit breaker: calls in the window before its failure rate counts (0: the gateway's default)")
		logPath   = flag.String("log", "", "write the gateway's log (level warn) to this file")
		timeLimit = flag.Duration("timeout", 6*time.Minute, "give up after this long")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeLimit)
	defer cancel()

	var logw io.Writer
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	g, err := sim.Start(ctx, logw, func(c *config.Config) {
		if *breakerN > 0 {
			c.Health.ConsecutiveFailures = *breakerN
		}
		if *breakerM > 0 {
			c.Health.MinCalls = *breakerM
		}
	})
	if err != nil {
		return err
	}
	defer g.Close()

	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	started := time.Now()
	var rep sim.Report
	if want["cascade"] {
		progress("cascade: %d questions, cascade and always-large", *prompts)
		if rep.Cascade, err = sim.RunCascade(ctx, g, sim.CascadeConfig{Prompts: *prompts, Concurrency: *cascadeC, Seed: *seed}); err != nil {
			return fmt.Errorf("cascade: %w", err)
		}
	}
	if want["fallback"] {
		progress("fallback: 2 runs of %d requests", *fbN)
		if rep.Fallback, err = sim.RunFallback(ctx, g, sim.FallbackConfig{Requests: *fbN, Concurrency: *fbC, ErrorRate: *fbRate,
			Retries: *retries, BackoffMS: *backoff, Seed: *seed}); err != nil {
			return fmt.Errorf("fallback: %w", err)
		}
	}
	if want["hedge"] {
		progress("hedge: 3 arms of %d requests", *hedgeN)
		if rep.Hedge, err = sim.RunHedge(ctx, g, sim.HedgeConfig{Requests: *hedgeN, Concurrency: *hedgeC, Seed: *seed,
			LatencyMS: 20, LatencyJitter: 0.5, TailRate: *tailRate, TailLatencyMS: *tailMS, DelayMS: *hedgeD}); err != nil {
			return fmt.Errorf("hedge: %w", err)
		}
	}
	fmt.Printf("## Simulation benchmark, seed %d, %s (took %.0f s)\n\n", *seed, time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(started).Seconds())
	rep.Markdown(os.Stdout)
	if missed := rep.Missed(); len(missed) > 0 {
		for _, a := range missed {
			fmt.Fprintf(os.Stderr, "simbench: aim missed: %s: want %s, measured %s\n", a.Name, a.Target, a.Measured)
		}
		g.Close()
		os.Exit(1)
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
