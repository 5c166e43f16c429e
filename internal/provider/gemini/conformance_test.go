package gemini_test

import (
	"net/http"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
)

const testKey = "test-gemini-key"

// newClient returns an adapter pointed at baseURL with its own transport,
// closed when the test ends.
func newClient(t *testing.T, baseURL string) *gemini.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := gemini.New(provider.Config{
		Kind:       "gemini",
		BaseURL:    baseURL,
		APIKey:     testKey,
		Headers:    map[string]string{"X-Test": "yes"},
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name:        "gemini",
		Format:      provider.FormatGemini,
		NewFake:     func(t *testing.T) conformance.Fake { return geminitest.New(t) },
		NewProvider: func(t *testing.T, baseURL string) provider.Provider { return newClient(t, baseURL) },
		Embeddings:  true,
		Images:      true,
		ExtraErrors: []conformance.ErrorCase{
			{Status: 429, ErrType: "RESOURCE_EXHAUSTED", RetryAfter: "7", Retryable: true, WantRetryAfter: 7e9},
			{Status: 504, ErrType: "DEADLINE_EXCEEDED", Retryable: true},
		},
	})
}
