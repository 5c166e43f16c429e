package e2e_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/manage"
)

// readyStatus decodes a /readyz body and returns its overall status.
func readyStatus(t *testing.T, r response) string {
	t.Helper()
	return readyReport(t, r).Status
}

func readyReport(t *testing.T, r response) manage.ReadyReport {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("/readyz Content-Type %q, want JSON", ct)
	}
	var rep manage.ReadyReport
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		t.Fatalf("/readyz body %q: %v", r.Body, err)
	}
	return rep
}

// TestReadyzReport: /readyz reports every dependency in JSON; only a
// failing one (here: draining) makes it 503. With CHORUS_TEST_REDIS_URL
// set, the Redis check pings a real Redis.
func TestReadyzReport(t *testing.T) {
	t.Parallel()
	redis := os.Getenv("CHORUS_TEST_REDIS_URL")
	if redis == "" {
		t.Log("CHORUS_TEST_REDIS_URL is not set: the Redis check is reported off")
	}
	g := startGateway(t, func(c *config.Config) { c.RedisURL = redis; c.Usage.QueueSize = 1234 })
	r := g.do("GET", "/readyz", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("/readyz = %d %s", r.Status, r.Body)
	}
	rep := readyReport(t, r)
	c := rep.Checks
	if rep.Status != "ok" {
		t.Errorf("status %q, want ok: %s", rep.Status, r.Body)
	}
	for name, ch := range map[string]manage.Check{"draining": c.Draining, "database": c.Database, "migrations": c.Migrations, "registry": c.Registry, "usage_queue": c.UsageQueue} {
		if ch.Status != manage.CheckOK {
			t.Errorf("%s = %+v, want ok", name, ch)
		}
	}
	if c.Registry.Version == nil || *c.Registry.Version < 0 {
		t.Errorf("registry version %v", c.Registry.Version)
	}
	if c.UsageQueue.Capacity == nil || *c.UsageQueue.Capacity != 1234 || c.UsageQueue.Depth == nil {
		t.Errorf("usage queue %+v, want capacity 1234 and a depth", c.UsageQueue)
	}
	wantRedis := manage.CheckOff
	if redis != "" {
		wantRedis = manage.CheckOK
	}
	if c.Redis.Status != wantRedis {
		t.Errorf("redis %+v, want %s", c.Redis, wantRedis)
	}
	if c.RollupLag.Status != manage.CheckOK || c.RollupLag.Seconds == nil || *c.RollupLag.Seconds < 0 {
		t.Errorf("rollup lag %+v, want ok with the lag in seconds", c.RollupLag)
	}
	if c.Replicas == nil || len(c.Replicas) != 0 {
		t.Errorf("replicas %v, want an empty list", c.Replicas)
	}

	g.App.Manage.Drain()
	r = g.do("GET", "/readyz", "", nil)
	rep = readyReport(t, r)
	if r.Status != http.StatusServiceUnavailable || rep.Status != "unavailable" || rep.Checks.Draining.Status != manage.CheckFail ||
		rep.Checks.Draining.Message != "draining: shutting down" || rep.Checks.Database.Status != manage.CheckOK {
		t.Errorf("while draining: %d %s", r.Status, r.Body)
	}
}
