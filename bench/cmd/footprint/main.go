// Command footprint measures what one Chorus process costs in CPU and
// memory, for docs/green-coding.md and docs/resource-right-sizing.md:
//
//   - idle RSS, after start and after the measured load;
//   - requests per CPU-second of Chorus at a fixed rate, non-streaming and
//     streaming (16 chunks), every request a paying customer's (rate-checked,
//     reserved, settled, logged);
//   - memory per open stream: RSS (and Go heap, goroutines) with N slow
//     streams open, minus the same without them.
//
// It starts the built binary (a copy named gateway-under-test, with a fresh
// SQLite data dir in a temp dir) against two mock upstreams served by this
// process — an instant one and a slow one (a chunk every -chunk-delay) — so
// the mocks' CPU and memory are not counted as Chorus's. CPU time is read
// from /proc/<pid>/stat, memory from /proc/<pid>/status and Chorus's own
// /metrics; the machine's busy CPU over each window is printed too, since
// other work on a shared machine skews every figure.
//
//	make build && go run ./bench/cmd/footprint -chorus ./bin/chorus
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	chorus     string
	rate       int
	duration   time.Duration
	warmup     time.Duration
	streams    int
	chunkDelay time.Duration
	settle     time.Duration
	jsonOut    string
	env        []string
}

func main() {
	var o options
	flag.StringVar(&o.chorus, "chorus", "bin/chorus", "the Chorus binary to measure")
	flag.IntVar(&o.rate, "rate", 500, "open-loop requests per second for the CPU measurement")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each CPU run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each CPU run")
	flag.IntVar(&o.streams, "streams", 1000, "slow streams held open at once for the memory measurement")
	flag.DurationVar(&o.chunkDelay, "chunk-delay", 2*time.Second, "the slow upstream's delay before each of its 16 chunks")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait before each memory reading")
	flag.StringVar(&o.jsonOut, "json", "", "also write the figures to this file as JSON")
	env := flag.String("env", "", "extra environment for Chorus, comma-separated (GOGC=200,GOMEMLIMIT=512MiB)")
	flag.Parse()
	if *env != "" {
		o.env = splitComma(*env)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
	r.print(os.Stdout)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil { // #nosec G306 -- a results file for the operator to read and share, no secrets in it
			fmt.Fprintln(os.Stderr, "footprint:", err)
			os.Exit(1)
		}
	}
}

// run starts the mocks and Chorus, provisions it and takes every
// measurement in turn.
func run(ctx context.Context, o options) (*result, error) {
	fast, err := serveMock(0)
	if err != nil {
		return nil, err
	}
	defer fast.Close()
	slow, err := serveMock(o.chunkDelay)
	if err != nil {
		return nil, err
	}
	defer slow.Close()
	g, err := startGateway(ctx, o)
	if err != nil {
		return nil, err
	}
	defer g.stop()
	secret, err := provision(ctx, g.admin(), fast.URL+"/v1", slow.URL+"/v1")
	if err != nil {
		return nil, fmt.Errorf("provision: %w (log: %s)", err, g.tail())
	}
	r := &result{Rate: o.rate, Duration: o.duration.String(), Streams: o.streams, CPUs: numCPU()}
	time.Sleep(o.settle)
	if r.IdleStart, err = g.memory(ctx); err != nil {
		return nil, err
	}
	if r.Plain, err = cpuRun(ctx, g, secret, false, o); err != nil {
		return nil, err
	}
	if r.Stream, err = cpuRun(ctx, g, secret, true, o); err != nil {
		return nil, err
	}
	if r.Streams, r.Held, r.Baseline, err = holdStreams(ctx, g, secret, o); err != nil {
		return nil, err
	}
	return r, nil
}
