package manage

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
)

// access says who may call a management route. Every route of the JSON
// API is registered through Server.handle with one, so the authorization
// test can walk them all (Server.Routes).
type access uint8

const (
	accessPublic access = iota // anyone; the handler gets a nil principal
	accessUser                 // any signed-in user: a session cookie or a user's API key (not the master key), any role
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
func (s *Server) handle(mux *api.Mux, pattern string, a access, h handlerFunc) {
	name := map[access]string{accessPublic: "public", accessUser: "user", accessAdmin: "admin"}[a&accessMask]
	info := api.RouteInfo{Pattern: pattern, Access: name, StepUp: a&stepUp != 0}
	mux.Route(info, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Management answers carry secrets (new keys, codes, tokens) and
		// account data: no shared or browser cache keeps them.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w, r = s.readYourWrites(w, r) // listings on a replica still show the client's own writes
		err := s.databaseGate()       // outage.go
		var p *chorus.Principal
		if err == nil {
			p, err = s.authorize(r, a)
		}
		if err == nil {
			if p != nil {
				r = r.WithContext(chorus.NewContextWithActor(r.Context(), s.actor(r, p)))
			}
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, api.FormatOpenAI, err)
		}
	}))
}

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
	// A user's routes act on the caller's own account and team; the master
	// key is an operator's credential with neither.
	if a&accessMask == accessUser && p.User.ID == 0 {
		return nil, &chorus.Error{Code: chorus.EFORBIDDEN, Message: "This credential belongs to no user: use a user's API key or session (the master key is for the admin API)."}
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
	if api.Bearer(r) != "" || r.Header.Get("Authorization") != "" {
		k, err := api.Authenticate(r, s.Registry.Authenticate)
		if err != nil {
			return nil, err
		}
		if isMasterKey(k) {
			return &chorus.Principal{Key: k, User: &chorus.User{Email: "master-key", Name: "master key", Role: chorus.RoleAdmin}}, nil
		}
		u, err := s.Store.UserByID(r.Context(), k.UserID)
		if err != nil || u.DisabledAt != nil {
			return nil, &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Incorrect API key provided: " + api.RedactKey(api.Bearer(r)) + ". The key is unknown, revoked or expired."}
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
			s.Logger.WarnContext(r.Context(), "touch session", "err", err)
		}
	}
	return &chorus.Principal{Session: sess, User: u}, nil
}

// isMasterKey reports whether k is the configured master key, which
// belongs to no user (registry.Registry.Authenticate returns it with ID 0).
func isMasterKey(k *chorus.APIKey) bool { return k.ID == 0 && k.UserID == 0 }

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
	a := chorus.Actor{IP: s.clientIP(r), RequestID: api.RequestID(r.Context())}
	if p.User != nil {
		a.UserID = p.User.ID
	}
	if p.Key != nil {
		a.KeyID = p.Key.ID
		if isMasterKey(p.Key) {
			a.System = "master-key"
		}
	}
	if p.Session != nil {
		a.SessionID = p.Session.ID
	}
	return a
}

// clientIP is the caller's address: the peer's, or, when the peer is a
// trusted proxy (auth.trusted_proxies), the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. Proxies append the
// address they received from, so everything left of the last untrusted
// hop is whatever the client chose to send and is ignored.
func (s *Server) clientIP(r *http.Request) string {
	peer := remoteIP(r)
	proxies := s.trustedProxies()
	if len(proxies) == 0 || !inPrefixes(peer, proxies) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer // a malformed hop: trust nothing beyond the proxy
			}
			if ip := a.Unmap().String(); !inPrefixes(ip, proxies) {
				return ip
			}
		}
	}
	return peer
}

// remoteIP is the peer's address, without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = strings.TrimSpace(r.RemoteAddr)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// trustedProxies parses auth.trusted_proxies (validated at start; a few
// entries, so parsing per request costs less than a lock would).
func (s *Server) trustedProxies() []netip.Prefix {
	if s.Auth.TrustedProxies == "" {
		return nil
	}
	ps, _ := s.Auth.Proxies()
	return ps
}

