package e2e_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// TestInstanceIdentity: the configured instance ID is on every response
// (answers, errors, probes, the console), on every log line, and in the
// chorus_instance_info metric; once draining, responses close their
// connections and chorus_draining is 1.
func TestInstanceIdentity(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey = apptest.MasterKey
	cfg.Bootstrap = false
	cfg.Instance.ID = "chorus-test-7"
	var logs lockedBuffer
	a, err := app.New(context.Background(), cfg, app.NewLogger(config.Log{Level: "info", Format: "json"}, &logs), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := httpClient.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp
	}

	for _, path := range []string{"/livez", "/v1/models", "/v1/no-such-thing", "/api/me", "/"} {
		if got := get(path).Header.Get(api.InstanceHeader); got != "chorus-test-7" {
			t.Errorf("GET %s: %s = %q, want chorus-test-7", path, api.InstanceHeader, got)
		}
	}
	metrics, _ := io.ReadAll(get("/metrics").Body)
	for _, want := range []string{`chorus_instance_info{instance_id="chorus-test-7"} 1`, "chorus_draining 0"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics has no %q", want)
		}
	}

	a.Manage.Drain()
	resp := get("/v1/models")
	if !resp.Close {
		t.Error("a response while draining keeps its connection open; want Connection: close")
	}
	if metrics, _ := io.ReadAll(get("/metrics").Body); !strings.Contains(string(metrics), "chorus_draining 1") {
		t.Error("/metrics while draining has no chorus_draining 1")
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("only %d log lines:\n%s", len(lines), logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, `"instance_id":"chorus-test-7"`) {
			t.Errorf("log line without the instance: %s", l)
		}
	}
}
