package orchestrate

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// Circuit states.
const (
	StateClosed   = "closed"    // healthy: calls go through
	StateOpen     = "open"      // failing: calls are refused until the cooldown passes
	StateHalfOpen = "half_open" // cooling down is over: one probe at a time decides
)

// BreakerConfig says when a deployment's circuit opens and closes.
type BreakerConfig struct {
	ConsecutiveFailures int           // open after this many failures in a row (10)
	FailureRate         float64       // or when this fraction of calls in Window failed (0.5)
	MinCalls            int           // ... over at least this many calls (50)
	Window              time.Duration // the failure-rate window (30s)
	Cooldown            time.Duration // how long an open circuit refuses calls (10s)
}

// DefaultBreaker returns the configuration used when none is given.
func DefaultBreaker() BreakerConfig {
	return BreakerConfig{ConsecutiveFailures: 10, FailureRate: 0.5, MinCalls: 50, Window: 30 * time.Second, Cooldown: 10 * time.Second}
}

// Health tracks every deployment's circuit breaker, calls in flight and
// observed latency. It outlives registry snapshots: state is keyed by
// deployment name.
type Health struct {
	cfg   BreakerConfig
	now   func() time.Time
	base  time.Time // outcome times are kept as offsets from it
	byDep sync.Map  // deployment name → *DeploymentHealth; read on every call without a lock
}

// NewHealth returns an empty tracker.
func NewHealth(cfg BreakerConfig, now func() time.Time) *Health {
	if cfg.ConsecutiveFailures <= 0 {
		cfg = DefaultBreaker()
	}
	if now == nil {
		now = time.Now
	}
	return &Health{cfg: cfg, now: now, base: now()}
}

// Of returns the state of the named deployment, creating it on first use.
func (h *Health) Of(name string) *DeploymentHealth {
	if d, ok := h.byDep.Load(name); ok {
		return d.(*DeploymentHealth)
	}
	d := &DeploymentHealth{h: h, name: name}
	d.closed.Store(true)
	d.coolNs.Store(math.MinInt64)
	got, _ := h.byDep.LoadOrStore(name, d)
	return got.(*DeploymentHealth)
}

// Snapshot returns every deployment's state, for the admin API and metrics.
func (h *Health) Snapshot() []Status {
	var deps []*DeploymentHealth
	h.byDep.Range(func(_, d any) bool {
		deps = append(deps, d.(*DeploymentHealth))
		return true
	})
	out := make([]Status, 0, len(deps))
	for _, d := range deps {
		out = append(out, d.Status())
	}
	slices.SortFunc(out, func(a, b Status) int {
		if a.Deployment < b.Deployment {
			return -1
		}
		return 1
	})
	return out
}

// Status is a deployment's health as the admin API shows it.
type Status struct {
	Deployment    string     `json:"deployment"`
	State         string     `json:"state"`
	InFlight      int64      `json:"in_flight"`
	LatencyEWMAMS float64    `json:"latency_ewma_ms"`
	LatencyP95MS  float64    `json:"latency_p95_ms"`
	Consecutive   int        `json:"consecutive_failures"`
	WindowCalls   int        `json:"window_calls"`
	WindowFails   int        `json:"window_failures"`
	OpenUntil     *time.Time `json:"open_until,omitempty"`
	CoolUntil     *time.Time `json:"rate_limited_until,omitempty"`
	Successes     int64      `json:"successes_total"`
	Failures      int64      `json:"failures_total"`
}

// DeploymentHealth is one deployment's breaker and statistics.
//
// Every upstream call passes through Allow, Start and Done, from every
// request at once, so the common case takes no lock (Allow of a closed
// circuit, Start) or holds it for O(1) work (Done: the failure-rate window
// is a ring with running counts, never copied).
type DeploymentHealth struct {
	h        *Health
	name     string
	inflight atomic.Int64
	// Mirrors of state, coolUntil and epoch, written under mu and read
	// without it on the fast paths.
	closed atomic.Bool  // state == ""
	coolNs atomic.Int64 // coolUntil as an offset from h.base (MinInt64: never)
	epochA atomic.Uint64

	mu          sync.Mutex
	state       string // "" means closed
	openUntil   time.Time
	epoch       uint64    // how many times the circuit opened; calls carry the epoch they started in
	coolUntil   time.Time // rate limited (429) until: skipped without tripping the breaker
	probing     bool      // a half-open probe is out
	consecutive int
	window      outcomes // calls in the failure-rate window, oldest first
	ewma        float64  // seconds
	recent      [128]float64
	nRecent     int
	successes   int64
	failures    int64
}

