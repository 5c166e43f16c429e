package telemetry

import (
	"github.com/chorusgw/chorus"
	"github.com/prometheus/client_golang/prometheus"
)

// ReplicaSample is one read replica's last measured state (see
// chorus.ReplicaState).
type ReplicaSample struct {
	Replica    string // host:port/database
	Status     string // chorus.ReplicaOK, chorus.ReplicaPaused, …
	LagSeconds float64
	LagBytes   int64
}

// replicaStatuses are the values of chorus_db_replica_status's status label.
var replicaStatuses = []string{chorus.ReplicaOK, chorus.ReplicaLagging, chorus.ReplicaPaused,
	chorus.ReplicaUnreachable, chorus.ReplicaNotStandby, chorus.ReplicaUnknown}

var (
	descReplicaLag      = prometheus.NewDesc("chorus_db_replica_lag_seconds", "How stale a read replica's data was at its last check (the primary's WAL position it has replayed, dated).", []string{"replica"}, nil)
	descReplicaLagBytes = prometheus.NewDesc("chorus_db_replica_lag_bytes", "WAL bytes the primary had that a read replica had not replayed, at its last check.", []string{"replica"}, nil)
	descReplicaStatus   = prometheus.NewDesc("chorus_db_replica_status", "1 for a read replica's status at its last check (only ok takes reads).", []string{"replica", "status"}, nil)
)

// RegisterReplicas exports the read replicas' state, read from fn at every
// scrape, and returns the function that counts where each lag-tolerant
// read went: chorus_db_replica_reads_total{target=replica|primary,reason}.
func (m *Metrics) RegisterReplicas(fn func() []ReplicaSample) (countRead func(target, reason string)) {
	reads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_db_replica_reads_total",
		Help: "Reads that may lag (history, reports, audit lists, dashboards), by where they went (replica, primary) and why (fresh, lagging, paused, unreachable, not_standby, unknown, read_your_writes).",
	}, []string{"target", "reason"})
	m.reg.MustRegister(reads, &replicaCollector{fn: fn})
	return func(target, reason string) { reads.WithLabelValues(target, reason).Inc() }
}

type replicaCollector struct{ fn func() []ReplicaSample }

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReplicaLag
	ch <- descReplicaLagBytes
	ch <- descReplicaStatus
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.fn() {
		ch <- prometheus.MustNewConstMetric(descReplicaLag, prometheus.GaugeValue, s.LagSeconds, s.Replica)
		ch <- prometheus.MustNewConstMetric(descReplicaLagBytes, prometheus.GaugeValue, float64(s.LagBytes), s.Replica)
		for _, st := range replicaStatuses {
			v := 0.0
			if s.Status == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descReplicaStatus, prometheus.GaugeValue, v, s.Replica, st)
		}
	}
}
