package web_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/chorusgw/chorus/internal/web"
	"github.com/chorusgw/chorus/ui"
)

const indexHTML = `<!doctype html><html><head>
<meta property="csp-nonce" nonce="__CSP_NONCE__">
<script type="module" crossorigin nonce="__CSP_NONCE__" src="/assets/index-abc123.js"></script>
<link rel="stylesheet" crossorigin nonce="__CSP_NONCE__" href="/assets/index-def456.css">
</head><body><div id="root"></div></body></html>`

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":                 {Data: []byte(indexHTML)},
		"assets/index-abc123.js":     {Data: []byte("console.log('plain')")},
		"assets/index-abc123.js.gz":  {Data: []byte("GZIP")},
		"assets/index-abc123.js.br":  {Data: []byte("BROTLI")},
		"assets/index-def456.css":    {Data: []byte("body{}")},
		"assets/index-def456.css.gz": {Data: []byte("GZCSS")},
		"assets/logo-0a1b2c.svg":     {Data: []byte("<svg/>")},
		"assets/font-9z.woff2":       {Data: []byte("wOF2")},
		"favicon.ico":                {Data: []byte("ico")},
		".gitkeep":                   {Data: nil},
	}
}

func MustHandler(tb testing.TB, opts web.Options) *web.Handler {
	tb.Helper()
	h, err := web.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func get(tb testing.TB, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	tb.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(tb testing.TB, res *http.Response) string {
	tb.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var nonceInCSP = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9+/=]+)' 'strict-dynamic'`)

func TestIndex(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	for _, target := range []string{"/", "/index.html", "/keys", "/billing/orders/12", "/account/", "/signup"} {
		t.Run(strings.ReplaceAll(target, "/", "_"), func(t *testing.T) {
			res := get(t, h, "GET", target, nil)
			b := body(t, res)
			if got, want := res.StatusCode, 200; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := res.Header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got, want := res.Header.Get("Cache-Control"), "no-store"; got != want {
				t.Errorf("Cache-Control = %q, want %q", got, want)
			}
			m := nonceInCSP.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
			if m == nil {
				t.Fatalf("CSP has no script nonce: %q", res.Header.Get("Content-Security-Policy"))
			}
			if strings.Contains(b, web.NoncePlaceholder) {
				t.Error("the placeholder is still in the page")
			}
			if got, want := strings.Count(b, `nonce="`+m[1]+`"`), 3; got != want {
				t.Errorf("page carries the CSP nonce %d times, want %d:\n%s", got, want, b)
			}
		})
	}
}

func TestIndex_FreshNonce(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	seen := map[string]bool{}
	for range 50 {
		res := get(t, h, "GET", "/", nil)
		m := nonceInCSP.FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
		if m == nil {
			t.Fatal("no nonce")
		}
		if len(m[1]) < 22 {
			t.Fatalf("nonce %q is shorter than 128 bits", m[1])
		}
		if seen[m[1]] {
			t.Fatalf("nonce %q repeated", m[1])
		}
		seen[m[1]] = true
		if b := body(t, res); !strings.Contains(b, `nonce="`+m[1]+`"`) {
			t.Fatal("the page's nonce is not the header's")
		}
	}
}

func TestIndex_Head(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	res := get(t, h, "HEAD", "/usage", nil)
	if got := body(t, res); got != "" {
		t.Errorf("HEAD body = %q, want none", got)
	}
	if res.Header.Get("Content-Length") == "" || res.StatusCode != 200 {
		t.Errorf("HEAD: status %d, Content-Length %q", res.StatusCode, res.Header.Get("Content-Length"))
	}
}

func TestCSP(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	csp := get(t, h, "GET", "/", nil).Header.Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'self'", "'strict-dynamic'", "object-src 'none'", "base-uri 'none'",
		"frame-ancestors 'none'", "require-trusted-types-for 'script'", "style-src 'self' 'nonce-",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP contains %q: %s", bad, csp)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	for _, target := range []string{"/", "/assets/index-abc123.js", "/assets/missing.js", "/api/x"} {
		t.Run(strings.ReplaceAll(target, "/", "_"), func(t *testing.T) {
			res := get(t, h, "GET", target, nil)
			for k, want := range map[string]string{
				"X-Content-Type-Options":       "nosniff",
				"Referrer-Policy":              "no-referrer",
				"Cross-Origin-Opener-Policy":   "same-origin",
				"Cross-Origin-Resource-Policy": "same-origin",
				"X-Frame-Options":              "DENY",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if pp := res.Header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=()") || !strings.Contains(pp, "microphone=()") {
				t.Errorf("Permissions-Policy = %q", pp)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP = %q", csp)
			}
			if got := res.Header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("HSTS over plain HTTP: %q", got)
			}
		})
	}
}

func TestHSTS(t *testing.T) {
	t.Run("DirectTLS", func(t *testing.T) {
		h := MustHandler(t, web.Options{FS: testFS()})
		r := httptest.NewRequest("GET", "/", nil)
		r.TLS = &tls.ConnectionState{}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Header().Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("HSTS = %q over TLS", got)
		}
	})
	t.Run("TrustedProxy", func(t *testing.T) {
		h := MustHandler(t, web.Options{FS: testFS(), IsTLS: func(r *http.Request) bool {
			return r.Header.Get("X-Forwarded-Proto") == "https"
		}})
		if got := get(t, h, "GET", "/", map[string]string{"X-Forwarded-Proto": "https"}).Header.Get("Strict-Transport-Security"); got == "" {
			t.Error("no HSTS behind a TLS proxy")
		}
		if got := get(t, h, "GET", "/", nil).Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("HSTS = %q without TLS", got)
		}
	})
}

