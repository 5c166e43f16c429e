package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chorusgw/chorus/internal/config"
)

func TestUpstreams(t *testing.T) {
	t.Run("DefaultRefusesPrivate", func(t *testing.T) {
		if config.Default().Upstreams.AllowPrivateNetworks {
			t.Fatal("upstreams.allow_private_networks is on by default")
		}
	})
	t.Run("File", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte("upstreams:\n  allow_private_networks: true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p, nil)
		if err != nil || !c.Upstreams.AllowPrivateNetworks {
			t.Fatalf("Load = %+v, %v; want private networks allowed", c.Upstreams, err)
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{"CHORUS_UPSTREAMS_ALLOW_PRIVATE_NETWORKS=true"})
		if err != nil || !c.Upstreams.AllowPrivateNetworks {
			t.Fatalf("Load = %+v, %v; want private networks allowed", c.Upstreams, err)
		}
	})
}
