package config

import (
	"fmt"
	"time"
)

// Auth configures the auth section.
type Auth struct {
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

// DefaultAuth returns the auth section's defaults.
func DefaultAuth() Auth { return Auth{StepUpWindow: 10 * time.Minute} }

// errors checks the auth section; each error names its key (see bad in Validate).
func (c *Auth) errors() []error {
	var errs []error
	if c.StepUpWindow < 30*time.Second || c.StepUpWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("auth.step_up_window (%s): must be between 30s and 24h, got %s",
			envName("auth.step_up_window"), c.StepUpWindow))
	}
	return errs
}