func TestAssets(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	for _, tc := range []struct {
		name, target, acceptEncoding       string
		wantBody, wantType, wantEnc, cache string
	}{
		{"BrotliPreferred", "/assets/index-abc123.js", "gzip, deflate, br", "BROTLI", "text/javascript; charset=utf-8", "br", "public, max-age=31536000, immutable"},
		{"Gzip", "/assets/index-abc123.js", "gzip", "GZIP", "text/javascript; charset=utf-8", "gzip", "public, max-age=31536000, immutable"},
		{"BrotliRefused", "/assets/index-abc123.js", "br;q=0, gzip", "GZIP", "text/javascript; charset=utf-8", "gzip", "public, max-age=31536000, immutable"},
		{"Identity", "/assets/index-abc123.js", "", "console.log('plain')", "text/javascript; charset=utf-8", "", "public, max-age=31536000, immutable"},
		{"Star", "/assets/index-abc123.js", "*", "BROTLI", "text/javascript; charset=utf-8", "br", "public, max-age=31536000, immutable"},
		{"CSSNoBrotliFile", "/assets/index-def456.css", "br, gzip", "GZCSS", "text/css; charset=utf-8", "gzip", "public, max-age=31536000, immutable"},
		{"SVG", "/assets/logo-0a1b2c.svg", "", "<svg/>", "image/svg+xml", "", "public, max-age=31536000, immutable"},
		{"Font", "/assets/font-9z.woff2", "br", "wOF2", "font/woff2", "", "public, max-age=31536000, immutable"},
		{"Unhashed", "/favicon.ico", "", "ico", "image/x-icon", "", "no-cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, h, "GET", tc.target, map[string]string{"Accept-Encoding": tc.acceptEncoding})
			if got := body(t, res); got != tc.wantBody {
				t.Errorf("body = %q, want %q", got, tc.wantBody)
			}
			if got := res.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if got := res.Header.Get("Content-Encoding"); got != tc.wantEnc {
				t.Errorf("Content-Encoding = %q, want %q", got, tc.wantEnc)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.cache)
			}
			compressible := strings.HasSuffix(tc.target, ".js") || strings.HasSuffix(tc.target, ".css") || strings.HasSuffix(tc.target, ".svg")
			if got := res.Header.Get("Vary") == "Accept-Encoding"; got != compressible {
				t.Errorf("Vary = %q for %s", res.Header.Get("Vary"), tc.target)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	for _, target := range []string{
		"/assets/index-missing.js", "/assets/index-abc123.js.br", "/assets/index-abc123.js.gz",
		"/robots.txt", "/assets/", "/api/keys", "/api", "/v1/models", "/assets/../../etc/passwd.js",
	} {
		t.Run(target, func(t *testing.T) {
			res := get(t, h, "GET", target, map[string]string{"Accept-Encoding": "br"})
			b := body(t, res)
			if got, want := res.StatusCode, 404; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if strings.Contains(b, "<div id=\"root\">") {
				t.Error("index.html served for a missing file")
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := MustHandler(t, web.Options{FS: testFS()})
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		res := get(t, h, m, "/keys", nil)
		if got, want := res.StatusCode, 405; got != want {
			t.Errorf("%s: status = %d, want %d", m, got, want)
		}
		if got := res.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow = %q", m, got)
		}
	}
}

func TestPlaceholder(t *testing.T) {
	h := MustHandler(t, web.Options{FS: fstest.MapFS{".gitkeep": {}}})
	if h.Built() {
		t.Error("Built() = true without index.html")
	}
	res := get(t, h, "GET", "/keys", nil)
	b := body(t, res)
	if res.StatusCode != 200 || !strings.Contains(b, "make ui") || !strings.Contains(b, "make run") {
		t.Fatalf("status %d, body:\n%s", res.StatusCode, b)
	}
	m := regexp.MustCompile(`style-src 'self' 'nonce-([^']+)'`).FindStringSubmatch(res.Header.Get("Content-Security-Policy"))
	if m == nil || !strings.Contains(b, `<style nonce="`+m[1]+`">`) {
		t.Errorf("the placeholder's style is not nonced with the CSP's nonce")
	}
}

func TestNew_NoFS(t *testing.T) {
	if _, err := web.New(web.Options{}); err == nil {
		t.Error("New without a FS: no error")
	}
}

// TestEmbedded serves the console embedded in this build: the built app
// when `make ui` ran, else the placeholder. Either way "/" is a page.
func TestEmbedded(t *testing.T) {
	h := MustHandler(t, web.Options{FS: ui.Dist()})
	res := get(t, h, "GET", "/", nil)
	b := body(t, res)
	if res.StatusCode != 200 || !strings.Contains(b, "<html") {
		t.Fatalf("status %d, body %.200s", res.StatusCode, b)
	}
	if h.Built() && !strings.Contains(b, `<div id="root">`) {
		t.Errorf("built console without its root element:\n%s", b)
	}
}
