package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one endpoint the scenarios call: the mock directly or Chorus.
type target struct {
	name   string // "direct" or "chorus"
	url    string // .../v1/chat/completions
	auth   string // Authorization header value
	client *http.Client

	ok, failed atomic.Int64 // every request, warm-up included
	okStream   atomic.Int64
}

// newClient returns a keep-alive client with enough idle connections for the
// closed-loop concurrency, one per target so the pools do not interfere.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// sample is one measured request.
type sample struct {
	lat  time.Duration // scheduled (open loop) or actual (closed loop) send → last byte
	ttft time.Duration // send → first content chunk (streams only)
	lag  time.Duration // actual send − scheduled send (open loop only)
	err  error
}

// call sends body to t and reads the whole answer. For streams it returns the
// time the first content chunk arrived and checks the stream ends with [DONE].
func call(ctx context.Context, t *target, body []byte, stream bool, from time.Time, rd *bufio.Reader) (s sample) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		s.err = err
		return s
	}
	req.Header["Content-Type"] = hdrJSON
	req.Header["Authorization"] = []string{t.auth}
	resp, err := t.client.Do(req)
	if err != nil {
		s.err = err
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		s.err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
		return s
	}
	if !stream {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			s.err = err
			return s
		}
		s.lat = time.Since(from)
		return s
	}
	rd.Reset(resp.Body)
	done := false
	for {
		line, err := rd.ReadSlice('\n')
		if len(line) > 0 {
			if s.ttft == 0 && isContentChunk(line) {
				s.ttft = time.Since(from)
			}
			if bytes.HasPrefix(line, dataDone) {
				done = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			s.err = err
			return s
		}
	}
	s.lat = time.Since(from)
	switch {
	case !done:
		s.err = errors.New("stream ended without data: [DONE]")
	case s.ttft == 0:
		s.err = errors.New("stream carried no content")
	}
	return s
}

var (
	hdrJSON        = []string{"application/json"}
	dataDone       = []byte("data: [DONE]")
	dataPrefix     = []byte("data: ")
	contentPresent = []byte(`"content":"`)
)

// isContentChunk reports whether an SSE line is a data line whose delta has
// non-empty content (the role chunk carries "content":"").
func isContentChunk(line []byte) bool {
	if !bytes.HasPrefix(line, dataPrefix) {
		return false
	}
	i := bytes.Index(line, contentPresent)
	return i >= 0 && i+len(contentPresent) < len(line) && line[i+len(contentPresent)] != '"'
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// window is the measured part of a run: requests sent before start are
// warm-up; the run ends at end.
type window struct{ start, end time.Time }

func (w window) seconds() float64 { return w.end.Sub(w.start).Seconds() }

// openLoop sends requests at a fixed rate, each on its own goroutine, on a
// schedule that does not wait for answers. Latency is measured from the
// scheduled send time, so a stall in the target (or in this generator)
// counts against every request it delays: no coordinated omission.
func openLoop(ctx context.Context, t *target, body []byte, stream bool, rate int, warmup, dur time.Duration) ([]sample, window) {
	interval := time.Second / time.Duration(rate)
	begin := time.Now()
	w := window{start: begin.Add(warmup), end: begin.Add(warmup + dur)}
	total := int((warmup + dur) / interval)
	measured := make([]sample, total)
	var wg sync.WaitGroup
	for i := 0; i < total; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			lag := time.Since(at)
			rd := readers.Get().(*bufio.Reader)
			s := call(ctx, t, body, stream, at, rd)
			rd.Reset(nil)
			readers.Put(rd)
			s.lag = lag
			count(t, s, stream)
			measured[i] = s
		}(i, at)
	}
	wg.Wait()
	first := int(warmup / interval)
	return measured[first:], w
}

// closedLoop runs c workers that each send the next request as soon as the
// previous answer is read, for warmup+dur; it measures what the target can
// sustain.
func closedLoop(ctx context.Context, t *target, body []byte, stream bool, c int, warmup, dur time.Duration) ([]sample, window) {
	begin := time.Now()
	w := window{start: begin.Add(warmup), end: begin.Add(warmup + dur)}
	per := make([][]sample, c)
	var wg sync.WaitGroup
	for k := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := bufio.NewReaderSize(nil, 16<<10)
			out := make([]sample, 0, 1<<14)
			for ctx.Err() == nil {
				from := time.Now()
				if !from.Before(w.end) {
					break
				}
				s := call(ctx, t, body, stream, from, rd)
				count(t, s, stream)
				// A request counts in the window it was sent in and must
				// finish within it, so throughput is not inflated by a tail.
				if !from.Before(w.start) && time.Now().Before(w.end) {
					out = append(out, s)
				}
			}
			per[k] = out
		}()
	}
	wg.Wait()
	return slices.Concat(per...), w
}

// sleep pauses the calling goroutine's thread for d with the kernel's
// high-resolution timer. Go's own timers wake through the network poller in
// whole milliseconds on Linux, which at 2,000 req/s would send requests in
// bursts of two, up to a millisecond late; nanosleep is typically within
// 100 µs, without spinning a CPU.
func sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}

func count(t *target, s sample, stream bool) {
	if s.err != nil {
		t.failed.Add(1)
		return
	}
	t.ok.Add(1)
	if stream {
		t.okStream.Add(1)
	}
}
