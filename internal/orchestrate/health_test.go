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

// TestBreakerWindow checks the failure-rate window: calls older than the
// window stop counting (so old failures cannot open the circuit), calls
// inside it do, and the counts stay right as the window grows past and
// shrinks back under its ring's sizes.
func TestBreakerWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	h := orchestrate.NewHealth(orchestrate.BreakerConfig{
		ConsecutiveFailures: 1 << 30, FailureRate: 0.5, MinCalls: 10, Window: 10 * time.Second, Cooldown: time.Second}, clock)
	d := h.Of("a")
	if h.Of("a") != d {
		t.Fatal("Of returned a second state for one deployment")
	}
	fail := &provider.Error{Provider: "a", Status: 503}
	call := func(err error) {
		t.Helper()
		if !d.Allow() {
			t.Fatalf("the circuit refused a call (state %s)", d.State())
		}
		_, ep := d.Start()
		d.Done(ep, err, time.Millisecond)
	}

	// 10,001 calls, one every 0.5 ms, every third failed: under half.
	for i := range 10_001 {
		if i%3 != 2 {
			call(nil)
		} else {
			call(fail)
		}
		now = now.Add(time.Millisecond / 2)
	}
	st := d.Status()
	if got, want := st.WindowCalls, 10_001; got != want {
		t.Fatalf("window calls = %d, want %d", got, want)
	}
	if got, want := st.WindowFails, 3333; got != want {
		t.Fatalf("window failures = %d, want %d", got, want)
	}
	if got := d.State(); got != orchestrate.StateClosed {
		t.Fatalf("state = %s with under half the calls failed, want closed", got)
	}
	// All of that expires: 9 fresh calls (under MinCalls) leave it closed.
	now = now.Add(11 * time.Second)
	for range 9 {
		call(fail)
	}
	st = d.Status()
	if st.WindowCalls != 9 || st.WindowFails != 9 {
		t.Fatalf("after expiry window = %d calls, %d failures; want 9, 9", st.WindowCalls, st.WindowFails)
	}
	if got := d.SuccessRatio(); got != 0 {
		t.Fatalf("success ratio = %v, want 0", got)
	}
	if got := d.State(); got != orchestrate.StateClosed {
		t.Fatalf("state = %s below MinCalls, want closed", got)
	}
	call(fail) // the 10th: MinCalls reached, all failed
	if got := d.State(); got != orchestrate.StateOpen {
		t.Fatalf("state = %s after 10 of 10 calls failed, want open", got)
	}
	if d.Allow() {
		t.Fatal("an open circuit let a call through")
	}
}

// TestBreakerRateLimited checks that a 429 rests the deployment until its
// Retry-After, without opening the circuit, and that it is allowed again after.
func TestBreakerRateLimited(t *testing.T) {
	now := time.Unix(1000, 0)
	h := orchestrate.NewHealth(orchestrate.DefaultBreaker(), func() time.Time { return now })
	d := h.Of("a")
	_, ep := d.Start()
	d.Done(ep, &provider.Error{Provider: "a", Status: 429, RetryAfter: 3 * time.Second}, 0)
	if d.Allow() || !d.RateLimited() {
		t.Fatal("a rate-limited deployment was allowed a call")
	}
	if got, want := d.RetryAt(), now.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("retry at %v, want %v", got, want)
	}
	if got := d.State(); got != orchestrate.StateClosed {
		t.Fatalf("a 429 left the circuit %s, want closed", got)
	}
	now = now.Add(3 * time.Second)
	if !d.Allow() {
		t.Fatal("the deployment was still refused after its Retry-After")
	}
}
