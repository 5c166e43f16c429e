package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to the configuration loader: it must never
// panic, and whatever it accepts must be valid, with every default a field
// needs still in place.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"listen: \":8080\"\nlog: {level: debug, format: json}\n",
		"limits: {max_body_bytes: 1024, max_messages: 2}\ntimeouts: {upstream: 30s}\n",
		"rate_limits:\n  key: {rpm: 600, tpm: 200000, concurrency: 20}\n  models: {sim-large: {rpm: 60}}\n",
		"cache: {ttl: 1m, cost_fraction: 0.5}\nredis_url: redis://127.0.0.1:6379/0\n",
		"routes:\n  - name: r\n    strategy: fallback\n    deployments: [a, b]\n",
		"billing: {mode: strict}\nshop: {currency: eur, stripe: {enabled: true}}\n",
		"auth: {signup: open, password_min_length: 8}\nresponses: {hosted_tools: drop}\n",
		"unknown_key: 1\n", "listen: [1, 2]\n", "a: &a [*a]\n", "---\n---\n", "",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "chorus.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, nil)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration that does not validate: %v", err)
		}
	})
}
