// Package adapters builds the provider adapter for a deployment's kind. It is
// the one place that knows every adapter.
package adapters

import (
	"fmt"
	"net"
	"net/http"
	"time"

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

// HTTPClient returns the client every adapter shares: pooled keep-alive
// connections sized for a busy gateway, a bounded connect time, and no
// overall timeout (streams last as long as their request's deadline).
func HTTPClient(connect time.Duration) *http.Client {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ExpectContinueTimeout: time.Second,
	}}
}
