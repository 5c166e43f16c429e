package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

// internalDSNs are a fresh SQLite file and, when CHORUS_TEST_POSTGRES_URL
// is set, a fresh PostgreSQL schema.
func internalDSNs(t *testing.T) map[string]string {
	t.Helper()
	dsns := map[string]string{DialectSQLite: filepath.Join(t.TempDir(), "chorus.db")}
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		return dsns
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "chorus_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Error(err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsns[DialectPostgres] = u.String()
	return dsns
}

// TestUsageMonthlyMigration migrates a database whose daily rollups hold
// two months to 0021: the monthly rollups hold those months' sums and
// merged sketches (decimal-form sketches of before, joined), the next
// batch merges into them, and on PostgreSQL a rollup transaction of a
// worker that does not keep the monthly rollups fails.
func TestUsageMonthlyMigration(t *testing.T) {
	for name, dsn := range internalDSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ms, err := migrations(migrationFS, db.d)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.version >= 21 {
					break
				}
				if err := db.migrate(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			// Daily rollups as an older worker wrote them: 3 days of one
			// cell, two in March, one in April.
			days := []time.Time{time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 0, 0, 0, 0, time.UTC),
				time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
			lat := []string{"z0 10:2 20:1", "z1 10:1 30:4", "z0 50:3"}
			for i, d := range days {
				if _, err := db.wdb.ExecContext(ctx, db.d.rebind(`INSERT INTO usage_daily (bucket, team_id, key_id, user_id, model, deployment,
					provider, status, requests, errors, cost, energy_wh, latency_ms_sum, latency_sketch, ttft_sketch)
					VALUES (?, 1, 2, 3, 'm', 'm-a', 'openai', 200, ?, 1, ?, 0.5, 100, ?, '')`), db.d.args([]any{d, int64(3 + 2*i), int64(1000 * (i + 1)), lat[i]})...); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			report := func(since, until time.Time, fine bool) *chorus.UsageRow {
				t.Helper()
				rows, err := db.usageReport(ctx, chorus.UsageQuery{Since: since, Until: until, Percentiles: true}, chorus.Page{}, fine)
				if err != nil || len(rows) != 1 {
					t.Fatalf("report: %v, %v", rows, err)
				}
				return rows[0]
			}
			march, april, may := days[0].AddDate(0, 0, -1), days[2], days[2].AddDate(0, 1, 0)
			if spans := rollupSpans(&chorus.UsageQuery{Since: march, Until: may}, false); len(spans) != 1 || spans[0].table != "usage_monthly" {
				t.Fatalf("spans %v, want the monthly rollups alone", spans)
			}
			same := func(what string, c, f *chorus.UsageRow) {
				t.Helper()
				if c.Requests != f.Requests || c.Errors != f.Errors || c.Cost != f.Cost || c.EnergyWh != f.EnergyWh ||
					*c.LatencyMSP50 != *f.LatencyMSP50 || *c.LatencyMSP99 != *f.LatencyMSP99 || c.LatencyMSMean != f.LatencyMSMean {
					t.Fatalf("%s: monthly %+v\ndaily %+v", what, *c, *f)
				}
			}
			c, f := report(march, may, false), report(march, may, true)
			same("after the migration", c, f)
			if c.Requests != 3+5+7 || c.Cost != 6000 {
				t.Fatalf("after the migration: %d requests costing %d, want 15 costing 6000", c.Requests, c.Cost)
			}
			var stored string
			if err := db.rdb.QueryRowContext(ctx, db.d.rebind(`SELECT latency_sketch FROM usage_monthly WHERE bucket = ?`), db.d.args([]any{march})...).Scan(&stored); err != nil ||
				strings.Count(stored, "|") != 1 {
				t.Fatalf("March's stored sketch %q (%v): want the two days' joined", stored, err)
			}

			// The next batch for March merges into the backfilled row.
			if err := db.InsertUsage(ctx, []chorus.Usage{{Key: "k1", RequestID: "r1", TeamID: 1, KeyID: 2, UserID: 3, Model: "m", Deployment: "m-a",
				Provider: "openai", Status: 200, LatencyMS: 77, Cost: 10, CreatedAt: days[1].Add(5 * time.Hour)}}); err != nil {
				t.Fatal(err)
			}
			if n, err := db.RollUsage(ctx, RollOptions{}); err != nil || n != 1 {
				t.Fatalf("rolled %d, %v", n, err)
			}
			c, f = report(march, april, false), report(march, april, true)
			same("after a batch", c, f)
			if err := db.rdb.QueryRowContext(ctx, db.d.rebind(`SELECT latency_sketch FROM usage_monthly WHERE bucket = ?`), db.d.args([]any{march})...).Scan(&stored); err != nil ||
				!strings.HasPrefix(stored, "~") || strings.Contains(stored, "|") {
				t.Fatalf("March's stored sketch %q (%v): want it merged, compact", stored, err)
			}

			if name != DialectPostgres {
				return
			}
			// An older worker: the hourly and daily rollups only.
			_, err = db.wdb.ExecContext(ctx, `INSERT INTO usage_daily (bucket, team_id, key_id, user_id, model, deployment, provider, status, requests)
				VALUES ($1, 1, 2, 3, 'm', 'm-a', 'openai', 200, 1) ON CONFLICT (bucket, team_id, key_id, user_id, model, deployment, provider, status)
				DO UPDATE SET requests = usage_daily.requests + 1`, days[0])
			if err == nil || !strings.Contains(err.Error(), "monthly rollups") {
				t.Fatalf("an older worker's write to usage_daily: %v, want it refused", err)
			}
		})
	}
}
