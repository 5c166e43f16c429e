package periodic_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/periodic"
)

func TestEvery(t *testing.T) {
	for name, now := range map[string]bool{"AtOnce": true, "AfterInterval": false} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var calls atomic.Int64
			first := make(chan time.Duration, 1)
			start := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				periodic.Every(ctx, 20*time.Millisecond, now, func(context.Context) {
					if calls.Add(1) == 1 {
						first <- time.Since(start)
					}
					if calls.Load() == 3 {
						cancel()
					}
				})
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Every did not return after its context ended")
			}
			d := <-first
			if now && d > 15*time.Millisecond {
				t.Errorf("first call after %v, want at once", d)
			}
			if !now && d < 15*time.Millisecond {
				t.Errorf("first call after %v, want after the interval", d)
			}
			if n := calls.Load(); n != 3 {
				t.Errorf("%d calls, want 3 (the loop stops when ctx ends)", n)
			}
		})
	}
}
