package cache

import (
	"context"
	"errors"
	"sync"
)

// Group makes concurrent identical requests in this instance share one
// upstream call (single flight). The first caller for a key leads: it
// makes the call; callers that arrive while it is under way wait for its
// answer. The zero Group is ready to use.
//
// A leader that ends with no entry (an error, a panic, an answer it chose
// not to share) shares nothing: each waiter then makes its own call, not
// through the group, since the leader's failure may be its own (its client
// went away, its deadline passed) and each request keeps its own attempts,
// errors and usage. Callers arriving after that start a new flight.
type Group struct {
	mu      sync.Mutex
	flights map[[32]byte]*Flight
}

// Flight is one call under way for a key.
type Flight struct {
	g    *Group
	key  [32]byte
	done chan struct{}
	once sync.Once
	e    *Entry
	// waiters counts the callers that joined; guarded by g.mu.
	waiters int
}

// ErrNotShared is what Wait returns when the leader got no entry to share:
// the waiter must make its own call.
var ErrNotShared = errors.New("cache: the leading request had no answer to share")

// Start joins the flight for key. The first caller leads (leader true) and
// must call Finish exactly once, whatever happens (defer it); the others
// call Wait. Use it where the call cannot be one function, as when a
// streaming leader relays chunks to its client while it records them.
func (g *Group) Start(key [32]byte) (f *Flight, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.flights[key]; ok {
		f.waiters++
		return f, false
	}
	if g.flights == nil {
		g.flights = make(map[[32]byte]*Flight)
	}
	f = &Flight{g: g, key: key, done: make(chan struct{})}
	g.flights[key] = f
	return f, true
}

// Finish ends the flight: waiters get e, or ErrNotShared if e is nil. e
// is shared as is: it must not change afterwards. Only the first call has
// an effect. Callers arriving after Finish start a new flight.
func (f *Flight) Finish(e *Entry) {
	f.once.Do(func() {
		f.g.mu.Lock()
		if f.g.flights[f.key] == f {
			delete(f.g.flights, f.key)
		}
		f.g.mu.Unlock()
		f.e = e
		close(f.done)
	})
}

// Wait returns the leader's entry once the leader finishes; ErrNotShared
// if it has none; ctx's error if ctx ends first (the leader carries on).
func (f *Flight) Wait(ctx context.Context) (*Entry, error) {
	select {
	case <-f.done:
		if f.e == nil {
			return nil, ErrNotShared
		}
		return f.e, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Do returns fn's entry, calling fn only if no identical call is under way;
// otherwise it waits for that call's entry (shared true). If that call
// yields no entry, Do calls fn itself. A waiter whose ctx ends returns
// ctx's error at once. fn's error is returned to its own caller only; an
// entry returned with an error is not shared.
func (g *Group) Do(ctx context.Context, key [32]byte, fn func() (*Entry, error)) (e *Entry, shared bool, err error) {
	f, leader := g.Start(key)
	if !leader {
		e, err := f.Wait(ctx)
		if err == nil {
			return e, true, nil
		}
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		e, err = fn()
		return e, false, err
	}
	finished := false
	defer func() {
		if !finished {
			f.Finish(nil) // fn panicked: release the waiters
		}
	}()
	e, err = fn()
	finished = true
	if err != nil {
		f.Finish(nil)
	} else {
		f.Finish(e)
	}
	return e, false, err
}