// outcomes is the failure-rate window: a ring of calls' times (offsets
// from Health.base, shifted left one bit) with the failure in the low bit,
// oldest first, and the count of failures in it. Pushing and expiring are
// O(1) (amortized: the ring doubles when full and halves when mostly
// empty), so the breaker's lock is held for a few nanoseconds however
// many calls the window holds.
type outcomes struct {
	buf   []int64
	head  int // index of the oldest
	n     int
	fails int
}

func (w *outcomes) push(at time.Duration, failed bool) {
	if w.n == len(w.buf) {
		w.resize(max(64, 2*len(w.buf)))
	}
	v := int64(at) << 1
	if failed {
		v |= 1
		w.fails++
	}
	w.buf[(w.head+w.n)%len(w.buf)] = v
	w.n++
}

// expire drops the calls made before cutoff.
func (w *outcomes) expire(cutoff time.Duration) {
	for w.n > 0 {
		v := w.buf[w.head]
		if time.Duration(v>>1) >= cutoff {
			break
		}
		w.fails -= int(v & 1)
		w.head = (w.head + 1) % len(w.buf)
		w.n--
	}
	if len(w.buf) > 1024 && w.n < len(w.buf)/8 {
		w.resize(len(w.buf) / 2)
	}
}

func (w *outcomes) resize(size int) {
	buf := make([]int64, size)
	for i := range w.n {
		buf[i] = w.buf[(w.head+i)%len(w.buf)]
	}
	w.buf, w.head = buf, 0
}

func (w *outcomes) reset() { w.head, w.n, w.fails = 0, 0, 0 }

// setCool sets coolUntil and its mirror; d.mu is held.
func (d *DeploymentHealth) setCool(t time.Time) {
	d.coolUntil = t
	d.coolNs.Store(int64(t.Sub(d.h.base)))
}

// setState sets state and its mirror; d.mu is held.
func (d *DeploymentHealth) setState(state string) {
	d.state = state
	d.closed.Store(state == "")
}

// InFlight returns the calls now in flight.
func (d *DeploymentHealth) InFlight() int64 { return d.inflight.Load() }

// Allow reports whether a call may go to this deployment now. In the
// half-open state it admits one probe at a time; a caller that was allowed
// must report with Done.
func (d *DeploymentHealth) Allow() bool {
	now := d.h.now()
	if d.closed.Load() && int64(now.Sub(d.h.base)) >= d.coolNs.Load() {
		return true // closed and not resting: the common case takes no lock
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Before(d.coolUntil) {
		return false
	}
	switch d.state {
	case StateOpen:
		if now.Before(d.openUntil) {
			return false
		}
		d.setState(StateHalfOpen)
		d.probing = true
		return true
	case StateHalfOpen:
		if d.probing {
			return false
		}
		d.probing = true
		return true
	}
	return true
}

// RetryAt returns when a refused deployment may be tried again.
func (d *DeploymentHealth) RetryAt() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.coolUntil.After(d.openUntil) {
		return d.coolUntil
	}
	return d.openUntil
}

// SuccessRatio is the share of the calls in the failure-rate window that
// succeeded (0 when there were none).
func (d *DeploymentHealth) SuccessRatio() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.window.n == 0 {
		return 0
	}
	return float64(d.window.n-d.window.fails) / float64(d.window.n)
}

// RateLimited reports whether the deployment is resting after a 429.
func (d *DeploymentHealth) RateLimited() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.h.now().Before(d.coolUntil)
}

// Start counts a call in flight; the returned func ends it. The epoch
// identifies the circuit's era the call started in, for Done.
func (d *DeploymentHealth) Start() (end func(), epoch uint64) {
	d.inflight.Add(1)
	return func() { d.inflight.Add(-1) }, d.epochA.Load()
}

