package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The two long modes (-mode): "streams" holds many slow streams open at
// once and follows Chorus's memory; "soak" runs a steady mixed load for a
// long time and follows its memory and goroutines for growth. Both end with
// the usage and ledger check of every run (verifyUsage).

// procMemory is what the long modes follow of the Chorus process.
type procMemory struct {
	at         time.Duration // since the mode began
	rss        int64         // VmRSS, bytes
	goroutines int64         // go_goroutines from /metrics (-1 when unread)
	heap       int64         // go_memstats_heap_inuse_bytes (-1 when unread)
}

// readMemory reads pid's RSS from /proc and, when metricsURL is set, the
// goroutines and heap from Chorus's /metrics.
func readMemory(ctx context.Context, pid int, metricsURL string) procMemory {
	m := procMemory{goroutines: -1, heap: -1}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				m.rss = kb << 10
			}
		}
	}
	if metricsURL == "" {
		return m
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return m
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			m.goroutines = int64(f)
		case "go_memstats_heap_inuse_bytes":
			m.heap = int64(f)
		}
	}
	return m
}

// follow samples Chorus's memory every interval until ctx ends.
type follower struct {
	mu      sync.Mutex
	samples []procMemory
	peak    procMemory // the highest RSS and goroutines seen (each its own maximum)
}

func (e *env) follow(ctx context.Context, begin time.Time, interval time.Duration, f *follower) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m := readMemory(ctx, e.chorus.cmd.Process.Pid, e.chorusURL+"/metrics")
		m.at = time.Since(begin)
		f.mu.Lock()
		f.samples = append(f.samples, m)
		f.peak.rss = max(f.peak.rss, m.rss)
		f.peak.goroutines = max(f.peak.goroutines, m.goroutines)
		f.peak.heap = max(f.peak.heap, m.heap)
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func mibs(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// runStreams opens o.streams slow streams through Chorus, evenly over
// o.openOver, reads each to its end, and reports Chorus's RSS before, at
// its peak and after they all ended, and the usage check.
func (e *env) runStreams(ctx context.Context) error {
	o := e.o
	time.Sleep(2 * time.Second)
	idle := readMemory(ctx, e.chorus.cmd.Process.Pid, e.chorusURL+"/metrics")
	fmt.Printf("idle: RSS %s, heap %s, %d goroutines\n", mibs(idle.rss), mibs(idle.heap), idle.goroutines)
	fmt.Printf("opening %d streams over %s; each %d chunks, one every %s\n", o.streams, o.openOver, o.chunks, o.chunkDelay)
	begin := time.Now()
	fctx, stopFollow := context.WithCancel(ctx)
	var f follower
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() { defer fwg.Done(); e.follow(fctx, begin, 500*time.Millisecond, &f) }()

	body := requestBody(true)
	okBefore := e.through.ok.Load()
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	interval := o.openOver / time.Duration(o.streams)
	for i := range o.streams {
		at := begin.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := readers.Get().(*bufio.Reader)
			s := call(ctx, e.through, body, true, at, rd)
			rd.Reset(nil)
			readers.Put(rd)
			count(e.through, s, true)
			if s.err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, s.err.Error())
			}
		}()
	}
	progress := time.NewTicker(5 * time.Second)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-progress.C:
			f.mu.Lock()
			last := f.samples[len(f.samples)-1]
			f.mu.Unlock()
			fmt.Printf("  %5.0fs: RSS %s, %d goroutines, %d streams done\n", time.Since(begin).Seconds(), mibs(last.rss),
				last.goroutines, e.through.ok.Load()-okBefore+failed.Load())
		}
	}
	progress.Stop()
	ended := time.Since(begin)
	time.Sleep(o.settle)
	stopFollow()
	fwg.Wait()
	after := readMemory(ctx, e.chorus.cmd.Process.Pid, e.chorusURL+"/metrics")
	ok := e.through.ok.Load() - okBefore

	fmt.Printf("\n| Chorus memory, %d slow streams (%d chunks, one every %s, opened over %s) | RSS | Go heap in use | goroutines |\n",
		o.streams, o.chunks, o.chunkDelay, o.openOver)
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| idle, before | %s | %s | %d |\n", mibs(idle.rss), mibs(idle.heap), idle.goroutines)
	fmt.Printf("| peak, while open | **%s** | %s | %d |\n", mibs(f.peak.rss), mibs(f.peak.heap), f.peak.goroutines)
	fmt.Printf("| %s after the last ended | %s | %s | %d |\n", o.settle, mibs(after.rss), mibs(after.heap), after.goroutines)
	fmt.Printf("\nstreams complete: %d of %d (%d failed) in %.1fs; peak RSS over idle per stream: %.1f KiB\n",
		ok, o.streams, failed.Load(), ended.Seconds(), float64(f.peak.rss-idle.rss)/float64(o.streams)/1024)
	if v := firstErr.Load(); v != nil {
		fmt.Println("first failure:", v)
	}
	if err := e.verifyUsage(ctx); err != nil {
		return err
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d streams failed", failed.Load(), o.streams)
	}
	return nil
}

