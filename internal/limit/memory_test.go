package limit_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/limit"
)

func TestMemoryEviction(t *testing.T) {
	clk := newClock()
	m := limit.NewMemory(clk.Now)
	ctx := context.Background()
	const n = 100_000
	for i := range int64(n) {
		if d, _, _ := m.Admit(ctx, &limit.Request{KeyID: i, KeyLimits: limit.Limits{RPM: 60}}); !d.Allowed {
			t.Fatalf("key %d refused", i)
		}
	}
	// A subject in flight, and one in debt, must outlive the sweep.
	_, held, _ := m.Admit(ctx, &limit.Request{KeyID: -1, KeyLimits: limit.Limits{Concurrency: 1}})
	_, debt, _ := m.Admit(ctx, &limit.Request{KeyID: -2, Tokens: 1, KeyLimits: limit.Limits{TPM: 10}})
	debt.Done(100) // 10 minutes of debt
	if got := m.Len(); got != n+2 {
		t.Fatalf("Len = %d, want %d", got, n+2)
	}

	t.Run("IdleEntriesGoAsShardsAreUsed", func(t *testing.T) {
		clk.Add(limit.SweepEvery + time.Minute) // every bucket is full again
		// New traffic touches the shards, which sweep themselves.
		for i := range int64(5000) {
			m.Admit(ctx, &limit.Request{KeyID: n + i, KeyLimits: limit.Limits{RPM: 60}})
		}
		if got := m.Len(); got > 5000+2+n/100 {
			t.Fatalf("Len = %d after the old keys went idle, want about 5002", got)
		}
	})
	t.Run("SweepDropsTheRest", func(t *testing.T) {
		clk.Add(2 * time.Minute)
		m.Sweep()
		if got := m.Len(); got != 2 {
			t.Fatalf("Len = %d, want 2 (the held slot and the debt)", got)
		}
		held.Done(0)
		if d, _, _ := m.Admit(ctx, &limit.Request{KeyID: -2, Tokens: 1, KeyLimits: limit.Limits{TPM: 10}}); d.Allowed {
			t.Fatalf("the debt was forgotten: %+v", d)
		}
		clk.Add(10 * time.Minute)
		m.Sweep()
		if got := m.Len(); got != 0 {
			t.Fatalf("Len = %d, want 0", got)
		}
	})
}

// TestMemoryParallelExact hammers shared subjects from many goroutines at
// one instant: exactly the burst is admitted, and slots never exceed the cap.
func TestMemoryParallelExact(t *testing.T) {
	clk := newClock()
	m := limit.NewMemory(clk.Now)
	testParallelExact(t, m)
}

func testParallelExact(t *testing.T, l limit.Limiter) {
	t.Helper()
	const workers, each = 32, 100
	var admitted, inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				req := &limit.Request{KeyID: int64(w % 4), UserID: 1, Model: "m", Tokens: 3,
					KeyLimits:  limit.Limits{RPM: 1000, Concurrency: 6},
					UserLimits: limit.Limits{RPM: 500, TPM: 900}}
				d, tk, err := l.Admit(context.Background(), req)
				if err != nil {
					t.Error(err)
					return
				}
				if !d.Allowed {
					continue
				}
				admitted.Add(1)
				if n := inFlight.Add(1); n > peak.Load() {
					peak.Store(n)
				}
				if i%3 == 0 {
					runtime.Gosched()
				}
				inFlight.Add(-1)
				tk.Done(3)
			}
		})
	}
	wg.Wait()
	// The user's 900 TPM at 3 tokens each binds before its 500 RPM.
	if got := admitted.Load(); got != 300 {
		t.Fatalf("admitted %d, want exactly 300", got)
	}
	if p := peak.Load(); p > 4*6 {
		t.Fatalf("%d in flight at once, want at most 24", p)
	}
}
