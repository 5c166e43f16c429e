package manage

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/chorusgw/chorus"
)

// replicaReporter is a store with read replicas: their last measured
// state, for readiness. A store without replicas reports none.
type replicaReporter interface {
	Replicas() []chorus.ReplicaState
}

// readYourWrites is a store whose listings may come from a lagging read
// replica, and which can bind a request's reads to a position of the
// primary's WAL so that a client reads its own writes (see
// docs/read-replicas.md).
type readYourWrites interface {
	// WritePosition returns the primary's current WAL position as an
	// opaque token ("" without replicas).
	WritePosition(ctx context.Context) (string, error)
	// ReadAfter returns ctx whose lag-tolerant reads include everything
	// up to token (an unparseable token is ignored).
	ReadAfter(ctx context.Context, token string) context.Context
}

// The client's last write position travels in a cookie (the console) or a
// header (API clients, which may send back what a write answered). It is
// not a secret: a forged one only sends that client's reads to the
// primary, or lets them lag within replica_max_lag.
const (
	readAfterCookie = "chorus_read_after"
	readAfterHeader = "Chorus-Read-After"
	// readAfterMaxAge outlives the longest replica_max_lag: once a write
	// is older than the max lag, every replica that takes reads has it.
	readAfterMaxAge = time.Hour
)

// readYourWrites binds r's lag-tolerant reads to the write position the
// client brought, and for a request that may write returns a writer that
// hands the client the primary's position once the handler answers with
// success, that is after its transaction committed. Without replicas it
// changes nothing (no cookie, no header, no wrapped writer).
func (s *Server) readYourWrites(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	store, ok := s.Store.(readYourWrites)
	if rr, has := s.Store.(replicaReporter); !ok || !has || len(rr.Replicas()) == 0 {
		return w, r
	}
	token := r.Header.Get(readAfterHeader)
	if token == "" {
		if c, err := r.Cookie(readAfterCookie); err == nil {
			token = c.Value
		}
	}
	if token != "" {
		r = r.WithContext(store.ReadAfter(r.Context(), token))
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return w, r
	}
	return &positionWriter{ResponseWriter: w, ctx: r.Context(), store: store, secure: s.SecureRequest(r)}, r
}

// positionWriter adds the primary's WAL position to a successful answer
// to a request that may have written.
type positionWriter struct {
	http.ResponseWriter
	ctx     context.Context
	store   readYourWrites
	secure  bool
	started bool
}

// WriteHeader stamps a success with the write position, then writes.
func (p *positionWriter) WriteHeader(code int) {
	if !p.started {
		p.started = true
		if code < http.StatusBadRequest {
			p.stamp()
		}
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *positionWriter) Write(b []byte) (int, error) {
	if !p.started {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (p *positionWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// stamp sets the header and the cookie. Without a position (no replicas,
// or the primary did not answer) the client's reads stay as they were.
func (p *positionWriter) stamp() {
	pos, err := p.store.WritePosition(p.ctx)
	if err != nil || pos == "" {
		return
	}
	p.Header().Set(readAfterHeader, pos)
	http.SetCookie(p.ResponseWriter, &http.Cookie{ // #nosec G124 -- Secure exactly when the request came over TLS (SecureRequest), as the session cookie; HttpOnly and SameSite always set
		Name: readAfterCookie, Value: pos, Path: "/api/", MaxAge: int(readAfterMaxAge.Seconds()),
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
}

// replicaLine describes one replica's state in a line (its readiness
// check's message).
func replicaLine(st chorus.ReplicaState) string {
	lag := fmt.Sprintf("lag %.3fs, %d bytes", st.Lag.Seconds(), st.LagBytes)
	switch st.Status {
	case chorus.ReplicaOK:
		return fmt.Sprintf("replica %s: ok (%s)\n", st.Name, lag)
	case chorus.ReplicaLagging, chorus.ReplicaPaused:
		return fmt.Sprintf("replica %s: degraded: %s (%s); its reads go to the primary\n", st.Name, st.Status, lag)
	}
	return fmt.Sprintf("replica %s: degraded: %s (%s); its reads go to the primary\n", st.Name, st.Status, st.Err)
}
