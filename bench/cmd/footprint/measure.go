package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cpuFigures is one fixed-rate run.
type cpuFigures struct {
	Sent        int64   `json:"sent"`
	OK          int64   `json:"ok"`
	Seconds     float64 `json:"seconds"`
	ChorusCPU   float64 `json:"chorus_cpu_seconds"`
	ReqPerCPU   float64 `json:"requests_per_cpu_second"`
	CPUPerReq   float64 `json:"cpu_microseconds_per_request"`
	MachineBusy float64 `json:"machine_busy_fraction"` // of all CPUs, every process's work included
}

func newClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}
}

func body(model string, stream bool) []byte {
	return fmt.Appendf(nil, `{"model":%q,"stream":%v,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`,
		model, stream)
}

// call sends one request and reads the whole answer; it reports whether it
// was a 200 with a complete body.
func call(ctx context.Context, c *http.Client, url, secret string, b []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK
}

// cpuRun sends requests at o.rate for o.warmup + o.duration and reports
// the gateway's CPU time over the measured part.
func cpuRun(ctx context.Context, g *gateway, secret string, stream bool, o options) (cpuFigures, error) {
	c, b := newClient(), body("footprint-fast", stream)
	url := g.url + "/v1/chat/completions"
	var sent, ok atomic.Int64
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	defer tick.Stop()
	start := time.Now()
	measureFrom, end := start.Add(o.warmup), start.Add(o.warmup+o.duration)
	var cpu0 time.Duration
	var busy0 time.Duration
	measuring := false
	for now := range tick.C {
		if now.After(end) {
			break
		}
		if !measuring && now.After(measureFrom) {
			wg.Wait() // the warm-up's requests are not charged to the window
			measuring, cpu0, busy0 = true, mustCPU(g), machineBusy()
			measureFrom = time.Now()
			end = measureFrom.Add(o.duration)
		}
		wg.Add(1)
		go func(counted bool) {
			defer wg.Done()
			good := call(ctx, c, url, secret, b)
			if counted {
				sent.Add(1)
				if good {
					ok.Add(1)
				}
			}
		}(measuring)
	}
	wg.Wait()
	secs := time.Since(measureFrom).Seconds()
	cpu := (mustCPU(g) - cpu0).Seconds()
	f := cpuFigures{Sent: sent.Load(), OK: ok.Load(), Seconds: secs, ChorusCPU: cpu,
		MachineBusy: (machineBusy() - busy0).Seconds() / secs / float64(numCPU())}
	if cpu > 0 && f.OK > 0 {
		f.ReqPerCPU, f.CPUPerReq = float64(f.OK)/cpu, cpu/float64(f.OK)*1e6
	}
	if f.OK < f.Sent*99/100 {
		return f, fmt.Errorf("only %d of %d requests answered 200 (stream=%v): %s", f.OK, f.Sent, stream, g.tail())
	}
	return f, nil
}

func mustCPU(g *gateway) time.Duration {
	d, _ := g.cpu()
	return d
}

// holdStreams opens o.streams slow streams, waits until each has its first
// chunk, reads the gateway's memory with them open, and cancels them. The
// baseline is read just before, after the CPU runs (the heap is warm).
func holdStreams(ctx context.Context, g *gateway, secret string, o options) (int, memory, memory, error) {
	time.Sleep(o.settle)
	base, err := g.memory(ctx)
	if err != nil {
		return 0, memory{}, memory{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c, b := newClient(), body("footprint-slow", true)
	var open atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < o.streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if firstChunk(sctx, c, g.url+"/v1/chat/completions", secret, b, &open) != nil {
				return
			}
		}()
		if i%100 == 99 {
			time.Sleep(50 * time.Millisecond) // spread the opening over a few seconds
		}
	}
	deadline := time.Now().Add(o.chunkDelay*4 + 30*time.Second)
	for open.Load() < int64(o.streams) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	n := int(open.Load())
	time.Sleep(o.settle)
	held, err := g.memory(ctx)
	cancel()
	wg.Wait()
	return n, held, base, err
}

// firstChunk opens one stream, counts it open once its first content
// chunk has arrived, and then holds it until ctx ends.
func firstChunk(ctx context.Context, c *http.Client, url, secret string, b []byte, open *atomic.Int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	rd := bufio.NewReader(resp.Body)
	counted := false
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if !counted && strings.Contains(line, `"content"`) {
			counted = true
			open.Add(1)
		}
	}
}
