// Package periodic runs the background loops of Chorus (registry polls,
// budget refreshes, flushes, reapers, reconcilers): one function called
// every interval until its context ends.
package periodic

import (
	"context"
	"time"
)

// EveryOrWake is Every that also calls fn as soon as wake delivers (so a
// loop that polls can be told there is something new at once).
func EveryOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}, fn func(ctx context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		fn(ctx)
	}
}

// Every calls fn every d until ctx ends; with now set it calls fn once at
// the start too. fn gets ctx and runs on the caller's goroutine, so calls
// never overlap and a slow call delays the next (a ticker drops the ticks
// it missed).
func Every(ctx context.Context, d time.Duration, now bool, fn func(ctx context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	if now {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}
