package e2e_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

// Security headers on every answer, the JSON 431, request framing and
// security.txt.

// wildcard matches a route pattern's path values, filled with "1" for the walk.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

func TestSecurityHeadersEveryRoute(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	type target struct{ method, path string }
	var targets []target
	for _, r := range g.App.Routes() {
		method, path, _ := strings.Cut(r.Pattern, " ")
		if strings.HasSuffix(r.Pattern, "/stream") {
			continue // an endless event stream; its headers are the handler's own
		}
		targets = append(targets, target{method, wildcard.ReplaceAllString(path, "1")})
	}
	targets = append(targets, target{"GET", "/api/no-such-route"}, target{"GET", "/v1/no-such-route"},
		target{"POST", "/v1/chat/completions"}, target{"GET", "/.well-known/nothing"})
	if len(targets) < 50 {
		t.Fatalf("only %d routes to walk", len(targets))
	}
	for _, tg := range targets {
		r := g.do(tg.method, tg.path, "", nil)
		h := r.Header
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"X-Frame-Options":        "DENY",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", tg.method, tg.path, r.Status, name, got, want)
			}
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s %s (%d): Content-Security-Policy = %q", tg.method, tg.path, r.Status, csp)
		}
		if tg.path != "/.well-known/security.txt" && !strings.Contains(h.Get("Cache-Control"), "no-store") &&
			strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s (%d): Cache-Control = %q on an API answer", tg.method, tg.path, r.Status, h.Get("Cache-Control"))
		}
	}
	// The console keeps its own: a nonce CSP on the page, cached assets.
	page := g.do("GET", "/", "", nil)
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "'nonce-") {
		t.Errorf("console page CSP = %q, want its nonce policy", csp)
	}
}

func TestOversizedHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	big := strings.Repeat("a", 70<<10)
	for _, tc := range []struct {
		name, path string
		anthropic  bool
	}{
		{name: "Chat", path: "/v1/chat/completions"},
		{name: "Management", path: "/api/auth/session"},
		{name: "Messages", path: "/v1/messages", anthropic: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.do("POST", tc.path, "", nil, "X-Big", big)
			if r.Status != http.StatusRequestHeaderFieldsTooLarge || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("status = %d %q %.200s, want 431 as JSON", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			if tc.anthropic != strings.Contains(string(r.Body), `"type":"error"`) {
				t.Errorf("body = %s, want Anthropic's shape: %v", r.Body, tc.anthropic)
			}
		})
	}
	t.Run("UnderTheLimit", func(t *testing.T) {
		if r := g.do("GET", "/livez", "", nil, "X-Big", strings.Repeat("a", 60<<10)); r.Status != http.StatusOK {
			t.Errorf("60 KiB of headers = %d, want 200", r.Status)
		}
	})
}

func TestRequestFraming(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	addr := strings.TrimPrefix(g.URL, "http://")
	const body = "{\"message\":\"x\"}"
	chunked := "f\r\n" + body + "\r\n0\r\n\r\n"
	for _, tc := range []struct {
		name, head string
		want       int
	}{
		{name: "ContentLengthAndChunked", head: "Content-Length: 15\r\nTransfer-Encoding: chunked\r\n", want: 400},
		{name: "ChunkedAndContentLength", head: "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", want: 400},
		{name: "FoldedTransferEncoding", head: "Transfer-Encoding:\r\n chunked\r\n", want: 400},
		{name: "ChunkedOnly", head: "Transfer-Encoding: chunked\r\n", want: 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := "POST /api/client-errors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + tc.head + "\r\n" + chunked
			resp, got, closed := rawExchange(t, addr, raw)
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, got, tc.want)
			}
			if !closed || !resp.Close {
				t.Errorf("connection kept open after a chunked request (closed %v, Connection: close %v)", closed, resp.Close)
			}
		})
	}
	t.Run("PlainKeptAlive", func(t *testing.T) {
		raw := "POST /api/client-errors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n" + body
		resp, got, closed := rawExchange(t, addr, raw)
		if resp.StatusCode != http.StatusAccepted || closed {
			t.Errorf("plain request = %d %s, closed %v; want 202 and the connection kept", resp.StatusCode, got, closed)
		}
	})
}

func TestSecurityTxt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		edit          func(*config.Config)
		contact, lang string
	}{
		{name: "Default", contact: config.ProjectSecurityContact, lang: "en"},
		{name: "Configured", edit: func(c *config.Config) {
			c.Security.Contact, c.Security.PreferredLanguages = "mailto:security@example.com", "en, de"
		}, contact: "mailto:security@example.com", lang: "en, de"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, tc.edit)
			r := g.do("GET", "/.well-known/security.txt", "", nil)
			if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("security.txt = %d %q %s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			fields := map[string]string{}
			for _, line := range strings.Split(string(r.Body), "\n") {
				if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "#") {
					fields[k] = v
				}
			}
			if fields["Contact"] != tc.contact || fields["Preferred-Languages"] != tc.lang || !strings.HasPrefix(fields["Policy"], "https://") {
				t.Errorf("security.txt = %s", r.Body)
			}
			exp, err := time.Parse(time.RFC3339, fields["Expires"])
			if err != nil || !exp.After(time.Now().Add(24*time.Hour)) || exp.After(time.Now().AddDate(1, 0, 0)) {
				t.Errorf("Expires = %q (%v), want within the next year", fields["Expires"], err)
			}
		})
	}
}