func inPrefixes(ip string, ps []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// SecureRequest reports whether the browser reached us over TLS: directly,
// or through a trusted proxy that says so (X-Forwarded-Proto: https), or
// as auth.secure_cookies declares.
func (s *Server) SecureRequest(r *http.Request) bool {
	if r.TLS != nil || s.Auth.SecureCookies {
		return true
	}
	proxies := s.trustedProxies()
	return len(proxies) > 0 && inPrefixes(remoteIP(r), proxies) &&
		strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// sessionIdle is how long a session may go unused before it ends.
func (s *Server) sessionIdle() time.Duration {
	if s.Auth.SessionIdle > 0 {
		return s.Auth.SessionIdle
	}
	return config.DefaultAuth().SessionIdle
}

// sessionLifetime is how long a session lasts from sign-in.
func (s *Server) sessionLifetime() time.Duration {
	if s.Auth.SessionLifetime > 0 {
		return s.Auth.SessionLifetime
	}
	return config.DefaultAuth().SessionLifetime
}

// setSessionCookie sets the session cookie. It is HttpOnly (scripts cannot
// read it), Path=/, and SameSite=Lax: the cookie goes with same-site
// requests and with top-level navigations from other sites, so a customer
// who returns from the payment provider's checkout page, or follows a link
// in an email, arrives signed in (Strict would drop the cookie on exactly
// those navigations). Lax still withholds it from cross-site POSTs,
// iframes and fetches, and every state-changing request must also carry
// the session's CSRF token (checkCSRF). Over TLS it is Secure and named
// with the __Host- prefix, which browsers accept only from a secure origin
// with Path=/ and no Domain, so no sibling subdomain can set or shadow it.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	name, secure := sessionCookie, s.SecureRequest(r)
	if secure {
		name = secureSessionCookie
	}
	http.SetCookie(w, &http.Cookie{ // #nosec G124 -- Secure exactly when the request came over TLS (SecureRequest); a plain-HTTP development install needs the cookie too; HttpOnly and SameSite are always set
		Name: name, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookie removes the session cookie (both names).
func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	secure := s.SecureRequest(r)
	for _, name := range []string{sessionCookie, secureSessionCookie} {
		if name == secureSessionCookie && !secure {
			continue // a browser ignores a __Host- cookie that is not Secure
		}
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, // #nosec G124 -- Secure exactly when the request came over TLS (SecureRequest); a plain-HTTP development install needs the cookie too; HttpOnly and SameSite are always set
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	}
}

// issueSession opens a session for u (who has just proved their password):
// a new random token in the cookie and its SHA-256 in the database, a new
// CSRF token, the configured lifetime, and MFAPending when the user must
// still give their second factor. The session and its audit entry
// (auth.login.succeeded) are written in one transaction. The MFA
// verification rotates the token with setSessionCookie.
func (s *Server) issueSession(w http.ResponseWriter, r *http.Request, u *chorus.User, mfaPending bool) (*chorus.Session, error) {
	token, hash := auth.NewToken("")
	csrf, _ := auth.NewToken("")
	now := s.Now()
	sess := &chorus.Session{
		UserID: u.ID, TokenHash: hash, CSRFToken: csrf, MFAPending: mfaPending,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.sessionLifetime()),
		IP: s.clientIP(r), UserAgent: truncate(r.UserAgent(), 256),
	}
	if !mfaPending {
		// Proving the password (and, for MFA users, the second factor)
		// just now counts as a fresh verification for step-up.
		sess.MFAAt = &now
	}
	ctx := chorus.NewContextWithActor(r.Context(), chorus.Actor{UserID: u.ID, IP: sess.IP, RequestID: api.RequestID(r.Context())})
	if err := s.Store.CreateLoginSession(ctx, sess); err != nil {
		return nil, err
	}
	s.setSessionCookie(w, r, token, sess.ExpiresAt)
	return sess, nil
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// AccountStore is what authentication and the account API need from the
// database (see store/user.go, team.go, invite.go, session.go).
type AccountStore interface {
	UserByID(ctx context.Context, id int64) (*chorus.User, error)
	UserByEmail(ctx context.Context, email string) (*chorus.User, error)
	CreateUser(ctx context.Context, u *chorus.User) error
	Signup(ctx context.Context, u *chorus.User, inviteHash []byte) (*chorus.Invite, error)
	SearchUsers(ctx context.Context, f chorus.UserFilter, p chorus.Page) ([]*chorus.User, error)
	SetUserRole(ctx context.Context, id int64, role string) (*chorus.User, error)
	SetUserDisabled(ctx context.Context, id int64, disabled bool) (*chorus.User, error)
	SetUserTeam(ctx context.Context, userID, teamID int64, teamRole string) (*chorus.User, error)
	ChangePassword(ctx context.Context, userID int64, hash string, keepSessionID int64) (int64, error)

	CreateTeam(ctx context.Context, t *chorus.Team) error
	TeamByID(ctx context.Context, id int64) (*chorus.Team, error)
	ListTeams(ctx context.Context, query string, p chorus.Page) ([]*chorus.Team, error)
	RenameTeam(ctx context.Context, id int64, name string) (*chorus.Team, error)
	TeamMembers(ctx context.Context, teamID int64, p chorus.Page) ([]*chorus.User, error)
	RemoveTeamMember(ctx context.Context, teamID, userID int64) (*chorus.User, error)
	SetTeamRole(ctx context.Context, teamID, userID int64, teamRole string) (*chorus.User, error)
	CreateInvite(ctx context.Context, inv *chorus.Invite) error
	ListInvites(ctx context.Context, teamID *int64, page chorus.Page) ([]*chorus.Invite, error)
	RevokeInvite(ctx context.Context, id int64, teamID *int64) (*chorus.Invite, error)

	CreateLoginSession(ctx context.Context, s *chorus.Session) error
	RecordLoginFailure(ctx context.Context, email string, userID int64, reason string) error
	SessionByTokenHash(ctx context.Context, hash []byte) (*chorus.Session, *chorus.User, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
	ListSessions(ctx context.Context, userID int64) ([]*chorus.Session, error)
	RevokeSession(ctx context.Context, userID, id int64, reason string) error
	RevokeUserSessions(ctx context.Context, userID, exceptID int64, reason string) (int64, error)
}

// handleOps registers an operational endpoint (probes, metrics), open to
// anyone who can reach the port.
func (s *Server) handleOps(mux *api.Mux, pattern string, h http.HandlerFunc) {
	mux.Route(api.RouteInfo{Pattern: pattern, Access: "public"}, h)
}
