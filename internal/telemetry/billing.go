package telemetry

import "github.com/prometheus/client_golang/prometheus"

// BillingSample is the credits meter's counters at one moment (see
// meter.Stats); amounts are micro-credits.
type BillingSample struct {
	Admitted, Refused, Settled                int64
	Cost, Charged, Uncollected                int64
	Tokenized, LeaseWaits                     int64
	Flushes, FlushErrors                      int64
	Alerts, WebhooksDelivered, WebhooksFailed int64
	GroupCommits, GroupSteps                  int64
}

// RegisterBilling exports the meter's counters, read from fn at each scrape.
func (m *Metrics) RegisterBilling(fn func() BillingSample) {
	m.reg.MustRegister(&billingCollector{fn: fn})
}

type billingCounter struct {
	desc *prometheus.Desc
	get  func(*BillingSample) int64
}

var billingCounters = []billingCounter{
	{prometheus.NewDesc("chorus_billing_reservations_total", "Requests whose worst-case cost was reserved, by result.", nil, prometheus.Labels{"result": "admitted"}), func(s *BillingSample) int64 { return s.Admitted }},
	{prometheus.NewDesc("chorus_billing_reservations_total", "Requests whose worst-case cost was reserved, by result.", nil, prometheus.Labels{"result": "refused"}), func(s *BillingSample) int64 { return s.Refused }},
	{prometheus.NewDesc("chorus_billing_settlements_total", "Requests settled (their actual cost charged, the rest of the hold released).", nil, nil), func(s *BillingSample) int64 { return s.Settled }},
	{prometheus.NewDesc("chorus_billing_cost_microcredits_total", "What the settled requests cost.", nil, nil), func(s *BillingSample) int64 { return s.Cost }},
	{prometheus.NewDesc("chorus_billing_charged_microcredits_total", "What was charged to wallets (fast mode: once flushed).", nil, nil), func(s *BillingSample) int64 { return s.Charged }},
	{prometheus.NewDesc("chorus_billing_uncollected_microcredits_total", "Cost no free credit covered (requests that cost more than their reservation).", nil, nil), func(s *BillingSample) int64 { return s.Uncollected }},
	{prometheus.NewDesc("chorus_billing_tokenized_total", "Reservations that needed the tokenizer (the byte bound was refused).", nil, nil), func(s *BillingSample) int64 { return s.Tokenized }},
	{prometheus.NewDesc("chorus_billing_lease_waits_total", "Fast mode: requests that waited for a lease to grow.", nil, nil), func(s *BillingSample) int64 { return s.LeaseWaits }},
	{prometheus.NewDesc("chorus_billing_flushes_total", "Fast mode: batches of charges written, by result.", nil, prometheus.Labels{"result": "ok"}), func(s *BillingSample) int64 { return s.Flushes }},
	{prometheus.NewDesc("chorus_billing_flushes_total", "Fast mode: batches of charges written, by result.", nil, prometheus.Labels{"result": "error"}), func(s *BillingSample) int64 { return s.FlushErrors }},
	{prometheus.NewDesc("chorus_billing_group_commits_total", "Strict mode: transactions the group commit wrote (each holds many requests' holds and settlements).", nil, nil), func(s *BillingSample) int64 { return s.GroupCommits }},
	{prometheus.NewDesc("chorus_billing_group_steps_total", "Strict mode: holds and settlements written by the group commit; divided by chorus_billing_group_commits_total, the mean batch.", nil, nil), func(s *BillingSample) int64 { return s.GroupSteps }},
	{prometheus.NewDesc("chorus_budget_alerts_total", "Soft budget alerts raised.", nil, nil), func(s *BillingSample) int64 { return s.Alerts }},
	{prometheus.NewDesc("chorus_webhook_deliveries_total", "Budget webhook attempts, by result.", nil, prometheus.Labels{"result": "delivered"}), func(s *BillingSample) int64 { return s.WebhooksDelivered }},
	{prometheus.NewDesc("chorus_webhook_deliveries_total", "Budget webhook attempts, by result.", nil, prometheus.Labels{"result": "failed"}), func(s *BillingSample) int64 { return s.WebhooksFailed }},
}

type billingCollector struct{ fn func() BillingSample }

func (c *billingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, b := range billingCounters {
		ch <- b.desc
	}
}

func (c *billingCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.fn()
	for _, b := range billingCounters {
		ch <- prometheus.MustNewConstMetric(b.desc, prometheus.CounterValue, float64(b.get(&s)))
	}
}
