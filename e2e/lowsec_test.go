package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// The low-severity findings of the security assessment, end to end: login
// CSRF, strict management JSON, invalid UTF-8 on /v1/messages, members
// and the owner's keys, sign-up with an invitation and existing accounts.
// Headers, framing and security.txt are in headers_test.go.

// passwordUser creates a user with strongPassword through the admin API
// (a new team of their own unless fields say otherwise).
func (g *gateway) passwordUser(fields map[string]any) chorus.User {
	g.t.Helper()
	body := map[string]any{"email": g.unique("pw") + "@example.test", "name": "Pat", "password": strongPassword}
	for k, v := range fields {
		body[k] = v
	}
	var u chorus.User
	g.mustAdmin("POST", "/api/admin/users", body, http.StatusCreated, &u)
	return u
}

func TestLoginCSRF(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Auth.Signup = config.SignupOpen })
	u := g.passwordUser(nil)
	creds := fmt.Sprintf(`{"email":%q,"password":%q}`, u.Email, strongPassword)
	signup := func() string {
		return fmt.Sprintf(`{"email":%q,"password":%q,"name":"New"}`, g.unique("su")+"@example.test", strongPassword)
	}
	for _, tc := range []struct {
		name, path, body string
		header           []string
		want             int
		param            string
	}{
		{name: "LoginTextPlain", path: "/api/auth/login", body: creds, header: []string{"Content-Type", "text/plain"}, want: 400, param: "Content-Type"},
		{name: "LoginForm", path: "/api/auth/login", body: creds, header: []string{"Content-Type", "application/x-www-form-urlencoded"}, want: 400, param: "Content-Type"},
		{name: "LoginCrossSite", path: "/api/auth/login", body: creds, header: []string{"Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "LoginSameOrigin", path: "/api/auth/login", body: creds, header: []string{"Sec-Fetch-Site", "same-origin"}, want: 200},
		{name: "LoginSameSite", path: "/api/auth/login", body: creds, header: []string{"Sec-Fetch-Site", "same-site"}, want: 200},
		{name: "LoginNone", path: "/api/auth/login", body: creds, header: []string{"Sec-Fetch-Site", "none"}, want: 200},
		{name: "LoginNoHeader", path: "/api/auth/login", body: creds, want: 200},
		{name: "SignupTextPlain", path: "/api/auth/signup", body: signup(), header: []string{"Content-Type", "text/plain;charset=UTF-8"}, want: 400, param: "Content-Type"},
		{name: "SignupCrossSite", path: "/api/auth/signup", body: signup(), header: []string{"Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "SignupSameOrigin", path: "/api/auth/signup", body: signup(), header: []string{"Sec-Fetch-Site", "same-origin"}, want: 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do("POST", tc.path, "", []byte(tc.body), tc.header...)
			if tc.want >= 400 {
				wantAPIError(t, r, tc.want, map[int]string{400: "invalid_request_error", 403: "permission_error"}[tc.want], tc.param)
				if setCookieOf(r) != nil {
					t.Errorf("a refused %s set a session cookie", tc.path)
				}
				return
			}
			if r.Status != tc.want || setCookieOf(r) == nil {
				t.Fatalf("status = %d (%s), want %d with a session cookie", r.Status, r.Body, tc.want)
			}
		})
	}
}

// TestSessionRoutesNeedCSRF checks the rule that makes the content-type
// rule a second line for signed-in routes: a cookie alone changes nothing.
func TestSessionRoutesNeedCSRF(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	u := g.passwordUser(nil)
	login := g.do("POST", "/api/auth/login", "", map[string]string{"email": u.Email, "password": strongPassword})
	c, csrf := setCookieOf(login), decode[sessionAnswer](t, login).CSRFToken
	// A cookie alone (what a cross-site form or text/plain fetch carries).
	r := g.do("PUT", "/api/team", "", []byte(`{"name":"pwned"}`), "Cookie", c.Name+"="+c.Value, "Content-Type", "text/plain")
	wantAPIError(t, r, http.StatusForbidden, "permission_error", "")
	// With the token but a text/plain body: the body rule refuses it too.
	r = g.do("PUT", "/api/team", "", []byte(`{"name":"pwned"}`), "Cookie", c.Name+"="+c.Value, "X-CSRF-Token", csrf, "Content-Type", "text/plain")
	wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "Content-Type")
}

func TestManagementJSONStrict(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	for _, tc := range []struct {
		name, body, param string
	}{
		{name: "TrailingGarbage", body: `{"name":"a"} {"name":"b"}`},
		{name: "TrailingBrace", body: `{"name":"a"}}`},
		{name: "Duplicate", body: `{"name":"a","name":"b"}`, param: "name"},
		{name: "DuplicateCase", body: `{"name":"a","Name":"b"}`, param: "Name"},
		{name: "DuplicateNested", body: `{"name":"a","allowed_models":["x"],"expires_at":null,"cache_ttl_s":0,"user_id":0,"name":"c"}`, param: "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do("POST", "/api/admin/keys", g.MasterKey, []byte(tc.body))
			wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", tc.param)
		})
	}
	t.Run("DuplicateInRouteTargets", func(t *testing.T) {
		body := `{"name":"r","strategy":"fallback","targets":[{"model":"m","model":"n"}]}`
		r := g.do("POST", "/api/admin/routes", g.MasterKey, []byte(body))
		wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "targets[0].model")
	})
}

