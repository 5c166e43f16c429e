package orchestrate_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/orchestrate"
)

// BenchmarkDeploymentHealth is one upstream call's health bookkeeping
// (Allow, Start, end, Done) on one deployment, from every CPU at once, with
// the failure-rate window full: the clock moves 133 µs per call, as at
// 7,500 calls/s, so the default 30 s window holds about 225,000 calls.
// Under 64 workers this lock was 99.9 % of Chorus's mutex wait
// (bench/results/profile-2026-12-07.md).
func BenchmarkDeploymentHealth(b *testing.B) {
	base := time.Unix(1_000_000, 0)
	var ticks atomic.Int64
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * 133 * time.Microsecond / 2) }
	h := orchestrate.NewHealth(orchestrate.DefaultBreaker(), clock)
	call := func() {
		d := h.Of("bench")
		if !d.Allow() {
			b.Fatal("a healthy deployment refused a call")
		}
		end, epoch := d.Start()
		end()
		d.Done(epoch, nil, 3*time.Millisecond)
	}
	// Allow and Done each read the clock once: 133 µs per call.
	for range 240_000 {
		call()
	}
	b.ResetTimer()
	b.SetParallelism(32) // 64 workers on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call()
		}
	})
}
