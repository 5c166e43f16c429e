package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
)

// TestDAST attacks a running gateway from the outside, over HTTP and raw
// TCP only, the way an external tester would: injection strings in every
// kind of parameter, malformed and oversized bodies, CSRF, session
// fixation, slow clients, request smuggling and SSRF through deployment
// URLs. Authorization across teams and roles on every registered route is
// TestAuthorizationTable (authz_test.go); security headers on every route are
// TestSecurityHeadersEveryRoute. It prints its figures (go test ./e2e -run
// TestDAST -v); docs/security-assessment.md reports them.
func TestDAST(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) {
		c.Timeouts.ReadHeader = time.Second
		c.Timeouts.Read = 2 * time.Second
		c.Upstreams.AllowPrivateNetworks = false // the default, which the test harness turns on for its loopback fakes
	})
	g.simulated("dast-model", nil)
	key := g.customer()
	tally := &dastTally{byCategory: map[string]*dastCount{}}
	t.Cleanup(func() { tally.report(t) })

	t.Run("Injection", func(t *testing.T) { dastInjection(t, g, key.Key, tally) })
	t.Run("MalformedBodies", func(t *testing.T) { dastMalformed(t, g, key.Key, tally) })
	t.Run("CSRF", func(t *testing.T) { dastCSRF(t, g, tally) })
	t.Run("SessionFixation", func(t *testing.T) { dastFixation(t, g, tally) })
	t.Run("SlowClients", func(t *testing.T) { dastSlow(t, g, tally) })
	t.Run("Smuggling", func(t *testing.T) { dastSmuggling(t, g, tally) })
	t.Run("SSRF", func(t *testing.T) { dastSSRF(t, g, tally) })
}

// dastCount is one category's figures.
type dastCount struct{ probes, refused, served, serverErrors, findings int }

// dastTally counts probes by category; findings are probes whose answer
// was wrong (each also fails the test).
type dastTally struct {
	mu         sync.Mutex
	byCategory map[string]*dastCount
}

func (d *dastTally) add(category string, status int, finding bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.byCategory[category]
	if c == nil {
		c = &dastCount{}
		d.byCategory[category] = c
	}
	c.probes++
	switch {
	case status >= 500 && status != http.StatusNotImplemented: // 501: Go refuses a transfer coding it does not implement
		c.serverErrors++
	case status >= 400 || status == 0:
		c.refused++
	default:
		c.served++
	}
	if finding {
		c.findings++
	}
}

func (d *dastTally) report(t *testing.T) {
	names := make([]string, 0, len(d.byCategory))
	for n := range d.byCategory {
		names = append(names, n)
	}
	sort.Strings(names)
	var total dastCount
	t.Logf("%-18s %7s %8s %7s %5s %9s", "category", "probes", "refused", "served", "5xx", "findings")
	for _, n := range names {
		c := d.byCategory[n]
		t.Logf("%-18s %7d %8d %7d %5d %9d", n, c.probes, c.refused, c.served, c.serverErrors, c.findings)
		total.probes += c.probes
		total.refused += c.refused
		total.served += c.served
		total.serverErrors += c.serverErrors
		total.findings += c.findings
	}
	t.Logf("%-18s %7d %8d %7d %5d %9d", "total", total.probes, total.refused, total.served, total.serverErrors, total.findings)
}

