package config

import (
	"os"
	"time"
)

// Instance names this process among the instances of a fleet. The ID is
// on every log line (instance_id), in the chorus_instance_info metric and
// in the X-Chorus-Instance response header, so an answer, a log line and
// a scrape can be traced to the process that produced them.
type Instance struct {
	// ID defaults to the host name: on Kubernetes that is the pod name,
	// unique in the fleet and stable for the pod's life; with compose it is
	// the container's (set hostname: or CHORUS_INSTANCE_ID). Several
	// instances on one host must each set it.
	ID string `yaml:"id"`
}

// maxInstanceID is the longest instance ID: a DNS name (a pod name) fits.
const maxInstanceID = 253

// DefaultInstance returns the instance named by the host name, or
// "chorus" where the host has none.
func DefaultInstance() Instance {
	if h, err := os.Hostname(); err == nil && validInstanceID(h) {
		return Instance{ID: h}
	}
	return Instance{ID: "chorus"}
}

// validInstanceID accepts what a header value, a Prometheus label and a
// log field carry unquoted: letters, digits, '.', '_', ':' and '-'.
func validInstanceID(id string) bool {
	if id == "" || len(id) > maxInstanceID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// instanceErrors checks the instance ID and the drain timings.
func (c *Config) instanceErrors() []error {
	var errs problems
	bad := errs.add
	if !validInstanceID(c.Instance.ID) {
		bad("instance.id", "must be 1-%d characters of letters, digits, '.', '_', ':' or '-', got %q", maxInstanceID, c.Instance.ID)
	}
	if c.Timeouts.PreDrain < 0 || c.Timeouts.PreDrain > 10*time.Minute {
		bad("timeouts.pre_drain", "must be 0 (stop accepting at once) or a duration up to 10m such as 5s, got %s", c.Timeouts.PreDrain)
	}
	return errs
}
