package limit_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/chorusgw/chorus/internal/limit"
)

// A request's way through the limiter: admit before the upstream call, set
// the headers, refuse with the reason, Done with the actual tokens.
func ExampleLimiter() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var l limit.Limiter = limit.NewMemory(func() time.Time { return now })
	req := &limit.Request{KeyID: 42, UserID: 7, Model: "gpt-4o", Tokens: 1500, // input + max_tokens
		KeyLimits: limit.Limits{RPM: 60, TPM: 2000, Concurrency: 4}}

	d, ticket, err := l.Admit(context.Background(), req)
	if err != nil {
		panic(err) // EUNAVAILABLE (fail-closed) or the context's error
	}
	h := http.Header{}
	d.Headers.Write(h)
	fmt.Println(d.Allowed, h.Get("x-ratelimit-remaining-requests"), h.Get("x-ratelimit-remaining-tokens"), h.Get("x-ratelimit-reset-tokens"))
	ticket.Done(400) // the upstream used 400 tokens: 1100 come back

	d, _, _ = l.Admit(context.Background(), req) // 400 + 1500 of 2000
	fmt.Println(d.Allowed)

	d, _, _ = l.Admit(context.Background(), req) // 1500 > the 100 left
	fmt.Println(d.Allowed, d.RetryAfter)
	fmt.Println(d.Reason)
	// Output:
	// true 59 500 45s
	// true
	// false 42s
	// Rate limit reached for tokens per minute (TPM) on this API key: Limit 2000, Remaining 100, Requested 1500. Please try again in 42s.
}
