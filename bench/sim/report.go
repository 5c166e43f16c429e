package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Aims of the simulation benchmark (issue 3, item 7).
const (
	AimQualityRatio = 0.98  // the cascade keeps at least 98% of the strongest model's quality
	AimCostRatio    = 0.40  // ... at no more than 40% of its cost
	AimErrorRate    = 0.001 // fallback: client-visible errors below 0.1% while a deployment works
	AimP99Reduction = 0.40  // hedging cuts the p99 by at least 40%
)

// Report is a whole benchmark run; any part may be nil when not run.
type Report struct {
	Cascade  *CascadeResult
	Fallback *FallbackResult
	Hedge    *HedgeResult
}

// Aim is one target and whether the run met it.
type Aim struct {
	Name     string
	Target   string
	Measured string
	Met      bool
}

// Aims checks the run against the aims.
func (r *Report) Aims() []Aim {
	var out []Aim
	if c := r.Cascade; c != nil {
		out = append(out,
			Aim{"cascade quality vs " + c.Strongest.Name, fmt.Sprintf("≥ %.0f%% of it", AimQualityRatio*100),
				fmt.Sprintf("%.1f%% (%s vs %s)", c.QualityRatio()*100, pct(c.Cascade.Quality()), pct(c.Strongest.Quality())), c.QualityRatio() >= AimQualityRatio},
			Aim{"cascade cost vs " + c.Strongest.Name, fmt.Sprintf("≤ %.0f%% of it", AimCostRatio*100),
				fmt.Sprintf("%.1f%%", c.CostRatio()*100), c.Strongest.Cost > 0 && c.CostRatio() <= AimCostRatio},
		)
	}
	if f := r.Fallback; f != nil {
		for _, run := range f.Runs {
			out = append(out, Aim{"fallback client errors: " + run.Name, fmt.Sprintf("< %.1f%%", AimErrorRate*100),
				fmt.Sprintf("%.3f%% (%d of %d)", run.ErrorRate()*100, run.Failed, run.Requests), run.ErrorRate() < AimErrorRate})
		}
	}
	if h := r.Hedge; h != nil && len(h.Arms) >= 2 {
		out = append(out, Aim{"p99 cut by " + h.Arms[1].Name, fmt.Sprintf("≥ %.0f%%", AimP99Reduction*100),
			fmt.Sprintf("%.1f%% (%s → %s)", h.Reduction()*100, ms(h.Arms[0].Latency.P99), ms(h.Arms[1].Latency.P99)), h.Reduction() >= AimP99Reduction})
	}
	return out
}

// Missed returns the aims the run did not meet.
func (r *Report) Missed() []Aim {
	var out []Aim
	for _, a := range r.Aims() {
		if !a.Met {
			out = append(out, a)
		}
	}
	return out
}

// Markdown writes the results as Markdown tables.
func (r *Report) Markdown(w io.Writer) {
	if c := r.Cascade; c != nil {
		writeCascade(w, c)
	}
	if f := r.Fallback; f != nil {
		writeFallback(w, f)
	}
	if h := r.Hedge; h != nil {
		writeHedge(w, h)
	}
	fmt.Fprintf(w, "### Aims\n\n| aim | target | measured | met |\n|---|---|---|---|\n")
	for _, a := range r.Aims() {
		met := "yes"
		if !a.Met {
			met = "**NO**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", a.Name, a.Target, a.Measured, met)
	}
	fmt.Fprintln(w)
}

