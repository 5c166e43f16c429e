package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestShop(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		s := config.Default().Shop
		if s.Currency != "usd" || s.RefundPolicy != config.RefundReject || !s.Manual.Enabled || s.Stripe.Enabled ||
			s.ReconcileInterval != time.Minute {
			t.Errorf("defaults %+v", s)
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{
			"CHORUS_SHOP_CURRENCY=eur", "CHORUS_SHOP_REFUND_POLICY=allow_negative",
			"CHORUS_SHOP_STRIPE_ENABLED=true", "CHORUS_SHOP_STRIPE_SECRET_KEY=sk_test_abc",
			"CHORUS_SHOP_STRIPE_WEBHOOK_SECRET=whsec_abc", "CHORUS_SHOP_STRIPE_SUCCESS_URL=https://chorus.example/ok?s={CHECKOUT_SESSION_ID}",
			"CHORUS_SHOP_STRIPE_CANCEL_URL=https://chorus.example/cancel", "CHORUS_SHOP_RECONCILE_INTERVAL=30s",
		})
		if err != nil {
			t.Fatal(err)
		}
		s := c.Shop
		if s.Currency != "eur" || s.RefundPolicy != config.RefundAllowNegative || !s.Stripe.Enabled ||
			s.Stripe.SecretKey != "sk_test_abc" || s.ReconcileInterval != 30*time.Second {
			t.Errorf("env not applied: %+v", s)
		}
	})
	for _, tt := range []struct {
		name string
		edit func(s *config.Shop)
		key  string
	}{
		{"ErrCurrencyUnknown", func(s *config.Shop) { s.Currency = "xyz" }, "shop.currency"},
		{"ErrCurrencyUpper", func(s *config.Shop) { s.Currency = "USD" }, "shop.currency"},
		{"ErrRefundPolicy", func(s *config.Shop) { s.RefundPolicy = "maybe" }, "shop.refund_policy"},
		{"ErrReconcileInterval", func(s *config.Shop) { s.ReconcileInterval = 0 }, "shop.reconcile_interval"},
		{"ErrManualInstructions", func(s *config.Shop) { s.Manual.Instructions = " " }, "shop.manual.instructions"},
		{"ErrStripeKey", func(s *config.Shop) { s.Stripe.Enabled, s.Stripe.SecretKey = true, "pk_test_abc" }, "shop.stripe.secret_key"},
		{"ErrStripeWebhookSecret", func(s *config.Shop) { s.Stripe.Enabled = true }, "shop.stripe.webhook_secret"},
		{"ErrStripeSuccessURL", func(s *config.Shop) { s.Stripe.Enabled, s.Stripe.SuccessURL = true, "/ok" }, "shop.stripe.success_url"},
		{"ErrStripeAPIBase", func(s *config.Shop) { s.Stripe.Enabled, s.Stripe.APIBase = true, "stripe" }, "shop.stripe.api_base"},
		{"ErrStripeTimeout", func(s *config.Shop) { s.Stripe.Timeout = 0 }, "shop.stripe.timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(&c.Shop)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.key+" (") {
				t.Errorf("got %v, want an error about %s", err, tt.key)
			}
		})
	}
}
