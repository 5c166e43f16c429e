package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/store"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for raw reads
)

// backend is one database the suite runs against.
type backend struct {
	name string
	// newDSN returns the DSN of a fresh, empty database that is removed when
	// the test ends.
	newDSN func(tb testing.TB) string
}

// eachDB runs fn as the subtests "sqlite" and "postgres". PostgreSQL runs
// when CHORUS_TEST_POSTGRES_URL is set, each test in its own schema; it is
// skipped otherwise, or fails when CHORUS_REQUIRE_SERVICES=1.
func eachDB(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, backend{name: store.DialectSQLite, newDSN: sqliteDSN})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, postgresBackend(t))
	})
}

// eachDBBench is eachDB for benchmarks.
func eachDBBench(b *testing.B, fn func(b *testing.B, be backend)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) {
		fn(b, backend{name: store.DialectSQLite, newDSN: sqliteDSN})
	})
	b.Run("postgres", func(b *testing.B) {
		fn(b, postgresBackend(b))
	})
}

// postgresBackend returns the PostgreSQL backend, or skips (or fails) the
// test when none is configured.
func postgresBackend(tb testing.TB) backend {
	tb.Helper()
	base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
	if base == "" {
		if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
			tb.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
		}
		tb.Skip("PostgreSQL tests skipped: set CHORUS_TEST_POSTGRES_URL")
	}
	return backend{name: store.DialectPostgres, newDSN: func(tb testing.TB) string { return postgresDSN(tb, base) }}
}

func sqliteDSN(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "chorus.db")
}