func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	m := g.simulated(g.unique("utf8"), nil).Model.Name
	key := g.customer().Key
	bad := "caf\xe9"
	t.Run("ChatCompletions", func(t *testing.T) {
		body := `{"model":"` + m + `","messages":[{"role":"user","content":"` + bad + `"}]}`
		r := g.do("POST", "/v1/chat/completions", key, []byte(body))
		wantAPIError(t, r, http.StatusBadRequest, "invalid_request_error", "")
	})
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
		t.Run(path, func(t *testing.T) {
			body := `{"model":"` + m + `","max_tokens":5,"messages":[{"role":"user","content":"` + bad + `"}]}`
			r := g.do("POST", path, key, []byte(body), "anthropic-version", "2023-06-01")
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if r.Status != http.StatusBadRequest || json.Unmarshal(r.Body, &e) != nil || e.Type != "error" ||
				e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, "UTF-8") {
				t.Fatalf("%s with invalid UTF-8 = %d %s, want 400 in Anthropic's shape", path, r.Status, r.Body)
			}
		})
	}
}

func TestMemberCannotRevokeOwnersKey(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	owner := g.passwordUser(nil)
	member := g.passwordUser(map[string]any{"team_id": owner.TeamID, "team_role": "member"})
	other := g.passwordUser(map[string]any{"team_id": owner.TeamID, "team_role": "member"})
	ownerKey := g.createKey(keySpec{Name: "owner", UserID: owner.ID})
	memberKey := g.createKey(keySpec{Name: "member", UserID: member.ID})
	otherKey := g.createKey(keySpec{Name: "other", UserID: other.ID})
	ms := apptest.Login(t, g.Gateway, member.Email, strongPassword)
	ows := apptest.Login(t, g.Gateway, owner.Email, strongPassword)
	for _, tc := range []struct {
		name string
		s    *apptest.Session
		key  int64
		want int
	}{
		{name: "MemberOwnersKey", s: ms, key: ownerKey.ID, want: http.StatusForbidden},
		{name: "MemberOtherMembersKey", s: ms, key: otherKey.ID, want: http.StatusForbidden},
		{name: "MemberOwnKey", s: ms, key: memberKey.ID, want: http.StatusNoContent},
		{name: "OwnerMembersKey", s: ows, key: otherKey.ID, want: http.StatusNoContent},
		{name: "OwnerOwnKey", s: ows, key: ownerKey.ID, want: http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, body := tc.s.Do(t, "DELETE", fmt.Sprintf("/api/keys/%d", tc.key), nil); st != tc.want {
				t.Fatalf("DELETE key = %d %s, want %d", st, body, tc.want)
			}
		})
	}
}

// TestSignupInvitationHidesAccounts: with a valid invitation, an email
// that has an account gets the answer of an unusable invitation, and the
// invitation is spent, so it cannot be used to test another email.
func TestSignupInvitationHidesAccounts(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	existing := g.passwordUser(nil)
	invite := func(email string) string {
		var inv struct {
			Token string `json:"token"`
		}
		body := map[string]any{}
		if email != "" {
			body["email"] = email
		}
		g.mustAdmin("POST", "/api/admin/invites", body, http.StatusCreated, &inv)
		return inv.Token
	}
	signup := func(email, token string) response {
		return g.do("POST", "/api/auth/signup", "", signupBody{Email: email, Password: strongPassword, Name: "Sam", InviteToken: token})
	}
	used := invite("")
	if r := signup(g.unique("a")+"@example.test", used); r.Status != http.StatusCreated {
		t.Fatalf("sign-up = %d %s", r.Status, r.Body)
	}
	usedAnswer := signup(g.unique("b")+"@example.test", used)
	wantAPIError(t, usedAnswer, http.StatusBadRequest, "invalid_request_error", "invite_token")
	for _, tc := range []struct {
		name, bound string
	}{
		{name: "Unbound"},
		{name: "BoundToTheEmail", bound: existing.Email},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := invite(tc.bound)
			taken := signup(existing.Email, tok)
			if taken.Status != usedAnswer.Status || string(taken.Body) != string(usedAnswer.Body) || setCookieOf(taken) != nil {
				t.Fatalf("taken email = %d %s; a used invitation = %d %s: want the same answer",
					taken.Status, taken.Body, usedAnswer.Status, usedAnswer.Body)
			}
			if tc.bound != "" {
				return
			}
			// Spent: the next email, free, is refused alike.
			next := signup(g.unique("c")+"@example.test", tok)
			if next.Status != usedAnswer.Status || string(next.Body) != string(usedAnswer.Body) {
				t.Fatalf("second try with the invitation = %d %s, want it spent", next.Status, next.Body)
			}
		})
	}
	t.Run("Audited", func(t *testing.T) {
		var page struct {
			Data []chorus.AuditEntry `json:"data"`
		}
		g.mustAdmin("GET", "/api/admin/audit?action="+chorus.AuditSignupRefused, nil, http.StatusOK, &page)
		if len(page.Data) < 1 || strings.Contains(string(page.Data[0].Details), existing.Email) {
			t.Errorf("audit of refused sign-ups = %+v, want entries without the email in clear", page.Data)
		}
	})
}

// rawExchange sends raw on a new connection and returns the first
// response and whether the server then closed the connection.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	var body strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
	resp.Body.Close()
	// A second request on the same connection: answered only if it stayed open.
	_, _ = c.Write([]byte("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"))
	_, err = http.ReadResponse(br, nil)
	return resp, body.String(), err != nil
}
