package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chorusgw/chorus/internal/api"
)

func TestInstance(t *testing.T) {
	draining := make(chan struct{})
	started := make(chan struct{})
	release := make(chan struct{})
	h := api.Instance("chorus-2", draining, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" { // arrives before the drain, answers after it
			close(started)
			<-release
		}
		// A stream's relay asks for keep-alive; draining must win.
		w.Header().Set("Connection", "keep-alive")
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("ok"))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(t *testing.T, path string) *http.Response {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	t.Run("OK", func(t *testing.T) {
		resp := get(t, "/")
		if got, want := resp.Header.Get(api.InstanceHeader), "chorus-2"; got != want {
			t.Errorf("%s = %q, want %q", api.InstanceHeader, got, want)
		}
		if resp.Close {
			t.Error("the connection is closed after a response while not draining; want keep-alive")
		}
	})
	t.Run("Draining", func(t *testing.T) {
		slow := make(chan *http.Response)
		go func() {
			resp, err := srv.Client().Get(srv.URL + "/slow")
			if err != nil {
				t.Error(err)
				close(slow)
				return
			}
			resp.Body.Close()
			slow <- resp
		}()
		<-started
		close(draining)
		close(release)
		for name, resp := range map[string]*http.Response{"arrived while draining": get(t, "/"), "arrived before the drain": <-slow} {
			if resp == nil {
				continue
			}
			if !resp.Close || resp.Header.Get(api.InstanceHeader) != "chorus-2" {
				t.Errorf("%s: Close = %v, %s = %q; want Connection: close and the instance",
					name, resp.Close, api.InstanceHeader, resp.Header.Get(api.InstanceHeader))
			}
		}
	})
}

// BenchmarkInstance measures what the middleware adds to every request
// (the header and the drain check as the head is written).
func BenchmarkInstance(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	r := httptest.NewRequest("GET", "/v1/models", nil)
	for name, h := range map[string]http.Handler{"Bare": ok, "Instance": api.Instance("chorus-2", make(chan struct{}), ok)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
