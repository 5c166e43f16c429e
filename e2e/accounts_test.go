package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// Accounts end to end: sign-up modes, sign-in and sessions, the login
// throttle and the absence of user enumeration, the team and admin user
// APIs, instant invalidation across instances, and bad input.

// strongPassword passes the password policy.
const strongPassword = "correct horse battery staple 42"

// signupBody is what POST /api/auth/signup takes.
type signupBody struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Name        string `json:"name"`
	InviteToken string `json:"invite_token,omitempty"`
}

// sessionAnswer is the answer to a sign-in.
type sessionAnswer struct {
	User       chorus.User     `json:"user"`
	Team       *chorus.Team    `json:"team"`
	Session    *chorus.Session `json:"session"`
	CSRFToken  string          `json:"csrf_token"`
	MFAPending bool            `json:"mfa_pending"`
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return v
}

// setCookieOf returns the session cookie a response sets.
func setCookieOf(r response) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if strings.HasSuffix(c.Name, "chorus_session") {
			return c
		}
	}
	return nil
}

// withCookie returns header pairs for g.do carrying a session cookie and
// its CSRF token.
func withCookie(c *http.Cookie, csrf string) []string {
	h := []string{"Cookie", c.Name + "=" + c.Value}
	if csrf != "" {
		h = append(h, "X-CSRF-Token", csrf)
	}
	return h
}

func TestSignupModes(t *testing.T) {
	t.Parallel()
	t.Run("Open", func(t *testing.T) {
		g := startGateway(t, func(c *config.Config) { c.Auth.Signup = config.SignupOpen })
		r := g.do("POST", "/api/auth/signup", "", signupBody{Email: " New.User@Example.com ", Password: strongPassword, Name: "New User"})
		if r.Status != http.StatusCreated {
			t.Fatalf("signup = %d %s", r.Status, r.Body)
		}
		s := decode[sessionAnswer](t, r)
		if s.User.Email != "new.user@example.com" || s.User.Role != chorus.RoleCustomer || s.User.TeamRole != chorus.TeamOwner ||
			s.Team == nil || s.Team.Name != "New User" || s.CSRFToken == "" {
			t.Errorf("signup answer = %s", r.Body)
		}
		c := setCookieOf(r)
		if c == nil {
			t.Fatal("no session cookie")
		}
		who := g.do("GET", "/api/auth/session", "", nil, withCookie(c, "")...)
		if who.Status != http.StatusOK || decode[sessionAnswer](t, who).User.ID != s.User.ID {
			t.Errorf("who am I = %d %s", who.Status, who.Body)
		}
		// The same email again.
		r = g.do("POST", "/api/auth/signup", "", signupBody{Email: "new.user@example.com", Password: strongPassword, Name: "Again"})
		wantAPIError(t, r, http.StatusConflict, "conflict_error", "email")
	})
	t.Run("Invite", func(t *testing.T) {
		g := startGateway(t, nil) // invite is the default
		r := g.do("POST", "/api/auth/signup", "", signupBody{Email: "x@example.com", Password: strongPassword, Name: "X"})
		wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "invite_token")
		// An admin invites into a new team, with the admin role.
		var inv struct {
			chorus.Invite
			Token string `json:"token"`
		}
		g.mustAdmin("POST", "/api/admin/invites", map[string]any{"email": "Boss@Example.com", "role": "admin"}, http.StatusCreated, &inv)
		if !strings.HasPrefix(inv.Token, "inv_") || inv.Email != "boss@example.com" || inv.TeamRole != chorus.TeamOwner {
			t.Fatalf("invite = %+v", inv)
		}
		r = g.do("POST", "/api/auth/signup", "", signupBody{Email: "eve@example.com", Password: strongPassword, Name: "Eve", InviteToken: inv.Token})
		wantAPIError(t, r, http.StatusForbidden, "permission_error", "email")
		r = g.do("POST", "/api/auth/signup", "", signupBody{Email: "boss@example.com", Password: strongPassword, Name: "Boss", InviteToken: inv.Token})
		if r.Status != http.StatusCreated {
			t.Fatalf("signup with invite = %d %s", r.Status, r.Body)
		}
		boss := decode[sessionAnswer](t, r)
		if boss.User.Role != chorus.RoleAdmin {
			t.Errorf("invited admin's role = %q", boss.User.Role)
		}
		// Used once.
		r = g.do("POST", "/api/auth/signup", "", signupBody{Email: "boss2@example.com", Password: strongPassword, Name: "Boss", InviteToken: inv.Token})
		wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "invite_token")
		// An owner invites a member into their team.
		owner := apptest.Login(t, g.Gateway, "boss@example.com", strongPassword)
		st, body := owner.Do(t, "POST", "/api/team/invites", map[string]any{"team_role": "member"})
		if st != http.StatusCreated {
			t.Fatalf("team invite = %d %s", st, body)
		}
		var tinv struct {
			Token  string `json:"token"`
			TeamID int64  `json:"team_id"`
		}
		if err := json.Unmarshal(body, &tinv); err != nil || tinv.TeamID != boss.User.TeamID {
			t.Fatalf("team invite = %s", body)
		}
		r = g.do("POST", "/api/auth/signup", "", signupBody{Email: "member@example.com", Password: strongPassword, Name: "Member", InviteToken: tinv.Token})
		if r.Status != http.StatusCreated {
			t.Fatalf("signup into a team = %d %s", r.Status, r.Body)
		}
		m := decode[sessionAnswer](t, r)
		if m.User.TeamID != boss.User.TeamID || m.User.TeamRole != chorus.TeamMember || m.User.Role != chorus.RoleCustomer {
			t.Errorf("member = %+v", m.User)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		g := startGateway(t, func(c *config.Config) { c.Auth.Signup = config.SignupClosed })
		r := g.do("POST", "/api/auth/signup", "", signupBody{Email: "x@example.com", Password: strongPassword, Name: "X"})
		wantAPIError(t, r, http.StatusForbidden, "permission_error", "")
		// Admins create users.
		var u chorus.User
		g.mustAdmin("POST", "/api/admin/users", map[string]any{"email": "made@example.com", "name": "Made", "password": strongPassword}, http.StatusCreated, &u)
		apptest.Login(t, g.Gateway, "made@example.com", strongPassword)
	})
}

