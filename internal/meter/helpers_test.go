package meter

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for schema setup

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/webhook"
)

// eachDB runs fn on SQLite and, when CHORUS_TEST_POSTGRES_URL is set, on
// PostgreSQL; newDSN returns a fresh, migrated database's DSN.
func eachDB(t *testing.T, fn func(t *testing.T, dialect string, newDSN func(t *testing.T) string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, store.DialectSQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "chorus.db") })
	})
	t.Run("postgres", func(t *testing.T) {
		base := postgresURL(t)
		fn(t, store.DialectPostgres, func(t *testing.T) string { return postgresSchema(t, base) })
	})
}

func postgresURL(t *testing.T) string {
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

// postgresSchema creates a schema of its own, dropped when the test ends,
// and returns base with search_path set to it.
func postgresSchema(t *testing.T, base string) string {
	t.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "chorus_meter_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err == nil {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openDB opens (and migrates) dsn, closing it when the test ends.
func openDB(t *testing.T, dsn string) *store.DB {
	t.Helper()
	s, err := secret.NewSealer(bytes.Repeat([]byte{9}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), dsn, store.Options{Sealer: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// customer creates a customer with a key, and funds the team's wallet.
func customer(t *testing.T, db *store.DB, name string, credits int64) *chorus.APIKey {
	t.Helper()
	ctx := context.Background()
	u := &chorus.User{Email: name + "@example.com", Name: name, Role: chorus.RoleCustomer}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	k := &chorus.APIKey{Name: name, Prefix: "sk-" + name, Hash: []byte(name), UserID: u.ID}
	if err := db.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.Role = chorus.RoleCustomer
	if credits > 0 {
		if _, err := db.Post(ctx, &chorus.Posting{IdempotencyKey: "fund-" + name, Kind: chorus.PostingTopUp, Entries: []chorus.LedgerEntry{
			{Account: chorus.AccountPayments, Amount: -credits}, {Account: chorus.WalletAccount(u.TeamID), Amount: credits},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// billing returns test billing options for mode: quick flushes and leases.
func billing(mode string) config.Billing {
	b := config.DefaultBilling()
	b.Mode = mode
	b.FlushInterval = 20 * time.Millisecond
	b.LeaseTTL = 2 * time.Second
	b.HoldExpiry = time.Minute
	b.ReapInterval = 50 * time.Millisecond
	b.BudgetRefresh = 50 * time.Millisecond
	b.Webhook.Poll = 20 * time.Millisecond
	b.Webhook.Backoff = 20 * time.Millisecond
	b.Webhook.Timeout = 2 * time.Second
	b.Webhook.AllowPrivate = true
	return b
}

// startMeter starts a meter on db, closed when the test ends.
func startMeter(t *testing.T, db *store.DB, b config.Billing) *Meter {
	t.Helper()
	return startMeterOpts(t, db, Options{Billing: b})
}

// startMeterOpts starts a meter with opts on db, closed when the test ends.
func startMeterOpts(t *testing.T, db *store.DB, opts Options) *Meter {
	t.Helper()
	opts.Logger = testLogger()
	m := New(db, opts)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close meter: %v", err)
		}
	})
	return m
}

// startWebhooks starts a webhook dispatcher on db, closed when the test
// ends.
func startWebhooks(t *testing.T, db *store.DB, c config.Webhook) *webhook.Dispatcher {
	t.Helper()
	d := webhook.New(db, webhook.Options{Webhook: c, Logger: testLogger()})
	d.Start(context.Background())
	t.Cleanup(d.Close)
	return d
}

// balance reads a team's wallet.
func balance(t *testing.T, db *store.DB, team int64) chorus.Balance {
	t.Helper()
	b, err := db.Balance(context.Background(), team)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
