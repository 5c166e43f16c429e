package auth_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/limit/limittest"
)

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// throttleBackends runs fn against the in-process throttle and the Redis
// one (skipped without Redis).
func throttleBackends(t *testing.T, fn func(t *testing.T, newThrottle func(o auth.ThrottleOptions) *auth.Throttle)) {
	t.Run("memory", func(t *testing.T) {
		fn(t, auth.NewThrottle)
	})
	t.Run("redis", func(t *testing.T) {
		c := limittest.Redis(t)
		fn(t, func(o auth.ThrottleOptions) *auth.Throttle {
			o.Redis, o.Prefix, o.Timeout = c, limittest.Prefix(t, c), 2*time.Second
			return auth.NewThrottle(o)
		})
	})
}

func TestThrottle(t *testing.T) {
	ctx := context.Background()
	throttleBackends(t, func(t *testing.T, newThrottle func(o auth.ThrottleOptions) *auth.Throttle) {
		t.Run("AccountBurstThenRefill", func(t *testing.T) {
			clk := newFakeClock()
			th := newThrottle(auth.ThrottleOptions{Account: auth.ThrottleRule{Max: 10, Window: 15 * time.Minute}, Now: clk.Now})
			for i := range 10 {
				if _, err := th.Begin(ctx, th.Account("Ada@Example.com")); err != nil {
					t.Fatalf("attempt %d: %v", i+1, err)
				}
			}
			_, err := th.Begin(ctx, th.Account(" ada@example.COM "))
			wantRateLimited(t, err, 90*time.Second)
			// Another account is counted on its own.
			if _, err := th.Begin(ctx, th.Account("grace@example.com")); err != nil {
				t.Fatalf("other account: %v", err)
			}
			// One allowance comes back after Window/Max.
			clk.Advance(90 * time.Second)
			if _, err := th.Begin(ctx, th.Account("ada@example.com")); err != nil {
				t.Fatalf("after 90s: %v", err)
			}
			_, err = th.Begin(ctx, th.Account("ada@example.com"))
			wantRateLimited(t, err, 90*time.Second)
			// All of them after the window.
			clk.Advance(15 * time.Minute)
			for i := range 10 {
				if _, err := th.Begin(ctx, th.Account("ada@example.com")); err != nil {
					t.Fatalf("after the window, attempt %d: %v", i+1, err)
				}
			}
		})
		t.Run("SuccessGivesBack", func(t *testing.T) {
			clk := newFakeClock()
			th := newThrottle(auth.ThrottleOptions{Account: auth.ThrottleRule{Max: 3, Window: time.Hour}, IP: auth.ThrottleRule{Max: 5, Window: time.Hour}, Now: clk.Now})
			for i := range 20 {
				a, err := th.Begin(ctx, th.Account("ada@example.com"), th.IP("192.0.2.1"))
				if err != nil {
					t.Fatalf("successful attempt %d: %v", i+1, err)
				}
				a.Succeeded(ctx)
				a.Succeeded(ctx) // only the first counts
			}
			for i := range 3 {
				if _, err := th.Begin(ctx, th.Account("ada@example.com"), th.IP("192.0.2.1")); err != nil {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			_, err := th.Begin(ctx, th.Account("ada@example.com"), th.IP("192.0.2.1"))
			wantRateLimited(t, err, 20*time.Minute)
		})
		t.Run("AllOrNothing", func(t *testing.T) {
			clk := newFakeClock()
			th := newThrottle(auth.ThrottleOptions{Account: auth.ThrottleRule{Max: 2, Window: time.Hour}, IP: auth.ThrottleRule{Max: 3, Window: time.Hour}, Now: clk.Now})
			// The address's allowance runs out across accounts.
			for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
				if _, err := th.Begin(ctx, th.Account(email), th.IP("192.0.2.7")); err != nil {
					t.Fatalf("%s: %v", email, err)
				}
			}
			_, err := th.Begin(ctx, th.Account("d@example.com"), th.IP("192.0.2.7"))
			wantRateLimited(t, err, 20*time.Minute)
			// The refused attempt took nothing from d's account.
			for i := range 2 {
				if _, err := th.Begin(ctx, th.Account("d@example.com"), th.IP("192.0.2.8")); err != nil {
					t.Fatalf("d from another address, attempt %d: %v", i+1, err)
				}
			}
		})
		t.Run("IPv6Per64", func(t *testing.T) {
			clk := newFakeClock()
			th := newThrottle(auth.ThrottleOptions{IP: auth.ThrottleRule{Max: 2, Window: time.Hour}, Now: clk.Now})
			for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
				if _, err := th.Begin(ctx, th.IP(ip)); err != nil {
					t.Fatalf("%s: %v", ip, err)
				}
			}
			_, err := th.Begin(ctx, th.IP("2001:db8:1:2:abcd::1"))
			wantRateLimited(t, err, 30*time.Minute)
			if _, err := th.Begin(ctx, th.IP("2001:db8:1:3::1")); err != nil {
				t.Fatalf("another /64: %v", err)
			}
			// IPv4-mapped IPv6 is the IPv4 address.
			if _, err := th.Begin(ctx, th.IP("::ffff:192.0.2.1"), th.IP("192.0.2.1")); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("Concurrent", func(t *testing.T) {
			clk := newFakeClock()
			th := newThrottle(auth.ThrottleOptions{Account: auth.ThrottleRule{Max: 10, Window: 15 * time.Minute}, Now: clk.Now})
			var wg sync.WaitGroup
			var admitted atomic.Int64
			for range 50 {
				wg.Go(func() {
					if _, err := th.Begin(ctx, th.Account("race@example.com")); err == nil {
						admitted.Add(1)
					}
				})
			}
			wg.Wait()
			if got := admitted.Load(); got != 10 {
				t.Errorf("admitted %d of 50 parallel attempts, want exactly 10", got)
			}
		})
		t.Run("Disabled", func(t *testing.T) {
			th := newThrottle(auth.ThrottleOptions{})
			for range 100 {
				if _, err := th.Begin(ctx, th.Account("x@example.com"), th.IP("192.0.2.1")); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
}

// TestThrottleRedisDown: with Redis gone the throttle counts in process
// (degraded to one instance), never open.
func TestThrottleRedisDown(t *testing.T) {
	c := limittest.Redis(t)
	addr, err := limittest.Addr(limittest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := limittest.NewProxy(t, addr)
	pc, err := limit.NewRedisClient("redis://"+proxy.Addr, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	clk := newFakeClock()
	th := auth.NewThrottle(auth.ThrottleOptions{Account: auth.ThrottleRule{Max: 3, Window: time.Hour},
		Redis: pc, Prefix: limittest.Prefix(t, c), Timeout: 100 * time.Millisecond, Now: clk.Now, Logger: testLogger()})
	ctx := context.Background()
	proxy.Cut()
	for i := range 3 {
		if _, err := th.Begin(ctx, th.Account("down@example.com")); err != nil {
			t.Fatalf("attempt %d with Redis down: %v", i+1, err)
		}
	}
	_, err = th.Begin(ctx, th.Account("down@example.com"))
	wantRateLimited(t, err, 20*time.Minute)
}

func wantRateLimited(t *testing.T, err error, retry time.Duration) {
	t.Helper()
	e, ok := err.(*chorus.Error)
	if !ok || e.Code != chorus.ERATELIMIT {
		t.Fatalf("got %v, want ERATELIMIT", err)
	}
	if d := e.RetryAfter - retry; d < -time.Second || d > time.Second {
		t.Errorf("RetryAfter = %v, want %v", e.RetryAfter, retry)
	}
	if e.Message == "" || containsAny(e.Message, "account", "exist", "unknown") {
		t.Errorf("message %q must not speak of the account's existence", e.Message)
	}
}

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
