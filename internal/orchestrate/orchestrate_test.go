package orchestrate_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// fake is a provider scripted by function fields; it counts its calls.
type fake struct {
	name     string
	calls    atomic.Int32
	canceled atomic.Int32
	chat     func(ctx context.Context) (*provider.ChatResponse, error)
}

func (f *fake) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	f.calls.Add(1)
	resp, err := f.chat(ctx)
	if errors.Is(err, context.Canceled) {
		f.canceled.Add(1)
	}
	return resp, err
}

func (f *fake) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	resp, err := f.Chat(ctx, req)
	if err != nil {
		return nil, err
	}
	return orchestrate.Replay(resp), nil
}

// answer returns a fake that answers text after delay.
func answer(name, text string, delay time.Duration) *fake {
	return &fake{name: name, chat: func(ctx context.Context) (*provider.ChatResponse, error) {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, provider.TransportError(name, ctx, ctx.Err())
		}
		return &provider.ChatResponse{ID: name, Choices: []provider.Choice{{Message: provider.TextMessage("assistant", text), FinishReason: provider.FinishStop}},
			Usage: provider.Usage{InputTokens: 10, OutputTokens: 5}}, nil
	}}
}

// failing returns a fake that answers with an upstream error status.
func failing(name string, status int) *fake {
	return &fake{name: name, chat: func(ctx context.Context) (*provider.ChatResponse, error) {
		return nil, &provider.Error{Provider: name, Status: status, Message: "boom"}
	}}
}

func target(f *fake) *registry.Target {
	m := &chorus.Model{Name: "model-" + f.name, Kind: chorus.KindChat, Enabled: true}
	return &registry.Target{Deployment: &chorus.Deployment{Name: f.name, Provider: "fake", UpstreamModel: f.name, Weight: 1}, Model: m, Provider: f}
}

// route builds a route with one tier per fake.
func route(strategy string, cfg chorus.RouteConfig, fakes ...*fake) *registry.Route {
	rt := &registry.Route{Model: &chorus.Model{Name: "r", Kind: chorus.KindChat}, Strategy: strategy, Config: cfg, Routed: true}
	for _, f := range fakes {
		t := target(f)
		rt.Tiers = append(rt.Tiers, &registry.Tier{Model: t.Model, Weight: 1, Targets: []*registry.Target{t}})
		rt.Targets = append(rt.Targets, t)
	}
	return rt
}

func newOrch() *orchestrate.Orchestrator {
	return &orchestrate.Orchestrator{Health: orchestrate.NewHealth(orchestrate.DefaultBreaker(), nil)}
}

func req() *provider.ChatRequest {
	return &provider.ChatRequest{Model: "r", Messages: []provider.Message{provider.TextMessage("user", "hi")}}
}

func outcomes(as []*orchestrate.Attempt) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Target.Deployment.Name+":"+a.Outcome)
	}
	return strings.Join(s, " ")
}

func TestFallback(t *testing.T) {
	t.Run("MovesOnAfterRetryableErrors", func(t *testing.T) {
		a, b, c := failing("a", 503), failing("b", 429), answer("c", "ok", 0)
		res, err := newOrch().Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b, c), req())
		if err != nil {
			t.Fatal(err)
		}
		if res.Winner.Target.Deployment.Name != "c" || a.calls.Load() != 1 || b.calls.Load() != 1 || c.calls.Load() != 1 {
			t.Fatalf("winner %s, calls a=%d b=%d c=%d", res.Winner.Target.Deployment.Name, a.calls.Load(), b.calls.Load(), c.calls.Load())
		}
		if got, want := outcomes(res.Attempts), "a:error b:error c:ok"; got != want {
			t.Fatalf("attempts %q, want %q", got, want)
		}
	})
	t.Run("StopsOnClientError", func(t *testing.T) {
		a, b := failing("a", 400), answer("b", "ok", 0)
		_, err := newOrch().Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b), req())
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Status != 400 || b.calls.Load() != 0 {
			t.Fatalf("err = %v, b calls = %d; a bad request must not be tried elsewhere", err, b.calls.Load())
		}
	})
	t.Run("MovesOnAfterBadCredentials", func(t *testing.T) {
		a, b := failing("a", 401), answer("b", "ok", 0)
		if _, err := newOrch().Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b), req()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RetriesWithBackoffHonouringRetryAfter", func(t *testing.T) {
		var n atomic.Int32
		a := &fake{name: "a", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
			if n.Add(1) < 3 {
				return nil, &provider.Error{Provider: "a", Status: 500, RetryAfter: 30 * time.Millisecond}
			}
			return answer("a", "ok", 0).chat(ctx)
		}}
		start := time.Now()
		res, err := newOrch().Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{Retries: 2, BackoffMS: 1}, a), req())
		if err != nil {
			t.Fatal(err)
		}
		if a.calls.Load() != 3 || len(res.Attempts) != 3 {
			t.Fatalf("calls %d attempts %d, want 3", a.calls.Load(), len(res.Attempts))
		}
		if time.Since(start) < 60*time.Millisecond {
			t.Fatalf("took %v: Retry-After (30ms x2) not honoured", time.Since(start))
		}
	})
	t.Run("RetryBeyondDeadlineGivesUp", func(t *testing.T) {
		a := &fake{name: "a", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
			return nil, &provider.Error{Provider: "a", Status: 503, RetryAfter: time.Hour}
		}}
		start := time.Now()
		_, err := newOrch().Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{Retries: 3, DeadlineMS: 200}, a), req())
		if err == nil || time.Since(start) > time.Second || a.calls.Load() != 1 {
			t.Fatalf("err %v after %v with %d calls; want a prompt failure", err, time.Since(start), a.calls.Load())
		}
	})
}

