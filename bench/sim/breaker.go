package sim

import (
	"sync"
	"time"

	"github.com/chorusgw/chorus/internal/orchestrate"
)

// Circuit is what the benchmark saw of one deployment's circuit breaker
// during a run.
type Circuit struct {
	Openings  int           // times the circuit opened (a failed half-open probe opens it again)
	FirstOpen time.Time     // when it first opened (zero: never)
	OpenFor   time.Duration // time it spent refusing calls
	// ClosedEarly counts closings before the cooldown ended: by a call
	// that was admitted before the circuit opened and then succeeded.
	ClosedEarly int
}

// circuits follows watched deployments' circuits. It looks at a
// deployment's state after each of its calls ends (the orchestrator's
// per-attempt hook), which is when a circuit opens or closes, so even an
// opening that lasts a millisecond is seen; polling the admin health API
// would miss those.
type circuits struct {
	health   *orchestrate.Health
	cooldown time.Duration
	mu       sync.Mutex
	watched  map[string]*circuitLog
}

type circuitLog struct {
	Circuit
	since time.Time // the current opening's start (zero: closed)
	until time.Time // ... and the end of its cooldown
}

// observe runs after every upstream call.
func (c *circuits) observe(a *orchestrate.Attempt) {
	name := a.Target.Deployment.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.watched[name]
	if l == nil {
		return
	}
	st := c.health.Of(name).Status()
	now := time.Now()
	switch {
	case st.OpenUntil != nil && !st.OpenUntil.Equal(l.until):
		if !l.since.IsZero() && now.Before(l.until) {
			// A call that was in flight when the circuit opened failed
			// and pushed the cooldown's end back: the same opening.
			l.until = *st.OpenUntil
			return
		}
		l.end(now)
		l.Openings++
		l.since, l.until = st.OpenUntil.Add(-c.cooldown), *st.OpenUntil
		if l.FirstOpen.IsZero() {
			l.FirstOpen = l.since
		}
	case st.OpenUntil == nil && !l.since.IsZero():
		// Closed: by a good probe, or, before the cooldown ended, by a call
		// from before it opened.
		if now.Before(l.until) {
			l.ClosedEarly++
		}
		l.end(now)
	}
}

// end closes the current opening at now, or at its cooldown's end if that
// came first (from then on the circuit lets a probe through).
func (l *circuitLog) end(now time.Time) {
	if l.since.IsZero() {
		return
	}
	if l.until.Before(now) {
		now = l.until
	}
	l.OpenFor += now.Sub(l.since)
	l.since = time.Time{}
}

// watch starts following the named deployments' circuits; stop returns
// what was seen.
func (g *Gateway) watch(deployments []string) (stop func() map[string]*Circuit) {
	c := g.circuits
	c.mu.Lock()
	for _, d := range deployments {
		c.watched[d] = &circuitLog{}
	}
	c.mu.Unlock()
	return func() map[string]*Circuit {
		c.mu.Lock()
		defer c.mu.Unlock()
		out := make(map[string]*Circuit, len(deployments))
		now := time.Now()
		for _, d := range deployments {
			l := c.watched[d]
			l.end(now)
			out[d] = &l.Circuit
			delete(c.watched, d)
		}
		return out
	}
}
