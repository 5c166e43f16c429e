package config

import (
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/currency"
)

// Refund policies: what a refund does when the team has already spent
// some of the order's credits (its balance is below the credits to take
// back).
const (
	// RefundReject refuses such a refund (409) unless the request says
	// "allow_negative": true.
	RefundReject = "reject"
	// RefundAllowNegative always takes the credits back, taking the wallet
	// below zero; the team cannot spend until it is topped up.
	RefundAllowNegative = "allow_negative"
)

// Shop configures the credits shop: the currency products are priced in,
// the payment providers, the refund policy and the reconciler.
type Shop struct {
	// Currency is the ISO 4217 code prices are in (minor units: cents
	// for usd, yen for jpy), lower-case as Stripe writes it.
	Currency string `yaml:"currency"`
	// RefundPolicy is RefundReject (default) or RefundAllowNegative.
	RefundPolicy string `yaml:"refund_policy"`
	// ReconcileInterval is how often the reconciler retries the
	// fulfilment of orders that are paid but not yet fulfilled.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`

	Manual ShopManual `yaml:"manual"`
	Stripe ShopStripe `yaml:"stripe"`
}

// ShopManual configures manual payments (bank transfer, invoice): the order
// waits with the instructions until an admin marks it paid.
type ShopManual struct {
	Enabled bool `yaml:"enabled"`
	// Instructions are shown to the customer; {order_id}, {amount} and
	// {currency} are replaced with the order's.
	Instructions string `yaml:"instructions"`
}

// ShopStripe configures Stripe Checkout.
type ShopStripe struct {
	Enabled       bool   `yaml:"enabled"`
	SecretKey     string `yaml:"secret_key"`     // sk_live_… or sk_test_… (or rk_… restricted)
	WebhookSecret string `yaml:"webhook_secret"` // whsec_…: verifies POST /api/webhooks/stripe
	// SuccessURL and CancelURL are where Stripe sends the customer back;
	// {ORDER_ID} is replaced with the order's ID and Stripe replaces
	// {CHECKOUT_SESSION_ID}.
	SuccessURL string `yaml:"success_url"`
	CancelURL  string `yaml:"cancel_url"`
	// APIBase is Stripe's API URL; set it only to point at a test double.
	APIBase string `yaml:"api_base"`
	// Timeout bounds one call to Stripe's API.
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultShop returns the shop section's defaults: US dollars, manual
// payments on, Stripe off, refunds of spent credits refused.
func DefaultShop() Shop {
	return Shop{
		Currency:          "usd",
		RefundPolicy:      RefundReject,
		ReconcileInterval: time.Minute,
		Manual: ShopManual{
			Enabled:      true,
			Instructions: "Pay {amount} {currency} by bank transfer quoting order {order_id}; your credits arrive once the payment is confirmed.",
		},
		Stripe: ShopStripe{
			APIBase: "https://api.stripe.com",
			Timeout: 30 * time.Second,
		},
	}
}

// errors checks the shop section; each error names its key (see bad in Validate).
func (c *Shop) errors() []error {
	var errs problems
	bad := errs.add
	if u, err := currency.ParseISO(c.Currency); err != nil || c.Currency != strings.ToLower(u.String()) {
		bad("shop.currency", "must be a lower-case ISO 4217 currency code such as usd or eur, got %q", c.Currency)
	}
	switch c.RefundPolicy {
	case RefundReject, RefundAllowNegative:
	default:
		bad("shop.refund_policy", "must be %s or %s, got %q", RefundReject, RefundAllowNegative, c.RefundPolicy)
	}
	if c.ReconcileInterval < time.Second {
		bad("shop.reconcile_interval", "must be a duration of at least 1s such as 1m, got %s", c.ReconcileInterval)
	}
	if len(c.Manual.Instructions) > 2000 {
		bad("shop.manual.instructions", "must be at most 2000 characters")
	}
	if c.Manual.Enabled && strings.TrimSpace(c.Manual.Instructions) == "" {
		bad("shop.manual.instructions", "must tell customers how to pay when manual payments are enabled")
	}
	s := &c.Stripe
	if s.Timeout <= 0 {
		bad("shop.stripe.timeout", "must be a positive duration such as 30s, got %s", s.Timeout)
	}
	if !s.Enabled {
		return errs
	}
	if !hasAnyPrefix(s.SecretKey, "sk_live_", "sk_test_", "rk_live_", "rk_test_") {
		bad("shop.stripe.secret_key", "must be a Stripe secret key (sk_live_…, sk_test_… or a restricted rk_… key)")
	}
	if !strings.HasPrefix(s.WebhookSecret, "whsec_") {
		bad("shop.stripe.webhook_secret", "must be the webhook endpoint's signing secret (whsec_…)")
	}
	for key, v := range map[string]string{"shop.stripe.success_url": s.SuccessURL, "shop.stripe.cancel_url": s.CancelURL} {
		if !absoluteHTTP(v) {
			bad(key, "must be an absolute http(s) URL customers return to, got %q", v)
		}
	}
	if !absoluteHTTP(s.APIBase) {
		bad("shop.stripe.api_base", "must be an absolute http(s) URL, got %q", s.APIBase)
	}
	return errs
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return true
		}
	}
	return false
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
