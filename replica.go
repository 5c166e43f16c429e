package chorus

import "time"

// Read replica statuses (ReplicaState.Status). Only ReplicaOK takes reads.
const (
	ReplicaOK          = "ok"          // streaming, replay running, lag within the max
	ReplicaLagging     = "lagging"     // lag above the max
	ReplicaPaused      = "paused"      // replay paused (pg_wal_replay_pause): it will not catch up by itself
	ReplicaUnreachable = "unreachable" // the last check failed
	ReplicaNotStandby  = "not_standby" // answers but is not in recovery (promoted, or not a replica at all)
	ReplicaUnknown     = "unknown"     // not checked yet, or the primary's position could not be read
)

// ReplicaState is what the last check of a PostgreSQL read replica found.
type ReplicaState struct {
	Name      string        // host:port/database, without credentials
	Status    string        // ReplicaOK, ReplicaLagging, …
	Lag       time.Duration // how stale its data was at CheckedAt
	LagBytes  int64         // WAL bytes the primary had that it had not replayed
	ReplayLSN string        // the WAL position it had replayed (pg_lsn text)
	CheckedAt time.Time     // zero before the first check
	Err       string        // why it is unreachable or unknown
}
