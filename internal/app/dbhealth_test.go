package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app"
)

// syncBuffer is a log sink safe for the circuit's goroutine.
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

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDBHealth(t *testing.T) {
	var down atomic.Bool
	var pings atomic.Int64
	ping := func(ctx context.Context) error {
		pings.Add(1)
		if down.Load() {
			return errors.New("dial tcp 127.0.0.1:5432: connection refused")
		}
		return nil
	}
	var logs syncBuffer
	recovered := make(chan struct{}, 10)
	// A long interval: only Failed (and the faster pings while down) can
	// move the circuit within the test.
	h := app.NewDBHealth(ping, time.Hour, time.Second, slog.New(slog.NewTextHandler(&logs, nil)))
	h.OnRecover(func() { recovered <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()

	t.Run("DomainErrorsDoNotPing", func(t *testing.T) {
		h.Failed(chorus.Errorf(chorus.ENOTFOUND, "no such key"))
		h.Failed(context.Canceled)
		time.Sleep(50 * time.Millisecond)
		if n := pings.Load(); n != 0 {
			t.Fatalf("%d pings after domain errors, want 0", n)
		}
	})
	t.Run("OpensOnFailedCall", func(t *testing.T) {
		down.Store(true)
		for range 50 { // an outage: many calls fail
			h.Failed(errors.New("connection reset by peer"))
		}
		waitFor(t, "the circuit to open", h.Down)
		if since, err := h.DownSince(); since.IsZero() || err == nil {
			t.Fatalf("DownSince = %v, %v; want the outage's start and cause", since, err)
		}
	})
	t.Run("ClosesWhenPingSucceeds", func(t *testing.T) {
		// While down the circuit pings every interval/4 (15 min here):
		// a failed call's nudge pings at once instead.
		down.Store(false)
		h.Failed(errors.New("still failing?"))
		waitFor(t, "the circuit to close", func() bool { return !h.Down() })
		select {
		case <-recovered:
		case <-time.After(time.Second):
			t.Fatal("OnRecover not called")
		}
	})
	cancel()
	<-done
	t.Run("OneLinePerStateChange", func(t *testing.T) {
		out := logs.String()
		if got := strings.Count(out, "database unreachable"); got != 1 {
			t.Errorf("%d 'unreachable' lines for one outage, want 1:\n%s", got, out)
		}
		if got := strings.Count(out, "database reachable again"); got != 1 {
			t.Errorf("%d 'reachable again' lines, want 1:\n%s", got, out)
		}
		if h.Outages() != 1 {
			t.Errorf("Outages = %d, want 1", h.Outages())
		}
	})
}

func TestDBHealthNil(t *testing.T) {
	var h *app.DBHealth
	if h.Down() {
		t.Fatal("a nil circuit says down")
	}
	h.Failed(errors.New("x")) // must not panic
	h.OnRecover(func() {})
	h.Run(context.Background()) // returns at once
	if since, err := h.DownSince(); !since.IsZero() || err != nil || h.Outages() != 0 {
		t.Fatal("a nil circuit reports an outage")
	}
}