func TestSessions(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	u, password := g.NewUser(t, chorus.RoleCustomer, 0)

	t.Run("Cookie", func(t *testing.T) {
		r := g.do("POST", "/api/auth/login", "", map[string]string{"email": strings.ToUpper(u.Email), "password": password})
		if r.Status != http.StatusOK {
			t.Fatalf("login = %d %s", r.Status, r.Body)
		}
		c := setCookieOf(r)
		if c == nil || c.Name != "chorus_session" || !c.HttpOnly || c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) < 40 {
			t.Fatalf("cookie = %+v", c)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
		s := decode[sessionAnswer](t, r)
		// The database holds the token's hash, not the token.
		var stored []byte
		if err := rawQueryRow(t, g, `SELECT token_hash FROM sessions WHERE id = ?`, s.Session.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored), c.Value) || len(stored) != 32 {
			t.Errorf("stored token hash %x", stored)
		}
		// CSRF: a state-changing request without the token is refused.
		r = g.do("POST", "/api/auth/logout", "", nil, withCookie(c, "")...)
		wantAPIError(t, r, http.StatusForbidden, "permission_error", "")
		r = g.do("POST", "/api/auth/logout", "", nil, withCookie(c, "wrong")...)
		wantAPIError(t, r, http.StatusForbidden, "permission_error", "")
		r = g.do("POST", "/api/auth/logout", "", nil, append(withCookie(c, s.CSRFToken), "Sec-Fetch-Site", "cross-site")...)
		wantAPIError(t, r, http.StatusForbidden, "permission_error", "")
		r = g.do("POST", "/api/auth/logout", "", nil, withCookie(c, s.CSRFToken)...)
		if r.Status != http.StatusNoContent {
			t.Fatalf("logout = %d %s", r.Status, r.Body)
		}
		if cleared := setCookieOf(r); cleared == nil || cleared.MaxAge >= 0 {
			t.Errorf("logout did not clear the cookie: %+v", cleared)
		}
		r = g.do("GET", "/api/auth/session", "", nil, withCookie(c, "")...)
		wantAPIError(t, r, http.StatusUnauthorized, "authentication_error", "")
	})
	t.Run("SecureCookie", func(t *testing.T) {
		sg := startGateway(t, func(c *config.Config) { c.Auth.SecureCookies = true })
		su, pw := sg.NewUser(t, chorus.RoleCustomer, 0)
		r := sg.do("POST", "/api/auth/login", "", map[string]string{"email": su.Email, "password": pw})
		c := setCookieOf(r)
		if c == nil || c.Name != "__Host-chorus_session" || !c.Secure || c.Path != "/" || c.Domain != "" {
			t.Fatalf("cookie = %+v", c)
		}
	})
	t.Run("SecureBehindTrustedProxy", func(t *testing.T) {
		pg := startGateway(t, func(c *config.Config) { c.Auth.TrustedProxies = "127.0.0.0/8" })
		pu, pw := pg.NewUser(t, chorus.RoleCustomer, 0)
		body := map[string]string{"email": pu.Email, "password": pw}
		if c := setCookieOf(pg.do("POST", "/api/auth/login", "", body, "X-Forwarded-Proto", "https")); c == nil || c.Name != "__Host-chorus_session" || !c.Secure {
			t.Errorf("behind a TLS proxy: cookie = %+v", c)
		}
		if c := setCookieOf(pg.do("POST", "/api/auth/login", "", body)); c == nil || c.Name != "chorus_session" || c.Secure {
			t.Errorf("plain HTTP: cookie = %+v", c)
		}
	})
	t.Run("ListRevokeLogoutAll", func(t *testing.T) {
		a := apptest.Login(t, g.Gateway, u.Email, password)
		b := apptest.Login(t, g.Gateway, u.Email, password)
		c := apptest.Login(t, g.Gateway, u.Email, password)
		st, body := a.Do(t, "GET", "/api/auth/sessions", nil)
		var list struct {
			Data []struct {
				ID      int64 `json:"id"`
				Current bool  `json:"current"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &list); st != http.StatusOK || err != nil || len(list.Data) < 3 {
			t.Fatalf("sessions = %d %s", st, body)
		}
		current := 0
		for _, x := range list.Data {
			if x.Current {
				current++
			}
		}
		if current != 1 {
			t.Errorf("%d sessions marked current, want 1", current)
		}
		sb := sessionID(t, b)
		if st, body := a.Do(t, "DELETE", fmt.Sprintf("/api/auth/sessions/%d", sb), nil); st != http.StatusNoContent {
			t.Fatalf("revoke = %d %s", st, body)
		}
		if st, _ := b.Do(t, "GET", "/api/auth/session", nil); st != http.StatusUnauthorized {
			t.Errorf("revoked session still works: %d", st)
		}
		// Another user's session is not found.
		other := g.SignIn(t, chorus.RoleCustomer)
		if st, _ := other.Do(t, "DELETE", fmt.Sprintf("/api/auth/sessions/%d", sessionID(t, c)), nil); st != http.StatusNotFound {
			t.Errorf("revoking another user's session = %d, want 404", st)
		}
		st, body = c.Do(t, "POST", "/api/auth/logout-all", nil)
		if st != http.StatusOK || !strings.Contains(string(body), `"sessions_revoked"`) {
			t.Fatalf("logout-all = %d %s", st, body)
		}
		for _, s := range []*apptest.Session{a, c} {
			if st, _ := s.Do(t, "GET", "/api/auth/session", nil); st != http.StatusUnauthorized {
				t.Errorf("session alive after logout-all: %d", st)
			}
		}
		// API keys cannot manage sessions.
		key := g.createKey(keySpec{Name: "k", UserID: u.ID})
		if r := g.do("POST", "/api/auth/logout-all", key.Key, nil); r.Status != http.StatusForbidden {
			t.Errorf("logout-all with an API key = %d", r.Status)
		}
	})
	t.Run("PasswordChange", func(t *testing.T) {
		pu, pw := g.NewUser(t, chorus.RoleCustomer, 0)
		a := apptest.Login(t, g.Gateway, pu.Email, pw)
		b := apptest.Login(t, g.Gateway, pu.Email, pw)
		st, body := a.Do(t, "POST", "/api/auth/password", map[string]string{"current_password": "wrong password here", "new_password": strongPassword})
		if st != http.StatusForbidden {
			t.Fatalf("wrong current password = %d %s", st, body)
		}
		for _, weak := range []string{"short", "password1234", pu.Email} {
			st, body := a.Do(t, "POST", "/api/auth/password", map[string]string{"current_password": pw, "new_password": weak})
			if st != http.StatusBadRequest || !strings.Contains(string(body), "new_password") {
				t.Errorf("new password %q = %d %s, want 400 about new_password", weak, st, body)
			}
		}
		st, body = a.Do(t, "POST", "/api/auth/password", map[string]string{"current_password": pw, "new_password": strongPassword})
		if st != http.StatusOK || !strings.Contains(string(body), `"sessions_revoked":1`) {
			t.Fatalf("change = %d %s", st, body)
		}
		if st, _ := b.Do(t, "GET", "/api/auth/session", nil); st != http.StatusUnauthorized {
			t.Errorf("the other session survived the password change: %d", st)
		}
		if st, _ := a.Do(t, "GET", "/api/auth/session", nil); st != http.StatusOK {
			t.Errorf("the changing session ended: %d", st)
		}
		if _, st, _ := apptest.TryLogin(t, g.Gateway, pu.Email, pw); st != http.StatusUnauthorized {
			t.Errorf("old password still signs in: %d", st)
		}
		apptest.Login(t, g.Gateway, pu.Email, strongPassword)
		if n := countAudit(t, g, chorus.AuditPasswordChanged, fmt.Sprint(pu.ID)); n != 1 {
			t.Errorf("%d password change audit entries, want 1", n)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		ig := startGateway(t, func(c *config.Config) { c.Auth.SessionIdle = time.Minute })
		s := ig.SignIn(t, chorus.RoleCustomer)
		if st, _ := s.Do(t, "GET", "/api/auth/session", nil); st != http.StatusOK {
			t.Fatal(st)
		}
		rawExecE2E(t, ig, `UPDATE sessions SET last_seen = ?`, time.Now().Add(-2*time.Minute).UTC().Format("2006-01-02T15:04:05.000000Z"))
		if st, _ := s.Do(t, "GET", "/api/auth/session", nil); st != http.StatusUnauthorized {
			t.Errorf("idle session = %d, want 401", st)
		}
	})
}

// sessionID returns the ID of a signed-in session.
func sessionID(t *testing.T, s *apptest.Session) int64 {
	t.Helper()
	st, body := s.Do(t, "GET", "/api/auth/session", nil)
	var a sessionAnswer
	if err := json.Unmarshal(body, &a); st != http.StatusOK || err != nil || a.Session == nil {
		t.Fatalf("session = %d %s", st, body)
	}
	return a.Session.ID
}

// sqliteDB opens the gateway's SQLite file for raw reads and writes.
func sqliteDB(t *testing.T, g *gateway) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", g.App.Config.DatabaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rawQueryRow(t *testing.T, g *gateway, q string, args ...any) *sql.Row {
	t.Helper()
	return sqliteDB(t, g).QueryRow(q, args...)
}

func rawExecE2E(t *testing.T, g *gateway, q string, args ...any) {
	t.Helper()
	if _, err := sqliteDB(t, g).Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// countAudit counts the audit entries with action on target user id.
func countAudit(t *testing.T, g *gateway, action, target string) int {
	t.Helper()
	f := chorus.AuditFilter{Action: action}
	if target != "" {
		f.TargetType, f.TargetID = "user", target
	}
	es, err := g.App.DB.ListAudit(context.Background(), f, chorus.AuditPage{Limit: chorus.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) {
		c.Auth.LoginThrottle.AccountFailures = 3
		c.Auth.LoginThrottle.IPFailures = 6
		c.Auth.LoginThrottle.Window = time.Hour
		c.Auth.TrustedProxies = "127.0.0.1"
	})
	u, password := g.NewUser(t, chorus.RoleCustomer, 0)
	login := func(email, pw, ip string) response {
		return g.do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": pw}, "X-Forwarded-For", ip)
	}
	t.Run("PerAccount", func(t *testing.T) {
		for i := range 3 {
			wantAPIError(t, login(u.Email, "wrong password "+fmt.Sprint(i), "198.51.100.1"), http.StatusUnauthorized, "authentication_error", "")
		}
		// The right password now waits too: the account is throttled, not the guess.
		r := login(u.Email, password, "198.51.100.2")
		wantAPIError(t, r, http.StatusTooManyRequests, "rate_limit_error", "")
		ra := r.Header.Get("Retry-After")
		if secs, err := time.ParseDuration(ra + "s"); err != nil || secs < 19*time.Minute || secs > 21*time.Minute {
			t.Errorf("Retry-After = %q, want about 20 minutes (1 hour / 3)", ra)
		}
		// An unknown email is throttled the same way: nothing tells them apart.
		for i := range 3 {
			login("nobody@example.com", "wrong password "+fmt.Sprint(i), "198.51.100.3")
		}
		r2 := login("nobody@example.com", "x", "198.51.100.4")
		e1, e2 := decodeError(t, r), decodeError(t, r2)
		if r2.Status != http.StatusTooManyRequests || e1.Error.Message != e2.Error.Message {
			t.Errorf("throttled answers differ: %d %q vs %q", r2.Status, e1.Error.Message, e2.Error.Message)
		}
	})
	t.Run("PerAddress", func(t *testing.T) {
		for i := range 6 {
			r := login(fmt.Sprintf("spray%d@example.com", i), "wrong password", "203.0.113.9")
			wantAPIError(t, r, http.StatusUnauthorized, "authentication_error", "")
		}
		wantAPIError(t, login("spray-next@example.com", "wrong password", "203.0.113.9"), http.StatusTooManyRequests, "rate_limit_error", "")
		// Another address is not affected.
		wantAPIError(t, login("spray-next@example.com", "wrong password", "203.0.113.10"), http.StatusUnauthorized, "authentication_error", "")
		// Addresses the client adds to the left of X-Forwarded-For are not
		// believed: the right-most address the trusted proxy saw is counted.
		wantAPIError(t, login("spray-next@example.com", "wrong password", "198.18.0.1, 203.0.113.9"), http.StatusTooManyRequests, "rate_limit_error", "")
	})
	t.Run("UntrustedForwardedFor", func(t *testing.T) {
		// From an untrusted peer the header is ignored: the peer's own
		// address is counted, so forging it buys nothing.
		ug := startGateway(t, func(c *config.Config) {
			c.Auth.LoginThrottle.IPFailures = 2
			c.Auth.LoginThrottle.AccountFailures = 0
		})
		for i := range 2 {
			r := ug.do("POST", "/api/auth/login", "", map[string]string{"email": fmt.Sprintf("a%d@example.com", i), "password": "x"}, "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i))
			wantAPIError(t, r, http.StatusUnauthorized, "authentication_error", "")
		}
		r := ug.do("POST", "/api/auth/login", "", map[string]string{"email": "a9@example.com", "password": "x"}, "X-Forwarded-For", "192.0.2.99")
		wantAPIError(t, r, http.StatusTooManyRequests, "rate_limit_error", "")
	})
	t.Run("Audited", func(t *testing.T) {
		if n := countAudit(t, g, chorus.AuditLoginFailed, fmt.Sprint(u.ID)); n != 3 {
			t.Errorf("%d failed sign-ins recorded on the user, want 3", n)
		}
		es, err := g.App.DB.ListAudit(context.Background(), chorus.AuditFilter{Action: chorus.AuditLoginFailed}, chorus.AuditPage{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if strings.Contains(string(e.Details), "wrong password") || strings.Contains(string(e.Details), "@example.com") {
				t.Errorf("a failed sign-in records a secret or the email in the clear: %s", e.Details)
			}
		}
	})
}

// TestNoUserEnumeration: an unknown email, a wrong password and a disabled
// account get the same status and message, and an unknown email takes as
// long as a wrong password.
func TestNoUserEnumeration(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) {
		c.Auth.LoginThrottle.AccountFailures, c.Auth.LoginThrottle.IPFailures = 0, 0
	})
	u, _ := g.NewUser(t, chorus.RoleCustomer, 0)
	d, dpw := g.NewUser(t, chorus.RoleCustomer, 0)
	if _, err := g.App.DB.SetUserDisabled(context.Background(), d.ID, true); err != nil {
		t.Fatal(err)
	}
	cases := map[string]map[string]string{
		"unknown":  {"email": "nobody-here@example.com", "password": "some password 123"},
		"wrong":    {"email": u.Email, "password": "some password 123"},
		"disabled": {"email": d.Email, "password": dpw},
	}
	var first string
	for name, body := range cases {
		r := g.do("POST", "/api/auth/login", "", body)
		wantAPIError(t, r, http.StatusUnauthorized, "authentication_error", "")
		if first == "" {
			first = string(r.Body)
		} else if string(r.Body) != first {
			t.Errorf("%s: answer %s differs from %s", name, r.Body, first)
		}
		if setCookieOf(r) != nil {
			t.Errorf("%s: a cookie was set", name)
		}
	}
	// Timing: interleave the two paths so that load on the machine hits
	// both alike, and compare medians with a generous factor.
	const n = 15
	var unknown, wrong []time.Duration
	for range n {
		for _, tc := range []struct {
			body map[string]string
			out  *[]time.Duration
		}{{cases["unknown"], &unknown}, {cases["wrong"], &wrong}} {
			start := time.Now()
			g.do("POST", "/api/auth/login", "", tc.body)
			*tc.out = append(*tc.out, time.Since(start))
		}
	}
	mu, mw := median(unknown), median(wrong)
	t.Logf("median login time: unknown email %v, wrong password %v", mu, mw)
	if ratio := float64(mu) / float64(mw); ratio < 0.5 || ratio > 2 {
		t.Errorf("unknown email takes %v, wrong password %v (ratio %.2f): the timing tells them apart", mu, mw, ratio)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestTeamAPI(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	owner := g.SignIn(t, chorus.RoleCustomer)
	mu, mpw := g.NewUser(t, chorus.RoleCustomer, owner.User.TeamID)
	member := apptest.Login(t, g.Gateway, mu.Email, mpw)
	outsider := g.SignIn(t, chorus.RoleCustomer)

	st, body := member.Do(t, "GET", "/api/team", nil)
	if st != http.StatusOK || !strings.Contains(string(body), owner.User.Email) || !strings.Contains(string(body), mu.Email) {
		t.Fatalf("team = %d %s", st, body)
	}
	if st, body := outsider.Do(t, "GET", "/api/team", nil); st != http.StatusOK || strings.Contains(string(body), mu.Email) {
		t.Errorf("an outsider sees the team: %s", body)
	}
	// Only owners rename, invite and remove.
	for _, c := range []struct{ method, path string }{{"PUT", "/api/team"}, {"POST", "/api/team/invites"}, {"DELETE", fmt.Sprintf("/api/team/members/%d", owner.User.ID)}} {
		var b any
		if c.method == "PUT" {
			b = map[string]string{"name": "Mine now"}
		} else if c.method == "POST" {
			b = map[string]string{}
		}
		if st, body := member.Do(t, c.method, c.path, b); st != http.StatusForbidden {
			t.Errorf("member %s %s = %d %s, want 403", c.method, c.path, st, body)
		}
	}
	if st, body := owner.Do(t, "PUT", "/api/team", map[string]string{"name": "  Ｒｏｃｋｅｔ   Team "}); st != http.StatusOK || !strings.Contains(string(body), `"name":"Rocket Team"`) {
		t.Errorf("rename = %d %s", st, body)
	}
	if st, body := owner.Do(t, "PUT", "/api/team", map[string]string{"name": "Аdmins"}); st != http.StatusBadRequest {
		t.Errorf("confusable team name = %d %s", st, body)
	}
	// An outsider is not a member: 404, as for anything of another team.
	if st, _ := owner.Do(t, "DELETE", fmt.Sprintf("/api/team/members/%d", outsider.User.ID), nil); st != http.StatusNotFound {
		t.Errorf("remove an outsider = %d, want 404", st)
	}
	if st, _ := owner.Do(t, "DELETE", fmt.Sprintf("/api/team/members/%d", owner.User.ID), nil); st != http.StatusConflict {
		t.Errorf("remove yourself = %d, want 409", st)
	}
	key := g.createKey(keySpec{Name: "member", UserID: mu.ID})
	if st, body := owner.Do(t, "DELETE", fmt.Sprintf("/api/team/members/%d", mu.ID), nil); st != http.StatusNoContent {
		t.Fatalf("remove member = %d %s", st, body)
	}
	if _, err := g.openAI(key.Key).Models.List(context.Background()); err == nil {
		t.Error("the removed member's key still works")
	}
	st, body = member.Do(t, "GET", "/api/team", nil)
	if st != http.StatusOK || strings.Contains(string(body), owner.User.Email) {
		t.Errorf("the removed member still sees the team: %s", body)
	}
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	admin := g.SignIn(t, chorus.RoleAdmin)
	cust := g.SignIn(t, chorus.RoleCustomer)

	t.Run("Forbidden", func(t *testing.T) {
		if st, _ := cust.Do(t, "GET", "/api/admin/users", nil); st != http.StatusForbidden {
			t.Errorf("customer lists users: %d", st)
		}
	})
	t.Run("CreateSearchGet", func(t *testing.T) {
		st, body := admin.Do(t, "POST", "/api/admin/users", map[string]any{"email": "Search.Me@Example.com", "name": "Searchable Person", "password": strongPassword})
		if st != http.StatusCreated {
			t.Fatalf("create = %d %s", st, body)
		}
		var u struct {
			chorus.User
			Team *chorus.Team `json:"team"`
		}
		if err := json.Unmarshal(body, &u); err != nil || u.Team == nil || u.TeamRole != chorus.TeamOwner || strings.Contains(string(body), "argon2") {
			t.Fatalf("created = %s", body)
		}
		for q, want := range map[string]bool{"search.me": true, "SEARCHABLE": true, "nobody": false, "%": false} {
			st, body := admin.Do(t, "GET", "/api/admin/users?q="+url.QueryEscape(q), nil)
			if st != http.StatusOK || strings.Contains(string(body), "search.me@example.com") != want {
				t.Errorf("q=%q: %d %s", q, st, body)
			}
		}
		st, body = admin.Do(t, "GET", fmt.Sprintf("/api/admin/users/%d", u.ID), nil)
		if st != http.StatusOK || !strings.Contains(string(body), `"team"`) {
			t.Errorf("get = %d %s", st, body)
		}
		if st, _ := admin.Do(t, "GET", "/api/admin/users/99999", nil); st != http.StatusNotFound {
			t.Errorf("get unknown = %d", st)
		}
		// Pagination: a page of 1 has a cursor.
		st, body = admin.Do(t, "GET", "/api/admin/users?limit=1&role=customer", nil)
		if st != http.StatusOK || !strings.Contains(string(body), `"has_more":true`) || !strings.Contains(string(body), `"next_after"`) {
			t.Errorf("page = %d %s", st, body)
		}
	})
	t.Run("Role", func(t *testing.T) {
		st, body := admin.Do(t, "PUT", fmt.Sprintf("/api/admin/users/%d/role", cust.User.ID), map[string]string{"role": "admin"})
		if st != http.StatusOK || !strings.Contains(string(body), `"role":"admin"`) {
			t.Fatalf("promote = %d %s", st, body)
		}
		if st, _ := cust.Do(t, "GET", "/api/admin/users", nil); st != http.StatusOK {
			t.Errorf("the promoted user is refused: %d", st)
		}
		st, _ = admin.Do(t, "PUT", fmt.Sprintf("/api/admin/users/%d/role", cust.User.ID), map[string]string{"role": "customer"})
		if st != http.StatusOK {
			t.Fatalf("demote = %d", st)
		}
		// Demoting every admin is refused at the last one.
		g.NewUser(t, chorus.RoleAdmin, 0)
		us, err := g.App.DB.SearchUsers(context.Background(), chorus.UserFilter{Role: chorus.RoleAdmin}, chorus.Page{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range us {
			r := g.admin("PUT", fmt.Sprintf("/api/admin/users/%d/role", u.ID), map[string]string{"role": "customer"})
			st := r.Status
			if i == len(us)-1 && st != http.StatusConflict {
				t.Errorf("demoting the last admin = %d %s, want 409", st, r.Body)
			}
			if i < len(us)-1 && st != http.StatusOK {
				t.Errorf("demote admin %d = %d", u.ID, st)
			}
		}
		for _, u := range us {
			g.mustAdmin("PUT", fmt.Sprintf("/api/admin/users/%d/role", u.ID), map[string]string{"role": "admin"}, http.StatusOK, nil)
		}
		if n := countAudit(t, g, chorus.AuditRoleChanged, ""); n != 4 {
			t.Errorf("%d role changes recorded, want 4 (promote, demote, demote an admin, restore them)", n)
		}
	})
	t.Run("Disable", func(t *testing.T) {
		vu, vpw := g.NewUser(t, chorus.RoleCustomer, 0)
		s := apptest.Login(t, g.Gateway, vu.Email, vpw)
		key := g.createKey(keySpec{Name: "victim", UserID: vu.ID})
		if _, err := g.openAI(key.Key).Models.List(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st, _ := admin.Do(t, "POST", fmt.Sprintf("/api/admin/users/%d/disable", admin.User.ID), nil); st != http.StatusConflict {
			t.Errorf("disable yourself = %d, want 409", st)
		}
		st, body := admin.Do(t, "POST", fmt.Sprintf("/api/admin/users/%d/disable", vu.ID), nil)
		if st != http.StatusOK || !strings.Contains(string(body), "disabled_at") {
			t.Fatalf("disable = %d %s", st, body)
		}
		if st, _ := s.Do(t, "GET", "/api/auth/session", nil); st != http.StatusUnauthorized {
			t.Errorf("disabled user's session = %d", st)
		}
		if _, err := g.openAI(key.Key).Models.List(context.Background()); err == nil {
			t.Error("disabled user's key still works")
		}
		if r := g.do("GET", "/api/keys", key.Key, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("disabled user's key on the management API = %d", r.Status)
		}
		if _, st, _ := apptest.TryLogin(t, g.Gateway, vu.Email, vpw); st != http.StatusUnauthorized {
			t.Errorf("disabled user signs in: %d", st)
		}
		if st, _ := admin.Do(t, "POST", fmt.Sprintf("/api/admin/users/%d/enable", vu.ID), nil); st != http.StatusOK {
			t.Fatalf("enable = %d", st)
		}
		if _, err := g.openAI(key.Key).Models.List(context.Background()); err != nil {
			t.Errorf("re-enabled user's key: %v", err)
		}
		st, body = admin.Do(t, "GET", "/api/admin/users?disabled=false&q="+url.QueryEscape(vu.Email), nil)
		if st != http.StatusOK || !strings.Contains(string(body), vu.Email) {
			t.Errorf("search enabled = %d %s", st, body)
		}
	})
	t.Run("TeamsAndMoves", func(t *testing.T) {
		st, body := admin.Do(t, "POST", "/api/admin/teams", map[string]string{"name": "Platform"})
		if st != http.StatusCreated {
			t.Fatalf("create team = %d %s", st, body)
		}
		var team chorus.Team
		_ = json.Unmarshal(body, &team)
		mu, _ := g.NewUser(t, chorus.RoleCustomer, 0)
		key := g.createKey(keySpec{Name: "old team", UserID: mu.ID})
		st, body = admin.Do(t, "PUT", fmt.Sprintf("/api/admin/users/%d/team", mu.ID), map[string]any{"team_id": team.ID, "team_role": "owner"})
		if st != http.StatusOK || !strings.Contains(string(body), fmt.Sprintf(`"team_id":%d`, team.ID)) {
			t.Fatalf("move = %d %s", st, body)
		}
		if _, err := g.openAI(key.Key).Models.List(context.Background()); err == nil {
			t.Error("a key of the old team survives the move")
		}
		st, body = admin.Do(t, "GET", fmt.Sprintf("/api/admin/teams/%d", team.ID), nil)
		if st != http.StatusOK || !strings.Contains(string(body), mu.Email) {
			t.Errorf("team = %d %s", st, body)
		}
		st, body = admin.Do(t, "GET", "/api/admin/teams?q=platf", nil)
		if st != http.StatusOK || !strings.Contains(string(body), `"Platform"`) {
			t.Errorf("list teams = %d %s", st, body)
		}
		if st, _ := admin.Do(t, "PUT", fmt.Sprintf("/api/admin/users/%d/team", mu.ID), map[string]any{"team_id": 999999}); st != http.StatusBadRequest {
			t.Errorf("move into no team = %d", st)
		}
		if n := countAudit(t, g, chorus.AuditTeamChanged, fmt.Sprint(mu.ID)); n != 1 {
			t.Errorf("%d team changes recorded, want 1", n)
		}
	})
}

// TestBadInputAccounts: each bad input gets a clear 4xx and changes
// nothing (the users and the audit log are as they were).
func TestBadInputAccounts(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Auth.Signup = config.SignupOpen })
	admin := g.SignIn(t, chorus.RoleAdmin)
	owner := g.SignIn(t, chorus.RoleCustomer)
	long := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name         string
		s            *apptest.Session // nil: anonymous
		method, path string
		body         any
		status       int
		param        string
	}{
		{"SignupEmailMalformed", nil, "POST", "/api/auth/signup", signupBody{Email: "not-an-email", Password: strongPassword, Name: "X"}, 400, "email"},
		{"SignupEmailDisplayName", nil, "POST", "/api/auth/signup", signupBody{Email: "X <x@example.com>", Password: strongPassword, Name: "X"}, 400, "email"},
		{"SignupEmailTwo", nil, "POST", "/api/auth/signup", signupBody{Email: "a@example.com,b@example.com", Password: strongPassword, Name: "X"}, 400, "email"},
		{"SignupEmailUnicode", nil, "POST", "/api/auth/signup", signupBody{Email: "аdmin@example.com", Password: strongPassword, Name: "X"}, 400, "email"},
		{"SignupEmailTooLong", nil, "POST", "/api/auth/signup", signupBody{Email: long(250) + "@example.com", Password: strongPassword, Name: "X"}, 400, "email"},
		{"SignupEmailInjection", nil, "POST", "/api/auth/signup", signupBody{Email: "x'; DROP TABLE users;--@example.com", Password: strongPassword, Name: "X"}, 400, "email"},
		{"SignupNameConfusable", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: strongPassword, Name: "Аdmin"}, 400, "name"},
		{"SignupNameBidi", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: strongPassword, Name: "Ad\u202emin"}, 400, "name"},
		{"SignupNameZeroWidth", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: strongPassword, Name: "Ad\u200bmin"}, 400, "name"},
		{"SignupNameTooLong", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: strongPassword, Name: long(101)}, 400, "name"},
		{"SignupNameEmpty", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: strongPassword, Name: " \t "}, 400, "name"},
		{"SignupPasswordCommon", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: "qwerty123456", Name: "C"}, 400, "password"},
		{"SignupPasswordShort", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: "Sh0rt!", Name: "C"}, 400, "password"},
		{"SignupPasswordHuge", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: long(300), Name: "C"}, 400, "password"},
		{"SignupPasswordIsEmail", nil, "POST", "/api/auth/signup", signupBody{Email: "long.address.here@example.com", Password: "long.address.here@example.com", Name: "C"}, 400, "password"},
		{"SignupUnknownField", nil, "POST", "/api/auth/signup", map[string]any{"email": "c@example.com", "password": strongPassword, "name": "C", "role": "admin"}, 400, ""},
		{"SignupBadInvite", nil, "POST", "/api/auth/signup", signupBody{Email: "c@example.com", Password: strongPassword, Name: "C", InviteToken: "inv_' OR 1=1 --"}, 400, "invite_token"},
		{"SignupNotJSON", nil, "POST", "/api/auth/signup", "{not json", 400, ""},
		{"SignupHugeBody", nil, "POST", "/api/auth/signup", `{"email":"` + long(2<<20) + `"}`, 413, ""},
		{"LoginNoPassword", nil, "POST", "/api/auth/login", map[string]string{"email": "a@example.com"}, 400, "password"},
		{"LoginHugePassword", nil, "POST", "/api/auth/login", map[string]string{"email": "a@example.com", "password": long(5000)}, 400, "password"},
		{"LoginHugeEmail", nil, "POST", "/api/auth/login", map[string]string{"email": long(1000), "password": "x"}, 400, "email"},
		{"LoginWrongType", nil, "POST", "/api/auth/login", map[string]any{"email": 42, "password": "x"}, 400, "email"},
		{"AdminCreateBadRole", admin, "POST", "/api/admin/users", map[string]any{"email": "r@example.com", "name": "R", "password": strongPassword, "role": "root"}, 400, "role"},
		{"AdminCreateBadTeamRole", admin, "POST", "/api/admin/users", map[string]any{"email": "r@example.com", "name": "R", "password": strongPassword, "team_id": owner.User.TeamID, "team_role": "boss"}, 400, "team_role"},
		{"AdminCreateNoTeam", admin, "POST", "/api/admin/users", map[string]any{"email": "r@example.com", "name": "R", "password": strongPassword, "team_id": 999999}, 400, "team_id"},
		{"AdminCreateNegativeTeam", admin, "POST", "/api/admin/users", map[string]any{"email": "r@example.com", "name": "R", "password": strongPassword, "team_id": -1}, 400, "team_id"},
		{"AdminCreateDuplicate", admin, "POST", "/api/admin/users", map[string]any{"email": owner.User.Email, "name": "R", "password": strongPassword}, 409, ""},
		{"AdminRoleBad", admin, "PUT", fmt.Sprintf("/api/admin/users/%d/role", owner.User.ID), map[string]string{"role": "superuser"}, 400, "role"},
		{"AdminRoleBadID", admin, "PUT", "/api/admin/users/abc/role", map[string]string{"role": "admin"}, 400, "id"},
		{"AdminRoleNegativeID", admin, "PUT", "/api/admin/users/-4/role", map[string]string{"role": "admin"}, 400, "id"},
		{"AdminTeamNameScript", admin, "POST", "/api/admin/teams", map[string]string{"name": "Team\u0000"}, 400, "name"},
		{"AdminInviteBadEmail", admin, "POST", "/api/admin/invites", map[string]any{"email": "<script>@x"}, 400, "email"},
		{"AdminInviteExpiry", admin, "POST", "/api/admin/invites", map[string]any{"expires_in_hours": 100000}, 400, "expires_in_hours"},
		{"AdminInviteNegativeExpiry", admin, "POST", "/api/admin/invites", map[string]any{"expires_in_hours": -3}, 400, "expires_in_hours"},
		{"ListHugeLimit", admin, "GET", "/api/admin/users?limit=100000", nil, 400, "limit"},
		{"ListNegativeLimit", admin, "GET", "/api/admin/users?limit=-1", nil, 400, "limit"},
		{"ListZeroLimit", admin, "GET", "/api/admin/users?limit=0", nil, 400, "limit"},
		{"ListTextLimit", admin, "GET", "/api/admin/users?limit=ten", nil, 400, "limit"},
		{"ListNegativeAfter", admin, "GET", "/api/admin/users?after=-5", nil, 400, "after"},
		{"ListOverflowAfter", admin, "GET", "/api/admin/users?after=99999999999999999999999", nil, 400, "after"},
		{"ListBadRole", admin, "GET", "/api/admin/users?role=god", nil, 400, "role"},
		{"ListBadDisabled", admin, "GET", "/api/admin/users?disabled=maybe", nil, 400, "disabled"},
		{"ListBadTeam", admin, "GET", "/api/admin/users?team_id=0", nil, 400, "team_id"},
		{"ListHugeQuery", admin, "GET", "/api/admin/users?q=" + long(300), nil, 400, "q"},
		{"ListControlQuery", admin, "GET", "/api/admin/users?q=%00", nil, 400, "q"},
		{"TeamsHugeLimit", admin, "GET", "/api/admin/teams?limit=501", nil, 400, "limit"},
		{"TeamMembersHugeLimit", owner, "GET", "/api/team?limit=1000000", nil, 400, "limit"},
		{"TeamRenameEmpty", owner, "PUT", "/api/team", map[string]string{"name": ""}, 400, "name"},
		{"TeamRenameHuge", owner, "PUT", "/api/team", map[string]string{"name": long(10000)}, 400, "name"},
		{"TeamInviteAdminRole", owner, "POST", "/api/team/invites", map[string]string{"role": "admin"}, 400, "role"},
		{"TeamInviteOtherTeam", owner, "POST", "/api/team/invites", map[string]any{"team_id": admin.User.TeamID}, 400, "team_id"},
		{"PasswordMissing", owner, "POST", "/api/auth/password", map[string]string{"new_password": strongPassword}, 400, "current_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dbState(t, g)
			var r response
			if tc.s == nil {
				r = g.do(tc.method, tc.path, "", tc.body)
			} else {
				st, body := tc.s.Do(t, tc.method, tc.path, tc.body)
				r = response{Status: st, Body: body, Header: http.Header{"Content-Type": {"application/json"}}}
			}
			if r.Status != tc.status {
				t.Fatalf("status = %d (%s), want %d", r.Status, r.Body, tc.status)
			}
			e := decodeError(t, r)
			if got := deref(e.Error.Param); got != tc.param {
				t.Errorf("param = %q, want %q (%s)", got, tc.param, r.Body)
			}
			if after := dbState(t, g); after != before {
				t.Errorf("the database changed: %s → %s", before, after)
			}
		})
	}
	t.Run("InjectionStoredVerbatim", func(t *testing.T) {
		names := []string{`Robert'); DROP TABLE users;--`, `<script>alert("x")</script>`, `" OR ""="`, `{{7*7}} ${7*7}`}
		for i, name := range names {
			st, body := admin.Do(t, "POST", "/api/admin/users", map[string]any{"email": fmt.Sprintf("inj%d@example.com", i), "name": name, "password": strongPassword})
			if st != http.StatusCreated {
				t.Fatalf("%q: %d %s", name, st, body)
			}
			if strings.Contains(string(body), "<script>") {
				t.Errorf("%q: the JSON answer carries raw HTML: %s", name, body)
			}
			var u chorus.User
			if err := json.Unmarshal(body, &u); err != nil || u.Name != name {
				t.Errorf("%q: stored as %q (%v)", name, u.Name, err)
			}
		}
		st, body := admin.Do(t, "GET", "/api/admin/users?q="+url.QueryEscape(`'); DROP`), nil)
		if st != http.StatusOK || !strings.Contains(string(body), "inj0@example.com") {
			t.Errorf("search by an injection string = %d %s", st, body)
		}
		if n, err := g.App.DB.CountUsers(context.Background()); err != nil || n < 4 {
			t.Errorf("users: %d, %v", n, err)
		}
	})
}

// dbState summarises what a refused request must not change: the users
// (count and last ID), teams, invites and the audit log's head.
func dbState(t *testing.T, g *gateway) string {
	t.Helper()
	var users, maxUser, teams, invites, audit int64
	db := sqliteDB(t, g)
	for q, dst := range map[string]*int64{
		`SELECT COUNT(*) FROM users`: &users, `SELECT COALESCE(MAX(id), 0) FROM users`: &maxUser,
		`SELECT COUNT(*) FROM teams`: &teams, `SELECT COUNT(*) FROM invites`: &invites, `SELECT seq FROM audit_head`: &audit,
	} {
		if err := db.QueryRow(q).Scan(dst); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return fmt.Sprintf("users=%d max_user=%d teams=%d invites=%d audit_seq=%d", users, maxUser, teams, invites, audit)
}

// TestDisableAcrossInstances: two gateways on one PostgreSQL database,
// polling only once a minute. A user disabled through one is refused by
// the other at once: their session on the next request (sessions are read
// from the database), their API key within 200 ms (the registry
// notification), and again after the listening connection is killed.
func TestDisableAcrossInstances(t *testing.T) {
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("set CHORUS_TEST_POSTGRES_URL to run the two-instance test")
	}
	t.Parallel()
	dsn := postgresSchema(t, base)
	edit := func(c *config.Config) {
		c.DatabaseURL = dsn
		c.Registry.PollInterval = time.Minute
	}
	a := startGateway(t, edit)
	b := startGateway(t, edit)
	ctx := testContext(t, 60*time.Second)

	victim := func() (createdKey, *apptest.Session) {
		u, pw := a.NewUser(t, chorus.RoleCustomer, 0)
		key := a.createKey(keySpec{Name: "victim", UserID: u.ID})
		// b learns of the new key by notification too.
		eventually(t, 2*time.Second, func() string {
			if _, err := b.openAI(key.Key).Models.List(ctx); err != nil {
				return "instance b does not accept the new key: " + err.Error()
			}
			return ""
		})
		return key, apptest.Login(t, b.Gateway, u.Email, pw)
	}
	disable := func(s *apptest.Session) {
		a.mustAdmin("POST", fmt.Sprintf("/api/admin/users/%d/disable", s.User.ID), nil, http.StatusOK, nil)
	}
	refusedWithin := func(key createdKey, d time.Duration) time.Duration {
		return eventually(t, d, func() string {
			if _, err := b.openAI(key.Key).Models.List(ctx); err == nil {
				return "instance b still accepts the disabled user's key"
			}
			return ""
		})
	}

	key, sess := victim()
	disable(sess)
	if st, body := sess.Do(t, "GET", "/api/auth/session", nil); st != http.StatusUnauthorized {
		t.Errorf("instance b accepted the disabled user's session: %d %s", st, body)
	}
	took := refusedWithin(key, 200*time.Millisecond)
	t.Logf("instance b refused the disabled user's key after %v (poll interval 1m)", took)

	// Kill every registry listener: they reconnect and catch up.
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'chorus-registry-listener'`); err != nil {
		t.Fatal(err)
	}
	key, sess = victim()
	disable(sess)
	took = refusedWithin(key, 2*time.Second)
	t.Logf("after the listener was killed, instance b refused the key after %v", took)
}

// postgresSchema creates a schema of its own on base, dropped when the
// test ends, and returns base with search_path set to it.
func postgresSchema(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("chorus_e2e_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestBootstrapSignIn: the first start prints the admin's email and a
// password that signs in; the admin owns a team, and their creation is in
// the audit log as the work of the bootstrap.
func TestBootstrapSignIn(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	g := apptest.StartOutput(t, func(c *config.Config) { c.Bootstrap = true }, &out)
	m := regexp.MustCompile(`(?m)^\s*Admin sign-in:\s+(\S+)\s*$[\s\S]*?^\s*Password:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no sign-in and password in:\n%s", out.String())
	}
	s := apptest.Login(t, g, m[1], m[2])
	if s.User.Role != chorus.RoleAdmin || s.User.TeamID == 0 || s.User.TeamRole != chorus.TeamOwner {
		t.Errorf("bootstrap admin = %+v", s.User)
	}
	es, err := g.App.DB.ListAudit(context.Background(), chorus.AuditFilter{Action: chorus.AuditUserCreated}, chorus.AuditPage{})
	if err != nil || len(es) != 1 || es[0].Actor.System != "bootstrap" {
		t.Fatalf("user.created entries = %+v, %v", es, err)
	}
	if st, body := s.Do(t, "GET", "/api/admin/users", nil); st != http.StatusOK {
		t.Errorf("the bootstrap admin lists users: %d %s", st, body)
	}
}
