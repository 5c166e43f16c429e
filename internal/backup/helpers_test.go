package backup

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// clock is a fake clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)} }

// testContext is a context bounded well within the test's limits.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openSQLite returns a migrated SQLite store in a temporary directory
// and its DSN.
func openSQLite(t *testing.T) (*store.DB, string) {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "chorus.db")
	return openMigrated(t, dsn), dsn
}

// postgresBase returns the test server's URL, or skips (fails with
// CHORUS_REQUIRE_SERVICES=1).
func postgresBase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		t.Skip("PostgreSQL tests skipped: set CHORUS_TEST_POSTGRES_URL")
	}
	return base
}

// freshPostgres creates an empty database on the test server, dropped at
// the end of the test, and returns its URL. pg_dump copies a whole
// database, so these tests do not share one.
func freshPostgres(t *testing.T) string {
	t.Helper()
	base := postgresBase(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("chorus_backup_test_%d", time.Now().UnixNano())
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() { dropTestDatabase(t, base, name) })
	u.Path = "/" + name
	return u.String()
}

// dropTestDatabase drops name (a test's database, or one a restore made).
func dropTestDatabase(t *testing.T, base, name string) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Error(err)
		return
	}
	defer admin.Close()
	if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

// openMigrated opens dsn and brings its schema up to date.
func openMigrated(t *testing.T, dsn string) *store.DB {
	t.Helper()
	ctx := testContext(t)
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// seed writes a little of everything a backup must carry: users and
// teams, ledger postings, audit entries.
func seed(t *testing.T, db *store.DB, tag string, n int) {
	t.Helper()
	ctx := chorus.NewContextWithActor(testContext(t), chorus.Actor{System: "test"})
	for i := 0; i < n; i++ {
		u := &chorus.User{Email: fmt.Sprintf("%s-%d@example.test", tag, i), Name: "Backup", Role: chorus.RoleCustomer}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Post(ctx, &chorus.Posting{IdempotencyKey: fmt.Sprintf("%s-grant-%d", tag, i), Kind: chorus.PostingGrant,
			Entries: []chorus.LedgerEntry{
				{Account: chorus.AccountPromotions, Amount: -int64(1000 + i)},
				{Account: chorus.WalletAccount(u.TeamID), Amount: int64(1000 + i)},
			}}); err != nil {
			t.Fatal(err)
		}
		if err := db.Audit(ctx, &chorus.AuditEntry{Action: "test.seeded", TargetType: "user", TargetID: fmt.Sprint(u.ID)}); err != nil {
			t.Fatal(err)
		}
	}
}

// rows counts a table's rows.
func rows(t *testing.T, db *store.DB, table string) int64 {
	t.Helper()
	counts, err := db.TableCounts(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := counts[table]
	if !ok {
		t.Fatalf("no table %s", table)
	}
	return n
}

// tamper runs SQL statements on a backup's data (a SQLite file, or a
// PostgreSQL dump through a scratch database), then rewrites the manifest's
// checksum and size to match, so that only the checks of the restored
// data can notice.
func tamper(t *testing.T, b *Backuper, m *Manifest, stmts ...string) {
	t.Helper()
	ctx := testContext(t)
	if m.Kind == KindSQLite {
		db, err := sql.Open("sqlite", m.DataPath())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				t.Fatalf("tamper: %s: %v", s, err)
			}
		}
		db.Close()
	} else {
		tamperDump(t, b, m, stmts)
	}
	var err error
	if m.Size, m.SHA256, err = hashFile(m.DataPath()); err != nil {
		t.Fatal(err)
	}
	if err := m.write(); err != nil {
		t.Fatal(err)
	}
}

// tamperDump restores a dump into a scratch database, changes it and dumps
// it again over the backup's file.
func tamperDump(t *testing.T, b *Backuper, m *Manifest, stmts []string) {
	t.Helper()
	ctx := testContext(t)
	tl, err := b.tools()
	if err != nil {
		t.Fatal(err)
	}
	src, err := parsePG(b.opts.DSN)
	if err != nil {
		t.Fatal(err)
	}
	scratch := src.withDatabase(scratchName())
	if err := createDatabase(ctx, src, scratch.database); err != nil {
		t.Fatal(err)
	}
	defer dropTestDatabase(t, postgresBase(t), scratch.database)
	if err := tl.restore(ctx, scratch, m.DataPath(), false); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", scratch.pgxURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("tamper: %s: %v", s, err)
		}
	}
	db.Close()
	if err := os.Remove(m.DataPath()); err != nil {
		t.Fatal(err)
	}
	if err := tl.dump(ctx, scratch, "", m.DataPath()); err != nil {
		t.Fatal(err)
	}
}

// problemsContain fails unless one of v's problems contains want.
func problemsContain(t *testing.T, v *Verification, want string) {
	t.Helper()
	if v.OK {
		t.Fatalf("verification passed; want a problem containing %q", want)
	}
	for _, p := range v.Problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Fatalf("problems %q: none contains %q", v.Problems, want)
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