func TestCircuitBreaker(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	o := &orchestrate.Orchestrator{Health: orchestrate.NewHealth(orchestrate.BreakerConfig{
		ConsecutiveFailures: 3, FailureRate: 0.5, MinCalls: 100, Window: time.Minute, Cooldown: 10 * time.Second}, clock)}
	healthy := true
	var mu2 sync.Mutex
	a := &fake{name: "a", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
		mu2.Lock()
		defer mu2.Unlock()
		if healthy {
			return answer("a", "ok", 0).chat(ctx)
		}
		return nil, &provider.Error{Provider: "a", Status: 502}
	}}
	b := answer("b", "ok", 0)
	rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b)
	setHealthy := func(v bool) { mu2.Lock(); healthy = v; mu2.Unlock() }

	setHealthy(false)
	for i := 0; i < 3; i++ {
		if _, err := o.Chat(context.Background(), rt, req()); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.Health.Of("a").State(); got != orchestrate.StateOpen {
		t.Fatalf("after 3 failures state = %s, want open", got)
	}
	calls := a.calls.Load()
	for i := 0; i < 5; i++ {
		res, err := o.Chat(context.Background(), rt, req())
		if err != nil || res.Winner.Target.Deployment.Name != "b" || len(res.Attempts) != 1 {
			t.Fatalf("open circuit: err %v attempts %q", err, outcomes(res.Attempts))
		}
	}
	if a.calls.Load() != calls {
		t.Fatal("an open circuit let calls through")
	}
	advance(11 * time.Second)
	if got := o.Health.Of("a").State(); got != orchestrate.StateHalfOpen {
		t.Fatalf("after cooldown state = %s, want half_open", got)
	}
	// A failed probe opens it again.
	if _, err := o.Chat(context.Background(), rt, req()); err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != calls+1 || o.Health.Of("a").State() != orchestrate.StateOpen {
		t.Fatalf("failed probe: calls %d state %s", a.calls.Load()-calls, o.Health.Of("a").State())
	}
	// A good probe closes it.
	advance(11 * time.Second)
	setHealthy(true)
	res, err := o.Chat(context.Background(), rt, req())
	if err != nil || res.Winner.Target.Deployment.Name != "a" {
		t.Fatalf("probe: err %v winner %v", err, res.Winner)
	}
	if got := o.Health.Of("a").State(); got != orchestrate.StateClosed {
		t.Fatalf("after a good probe state = %s, want closed", got)
	}
	t.Run("AllOpenIs503", func(t *testing.T) {
		o := &orchestrate.Orchestrator{Health: orchestrate.NewHealth(orchestrate.BreakerConfig{ConsecutiveFailures: 1, FailureRate: 1, MinCalls: 1, Window: time.Minute, Cooldown: time.Minute}, nil)}
		f := failing("f", 500)
		rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, f)
		_, _ = o.Chat(context.Background(), rt, req())
		_, err := o.Chat(context.Background(), rt, req())
		var ce *chorus.Error
		if !errors.As(err, &ce) || ce.Code != chorus.EUNAVAILABLE || ce.RetryAfter <= 0 || f.calls.Load() != 1 {
			t.Fatalf("err = %v, calls %d", err, f.calls.Load())
		}
	})
	t.Run("AllOpenOfSeveralTriesTheLongestRested", func(t *testing.T) {
		o := &orchestrate.Orchestrator{Health: orchestrate.NewHealth(orchestrate.BreakerConfig{ConsecutiveFailures: 1, FailureRate: 1, MinCalls: 1, Window: time.Minute, Cooldown: time.Minute}, nil)}
		var bad atomic.Bool
		bad.Store(true)
		mk := func(name string) *fake {
			return &fake{name: name, chat: func(ctx context.Context) (*provider.ChatResponse, error) {
				if bad.Load() {
					return nil, &provider.Error{Provider: name, Status: 500}
				}
				return answer(name, "ok", 0).chat(ctx)
			}}
		}
		a, b := mk("a"), mk("b")
		rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, a, b)
		_, _ = o.Chat(context.Background(), rt, req()) // opens both
		bad.Store(false)
		res, err := o.Chat(context.Background(), rt, req())
		if err != nil || len(res.Attempts) != 1 || res.Winner.Target.Deployment.Name != "a" {
			t.Fatalf("err %v attempts %q: with every circuit open, the one opened first must still be tried", err, outcomes(res.Attempts))
		}
	})
	t.Run("RateLimitedIs429WithoutOpening", func(t *testing.T) {
		o := newOrch()
		f := &fake{name: "f", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
			return nil, &provider.Error{Provider: "f", Status: http.StatusTooManyRequests, RetryAfter: time.Minute}
		}}
		rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, f)
		_, _ = o.Chat(context.Background(), rt, req())
		_, err := o.Chat(context.Background(), rt, req())
		var ce *chorus.Error
		if !errors.As(err, &ce) || ce.Code != chorus.ERATELIMIT || f.calls.Load() != 1 {
			t.Fatalf("err = %v, calls %d", err, f.calls.Load())
		}
		if o.Health.Of("f").State() != orchestrate.StateClosed {
			t.Fatal("a 429 opened the circuit")
		}
	})
}

