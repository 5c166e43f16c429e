package e2e_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

// TestResponseCache checks the cache on the request path: a repeated
// request is answered from cache (marked in the header and the usage
// record, at no cost), a streaming request is answered from cache as a
// stream, Cache-Control: no-cache bypasses it, and concurrent identical
// requests make one upstream call.
func TestResponseCache(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Cache.TTL = time.Minute })
	sim := g.simulated(g.unique("cached"), map[string]any{"output_tokens": 5, "latency_ms": 150})
	key := g.customer()
	body := func(text string, stream bool) map[string]any {
		return map[string]any{"model": sim.Model.Name, "stream": stream, "messages": []map[string]string{{"role": "user", "content": text}}}
	}

	first := g.do("POST", "/v1/chat/completions", key.Key, body("same question", false))
	second := g.do("POST", "/v1/chat/completions", key.Key, body("same question", false), "Content-Type", "application/json")
	if first.Header.Get("X-Chorus-Cache") != "miss" || second.Header.Get("X-Chorus-Cache") != "hit" {
		t.Fatalf("x-chorus-cache %q then %q, want miss then hit", first.Header.Get("X-Chorus-Cache"), second.Header.Get("X-Chorus-Cache"))
	}
	content := func(r response) string {
		i := strings.Index(string(r.Body), `"content":`)
		if i < 0 {
			t.Fatalf("no content in %s", r.Body)
		}
		return string(r.Body[i : i+40])
	}
	if content(first) != content(second) {
		t.Fatalf("cached answer differs: %s vs %s", first.Body, second.Body)
	}

	st := g.do("POST", "/v1/chat/completions", key.Key, body("same question", true))
	if st.Header.Get("X-Chorus-Cache") != "hit" || !strings.HasPrefix(st.Header.Get("Content-Type"), "text/event-stream") ||
		!strings.Contains(string(st.Body), "data: [DONE]") {
		t.Fatalf("stream from cache: %q %q %s", st.Header.Get("X-Chorus-Cache"), st.Header.Get("Content-Type"), st.Body)
	}

	by := g.do("POST", "/v1/chat/completions", key.Key, body("same question", false), "Cache-Control", "no-cache")
	if by.Header.Get("X-Chorus-Cache") != "bypass" {
		t.Fatalf("no-cache: x-chorus-cache %q, want bypass", by.Header.Get("X-Chorus-Cache"))
	}

	// chorus_cache_requests_total counts what the cache did (this gateway
	// serves this test alone: the counts are exact).
	// A request is counted when it finishes, just after its answer is
	// written: wait for the last one.
	wants := []string{`chorus_cache_requests_total{endpoint="chat",result="miss"} 1`,
		`chorus_cache_requests_total{endpoint="chat",result="hit"} 2`, `chorus_cache_requests_total{endpoint="chat",result="bypass"} 1`}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		m, missing := string(g.do("GET", "/metrics", "", nil).Body), ""
		for _, want := range wants {
			if !strings.Contains(m, want+"\n") {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s", missing)
		}
	}

	us := g.waitUsage(key.ID, 4)
	if us[0].Cost == 0 || len(us[0].Attempts) != 1 || us[0].Attempts[0].Outcome != "ok" {
		t.Fatalf("miss usage %+v", us[0])
	}
	for _, u := range us[1:3] {
		if u.Cost != 0 || len(u.Attempts) != 1 || u.Attempts[0].Outcome != "cache_hit" || u.OutputTokens == 0 {
			t.Fatalf("hit usage %+v, want a free cache_hit with the tokens served", u)
		}
	}

	t.Run("TeamsDoNotShare", func(t *testing.T) {
		other := g.customer() // a new user in a team of their own
		r := g.do("POST", "/v1/chat/completions", other.Key, body("same question", false))
		if got := r.Header.Get("X-Chorus-Cache"); got != "miss" {
			t.Fatalf("another team's identical request: x-chorus-cache %q, want miss (cache.scope team)", got)
		}
		again := g.do("POST", "/v1/chat/completions", other.Key, body("same question", false))
		if got := again.Header.Get("X-Chorus-Cache"); got != "hit" {
			t.Fatalf("the same team again: x-chorus-cache %q, want hit", got)
		}
	})

	t.Run("SingleFlight", func(t *testing.T) {
		k := g.customer()
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		for i := range statuses {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				statuses[i] = g.do("POST", "/v1/chat/completions", k.Key, body("asked at once", false)).Status
			}(i)
		}
		wg.Wait()
		calls := 0
		for i, u := range g.waitUsage(k.ID, len(statuses)) {
			if statuses[i] != http.StatusOK {
				t.Fatalf("request %d: %d", i, statuses[i])
			}
			for _, a := range u.Attempts {
				if a.Outcome == "ok" {
					calls++
				}
			}
		}
		if calls != 1 {
			t.Fatalf("%d upstream calls for 6 identical concurrent requests, want 1", calls)
		}
	})
}
