package manage

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// livez answers while the process can serve at all.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Readiness is what /readyz reports beyond the database, the schema, the
// registry, draining and the replicas, which the Server knows itself.
// A nil field is reported as "off".
type Readiness struct {
	// Redis pings the Redis that rate limits and the cache share (nil:
	// redis_url is not set).
	Redis func(context.Context) error
	// UsageQueue is the usage writer's queue: records waiting and room.
	UsageQueue func() (depth, capacity int)
}

// Check statuses in /readyz. Only "fail" makes readiness 503; "degraded"
// says the instance serves but something needs an operator.
const (
	CheckOK       = "ok"
	CheckDegraded = "degraded"
	CheckFail     = "fail"
	CheckOff      = "off"     // not configured, or not reported by this build
	CheckUnknown  = "unknown" // not checked, because another check failed first
)

// Check is one dependency's state in /readyz.
type Check struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	// What the check measured, when it measures something.
	Version  *int64   `json:"version,omitempty"`   // registry: snapshot version
	Depth    *int     `json:"depth,omitempty"`     // usage queue: records waiting
	Capacity *int     `json:"capacity,omitempty"`  // usage queue: room
	Seconds  *float64 `json:"seconds,omitempty"`   // rollup lag; Redis round trip
	Lag      *float64 `json:"lag_s,omitempty"`     // replica: replay lag, seconds
	LagBytes *int64   `json:"lag_bytes,omitempty"` // replica: WAL bytes behind
	Name     string   `json:"name,omitempty"`      // replica: host:port/database
}

// ReadyReport is the body of /readyz: the overall status (ok, degraded,
// unavailable — the last with 503) and each dependency's check.
type ReadyReport struct {
	Status string      `json:"status"`
	Checks ReadyChecks `json:"checks"`
}

// ReadyChecks are /readyz's checks, one per dependency.
type ReadyChecks struct {
	Draining   Check   `json:"draining"`
	Database   Check   `json:"database"`
	Migrations Check   `json:"migrations"`
	Registry   Check   `json:"registry"`
	Redis      Check   `json:"redis"`
	UsageQueue Check   `json:"usage_queue"`
	RollupLag  Check   `json:"rollup_lag"`
	Replicas   []Check `json:"replicas"`
}

// usageQueueDegraded is how full the usage queue may be before readiness
// says so: past it, requests are about to wait for the writer.
const usageQueueDegraded = 0.9

// readyz answers 200 when the database is reachable, its schema is
// current, the registry is loaded and the server is not draining; 503
// otherwise. The body is JSON (ReadyReport) with every dependency's check,
// so an operator sees at once what is wrong. While the database is down an
// instance that still serves model requests (fast billing) answers 200,
// with the database degraded (databaseReadiness). Redis, the usage queue,
// the rollup lag and the replicas are reported but never fail readiness:
// the instance still serves without them.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rep := ReadyReport{Checks: s.readyChecks(ctx)}
	c := &rep.Checks
	rep.Status = "ok"
	all := append([]Check{c.Draining, c.Database, c.Migrations, c.Registry, c.Redis, c.UsageQueue, c.RollupLag}, c.Replicas...)
	for _, ch := range all {
		switch ch.Status {
		case CheckFail:
			rep.Status = "unavailable"
		case CheckDegraded:
			if rep.Status == "ok" {
				rep.Status = CheckDegraded
			}
		}
	}
	status := http.StatusOK
	if rep.Status == "unavailable" {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, status, rep)
}

// readyChecks runs every check.
func (s *Server) readyChecks(ctx context.Context) ReadyChecks {
	c := ReadyChecks{Draining: Check{Status: CheckOK}, Replicas: s.replicaChecks()}
	select {
	case <-s.draining:
		c.Draining = Check{Status: CheckFail, Message: "draining: shutting down"}
	default:
	}
	degraded, err := s.databaseReadiness(ctx) // outage.go
	switch {
	case err != nil:
		c.Database = Check{Status: CheckFail, Message: err.Error()}
		c.Migrations = Check{Status: CheckUnknown, Message: "not checked: the database is unreachable"}
	case degraded != "":
		c.Database = Check{Status: CheckDegraded, Message: degraded}
		c.Migrations = Check{Status: CheckUnknown, Message: "not checked: the database is unreachable"}
	default:
		c.Database = Check{Status: CheckOK}
		c.Migrations = Check{Status: CheckOK}
		if err := s.Store.CheckSchema(ctx); err != nil {
			c.Migrations = Check{Status: CheckFail, Message: err.Error()}
		}
	}
	v := s.Registry.Snapshot().Version
	c.Registry = Check{Status: CheckOK, Version: &v}
	if v < 0 {
		c.Registry = Check{Status: CheckFail, Message: "registry not loaded"}
	}
	c.Redis = s.redisCheck(ctx)
	c.UsageQueue = s.usageQueueCheck()
	c.RollupLag = s.rollupLagCheck(ctx)
	return c
}

func (s *Server) redisCheck(ctx context.Context) Check {
	if s.Readiness.Redis == nil {
		return Check{Status: CheckOff, Message: "redis_url is not set: rate limits and the cache are in process"}
	}
	start := s.Now()
	if err := s.Readiness.Redis(ctx); err != nil {
		return Check{Status: CheckDegraded, Message: "redis unreachable: " + err.Error() + "; rate limits and the cache fall back as configured (docs/rate-limits.md)"}
	}
	took := s.Now().Sub(start).Seconds()
	return Check{Status: CheckOK, Seconds: &took}
}

func (s *Server) usageQueueCheck() Check {
	if s.Readiness.UsageQueue == nil {
		return Check{Status: CheckOff}
	}
	depth, capacity := s.Readiness.UsageQueue()
	ch := Check{Status: CheckOK, Depth: &depth, Capacity: &capacity}
	if capacity > 0 && float64(depth) >= usageQueueDegraded*float64(capacity) {
		ch.Status, ch.Message = CheckDegraded, "usage queue nearly full: requests will wait for the usage writer"
	}
	return ch
}

func (s *Server) rollupLagCheck(ctx context.Context) Check {
	if s.RollupLag == nil {
		return Check{Status: CheckOff, Message: "not reported"}
	}
	lag, err := s.RollupLag(ctx)
	if err != nil {
		return Check{Status: CheckDegraded, Message: "rollup lag unknown: " + err.Error()}
	}
	secs := lag.Seconds()
	return Check{Status: CheckOK, Seconds: &secs}
}

// replicaChecks reports each read replica. A replica that lags, is paused
// or is down degrades where listings are read (the primary serves them),
// never readiness itself.
func (s *Server) replicaChecks() []Check {
	rr, ok := s.Store.(replicaReporter)
	if !ok {
		return []Check{}
	}
	states := rr.Replicas()
	out := make([]Check, 0, len(states))
	for _, st := range states {
		lag, bytes := st.Lag.Seconds(), st.LagBytes
		ch := Check{Name: st.Name, Status: CheckOK, Lag: &lag, LagBytes: &bytes, Message: strings.TrimSuffix(replicaLine(st), "\n")}
		if st.Status != chorus.ReplicaOK {
			ch.Status = CheckDegraded
		}
		out = append(out, ch)
	}
	return out
}

// metrics serves the Prometheus scrape, behind MetricsToken when one is set.
func (s *Server) metrics(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.MetricsToken != "" {
			got := api.Bearer(r)
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.MetricsToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				http.Error(w, "metrics require the configured bearer token", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}
}

// Draining is closed once Drain is called (after Register).
func (s *Server) Draining() <-chan struct{} { return s.draining }