func TestHedge(t *testing.T) {
	t.Run("SecondCallWinsAndFirstIsCanceled", func(t *testing.T) {
		slow, fast := answer("slow", "late", 2*time.Second), answer("fast", "quick", 10*time.Millisecond)
		start := time.Now()
		res, err := newOrch().Chat(context.Background(), route(chorus.StrategyHedge, chorus.RouteConfig{HedgeDelay: 30}, slow, fast), req())
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("hedged call took %v", took)
		}
		if res.Winner.Target.Deployment.Name != "fast" || slow.canceled.Load() != 1 {
			t.Fatalf("winner %s, slow canceled %d", res.Winner.Target.Deployment.Name, slow.canceled.Load())
		}
		if got, want := outcomes(res.Attempts), "fast:ok slow:canceled"; got != want {
			t.Fatalf("attempts %q, want %q (every call accounted for)", got, want)
		}
	})
	t.Run("FastPrimaryNoHedge", func(t *testing.T) {
		a, b := answer("a", "ok", 0), answer("b", "ok", 0)
		res, err := newOrch().Chat(context.Background(), route(chorus.StrategyHedge, chorus.RouteConfig{HedgeDelay: 200}, a, b), req())
		if err != nil || b.calls.Load() != 0 || len(res.Attempts) != 1 {
			t.Fatalf("err %v, b calls %d, attempts %d", err, b.calls.Load(), len(res.Attempts))
		}
	})
	t.Run("StreamTakesFirstChunkWinner", func(t *testing.T) {
		slow, fast := answer("slow", "late", 2*time.Second), answer("fast", "quick answer", 10*time.Millisecond)
		o := newOrch()
		sr, err := o.ChatStream(context.Background(), route(chorus.StrategyHedge, chorus.RouteConfig{HedgeDelay: 30}, slow, fast), req())
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for c := sr.First; c != nil; c, err = sr.Stream.Next() {
			for _, cc := range c.Choices {
				text.WriteString(cc.Content)
			}
		}
		sr.Finish(provider.Usage{InputTokens: 1, OutputTokens: 2}, err)
		if text.String() != "quick answer" {
			t.Fatalf("stream text %q: must come from one upstream only", text.String())
		}
		if slow.canceled.Load() != 1 || o.Health.Of("fast").InFlight() != 0 || o.Health.Of("slow").InFlight() != 0 {
			t.Fatal("loser not canceled, or calls left in flight")
		}
	})
}

