package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
)

// access says who may call a management route. Every route of the JSON
// API is registered through Server.handle with one, so the authorization
// test can walk them all (Server.Routes).
type access uint8

const (
	accessPublic access = iota // anyone; the handler gets a nil principal
	accessUser                 // any signed-in user: a session cookie or an API key, any role
	accessAdmin                // users with the admin role
	accessMask   access = 0x0f

	// stepUp marks a sensitive operation: a session must have verified its
	// second factor recently (see requireStepUp).
	stepUp access = 0x10
	// allowMFAPending lets a session that has passed the password but not
	// yet the second factor call the route (verify MFA, log out, who am I),
	// and an admin who must enrol MFA reach the enrolment routes.
	allowMFAPending access = 0x20
)

// RouteInfo describes a registered route for the authorization test and
// the docs.
type RouteInfo struct {
	Pattern string // "METHOD /path/{id}"
	Access  string // "public", "key" (model API: API keys only), "user" or "admin"
	StepUp  bool
}

// handlerFunc is a management handler; errors it returns are written in
// the OpenAI error shape.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error

// sessionCookie names the session cookie; under TLS it carries the
// __Host- prefix, which browsers accept only with Secure, Path=/ and no
// Domain, so a sibling subdomain cannot plant one.
const (
	sessionCookie       = "chorus_session"
	secureSessionCookie = "__Host-chorus_session"
	csrfHeader          = "X-CSRF-Token"
	// touchEvery bounds how often a session's last-seen time is written.
	touchEvery = time.Minute
)

// handle registers h at pattern behind the access check a.
func (s *Server) handle(mux *http.ServeMux, pattern string, a access, h handlerFunc) {
	name := map[access]string{accessPublic: "public", accessUser: "user", accessAdmin: "admin"}[a&accessMask]
	s.routes = append(s.routes, RouteInfo{Pattern: pattern, Access: name, StepUp: a&stepUp != 0})
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authorize(r, a)
		if err == nil {
			if p != nil {
				r = r.WithContext(chorus.NewContextWithActor(r.Context(), s.actor(r, p)))
			}
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, formatOpenAI, err)
		}
	})
}

// Routes lists every management route with who may call it, in
// registration order. Handler must have been called.
func (s *Server) Routes() []RouteInfo { return slices.Clone(s.routes) }

// authorize returns the caller allowed by a, or the error to answer.
func (s *Server) authorize(r *http.Request, a access) (*chorus.Principal, error) {
	if a&accessMask == accessPublic {
		return nil, nil
	}
	p, err := s.principal(r)
	if err != nil {
		return nil, err
	}
	if err := s.mfaGate(r, p, a&allowMFAPending != 0); err != nil {
		return nil, err
	}
	if a&accessMask == accessAdmin && !p.IsAdmin() {
		return nil, &chorus.Error{Code: chorus.EFORBIDDEN, Message: "This operation requires the admin role."}
	}
	if a&stepUp != 0 {
		if err := s.requireStepUp(r, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// principal authenticates the caller by API key (Authorization: Bearer or
// x-api-key) or, failing that, by session cookie. Management routes read
// the user from the database, so a disabled user is refused at once on
// every instance.
func (s *Server) principal(r *http.Request) (*chorus.Principal, error) {
	if bearer(r) != "" || r.Header.Get("Authorization") != "" {
		k, err := s.authenticate(r)
		if err != nil {
			return nil, err
		}
		if k.ID == 0 && k.UserID == 0 { // the configured master key
			return &chorus.Principal{Key: k, User: &chorus.User{Email: "master-key", Name: "master key", Role: chorus.RoleAdmin}}, nil
		}
		u, err := s.Store.UserByID(r.Context(), k.UserID)
		if err != nil || u.DisabledAt != nil {
			return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Incorrect API key provided: " + redactKey(bearer(r)) + ". The key is unknown, revoked or expired."}
		}
		return &chorus.Principal{Key: k, User: u}, nil
	}
	token := sessionToken(r)
	if token == "" {
		return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Sign in, or send an API key as 'Authorization: Bearer YOUR_KEY'."}
	}
	h := sha256.Sum256([]byte(token))
	sess, u, err := s.Store.SessionByTokenHash(r.Context(), h[:])
	if err != nil {
		if chorus.ErrorCode(err) == chorus.ENOTFOUND {
			return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Your session has ended. Sign in again."}
		}
		return nil, err
	}
	now := s.Now()
	if idle := s.sessionIdle(); idle > 0 && now.Sub(sess.LastSeen) > idle {
		return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Your session has ended. Sign in again."}
	}
	if !safeMethod(r.Method) {
		if err := checkCSRF(r, sess); err != nil {
			return nil, err
		}
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		if err := s.Store.TouchSession(r.Context(), sess.ID, now); err != nil {
			s.Logger.Warn("touch session", "request_id", RequestID(r.Context()), "err", err)
		}
	}
	return &chorus.Principal{Session: sess, User: u}, nil
}

// sessionToken returns the session cookie's value, preferring the
// __Host- cookie.
func sessionToken(r *http.Request) string {
	for _, name := range []string{secureSessionCookie, sessionCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// checkCSRF refuses a cookie-authenticated state-changing request that does
// not echo the session's CSRF token, or that a browser marks cross-site.
func checkCSRF(r *http.Request, sess *chorus.Session) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Message: "Cross-site request refused."}
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Message: "Missing or invalid CSRF token: send the session's token in the " + csrfHeader + " header."}
	}
	return nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// actor is the audit log's view of the caller.
func (s *Server) actor(r *http.Request, p *chorus.Principal) chorus.Actor {
	a := chorus.Actor{IP: clientIP(r), RequestID: RequestID(r.Context())}
	if p.User != nil {
		a.UserID = p.User.ID
	}
	if p.Key != nil {
		a.KeyID = p.Key.ID
		if p.Key.ID == 0 && p.Key.UserID == 0 {
			a.System = "master-key"
		}
	}
	if p.Session != nil {
		a.SessionID = p.Session.ID
	}
	return a
}

// clientIP is the peer's address. Behind a proxy, the proxy's own address
// is what we see unless the proxy is trusted (see trustedClientIP).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return strings.TrimSpace(r.RemoteAddr)
	}
	return host
}

// AccountStore is what authentication needs from the database.
type AccountStore interface {
	UserByID(ctx context.Context, id int64) (*chorus.User, error)
	SessionByTokenHash(ctx context.Context, hash []byte) (*chorus.Session, *chorus.User, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
}

// handleKeyed registers a model API route, which authenticates API keys
// itself from the registry snapshot.
func (s *Server) handleKeyed(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, RouteInfo{Pattern: pattern, Access: "key"})
	mux.HandleFunc(pattern, h)
}

// handleOps registers an operational endpoint (probes, metrics), open to
// anyone who can reach the port.
func (s *Server) handleOps(mux *http.ServeMux, pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, RouteInfo{Pattern: pattern, Access: "public"})
	mux.HandleFunc(pattern, h)
}