// Done records the outcome of a call that started in epoch (from Start):
// err nil is a success taking latency (for a stream, the time to its first
// chunk). Only failures that say the
// deployment is unwell count against it: transport errors, timeouts and 5xx;
// a 429 rests it until Retry-After without opening the circuit; a client's
// own error (4xx) or a cancelled call counts for nothing.
func (d *DeploymentHealth) Done(epoch uint64, err error, latency time.Duration) {
	now := d.h.now()
	cfg := d.h.cfg
	d.mu.Lock()
	defer d.mu.Unlock()
	kind := classify(err)
	if kind == neutral {
		if d.state == StateHalfOpen {
			d.probing = false
		}
		return
	}
	if kind == rateLimited {
		wait := time.Second
		var pe *provider.Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			wait = pe.RetryAfter
		}
		d.setCool(now.Add(min(wait, cfg.Cooldown*6)))
		if d.state == StateHalfOpen {
			d.probing = false
		}
		return
	}
	failed := kind == failure
	// Only the half-open probe decides an open circuit's fate. Calls admitted
	// before it opened (stragglers: under load, every call in flight at that
	// moment) finish later; their outcome updates the statistics but neither
	// closes nor re-opens the circuit.
	// Calls are refused while open and only the probe is admitted when half
	// open, so a call from the current epoch in the half-open state is the
	// probe; a call from an earlier epoch is a straggler.
	probe := d.state == StateHalfOpen && epoch == d.epoch
	straggler := d.state != "" && !probe
	at := now.Sub(d.h.base)
	d.window.push(at, failed)
	d.window.expire(at - cfg.Window)
	if !failed {
		d.successes++
		d.consecutive = 0
		s := latency.Seconds()
		if d.ewma == 0 {
			d.ewma = s
		} else {
			d.ewma = 0.8*d.ewma + 0.2*s
		}
		d.recent[d.nRecent%len(d.recent)] = s
		d.nRecent++
		if probe {
			d.setState("") // a good probe closes the circuit
			d.probing = false
			d.window.reset()
		}
		return
	}
	d.failures++
	d.consecutive++
	if probe {
		d.open(now)
		return
	}
	if straggler {
		return
	}
	if d.consecutive >= cfg.ConsecutiveFailures ||
		(d.window.n >= cfg.MinCalls && float64(d.window.fails)/float64(d.window.n) >= cfg.FailureRate) {
		d.open(now)
	}
}

func (d *DeploymentHealth) open(now time.Time) {
	d.epoch++
	d.epochA.Store(d.epoch)
	d.setState(StateOpen)
	d.openUntil = now.Add(d.h.cfg.Cooldown)
	d.probing = false
}

// Latency returns the EWMA of successful calls' latency (0 when unknown).
func (d *DeploymentHealth) Latency() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Duration(d.ewma * float64(time.Second))
}

// P95 returns the 95th percentile of the last 128 successful calls'
// latency, and false when fewer than 20 were seen.
func (d *DeploymentHealth) P95() (time.Duration, bool) {
	d.mu.Lock()
	n := min(d.nRecent, len(d.recent))
	if n < 20 {
		d.mu.Unlock()
		return 0, false
	}
	xs := make([]float64, n)
	copy(xs, d.recent[:n])
	d.mu.Unlock()
	slices.Sort(xs)
	i := int(math.Ceil(0.95*float64(n))) - 1
	return time.Duration(xs[i] * float64(time.Second)), true
}

// State returns the circuit state.
func (d *DeploymentHealth) State() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state == StateOpen && !d.h.now().Before(d.openUntil) {
		return StateHalfOpen
	}
	if d.state == "" {
		return StateClosed
	}
	return d.state
}

// Status returns the deployment's health for display.
func (d *DeploymentHealth) Status() Status {
	p95, _ := d.P95()
	st := Status{Deployment: d.name, State: d.State(), InFlight: d.InFlight(), LatencyP95MS: ms(p95)}
	d.mu.Lock()
	defer d.mu.Unlock()
	st.LatencyEWMAMS = d.ewma * 1000
	st.Consecutive = d.consecutive
	st.WindowCalls, st.WindowFails = d.window.n, d.window.fails
	st.Successes, st.Failures = d.successes, d.failures
	if d.state == StateOpen {
		t := d.openUntil
		st.OpenUntil = &t
	}
	if d.h.now().Before(d.coolUntil) {
		t := d.coolUntil
		st.CoolUntil = &t
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type errKind int

const (
	success errKind = iota
	failure
	rateLimited
	neutral
)

// classify sorts a call's error by what it says about the deployment.
func classify(err error) errKind {
	if err == nil {
		return success
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return neutral // our own errors (validation, translation) say nothing about the upstream
	}
	switch {
	case pe.Status == http.StatusTooManyRequests:
		return rateLimited
	case pe.Status == 0 && errors.Is(err, context.Canceled):
		return neutral // we (or the client) gave up: no verdict on the deployment
	case pe.Retryable():
		return failure
	}
	return neutral
}
