package cache_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/cache"
)

// faults records OnFault calls.
type faults struct {
	mu   sync.Mutex
	list []string
}

func (f *faults) add(op, kind string) {
	f.mu.Lock()
	f.list = append(f.list, op+"/"+kind)
	f.mu.Unlock()
}

func (f *faults) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.list...)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// timedGet runs Get and says how long it took.
func timedGet(c cache.Cache, ctx context.Context, key [32]byte) (bool, time.Duration) {
	start := time.Now()
	_, ok := c.Get(ctx, key)
	return ok, time.Since(start)
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRedisFaults(t *testing.T) {
	ctx := context.Background()
	const timeout = 100 * time.Millisecond
	// slack covers a loaded machine; a hang would take the client's
	// ReadTimeout (set to a minute below) or forever.
	const slack = 400 * time.Millisecond

	t.Run("ClosedPortIsAMiss", func(t *testing.T) {
		client, err := cache.NewRedisClient("redis://"+closedAddr(t)+"/0", timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		var f faults
		var logs syncBuffer
		r := cache.NewRedis(client, cache.RedisOptions{
			Timeout: timeout, Backoff: time.Hour, OnFault: f.add, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		ok, took := timedGet(r, ctx, numKey(1))
		if ok || took > timeout+slack {
			t.Fatalf("Get = %v after %v, want a miss within %v", ok, took, timeout)
		}
		if got := f.get(); len(got) != 1 || got[0] != "get/error" {
			t.Fatalf("faults = %v, want one get/error", got)
		}
		// Backed off: no call to Redis, no wait, no new fault.
		ok, took = timedGet(r, ctx, numKey(1))
		r.Set(ctx, numKey(1), textEntry(1), time.Hour)
		if ok || took > 5*time.Millisecond || len(f.get()) != 1 {
			t.Fatalf("while backed off: Get = %v after %v, faults %v", ok, took, f.get())
		}
		if n := strings.Count(logs.String(), "redis fault"); n != 1 {
			t.Fatalf("%d log lines, want 1:\n%s", n, logs.String())
		}
	})

	t.Run("HungRedisIsAMissWithinTimeout", func(t *testing.T) {
		real := mustRedis(t)
		p := newProxy(t, redisAddr(t))
		client, err := cache.NewRedisClient(redisURLVia(t, p.addr), timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		var f faults
		r := cache.NewRedis(client, cache.RedisOptions{Timeout: timeout, Backoff: 300 * time.Millisecond, Prefix: testPrefix(t, real), OnFault: f.add})
		r.Set(ctx, numKey(1), textEntry(1), time.Hour)
		if ok, _ := timedGet(r, ctx, numKey(1)); !ok {
			t.Fatal("miss through the proxy before the fault")
		}

		p.set(false, true) // Redis hangs mid-run
		ok, took := timedGet(r, ctx, numKey(1))
		if ok || took > timeout+slack {
			t.Fatalf("Get = %v after %v, want a miss within %v", ok, took, timeout)
		}
		t.Logf("hung Redis: miss after %v (timeout %v)", took, timeout)
		if got := f.get(); len(got) != 1 || got[0] != "get/timeout" && got[0] != "get/error" {
			t.Fatalf("faults = %v, want one get fault", got)
		}
		start := time.Now()
		r.Set(ctx, numKey(2), textEntry(1), time.Hour)
		if d := time.Since(start); d > 5*time.Millisecond {
			t.Fatalf("Set while backed off took %v", d)
		}

		p.set(false, false) // back
		time.Sleep(350 * time.Millisecond)
		if ok, _ := timedGet(r, ctx, numKey(1)); !ok {
			t.Fatal("no hit once Redis is back and the backoff passed")
		}
	})

	t.Run("CutRedisIsAMiss", func(t *testing.T) {
		real := mustRedis(t)
		p := newProxy(t, redisAddr(t))
		client, err := cache.NewRedisClient(redisURLVia(t, p.addr), timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		var f faults
		var logs syncBuffer
		r := cache.NewRedis(client, cache.RedisOptions{Timeout: timeout, Backoff: 200 * time.Millisecond, Prefix: testPrefix(t, real), OnFault: f.add,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		r.Set(ctx, numKey(1), textEntry(1), time.Hour)
		if ok, _ := timedGet(r, ctx, numKey(1)); !ok {
			t.Fatal("miss through the proxy before the cut")
		}
		p.set(true, false) // connections closed, new ones refused
		ok, took := timedGet(r, ctx, numKey(1))
		if ok || took > timeout+slack {
			t.Fatalf("Get = %v after %v, want a miss within %v", ok, took, timeout)
		}
		t.Logf("cut Redis: miss after %v", took)
		if len(f.get()) != 1 {
			t.Fatalf("faults = %v, want one", f.get())
		}
		p.set(false, false)
		time.Sleep(250 * time.Millisecond)
		if ok, _ := timedGet(r, ctx, numKey(1)); !ok {
			t.Fatal("no hit once Redis is back")
		}
		timedGet(r, ctx, numKey(1))
		if n, m := strings.Count(logs.String(), "redis fault"), strings.Count(logs.String(), "reachable again"); n != 1 || m != 1 {
			t.Fatalf("%d fault and %d recovery log lines, want 1 each:\n%s", n, m, logs.String())
		}
	})

	t.Run("CallerGoneIsNoFault", func(t *testing.T) {
		client, err := cache.NewRedisClient("redis://"+closedAddr(t)+"/0", timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		var f faults
		r := cache.NewRedis(client, cache.RedisOptions{Timeout: timeout, OnFault: f.add})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, ok := r.Get(cctx, numKey(1)); ok {
			t.Fatal("hit with a cancelled context")
		}
		if len(f.get()) != 0 {
			t.Fatalf("faults = %v: a request that went away is not Redis's fault", f.get())
		}
	})

	t.Run("CorruptEntryIsAMiss", func(t *testing.T) {
		real := mustRedis(t)
		prefix := testPrefix(t, real)
		var f faults
		r := cache.NewRedis(real, cache.RedisOptions{Timeout: time.Second, Prefix: prefix, OnFault: f.add})
		k := numKey(7)
		if err := real.Set(ctx, prefix+hex.EncodeToString(k[:]), "\x01garbage", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Get(ctx, k); ok {
			t.Fatal("hit on a corrupt entry")
		}
		if got := f.get(); len(got) != 1 || got[0] != "get/corrupt" {
			t.Fatalf("faults = %v, want get/corrupt", got)
		}
		// A corrupt entry is not Redis being down: the next call goes through.
		r.Set(ctx, k, textEntry(1), time.Hour)
		if _, ok := r.Get(ctx, k); !ok {
			t.Fatal("Set after a corrupt entry did not replace it")
		}
	})

	t.Run("LogIsRateLimited", func(t *testing.T) {
		client, err := cache.NewRedisClient("redis://"+closedAddr(t)+"/0", timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		var f faults
		var logs syncBuffer
		r := cache.NewRedis(client, cache.RedisOptions{
			Timeout: timeout, Backoff: time.Nanosecond, OnFault: f.add, LogEvery: time.Hour,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		for i := range 20 {
			r.Get(ctx, numKey(i))
		}
		if n := len(f.get()); n < 10 {
			t.Fatalf("%d faults counted, want one per call (20)", n)
		}
		if n := strings.Count(logs.String(), "redis fault"); n != 1 {
			t.Fatalf("%d log lines, want 1", n)
		}
	})
}
