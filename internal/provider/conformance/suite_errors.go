package conformance

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// errorCases is the table every adapter passes; Harness.ExtraErrors extends it.
var errorCases = []ErrorCase{
	{Status: 400, ErrType: "invalid_request_error"},
	{Status: 401, ErrType: "authentication_error"},
	{Status: 403, ErrType: "permission_error"},
	{Status: 404, ErrType: "not_found_error"},
	{Status: 429, ErrType: "rate_limit_error", RetryAfter: "2", Retryable: true, WantRetryAfter: 2 * time.Second},
	{Status: 500, ErrType: "api_error", Retryable: true},
	{Status: 503, ErrType: "overloaded_error", Retryable: true},
}

func testErrors(t *testing.T, h Harness) {
	cases := append(append([]ErrorCase(nil), errorCases...), h.ExtraErrors...)
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.Status), func(t *testing.T) {
			msg := fmt.Sprintf("conformance: upstream said %d", tc.Status)
			s := Scenario{Status: tc.Status, ErrType: tc.ErrType, ErrMessage: msg, RetryAfter: tc.RetryAfter}
			t.Run("Chat", func(t *testing.T) {
				f, p := setup(t, h, s)
				resp, err := p.Chat(callCtx(t), conversation())
				if err == nil {
					t.Fatalf("Chat succeeded with %+v, want an error", resp)
				}
				checkErrorCase(t, tc, msg, err)
				if n := f.Requests(); n != 1 {
					t.Errorf("fake received %d requests, want 1 (adapters must not retry)", n)
				}
			})
			t.Run("Stream", func(t *testing.T) {
				f, p := setup(t, h, s)
				req := conversation()
				req.Stream = true
				chunks, err := collect(t, p, req)
				if err == nil {
					t.Fatalf("stream succeeded with %d chunks, want an error", len(chunks))
				}
				if len(chunks) != 0 {
					t.Errorf("got %d chunks before the error, want none", len(chunks))
				}
				checkErrorCase(t, tc, msg, err)
				if n := f.Requests(); n != 1 {
					t.Errorf("fake received %d requests, want 1 (adapters must not retry)", n)
				}
			})
		})
	}
}

func checkErrorCase(t *testing.T, tc ErrorCase, msg string, err error) {
	t.Helper()
	pe := asProviderError(t, err)
	if pe.Status != tc.Status {
		t.Errorf("status = %d, want %d", pe.Status, tc.Status)
	}
	if pe.Message != msg {
		t.Errorf("message = %q, want %q", pe.Message, msg)
	}
	if tc.ErrType != "" && pe.Type != tc.ErrType {
		t.Errorf("type = %q, want %q", pe.Type, tc.ErrType)
	}
	if pe.Retryable() != tc.Retryable {
		t.Errorf("Retryable() = %v, want %v", pe.Retryable(), tc.Retryable)
	}
	if pe.RetryAfter != tc.WantRetryAfter {
		t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tc.WantRetryAfter)
	}
	if pe.Provider == "" {
		t.Error("Provider is empty, want the adapter kind")
	}
}
