package limit_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/limit"
)

// TestHeadersWrite checks the x-ratelimit-* headers, and that adding a value
// to one of them (they share one backing array) leaves the others alone.
func TestHeadersWriteShared(t *testing.T) {
	h := limit.Headers{LimitRequests: 60, RemainingRequests: 59, ResetRequests: 1500 * time.Millisecond,
		LimitTokens: 1000, RemainingTokens: 900, ResetTokens: 20 * time.Millisecond}
	hd := http.Header{}
	h.Write(hd)
	hd.Add("X-Ratelimit-Limit-Requests", "extra")
	want := map[string][]string{
		"X-Ratelimit-Limit-Requests":     {"60", "extra"},
		"X-Ratelimit-Remaining-Requests": {"59"},
		"X-Ratelimit-Reset-Requests":     {"1.5s"},
		"X-Ratelimit-Limit-Tokens":       {"1000"},
		"X-Ratelimit-Remaining-Tokens":   {"900"},
		"X-Ratelimit-Reset-Tokens":       {"20ms"},
	}
	for k, v := range want {
		if got := hd.Values(k); len(got) != len(v) || got[0] != v[0] || got[len(got)-1] != v[len(v)-1] {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	empty := http.Header{}
	(&limit.Headers{}).Write(empty)
	if len(empty) != 0 {
		t.Fatalf("no limits wrote %v", empty)
	}
}

func BenchmarkHeadersWrite(b *testing.B) {
	h := limit.Headers{LimitRequests: 60, RemainingRequests: 59, ResetRequests: 1500 * time.Millisecond,
		LimitTokens: 1000, RemainingTokens: 900, ResetTokens: 20 * time.Millisecond}
	hd := make(http.Header, 8)
	b.ReportAllocs()
	for b.Loop() {
		h.Write(hd)
	}
}
