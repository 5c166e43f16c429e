package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestBilling(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		got := config.Default().Billing
		if got.Mode != config.BillingFast || !got.ExemptAdmins || got.FlushInterval != 200*time.Millisecond ||
			got.LeaseTTL != 30*time.Second || got.HoldExpiry != 0 || got.Webhook.AllowPrivate {
			t.Fatalf("defaults = %+v: want fast, admins exempt, 200ms flushes, 30s leases, no private webhooks", got)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		body := "billing:\n  mode: strict\n  exempt_admins: false\n  webhook: {max_attempts: 3, allow_private: true}\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p, []string{"CHORUS_BILLING_LEASE_CHUNK=5000", "CHORUS_BILLING_FLUSH_INTERVAL=1s", "CHORUS_BILLING_LEASE_TTL=10s"})
		if err != nil {
			t.Fatal(err)
		}
		b := c.Billing
		if b.Mode != config.BillingStrict || b.ExemptAdmins || b.Webhook.MaxAttempts != 3 || !b.Webhook.AllowPrivate ||
			b.LeaseChunk != 5000 || b.FlushInterval != time.Second || b.LeaseTTL != 10*time.Second {
			t.Errorf("billing = %+v, not what the file and environment say", b)
		}
	})
	bad := []struct {
		name string
		env  string
		key  string
	}{
		{"Mode", "CHORUS_BILLING_MODE=lazy", "billing.mode"},
		{"DefaultMaxTokens", "CHORUS_BILLING_DEFAULT_MAX_TOKENS=0", "billing.default_max_tokens"},
		{"InputMargin", "CHORUS_BILLING_INPUT_MARGIN=-0.5", "billing.input_margin"},
		{"BatchSize", "CHORUS_BILLING_BATCH_SIZE=0", "billing.batch_size"},
		{"LeaseChunk", "CHORUS_BILLING_LEASE_CHUNK=0", "billing.lease_chunk"},
		{"LeaseFraction", "CHORUS_BILLING_LEASE_FRACTION=1.5", "billing.lease_fraction"},
		{"LeaseTTLBelowFlushes", "CHORUS_BILLING_LEASE_TTL=500ms", "billing.lease_ttl"},
		{"HoldExpiry", "CHORUS_BILLING_HOLD_EXPIRY=-1s", "billing.hold_expiry"},
		{"FlushInterval", "CHORUS_BILLING_FLUSH_INTERVAL=0s", "billing.flush_interval"},
		{"WebhookAttempts", "CHORUS_BILLING_WEBHOOK_MAX_ATTEMPTS=0", "billing.webhook.max_attempts"},
		{"WebhookTimeout", "CHORUS_BILLING_WEBHOOK_TIMEOUT=0s", "billing.webhook.timeout"},
	}
	for _, tt := range bad {
		t.Run("Err"+tt.name, func(t *testing.T) {
			_, err := config.Load("", []string{tt.env})
			if err == nil || !strings.Contains(err.Error(), tt.key+" (") {
				t.Fatalf("Load(%s) = %v, want an error naming %s", tt.env, err, tt.key)
			}
		})
	}
}
