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
	"github.com/chorusgw/chorus/internal/provider/replay"
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
	case chorus.ProviderReplay:
		return replay.New(cfg)
	}
	return nil, fmt.Errorf("unknown provider %q; want one of %v", cfg.Kind, chorus.ProviderKinds())
}

// WithReplayDir returns New with every config's ReplayDir set to dir: the
// directory (upstreams.replay_dir) replay deployments may read from.
func WithReplayDir(dir string) func(provider.Config) (provider.Provider, error) {
	return func(cfg provider.Config) (provider.Provider, error) {
		cfg.ReplayDir = dir
		return New(cfg)
	}
}
