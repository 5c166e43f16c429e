package app

import (
	"context"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/periodic"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// replicaCheckInterval is how often the read replicas' lag is measured.
const replicaCheckInterval = time.Second

// initReplicas exports the read replicas' state and where lag-tolerant
// reads go as metrics (nothing without database_replicas). Readiness and
// read-your-writes find the replicas through the store (manage).
func (a *App) initReplicas() {
	if len(a.Config.DatabaseReplicas) == 0 {
		return
	}
	count := a.Metrics.RegisterReplicas(func() []telemetry.ReplicaSample {
		states := a.DB.Replicas()
		out := make([]telemetry.ReplicaSample, len(states))
		for i, st := range states {
			out[i] = telemetry.ReplicaSample{Replica: st.Name, Status: st.Status, LagSeconds: st.Lag.Seconds(), LagBytes: st.LagBytes}
		}
		return out
	})
	a.DB.SetReplicaReadHook(count)
}

// checkReplicas measures the read replicas every replicaCheckInterval
// until ctx ends, and logs each replica's changes of status (not every
// check: a paused replica would log every second).
func (a *App) checkReplicas(ctx context.Context) {
	if len(a.Config.DatabaseReplicas) == 0 {
		return
	}
	last := make(map[string]string)
	periodic.Every(ctx, replicaCheckInterval, true, func(ctx context.Context) {
		_ = a.DB.CheckReplicas(ctx) // a failure is in the states: unknown, with the error
		for _, st := range a.DB.Replicas() {
			if prev, seen := last[st.Name]; ctx.Err() == nil && (seen || st.Status != chorus.ReplicaOK) && prev != st.Status {
				a.logReplica(st)
			}
			last[st.Name] = st.Status
		}
	})
}

// logReplica logs a replica's new status.
func (a *App) logReplica(st chorus.ReplicaState) {
	attrs := []any{"replica", st.Name, "status", st.Status, "lag", st.Lag, "lag_bytes", st.LagBytes}
	if st.Err != "" {
		attrs = append(attrs, "err", st.Err)
	}
	if st.Status == chorus.ReplicaOK {
		a.Log.Info("read replica serves reads again", attrs...)
		return
	}
	a.Log.Warn("read replica takes no reads: they go to the primary", attrs...)
}
