package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls until a flight for key is under way with n waiters.
func waitFor(t *testing.T, g *Group, key [32]byte, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		f := g.flights[key]
		got := -1
		if f != nil {
			got = f.waiters
		}
		g.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("waiters did not reach %d", n)
}

func TestGroup(t *testing.T) {
	ctx := context.Background()
	key := [32]byte{1}
	answer := &Entry{Model: "m"}

	t.Run("OneCallForConcurrentRequests", func(t *testing.T) {
		var g Group
		var calls atomic.Int32
		release := make(chan struct{})
		fn := func() (*Entry, error) {
			calls.Add(1)
			<-release
			return answer, nil
		}
		const n = 100
		var wg sync.WaitGroup
		var shared atomic.Int32
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, sh, err := g.Do(ctx, key, fn)
				if err != nil || e != answer {
					t.Errorf("Do = %v, %v", e, err)
				}
				if sh {
					shared.Add(1)
				}
			}()
		}
		waitFor(t, &g, key, n-1)
		close(release)
		wg.Wait()
		if got := calls.Load(); got != 1 {
			t.Fatalf("fn called %d times, want 1", got)
		}
		if got := shared.Load(); got != n-1 {
			t.Fatalf("%d callers shared, want %d", got, n-1)
		}
		if len(g.flights) != 0 {
			t.Fatal("finished flight left in the group")
		}
	})

	t.Run("WaiterHonoursItsContext", func(t *testing.T) {
		var g Group
		release := make(chan struct{})
		leaderDone := make(chan *Entry)
		go func() {
			e, _, _ := g.Do(ctx, key, func() (*Entry, error) { <-release; return answer, nil })
			leaderDone <- e
		}()
		waitFor(t, &g, key, 0)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		called := false
		start := time.Now()
		_, _, err := g.Do(wctx, key, func() (*Entry, error) { called = true; return nil, nil })
		if !errors.Is(err, context.DeadlineExceeded) || called {
			t.Fatalf("waiter: err = %v, fn called %v; want its deadline and no call", err, called)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("waiter returned after %v", d)
		}
		close(release)
		if e := <-leaderDone; e != answer {
			t.Fatal("leader did not finish after a waiter left")
		}
	})

	t.Run("LeaderErrorWaitersCallThemselves", func(t *testing.T) {
		var g Group
		release := make(chan struct{})
		boom := errors.New("upstream failed")
		leaderErr := make(chan error)
		go func() {
			_, _, err := g.Do(ctx, key, func() (*Entry, error) { <-release; return nil, boom })
			leaderErr <- err
		}()
		waitFor(t, &g, key, 0)
		const n = 5
		var calls atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, sh, err := g.Do(ctx, key, func() (*Entry, error) { calls.Add(1); return answer, nil })
				if err != nil || e != answer || sh {
					t.Errorf("waiter after the leader failed: %v, shared %v, %v", e, sh, err)
				}
			}()
		}
		waitFor(t, &g, key, n)
		close(release)
		if err := <-leaderErr; !errors.Is(err, boom) {
			t.Fatalf("leader err = %v, want its own error", err)
		}
		wg.Wait()
		if got := calls.Load(); got != n {
			t.Fatalf("waiters made %d calls, want one each (%d)", got, n)
		}
	})

	t.Run("LeaderPanicReleasesWaiters", func(t *testing.T) {
		var g Group
		release := make(chan struct{})
		go func() {
			defer func() { _ = recover() }()
			_, _, _ = g.Do(ctx, key, func() (*Entry, error) { <-release; panic("boom") })
		}()
		waitFor(t, &g, key, 0)
		done := make(chan error)
		go func() {
			_, _, err := g.Do(ctx, key, func() (*Entry, error) { return answer, nil })
			done <- err
		}()
		waitFor(t, &g, key, 1)
		close(release)
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter stuck after the leader panicked")
		}
	})

	t.Run("StartFinishWait", func(t *testing.T) {
		var g Group
		f, leader := g.Start(key)
		if !leader {
			t.Fatal("first Start is not the leader")
		}
		w, leader2 := g.Start(key)
		if leader2 || w != f {
			t.Fatal("second Start did not join the flight")
		}
		f.Finish(nil)
		f.Finish(answer) // only the first Finish counts
		if _, err := w.Wait(ctx); !errors.Is(err, ErrNotShared) {
			t.Fatalf("Wait = %v, want ErrNotShared", err)
		}
		if _, leader := g.Start(key); !leader {
			t.Fatal("Start after Finish did not begin a new flight")
		}
	})
}
