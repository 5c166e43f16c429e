package bench_test

// Rate limiter benchmarks: what one decision costs, in process and on
// Redis, and how it grows with the number of subjects.
//
//	go test ./bench -run '^$' -bench 'Admit|LimitRequest' -benchmem
//
// Admit is one decision for a key limited on requests and tokens; Request
// is what one API request costs the limiter: Admit and Done, on a key (RPM,
// TPM, concurrency) and its user (RPM, TPM). keys=N spreads the calls over
// N keys, every one already known to the limiter, so the maps (or Redis)
// hold N subjects throughout (see frozen).

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/limit/limittest"
)

// frozen returns a clock that reads the time, as a real one does, but
// always answers the same instant: with limits this high a real clock would
// leave every bucket full again microseconds after its last use, and idle
// subjects are dropped, so the maps would not hold N subjects at all.
func frozen() func() time.Time {
	at := time.Now()
	return func() time.Time {
		_ = time.Now()
		return at
	}
}

// Limits high enough that nothing is refused: the benchmarks measure the
// allowed path, which every admitted request takes.
var (
	benchKey  = limit.Limits{RPM: 1e9, TPM: 1e12, Concurrency: 1e6}
	benchUser = limit.Limits{RPM: 1e9, TPM: 1e12}
)

func admitRequest(k int64) limit.Request {
	return limit.Request{KeyID: k, Tokens: 1000, KeyLimits: limit.Limits{RPM: benchKey.RPM, TPM: benchKey.TPM}}
}

func fullRequest(k int64) limit.Request {
	return limit.Request{KeyID: k, UserID: k/4 + 1, Model: "bench-model", Tokens: 1000, KeyLimits: benchKey, UserLimits: benchUser}
}

// fill makes every one of n keys known to l, from several goroutines.
func fill(b *testing.B, l limit.Limiter, n int64) {
	b.Helper()
	const workers = 16
	var wg sync.WaitGroup
	for w := range int64(workers) {
		wg.Go(func() {
			for k := w; k < n; k += workers {
				r := fullRequest(k)
				d, tk, err := l.Admit(context.Background(), &r)
				if err != nil || !d.Allowed {
					b.Errorf("fill key %d: %+v %v", k, d, err)
					return
				}
				tk.Done(1000)
			}
		})
	}
	wg.Wait()
}

var keyCounts = []int64{1, 1_000, 100_000, 1_000_000}

func BenchmarkMemoryAdmit(b *testing.B) {
	for _, n := range keyCounts {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			m := limit.NewMemory(frozen())
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			fill(b, m, n)
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			perSubject := float64(after.HeapAlloc-before.HeapAlloc) / float64(m.Len())
			ctx := context.Background()
			var k int64
			for b.Loop() {
				r := admitRequest(k)
				if d, _, _ := m.Admit(ctx, &r); !d.Allowed {
					b.Fatal("refused")
				}
				if k++; k == n {
					k = 0
				}
			}
			b.ReportMetric(perSubject, "heap-B/subject")
		})
	}
}

func BenchmarkMemoryLimitRequest(b *testing.B) {
	for _, n := range keyCounts {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			m := limit.NewMemory(frozen())
			fill(b, m, n)
			ctx := context.Background()
			var k int64
			for b.Loop() {
				r := fullRequest(k)
				d, tk, _ := m.Admit(ctx, &r)
				if !d.Allowed {
					b.Fatal("refused")
				}
				tk.Done(800)
				if k++; k == n {
					k = 0
				}
			}
		})
	}
}

// BenchmarkMemoryAdmitParallel shows the shards at work: every core
// deciding at once, on different keys.
func BenchmarkMemoryAdmitParallel(b *testing.B) {
	const n = 100_000
	m := limit.NewMemory(frozen())
	fill(b, m, n)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		k := time.Now().UnixNano() % n
		for pb.Next() {
			r := admitRequest(k)
			m.Admit(ctx, &r)
			if k++; k == n {
				k = 0
			}
		}
	})
}

func benchRedis(b *testing.B) (*limit.Redis, func()) {
	b.Helper()
	c := limittest.Redis(b)
	// Decisions on a frozen clock (see frozen), passed to the script: Redis
	// does not read its own TIME (about 1 µs of its CPU).
	at := time.Now()
	r := limit.NewRedis(c, limit.RedisOptions{Prefix: limittest.Prefix(b, c), Timeout: time.Second,
		Now: func() time.Time { return at }})
	return r, r.Close
}

func BenchmarkRedisAdmit(b *testing.B) {
	for _, n := range []int64{1, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r, done := benchRedis(b)
			defer done()
			fill(b, r, n)
			ctx := context.Background()
			var k int64
			for b.Loop() {
				req := admitRequest(k)
				if d, _, err := r.Admit(ctx, &req); err != nil || !d.Allowed {
					b.Fatalf("%+v %v", d, err)
				}
				if k++; k == n {
					k = 0
				}
			}
		})
	}
}

func BenchmarkRedisLimitRequest(b *testing.B) {
	for _, n := range []int64{1, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r, done := benchRedis(b)
			defer done()
			fill(b, r, n)
			ctx := context.Background()
			var k int64
			for b.Loop() {
				req := fullRequest(k)
				d, tk, err := r.Admit(ctx, &req)
				if err != nil || !d.Allowed {
					b.Fatalf("%+v %v", d, err)
				}
				tk.Done(800)
				if k++; k == n {
					k = 0
				}
			}
		})
	}
}

// BenchmarkRedisAdmitParallel is the throughput of one instance's
// decisions with many requests in flight (one round trip each).
func BenchmarkRedisAdmitParallel(b *testing.B) {
	const n = 100_000
	r, done := benchRedis(b)
	defer done()
	fill(b, r, n)
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		k := time.Now().UnixNano() % n
		for pb.Next() {
			req := admitRequest(k)
			r.Admit(ctx, &req)
			if k++; k == n {
				k = 0
			}
		}
	})
}

// BenchmarkRedisPing is the floor under the Redis benchmarks: one round
// trip through the same client, doing nothing.
func BenchmarkRedisPing(b *testing.B) {
	c := limittest.Redis(b)
	ctx := context.Background()
	for b.Loop() {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
