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
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeLimit)
	defer cancel()

	var logw io.Writer
	if o.logPath != "" {
		f, err := os.Create(o.logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	g, err := sim.Start(ctx, logw, o.tune)
	if err != nil {
		return err
	}
	defer g.Close()

	started := time.Now()
	rep, err := runScenarios(ctx, g, o)
	if err != nil {
		return err
	}
	fmt.Printf("## Simulation benchmark, seed %d, %s (took %.0f s)\n\n", o.seed, time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(started).Seconds())
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

// options are the command line flags.
type options struct {
	seed                   uint64
	only                   string
	prompts, cascadeC      int
	fbN, fbC               int
	fbRate                 float64
	retries, backoff       int
	hedgeN, hedgeC, hedgeD int
	tailRate               float64
	tailMS                 int
	breakerN, breakerM     int
	logPath                string
	timeLimit              time.Duration
}

// parseFlags defines the flags and parses the command line.
func parseFlags() options {
	var o options
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the questions and the simulators")
	flag.StringVar(&o.only, "scenarios", "cascade,fallback,hedge", "which scenarios to run")
	flag.IntVar(&o.prompts, "cascade-prompts", 2000, "cascade: distinct questions")
	flag.IntVar(&o.cascadeC, "cascade-concurrency", 32, "cascade: requests in flight")
	flag.IntVar(&o.fbN, "fallback-requests", 10000, "fallback: requests per run")
	flag.IntVar(&o.fbC, "fallback-concurrency", 32, "fallback: requests in flight")
	flag.Float64Var(&o.fbRate, "fallback-error-rate", 0.2, "fallback: injected 503 rate of each flaky deployment")
	flag.IntVar(&o.retries, "fallback-retries", 2, "fallback: the route's retries on the same deployment")
	flag.IntVar(&o.backoff, "fallback-backoff-ms", 0, "fallback: the route's backoff base (0: the gateway's default, 100 ms)")
	flag.IntVar(&o.hedgeN, "hedge-requests", 2000, "hedge: requests per arm")
	flag.IntVar(&o.hedgeC, "hedge-concurrency", 16, "hedge: requests in flight")
	flag.IntVar(&o.hedgeD, "hedge-delay-ms", 0, "hedge: the route's delay (0: the p95 of the upstream's normal latency)")
	flag.Float64Var(&o.tailRate, "tail-rate", 0.05, "hedge: share of upstream calls in the tail")
	flag.IntVar(&o.tailMS, "tail-latency-ms", 1000, "hedge: latency of a tail call")
	flag.IntVar(&o.breakerN, "breaker-consecutive", 0, "the gateway's circuit breaker: failures in a row that open it (0: the gateway's default)")
	flag.IntVar(&o.breakerM, "breaker-min-calls", 0, "the gateway's circuit breaker: calls in the window before its failure rate counts (0: the gateway's default)")
	flag.StringVar(&o.logPath, "log", "", "write the gateway's log (level warn) to this file")
	flag.DurationVar(&o.timeLimit, "timeout", 6*time.Minute, "give up after this long")
	flag.Parse()
	return o
}

// tune sets the gateway's circuit breaker from the flags that are set.
func (o options) tune(c *config.Config) {
	if o.breakerN > 0 {
		c.Health.ConsecutiveFailures = o.breakerN
	}
	if o.breakerM > 0 {
		c.Health.MinCalls = o.breakerM
	}
}

// runScenarios runs the scenarios of -scenarios in a fixed order.
func runScenarios(ctx context.Context, g *sim.Gateway, o options) (sim.Report, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(o.only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	var rep sim.Report
	var err error
	if want["cascade"] {
		progress("cascade: %d questions, cascade and always-large", o.prompts)
		if rep.Cascade, err = sim.RunCascade(ctx, g, sim.CascadeConfig{Prompts: o.prompts, Concurrency: o.cascadeC, Seed: o.seed}); err != nil {
			return rep, fmt.Errorf("cascade: %w", err)
		}
	}
	if want["fallback"] {
		progress("fallback: 2 runs of %d requests", o.fbN)
		if rep.Fallback, err = sim.RunFallback(ctx, g, sim.FallbackConfig{Requests: o.fbN, Concurrency: o.fbC, ErrorRate: o.fbRate,
			Retries: o.retries, BackoffMS: o.backoff, Seed: o.seed}); err != nil {
			return rep, fmt.Errorf("fallback: %w", err)
		}
	}
	if want["hedge"] {
		progress("hedge: 3 arms of %d requests", o.hedgeN)
		if rep.Hedge, err = sim.RunHedge(ctx, g, sim.HedgeConfig{Requests: o.hedgeN, Concurrency: o.hedgeC, Seed: o.seed,
			LatencyMS: 20, LatencyJitter: 0.5, TailRate: o.tailRate, TailLatencyMS: o.tailMS, DelayMS: o.hedgeD}); err != nil {
			return rep, fmt.Errorf("hedge: %w", err)
		}
	}
	return rep, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
