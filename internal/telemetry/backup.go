package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BackupSample is the state of scheduled backups at one moment, as the
// database records it for the whole fleet, and this instance's failed
// runs.
type BackupSample struct {
	LastSuccess  time.Time // when the last backup that succeeded was taken; zero: none yet
	LastVerified time.Time // when the last backup that verified was taken; zero: none yet
	LastSize     int64     // the last successful backup's size in bytes
	Failures     int64     // runs on this instance that failed
}

// RegisterBackup exports the backups' state, read from fn at each scrape.
func (m *Metrics) RegisterBackup(fn func() BackupSample) {
	m.reg.MustRegister(&backupCollector{fn: fn})
}

type backupCollector struct{ fn func() BackupSample }

var (
	backupLastSuccess = prometheus.NewDesc("chorus_backup_last_success_timestamp_seconds",
		"When the last successful backup was taken (Unix seconds; 0: never).", nil, nil)
	backupLastVerified = prometheus.NewDesc("chorus_backup_last_verified_timestamp_seconds",
		"When the last backup that passed verification (restored into a scratch database and checked) was taken (Unix seconds; 0: never).", nil, nil)
	backupLastSize = prometheus.NewDesc("chorus_backup_last_size_bytes",
		"The size of the last successful backup.", nil, nil)
	backupFailures = prometheus.NewDesc("chorus_backup_failures_total",
		"Scheduled backup runs on this instance that failed (the backup, its verification or pruning).", nil, nil)
)

func (c *backupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backupLastSuccess
	ch <- backupLastVerified
	ch <- backupLastSize
	ch <- backupFailures
}

func (c *backupCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fn()
	ch <- prometheus.MustNewConstMetric(backupLastSuccess, prometheus.GaugeValue, unixSeconds(s.LastSuccess))
	ch <- prometheus.MustNewConstMetric(backupLastVerified, prometheus.GaugeValue, unixSeconds(s.LastVerified))
	ch <- prometheus.MustNewConstMetric(backupLastSize, prometheus.GaugeValue, float64(s.LastSize))
	ch <- prometheus.MustNewConstMetric(backupFailures, prometheus.CounterValue, float64(s.Failures))
}

// unixSeconds is t in Unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
