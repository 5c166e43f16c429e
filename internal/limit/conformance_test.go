package limit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/limit/limittest"
)

// clock is a settable time for the limiters under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// A whole second: every expected duration below is exact.
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is one limiter under test with its clock.
type rig struct {
	t   *testing.T
	l   limit.Limiter
	clk *clock
}

// admit calls Admit and fails the test on an error.
func (r *rig) admit(req limit.Request) (limit.Decision, *limit.Ticket) {
	r.t.Helper()
	d, tk, err := r.l.Admit(context.Background(), &req)
	if err != nil {
		r.t.Fatalf("Admit: %v", err)
	}
	if !d.Allowed && tk != nil {
		r.t.Fatalf("refused decision came with a ticket")
	}
	return d, tk
}

// mustAllow admits req and fails unless allowed.
func (r *rig) mustAllow(req limit.Request) (limit.Decision, *limit.Ticket) {
	r.t.Helper()
	d, tk := r.admit(req)
	if !d.Allowed {
		r.t.Fatalf("refused (%s), want allowed", d.Reason)
	}
	return d, tk
}

// mustRefuse admits req, fails unless refused by kind with retry.
func (r *rig) mustRefuse(req limit.Request, scope, kind string, retry time.Duration) limit.Decision {
	r.t.Helper()
	d, _ := r.admit(req)
	if d.Allowed {
		r.t.Fatalf("allowed, want refused by %s %s", scope, kind)
	}
	if d.Scope != scope || d.Kind != kind || d.RetryAfter != retry {
		r.t.Fatalf("refused by %s %s after %v (%s), want %s %s after %v", d.Scope, d.Kind, d.RetryAfter, d.Reason, scope, kind, retry)
	}
	if d.Reason == "" {
		r.t.Fatal("refusal without a reason")
	}
	return d
}

func wantHeaders(t *testing.T, got, want limit.Headers) {
	t.Helper()
	if got != want {
		t.Fatalf("headers = %+v\nwant      %+v", got, want)
	}
}

func key(rpm, tpm, conc int64) limit.Request {
	return limit.Request{KeyID: 1, UserID: 10, Model: "m", KeyLimits: limit.Limits{RPM: rpm, TPM: tpm, Concurrency: conc}}
}

