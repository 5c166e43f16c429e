package orchestrate_test

import (
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

// TestBreakerStragglers checks that calls admitted before the circuit
// opened cannot close it when they finish: only a half-open probe decides.
// Under concurrency such stragglers are the rule — every call in flight when
// the circuit opens — and a flaky deployment answers most of them, so an
// open circuit was closed again within milliseconds instead of resting for
// its cooldown.
func TestBreakerStragglers(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := orchestrate.NewHealth(orchestrate.BreakerConfig{
		ConsecutiveFailures: 3, FailureRate: 0.5, MinCalls: 100, Window: time.Minute, Cooldown: 10 * time.Second}, clock)
	d := h.Of("a")
	fail := &provider.Error{Provider: "a", Status: 502}

	if !d.Allow() { // the straggler: admitted while closed, still in flight
		t.Fatal("a closed circuit refused a call")
	}
	_, stragglerEpoch := d.Start()
	for range 3 {
		if !d.Allow() {
			t.Fatal("a closed circuit refused a call")
		}
		_, ep := d.Start()
		d.Done(ep, fail, time.Millisecond)
	}
	if got := d.State(); got != orchestrate.StateOpen {
		t.Fatalf("after 3 failures state = %s, want open", got)
	}
	advance(time.Second)
	d.Done(stragglerEpoch, nil, 20*time.Millisecond) // the straggler answers
	if got := d.State(); got != orchestrate.StateOpen {
		t.Fatalf("a call admitted before the circuit opened left it %s, want open until the cooldown passes", got)
	}
	if d.Allow() {
		t.Fatal("the open circuit let a call through before its cooldown passed")
	}

	advance(10 * time.Second)
	if !d.Allow() {
		t.Fatal("no probe after the cooldown")
	}
	_, probeEpoch := d.Start()
	d.Done(probeEpoch, nil, 20*time.Millisecond)
	if got := d.State(); got != orchestrate.StateClosed {
		t.Fatalf("after a good probe state = %s, want closed", got)
	}
}
