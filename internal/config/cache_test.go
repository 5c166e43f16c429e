package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestCacheConfig(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c := config.Default()
		got := c.Cache
		if !got.Enabled || got.TTL != 0 || got.MaxEntries != 100_000 || got.MaxBytes != 256<<20 ||
			got.CostFraction != 0 || got.Timeout != 50*time.Millisecond || got.Prefix == "" {
			t.Fatalf("defaults = %+v: want enabled, opt-in (ttl 0), 100k entries, 256 MiB, free hits, 50ms", got)
		}
		if c.RedisURL != "" {
			t.Fatalf("redis_url default = %q, want empty (in process)", c.RedisURL)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		body := "redis_url: redis://127.0.0.1:6379/0\ncache:\n  ttl: 10m\n  max_entries: 500\n  cost_fraction: 0.25\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p, []string{"CHORUS_CACHE_ENABLED=false", "CHORUS_CACHE_TIMEOUT=20ms"})
		if err != nil {
			t.Fatal(err)
		}
		got := c.Cache
		if c.RedisURL != "redis://127.0.0.1:6379/0" || got.TTL != 10*time.Minute || got.MaxEntries != 500 ||
			got.CostFraction != 0.25 || got.Enabled || got.Timeout != 20*time.Millisecond {
			t.Fatalf("got %q %+v", c.RedisURL, got)
		}
	})
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"ErrRedisURL":     {[]string{"CHORUS_REDIS_URL=http://u:secret@h:6379"}, "redis_url"},
		"ErrNegTTL":       {[]string{"CHORUS_CACHE_TTL=-1s"}, "cache.ttl"},
		"ErrMaxEntries":   {[]string{"CHORUS_CACHE_MAX_ENTRIES=0"}, "cache.max_entries"},
		"ErrMaxBytes":     {[]string{"CHORUS_CACHE_MAX_BYTES=1000"}, "cache.max_bytes"},
		"ErrCostFraction": {[]string{"CHORUS_CACHE_COST_FRACTION=1.5"}, "cache.cost_fraction"},
		"ErrTimeout":      {[]string{"CHORUS_CACHE_TIMEOUT=0s"}, "cache.timeout"},
		"ErrPrefix":       {[]string{"CHORUS_CACHE_PREFIX="}, "cache.prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load("", tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error leaks a password: %v", err)
			}
		})
	}
}
