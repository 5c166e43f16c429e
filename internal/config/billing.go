package config

// Billing configures the billing section.
type Billing struct{}

// DefaultBilling returns the billing section's defaults.
func DefaultBilling() Billing { return Billing{} }

// errors checks the billing section; each error names its key (see bad in Validate).
func (c *Billing) errors() []error { return nil }
