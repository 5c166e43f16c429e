package limit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/limit/limittest"
)

// logBuffer collects a limiter's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// faulty returns a limiter on a client for addr, with the fault counter.
// When Redis is there, the client is first warmed up (connected, scripts
// loaded) by another limiter: on a busy machine that first call can take
// longer than the short timeout under test.
func faulty(t *testing.T, addr string, failOpen bool, logs *logBuffer) (*limit.Redis, *atomic.Int64) {
	t.Helper()
	c, err := limit.NewRedisClient("redis://"+addr, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		w := limit.NewRedis(c, limit.RedisOptions{Timeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		req := limit.Request{KeyID: -1, KeyLimits: limit.Limits{RPM: 1e9}}
		for i := 0; ; i++ {
			d, _, err := w.Admit(context.Background(), &req)
			if err == nil && !d.Degraded {
				break
			}
			if i == 20 {
				t.Fatalf("Redis at %s not usable: %+v %v", addr, d, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var faults atomic.Int64
	if logs == nil {
		logs = &logBuffer{}
	}
	r := limit.NewRedis(c, limit.RedisOptions{
		Prefix: "chorus-test:" + strings.ReplaceAll(t.Name(), "/", "_") + ":", FailOpen: failOpen,
		Timeout: 200 * time.Millisecond, ProbeEvery: 200 * time.Millisecond, Share: 1,
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		OnFault: func(error) { faults.Add(1) },
	})
	t.Cleanup(r.Close)
	return r, &faults
}

var limited = limit.Request{KeyID: 1, UserID: 2, Model: "m", Tokens: 10,
	KeyLimits: limit.Limits{RPM: 60, TPM: 1000, Concurrency: 2}}

// timedAdmit admits and fails if it took longer than within.
func timedAdmit(t *testing.T, l limit.Limiter, within time.Duration) (limit.Decision, *limit.Ticket, error) {
	t.Helper()
	start := time.Now()
	req := limited
	d, tk, err := l.Admit(context.Background(), &req)
	if took := time.Since(start); took > within {
		t.Fatalf("Admit took %v, want at most %v", took, within)
	}
	return d, tk, err
}

func TestRedisUnreachable(t *testing.T) {
	addr := closedPort(t)
	t.Run("FailOpenDecidesLocally", func(t *testing.T) {
		r, faults := faulty(t, addr, true, nil)
		for range 3 {
			d, tk, err := timedAdmit(t, r, 700*time.Millisecond)
			if err != nil || !d.Allowed || !d.Degraded || tk == nil {
				t.Fatalf("got %+v %v %v, want allowed in process (degraded, with a local ticket)", d, tk, err)
			}
			tk.Done(10)
		}
		if faults.Load() != 3 {
			t.Fatalf("faults = %d, want 3", faults.Load())
		}
	})
	t.Run("FailClosedRefuses", func(t *testing.T) {
		r, faults := faulty(t, addr, false, nil)
		_, _, err := timedAdmit(t, r, 700*time.Millisecond)
		var ce *chorus.Error
		if !errors.As(err, &ce) || ce.Code != chorus.EUNAVAILABLE || ce.RetryAfter <= 0 {
			t.Fatalf("err = %v, want EUNAVAILABLE with a Retry-After", err)
		}
		_, _, err = r.TryDeployment(context.Background(), "east", limit.Limits{RPM: 1}, 1)
		if chorus.ErrorCode(err) != chorus.EUNAVAILABLE {
			t.Fatalf("TryDeployment err = %v, want EUNAVAILABLE", err)
		}
		if faults.Load() != 2 {
			t.Fatalf("faults = %d, want 2", faults.Load())
		}
	})
	t.Run("CallerCancelIsNotAFault", func(t *testing.T) {
		r, faults := faulty(t, addr, false, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := limited
		if _, _, err := r.Admit(ctx, &req); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if faults.Load() != 0 {
			t.Fatalf("faults = %d, want 0", faults.Load())
		}
	})
}

// TestRedisHung: Redis accepts connections and never answers. Every
// decision still returns within the timeout, in parallel too, decided in
// process.
func TestRedisHung(t *testing.T) {
	target, err := limittest.Addr(limittest.RedisURL())
	if err != nil {
		t.Skip(err)
	}
	limittest.Redis(t) // skip without Redis
	p := limittest.NewProxy(t, target)
	r, _ := faulty(t, p.Addr, true, nil)
	p.Blackhole()
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for range 20 {
		wg.Go(func() {
			d, _, err := timedAdmit(t, r, 700*time.Millisecond)
			if err != nil || !d.Degraded {
				t.Errorf("got %+v %v, want decided in process", d, err)
			}
			if d.Allowed {
				allowed.Add(1) // the ticket is kept: its slot stays taken
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 2 {
		t.Fatalf("%d of 20 allowed in process, want the 2 concurrent slots", allowed.Load())
	}
}

// TestRedisGoneMidRun cuts Redis off mid-run and brings it back: the
// limiter fails open (or closed) at once, logs once, and when Redis is
// back enforces the limits it had, with the state Redis kept. Failing open,
// the limit holds in process meanwhile.
func TestRedisGoneMidRun(t *testing.T) {
	target, err := limittest.Addr(limittest.RedisURL())
	if err != nil {
		t.Skip(err)
	}
	direct := limittest.Redis(t)
	for _, failOpen := range []bool{true, false} {
		name := map[bool]string{true: "FailOpen", false: "FailClosed"}[failOpen]
		t.Run(name, func(t *testing.T) {
			p := limittest.NewProxy(t, target)
			logs := &logBuffer{}
			r, faults := faulty(t, p.Addr, failOpen, logs)
			t.Cleanup(func() { limittest.DeletePrefix(t, direct, "chorus-test:"+strings.ReplaceAll(t.Name(), "/", "_")+":") })
			req := limit.Request{KeyID: 1, KeyLimits: limit.Limits{RPM: 3}}
			ctx := context.Background()
			for range 3 {
				if d, _, err := r.Admit(ctx, &req); err != nil || !d.Allowed {
					t.Fatalf("before the cut: %+v %v", d, err)
				}
			}
			if d, _, _ := r.Admit(ctx, &req); d.Allowed {
				t.Fatal("4th request allowed on 3 RPM")
			}

			p.Cut()
			allowed := 0
			for i := range 50 {
				start := time.Now()
				d, _, err := r.Admit(ctx, &req)
				if took := time.Since(start); took > 600*time.Millisecond {
					t.Fatalf("decision %d without Redis took %v", i, took)
				}
				if failOpen && (err != nil || !d.Degraded) {
					t.Fatalf("fail-open while cut: %+v %v, want a decision in process", d, err)
				}
				if !failOpen && chorus.ErrorCode(err) != chorus.EUNAVAILABLE {
					t.Fatalf("fail-closed while cut: %+v %v", d, err)
				}
				if d.Allowed {
					allowed++
				}
			}
			// In process, on the whole limit (Share 1): 3 of the 50 fit.
			if want := map[bool]int{true: 3, false: 0}[failOpen]; allowed != want {
				t.Fatalf("%d of 50 allowed while cut, want %d", allowed, want)
			}
			if faults.Load() != 50 {
				t.Fatalf("faults = %d, want 50", faults.Load())
			}
			if n := logs.count("redis unavailable"); n != 1 {
				t.Fatalf("%d fault log lines for 50 faults, want 1:\n%s", n, logs.b.String())
			}

			p.Restore()
			// Within the cooldown plus a little, Redis decides again, and
			// the key's bucket is as it was: still empty.
			deadline := time.Now().Add(3 * time.Second)
			for {
				d, _, err := r.Admit(ctx, &req)
				if err == nil && !d.Allowed && !d.Degraded {
					if d.Kind != "requests" {
						t.Fatalf("refused by %s, want requests", d.Kind)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Redis restored 3s ago, still %+v %v", d, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if n := logs.count("redis reachable again"); n != 1 {
				t.Fatalf("%d recovery log lines, want 1:\n%s", n, logs.b.String())
			}
		})
	}
}

// TestRedisLeases: a held slot stays held while its ticket lives (the
// lease is renewed); when the holder dies (stops renewing) the slot comes
// back after the lease.
func TestRedisLeases(t *testing.T) {
	c := limittest.Redis(t)
	prefix := limittest.Prefix(t, c)
	const lease = 300 * time.Millisecond
	holder := limit.NewRedis(c, limit.RedisOptions{Prefix: prefix, Lease: lease, Timeout: time.Second})
	other := limit.NewRedis(c, limit.RedisOptions{Prefix: prefix, Lease: lease, Timeout: time.Second})
	t.Cleanup(other.Close)
	ctx := context.Background()
	req := limit.Request{KeyID: 1, KeyLimits: limit.Limits{Concurrency: 1}}
	_, tk, err := holder.Admit(ctx, &req)
	if err != nil || tk == nil {
		t.Fatalf("Admit: %v %v", tk, err)
	}
	time.Sleep(3 * lease) // renewed every lease/3
	if d, _, _ := other.Admit(ctx, &req); d.Allowed {
		t.Fatal("slot free while its holder lives")
	}
	holder.Close() // the holder "crashes": no more renewals
	time.Sleep(lease + 100*time.Millisecond)
	d, tk2, err := other.Admit(ctx, &req)
	if err != nil || !d.Allowed {
		t.Fatalf("slot not back after the lease: %+v %v", d, err)
	}
	tk.Done(0) // late release of the expired lease frees nothing else
	if d, _, _ := other.Admit(ctx, &req); d.Allowed {
		t.Fatal("the expired lease's release freed the new holder's slot")
	}
	tk2.Done(0)
	if d, _, _ := other.Admit(ctx, &req); !d.Allowed {
		t.Fatalf("slot not freed by Done: %+v", d)
	}
}

func TestRedisParallelExact(t *testing.T) {
	c := limittest.Redis(t)
	clk := newClock()
	r := limit.NewRedis(c, limit.RedisOptions{Prefix: limittest.Prefix(t, c), Now: clk.Now, Timeout: 2 * time.Second})
	t.Cleanup(r.Close)
	testParallelExact(t, r)
}

// TestRedisRestarted stops a Redis of the test's own mid-run and starts
// it again, empty (no scripts, no buckets): the limiter fails open while it
// is down, then loads its scripts again (NOSCRIPT → EVAL) and limits afresh.
func TestRedisRestarted(t *testing.T) {
	srv := limittest.StartRedis(t)
	logs := &logBuffer{}
	r, faults := faulty(t, srv.Addr, true, logs)
	req := limit.Request{KeyID: 1, KeyLimits: limit.Limits{RPM: 2}}
	ctx := context.Background()
	admit := func() limit.Decision {
		t.Helper()
		start := time.Now()
		d, _, err := r.Admit(ctx, &req)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 600*time.Millisecond {
			t.Fatalf("Admit took %v", took)
		}
		return d
	}
	admit()
	admit()
	if d := admit(); d.Allowed {
		t.Fatal("3rd request allowed on 2 RPM")
	}
	srv.Stop()
	allowed := 0
	for range 10 {
		d := admit()
		if !d.Degraded {
			t.Fatalf("Redis stopped: %+v, want decided in process", d)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("Redis stopped: %d of 10 allowed in process, want the 2 RPM", allowed)
	}
	srv.Start()
	deadline := time.Now().Add(5 * time.Second)
	for d := admit(); d.Degraded; d = admit() {
		if time.Now().After(deadline) {
			t.Fatal("limiter still degraded 5s after Redis started again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The new Redis is empty: the request above was the first of 2.
	if d := admit(); !d.Allowed {
		t.Fatalf("2nd request after the restart refused: %+v", d)
	}
	if d := admit(); d.Allowed {
		t.Fatalf("limit not enforced after the restart: %+v", d)
	}
	if faults.Load() < 10 || logs.count("redis reachable again") != 1 {
		t.Fatalf("faults %d, logs:\n%s", faults.Load(), logs.b.String())
	}
}
