package config

import (
	"strings"
	"time"
)

// RateLimits configures rate limiting (internal/limit). Every rate is per
// minute; 0 means unlimited. Limits are in process unless the top-level
// redis_url is set, when every instance on that Redis shares them.
type RateLimits struct {
	Prefix string `yaml:"prefix"` // Redis key prefix; on Redis Cluster give it a hash tag ("{chorus-rl}:")
	// FailOpen: when Redis cannot decide, each instance enforces its share
	// of every limit in process (true), or requests are refused with 503.
	FailOpen bool          `yaml:"fail_open"`
	Timeout  time.Duration `yaml:"timeout"` // one Redis call, at most
	// TripAfter faults in a row open the circuit: requests stop trying
	// Redis, and a background call probes it every ProbeEvery.
	TripAfter  int           `yaml:"trip_after"`
	ProbeEvery time.Duration `yaml:"probe_every"`
	// FallbackShare divides every limit while Redis cannot decide: each
	// instance enforces ⌈limit/FallbackShare⌉. 0 divides by the live
	// instances last counted on Redis.
	FallbackShare int `yaml:"fallback_share"`
	// DeploymentWait is the longest the orchestrator waits for a
	// deployment's own limits (settings rpm, tpm, max_concurrency) before
	// it routes elsewhere.
	DeploymentWait time.Duration `yaml:"deployment_wait"`

	Key  RateLimit `yaml:"key"`  // every API key's default limits
	User RateLimit `yaml:"user"` // every user's, across their keys
	Team RateLimit `yaml:"team"` // every team's, across its users
	// Models are per-key limits on one model (or route), by its public
	// name: each key may make this many requests to it. The file only: not
	// settable from the environment.
	Models map[string]RateLimit `yaml:"models"`
}

// RateLimit is one subject's limits.
type RateLimit struct {
	RPM         int64 `yaml:"rpm"`         // requests per minute
	TPM         int64 `yaml:"tpm"`         // tokens (input + output) per minute
	Concurrency int64 `yaml:"concurrency"` // requests in flight at once
}

// DefaultRateLimits are the defaults: nothing limited, fail open, 500 ms
// per Redis call (above the jitter of a busy machine; see
// docs/rate-limits.md), the circuit open after 3 faults in a row and probed
// every second, the fleet counted on Redis, wait at most 250 ms for a
// deployment.
func DefaultRateLimits() RateLimits {
	return RateLimits{Prefix: "chorus:rl:", FailOpen: true, Timeout: 500 * time.Millisecond,
		TripAfter: 3, ProbeEvery: time.Second, DeploymentWait: 250 * time.Millisecond}
}

// rateLimitErrors checks the rate_limits section.
func (c *Config) rateLimitErrors() []error {
	var errs problems
	bad := errs.add
	rl := &c.RateLimits
	if rl.Prefix == "" {
		bad("rate_limits.prefix", "must not be empty")
	}
	if rl.Timeout <= 0 || rl.Timeout > 10*time.Second {
		bad("rate_limits.timeout", "must be a duration in (0, 10s], such as 500ms, got %s", rl.Timeout)
	}
	if rl.TripAfter < 1 || rl.TripAfter > 100 {
		bad("rate_limits.trip_after", "must be a count of faults in a row in [1, 100], got %d", rl.TripAfter)
	}
	if rl.ProbeEvery <= 0 || rl.ProbeEvery > time.Minute {
		bad("rate_limits.probe_every", "must be a duration in (0, 1m], such as 1s, got %s", rl.ProbeEvery)
	}
	if rl.FallbackShare < 0 {
		bad("rate_limits.fallback_share", "must be 0 (the live instances) or a number of instances, got %d", rl.FallbackShare)
	}
	if rl.DeploymentWait < 0 {
		bad("rate_limits.deployment_wait", "must not be negative, got %s", rl.DeploymentWait)
	}
	check := func(key string, l RateLimit) {
		for name, v := range map[string]int64{"rpm": l.RPM, "tpm": l.TPM, "concurrency": l.Concurrency} {
			if v < 0 {
				bad(key+"."+name, "must be 0 (unlimited) or more, got %d", v)
			}
		}
	}
	check("rate_limits.key", rl.Key)
	check("rate_limits.user", rl.User)
	check("rate_limits.team", rl.Team)
	for name, l := range rl.Models {
		if strings.TrimSpace(name) == "" {
			bad("rate_limits.models", "a model name must not be empty")
		}
		check("rate_limits.models."+name, l)
	}
	return errs
}