// conformance is the one table both limiters must pass, exactly.
var conformance = []struct {
	name string
	run  func(r *rig)
}{
	{"UnlimitedHasNoTicketNoHeaders", func(r *rig) {
		d, tk := r.mustAllow(limit.Request{KeyID: 1, UserID: 1, Model: "m", Tokens: 1e9})
		if tk != nil || d.Headers != (limit.Headers{}) {
			r.t.Fatalf("ticket %v headers %+v for an unlimited request", tk, d.Headers)
		}
		tk.Done(5) // nil-safe
	}},
	{"BurstIsAFullMinute", func(r *rig) {
		for i := int64(1); i <= 60; i++ {
			d, _ := r.mustAllow(key(60, 0, 0))
			wantHeaders(r.t, d.Headers, limit.Headers{LimitRequests: 60, RemainingRequests: 60 - i, ResetRequests: time.Duration(i) * time.Second})
		}
		d := r.mustRefuse(key(60, 0, 0), "key", "requests", time.Second)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitRequests: 60, RemainingRequests: 0, ResetRequests: 60 * time.Second})
	}},
	{"SteadyRateAfterTheBurst", func(r *rig) {
		for range 60 {
			r.mustAllow(key(60, 0, 0))
		}
		for range 5 {
			r.mustRefuse(key(60, 0, 0), "key", "requests", time.Second)
			r.clk.Add(999 * time.Millisecond)
			r.mustRefuse(key(60, 0, 0), "key", "requests", time.Millisecond)
			r.clk.Add(time.Millisecond)
			r.mustAllow(key(60, 0, 0))
		}
	}},
	{"RefillsContinuously", func(r *rig) {
		for range 60 {
			r.mustAllow(key(60, 0, 0))
		}
		r.clk.Add(30 * time.Second)
		d, _ := r.mustAllow(key(60, 0, 0))
		wantHeaders(r.t, d.Headers, limit.Headers{LimitRequests: 60, RemainingRequests: 29, ResetRequests: 31 * time.Second})
		r.clk.Add(10 * time.Minute)
		d, _ = r.mustAllow(key(60, 0, 0))
		wantHeaders(r.t, d.Headers, limit.Headers{LimitRequests: 60, RemainingRequests: 59, ResetRequests: time.Second})
	}},
	{"RetryAfterIsExact", func(r *rig) {
		// 7 per minute: one every 8.571428…s.
		for range 7 {
			r.mustAllow(key(7, 0, 0))
		}
		d := r.mustRefuse(key(7, 0, 0), "key", "requests", 8571429*time.Microsecond)
		r.clk.Add(d.RetryAfter - 2*time.Microsecond)
		r.mustRefuse(key(7, 0, 0), "key", "requests", 2*time.Microsecond)
		r.clk.Add(2 * time.Microsecond)
		r.mustAllow(key(7, 0, 0))
	}},
	{"TokensReservedThenRefunded", func(r *rig) {
		req := key(0, 1000, 0)
		req.Tokens = 600
		d, tk := r.mustAllow(req)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitTokens: 1000, RemainingTokens: 400, ResetTokens: 36 * time.Second})
		req.Tokens = 500 // 100 short: 100 × 60ms
		r.mustRefuse(req, "key", "tokens", 6*time.Second)
		tk.Done(100) // 500 back
		tk.Done(100) // only the first Done counts
		d, _ = r.mustAllow(req)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitTokens: 1000, RemainingTokens: 400, ResetTokens: 36 * time.Second})
	}},
	{"TokensOverusedAreDebited", func(r *rig) {
		req := key(0, 1000, 0)
		req.Tokens = 100
		_, tk := r.mustAllow(req)
		tk.Done(1500) // 1400 more than reserved: 1500 × 60ms = 90s of debt
		req.Tokens = 1
		d := r.mustRefuse(req, "key", "tokens", 30*time.Second+60*time.Millisecond)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitTokens: 1000, RemainingTokens: 0, ResetTokens: 90 * time.Second})
		r.clk.Add(30*time.Second + 60*time.Millisecond)
		r.mustAllow(req)
	}},
	{"RefundNeverFillsPastFull", func(r *rig) {
		req := key(0, 1000, 0)
		req.Tokens = 500
		_, tk := r.mustAllow(req)
		r.clk.Add(2 * time.Minute) // long request: the bucket is full again
		tk.Done(0)
		req.Tokens = 1000
		d, _ := r.mustAllow(req)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitTokens: 1000, RemainingTokens: 0, ResetTokens: time.Minute})
		req.Tokens = 1
		r.mustRefuse(req, "key", "tokens", 60*time.Millisecond)
	}},
	{"TooLargeNeverFits", func(r *rig) {
		req := key(0, 1000, 0)
		req.Tokens = 1001
		d := r.mustRefuse(req, "key", "tokens", 0)
		if !d.TooLarge {
			r.t.Fatalf("TooLarge not set: %+v", d)
		}
		req.Tokens = 1000
		r.mustAllow(req) // the refusal took nothing
	}},
	{"ConcurrencySlots", func(r *rig) {
		_, a := r.mustAllow(key(0, 0, 2))
		_, b := r.mustAllow(key(0, 0, 2))
		r.mustRefuse(key(0, 0, 2), "key", "concurrency", limit.ConcurrencyRetry)
		a.Done(0)
		_, c := r.mustAllow(key(0, 0, 2))
		r.mustRefuse(key(0, 0, 2), "key", "concurrency", limit.ConcurrencyRetry)
		b.Done(0)
		c.Done(0)
		r.mustAllow(key(0, 0, 2))
	}},
	{"AllOrNothing", func(r *rig) {
		// The user allows 2 a minute across keys; each key allows 10 and
		// one in flight.
		req := func(keyID int64) limit.Request {
			return limit.Request{KeyID: keyID, UserID: 7, Model: "m", Tokens: 10,
				KeyLimits: limit.Limits{RPM: 10, TPM: 100, Concurrency: 1}, UserLimits: limit.Limits{RPM: 2}}
		}
		_, a := r.mustAllow(req(1))
		a.Done(10)
		_, b := r.mustAllow(req(2))
		b.Done(10)
		r.mustRefuse(req(3), "user", "requests", 30*time.Second)
		// Key 3 lost nothing to the refusal: a full bucket, a free slot.
		own := req(3)
		own.UserLimits = limit.Limits{}
		d, tk := r.mustAllow(own)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitRequests: 10, RemainingRequests: 9, ResetRequests: 6 * time.Second,
			LimitTokens: 100, RemainingTokens: 90, ResetTokens: 6 * time.Second})
		tk.Done(10)
	}},
	{"MostConstrainingHeaders", func(r *rig) {
		req := limit.Request{KeyID: 1, UserID: 2, Model: "m", Tokens: 50,
			KeyLimits:   limit.Limits{RPM: 100, TPM: 1000},
			UserLimits:  limit.Limits{RPM: 10, TPM: 100000},
			ModelLimits: limit.Limits{TPM: 200}}
		d, tk := r.mustAllow(req)
		wantHeaders(r.t, d.Headers, limit.Headers{LimitRequests: 10, RemainingRequests: 9, ResetRequests: 6 * time.Second,
			LimitTokens: 200, RemainingTokens: 150, ResetTokens: 15 * time.Second})
		tk.Done(50)
		req.Tokens = 151
		d = r.mustRefuse(req, "model", "tokens", 300*time.Millisecond)
		if d.Headers.RemainingTokens != 150 {
			r.t.Fatalf("refused headers %+v, want the buckets as they stay", d.Headers)
		}
	}},
	{"SubjectsAreSeparate", func(r *rig) {
		perModel := func(keyID int64, model string) limit.Request {
			return limit.Request{KeyID: keyID, UserID: keyID, Model: model, ModelLimits: limit.Limits{RPM: 1}}
		}
		r.mustAllow(perModel(1, "a"))
		r.mustRefuse(perModel(1, "a"), "model", "requests", time.Minute)
		r.mustAllow(perModel(1, "b"))
		r.mustAllow(perModel(2, "a"))
		r.mustAllow(limit.Request{KeyID: 2, UserID: 2, KeyLimits: limit.Limits{RPM: 1}})
		r.mustAllow(limit.Request{KeyID: 1, UserID: 1, TeamID: 5, TeamLimits: limit.Limits{RPM: 1}})
		r.mustRefuse(limit.Request{KeyID: 9, UserID: 9, TeamID: 5, TeamLimits: limit.Limits{RPM: 1}}, "team", "requests", time.Minute)
	}},
	{"RefusalPicksTheLongestWait", func(r *rig) {
		req := limit.Request{KeyID: 1, UserID: 2, Tokens: 10,
			KeyLimits: limit.Limits{RPM: 1}, UserLimits: limit.Limits{RPM: 60, TPM: 10}}
		r.mustAllow(req)
		r.clk.Add(10 * time.Second)
		// key: 50s to wait; user: 1 request fits, 10 tokens in 10s.
		r.mustRefuse(req, "key", "requests", 50*time.Second)
	}},
	{"Deployment", func(r *rig) {
		ctx := context.Background()
		l := limit.Limits{RPM: 2, TPM: 100, Concurrency: 1}
		d, tk, err := r.l.TryDeployment(ctx, "east", l, 40)
		if err != nil || !d.Allowed || tk == nil {
			r.t.Fatalf("first call: %+v %v %v", d, tk, err)
		}
		d, _, _ = r.l.TryDeployment(ctx, "east", l, 40)
		if d.Allowed || d.Kind != "concurrency" || d.Scope != "deployment" {
			r.t.Fatalf("second call in flight: %+v, want refused by concurrency", d)
		}
		if d, _, _ = r.l.TryDeployment(ctx, "west", l, 40); !d.Allowed {
			r.t.Fatalf("another deployment refused: %+v", d)
		}
		tk.Done(20)
		d, tk, _ = r.l.TryDeployment(ctx, "east", l, 40)
		if !d.Allowed {
			r.t.Fatalf("after Done: %+v", d)
		}
		tk.Done(40)
		d, _, _ = r.l.TryDeployment(ctx, "east", l, 40)
		if d.Allowed || d.Kind != "requests" || d.RetryAfter != 30*time.Second {
			r.t.Fatalf("third call: %+v, want refused by requests for 30s", d)
		}
		d, _, _ = r.l.TryDeployment(ctx, "west", l, 101)
		if d.Allowed || !d.TooLarge {
			r.t.Fatalf("101 tokens on 100 TPM: %+v, want TooLarge", d)
		}
		if d, tk, _ = r.l.TryDeployment(ctx, "free", limit.Limits{}, 1e9); !d.Allowed || tk != nil {
			r.t.Fatalf("unlimited deployment: %+v %v", d, tk)
		}
	}},
}

func runConformance(t *testing.T, newLimiter func(t *testing.T, now func() time.Time) limit.Limiter) {
	for _, tc := range conformance {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			tc.run(&rig{t: t, l: newLimiter(t, clk.Now), clk: clk})
		})
	}
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(t *testing.T, now func() time.Time) limit.Limiter { return limit.NewMemory(now) })
}

func TestRedisConformance(t *testing.T) {
	c := limittest.Redis(t)
	runConformance(t, func(t *testing.T, now func() time.Time) limit.Limiter {
		r := limit.NewRedis(c, limit.RedisOptions{Prefix: limittest.Prefix(t, c), Now: now, Timeout: time.Second})
		t.Cleanup(r.Close)
		return r
	})
}
