package config

import (
	"net/url"
	"strings"
	"time"
)

// DefaultReplicaMaxLag is replica_max_lag's default.
const DefaultReplicaMaxLag = 5 * time.Second

// maxReplicaMaxLag bounds replica_max_lag: staler than this is no longer
// "may lag", it is wrong.
const maxReplicaMaxLag = time.Hour

// replicaErrors checks database_replicas and replica_max_lag: replicas only
// with a PostgreSQL primary, each a postgres:// URL that is not the
// primary's, and a max lag in (0, 1h].
func (c *Config) replicaErrors() []error {
	var errs problems
	bad := errs.add
	if c.ReplicaMaxLag <= 0 || c.ReplicaMaxLag > maxReplicaMaxLag {
		bad("replica_max_lag", "must be a duration in (0, 1h], such as 5s, got %s", c.ReplicaMaxLag)
	}
	if len(c.DatabaseReplicas) == 0 {
		return errs
	}
	if !isPostgresURL(c.DatabaseURL) {
		bad("database_replicas", "read replicas need a PostgreSQL primary: set database_url to postgres://… (SQLite has no replicas)")
		return errs
	}
	seen := make(map[string]bool)
	for _, r := range c.DatabaseReplicas {
		u, err := url.Parse(r)
		switch {
		case !isPostgresURL(r) || err != nil || u.Host == "":
			bad("database_replicas", "each must be a postgres://HOST:PORT/DATABASE URL, got %q", redactURL(r))
		case r == c.DatabaseURL:
			bad("database_replicas", "%q is the primary (database_url), not a replica", redactURL(r))
		case seen[r]:
			bad("database_replicas", "%q is listed twice", redactURL(r))
		}
		seen[r] = true
	}
	return errs
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// splitList splits a comma-separated environment value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
