// Package telemetry holds Chorus's Prometheus metrics.
package telemetry

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics are the gateway's Prometheus collectors, on their own registry so
// tests and several servers in one process do not collide.
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	ttft         *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	errors       *prometheus.CounterVec
	upstream     *prometheus.CounterVec
	inflight     prometheus.Gauge
	UsageQueue   prometheus.Gauge
	UsageWritten prometheus.Counter
	UsageRetries prometheus.Counter
	UsageBlocked prometheus.Counter
	// UsageShed counts records of unauthenticated requests not queued
	// because the usage queue was over half full (usage.Writer.Record).
	UsageShed prometheus.Counter
	// RateLimitFaults counts limit decisions made without Redis (fail-open or fail-closed).
	RateLimitFaults prometheus.Counter
	rateRefused     *prometheus.CounterVec
	served          atomic.Int64 // requests observed, for chorus_process_wh_per_1k_requests (energy.go)
}

// latencyBuckets span 1 ms to 5 minutes: gateways see both cache hits and
// long generations.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// New registers every collector.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_requests_total", Help: "API requests by endpoint, model, provider and HTTP status.",
	}, []string{"endpoint", "model", "provider", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "chorus_request_duration_seconds", Help: "End-to-end request latency.", Buckets: latencyBuckets,
	}, []string{"endpoint", "model", "provider"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "chorus_time_to_first_token_seconds", Help: "Time to the first streamed token.", Buckets: latencyBuckets,
	}, []string{"model", "provider"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_tokens_total", Help: "Tokens by model, provider and direction (input, output).",
	}, []string{"model", "provider", "direction"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_errors_total", Help: "Requests that ended in an error, by model, provider, status and code.",
	}, []string{"model", "provider", "status", "code"})
	m.upstream = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_upstream_attempts_total", Help: "Upstream calls by deployment and outcome.",
	}, []string{"deployment", "provider", "outcome"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_requests_in_flight", Help: "Requests being served."})
	m.UsageQueue = prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_usage_queue_length", Help: "Usage records waiting to be written."})
	m.UsageWritten = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_usage_records_written_total", Help: "Usage records written to the database."})
	m.UsageRetries = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_usage_write_retries_total", Help: "Usage batch writes retried after a database error."})
	m.UsageBlocked = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_usage_queue_full_total", Help: "Times a request waited because the usage queue was full."})
	m.UsageShed = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_usage_shed_total", Help: "Usage records of requests without a valid key not written because the usage queue was over half full."})
	m.RateLimitFaults = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ratelimit_faults_total", Help: "Rate-limit decisions made without Redis because it was slow or unreachable."})
	m.rateRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_ratelimit_refused_total", Help: "Requests refused by a rate limit, by scope (key, user, team, model, deployment) and kind (requests, tokens, concurrency).",
	}, []string{"scope", "kind"})
	for _, c := range []prometheus.Collector{m.RateLimitFaults, m.rateRefused, m.requests, m.latency, m.ttft, m.tokens, m.errors, m.upstream, m.inflight,
		m.UsageQueue, m.UsageWritten, m.UsageRetries, m.UsageBlocked, m.UsageShed} {
		f(c)
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the Prometheus registry, for components that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Request records one finished API request.
type Request struct {
	Endpoint     string
	Model        string
	Provider     string
	Status       int
	ErrorCode    string
	Duration     time.Duration
	TTFT         time.Duration // 0 when not streamed
	InputTokens  int64
	OutputTokens int64
}

// Observe records a finished request.
func (m *Metrics) Observe(r *Request) {
	m.served.Add(1)
	status := strconv.Itoa(r.Status)
	m.requests.WithLabelValues(r.Endpoint, r.Model, r.Provider, status).Inc()
	m.latency.WithLabelValues(r.Endpoint, r.Model, r.Provider).Observe(r.Duration.Seconds())
	if r.TTFT > 0 {
		m.ttft.WithLabelValues(r.Model, r.Provider).Observe(r.TTFT.Seconds())
	}
	if r.InputTokens > 0 {
		m.tokens.WithLabelValues(r.Model, r.Provider, "input").Add(float64(r.InputTokens))
	}
	if r.OutputTokens > 0 {
		m.tokens.WithLabelValues(r.Model, r.Provider, "output").Add(float64(r.OutputTokens))
	}
	if r.Status >= 400 {
		m.errors.WithLabelValues(r.Model, r.Provider, status, r.ErrorCode).Inc()
	}
}

// Attempt records one upstream call's outcome ("ok", "error", "timeout", "canceled").
func (m *Metrics) Attempt(deployment, provider, outcome string) {
	m.upstream.WithLabelValues(deployment, provider, outcome).Inc()
}

// InFlight adjusts the in-flight gauge.
func (m *Metrics) InFlight(delta float64) { m.inflight.Add(delta) }

// HealthSample is one deployment's health for the metrics.
type HealthSample struct {
	Deployment  string
	State       string // closed, open, half_open
	InFlight    int64
	LatencyEWMA float64 // seconds
}

// RegisterHealth exports deployment health, read from fn at every scrape.
func (m *Metrics) RegisterHealth(fn func() []HealthSample) {
	m.reg.MustRegister(&healthCollector{fn: fn})
}

var (
	descCircuit  = prometheus.NewDesc("chorus_deployment_circuit_open", "1 when the deployment's circuit is open or half-open, by state.", []string{"deployment", "state"}, nil)
	descInFlight = prometheus.NewDesc("chorus_deployment_in_flight", "Upstream calls in flight per deployment.", []string{"deployment"}, nil)
	descEWMA     = prometheus.NewDesc("chorus_deployment_latency_ewma_seconds", "EWMA of successful upstream calls' latency.", []string{"deployment"}, nil)
)

type healthCollector struct{ fn func() []HealthSample }

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCircuit
	ch <- descInFlight
	ch <- descEWMA
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.fn() {
		for _, st := range []string{"closed", "open", "half_open"} {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descCircuit, prometheus.GaugeValue, v, s.Deployment, st)
		}
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight), s.Deployment)
		ch <- prometheus.MustNewConstMetric(descEWMA, prometheus.GaugeValue, s.LatencyEWMA, s.Deployment)
	}
}

// RateRefused counts a request refused by a rate limit.
func (m *Metrics) RateRefused(scope, kind string) { m.rateRefused.WithLabelValues(scope, kind).Inc() }

// UsageQueueDepth is chorus_usage_queue_length as the usage writer last
// set it (after each batch it takes), for readiness.
func (m *Metrics) UsageQueueDepth() int {
	var d dto.Metric
	if err := m.UsageQueue.Write(&d); err != nil {
		return 0
	}
	return int(d.GetGauge().GetValue())
}
