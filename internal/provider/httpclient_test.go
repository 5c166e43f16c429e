package provider_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
