package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chorusgw/chorus/internal/api"
)

func TestInstance(t *testing.T) {
	draining := make(chan struct{})
	h := api.Instance("chorus-2", draining, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(t *testing.T) *http.Response {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	t.Run("OK", func(t *testing.T) {
		resp := get(t)
		if got, want := resp.Header.Get(api.InstanceHeader), "chorus-2"; got != want {
			t.Errorf("%s = %q, want %q", api.InstanceHeader, got, want)
		}
		if resp.Close {
			t.Error("the connection is closed after a response while not draining; want keep-alive")
		}
	})
	t.Run("Draining", func(t *testing.T) {
		close(draining)
		resp := get(t)
		if !resp.Close || resp.Header.Get(api.InstanceHeader) != "chorus-2" {
			t.Errorf("while draining: Close = %v, %s = %q; want Connection: close and the instance",
				resp.Close, api.InstanceHeader, resp.Header.Get(api.InstanceHeader))
		}
	})
}
