package openai_test

import (
	"net/http"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

func newClient(t *testing.T, kind, baseURL string) *openai.Client {
	t.Helper()
	c, err := openai.New(provider.Config{
		Kind:       kind,
		BaseURL:    baseURL,
		APIKey:     "sk-test",
		HTTPClient: &http.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) {
	for _, kind := range []string{chorus.ProviderOpenAI, chorus.ProviderAzure} {
		t.Run(kind, func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				Name:   kind,
				Format: provider.FormatOpenAI,
				NewFake: func(t *testing.T) conformance.Fake {
					if kind == chorus.ProviderAzure {
						return openaitest.NewAzure(t)
					}
					return openaitest.New(t)
				},
				NewProvider: func(t *testing.T, baseURL string) provider.Provider {
					return newClient(t, kind, baseURL)
				},
				Embeddings: true,
				Images:     true,
			})
		})
	}
}
