package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

// TestUsagePartitionMigration migrates a PostgreSQL database holding usage
// records to 0020: the records are kept with their ids, new ids continue
// after the largest, the table is partitioned with the coming months'
// partitions, and a key stored before the migration is still idempotent.
func TestUsagePartitionMigration(t *testing.T) {
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("PostgreSQL tests skipped: set CHORUS_TEST_POSTGRES_URL")
	}
	ctx := context.Background()
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
	db, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	ms, err := migrations(migrationFS, db.d)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= 20 {
			break
		}
		if err := db.migrate(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	old := now.AddDate(0, -2, 0)
	ins := `INSERT INTO usage_records (request_id, key_id, user_id, model, endpoint, stream, status, created_at, record_key, cost, rolled)
		VALUES ($1, 1, 1, 'm', '/v1/chat/completions', false, 200, $2, $3, $4, $5)`
	for _, r := range []struct {
		req  string
		at   time.Time
		key  any
		cost int64
	}{{"r1", old, nil, 10}, {"r2", now, "k2", 20}, {"r3", now, nil, 30}} {
		if _, err := db.wdb.ExecContext(ctx, ins, r.req, r.at, r.key, r.cost, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.wdb.ExecContext(ctx, `INSERT INTO usage_records (id, request_id, key_id, user_id, model, endpoint, stream, status, created_at)
		VALUES (1000, 'r4', 1, 1, 'm', '/v1/chat/completions', false, 200, $1)`, now); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	var kind string
	if err := db.wdb.QueryRowContext(ctx, `SELECT relkind::text FROM pg_class WHERE oid = 'usage_records'::regclass`).Scan(&kind); err != nil || kind != "p" {
		t.Fatalf("usage_records relkind %q (%v), want p (partitioned)", kind, err)
	}
	m0 := monthStart(now)
	for i := -2; i <= 3; i++ {
		name := usagePartitionPrefix + m0.AddDate(0, i, 0).Format("200601")
		var ok bool
		if err := db.wdb.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil || !ok {
			t.Errorf("partition %s missing (%v)", name, err)
		}
	}
	var n, sum int64
	if err := db.wdb.QueryRowContext(ctx, `SELECT count(*), sum(cost) FROM usage_records WHERE id IN (1, 2, 3, 1000)`).Scan(&n, &sum); err != nil || n != 4 || sum != 60 {
		t.Fatalf("after migration: %d records, cost %d (%v); want 4, 60", n, sum, err)
	}
	if err := db.wdb.QueryRowContext(ctx, `SELECT count(*) FROM usage_records_default`).Scan(&n); err != nil || n != 0 {
		t.Errorf("default partition holds %d records (%v), want 0", n, err)
	}

	// The stored key: written again, still one record, completed.
	recs := []chorus.Usage{
		{Key: "k2", RequestID: "r2", KeyID: 1, UserID: 1, Model: "m", Endpoint: "/v1/chat/completions", Status: 200, LatencyMS: 5, CreatedAt: now},
		{Key: "k5", RequestID: "r5", KeyID: 1, UserID: 1, Model: "m", Endpoint: "/v1/chat/completions", Status: 200, CreatedAt: now},
	}
	for range 2 {
		if err := db.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	var lat float64
	if err := db.wdb.QueryRowContext(ctx, `SELECT count(*), max(latency_ms) FROM usage_records WHERE record_key = 'k2'`).Scan(&n, &lat); err != nil || n != 1 || lat != 5 {
		t.Errorf("k2: %d records, latency %v (%v); want 1, 5", n, lat, err)
	}
	var id int64
	if err := db.wdb.QueryRowContext(ctx, `SELECT count(*), max(id) FROM usage_records WHERE record_key = 'k5'`).Scan(&n, &id); err != nil || n != 1 || id <= 1000 {
		t.Errorf("k5: %d records, id %d (%v); want 1, id after 1000", n, id, err)
	}
}