// scoreByText scores an answer by a table of texts.
type scoreByText map[string]float64

func (s scoreByText) Evaluate(ctx context.Context, rt *registry.Route, req *provider.ChatRequest, resp *provider.ChatResponse) (float64, []*orchestrate.Attempt, error) {
	return s[resp.Choices[0].Message.Text()], nil, nil
}

func TestCascade(t *testing.T) {
	for name, tc := range map[string]struct {
		scores     scoreByText
		wantWinner string
		wantTier   int
		wantCalls  [3]int32
		want       string
	}{
		"CheapPasses":    {scoreByText{"cheap": 0.9, "mid": 0.95, "strong": 1}, "cheap", 0, [3]int32{1, 0, 0}, "cheap:ok"},
		"Escalates":      {scoreByText{"cheap": 0.2, "mid": 0.8, "strong": 1}, "mid", 1, [3]int32{1, 1, 0}, "cheap:rejected mid:ok"},
		"BestWhenNone":   {scoreByText{"cheap": 0.5, "mid": 0.2, "strong": 0.4}, "cheap", 0, [3]int32{1, 1, 1}, "cheap:ok mid:rejected strong:rejected"},
		"TieTakesLatter": {scoreByText{"cheap": 0.3, "mid": 0.3, "strong": 0.1}, "mid", 1, [3]int32{1, 1, 1}, "cheap:rejected mid:ok strong:rejected"},
	} {
		t.Run(name, func(t *testing.T) {
			fs := []*fake{answer("cheap", "cheap", 0), answer("mid", "mid", 0), answer("strong", "strong", 0)}
			o := newOrch()
			o.Evaluator = tc.scores
			res, err := o.Chat(context.Background(), route(chorus.StrategyCascade, chorus.RouteConfig{Threshold: 0.7}, fs...), req())
			if err != nil {
				t.Fatal(err)
			}
			if res.Winner.Target.Deployment.Name != tc.wantWinner || res.Tier != tc.wantTier {
				t.Fatalf("winner %s tier %d, want %s %d", res.Winner.Target.Deployment.Name, res.Tier, tc.wantWinner, tc.wantTier)
			}
			for i, f := range fs {
				if f.calls.Load() != tc.wantCalls[i] {
					t.Fatalf("%s called %d times, want %d", f.name, f.calls.Load(), tc.wantCalls[i])
				}
			}
			if got := outcomes(res.Attempts); got != tc.want {
				t.Fatalf("attempts %q, want %q", got, tc.want)
			}
			for _, a := range res.Attempts {
				if a.Score == nil || math.IsNaN(*a.Score) {
					t.Fatalf("attempt %s has no score", a.Target.Deployment.Name)
				}
			}
		})
	}
	t.Run("FailedTierEscalates", func(t *testing.T) {
		o := newOrch()
		o.Evaluator = scoreByText{"strong": 1}
		res, err := o.Chat(context.Background(), route(chorus.StrategyCascade, chorus.RouteConfig{}, failing("cheap", 500), answer("strong", "strong", 0)), req())
		if err != nil || res.Tier != 1 {
			t.Fatalf("err %v tier %d", err, res.Tier)
		}
	})
	t.Run("StreamReplaysChosenAnswer", func(t *testing.T) {
		o := newOrch()
		o.Evaluator = scoreByText{"cheap words": 0.1, "strong words": 0.9}
		sr, err := o.ChatStream(context.Background(), route(chorus.StrategyCascade, chorus.RouteConfig{}, answer("cheap", "cheap words", 0), answer("strong", "strong words", 0)), req())
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		var usage *provider.Usage
		for c := sr.First; c != nil; c, err = sr.Stream.Next() {
			for _, cc := range c.Choices {
				text.WriteString(cc.Content)
			}
			if c.Usage != nil {
				usage = c.Usage
			}
		}
		if err != io.EOF || text.String() != "strong words" || usage == nil || sr.Tier != 1 {
			t.Fatalf("err %v text %q usage %v tier %d", err, text.String(), usage, sr.Tier)
		}
		sr.Finish(*usage, err)
	})
}

