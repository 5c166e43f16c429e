package orchestrate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

// TestPanicRoutingAvoidsTheDeadDeployment checks which deployment panic
// routing tries when every circuit of a route is open. It tries the circuit
// that reopens first, that is the one that opened first, and under load the
// first to open is the one failing hardest: in bench/sim, with one
// deployment down and two failing 20% of calls, the dead one got 43–69% of
// all requests this way, and they all failed. The deployment whose recent
// calls went best should be tried (the one that reopens first on a tie).
func TestPanicRoutingAvoidsTheDeadDeployment(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	o := &orchestrate.Orchestrator{Health: orchestrate.NewHealth(orchestrate.BreakerConfig{
		ConsecutiveFailures: 3, FailureRate: 0.5, MinCalls: 1000, Window: time.Minute, Cooldown: 10 * time.Second}, clock)}
	dead := failing("dead", 502)
	a, b := answer("a", "ok", 0), answer("b", "ok", 0)
	rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, dead, a, b)
	fail := &provider.Error{Provider: "x", Status: 502}
	record := func(name string, err error) {
		d := o.Health.Of(name)
		if !d.Allow() {
			t.Fatalf("%s refused a call", name)
		}
		end, epoch := d.Start()
		d.Done(epoch, err, time.Millisecond)
		end()
	}

	for range 3 { // the dead deployment fails every call and opens first
		record("dead", fail)
	}
	advance(time.Second)
	for _, name := range []string{"a", "b"} { // the others answer most calls, then hit a burst of failures
		for range 20 {
			record(name, nil)
		}
		for range 3 {
			record(name, fail)
		}
	}
	for _, name := range []string{"dead", "a", "b"} {
		if got := o.Health.Of(name).State(); got != orchestrate.StateOpen {
			t.Fatalf("%s is %s, want open", name, got)
		}
	}
	res, err := o.Chat(context.Background(), rt, req())
	if err != nil || res.Winner.Target.Deployment.Name == "dead" {
		t.Fatalf("err %v attempts %q: with every circuit open, panic routing tried the deployment that failed all its calls", err, outcomes(res.Attempts))
	}
}
