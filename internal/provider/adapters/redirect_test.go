package adapters_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/netguard"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/adapters"
)

// recorder is the server a redirect points at: it records what reaches it.
type recorder struct {
	mu      sync.Mutex
	headers []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.headers)
}

// call is one upstream operation of an adapter.
type call struct {
	name string
	do   func(ctx context.Context, p provider.Provider) error
}

func calls() []call {
	req := func() *provider.ChatRequest {
		return &provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}}
	}
	return []call{
		{"Chat", func(ctx context.Context, p provider.Provider) error { _, err := p.Chat(ctx, req()); return err }},
		{"ChatStream", func(ctx context.Context, p provider.Provider) error {
			s, err := p.ChatStream(ctx, req())
			if err == nil {
				_, err = s.Next()
				s.Close()
			}
			return err
		}},
		{"Embed", func(ctx context.Context, p provider.Provider) error {
			e, ok := p.(provider.Embedder)
			if !ok {
				return &provider.Error{Type: "redirect"} // nothing to call
			}
			_, err := e.Embed(ctx, &provider.EmbeddingRequest{Model: "m", Input: []string{"hi"}})
			return err
		}},
		{"CountTokens", func(ctx context.Context, p provider.Provider) error {
			tc, ok := p.(provider.TokenCounter)
			if !ok {
				return &provider.Error{Type: "redirect"}
			}
			_, err := tc.CountTokens(ctx, req())
			return err
		}},
	}
}

// TestRedirectsNotFollowed points every adapter at an upstream that
// redirects to a second server: nothing, and so no provider key, reaches
// the second server, and the call fails with the redirect error — with the
// shared client and with the one an adapter builds for itself.
func TestRedirectsNotFollowed(t *testing.T) {
	rec := &recorder{}
	target := httptest.NewServer(rec)
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	clients := map[string]*http.Client{
		"Shared": provider.NewHTTPClient(provider.ClientOptions{AllowPrivateNetwork: true}),
		"Own":    nil,
	}
	for _, kind := range []string{chorus.ProviderOpenAI, chorus.ProviderAzure, chorus.ProviderAnthropic, chorus.ProviderGemini} {
		for cname, hc := range clients {
			p, err := adapters.New(provider.Config{Kind: kind, BaseURL: redirect.URL, APIKey: "secret-key",
				HTTPClient: hc, AllowPrivateNetwork: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range calls() {
				t.Run(kind+"/"+cname+"/"+c.name, func(t *testing.T) {
					err := c.do(context.Background(), p)
					var pe *provider.Error
					if !errors.As(err, &pe) || pe.Type != "redirect" {
						t.Errorf("error = %v, want the redirect error", err)
					}
					if n := rec.count(); n != 0 {
						t.Fatalf("%d requests reached the redirect target, with headers %v", n, rec.headers)
					}
				})
			}
		}
	}
}

// TestDefaultClientRefusesLoopback: an adapter given no client builds one
// that refuses loopback addresses unless the deployment allows them.
func TestDefaultClientRefusesLoopback(t *testing.T) {
	rec := &recorder{}
	upstream := httptest.NewServer(rec)
	defer upstream.Close()
	for _, kind := range []string{chorus.ProviderOpenAI, chorus.ProviderAzure, chorus.ProviderAnthropic, chorus.ProviderGemini} {
		t.Run(kind, func(t *testing.T) {
			p, err := adapters.New(provider.Config{Kind: kind, BaseURL: upstream.URL, APIKey: "secret-key"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Chat(context.Background(), &provider.ChatRequest{Model: "m",
				Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}})
			if !errors.Is(err, netguard.ErrRefused) || rec.count() != 0 {
				t.Errorf("Chat = %v after %d requests, want the dial refused", err, rec.count())
			}
		})
	}
}
