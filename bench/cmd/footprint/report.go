package main

import (
	"fmt"
	"io"
	"strings"
)

// result is every figure of one footprint run.
type result struct {
	CPUs      int        `json:"cpus"`
	Rate      int        `json:"rate"`
	Duration  string     `json:"duration"`
	IdleStart memory     `json:"idle_after_start"`
	Plain     cpuFigures `json:"non_streaming"`
	Stream    cpuFigures `json:"streaming"`
	Streams   int        `json:"streams_held"`
	Baseline  memory     `json:"before_streams"`
	Held      memory     `json:"with_streams"`
}

const mib = 1 << 20

// print writes the figures as Markdown tables.
func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "\n%d CPUs. Chorus on SQLite, billing fast, every request a paying customer's.\n\n", r.CPUs)
	fmt.Fprintf(w, "| load (%d req/s for %s) | answered | Chorus CPU | requests per CPU-second | CPU per request | machine busy |\n", r.Rate, r.Duration)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, row := range []struct {
		name string
		f    cpuFigures
	}{{"non-streaming", r.Plain}, {"streaming, 16 chunks", r.Stream}} {
		fmt.Fprintf(w, "| %s | %d of %d | %.2f s | **%.0f** | %.0f µs | %.0f%% |\n", row.name, row.f.OK, row.f.Sent,
			row.f.ChorusCPU, row.f.ReqPerCPU, row.f.CPUPerReq, 100*row.f.MachineBusy)
	}
	fmt.Fprintf(w, "\n| memory | RSS | Go heap in use | Go stacks | goroutines |\n|---|---:|---:|---:|---:|\n")
	for _, row := range []struct {
		name string
		m    memory
	}{{"idle, after start", r.IdleStart}, {"after the CPU runs, no request open", r.Baseline},
		{fmt.Sprintf("%d streams open", r.Streams), r.Held}} {
		fmt.Fprintf(w, "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %d |\n", row.name,
			float64(row.m.RSS)/mib, float64(row.m.HeapInuse)/mib, float64(row.m.StackInuse)/mib, row.m.Goroutines)
	}
	if r.Streams > 0 {
		per := func(a, b int64) float64 { return float64(a-b) / float64(r.Streams) / 1024 }
		fmt.Fprintf(w, "\nPer open stream: RSS %.1f KiB, heap %.1f KiB, stacks %.1f KiB, %.1f goroutines.\n",
			per(r.Held.RSS, r.Baseline.RSS), per(r.Held.HeapInuse, r.Baseline.HeapInuse),
			per(r.Held.StackInuse, r.Baseline.StackInuse), float64(r.Held.Goroutines-r.Baseline.Goroutines)/float64(r.Streams))
	}
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
