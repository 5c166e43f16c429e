package telemetry

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LedgerCheck exports the periodic ledger check (the invariants GET
// /api/admin/ledger/check verifies): whether the last one passed, how many
// problems it found, when it last ran, and the checks that could not run.
type LedgerCheck struct {
	ok, problems, last prometheus.Gauge
	errors             prometheus.Counter
	ran                atomic.Bool // a check has completed: chorus_ledger_check_ok is exported
}

// RegisterLedgerCheck registers the ledger check's metrics. Until the first
// check has run chorus_ledger_check_ok is absent rather than 0 or 1.
func (m *Metrics) RegisterLedgerCheck() *LedgerCheck {
	l := &LedgerCheck{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_ledger_check_ok",
			Help: "1 when the last ledger check found every invariant holding (entries sum to zero, balances match), 0 when it found a problem."}),
		problems: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_ledger_check_problems",
			Help: "Broken invariants the last ledger check reported (GET /api/admin/ledger/check lists them)."}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_ledger_check_last_run_timestamp_seconds",
			Help: "When the last ledger check completed (Unix time)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ledger_check_errors_total",
			Help: "Ledger checks that could not run (the database failed them)."}),
	}
	m.reg.MustRegister(l.problems, l.last, l.errors, ledgerOK{l})
	return l
}

// ledgerOK exports chorus_ledger_check_ok once a check has run.
type ledgerOK struct{ l *LedgerCheck }

func (c ledgerOK) Describe(ch chan<- *prometheus.Desc) { c.l.ok.Describe(ch) }

func (c ledgerOK) Collect(ch chan<- prometheus.Metric) {
	if c.l.ran.Load() {
		c.l.ok.Collect(ch)
	}
}

// Checked records a completed check at t with its problems.
func (l *LedgerCheck) Checked(t time.Time, problems int) {
	ok := 0.0
	if problems == 0 {
		ok = 1
	}
	l.ok.Set(ok)
	l.problems.Set(float64(problems))
	l.last.Set(float64(t.UnixNano()) / 1e9)
	l.ran.Store(true)
}

// Failed counts a check that could not run.
func (l *LedgerCheck) Failed() { l.errors.Inc() }
