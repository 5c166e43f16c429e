package manage

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// ClientErrorStore is what error reports need from the database.
type ClientErrorStore interface {
	InsertClientError(ctx context.Context, e *chorus.ClientError) error
	ListClientErrors(ctx context.Context, f chorus.ClientErrorFilter, p chorus.Page) ([]*chorus.ClientError, error)
}

// Error reports from the consoles' error boundaries: anyone may send one
// (the sign-in page fails too), so they are bounded — a small body, a
// rate per client address — scrubbed of secrets before they are stored,
// and readable by admins only.
const (
	maxClientErrorBody   = 16 << 10
	clientErrorsPerMin   = 20 // per client address
	clientErrorWindow    = time.Minute
	maxReportersInWindow = 10_000 // addresses tracked; beyond, new ones are refused until the window turns
)

func (s *Server) clientErrorRoutes(mux *api.Mux) {
	s.handle(mux, "POST /api/client-errors", accessPublic, s.reportClientError)
	s.handle(mux, "GET /api/admin/client-errors", accessAdmin, s.adminListClientErrors)
}

// clientErrorInput is the body of POST /api/client-errors.
type clientErrorInput struct {
	Message   string `json:"message"`
	Stack     string `json:"stack"`
	Route     string `json:"route"`
	Release   string `json:"release"`
	RequestID string `json:"request_id"`
}

// reportClientError stores one report, attributed to the signed-in user
// when the request carries a valid session.
func (s *Server) reportClientError(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Message: "Cross-site request refused."}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return chorus.Invalid("Content-Type", "Send the report as application/json.")
	}
	if r.ContentLength > maxClientErrorBody {
		return api.TooLarge(maxClientErrorBody)
	}
	if !s.reports.allow(s.clientIP(r), s.Now()) {
		return &chorus.Error{Code: chorus.ERATELIMIT, Message: "Too many error reports; some were dropped.", RetryAfter: clientErrorWindow}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxClientErrorBody)
	var in clientErrorInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	e := &chorus.ClientError{Message: in.Message, Stack: in.Stack, Route: in.Route, Release: in.Release,
		RequestID: in.RequestID, UserAgent: r.UserAgent()}
	if sessionToken(r) != "" {
		if p, err := s.principal(r); err == nil && p.User != nil {
			e.UserID, e.TeamID = p.User.ID, p.User.TeamID
		}
	}
	e.Normalize()
	if err := s.Store.InsertClientError(r.Context(), e); err != nil {
		return err
	}
	if s.ForwardClientError != nil {
		s.ForwardClientError(e)
	}
	api.WriteJSON(w, http.StatusAccepted, struct {
		Object string `json:"object"`
		ID     int64  `json:"id"`
	}{"client_error", e.ID})
	return nil
}

// adminListClientErrors serves GET /api/admin/client-errors
// (?user_id=&route=&since=&after=&limit=).
func (s *Server) adminListClientErrors(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	var f chorus.ClientErrorFilter
	if f.UserID, err = api.IDParam(q, "user_id"); err != nil {
		return err
	}
	if f.Since, err = api.TimeParam(q, "since"); err != nil {
		return err
	}
	f.Route = q.Get("route")
	items, err := s.Store.ListClientErrors(r.Context(), f, page)
	if err != nil {
		return err
	}
	api.WriteList(w, items, page, func(e *chorus.ClientError) int64 { return e.ID })
	return nil
}

// reportLimiter counts error reports per client address in fixed windows.
type reportLimiter struct {
	mu    sync.Mutex
	start time.Time
	count map[string]int
}

// allow counts one report from addr and reports whether it is within the
// rate.
func (l *reportLimiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == nil || now.Sub(l.start) >= clientErrorWindow {
		l.start, l.count = now, make(map[string]int)
	}
	n, seen := l.count[addr]
	if !seen && len(l.count) >= maxReportersInWindow {
		return false
	}
	if n >= clientErrorsPerMin {
		return false
	}
	l.count[addr] = n + 1
	return true
}
