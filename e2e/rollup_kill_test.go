package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// TestRollupKill runs the chorus binary with the rollup worker rolling
// small batches every few milliseconds and the usage writer flushing as
// often, on SQLite and (when CHORUS_TEST_POSTGRES_URL is set) PostgreSQL,
// puts load on it and SIGKILLs it four times, restarting it on the same
// database in between — with records waiting to be rolled at the kills
// (checked), so usage batches and rollup transactions are cut off in
// flight — then lets a last clean run catch up and checks that
// every usage record is in the rollups exactly once: the hourly, daily and
// monthly rollups' requests, errors, tokens and cost equal the brute-force
// sums over the records, per model and hour, and no record key is stored
// twice.
func TestRollupKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	bin := buildChorus(t)
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T, dataDir string) string
	}{
		{"sqlite", func(t *testing.T, dataDir string) string { return filepath.Join(dataDir, "chorus.db") }},
		{"postgres", func(t *testing.T, _ string) string {
			base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
			if base == "" {
				if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
					t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
				}
				t.Skip("set CHORUS_TEST_POSTGRES_URL to run on PostgreSQL too")
			}
			return postgresSchema(t, base)
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			data := t.TempDir()
			dsn := b.dsn(t, data)
			setup := prepareKill(t, dsn)
			start := func() *process {
				listen := freePort(t)
				env := chorusEnv("CHORUS_DATA_DIR="+data, "CHORUS_LISTEN="+listen, "CHORUS_MASTER_KEY="+apptest.MasterKey,
					"CHORUS_BOOTSTRAP=false", "CHORUS_LOG_LEVEL=warn", "CHORUS_BILLING_MODE="+config.BillingStrict,
					"CHORUS_USAGE_FLUSH_INTERVAL=20ms", "CHORUS_USAGE_BATCH_SIZE=100",
					"CHORUS_USAGE_ROLLUP_INTERVAL=10ms", "CHORUS_USAGE_ROLLUP_BATCH=40", "CHORUS_USAGE_FINALIZE_AFTER=1s")
				if !strings.HasSuffix(dsn, ".db") {
					env = append(env, "CHORUS_DATABASE_URL="+dsn)
				}
				return startProcess(t, bin, listen, env)
			}
			load := &killLoad{received: map[string]int64{}}
			behind := 0 // kills that left records not yet rolled: the worker was at work
			for round := range 4 {
				p := start()
				loadThenKill(t, p, setup.key, fmt.Sprintf("rollkill-%d", round), load, 1200*time.Millisecond)
				n, lag := rollupState(t, dsn)
				t.Logf("kill %d: %d usage records, the oldest not rolled %v old", round+1, n, lag.Round(time.Millisecond))
				if lag > 0 {
					behind++
				}
			}
			if behind == 0 {
				t.Errorf("every kill found the rollups caught up: none was cut off with records to roll")
			}
			// A clean run drains: the writer's spool, then the rollups
			// (strict records whose completion died with a process are
			// rolled after usage.finalize_after).
			p := start()
			deadline := time.Now().Add(30 * time.Second)
			for {
				if _, lag := rollupState(t, dsn); lag == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the rollups did not catch up within 30s")
				}
				time.Sleep(100 * time.Millisecond)
			}
			p.stop(t, 15*time.Second)
			if len(load.received) < 100 {
				t.Fatalf("only %d responses received under load", len(load.received))
			}
			checkRollupsAgainstRecords(t, dsn, len(load.received))
		})
	}
}

// rollupState is how many usage records dsn holds and the rollups' lag.
func rollupState(t *testing.T, dsn string) (int64, time.Duration) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.CountUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lag, err := db.UsageRollupLag(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n, lag
}

// rollSums are the sums the test compares.
type rollSums struct{ requests, errors, tokens, cost int64 }

// checkRollupsAgainstRecords compares the rollups with brute-force sums
// over the usage records (per model and hour from the hourly rollups, per
// model and day from the daily ones, per model over everything — whole
// months — from the monthly ones), and checks that no record key is
// stored twice and that at least received records are stored.
func checkRollupsAgainstRecords(t *testing.T, dsn string, received int) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hourly, daily, total := map[string]rollSums{}, map[string]rollSums{}, map[string]rollSums{}
	records := 0
	add := func(m map[string]rollSums, k string, u *chorus.Usage) {
		s := m[k]
		s.requests++
		if u.Status >= 400 {
			s.errors++
		}
		s.tokens += u.InputTokens + u.OutputTokens
		s.cost += u.Cost
		m[k] = s
	}
	if err := db.ExportUsage(ctx, chorus.UsageFilter{}, func(u *chorus.Usage) error {
		records++
		at := u.CreatedAt.UTC()
		add(hourly, u.Model+"|"+at.Truncate(time.Hour).Format(time.RFC3339), u)
		add(daily, u.Model+"|"+at.Truncate(24*time.Hour).Format(time.RFC3339), u)
		add(total, u.Model, u)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	keys := distinctRecordKeys(t, dsn)
	if keys != records {
		t.Errorf("%d usage records hold %d record keys: a request was stored twice", records, keys)
	}
	if records < received {
		t.Errorf("%d usage records for %d responses received whole", records, received)
	}
	for _, c := range []struct {
		name string
		q    chorus.UsageQuery
		want map[string]rollSums
	}{
		{"hourly", chorus.UsageQuery{Interval: chorus.IntervalHour, GroupBy: []string{chorus.DimModel}}, hourly},
		{"daily", chorus.UsageQuery{Interval: chorus.IntervalDay, GroupBy: []string{chorus.DimModel}}, daily},
		{"monthly", chorus.UsageQuery{GroupBy: []string{chorus.DimModel}}, total},
	} {
		rows, err := db.UsageReport(ctx, c.q, chorus.Page{Limit: chorus.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]rollSums{}
		for _, r := range rows {
			k := *r.Model
			if r.Bucket != nil {
				k += "|" + r.Bucket.UTC().Format(time.RFC3339)
			}
			got[k] = rollSums{r.Requests, r.Errors, r.InputTokens + r.OutputTokens, r.Cost}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s rollups: %d rows, the records give %d", c.name, len(got), len(c.want))
		}
		for k, w := range c.want {
			if got[k] != w {
				t.Errorf("%s rollups %q: %+v, the records give %+v", c.name, k, got[k], w)
			}
		}
	}
	t.Logf("%d usage records (%d keys) for %d responses received whole; the hourly, daily and monthly rollups equal their sums", records, keys, received)
}

// distinctRecordKeys counts the distinct record keys of dsn's usage
// records (the store's own listings do not show them).
func distinctRecordKeys(t *testing.T, dsn string) int {
	t.Helper()
	driver := "pgx"
	if strings.HasSuffix(dsn, ".db") {
		driver = "sqlite"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(DISTINCT record_key) FROM usage_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