// runSoak sends a steady mixed load (every fourth request streamed) at
// o.rate for o.warmup + o.duration, samples Chorus's memory and goroutines
// every o.sample, and reports their growth after the warm-up.
func (e *env) runSoak(ctx context.Context) error {
	o := e.o
	total := o.warmup + o.duration
	fmt.Printf("soak: %d req/s (every 4th streamed, %d chunks), %s warm-up + %s measured, a sample every %s\n",
		o.rate, o.chunks, o.warmup, o.duration, o.sample)
	begin := time.Now()
	fctx, stopFollow := context.WithCancel(ctx)
	var f follower
	var fwg sync.WaitGroup
	fwg.Add(1)
	go func() { defer fwg.Done(); e.follow(fctx, begin, o.sample, &f) }()
	plain, stream := requestBody(false), requestBody(true)
	interval := time.Second / time.Duration(o.rate)
	var wg sync.WaitGroup
	var lats []time.Duration // per request, for the final percentiles
	var latMu sync.Mutex
	printed := 0
	for i := 0; ; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if at.Sub(begin) >= total || ctx.Err() != nil {
			break
		}
		if d := time.Until(at); d > 0 {
			sleep(d)
		}
		isStream := i%4 == 3
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := readers.Get().(*bufio.Reader)
			b := plain
			if isStream {
				b = stream
			}
			s := call(ctx, e.through, b, isStream, at, rd)
			rd.Reset(nil)
			readers.Put(rd)
			count(e.through, s, isStream)
			if s.err == nil && at.Sub(begin) >= o.warmup && !isStream {
				latMu.Lock()
				lats = append(lats, s.lat)
				latMu.Unlock()
			}
		}()
		if i%o.rate == 0 {
			f.mu.Lock()
			for ; printed < len(f.samples); printed++ {
				m := f.samples[printed]
				fmt.Printf("  %6.0fs: RSS %s, heap %s, %d goroutines; answered %d, failed %d\n", m.at.Seconds(), mibs(m.rss),
					mibs(m.heap), m.goroutines, e.through.ok.Load(), e.through.failed.Load())
			}
			f.mu.Unlock()
		}
	}
	wg.Wait()
	stopFollow()
	fwg.Wait()

	// Growth: the last third of the measured samples against the first
	// sample after the warm-up.
	var post []procMemory
	for _, m := range f.samples {
		if m.at >= o.warmup {
			post = append(post, m)
		}
	}
	if len(post) < 3 {
		return fmt.Errorf("soak: only %d samples after the warm-up; lengthen -duration or shorten -sample", len(post))
	}
	first := post[0]
	tail := post[len(post)-max(1, len(post)/3):]
	var rss, gor int64
	for _, m := range tail {
		rss += m.rss
		gor += m.goroutines
	}
	rss /= int64(len(tail))
	gor /= int64(len(tail))
	growth := func(a, b int64) float64 { return 100 * (float64(a)/float64(b) - 1) }
	ps := percentiles(lats)
	fmt.Printf("\n| soak: %d req/s for %s after %s warm-up | after warm-up | last third (mean) | growth |\n", o.rate, o.duration, o.warmup)
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| RSS | %s | %s | **%+.1f %%** |\n", mibs(first.rss), mibs(rss), growth(rss, first.rss))
	fmt.Printf("| goroutines | %d | %d | **%+.1f %%** |\n", first.goroutines, gor, growth(gor, first.goroutines))
	fmt.Printf("\npeak RSS %s; non-streamed latency after warm-up p50 %s, p99 %s (%d requests); answered %d, failed %d\n",
		mibs(f.peak.rss), ps[0], ps[1], len(lats), e.through.ok.Load(), e.through.failed.Load())
	var problems []string
	if g := growth(rss, first.rss); g >= 10 {
		problems = append(problems, fmt.Sprintf("RSS grew %.1f %% after the warm-up (aim < 10 %%)", g))
	}
	if g := growth(gor, first.goroutines); g >= 10 && gor-first.goroutines > 20 {
		problems = append(problems, fmt.Sprintf("goroutines grew %.1f %% after the warm-up (aim < 10 %%)", g))
	}
	if err := e.verifyUsage(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	if n := e.through.failed.Load(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d requests failed", n))
	}
	if len(problems) > 0 {
		return fmt.Errorf("soak: %s", strings.Join(problems, "; "))
	}
	return nil
}

// percentiles returns the p50 and p99 of ds (sorted in place).
func percentiles(ds []time.Duration) [2]time.Duration {
	if len(ds) == 0 {
		return [2]time.Duration{}
	}
	slices.Sort(ds)
	return [2]time.Duration{ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]}
}
