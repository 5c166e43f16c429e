// Package adapters builds the provider adapter for a deployment's kind. It is
// the one place that knows every adapter.
package adapters

import (
	"fmt"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/gemini"
	"github.com/chorusgw/chorus/internal/provider/openai"
	"github.com/chorusgw/chorus/internal/provider/simulator"
)

// New returns the adapter for cfg.Kind.
func New(cfg provider.Config) (provider.Provider, error) {
	switch cfg.Kind {
	case chorus.ProviderOpenAI, chorus.ProviderAzure:
		return openai.New(cfg)
	case chorus.ProviderAnthropic:
		return anthropic.New(cfg)
	case chorus.ProviderGemini:
		return gemini.New(cfg)
	case chorus.ProviderSimulator:
		return simulator.New(cfg)
	}
	return nil, fmt.Errorf("unknown provider %q; want one of %v", cfg.Kind, chorus.ProviderKinds())
}
