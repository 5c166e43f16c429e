package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
)

// Session is a signed-in browser for tests: an HTTP client whose cookie
// jar holds the session cookie and which sends the session's CSRF token
// (X-CSRF-Token) on every request, as the console does.
type Session struct {
	URL        string       // the gateway's base URL
	Client     *http.Client // use it for any request; cookie and CSRF token included
	CSRF       string
	User       chorus.User
	MFAPending bool // the sign-in awaits the second factor
}

// userSeq numbers the users NewUser makes, so their emails are unique.
var userSeq atomic.Int64

// NewUser creates a user with role (chorus.RoleAdmin or RoleCustomer)
// directly in g's database, with a random password that satisfies the
// password policy, and returns the user and the password. teamID 0 gives
// the user a team of their own, which they own; otherwise they join
// teamID as a member.
func (g *Gateway) NewUser(tb testing.TB, role string, teamID int64) (*chorus.User, string) {
	tb.Helper()
	password, _ := auth.NewToken("pw-")
	hash, err := auth.HashPassword(password)
	if err != nil {
		tb.Fatal(err)
	}
	u := &chorus.User{Email: fmt.Sprintf("user%d-%d@example.test", time.Now().UnixNano(), userSeq.Add(1)),
		Name: "Test " + role, Role: role, PasswordHash: hash, TeamID: teamID}
	if err := g.App.DB.CreateUser(context.Background(), u); err != nil {
		tb.Fatalf("create user: %v", err)
	}
	return u, password
}

// SignIn creates a user with role in a team of their own (NewUser) and
// signs them in.
func (g *Gateway) SignIn(tb testing.TB, role string) *Session {
	tb.Helper()
	u, password := g.NewUser(tb, role, 0)
	return Login(tb, g, u.Email, password)
}

// Login signs in to g (POST /api/auth/login) and returns the session. It
// fails the test unless the sign-in succeeds.
func Login(tb testing.TB, g *Gateway, email, password string) *Session {
	tb.Helper()
	s, status, body := TryLogin(tb, g, email, password)
	if s == nil {
		tb.Fatalf("login as %s: %d %s", email, status, body)
	}
	return s
}

// TryLogin is Login that returns the refusal instead of failing: a nil
// session with the status and body of the answer.
func TryLogin(tb testing.TB, g *Gateway, email, password string) (*Session, int, []byte) {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Session{URL: g.URL}
	s.Client = &http.Client{Jar: jar, Timeout: 15 * time.Second,
		Transport: &csrfTransport{s: s, base: http.DefaultTransport.(*http.Transport).Clone()}}
	tb.Cleanup(s.Client.CloseIdleConnections)
	status, body := s.Do(tb, http.MethodPost, "/api/auth/login", map[string]string{"email": email, "password": password})
	if status != http.StatusOK {
		return nil, status, body
	}
	var out struct {
		User       chorus.User `json:"user"`
		CSRFToken  string      `json:"csrf_token"`
		MFAPending bool        `json:"mfa_pending"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.CSRFToken == "" {
		tb.Fatalf("login answer %s: %v", body, err)
	}
	s.CSRF, s.User, s.MFAPending = out.CSRFToken, out.User, out.MFAPending
	return s, status, body
}

// Do sends a request with a JSON body (nil for none) to path and returns
// the status and the body.
func (s *Session) Do(tb testing.TB, method, path string, body any) (int, []byte) {
	tb.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// csrfTransport adds the session's CSRF token to every request. Each
// session has its own connection pool, closed when the test ends (an idle
// connection would hold the gateway's graceful shutdown).
type csrfTransport struct {
	s    *Session
	base *http.Transport
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *csrfTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

func (t *csrfTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.s.CSRF != "" && req.Header.Get("X-CSRF-Token") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("X-CSRF-Token", t.s.CSRF)
	}
	return t.base.RoundTrip(req)
}
