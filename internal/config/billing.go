package config

import (
	"time"
)

// Billing modes (billing.mode).
const (
	// BillingOff meters nothing: requests are neither reserved nor charged
	// (usage records still carry their cost). The request path does no
	// billing work at all.
	BillingOff = "off"
	// BillingFast keeps the request path off the database: each instance
	// leases credit from a team's wallet in chunks, admits requests against
	// its lease in memory and writes the charges in batches every
	// flush_interval. A killed instance loses at most the charges of its
	// last flush_interval (those requests are served free, never charged
	// twice); its leases expire after lease_ttl.
	BillingFast = "fast"
	// BillingStrict reserves each request's worst case in the database
	// before calling upstream and settles it in one transaction before the
	// response completes: a killed instance loses no completed request's
	// charge. Two database transactions per request.
	BillingStrict = "strict"
)

// Billing configures credits metering and budgets.
//
// The default is fast mode with admins exempt. A fresh install works out of
// the box: its bootstrap admin (and the master key, which has no team) are
// metered — usage records and budgets still see their cost — but never
// refused for want of credits, while customers spend their team's wallet.
// The operator of a self-hosted gateway should not have to buy credits from
// themselves; customers are who the credits are for.
type Billing struct {
	Mode string `yaml:"mode"` // off, fast (default) or strict
	// ExemptAdmins spares keys of admin users the wallet: they are never
	// refused for want of credits and never charged. Budgets on them still
	// apply.
	ExemptAdmins bool `yaml:"exempt_admins"`
	// DefaultMaxTokens is the output a request is assumed to produce at most
	// when it sets no max_tokens and its model states no max_output_tokens.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// InputMargin is added to the tokenizer's input count (0.2: 20%) to
	// cover providers whose tokenizers count more than OpenAI's.
	InputMargin float64 `yaml:"input_margin"`

	// FlushInterval (fast mode) is how often charges are written: the most
	// a killed instance can fail to charge is what it served in one
	// interval plus the flush then in progress.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// BatchSize (fast mode) bounds the teams settled in one transaction.
	BatchSize int `yaml:"batch_size"`
	// LeaseChunk (fast mode, micro-credits) is how much an instance leases
	// from a wallet at once, at most; LeaseFraction caps it at that share
	// of what the wallet has available, so instances share a small wallet.
	LeaseChunk    int64   `yaml:"lease_chunk"`
	LeaseFraction float64 `yaml:"lease_fraction"`
	// LeaseTTL (fast mode) is how long a lease outlives its instance's last
	// renewal (every flush renews): after a crash the leased credit is free
	// again within this.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// LeaseIdle (fast mode): a team's lease unused this long is returned.
	LeaseIdle time.Duration `yaml:"lease_idle"`
	// HoldExpiry (strict mode) is how long a request's hold lives if its
	// instance dies before settling it; 0 means timeouts.upstream + 1m.
	HoldExpiry time.Duration `yaml:"hold_expiry"`
	// ReapInterval is how often expired holds and leases are released.
	ReapInterval time.Duration `yaml:"reap_interval"`
	// BudgetRefresh is how often budgets (and, in fast mode, their spend)
	// are reloaded; a change made through this instance applies at once.
	BudgetRefresh time.Duration `yaml:"budget_refresh"`

	Webhook Webhook `yaml:"webhook"` // budget alerts
}

// Webhook configures the delivery of budget alerts.
type Webhook struct {
	Timeout     time.Duration `yaml:"timeout"`      // one delivery attempt
	MaxAttempts int           `yaml:"max_attempts"` // then the delivery is marked failed
	Backoff     time.Duration `yaml:"backoff"`      // before the second attempt; doubles each time, at most 1h
	Poll        time.Duration `yaml:"poll"`         // how often due deliveries are looked for
	// AllowPrivate lets webhooks reach loopback and private addresses
	// (never link-local or cloud metadata ones: see internal/netguard).
	// Off by default: budget webhooks are set by customers, and must not be
	// a way into the operator's network.
	AllowPrivate bool `yaml:"allow_private"`
}

// DefaultBilling returns the billing section's defaults.
func DefaultBilling() Billing {
	return Billing{
		Mode:             BillingFast,
		ExemptAdmins:     true,
		DefaultMaxTokens: 4096,
		InputMargin:      0.2,
		FlushInterval:    200 * time.Millisecond,
		BatchSize:        100,
		LeaseChunk:       10_000_000, // 10 credits
		LeaseFraction:    0.5,
		LeaseTTL:         30 * time.Second,
		LeaseIdle:        30 * time.Second,
		ReapInterval:     10 * time.Second,
		BudgetRefresh:    2 * time.Second,
		Webhook: Webhook{
			Timeout: 5 * time.Second, MaxAttempts: 8, Backoff: 2 * time.Second, Poll: 2 * time.Second,
		},
	}
}

// errors checks the billing section; each error names its key (see bad in Validate).
func (c *Billing) errors() []error {
	var errs problems
	bad := func(key, format string, args ...any) { errs.add("billing."+key, format, args...) }
	switch c.Mode {
	case BillingOff, BillingFast, BillingStrict:
	default:
		bad("mode", "must be off, fast or strict, got %q", c.Mode)
	}
	if c.DefaultMaxTokens < 1 || c.DefaultMaxTokens > 10_000_000 {
		bad("default_max_tokens", "must be 1-10000000, got %d", c.DefaultMaxTokens)
	}
	if c.InputMargin < 0 || c.InputMargin > 10 {
		bad("input_margin", "must be in [0, 10], got %g", c.InputMargin)
	}
	if c.BatchSize < 1 || c.BatchSize > 10_000 {
		bad("batch_size", "must be 1-10000, got %d", c.BatchSize)
	}
	if c.LeaseChunk < 1 {
		bad("lease_chunk", "must be at least 1 micro-credit, got %d", c.LeaseChunk)
	}
	if c.LeaseFraction <= 0 || c.LeaseFraction > 1 {
		bad("lease_fraction", "must be in (0, 1], got %g", c.LeaseFraction)
	}
	if c.HoldExpiry < 0 {
		bad("hold_expiry", "must be 0 (timeouts.upstream + 1m) or a positive duration, got %s", c.HoldExpiry)
	}
	for key, d := range map[string]time.Duration{
		"flush_interval": c.FlushInterval, "lease_ttl": c.LeaseTTL, "lease_idle": c.LeaseIdle,
		"reap_interval": c.ReapInterval, "budget_refresh": c.BudgetRefresh,
		"webhook.timeout": c.Webhook.Timeout, "webhook.backoff": c.Webhook.Backoff, "webhook.poll": c.Webhook.Poll,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 1s, got %s", d)
		}
	}
	if c.LeaseTTL > 0 && c.FlushInterval > 0 && c.LeaseTTL < 3*c.FlushInterval {
		bad("lease_ttl", "must be at least 3 × billing.flush_interval (%s) so a live instance renews its leases in time, got %s",
			3*c.FlushInterval, c.LeaseTTL)
	}
	if c.Webhook.MaxAttempts < 1 || c.Webhook.MaxAttempts > 100 {
		bad("webhook.max_attempts", "must be 1-100, got %d", c.Webhook.MaxAttempts)
	}
	return errs
}
