package analytics

import (
	"time"

	"github.com/chorusgw/chorus"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the analytics collectors (docs/usage-analytics.md,
// docs/cost-monitoring.md). A nil *Metrics records nothing.
type Metrics struct {
	lag         prometheus.Gauge
	rolledTotal prometheus.Counter
	rollSeconds prometheus.Histogram
	rollErrors  prometheus.Counter
	purgedTotal *prometheus.CounterVec
	threshold   *prometheus.GaugeVec
	value       *prometheus.GaugeVec
	firedTotal  *prometheus.CounterVec
}

// alertLabels are the labels of the per-alert gauges.
var alertLabels = []string{"alert", "scope", "metric", "period"}

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_rollup_lag_seconds",
			Help: "Age of the oldest usage record not yet in the rollups; 0 when caught up."}),
		rolledTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_rollup_records_total",
			Help: "Usage records added to the rollups."}),
		rollSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chorus_rollup_batch_duration_seconds",
			Help: "Duration of one rollup transaction.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}),
		rollErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_rollup_errors_total",
			Help: "Rollup transactions that failed (retried)."}),
		purgedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chorus_usage_purged_total",
			Help: "Rows deleted by retention, by table (usage_records, rollups)."}, []string{"table"}),
		threshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chorus_cost_alert_threshold",
			Help: "A cost alert's threshold, in its metric's unit (micro-credits, Wh, g CO2e, Wh per 1,000 tokens)."}, alertLabels),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chorus_cost_alert_value",
			Help: "A cost alert's metric in the current period, as of its last evaluation."}, alertLabels),
		firedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chorus_cost_alerts_fired_total",
			Help: "Cost alert firings (once per alert and period), by scope, metric and period."}, []string{"scope", "metric", "period"}),
	}
	reg.MustRegister(m.lag, m.rolledTotal, m.rollSeconds, m.rollErrors, m.purgedTotal, m.threshold, m.value, m.firedTotal)
	return m
}

func (m *Metrics) setLag(d time.Duration) {
	if m != nil {
		m.lag.Set(d.Seconds())
	}
}

func (m *Metrics) rolled(n int, d time.Duration) {
	if m != nil {
		m.rolledTotal.Add(float64(n))
		m.rollSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) rollFailed() {
	if m != nil {
		m.rollErrors.Inc()
	}
}

func (m *Metrics) purged(table string, n int64) {
	if m != nil {
		m.purgedTotal.WithLabelValues(table).Add(float64(n))
	}
}

func (m *Metrics) setAlert(a *chorus.CostAlert, v float64) {
	if m != nil {
		l := []string{a.Name, a.Scope, a.Metric, a.Period}
		m.threshold.WithLabelValues(l...).Set(a.Threshold)
		m.value.WithLabelValues(l...).Set(v)
	}
}

func (m *Metrics) fired(a *chorus.CostAlert) {
	if m != nil {
		m.firedTotal.WithLabelValues(a.Scope, a.Metric, a.Period).Inc()
	}
}

func (m *Metrics) resetAlerts() {
	if m != nil {
		m.threshold.Reset()
		m.value.Reset()
	}
}

// Lag is the chorus_rollup_lag_seconds gauge (for tests and readiness).
func (m *Metrics) Lag() prometheus.Gauge { return m.lag }

// Fired is the chorus_cost_alerts_fired_total counter.
func (m *Metrics) Fired() *prometheus.CounterVec { return m.firedTotal }

// Value is the chorus_cost_alert_value gauge.
func (m *Metrics) Value() *prometheus.GaugeVec { return m.value }
