package config

// Auth configures the auth section.
type Auth struct{}

// DefaultAuth returns the auth section's defaults.
func DefaultAuth() Auth { return Auth{} }

// errors checks the auth section; each error names its key (see bad in Validate).
func (c *Auth) errors() []error { return nil }
