package cache

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the cache's Prometheus collectors.
type Metrics struct {
	lookups *prometheus.CounterVec
	faults  *prometheus.CounterVec
	shared  prometheus.Counter
}

// NewMetrics registers the cache's collectors with reg. mem, if not nil,
// is the in-process cache whose size and evictions are exported (read at
// scrape time, so the hot path pays nothing for them).
func NewMetrics(reg prometheus.Registerer, mem *Memory) *Metrics {
	m := &Metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_cache_requests_total", Help: "Requests by what the response cache did: hit, miss, bypass.",
		}, []string{"endpoint", "result"}),
		faults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_cache_redis_faults_total", Help: "Redis cache calls that failed (the cache was bypassed), by operation and kind.",
		}, []string{"op", "kind"}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_cache_shared_total", Help: "Requests answered by a concurrent identical request's upstream call (single flight).",
		}),
	}
	reg.MustRegister(m.lookups, m.faults, m.shared)
	if mem != nil {
		reg.MustRegister(&memoryCollector{mem: mem})
	}
	return m
}

// Lookup counts one request's cache result (a Status value).
func (m *Metrics) Lookup(endpoint, result string) { m.lookups.WithLabelValues(endpoint, result).Inc() }

// Shared counts one request answered through single flight.
func (m *Metrics) Shared() { m.shared.Inc() }

// Fault counts one Redis fault; it fits RedisOptions.OnFault.
func (m *Metrics) Fault(op, kind string) { m.faults.WithLabelValues(op, kind).Inc() }

var (
	descEntries   = prometheus.NewDesc("chorus_cache_entries", "Entries in the in-process response cache.", nil, nil)
	descBytes     = prometheus.NewDesc("chorus_cache_bytes", "Estimated bytes held by the in-process response cache.", nil, nil)
	descEvictions = prometheus.NewDesc("chorus_cache_evictions_total", "Entries evicted from the in-process cache to respect its bounds.", nil, nil)
	descExpired   = prometheus.NewDesc("chorus_cache_expired_total", "Expired entries removed from the in-process cache when found.", nil, nil)
)

type memoryCollector struct{ mem *Memory }

func (c *memoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEntries
	ch <- descBytes
	ch <- descEvictions
	ch <- descExpired
}

func (c *memoryCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.mem.Stats()
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(st.Expired))
}
