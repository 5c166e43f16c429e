package telemetry

import "github.com/prometheus/client_golang/prometheus"

// OutageSample is the database circuit's and the spools' state at one
// moment (see app.DBHealth, usage.Writer.Stats, meter.OutageStats).
type OutageSample struct {
	DatabaseUp        bool
	Outages           int64 // times the database went away
	UsageSpoolBytes   int64
	UsageSpooled      int64 // usage records written to the spool
	UsageReplayed     int64 // spooled usage records written to the database since
	BillingSpoolBytes int64
	BillingSpooled    int64 // fast-mode batches written to the spool
	BillingWaiting    int64 // fast-mode batches waiting for the database now
	BillingCutHolds   int64 // strict holds waiting to be released
	BillingSpoolFull  bool
	OutageSeconds     float64 // 0 while the database is up
}

// RegisterOutage exports the database circuit and the spools, read from fn
// at each scrape.
func (m *Metrics) RegisterOutage(fn func() OutageSample) {
	m.reg.MustRegister(&outageCollector{fn: fn})
}

type outageMetric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	get  func(*OutageSample) float64
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var outageMetrics = []outageMetric{
	{prometheus.NewDesc("chorus_database_up", "1 while the database answers this instance's pings, 0 while it is unreachable.", nil, nil), prometheus.GaugeValue, func(s *OutageSample) float64 { return boolGauge(s.DatabaseUp) }},
	{prometheus.NewDesc("chorus_database_outages_total", "Times the database became unreachable.", nil, nil), prometheus.CounterValue, func(s *OutageSample) float64 { return float64(s.Outages) }},
	{prometheus.NewDesc("chorus_database_outage_seconds", "How long the current outage has lasted; 0 while the database is up.", nil, nil), prometheus.GaugeValue, func(s *OutageSample) float64 { return s.OutageSeconds }},
	{prometheus.NewDesc("chorus_spool_bytes", "Bytes waiting in a spool for the database, by spool.", nil, prometheus.Labels{"spool": "usage"}), prometheus.GaugeValue, func(s *OutageSample) float64 { return float64(s.UsageSpoolBytes) }},
	{prometheus.NewDesc("chorus_spool_bytes", "Bytes waiting in a spool for the database, by spool.", nil, prometheus.Labels{"spool": "billing"}), prometheus.GaugeValue, func(s *OutageSample) float64 { return float64(s.BillingSpoolBytes) }},
	{prometheus.NewDesc("chorus_usage_spooled_total", "Usage records written to the spool because the database could not take them.", nil, nil), prometheus.CounterValue, func(s *OutageSample) float64 { return float64(s.UsageSpooled) }},
	{prometheus.NewDesc("chorus_usage_replayed_total", "Spooled usage records written to the database.", nil, nil), prometheus.CounterValue, func(s *OutageSample) float64 { return float64(s.UsageReplayed) }},
	{prometheus.NewDesc("chorus_billing_spooled_batches_total", "Fast mode: batches of charges written to the spool because the database could not take them.", nil, nil), prometheus.CounterValue, func(s *OutageSample) float64 { return float64(s.BillingSpooled) }},
	{prometheus.NewDesc("chorus_billing_waiting_batches", "Fast mode: batches of charges waiting for the database.", nil, nil), prometheus.GaugeValue, func(s *OutageSample) float64 { return float64(s.BillingWaiting) }},
	{prometheus.NewDesc("chorus_billing_cut_holds", "Strict mode: holds of settlements the database's loss cut, released when it returns.", nil, nil), prometheus.GaugeValue, func(s *OutageSample) float64 { return float64(s.BillingCutHolds) }},
	{prometheus.NewDesc("chorus_billing_spool_full", "1 when the billing spool refused a batch (fast mode then refuses requests while the database is down).", nil, nil), prometheus.GaugeValue, func(s *OutageSample) float64 { return boolGauge(s.BillingSpoolFull) }},
}

type outageCollector struct{ fn func() OutageSample }

func (c *outageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, o := range outageMetrics {
		ch <- o.desc
	}
}

func (c *outageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fn()
	for _, o := range outageMetrics {
		ch <- prometheus.MustNewConstMetric(o.desc, o.kind, o.get(&s))
	}
}
