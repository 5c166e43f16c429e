package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/chorusgw/chorus/internal/api"
)

// TestMiddlewareRequestID checks the request ID: the caller's when it is
// acceptable, a fresh req_ + 24 hex digits otherwise, the same in the
// response header and the context, and the security headers on the answer.
func TestMiddlewareRequestID(t *testing.T) {
	var seen string
	h := api.Middleware(slog.New(slog.NewTextHandler(io.Discard, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = api.RequestID(r.Context())
		w.Header().Set("Referrer-Policy", "same-origin") // a handler may replace a security header
		w.Header().Add("Cache-Control", "private")       // or add to one: the shared value is not written to
	}))
	fresh := regexp.MustCompile(`^req_[0-9a-f]{24}$`)
	for _, tc := range []struct {
		name, sent string
		keep       bool
	}{
		{"Caller", "trace-abc-123", true},
		{"None", "", false},
		{"Unprintable", "bad id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if got != seen {
				t.Fatalf("header %q, context %q: want the same", got, seen)
			}
			if tc.keep && got != tc.sent {
				t.Fatalf("request ID %q, want the caller's %q", got, tc.sent)
			}
			if !tc.keep && !fresh.MatchString(got) {
				t.Fatalf("request ID %q, want req_ and 24 hex digits", got)
			}
			if got, want := rec.Header().Get("Referrer-Policy"), "same-origin"; got != want {
				t.Fatalf("Referrer-Policy = %q, want the handler's %q", got, want)
			}
			if got := rec.Header().Values("Cache-Control"); len(got) != 2 || got[0] != "no-store" || got[1] != "private" {
				t.Fatalf("Cache-Control = %q, want [no-store private]", got)
			}
			if got, want := rec.Header().Get("X-Content-Type-Options"), "nosniff"; got != want {
				t.Fatalf("X-Content-Type-Options = %q, want %q", got, want)
			}
		})
	}
	// The Add above must not have written into the value every answer shares.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/models", nil))
	if got := rec.Header().Values("Cache-Control"); len(got) != 2 {
		t.Fatalf("Cache-Control = %q on a later answer", got)
	}
}

func TestRequestIDOutsideARequest(t *testing.T) {
	if got := api.RequestID(context.Background()); got != "" {
		t.Fatalf("RequestID = %q outside a request, want empty", got)
	}
	type parentKey struct{}
	ctx := api.WithRequestID(context.WithValue(context.Background(), parentKey{}, "v"), "req_1")
	if got := api.RequestID(ctx); got != "req_1" {
		t.Fatalf("RequestID = %q, want req_1", got)
	}
	if got := ctx.Value(parentKey{}); got != "v" {
		t.Fatalf("a parent's value = %v through the request ID context, want v", got)
	}
}
