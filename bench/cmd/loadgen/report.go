package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// runResult is one pass over the scenarios.
type runResult struct {
	Run       int
	Scenarios []scenarioResult
}

// scenarioResult is one scenario against both targets.
type scenarioResult struct {
	Scenario       string
	Direct, Chorus stats
}

func printSetup(o options, e *env) {
	fmt.Printf("machine: %s, %d CPUs, %s, Linux %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), kernel())
	db := "SQLite (fresh data dir)"
	if o.postgres.url != "" {
		db = "PostgreSQL (fresh database)"
	}
	fmt.Printf("chorus: %s, %s, log level warn, key checks + metrics + usage log on\n", o.chorus, db)
	fmt.Printf("GOMAXPROCS: loadgen %s, mock %s, chorus %s; nice %d\n", procs(o.procs), procs(o.mockProcs), procs(o.chorusProcs), o.nice)
	fmt.Printf("scenarios: %s; open loop %d req/s, closed loop %d workers; %s measured after %s warm-up; %d run(s); stream %d chunks, delay %s\n\n",
		strings.Join(o.scenarios, ", "), o.rate, o.concurrency, o.duration, o.warmup, o.runs, o.chunks, o.chunkDelay)
}

func procs(n int) string {
	if n > 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("default (%d)", runtime.NumCPU())
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func printProgress(run int, sc string, st stats) {
	fmt.Printf("run %d %-13s %-6s %8.0f req/s  ok %7d  err %4d  p50 %9s  p99 %9s  max %9s", run, sc, st.Target,
		st.Rate, st.OK, st.Errors, us(st.Lat.P50), us(st.Lat.P99), us(st.Lat.Max))
	if st.TTFT.P50 > 0 {
		fmt.Printf("  TTFT p50 %9s p99 %9s", us(st.TTFT.P50), us(st.TTFT.P99))
	}
	if st.Lag.P99 > 0 {
		fmt.Printf("  send lag p50 %s p99 %s", us(st.Lag.P50), us(st.Lag.P99))
	}
	fmt.Printf("  cores: loadgen %.2f mock %.2f chorus %.2f other %.2f\n", st.CPU.LoadgenCores, st.CPU.MockCores, st.CPU.ChorusCores, st.CPU.OtherCores)
	for _, e := range st.ErrText {
		fmt.Printf("      error: %s\n", e)
	}
}

// agg is one scenario's figures over every run: medians, with errors summed.
type agg struct {
	sc                     string
	direct, chorus         stats
	addP50, addP99, addMax time.Duration
	addTTFT50, addTTFT99   time.Duration
	ratio                  float64
	runs                   int
}

func aggregate(runs []runResult) []agg {
	var out []agg
	for i, first := range runs[0].Scenarios {
		a := agg{sc: first.Scenario, runs: len(runs)}
		var ds, cs []stats
		var p50, p99, pmax, t50, t99 []time.Duration
		var ratio []float64
		for _, r := range runs {
			s := r.Scenarios[i]
			ds, cs = append(ds, s.Direct), append(cs, s.Chorus)
			p50 = append(p50, s.Chorus.Lat.P50-s.Direct.Lat.P50)
			p99 = append(p99, s.Chorus.Lat.P99-s.Direct.Lat.P99)
			pmax = append(pmax, s.Chorus.Lat.Max-s.Direct.Lat.Max)
			t50 = append(t50, s.Chorus.TTFT.P50-s.Direct.TTFT.P50)
			t99 = append(t99, s.Chorus.TTFT.P99-s.Direct.TTFT.P99)
			if s.Direct.Rate > 0 {
				ratio = append(ratio, s.Chorus.Rate/s.Direct.Rate)
			}
		}
		a.direct, a.chorus = medianStats(ds), medianStats(cs)
		a.addP50, a.addP99, a.addMax = median(p50), median(p99), median(pmax)
		a.addTTFT50, a.addTTFT99 = median(t50), median(t99)
		a.ratio = median(ratio)
		out = append(out, a)
	}
	return out
}

// medianStats takes the median of every figure over runs and sums the counts.
func medianStats(ss []stats) stats {
	out := stats{Target: ss[0].Target}
	pick := func(f func(stats) time.Duration) time.Duration {
		v := make([]time.Duration, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		return median(v)
	}
	pickF := func(f func(stats) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		return median(v)
	}
	for _, s := range ss {
		out.OK += s.OK
		out.Errors += s.Errors
		out.Requests += s.Requests
	}
	out.Rate = pickF(func(s stats) float64 { return s.Rate })
	out.Lat = dist{
		P50: pick(func(s stats) time.Duration { return s.Lat.P50 }), P90: pick(func(s stats) time.Duration { return s.Lat.P90 }),
		P99: pick(func(s stats) time.Duration { return s.Lat.P99 }), P999: pick(func(s stats) time.Duration { return s.Lat.P999 }),
		Max: pick(func(s stats) time.Duration { return s.Lat.Max }), Mean: pick(func(s stats) time.Duration { return s.Lat.Mean }),
	}
	out.TTFT = dist{
		P50: pick(func(s stats) time.Duration { return s.TTFT.P50 }), P99: pick(func(s stats) time.Duration { return s.TTFT.P99 }),
	}
	out.Lag = dist{P50: pick(func(s stats) time.Duration { return s.Lag.P50 }), P99: pick(func(s stats) time.Duration { return s.Lag.P99 })}
	out.CPU = cpuUse{
		LoadgenPerReq: pick(func(s stats) time.Duration { return s.CPU.LoadgenPerReq }),
		MockPerReq:    pick(func(s stats) time.Duration { return s.CPU.MockPerReq }),
		ChorusPerReq:  pick(func(s stats) time.Duration { return s.CPU.ChorusPerReq }),
		LoadgenCores:  pickF(func(s stats) float64 { return s.CPU.LoadgenCores }),
		MockCores:     pickF(func(s stats) float64 { return s.CPU.MockCores }),
		ChorusCores:   pickF(func(s stats) float64 { return s.CPU.ChorusCores }),
		OtherCores:    pickF(func(s stats) float64 { return s.CPU.OtherCores }),
	}
	return out
}

func scenarioLabel(o options, sc string) string {
	switch sc {
	case "open":
		return fmt.Sprintf("non-streaming, %d req/s", o.rate)
	case "open-stream":
		return fmt.Sprintf("streaming, %d req/s", o.rate)
	case "closed":
		return fmt.Sprintf("non-streaming, %d workers", o.concurrency)
	case "closed-stream":
		return fmt.Sprintf("streaming, %d workers", o.concurrency)
	}
	return sc
}

// report prints Markdown tables of the medians over runs.
func report(w io.Writer, o options, runs []runResult) {
	aggs := aggregate(runs)
	of := ""
	if len(runs) > 1 {
		of = fmt.Sprintf(" (medians of %d runs)", len(runs))
	}
	var open, closed []agg
	for _, a := range aggs {
		if strings.HasPrefix(a.sc, "open") {
			open = append(open, a)
		} else {
			closed = append(closed, a)
		}
	}
	if len(open) > 0 {
		fmt.Fprintf(w, "\n### Latency at a fixed rate%s\n\n", of)
		fmt.Fprintln(w, "| scenario | target | achieved req/s | errors | p50 | p90 | p99 | p99.9 | max | TTFT p50 | TTFT p99 |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, a := range open {
			for i, s := range []stats{a.direct, a.chorus} {
				label := ""
				if i == 0 {
					label = scenarioLabel(o, a.sc)
				}
				fmt.Fprintf(w, "| %s | %s | %.0f | %d | %s | %s | %s | %s | %s | %s | %s |\n", label, s.Target, s.Rate, s.Errors,
					us(s.Lat.P50), us(s.Lat.P90), us(s.Lat.P99), us(s.Lat.P999), us(s.Lat.Max), us(s.TTFT.P50), us(s.TTFT.P99))
			}
			ttft50, ttft99 := "", ""
			if a.direct.TTFT.P50 > 0 {
				ttft50, ttft99 = "**"+signedUS(a.addTTFT50)+"**", "**"+signedUS(a.addTTFT99)+"**"
			}
			fmt.Fprintf(w, "| | **added by Chorus** | | | **%s** | | **%s** | | | %s | %s |\n", signedUS(a.addP50), signedUS(a.addP99), ttft50, ttft99)
		}
	}
	if len(closed) > 0 {
		fmt.Fprintf(w, "\n### Maximum throughput, closed loop%s\n\n", of)
		fmt.Fprintln(w, "| scenario | direct req/s | through Chorus req/s | Chorus / direct | direct p50 | Chorus p50 | Chorus p99 | errors |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, a := range closed {
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %s | %s | %s | %d |\n", scenarioLabel(o, a.sc), a.direct.Rate, a.chorus.Rate,
				a.ratio, us(a.direct.Lat.P50), us(a.chorus.Lat.P50), us(a.chorus.Lat.P99), a.direct.Errors+a.chorus.Errors)
		}
	}
	fmt.Fprintf(w, "\n### CPU%s\n\n", of)
	fmt.Fprintln(w, "| scenario | target | loadgen cores | mock cores | Chorus cores | other processes' cores | Chorus CPU per request | loadgen CPU per request |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, a := range aggs {
		for i, s := range []stats{a.direct, a.chorus} {
			label := ""
			if i == 0 {
				label = scenarioLabel(o, a.sc)
			}
			chorusPer := "-"
			if s.Target == "chorus" {
				chorusPer = us(s.CPU.ChorusPerReq)
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", label, s.Target, s.CPU.LoadgenCores, s.CPU.MockCores,
				s.CPU.ChorusCores, s.CPU.OtherCores, chorusPer, us(s.CPU.LoadgenPerReq))
		}
	}
	fmt.Fprintln(w)
	for _, a := range open {
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "NOT met"
		}
		fmt.Fprintf(w, "%s: added p50 %s (aim < 100 µs: %s), added p99 %s (aim < 1 ms: %s)\n", scenarioLabel(o, a.sc),
			signedUS(a.addP50), verdict(a.addP50 < 100*time.Microsecond), signedUS(a.addP99), verdict(a.addP99 < time.Millisecond))
	}
	for _, a := range aggs {
		if busy := max(a.direct.CPU.OtherCores, a.chorus.CPU.OtherCores); busy > 0.15 {
			fmt.Fprintf(w, "WARNING: %s: other processes used %.2f cores during the measurement; the figures are skewed (run on a quiet machine)\n", a.sc, busy)
		}
		if a.direct.Lag.P99 > 200*time.Microsecond || a.chorus.Lag.P99 > 200*time.Microsecond {
			fmt.Fprintf(w, "note: %s: the load generator sent late (send lag p99 %s direct, %s through Chorus); the machine was short of CPU\n",
				a.sc, us(a.direct.Lag.P99), us(a.chorus.Lag.P99))
		}
	}
}
