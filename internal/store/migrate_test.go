package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chorusgw/chorus/internal/store"
)

func TestMigrate(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := mustOpen(t, b.newDSN(t))
			current, latest, err := db.SchemaVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if current != 0 || latest < 1 {
				t.Fatalf("fresh database: got current %d, latest %d; want 0, ≥1", current, latest)
			}
			err = db.CheckSchema(ctx)
			want := fmt.Sprintf("database schema is at version 0, this binary needs %d: run `chorus migrate`", latest)
			if err == nil || err.Error() != want {
				t.Fatalf("CheckSchema: got %v, want %q", err, want)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if current, _, err = db.SchemaVersion(ctx); err != nil || current != latest {
				t.Fatalf("after Migrate: got version %d (%v), want %d", current, err, latest)
			}
			if err := db.CheckSchema(ctx); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("Twice", func(t *testing.T) {
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			mustCreateModel(t, db, "m")
			v1, _ := db.RegistryVersion(ctx)
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			v2, _ := db.RegistryVersion(ctx)
			if v1 != v2 {
				t.Errorf("registry version %d → %d: the second Migrate changed data", v1, v2)
			}
			if _, err := db.ModelByName(ctx, "m"); err != nil {
				t.Errorf("data lost by the second Migrate: %v", err)
			}
			assertMigrationRows(t, b, dsn)
		})

		t.Run("Concurrent", func(t *testing.T) {
			// Three instances starting together on one database.
			dsn := b.newDSN(t)
			dbs := []*store.DB{mustOpen(t, dsn), mustOpen(t, dsn), mustOpen(t, dsn)}
			var wg sync.WaitGroup
			errs := make([]error, len(dbs))
			for i, db := range dbs {
				wg.Go(func() { errs[i] = db.Migrate(ctx) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("instance %d: %v", i, err)
				}
			}
			assertMigrationRows(t, b, dsn)
		})

		t.Run("ErrNewerSchema", func(t *testing.T) {
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			raw := rawDB(t, b, dsn)
			if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', '2099-01-01T00:00:00.000000Z')`); err != nil {
				t.Fatal(err)
			}
			err := db.CheckSchema(ctx)
			if err == nil || !strings.Contains(err.Error(), "version 999, newer than this binary") {
				t.Fatalf("got %v", err)
			}
		})
	})
}

// assertMigrationRows checks that each migration was recorded exactly once.
func assertMigrationRows(t *testing.T, b backend, dsn string) {
	t.Helper()
	raw := rawDB(t, b, dsn)
	var rows, distinct, maxV int
	err := raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM schema_migrations`).Scan(&rows, &distinct, &maxV)
	if err != nil {
		t.Fatal(err)
	}
	if rows != distinct || rows != maxV {
		t.Errorf("schema_migrations: %d rows, %d distinct versions, max %d; want one row per version", rows, distinct, maxV)
	}
	var versions int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM registry_version`).Scan(&versions); err != nil || versions != 1 {
		t.Errorf("registry_version has %d rows (%v), want 1: the first migration ran twice", versions, err)
	}
}
