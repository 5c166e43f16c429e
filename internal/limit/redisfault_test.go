package limit_test

import (
	"context"
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

// faultRig is a limiter on the test Redis through a proxy the test can
// slow, pause and cut, with its faults, circuit changes and log counted.
type faultRig struct {
	r      *limit.Redis
	proxy  *limittest.Proxy
	logs   *logBuffer
	faults atomic.Int64
	opens  atomic.Int64
	closes atomic.Int64
}

const (
	rigTimeout = 200 * time.Millisecond
	rigProbe   = 200 * time.Millisecond
	// rigBound is the longest a decision may take with Redis slow or gone:
	// the timeout plus slack for a busy machine. A hang would be the
	// client's own timeouts or forever.
	rigBound = rigTimeout + 400*time.Millisecond
)

func newFaultRig(t *testing.T, failOpen bool, share int) *faultRig {
	t.Helper()
	target, err := limittest.Addr(limittest.RedisURL())
	if err != nil {
		t.Skip(err)
	}
	direct := limittest.Redis(t)
	prefix := limittest.Prefix(t, direct)
	p := limittest.NewProxy(t, target)
	c, err := limit.NewRedisClient("redis://"+p.Addr, rigTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Warm the connection and load the scripts with a patient limiter, so
	// the first call of the one under test is an ordinary one.
	w := limit.NewRedis(c, limit.RedisOptions{Prefix: prefix + "warm:", Timeout: 5 * time.Second})
	req := limit.Request{KeyID: -1, KeyLimits: limit.Limits{RPM: 1e9}}
	if d, _, err := w.Admit(context.Background(), &req); err != nil || d.Degraded {
		t.Fatalf("warm up: %+v %v", d, err)
	}
	w.Close()
	rig := &faultRig{proxy: p, logs: &logBuffer{}}
	rig.r = limit.NewRedis(c, limit.RedisOptions{
		Prefix: prefix, FailOpen: failOpen, Timeout: rigTimeout, ProbeEvery: rigProbe, Share: share,
		Logger:  slog.New(slog.NewTextHandler(rig.logs, nil)),
		OnFault: func(error) { rig.faults.Add(1) },
		OnCircuit: func(open bool) {
			if open {
				rig.opens.Add(1)
			} else {
				rig.closes.Add(1)
			}
		},
	})
	t.Cleanup(rig.r.Close)
	return rig
}

// admit decides req and fails the test if that took longer than rigBound.
func (rig *faultRig) admit(t *testing.T, req limit.Request) (limit.Decision, *limit.Ticket, error) {
	t.Helper()
	start := time.Now()
	d, tk, err := rig.r.Admit(context.Background(), &req)
	if took := time.Since(start); took > rigBound {
		t.Fatalf("Admit took %v with Redis faulty, want at most %v", took, rigBound)
	}
	return d, tk, err
}

// waitShared admits req until Redis decides it again (not Degraded), or
// fails after a few seconds.
func (rig *faultRig) waitShared(t *testing.T, req limit.Request) limit.Decision {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, tk, err := rig.admit(t, req)
		tk.Done(0)
		if err == nil && !d.Degraded {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back for 5s, decisions still %+v %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisSlow: Redis answers, but after the timeout. Each decision gives
// up within the timeout and is made in process on the limit (Share 1), the
// circuit opens once after three faults in a row and logs once; when Redis
// is fast again the shared limits come back, with the state Redis kept.
func TestRedisSlow(t *testing.T) {
	rig := newFaultRig(t, true, 1)
	req := limit.Request{KeyID: 1, KeyLimits: limit.Limits{RPM: 5}}
	if d, _, err := rig.admit(t, req); err != nil || !d.Allowed || d.Degraded {
		t.Fatalf("healthy: %+v %v", d, err)
	}

	rig.proxy.Delay(3 * rigTimeout)
	allowed := 0
	for i := range 12 {
		d, _, err := rig.admit(t, req)
		if err != nil || !d.Degraded {
			t.Fatalf("decision %d with Redis slow: %+v %v, want made in process", i, d, err)
		}
		if d.Allowed {
			allowed++
		} else if d.Kind != "requests" || d.RetryAfter <= 0 {
			t.Fatalf("refused in process by %q after %v, want requests with a wait", d.Kind, d.RetryAfter)
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 12 allowed in process on 5 RPM, want 5", allowed)
	}
	if rig.faults.Load() != 12 || rig.opens.Load() != 1 {
		t.Fatalf("faults %d, circuit opened %d times; want 12 and 1", rig.faults.Load(), rig.opens.Load())
	}
	if n := rig.logs.count("redis unavailable"); n != 1 {
		t.Fatalf("%d log lines on entering the fallback, want 1:\n%s", n, rig.logs.b.String())
	}

	rig.proxy.Delay(0)
	d := rig.waitShared(t, req)
	// Redis kept its state: the request before the fault, this one, and
	// those of the three slow calls that reached it after their caller had
	// given up (a fault may count a request twice, never forget one).
	if !d.Allowed || d.Headers.RemainingRequests > 3 {
		t.Fatalf("back on Redis: %+v, want allowed with at most 3 remaining", d)
	}
	if rig.closes.Load() != 1 || rig.logs.count("redis reachable again") != 1 {
		t.Fatalf("circuit closed %d times, logs:\n%s", rig.closes.Load(), rig.logs.b.String())
	}
}

// TestRedisPaused: Redis stops answering on every connection, open and new
// (a stalled server, a network partition). Forty requests at once each get
// a decision within the bound, in process; after Resume the limits are
// shared again. Fail-closed, each is a fast 503.
func TestRedisPaused(t *testing.T) {
	for _, failOpen := range []bool{true, false} {
		name := map[bool]string{true: "FailOpen", false: "FailClosed"}[failOpen]
		t.Run(name, func(t *testing.T) {
			rig := newFaultRig(t, failOpen, 1)
			req := limit.Request{KeyID: 7, KeyLimits: limit.Limits{RPM: 10, Concurrency: 100}}
			rig.proxy.Pause()
			var wg sync.WaitGroup
			var allowed, unavailable atomic.Int64
			for range 40 {
				wg.Go(func() {
					d, tk, err := rig.admit(t, req)
					switch {
					case failOpen && (err != nil || !d.Degraded):
						t.Errorf("paused, fail-open: %+v %v, want decided in process", d, err)
					case !failOpen && chorus.ErrorCode(err) == chorus.EUNAVAILABLE:
						unavailable.Add(1)
					case !failOpen:
						t.Errorf("paused, fail-closed: %+v %v, want EUNAVAILABLE", d, err)
					}
					if d.Allowed {
						allowed.Add(1)
						tk.Done(0)
					}
				})
			}
			wg.Wait()
			if want := map[bool]int64{true: 10, false: 0}[failOpen]; allowed.Load() != want {
				t.Fatalf("%d of 40 allowed while paused, want %d", allowed.Load(), want)
			}
			if !failOpen && unavailable.Load() != 40 {
				t.Fatalf("%d of 40 refused with EUNAVAILABLE, want all", unavailable.Load())
			}
			if rig.opens.Load() != 1 {
				t.Fatalf("circuit opened %d times, want 1", rig.opens.Load())
			}
			rig.proxy.Resume()
			if d := rig.waitShared(t, req); !d.Allowed {
				t.Fatalf("resumed: %+v", d)
			}
		})
	}
}

// TestRedisFleetShare: two instances on one Redis count each other by
// their heartbeats; when Redis goes, each enforces half of every limit, so
// the two together still admit about the limit.
func TestRedisFleetShare(t *testing.T) {
	target, err := limittest.Addr(limittest.RedisURL())
	if err != nil {
		t.Skip(err)
	}
	direct := limittest.Redis(t)
	prefix := limittest.Prefix(t, direct)
	var limiters []*limit.Redis
	var proxies []*limittest.Proxy
	for range 2 {
		p := limittest.NewProxy(t, target)
		c, err := limit.NewRedisClient("redis://"+p.Addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		r := limit.NewRedis(c, limit.RedisOptions{Prefix: prefix, FailOpen: true, Timeout: time.Second,
			ProbeEvery: time.Minute, Heartbeat: 100 * time.Millisecond})
		t.Cleanup(r.Close)
		limiters, proxies = append(limiters, r), append(proxies, p)
	}
	req := limit.Request{KeyID: 3, KeyLimits: limit.Limits{RPM: 9}}
	for _, r := range limiters {
		if d, _, err := r.Admit(context.Background(), &req); err != nil || d.Degraded {
			t.Fatalf("healthy: %+v %v", d, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for limiters[0].FleetSize() != 2 || limiters[1].FleetSize() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("fleet sizes %d and %d after 5s, want 2", limiters[0].FleetSize(), limiters[1].FleetSize())
		}
		time.Sleep(20 * time.Millisecond)
	}
	total := 0
	for i, r := range limiters {
		proxies[i].Cut()
		for range 10 {
			d, _, err := r.Admit(context.Background(), &req)
			if err != nil || !d.Degraded {
				t.Fatalf("cut: %+v %v", d, err)
			}
			if d.Allowed {
				total++
			}
		}
	}
	// ⌈9/2⌉ = 5 each.
	if total != 10 {
		t.Fatalf("the two instances admitted %d in process on 9 RPM, want 5 each", total)
	}
}

// TestRedisCloseLeavesFleet: an instance that shuts down leaves the count
// at once, so the others' shares grow without waiting for its heartbeat to
// expire.
func TestRedisCloseLeavesFleet(t *testing.T) {
	c := limittest.Redis(t)
	prefix := limittest.Prefix(t, c)
	opts := limit.RedisOptions{Prefix: prefix, Timeout: time.Second, Heartbeat: 50 * time.Millisecond}
	a, b := limit.NewRedis(c, opts), limit.NewRedis(c, opts)
	t.Cleanup(a.Close)
	req := limit.Request{KeyID: 1, KeyLimits: limit.Limits{RPM: 100}}
	for _, r := range []*limit.Redis{a, b} {
		if _, _, err := r.Admit(context.Background(), &req); err != nil {
			t.Fatal(err)
		}
	}
	waitFleet := func(want int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for a.FleetSize() != want {
			if time.Now().After(deadline) {
				t.Fatalf("fleet size %d, want %d", a.FleetSize(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFleet(2)
	b.Close()
	waitFleet(1)
}

// TestRedisGoneNoHang: nothing listens where Redis was (connections
// refused at once) under a burst of parallel requests with deadlines:
// every decision comes back in time, no goroutine waits on Redis.
func TestRedisGoneNoHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := limit.NewRedisClient("redis://"+addr, rigTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	logs := &logBuffer{}
	r := limit.NewRedis(c, limit.RedisOptions{FailOpen: true, Timeout: rigTimeout, Share: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	t.Cleanup(r.Close)
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for i := range 100 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), rigBound)
			defer cancel()
			req := limit.Request{KeyID: int64(i % 4), KeyLimits: limit.Limits{RPM: 20, TPM: 1000}, Tokens: 10}
			d, tk, err := r.Admit(ctx, &req)
			if err != nil {
				t.Errorf("Admit: %v (deadline %v)", err, rigBound)
				return
			}
			if d.Allowed {
				allowed.Add(1)
				tk.Done(5)
			}
		})
	}
	wg.Wait()
	// 4 keys × 20 RPM in process.
	if allowed.Load() != 80 {
		t.Fatalf("%d of 100 allowed in process on 4 keys × 20 RPM, want 80", allowed.Load())
	}
	if n := strings.Count(logs.b.String(), "redis unavailable"); n != 1 {
		t.Fatalf("%d log lines for one outage, want 1", n)
	}
}