func TestEnsemble(t *testing.T) {
	fs := []*fake{answer("a", "a", 20*time.Millisecond), answer("b", "b", 20*time.Millisecond), answer("c", "c", 20*time.Millisecond)}
	o := newOrch()
	o.Evaluator = scoreByText{"a": 0.4, "b": 0.9, "c": 0.6}
	start := time.Now()
	res, err := o.Chat(context.Background(), route(chorus.StrategyEnsemble, chorus.RouteConfig{}, fs...), req())
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 45*time.Millisecond*3 {
		t.Fatalf("ensemble took %v: calls not parallel", time.Since(start))
	}
	if res.Winner.Target.Deployment.Name != "b" {
		t.Fatalf("winner %s, want b", res.Winner.Target.Deployment.Name)
	}
	if got, want := outcomes(res.Attempts), "a:not_chosen b:ok c:not_chosen"; got != want {
		t.Fatalf("attempts %q, want %q", got, want)
	}
}

func TestBalance(t *testing.T) {
	t.Run("WeightedSplit", func(t *testing.T) {
		a, b := answer("a", "ok", 0), answer("b", "ok", 0)
		rt := route(chorus.StrategyBalance, chorus.RouteConfig{}, a, b)
		rt.Tiers[1].Weight = 3
		o := newOrch()
		for i := 0; i < 4000; i++ {
			if _, err := o.Chat(context.Background(), rt, req()); err != nil {
				t.Fatal(err)
			}
		}
		if share := float64(b.calls.Load()) / 4000; math.Abs(share-0.75) > 0.04 {
			t.Fatalf("b got %.3f of traffic, want 0.75", share)
		}
	})
	t.Run("LeastInFlight", func(t *testing.T) {
		block := make(chan struct{})
		a := &fake{name: "a", chat: func(ctx context.Context) (*provider.ChatResponse, error) {
			<-block
			return answer("a", "ok", 0).chat(ctx)
		}}
		b := answer("b", "ok", 0)
		o := newOrch()
		rt := route(chorus.StrategyBalance, chorus.RouteConfig{Balance: chorus.BalanceLeastInFlight}, a, b)
		// Hold a call on a, then every new call must go to b.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for a.calls.Load() == 0 {
				_, _ = o.Chat(context.Background(), route(chorus.StrategyFallback, chorus.RouteConfig{}, a), req())
			}
		}()
		for o.Health.Of("a").InFlight() == 0 {
			time.Sleep(time.Millisecond)
		}
		for i := 0; i < 50; i++ {
			res, err := o.Chat(context.Background(), rt, req())
			if err != nil || res.Winner.Target.Deployment.Name != "b" {
				t.Fatalf("call %d went to %v (err %v), want b: a has a call in flight", i, res.Winner, err)
			}
		}
		close(block)
		<-done
	})
	t.Run("LatencyPrefersFaster", func(t *testing.T) {
		slow, fast := answer("slow", "ok", 15*time.Millisecond), answer("fast", "ok", 0)
		o := newOrch()
		rt := route(chorus.StrategyBalance, chorus.RouteConfig{Balance: chorus.BalanceLatency}, slow, fast)
		for i := 0; i < 200; i++ {
			if _, err := o.Chat(context.Background(), rt, req()); err != nil {
				t.Fatal(err)
			}
		}
		if fast.calls.Load() < 150 {
			t.Fatalf("fast got %d of 200 calls; latency-aware balance should favour it", fast.calls.Load())
		}
	})
}

func TestFirstTokenTimeout(t *testing.T) {
	slow, fast := answer("slow", "late", time.Second), answer("fast", "ok", 0)
	rt := route(chorus.StrategyFallback, chorus.RouteConfig{}, slow, fast)
	rt.Targets[0].FirstTokenTimeout = 30 * time.Millisecond
	start := time.Now()
	sr, err := newOrch().ChatStream(context.Background(), rt, req())
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Finish(provider.Usage{}, io.EOF)
	if sr.Winner.Target.Deployment.Name != "fast" || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("winner %s after %v", sr.Winner.Target.Deployment.Name, time.Since(start))
	}
	var pe *provider.Error
	if !errors.As(sr.Attempts[0].Err, &pe) || !pe.Timeout {
		t.Fatalf("first attempt err = %v, want a timeout", sr.Attempts[0].Err)
	}
}
