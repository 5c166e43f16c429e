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

// scenarioResult is one scenario against every target. Proxy is empty
// without -proxy, Nginx without nginx.
type scenarioResult struct {
	Scenario                     string
	Direct, Proxy, Nginx, Chorus stats
}

func printSetup(o options, e *env) {
	fmt.Printf("machine: %s, %d CPUs, %s, Linux %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), kernel())
	db := "SQLite (fresh data dir)"
	if o.postgres.url != "" {
		db = "PostgreSQL (fresh database)"
	}
	fmt.Printf("chorus: %s, %s, log level warn, key checks + metrics + usage log + credits metering (customer key) on", o.chorus, db)
	if len(o.chorusEnv) > 0 {
		fmt.Printf(", env %s", strings.Join(o.chorusEnv, " "))
	}
	fmt.Println()
	if o.nginxBin != "" {
		fmt.Printf("nginx baseline: %s, %d worker(s), keepalive 64 to the mock, access log off\n", o.nginxBin, nginxWorkers(o.chorusProcs))
	} else {
		fmt.Println("nginx baseline: off")
	}
	if o.proxy {
		fmt.Printf("bare Go proxy: net/http server, %s upstream client\n", o.proxyClient)
	}
	fmt.Printf("GOMAXPROCS: loadgen %s, mock %s, chorus %s; nice %d\n", procs(o.procs), procs(o.mockProcs), procs(o.chorusProcs), o.nice)
	switch o.mode {
	case "streams":
		fmt.Printf("mode streams: %d streams opened over %s; stream %d chunks, delay %s\n\n", o.streams, o.openOver, o.chunks, o.chunkDelay)
	case "soak":
		fmt.Printf("mode soak: %d req/s, every 4th streamed; %s measured after %s warm-up, a sample every %s; stream %d chunks, delay %s\n\n",
			o.rate, o.duration, o.warmup, o.sample, o.chunks, o.chunkDelay)
	default:
		fmt.Printf("scenarios: %s; open loop %d req/s, closed loop %d workers; %s measured after %s warm-up; %d run(s); stream %d chunks, delay %s\n\n",
			strings.Join(o.scenarios, ", "), o.rate, o.concurrency, o.duration, o.warmup, o.runs, o.chunks, o.chunkDelay)
	}
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
	fmt.Printf("  cores: loadgen %.2f mock %.2f %s %.2f other %.2f\n", st.CPU.LoadgenCores, st.CPU.MockCores, st.Target, st.CPU.GatewayCores, st.CPU.OtherCores)
	for _, e := range st.ErrText {
		fmt.Printf("      error: %s\n", e)
	}
}

// added is what a gateway added to the direct figures, as medians of the
// per-run differences.
type added struct {
	P50, P99, TTFT50, TTFT99 time.Duration
	Ratio                    float64 // throughput, gateway / direct
}

// agg is one scenario's figures over every run: medians, with errors summed.
type agg struct {
	sc                             string
	direct, proxy, nginx, chorus   stats
	viaProxy, viaNginx, viaChorus  added
	chorusOverProxy, chorusOverNgx float64 // throughput ratios, medians of the per-run ratios
	hasProxy, hasNginx             bool
}

func aggregate(runs []runResult) []agg {
	var out []agg
	for i, first := range runs[0].Scenarios {
		a := agg{sc: first.Scenario, hasProxy: first.Proxy.Target != "", hasNginx: first.Nginx.Target != ""}
		var ds, ps, ns, cs []stats
		var cp, cn []float64
		for _, r := range runs {
			s := r.Scenarios[i]
			ds, ps, ns, cs = append(ds, s.Direct), append(ps, s.Proxy), append(ns, s.Nginx), append(cs, s.Chorus)
			if s.Proxy.Rate > 0 {
				cp = append(cp, s.Chorus.Rate/s.Proxy.Rate)
			}
			if s.Nginx.Rate > 0 {
				cn = append(cn, s.Chorus.Rate/s.Nginx.Rate)
			}
		}
		a.direct, a.proxy, a.nginx, a.chorus = medianStats(ds), medianStats(ps), medianStats(ns), medianStats(cs)
		a.viaChorus = addedBy(ds, cs)
		if a.hasProxy {
			a.viaProxy = addedBy(ds, ps)
			a.chorusOverProxy = median(cp)
		}
		if a.hasNginx {
			a.viaNginx = addedBy(ds, ns)
			a.chorusOverNgx = median(cn)
		}
		out = append(out, a)
	}
	return out
}

func addedBy(direct, via []stats) added {
	var p50, p99, t50, t99 []time.Duration
	var ratio []float64
	for i := range direct {
		d, v := direct[i], via[i]
		p50 = append(p50, v.Lat.P50-d.Lat.P50)
		p99 = append(p99, v.Lat.P99-d.Lat.P99)
		t50 = append(t50, v.TTFT.P50-d.TTFT.P50)
		t99 = append(t99, v.TTFT.P99-d.TTFT.P99)
		if d.Rate > 0 {
			ratio = append(ratio, v.Rate/d.Rate)
		}
	}
	return added{P50: median(p50), P99: median(p99), TTFT50: median(t50), TTFT99: median(t99), Ratio: median(ratio)}
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
		GatewayPerReq: pick(func(s stats) time.Duration { return s.CPU.GatewayPerReq }),
		LoadgenCores:  pickF(func(s stats) float64 { return s.CPU.LoadgenCores }),
		MockCores:     pickF(func(s stats) float64 { return s.CPU.MockCores }),
		GatewayCores:  pickF(func(s stats) float64 { return s.CPU.GatewayCores }),
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

// targetLabel names a target in the tables.
func targetLabel(t string) string {
	switch t {
	case "proxy":
		return "bare Go proxy"
	case "nginx":
		return "nginx"
	case "chorus":
		return "Chorus"
	}
	return t
}

// targets returns a's targets in table order.
func (a agg) targets() []stats {
	out := []stats{a.direct}
	if a.hasProxy {
		out = append(out, a.proxy)
	}
	if a.hasNginx {
		out = append(out, a.nginx)
	}
	return append(out, a.chorus)
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
		latencyTable(w, o, of, open)
	}
	if len(closed) > 0 {
		throughputTable(w, o, of, closed)
	}
	cpuTable(w, o, of, aggs)
	if len(aggs) > 0 && aggs[0].hasNginx {
		nginxTable(w, o, of, aggs)
	}
	fmt.Fprintln(w)
	for _, a := range open {
		aimVerdicts(w, o, a)
	}
	for _, a := range aggs {
		noiseWarnings(w, a)
	}
}

// latencyTable prints the open-loop scenarios: each target's latencies,
// then what the gateways added to the direct figures.
func latencyTable(w io.Writer, o options, of string, open []agg) {
	fmt.Fprintf(w, "\n### Latency at a fixed rate%s\n\n", of)
	fmt.Fprintln(w, "| scenario | target | achieved req/s | errors | p50 | p90 | p99 | p99.9 | max | TTFT p50 | TTFT p99 |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, a := range open {
		for i, s := range a.targets() {
			label := ""
			if i == 0 {
				label = scenarioLabel(o, a.sc)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %d | %s | %s | %s | %s | %s | %s | %s |\n", label, targetLabel(s.Target), s.Rate, s.Errors,
				us(s.Lat.P50), us(s.Lat.P90), us(s.Lat.P99), us(s.Lat.P999), us(s.Lat.Max), us(s.TTFT.P50), us(s.TTFT.P99))
		}
		streamed := a.direct.TTFT.P50 > 0
		if a.hasProxy {
			addedRow(w, "added by the bare proxy", a.viaProxy, false, streamed)
		}
		if a.hasNginx {
			addedRow(w, "added by nginx", a.viaNginx, false, streamed)
		}
		addedRow(w, "added by Chorus", a.viaChorus, true, streamed)
	}
}

// addedRow prints one "added by" row of the latency table; the TTFT
// columns stay empty when the scenario does not stream.
func addedRow(w io.Writer, name string, ad added, bold, streamed bool) {
	b := ""
	if bold {
		b = "**"
	}
	t50, t99 := "", ""
	if streamed {
		t50, t99 = b+signedUS(ad.TTFT50)+b, b+signedUS(ad.TTFT99)+b
	}
	fmt.Fprintf(w, "| | %s%s%s | | | %s%s%s | | %s%s%s | | | %s | %s |\n", b, name, b, b, signedUS(ad.P50), b, b, signedUS(ad.P99), b, t50, t99)
}

// throughputTable prints the closed-loop scenarios' throughput, with a
// column for each baseline that ran.
func throughputTable(w io.Writer, o options, of string, closed []agg) {
	fmt.Fprintf(w, "\n### Maximum throughput, closed loop%s\n\n", of)
	a0 := closed[0]
	head, rule := "| scenario | direct req/s |", "|---|---:|"
	if a0.hasProxy {
		head, rule = head+" bare proxy req/s |", rule+"---:|"
	}
	if a0.hasNginx {
		head, rule = head+" nginx req/s |", rule+"---:|"
	}
	head, rule = head+" Chorus req/s | Chorus / direct |", rule+"---:|---:|"
	if a0.hasProxy {
		head, rule = head+" Chorus / bare proxy |", rule+"---:|"
	}
	if a0.hasNginx {
		head, rule = head+" Chorus / nginx |", rule+"---:|"
	}
	fmt.Fprintln(w, head+" Chorus p50 | Chorus p99 | errors |")
	fmt.Fprintln(w, rule+"---:|---:|---:|")
	for _, a := range closed {
		var b strings.Builder
		errs := 0
		fmt.Fprintf(&b, "| %s |", scenarioLabel(o, a.sc))
		for _, s := range a.targets() {
			fmt.Fprintf(&b, " %.0f |", s.Rate)
			errs += s.Errors
		}
		fmt.Fprintf(&b, " %.2f |", a.viaChorus.Ratio)
		if a.hasProxy {
			fmt.Fprintf(&b, " %.2f |", a.chorusOverProxy)
		}
		if a.hasNginx {
			fmt.Fprintf(&b, " %.2f |", a.chorusOverNgx)
		}
		fmt.Fprintf(&b, " %s | %s | %d |", us(a.chorus.Lat.P50), us(a.chorus.Lat.P99), errs)
		fmt.Fprintln(w, b.String())
	}
}

// cpuTable prints where the CPU went in every scenario.
func cpuTable(w io.Writer, o options, of string, aggs []agg) {
	fmt.Fprintf(w, "\n### CPU%s\n\n", of)
	fmt.Fprintln(w, "| scenario | target | loadgen cores | mock cores | gateway cores | other processes' cores | gateway CPU per request | loadgen CPU per request |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, a := range aggs {
		for i, s := range a.targets() {
			label := ""
			if i == 0 {
				label = scenarioLabel(o, a.sc)
			}
			gw, gwPer := "-", "-"
			if s.Target != "direct" {
				gw, gwPer = fmt.Sprintf("%.2f", s.CPU.GatewayCores), us(s.CPU.GatewayPerReq)
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %s | %.2f | %s | %s |\n", label, targetLabel(s.Target), s.CPU.LoadgenCores, s.CPU.MockCores,
				gw, s.CPU.OtherCores, gwPer, us(s.CPU.LoadgenPerReq))
		}
	}
}

// aimVerdicts prints whether what Chorus added in an open-loop scenario
// met the latency aims.
func aimVerdicts(w io.Writer, o options, a agg) {
	fmt.Fprintf(w, "%s: added by Chorus p50 %s (aim < 100 µs: %s), p99 %s (aim < 1 ms: %s)", scenarioLabel(o, a.sc),
		signedUS(a.viaChorus.P50), verdict(a.viaChorus.P50, 100*time.Microsecond), signedUS(a.viaChorus.P99), verdict(a.viaChorus.P99, time.Millisecond))
	if a.hasProxy {
		fmt.Fprintf(w, "; a bare proxy adds p50 %s, p99 %s", signedUS(a.viaProxy.P50), signedUS(a.viaProxy.P99))
	}
	if a.hasNginx {
		fmt.Fprintf(w, "; nginx adds p50 %s, p99 %s", signedUS(a.viaNginx.P50), signedUS(a.viaNginx.P99))
	}
	fmt.Fprintln(w)
}

// verdict says whether an added latency d met its aim.
func verdict(d, aim time.Duration) string {
	switch {
	case d < 0:
		return "inconclusive: direct was slower, so noise dominates"
	case d < aim:
		return "met"
	}
	return "NOT met"
}

// noiseWarnings warns when other processes or a short-of-CPU load
// generator skewed a scenario's figures.
func noiseWarnings(w io.Writer, a agg) {
	busy := 0.0
	for _, s := range a.targets() {
		busy = max(busy, s.CPU.OtherCores)
	}
	if busy > 0.15 {
		fmt.Fprintf(w, "WARNING: %s: other processes used up to %.2f cores during the measurements; the figures are skewed (run on a quiet machine)\n", a.sc, busy)
	}
	for _, s := range a.targets() {
		if s.Lag.P99 > time.Millisecond {
			fmt.Fprintf(w, "note: %s, %s: the load generator sent late (send lag p99 %s); the machine was short of CPU\n", a.sc, s.Target, us(s.Lag.P99))
		}
	}
}

// nginxAimFactor is issue #17's aim: Chorus adds at most twice what nginx
// adds (latency), and serves at least half nginx's maximum throughput.
const nginxAimFactor = 2

// nginxTable prints Chorus against the nginx baseline, the ratios issue
// #17's aims name: added latency Chorus ÷ nginx (the ratio of the medians
// over runs of each one's added figure) and maximum throughput Chorus ÷
// nginx (the median of the per-run ratios).
func nginxTable(w io.Writer, o options, of string, aggs []agg) {
	fmt.Fprintf(w, "\n### Chorus against nginx (issue #17's aims)%s\n\n", of)
	fmt.Fprintln(w, "| scenario | figure | Chorus | nginx | Chorus ÷ nginx | aim |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|")
	for _, a := range aggs {
		label := scenarioLabel(o, a.sc)
		if strings.HasPrefix(a.sc, "open") {
			fmt.Fprintf(w, "| %s | added p50 | %s | %s | %s | ≤ %d× nginx: %s |\n", label, signedUS(a.viaChorus.P50), signedUS(a.viaNginx.P50),
				ratioText(addedRatio(a.viaChorus.P50, a.viaNginx.P50)), nginxAimFactor, latencyVerdict(a.viaChorus.P50, a.viaNginx.P50))
			fmt.Fprintf(w, "| | added p99 | %s | %s | %s | ≤ 1 ms: %s |\n", signedUS(a.viaChorus.P99), signedUS(a.viaNginx.P99),
				ratioText(addedRatio(a.viaChorus.P99, a.viaNginx.P99)), verdict(a.viaChorus.P99, time.Millisecond))
			if a.direct.TTFT.P50 > 0 {
				fmt.Fprintf(w, "| | added TTFT p50 | %s | %s | %s | ≤ %d× nginx: %s |\n", signedUS(a.viaChorus.TTFT50), signedUS(a.viaNginx.TTFT50),
					ratioText(addedRatio(a.viaChorus.TTFT50, a.viaNginx.TTFT50)), nginxAimFactor, latencyVerdict(a.viaChorus.TTFT50, a.viaNginx.TTFT50))
			}
			continue
		}
		v := "NOT met"
		if a.chorusOverNgx >= 1.0/nginxAimFactor {
			v = "met"
		}
		fmt.Fprintf(w, "| %s | max req/s | %.0f | %.0f | %.2f | ≥ %.1f× nginx: %s |\n", label, a.chorus.Rate, a.nginx.Rate, a.chorusOverNgx, 1.0/nginxAimFactor, v)
	}
}

// addedRatio is what Chorus added over what nginx added; ok is false when
// nginx's figure is not positive (noise: no ratio means anything).
func addedRatio(chorus, nginx time.Duration) (ratio float64, ok bool) {
	if nginx <= 0 {
		return 0, false
	}
	return float64(chorus) / float64(nginx), true
}

func ratioText(r float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", r)
}

// latencyVerdict says whether Chorus's added latency was within
// nginxAimFactor times nginx's.
func latencyVerdict(chorus, nginx time.Duration) string {
	r, ok := addedRatio(chorus, nginx)
	switch {
	case !ok:
		return "inconclusive: nginx added nothing measurable"
	case r <= nginxAimFactor:
		return "met"
	}
	return "NOT met"
}
