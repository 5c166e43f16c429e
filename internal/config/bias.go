package config

import "time"

// Bias configures bias testing (internal/bias, docs/bias-testing.md).
type Bias struct {
	// SuitesDir, when set, is a directory of the operator's suites
	// (*.yaml, *.yml, *.json), read at start next to the built-in ones; a
	// suite there replaces a built-in one of the same name.
	SuitesDir string `yaml:"suites_dir"`
	// MaxRequests caps the model and judge calls of one run; a run that
	// would need more is refused, never cut short (which would drop
	// attribute values unevenly).
	MaxRequests int `yaml:"max_requests"`
	// Concurrency is the calls one run has in flight.
	Concurrency int `yaml:"concurrency"`
	// MaxRunning is the runs one instance runs at once.
	MaxRunning int `yaml:"max_running"`
	// RunTimeout bounds one run; a run past it ends with status error.
	RunTimeout time.Duration `yaml:"run_timeout"`
}

// DefaultBias is bias testing's default configuration.
func DefaultBias() Bias {
	return Bias{MaxRequests: 2000, Concurrency: 4, MaxRunning: 2, RunTimeout: 30 * time.Minute}
}

func (b Bias) errors() []error {
	var errs problems
	if b.MaxRequests < 1 || b.MaxRequests > 1_000_000 {
		errs.add("bias.max_requests", "must be 1–1000000, got %d", b.MaxRequests)
	}
	if b.Concurrency < 1 || b.Concurrency > 256 {
		errs.add("bias.concurrency", "must be 1–256, got %d", b.Concurrency)
	}
	if b.MaxRunning < 1 || b.MaxRunning > 64 {
		errs.add("bias.max_running", "must be 1–64, got %d", b.MaxRunning)
	}
	if b.RunTimeout < time.Second {
		errs.add("bias.run_timeout", "must be at least 1s, got %s", b.RunTimeout)
	}
	return errs
}