func writeCascade(w io.Writer, c *CascadeResult) {
	fmt.Fprintf(w, "### (a) Cascade vs always the strongest model (%d questions)\n\n", c.Cascade.Requests)
	fmt.Fprintf(w, "| tier | quality | price in / out (µcr per M tokens) | latency |\n|---|---|---|---|\n")
	for _, t := range c.Tiers {
		fmt.Fprintf(w, "| %s | %v | %s / %s | %v ms + up to %v%% |\n", t.Name, t.Settings["quality"],
			thousands(t.InputPrice), thousands(t.OutputPrice), t.Settings["latency_ms"], t.Settings["latency_jitter"].(float64)*100)
	}
	fmt.Fprintf(w, "\n| | quality | failed | cost (credits) | cost per request (µcr) | upstream calls per request | p50 | p95 | p99 |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range []*Arm{&c.Cascade, &c.Strongest} {
		fmt.Fprintf(w, "| %s | %s | %d | %.4f | %.0f | %.2f | %s | %s | %s |\n", a.Name, pct(a.Quality()), a.Failed,
			float64(a.Cost)/1e6, a.CostPerRequest(), ratio(a.Calls, a.Requests), ms(a.Latency.P50), ms(a.Latency.P95), ms(a.Latency.P99))
	}
	fmt.Fprintf(w, "\nCascade / strongest: quality %.1f%%, cost %.1f%%. The strongest model can answer %d of the %d questions (%s).\n\n",
		c.QualityRatio()*100, c.CostRatio()*100, c.Expected, c.Strongest.Requests, pct(ratio(c.Expected, c.Strongest.Requests)))
	fmt.Fprintf(w, "Cascade answers by tier (x-chorus-cascade-tier):")
	for i, n := range c.ByTier {
		fmt.Fprintf(w, " %d (%s) %d, %s;", i+1, c.Tiers[i].Name, n, pct(ratio(n, c.Cascade.Requests)))
	}
	fmt.Fprintf(w, "\n\n")
}

func writeFallback(w io.Writer, f *FallbackResult) {
	fmt.Fprintf(w, "### (b) Fallback under injected upstream errors (retries %d, breaker: %s)\n\n", f.Config.Retries, f.Breaker)
	fmt.Fprintf(w, "| run | requests | client errors | error rate | upstream calls per request | requests by calls | p50 | p99 | took |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range f.Runs {
		fmt.Fprintf(w, "| %s | %d | %d %s | %.3f%% | %.3f | %s | %s | %s | %.1f s |\n", run.Name, run.Requests, run.Failed, statuses(run.ByStatus),
			run.ErrorRate()*100, ratio(run.Calls, run.Requests), histogram(run.ByCalls), ms(run.Latency.P50), ms(run.Latency.P99), run.Duration.Seconds())
	}
	fmt.Fprintf(w, "\n| run | deployment | injected errors | calls | failed | circuit openings | closed before the cooldown ended | open for | first opened | calls after it first opened |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range f.Runs {
		for _, d := range run.Deployments {
			first := "never"
			if !d.Circuit.FirstOpen.IsZero() {
				first = fmt.Sprintf("after %d calls", d.Calls-d.CallsAfterOpen)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f%% | %d | %d | %d | %d | %s | %s | %d |\n", run.Name, d.Name, d.ErrorRate*100, d.Calls, d.Failures,
				d.Circuit.Openings, d.Circuit.ClosedEarly, span(d.Circuit.OpenFor), first, d.CallsAfterOpen)
		}
	}
	fmt.Fprintln(w)
}

func writeHedge(w io.Writer, h *HedgeResult) {
	c := h.Config
	fmt.Fprintf(w, "### (c) Hedging under a heavy-tailed upstream (%d requests per arm, %d in flight)\n\n", c.Requests, c.Concurrency)
	fmt.Fprintf(w, "Two deployments, each %d ms + up to %.0f%%, or %d ms with probability %.0f%%; hedge delay %d ms (p95 of the normal path).\n\n",
		c.LatencyMS, c.LatencyJitter*100, c.TailLatencyMS, c.TailRate*100, h.DelayMS)
	fmt.Fprintf(w, "| arm | p50 | p95 | p99 | max | failed | upstream calls | cancelled losers | extra calls | cost (credits) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range h.Arms {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d | %d | %d | %s | %.4f |\n", a.Name, ms(a.Latency.P50), ms(a.Latency.P95), ms(a.Latency.P99),
			ms(a.Latency.Max), a.Failed, a.Calls, a.Canceled, pct(a.ExtraCalls()), float64(a.Cost)/1e6)
	}
	fmt.Fprintf(w, "\np99 reduction (%s vs %s): %.1f%%\n\n", h.Arms[1].Name, h.Arms[0].Name, h.Reduction()*100)
}

// span writes a duration in ms below a second, else in seconds.
func span(d time.Duration) string {
	if d < time.Second {
		return ms(d)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// thousands writes n with thin separators: 1,000,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// statuses writes error counts by status: "(503: 4, 0: 1)".
func statuses(m map[int]int) string {
	if len(m) == 0 {
		return ""
	}
	return "(" + histogram(m) + ")"
}

// histogram writes "k: n" pairs in key order.
func histogram(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
