package e2e_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
)

// TestBootstrapRace starts three instances at once on one empty PostgreSQL
// database with bootstrap on, as a fleet's first deployment does: every one
// must start, and exactly one admin, one bootstrap key and one set of
// simulator models must exist afterwards.
func TestBootstrapRace(t *testing.T) {
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("set CHORUS_TEST_POSTGRES_URL to run the bootstrap race")
	}
	t.Parallel()
	dsn := postgresSchema(t, base)
	const n = 3
	var wg sync.WaitGroup
	apps := make([]*app.App, n)
	errs := make([]error, n)
	outs := make([]bytes.Buffer, n)
	for i := range n {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Listen = "127.0.0.1:0"
		cfg.MasterKey = apptest.MasterKey
		cfg.DatabaseURL = dsn
		cfg.Bootstrap = true
		cfg.Log.Level = "error"
		wg.Add(1)
		go func() {
			defer wg.Done()
			apps[i], errs[i] = app.New(context.Background(), cfg, apptest.Logger(), &outs[i])
		}()
	}
	wg.Wait()
	printed := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("instance %d did not start: %v", i, errs[i])
			continue
		}
		if strings.Contains(outs[i].String(), app.BootstrapAdminEmail) {
			printed++
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- apps[i].Serve(ln) }()
		t.Cleanup(func() {
			_ = apps[i].Shutdown()
			<-done
		})
	}
	if t.Failed() {
		return
	}
	if printed != 1 {
		t.Errorf("%d instances printed first-start credentials, want exactly 1", printed)
	}
	ctx := context.Background()
	db := apps[0].DB
	if users, err := db.CountUsers(ctx); err != nil || users != 1 {
		t.Errorf("%d users (%v), want the one bootstrap admin", users, err)
	}
	models, err := db.ListModels(ctx, chorus.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, m := range models {
		names[m.Name]++
	}
	for name, c := range names {
		if c != 1 {
			t.Errorf("model %s created %d times", name, c)
		}
	}
	if len(names) == 0 {
		t.Error("no simulator models")
	}
}
