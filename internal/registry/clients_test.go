package registry_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// TestClients: each deployment gets the shared client for its connect
// timeout and private-network opt-in (its own, or the operator's), one
// client per distinct value.
func TestClients(t *testing.T) {
	dep := func(name string, settings map[string]any) *chorus.Deployment {
		return &chorus.Deployment{Name: name, Provider: chorus.ProviderSimulator, Enabled: true, Settings: settings}
	}
	src := &fakeSource{data: &registry.Data{Version: 1, Models: []*chorus.Model{{Name: "m", Kind: chorus.KindChat, Enabled: true,
		Deployments: []*chorus.Deployment{
			dep("plain", nil),
			dep("plain-too", nil),
			dep("private", map[string]any{chorus.SettingAllowPrivateNetwork: true}),
			dep("slow", map[string]any{"connect_timeout_ms": 2500}),
		}}}}}
	for _, tt := range []struct {
		name     string
		allowAll bool
		want     map[string]provider.ClientOptions
	}{
		{"PerDeployment", false, map[string]provider.ClientOptions{
			"plain":     {Connect: 3 * time.Second},
			"plain-too": {Connect: 3 * time.Second},
			"private":   {Connect: 3 * time.Second, AllowPrivateNetwork: true},
			"slow":      {Connect: 2500 * time.Millisecond},
		}},
		{"AllowAll", true, map[string]provider.ClientOptions{
			"plain":     {Connect: 3 * time.Second, AllowPrivateNetwork: true},
			"plain-too": {Connect: 3 * time.Second, AllowPrivateNetwork: true},
			"private":   {Connect: 3 * time.Second, AllowPrivateNetwork: true},
			"slow":      {Connect: 2500 * time.Millisecond, AllowPrivateNetwork: true},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			made := map[*http.Client]provider.ClientOptions{}
			got := map[string]provider.ClientOptions{}
			factory := func(cfg provider.Config) (provider.Provider, error) {
				p, err := factory(cfg)
				if s, ok := cfg.Settings["name"].(string); ok {
					got[s] = made[cfg.HTTPClient]
				}
				return p, err
			}
			for _, d := range src.data.Models[0].Deployments {
				if d.Settings == nil {
					d.Settings = map[string]any{}
				}
				d.Settings["name"] = d.Name // for the factory to tell them apart
			}
			r := registry.New(src, factory, registry.Options{Connect: 3 * time.Second, AllowPrivateNetworks: tt.allowAll,
				ClientFor: func(o provider.ClientOptions) *http.Client {
					c := &http.Client{}
					made[c] = o
					return c
				}})
			if err := r.Refresh(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("deployment %s got a client for %+v, want %+v", name, got[name], want)
				}
			}
			if distinct := len(made); distinct != 3-btoi(tt.allowAll) {
				t.Errorf("%d clients made, want one per distinct option", distinct)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
