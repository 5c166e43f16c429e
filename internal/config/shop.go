package config

// Shop configures the shop section.
type Shop struct{}

// DefaultShop returns the shop section's defaults.
func DefaultShop() Shop { return Shop{} }

// errors checks the shop section; each error names its key (see bad in Validate).
func (c *Shop) errors() []error { return nil }