// leaks reports whether an answer shows internals: a stack trace, a
// database error, a Go panic.
func leaks(body []byte) bool {
	s := strings.ToLower(string(body))
	for _, m := range []string{"goroutine ", "panic:", "runtime error", "sqlstate", "sql: ", "syntax error at or near", "sqlite", "pgx", ".go:"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// injections are strings attackers put in every field.
var injections = []string{
	`' OR '1'='1`, `1; DROP TABLE users; --`, `" OR ""="`, `') UNION SELECT password_hash FROM users --`,
	`../../../../etc/passwd`, `..%2f..%2fetc%2fpasswd`, `{{7*7}}`, `${jndi:ldap://127.0.0.1/a}`,
	`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, "\x00", "%00", `\u0000`,
	`$(id)`, "`id`", `%s%s%s%n`, strings.Repeat("A", 5000), `{"$gt":""}`, `-1`, `99999999999999999999999`,
}

func dastInjection(t *testing.T, g *gateway, key string, tally *dastTally) {
	check := func(method, path, auth string, body any) {
		t.Helper()
		r := g.do(method, path, auth, body)
		bad := r.Status >= 500 || leaks(r.Body) ||
			(strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") && strings.Contains(string(r.Body), "<script>alert(1)"))
		tally.add("injection", r.Status, bad)
		if bad {
			t.Errorf("%s %s: %d %.300s", method, path, r.Status, r.Body)
		}
	}
	for _, p := range injections {
		q := url.QueryEscape(p)
		seg := url.PathEscape(p)
		check("GET", "/api/admin/users?q="+q, g.MasterKey, nil)
		check("GET", "/api/admin/usage?response_id="+q, g.MasterKey, nil)
		check("GET", "/api/admin/audit?action="+q, g.MasterKey, nil)
		check("GET", "/api/admin/models/"+seg, g.MasterKey, nil)
		check("GET", "/v1/models/"+seg, key, nil)
		check("GET", "/v1/responses/"+seg, key, nil)
		check("GET", "/v1/responses/resp_x/input_items?after="+q+"&limit="+q, key, nil)
		check("POST", "/v1/chat/completions", key, map[string]any{"model": p, "messages": []map[string]string{{"role": "user", "content": p}}})
		check("POST", "/v1/chat/completions", key, map[string]any{"model": "dast-model", "user": p,
			"messages": []map[string]string{{"role": p, "content": p}}})
		check("POST", "/v1/responses", key, map[string]any{"model": "dast-model", "input": p, "previous_response_id": p})
		check("POST", "/api/auth/login", "", map[string]any{"email": p, "password": p})
		check("POST", "/api/admin/models", g.MasterKey, map[string]any{"name": p, "description": p})
		check("POST", "/v1/feedback", key, map[string]any{"response_id": p, "rating": p, "comment": p})
	}
	// The users table is still there and still answers.
	var users struct {
		Data []chorus.User `json:"data"`
	}
	g.mustAdmin("GET", "/api/admin/users?limit=1", nil, http.StatusOK, &users)
}

func dastMalformed(t *testing.T, g *gateway, key string, tally *dastTally) {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	var many strings.Builder
	many.WriteString(`{"model":"dast-model","messages":[{"role":"user","content":"x"}]`)
	for i := 0; i < 20_000; i++ {
		fmt.Fprintf(&many, `,"k%d":1`, i)
	}
	many.WriteString("}")
	bodies := map[string]string{
		"empty": ``, "null": `null`, "array": `[]`, "string": `"x"`, "truncated": `{"model":"dast-model","messages":[`,
		"trailing": `{"model":"dast-model","messages":[{"role":"user","content":"x"}]} {}`, "deep": deep,
		"nested-object": strings.Repeat(`{"a":`, 50_000) + "1" + strings.Repeat("}", 50_000),
		"bad-utf8":      "{\"model\":\"dast-model\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
		"nul":           "{\"model\":\"dast-model\"\x00}", "wrong-types": `{"model":1,"messages":"x","max_tokens":"y","stream":"yes"}`,
		"huge-number":  `{"model":"dast-model","max_tokens":1e400,"messages":[{"role":"user","content":"x"}]}`,
		"duplicate":    `{"model":"dast-model","model":"other","messages":[{"role":"user","content":"x"}]}`,
		"many-members": many.String(), "oversized": `{"model":"` + strings.Repeat("x", 9<<20) + `"}`,
	}
	paths := []string{"/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/embeddings", "/v1/messages/count_tokens",
		"/v1/responses/input_tokens", "/api/auth/login", "/api/admin/models", "/api/admin/deployments", "/v1/feedback"}
	for _, path := range paths {
		for name, b := range bodies {
			auth := key
			if strings.HasPrefix(path, "/api/admin") {
				auth = g.MasterKey
			}
			r := g.do("POST", path, auth, []byte(b), "Content-Type", "application/json")
			bad := r.Status < 400 || r.Status >= 500 || leaks(r.Body)
			switch name {
			case "oversized":
				bad = r.Status != http.StatusRequestEntityTooLarge
			case "many-members":
				// Unknown members pass on to upstreams that speak the
				// format (documented); what matters is no failure.
				bad = r.Status >= 500 || leaks(r.Body)
			}
			tally.add("malformed body", r.Status, bad)
			if bad {
				t.Errorf("%s %s: %d %.300s", path, name, r.Status, r.Body)
			}
		}
	}
}

func dastCSRF(t *testing.T, g *gateway, tally *dastTally) {
	s := g.SignIn(t, chorus.RoleCustomer)
	// The session cookie alone, as a cross-site form or fetch would carry
	// it: no X-CSRF-Token.
	bare := &http.Client{Jar: s.Client.Jar, Timeout: 10 * time.Second}
	t.Cleanup(bare.CloseIdleConnections)
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/api/keys", `{"name":"csrf"}`}, {"POST", "/api/cart", `{}`}, {"POST", "/api/auth/logout", `{}`},
		{"PUT", "/api/auth/password", `{"current_password":"x","new_password":"y"}`}, {"DELETE", "/api/keys/1", ``},
		{"POST", "/api/budgets", `{}`}, {"POST", "/api/checkout", `{}`}, {"POST", "/api/credits/redeem", `{"code":"x"}`},
		{"POST", "/v1/chat/completions", `{"model":"dast-model","messages":[{"role":"user","content":"x"}]}`},
	} {
		for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded"} {
			req, _ := http.NewRequest(rt.method, g.URL+rt.path, strings.NewReader(rt.body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := bare.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bad := resp.StatusCode < 400 || resp.StatusCode >= 500
			tally.add("csrf", resp.StatusCode, bad)
			if bad {
				t.Errorf("cross-site %s %s (%s) with the session cookie only: %d %.200s", rt.method, rt.path, ct, resp.StatusCode, body)
			}
		}
	}
	// Login CSRF: a cross-site form posting the attacker's credentials.
	u, password := g.NewUser(t, chorus.RoleCustomer, 0)
	creds := fmt.Sprintf(`{"email":%q,"password":%q}`, u.Email, password)
	for name, h := range map[string][2]string{
		"text/plain":       {"text/plain", ""},
		"form":             {"application/x-www-form-urlencoded", ""},
		"cross-site fetch": {"application/json", "cross-site"},
		"cross-site form":  {"text/plain", "cross-site"},
	} {
		req, _ := http.NewRequest("POST", g.URL+"/api/auth/login", strings.NewReader(creds))
		req.Header.Set("Content-Type", h[0])
		if h[1] != "" {
			req.Header.Set("Sec-Fetch-Site", h[1])
		}
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		bad := resp.StatusCode < 400 || len(resp.Cookies()) > 0
		tally.add("csrf", resp.StatusCode, bad)
		if bad {
			t.Errorf("login CSRF (%s): %d, cookies %v", name, resp.StatusCode, resp.Cookies())
		}
	}
}

func dastFixation(t *testing.T, g *gateway, tally *dastTally) {
	u, password := g.NewUser(t, chorus.RoleCustomer, 0)
	jar := newJar(t)
	base, _ := url.Parse(g.URL)
	planted := "attacker-chosen-session-value-0123456789abcdef"
	jar.SetCookies(base, []*http.Cookie{{Name: "chorus_session", Value: planted, Path: "/"}})
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	req, _ := http.NewRequest("POST", g.URL+"/api/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, u.Email, password)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got string
	for _, ck := range jar.Cookies(base) {
		if ck.Name == "chorus_session" {
			got = ck.Value
		}
	}
	bad := resp.StatusCode != http.StatusOK || got == planted || got == ""
	tally.add("session fixation", resp.StatusCode, bad)
	if bad {
		t.Errorf("login with a planted session cookie: %d, session cookie afterwards %q", resp.StatusCode, got)
	}
	// The planted value opens nothing.
	attacker := &http.Client{Timeout: 10 * time.Second}
	req, _ = http.NewRequest("GET", g.URL+"/api/auth/session", nil)
	req.AddCookie(&http.Cookie{Name: "chorus_session", Value: planted})
	resp, err = attacker.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tally.add("session fixation", resp.StatusCode, resp.StatusCode != http.StatusUnauthorized)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the planted session value: %d, want 401", resp.StatusCode)
	}
}

// rawConn opens a TCP connection to the gateway.
func rawConn(t *testing.T, g *gateway) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(g.URL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d (reading and
// discarding whatever it answers first).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return err == nil // EOF: closed by the server; a timeout is an error
}

func dastSlow(t *testing.T, g *gateway, tally *dastTally) {
	var wg sync.WaitGroup
	for name, send := range map[string]string{
		// Slowloris: headers that never end (read_header 1 s here).
		"slow headers": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n",
		// A body promised and never sent (read 2 s here).
		"slow body": "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
		// An idle connection that never sends a request.
		"idle": "",
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := rawConn(t, g)
			start := time.Now()
			_, _ = c.Write([]byte(send))
			closed := closedWithin(c, 8*time.Second)
			took := time.Since(start)
			tally.add("slow client", 0, !closed)
			if !closed {
				t.Errorf("%s: connection still open after %s", name, took.Round(time.Millisecond))
			} else {
				t.Logf("%s: closed by the server after %s", name, took.Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
}

func dastSmuggling(t *testing.T, g *gateway, tally *dastTally) {
	body := `{"model":"dast-model","messages":[{"role":"user","content":"x"}]}`
	for name, head := range map[string]string{
		"CL.TE":        fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len(body)),
		"TE.CL":        fmt.Sprintf("Transfer-Encoding: chunked\r\nContent-Length: %d\r\n", len(body)),
		"TE obs-fold":  "Transfer-Encoding:\r\n chunked\r\n",
		"TE duplicate": "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
	} {
		c := rawConn(t, g)
		chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		req := "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + head + "\r\n" + chunked +
			"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n" // smuggled: must never be answered
		_, _ = c.Write([]byte(req))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		status := 0
		if err == nil {
			status = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		_, second := http.ReadResponse(br, nil)
		// 400 from Chorus, or Go's own 501 for a transfer coding it does
		// not implement; either way nothing after it is read.
		bad := (status != http.StatusBadRequest && status != http.StatusNotImplemented) || second == nil
		tally.add("smuggling", status, bad)
		if bad {
			t.Errorf("%s: first answer %d (%v), a second answer on the connection: %v", name, status, err, second == nil)
		}
	}
}

func dastSSRF(t *testing.T, g *gateway, tally *dastTally) {
	m := g.createModel(modelSpec{Name: "dast-ssrf"})
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/", "http://2852039166/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/",
		"http://169.254.43518/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:a9fe:a9fe]/", "http://[fd00:ec2::254]/",
		"http://metadata.google.internal/computeMetadata/v1/", "http://user:pass@api.openai.com/v1", "http://api.openai.com@evil.example/v1",
		"http://[fe80::1]/", "http://0.0.0.0/", "file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "http://127.0.0.1:6379/",
		"http://10.0.0.1/v1", "http://192.168.1.1/v1", "http://[::1]/v1",
	} {
		r := g.admin("POST", "/api/admin/deployments", map[string]any{"model_id": m.ID, "name": g.unique("ssrf"),
			"provider": chorus.ProviderOpenAI, "upstream_model": "x", "base_url": u})
		bad := r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "base_url")
		tally.add("ssrf", r.Status, bad)
		if bad {
			t.Errorf("deployment base_url %s: %d %.200s", u, r.Status, r.Body)
		}
	}
}

// newJar returns an empty cookie jar.
func newJar(t *testing.T) *cookiejar.Jar {
	t.Helper()
	j, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
