package e2e_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/chorusgw/chorus/internal/config"
)

// TestRateLimitThroughGateway checks per-key limits on the request path:
// OpenAI's x-ratelimit-* headers on every answer, and a 429 in OpenAI's
// error shape with Retry-After once the key's requests per minute are spent.
func TestRateLimitThroughGateway(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) {
		c.RateLimits.Key = config.RateLimit{RPM: 3, TPM: 100_000}
	})
	sim := g.simulated(g.unique("limited"), map[string]any{"output_tokens": 2})
	key := g.customer()
	body := map[string]any{"model": sim.Model.Name, "messages": []map[string]string{{"role": "user", "content": "hi"}}}
	for i := 0; i < 3; i++ {
		r := g.do("POST", "/v1/chat/completions", key.Key, body)
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
		if got := r.Header.Get("X-Ratelimit-Limit-Requests"); got != "3" {
			t.Fatalf("x-ratelimit-limit-requests = %q, want 3", got)
		}
		if got, want := r.Header.Get("X-Ratelimit-Remaining-Requests"), strconv.Itoa(2-i); got != want {
			t.Fatalf("request %d: x-ratelimit-remaining-requests = %q, want %s", i, got, want)
		}
		if r.Header.Get("X-Ratelimit-Limit-Tokens") != "100000" || r.Header.Get("X-Ratelimit-Reset-Requests") == "" {
			t.Fatalf("token headers missing: %v", r.Header)
		}
	}
	r := g.do("POST", "/v1/chat/completions", key.Key, body)
	e := wantAPIError(t, r, http.StatusTooManyRequests, "requests", "")
	if e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" {
		t.Fatalf("code = %v, want rate_limit_exceeded", e.Error.Code)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
		t.Fatalf("Retry-After = %q, want about 20 s (one request's share of a minute)", r.Header.Get("Retry-After"))
	}
	// Another key is not affected.
	if r := g.do("POST", "/v1/chat/completions", g.customer().Key, body); r.Status != http.StatusOK {
		t.Fatalf("another key: %d %s", r.Status, r.Body)
	}
	// The refusal is recorded, and costs nothing.
	us := g.waitUsage(key.ID, 4)
	for _, u := range us[:3] {
		if u.Status != http.StatusOK || u.Cost == 0 {
			t.Fatalf("usage record %+v, want a billed 200", u)
		}
	}
	if u := us[3]; u.Status != http.StatusTooManyRequests || u.Cost != 0 || len(u.Attempts) != 0 {
		t.Fatalf("refusal's usage record %+v, want a 429 with no cost and no upstream call", u)
	}
}
