package provider_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

// TestDo checks that provider.Do answers as Client.Do would for the
// clients NewHTTPClient makes: the answer with its body, a redirect not
// followed, a transport error wrapped in *url.Error; and that other
// clients go through their own Do.
func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append([]byte(r.Header.Get("X-Test")+":"), b...))
	}))
	defer srv.Close()
	c := provider.NewHTTPClient(provider.ClientOptions{AllowPrivateNetwork: true})
	post := func(c *http.Client, path string) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = http.Header{"X-Test": {"shared"}}
		return provider.Do(c, req)
	}

	t.Run("OK", func(t *testing.T) {
		resp, err := post(c, "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if got, want := string(b), "shared:body"; resp.StatusCode != 200 || got != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, got, want)
		}
	})
	t.Run("RedirectNotFollowed", func(t *testing.T) {
		resp, err := post(c, "/moved")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d, want the 302 itself", resp.StatusCode)
		}
	})
	t.Run("ErrTransport", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/v1", strings.NewReader("x"))
		_, err := provider.Do(c, req)
		var ue *url.Error
		if !errors.As(err, &ue) || ue.Op != "Post" || ue.URL != "http://127.0.0.1:1/v1" {
			t.Fatalf("err = %#v, want a *url.Error for Post http://127.0.0.1:1/v1", err)
		}
	})
	t.Run("OtherClient", func(t *testing.T) {
		resp, err := post(&http.Client{}, "/moved") // follows redirects, as its Do does
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200 after following the redirect", resp.StatusCode)
		}
	})
}

// TestClientTransports checks which transport NewHTTPClient's client uses:
// plain-HTTP upstreams go through h1, which leaves no goroutine behind per
// connection (net/http's Transport keeps a read and a write loop for each),
// and TLS upstreams through net/http.
func TestClientTransports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	defer tls.Close()
	c := provider.NewHTTPClient(provider.ClientOptions{AllowPrivateNetwork: true})
	defer c.CloseIdleConnections()
	get := func(url string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
		resp, err := provider.Do(c, req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for i := 0; i < 3; i++ {
		if got := get(srv.URL); got != "ok" {
			t.Fatalf("got %q", got)
		}
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "persistConn") {
		t.Fatal("a plain-HTTP upstream left net/http transport goroutines: it did not go through h1")
	}

	// The TLS server's certificate is not trusted by this client: the
	// error shows the call went through net/http's TLS transport.
	req, _ := http.NewRequest(http.MethodPost, tls.URL, strings.NewReader("{}"))
	if _, err := provider.Do(c, req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("https upstream: err = %v, want a certificate error from net/http's TLS transport", err)
	}
}