// postgresDSN creates a schema of its own and returns base with search_path
// set to it, so that tests never see each other's tables.
func postgresDSN(tb testing.TB, base string) string {
	tb.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	schema := "chorus_test_" + randomHex(6)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			tb.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// testKey is the sealing key of the test suite.
var testKey = bytes.Repeat([]byte{7}, secret.KeySize)

func testSealer(tb testing.TB, key []byte) *secret.Sealer {
	tb.Helper()
	s, err := secret.NewSealer(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustOpenDB returns a migrated DB on a fresh database of backend b, with
// the test sealer unless opts says otherwise.
func MustOpenDB(tb testing.TB, b backend, opts ...func(*store.Options)) *store.DB {
	tb.Helper()
	db := mustOpen(tb, b.newDSN(tb), opts...)
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// mustOpen opens dsn without migrating and closes it when the test ends.
func mustOpen(tb testing.TB, dsn string, opts ...func(*store.Options)) *store.DB {
	tb.Helper()
	o := store.Options{Sealer: testSealer(tb, testKey)}
	for _, f := range opts {
		f(&o)
	}
	db, err := store.Open(context.Background(), dsn, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

func withNow(now func() time.Time) func(*store.Options) {
	return func(o *store.Options) { o.Now = now }
}

func withSealer(s *secret.Sealer) func(*store.Options) {
	return func(o *store.Options) { o.Sealer = s }
}

// rawDB opens dsn with the bare driver, for reading what the store wrote.
func rawDB(tb testing.TB, b backend, dsn string) *sql.DB {
	tb.Helper()
	driver := "pgx"
	if b.name == store.DialectSQLite {
		driver = "sqlite"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// assertCode fails unless err carries the chorus error code want.
func assertCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := chorus.ErrorCode(err); got != want {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, want)
	}
}

func mustCreateUser(tb testing.TB, db *store.DB, email string) *chorus.User {
	tb.Helper()
	u := &chorus.User{Email: email, Name: "User " + email, Role: chorus.RoleCustomer}
	if err := db.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

// keyHash is how callers hash key secrets.
func keyHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func mustCreateKey(tb testing.TB, db *store.DB, userID int64, secret string, edit ...func(*chorus.APIKey)) *chorus.APIKey {
	tb.Helper()
	k := &chorus.APIKey{Name: "key " + secret, Prefix: secret[:min(8, len(secret))], Hash: keyHash(secret), UserID: userID}
	for _, f := range edit {
		f(k)
	}
	if err := db.CreateKey(context.Background(), k); err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustCreateModel(tb testing.TB, db *store.DB, name string) *chorus.Model {
	tb.Helper()
	m := &chorus.Model{Name: name, Kind: chorus.KindChat, ContextWindow: 128000, MaxOutput: 4096, Enabled: true, OwnedBy: "chorus"}
	if err := db.CreateModel(context.Background(), m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func mustCreateCredential(tb testing.TB, db *store.DB, name, secret string) *chorus.Credential {
	tb.Helper()
	c := &chorus.Credential{Name: name, Provider: chorus.ProviderOpenAI, Secret: secret}
	if err := db.CreateCredential(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

func mustCreateDeployment(tb testing.TB, db *store.DB, modelID int64, name string, credID *int64) *chorus.Deployment {
	tb.Helper()
	d := &chorus.Deployment{
		ModelID: modelID, Name: name, Provider: chorus.ProviderOpenAI, UpstreamModel: "gpt-4o-mini",
		BaseURL: "https://api.example.com/v1", CredentialID: credID, InputPrice: 150_000, OutputPrice: 600_000,
		Weight: 1, Enabled: true,
	}
	if err := db.CreateDeployment(context.Background(), d); err != nil {
		tb.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("SQLiteForms", func(t *testing.T) {
		dir := t.TempDir()
		for _, dsn := range []string{
			filepath.Join(dir, "a", "b", "plain.db"),
			"sqlite:" + filepath.Join(dir, "c", "prefixed.db"),
			"file:" + filepath.Join(dir, "d", "file.db"),
		} {
			db, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatalf("%s: %v", dsn, err)
			}
			if got, want := db.Dialect(), store.DialectSQLite; got != want {
				t.Errorf("%s: dialect %q, want %q", dsn, got, want)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("%s: %v", dsn, err)
			}
			db.Close()
		}
		for _, name := range []string{"a/b/plain.db", "c/prefixed.db", "d/file.db"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: mode %v, want 0600", name, got)
			}
		}
	})
	t.Run("ErrMemory", func(t *testing.T) {
		_, err := store.Open(ctx, ":memory:", store.Options{})
		if err == nil || !strings.Contains(err.Error(), "in-memory SQLite is not supported") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrQuery", func(t *testing.T) {
		_, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db")+"?_pragma=foo", store.Options{})
		if err == nil {
			t.Fatal("a path with query parameters was accepted")
		}
	})
	eachDB(t, func(t *testing.T, b backend) {
		db := mustOpen(t, b.newDSN(t))
		if got := db.Dialect(); got != b.name {
			t.Errorf("dialect %q, want %q", got, b.name)
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPageLimit(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		recs := make([]chorus.Usage, chorus.MaxPageSize+20)
		for i := range recs {
			recs[i] = usageRecord(i, 1, 1, time.Time{})
		}
		if err := db.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			limit, want int
		}{{0, chorus.DefaultPageSize}, {-3, 1}, {1, 1}, {7, 7}, {chorus.MaxPageSize + 1, chorus.MaxPageSize}, {1 << 30, chorus.MaxPageSize}} {
			got, err := db.ListUsage(ctx, chorus.UsageFilter{}, chorus.Page{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("Limit %d: got %d items, want %d", tt.limit, len(got), tt.want)
			}
		}
	})
}

// walk collects every item of a paged list, failing on a repeated or
// out-of-order ID.
func walk[T any](tb testing.TB, limit int, id func(T) int64, list func(chorus.Page) ([]T, error)) []int64 {
	tb.Helper()
	var ids []int64
	page := chorus.Page{Limit: limit}
	for i := 0; ; i++ {
		items, err := list(page)
		if err != nil {
			tb.Fatal(err)
		}
		if len(items) > limit {
			tb.Fatalf("page %d has %d items, limit %d", i, len(items), limit)
		}
		for _, it := range items {
			if n := len(ids); n > 0 && id(it) <= ids[n-1] {
				tb.Fatalf("ID %d after %d: not strictly increasing", id(it), ids[n-1])
			}
			ids = append(ids, id(it))
		}
		if len(items) < limit {
			return ids
		}
		page.After = ids[len(ids)-1]
		if i > 10000 {
			tb.Fatal("pagination does not end")
		}
	}
}

func equalIDs(a, b []int64) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
