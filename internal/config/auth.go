package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Sign-up modes (Auth.Signup).
const (
	SignupOpen   = "open"   // anyone may sign up; they get a team of their own
	SignupInvite = "invite" // only with an invitation from an admin or a team owner
	SignupClosed = "closed" // nobody signs up; admins create users
)

// Auth configures accounts, sessions and sign-in.
type Auth struct {
	// Signup is who may create an account: open, invite or closed. The
	// default is invite: a gateway spends money on its providers' accounts
	// and holds their credentials, so strangers should not be able to sign
	// up unless the operator chooses so; the first admin (printed at the
	// first start) invites people or creates their users.
	Signup string `yaml:"signup"`
	// PasswordMinLength is the fewest characters a new password may have
	// (8 to 256; default 12). The most common passwords are refused
	// whatever their length.
	PasswordMinLength int `yaml:"password_min_length"`
	// SessionLifetime is how long a session lasts from sign-in, however
	// active it is; SessionIdle ends it sooner when it goes unused. The
	// defaults (24h, 2h) fit a console that buys credits and holds provider
	// credentials: a working day at most, and an unattended browser does
	// not stay signed in. Automation uses API keys, not sessions.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	SessionIdle     time.Duration `yaml:"session_idle"`
	// SecureCookies marks the session cookie Secure (with the __Host-
	// prefix) on every response. Without it the cookie is Secure when the
	// request came over TLS, directly or, from a trusted proxy, with
	// X-Forwarded-Proto: https. Turn it on behind a TLS-terminating proxy
	// that is not listed in TrustedProxies.
	SecureCookies bool `yaml:"secure_cookies"`
	// TrustedProxies lists the proxies (comma-separated IP addresses or
	// CIDR networks) whose X-Forwarded-For and X-Forwarded-Proto are
	// believed. The client's address is then the right-most address in
	// X-Forwarded-For that is not a trusted proxy; from anyone else the
	// header is ignored, so a client cannot choose the address its login
	// attempts are counted against.
	TrustedProxies string `yaml:"trusted_proxies"`
	// InviteLifetime is how long an invitation can be used (default 7 days,
	// at most 30).
	InviteLifetime time.Duration `yaml:"invite_lifetime"`
	// LoginThrottle limits failed sign-ins.
	LoginThrottle LoginThrottle `yaml:"login_throttle"`

	// RequireAdminMFA makes every admin enrol TOTP before doing anything
	// else: an admin session without MFA may only enrol, see who it is and
	// log out. Off by default so that a fresh install's first admin can sign
	// in; production should turn it on.
	RequireAdminMFA bool `yaml:"require_admin_mfa"`
	// StepUpWindow is how recently a session must have verified its second
	// factor (or, for a user without MFA, re-entered the password) to do a
	// sensitive operation such as creating an API key.
	StepUpWindow time.Duration `yaml:"step_up_window"`
}

// LoginThrottle limits failed sign-in attempts (and failed sign-ups) per
// account and per client address, shared through Redis when redis_url is
// set. An account or address that used up its failures waits; each
// failure's allowance comes back Window/Failures after it. 0 failures
// turns a limit off.
type LoginThrottle struct {
	AccountFailures int           `yaml:"account_failures"` // per email, whether or not it has an account; default 10
	IPFailures      int           `yaml:"ip_failures"`      // per client address (IPv6: per /64); default 50
	Window          time.Duration `yaml:"window"`           // default 15m
	Prefix          string        `yaml:"prefix"`           // Redis key prefix; default "chorus:login:"
}

// DefaultAuth returns the auth section's defaults.
func DefaultAuth() Auth {
	return Auth{
		Signup:            SignupInvite,
		PasswordMinLength: 12,
		SessionLifetime:   24 * time.Hour,
		SessionIdle:       2 * time.Hour,
		InviteLifetime:    7 * 24 * time.Hour,
		LoginThrottle:     LoginThrottle{AccountFailures: 10, IPFailures: 50, Window: 15 * time.Minute, Prefix: "chorus:login:"},
		StepUpWindow:      10 * time.Minute,
	}
}

// Proxies parses TrustedProxies: each entry an address (a /32 or /128) or
// a CIDR network.
func (c *Auth) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR network", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// errors checks the auth section; each error names its key (see bad in Validate).
func (c *Auth) errors() []error {
	var errs problems
	bad := errs.add
	switch c.Signup {
	case SignupOpen, SignupInvite, SignupClosed:
	default:
		bad("auth.signup", "must be open, invite or closed, got %q", c.Signup)
	}
	if c.PasswordMinLength < 8 || c.PasswordMinLength > 256 {
		bad("auth.password_min_length", "must be 8-256, got %d", c.PasswordMinLength)
	}
	if c.SessionLifetime < time.Minute || c.SessionLifetime > 90*24*time.Hour {
		bad("auth.session_lifetime", "must be between 1m and 2160h (90 days), got %s", c.SessionLifetime)
	}
	if c.SessionIdle < time.Minute || c.SessionIdle > c.SessionLifetime {
		bad("auth.session_idle", "must be at least 1m and at most auth.session_lifetime (%s), got %s", c.SessionLifetime, c.SessionIdle)
	}
	if c.InviteLifetime < time.Minute || c.InviteLifetime > 30*24*time.Hour {
		bad("auth.invite_lifetime", "must be between 1m and 720h (30 days), got %s", c.InviteLifetime)
	}
	if _, err := c.Proxies(); err != nil {
		bad("auth.trusted_proxies", "%v", err)
	}
	lt := &c.LoginThrottle
	if lt.AccountFailures < 0 || lt.AccountFailures > 10000 {
		bad("auth.login_throttle.account_failures", "must be 0 (off) to 10000, got %d", lt.AccountFailures)
	}
	if lt.IPFailures < 0 || lt.IPFailures > 1_000_000 {
		bad("auth.login_throttle.ip_failures", "must be 0 (off) to 1000000, got %d", lt.IPFailures)
	}
	if lt.Window < time.Second || lt.Window > 24*time.Hour {
		bad("auth.login_throttle.window", "must be between 1s and 24h, got %s", lt.Window)
	}
	if lt.Prefix == "" {
		bad("auth.login_throttle.prefix", "must not be empty")
	}
	if c.StepUpWindow < 30*time.Second || c.StepUpWindow > 24*time.Hour {
		bad("auth.step_up_window", "must be between 30s and 24h, got %s", c.StepUpWindow)
	}
	return errs
}
