package anthropic_test

import (
	"net/http"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// newClient returns a Client pointed at baseURL, failing tb on error.
func newClient(tb testing.TB, baseURL string) *anthropic.Client {
	tb.Helper()
	c, err := anthropic.New(provider.Config{
		Kind:       chorus.ProviderAnthropic,
		BaseURL:    baseURL,
		APIKey:     "sk-ant-test",
		HTTPClient: &http.Client{},
	})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name:   "anthropic",
		Format: provider.FormatAnthropic,
		NewFake: func(t *testing.T) conformance.Fake {
			return anthropictest.NewServer(t)
		},
		NewProvider: func(t *testing.T, baseURL string) provider.Provider {
			return newClient(t, baseURL)
		},
		Images: true,
		ExtraErrors: []conformance.ErrorCase{
			{Status: anthropic.StatusOverloaded, ErrType: "overloaded_error", Retryable: true},
			{Status: 413, ErrType: "request_too_large"},
			{Status: 402, ErrType: "billing_error"},
			{Status: 429, ErrType: "rate_limit_error", RetryAfter: "0.5", Retryable: true, WantRetryAfter: 500_000_000},
			{Status: 504, ErrType: "timeout_error", Retryable: true},
		},
	})
}
