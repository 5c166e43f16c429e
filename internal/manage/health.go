package manage

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/chorusgw/chorus/internal/api"
)

// livez answers while the process can serve at all.
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when the database is reachable, its schema is current
// and the server is not draining; 503 with the reason otherwise. While the
// database is down an instance that still serves model requests (fast
// billing) answers 200 with a "degraded:" line (databaseReadiness).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	fail := func(reason string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(reason + "\n"))
	}
	select {
	case <-s.draining:
		fail("draining: shutting down")
		return
	default:
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	degraded, err := s.databaseReadiness(ctx) // outage.go
	if err != nil {
		fail(err.Error())
		return
	}
	if degraded == "" {
		if err := s.Store.CheckSchema(ctx); err != nil {
			fail(err.Error())
			return
		}
	}
	if s.Registry.Snapshot().Version < 0 {
		fail("registry not loaded")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
	if degraded != "" {
		_, _ = w.Write([]byte(degraded + "\n"))
	}
	s.writeReplicaReadiness(w)
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
