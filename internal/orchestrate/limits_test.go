package orchestrate_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/limit"
)

// TestDeploymentLimits checks upstream protection: a deployment at its
// provider's own rate limit is skipped for the next one, and when every
// deployment is at its limit the request is refused with 429 instead of
// being sent.
func TestDeploymentLimits(t *testing.T) {
	a, b := answer("a", "ok", 0), answer("b", "ok", 0)
	rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b)
	rt.Targets[0].Limits = limit.Limits{RPM: 1}
	rt.Targets[1].Limits = limit.Limits{RPM: 1}
	o := newOrch()
	o.Limits = limit.NewMemory(nil)
	for i, want := range []string{"a", "b"} {
		res, err := o.Chat(context.Background(), rt, req())
		if err != nil || res.Winner.Target.Deployment.Name != want {
			t.Fatalf("call %d: err %v winner %v, want %s", i, err, res.Winner, want)
		}
	}
	_, err := o.Chat(context.Background(), rt, req())
	var ce *chorus.Error
	if !errors.As(err, &ce) || ce.Code != chorus.ERATELIMIT || ce.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a 429 with Retry-After", err)
	}
	if a.calls.Load() != 1 || b.calls.Load() != 1 {
		t.Fatalf("calls a=%d b=%d: a deployment at its limit was called", a.calls.Load(), b.calls.Load())
	}
}
