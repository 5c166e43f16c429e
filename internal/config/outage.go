package config

import "time"

// Outage configures what an instance does when its database goes away
// (docs/billing.md, "Failures"): a circuit pings the database, and while it
// is unreachable strict billing and the management API answer 503 at once,
// while fast billing keeps serving from its leases and usage records and
// settlements wait in a bounded, fsync'd spool under SpoolDir until the
// database returns.
type Outage struct {
	// PingInterval is how often the database is pinged (four times as
	// often while it is down, so its return is seen quickly); a store
	// call that fails pings at once.
	PingInterval time.Duration `yaml:"ping_interval"`
	// PingTimeout bounds one ping; a ping that fails is tried once more
	// before the database is called unreachable.
	PingTimeout time.Duration `yaml:"ping_timeout"`
	// SpoolDir holds the spools; empty: <data_dir>/spool. Each instance
	// needs a directory of its own that outlives it (a persistent
	// volume), or what it spooled is lost with it.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxBytes bounds each spool (usage records; fast-mode
	// settlements). When one is full and the database is down, fast mode
	// refuses new requests (503) rather than serve what it could not
	// record.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
}

// DefaultOutage returns the outage section's defaults.
func DefaultOutage() Outage {
	return Outage{PingInterval: 2 * time.Second, PingTimeout: time.Second, SpoolMaxBytes: 256 << 20}
}

func (c Outage) errors() []error {
	var errs problems
	bad := func(key, format string, args ...any) { errs.add("outage."+key, format, args...) }
	if c.PingInterval <= 0 {
		bad("ping_interval", "must be a positive duration such as 2s, got %s", c.PingInterval)
	}
	if c.PingTimeout <= 0 {
		bad("ping_timeout", "must be a positive duration such as 1s, got %s", c.PingTimeout)
	}
	if c.SpoolMaxBytes < 1<<20 {
		bad("spool_max_bytes", "must be at least 1048576 (1 MiB), got %d", c.SpoolMaxBytes)
	}
	return errs
}
