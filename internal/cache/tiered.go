package cache

import (
	"context"
	"time"
)

// Tiered is an in-process cache in front of a shared one (Memory in front
// of Redis): a hit in Memory costs no network; a hit in the shared cache
// is copied into Memory for the rest of its life. Entries are immutable
// answers to identical requests, so the copies need no invalidation.
type Tiered struct {
	L1 *Memory
	L2 Cache
}

var _ Cache = (*Tiered)(nil)

// Get looks in L1, then in L2.
func (t *Tiered) Get(ctx context.Context, key [32]byte) (*Entry, bool) {
	if e, ok := t.L1.Get(ctx, key); ok {
		return e, true
	}
	e, ok := t.L2.Get(ctx, key)
	if !ok {
		return nil, false
	}
	if !e.Expires.IsZero() {
		t.L1.Set(ctx, key, e, e.Expires.Sub(t.L1.now()))
	}
	return e, true
}

// Set stores in both.
func (t *Tiered) Set(ctx context.Context, key [32]byte, e *Entry, ttl time.Duration) {
	t.L1.Set(ctx, key, e, ttl)
	t.L2.Set(ctx, key, e, ttl)
}
