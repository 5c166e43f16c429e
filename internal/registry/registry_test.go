package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/simulator"
	"github.com/chorusgw/chorus/internal/registry"
)

type fakeSource struct {
	data  *registry.Data
	loads int
}

func (f *fakeSource) LoadRegistry(ctx context.Context) (*registry.Data, error) {
	f.loads++
	d := *f.data
	return &d, nil
}

func (f *fakeSource) RegistryVersion(ctx context.Context) (int64, error) { return f.data.Version, nil }

func factory(cfg provider.Config) (provider.Provider, error) {
	if cfg.Kind != chorus.ProviderSimulator {
		return nil, errors.New("unsupported in test")
	}
	return simulator.New(cfg)
}

func TestRegistry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	secret := "sk-chorus-abc"
	h := registry.HashKey(secret)
	past := now.Add(-time.Hour)
	expiredSecret := "sk-chorus-old"
	eh := registry.HashKey(expiredSecret)
	src := &fakeSource{data: &registry.Data{
		Version: 1,
		Models: []*chorus.Model{
			{Name: "m", Kind: chorus.KindChat, Enabled: true, Deployments: []*chorus.Deployment{
				{Name: "ok", Provider: chorus.ProviderSimulator, Enabled: true},
				{Name: "off", Provider: chorus.ProviderSimulator, Enabled: false},
				{Name: "broken", Provider: chorus.ProviderOpenAI, Enabled: true},
			}},
			{Name: "disabled", Kind: chorus.KindChat, Enabled: false},
		},
		Keys: []*chorus.APIKey{{ID: 1, Hash: h[:]}, {ID: 2, Hash: eh[:], ExpiresAt: &past}},
	}}
	r := registry.New(src, factory, registry.Options{MasterKey: "master-key-0123456789", Now: func() time.Time { return now }})
	if r.Authenticate(secret) != nil {
		t.Fatal("key accepted before the first load")
	}
	if err := r.Refresh(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	snap := r.Snapshot()
	t.Run("Routes", func(t *testing.T) {
		rt := snap.Route("m")
		if rt == nil || len(rt.Targets) != 1 || rt.Targets[0].Deployment.Name != "ok" {
			t.Fatalf("route m = %+v", rt)
		}
		if snap.Route("disabled") != nil {
			t.Fatal("disabled model routed")
		}
		if _, ok := snap.DeploymentErrors()["broken"]; !ok {
			t.Fatal("broken deployment not reported")
		}
	})
	t.Run("Keys", func(t *testing.T) {
		if k := r.Authenticate(secret); k == nil || k.ID != 1 {
			t.Fatalf("key = %+v", k)
		}
		if r.Authenticate(expiredSecret) != nil {
			t.Fatal("expired key accepted")
		}
		if r.Authenticate("nope") != nil {
			t.Fatal("unknown key accepted")
		}
		if k := r.Authenticate("master-key-0123456789"); k == nil || k.Role != chorus.RoleAdmin {
			t.Fatalf("master key = %+v", k)
		}
	})
	t.Run("RefreshOnlyOnVersionChange", func(t *testing.T) {
		loads := src.loads
		if err := r.Refresh(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if src.loads != loads {
			t.Fatal("reloaded although the version did not change")
		}
		src.data = &registry.Data{Version: 2}
		if err := r.Refresh(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if r.Authenticate(secret) != nil {
			t.Fatal("revoked key still accepted after refresh")
		}
		if snap.Route("m") == nil {
			t.Fatal("an old snapshot changed under its reader")
		}
	})
}
