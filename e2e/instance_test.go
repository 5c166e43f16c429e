package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// serveApp runs app.New with cfg and a JSON logger into logs; the caller
// shuts it down. It returns the app, its URL and Serve's result.
func serveApp(t *testing.T, edit func(*config.Config), logs io.Writer) (*app.App, string, <-chan error) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.MasterKey = apptest.MasterKey
	cfg.Bootstrap = false
	edit(&cfg)
	a, err := app.New(context.Background(), cfg, app.NewLogger(config.Log{Level: "info", Format: "json"}, logs), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	return a, "http://" + ln.Addr().String(), done
}

// TestInstanceIdentity: the configured instance ID is on every response
// (answers, errors, probes, the console), on every log line, and in the
// chorus_instance_info metric; once draining, responses close their
// connections and chorus_draining is 1.
func TestInstanceIdentity(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	a, base, done := serveApp(t, func(c *config.Config) { c.Instance.ID = "chorus-test-7" }, &logs)
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

// TestPreDrain: after Shutdown begins, the instance keeps accepting and
// serving for timeouts.pre_drain — readiness 503 draining, responses with
// Connection: close — and only then refuses connections.
func TestPreDrain(t *testing.T) {
	t.Parallel()
	const preDrain = 600 * time.Millisecond
	a, base, done := serveApp(t, func(c *config.Config) { c.Timeouts.PreDrain = preDrain }, io.Discard)
	start := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- a.Shutdown() }()
	fresh := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	eventually(t, time.Second, func() string {
		resp, err := fresh.Get(base + "/readyz")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Sprintf("readyz = %d after Shutdown began, want 503", resp.StatusCode)
		}
		return ""
	})
	resp, err := fresh.Get(base + "/livez")
	if err != nil || time.Since(start) > preDrain/2 {
		t.Fatalf("a new connection %v after Shutdown began: %v; want it served (pre_drain %v)", time.Since(start), err, preDrain)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("during pre_drain: %d, Close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < preDrain {
		t.Errorf("Shutdown returned after %v, before pre_drain %v", took, preDrain)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	if _, err := fresh.Get(base + "/livez"); err == nil {
		t.Error("a new connection was served after the drain")
	}
}
