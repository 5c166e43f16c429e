// Package store is Chorus's one database layer: portable SQL over
// database/sql for SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (pgx),
// a small dialect shim, and embedded versioned migrations. It talks in the
// domain types of package chorus and reports errors a caller can act on as
// *chorus.Error (ENOTFOUND, ECONFLICT, EINVALID).
//
// Every method owns its transaction. Every write to models, routes,
// deployments, credentials, API keys or users also bumps the registry
// version in the same transaction, so that instances can poll
// RegistryVersion to know when to rebuild their in-memory snapshot.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long a SQLite connection waits for another process's
// write lock (for example `chorus migrate` next to a running server) before
// reporting SQLITE_BUSY. Writers inside one process never wait on it: they
// queue for the single write connection instead.
const busyTimeout = 10 * time.Second

// Options configure a DB.
type Options struct {
	// Sealer encrypts provider credentials at rest. Without one, credentials
	// can be neither stored nor read (see CheckSecrets).
	Sealer *secret.Sealer
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// MaxOpenConns bounds the connection pool: PostgreSQL connections, or
	// SQLite read connections (SQLite always has exactly one write
	// connection). 0 means a default.
	MaxOpenConns int
	// AuditKey keys the HMACs that stand in for secrets in the audit log
	// (the app derives it from the sealing key with audit.DeriveKey).
	// Without one, a random key is generated once per database and kept in
	// the meta table.
	AuditKey []byte
	// Replicas are PostgreSQL read replicas (connection URLs) that serve
	// the lag-tolerant listings when their lag is within ReplicaMaxLag
	// (DefaultReplicaMaxLag when 0); see replica.go and CheckReplicas.
	Replicas      []string
	ReplicaMaxLag time.Duration
}

// DB is a handle on the Chorus database. It is safe for concurrent use.
type DB struct {
	wdb    *sql.DB // writes; on SQLite a single connection, so writers queue instead of failing with SQLITE_BUSY
	rdb    *sql.DB // reads; the same pool as wdb on PostgreSQL
	d      dialect
	sealer *secret.Sealer
	now    func() time.Time

	usageOnce sync.Once
	usageFull string // the INSERT for a full chunk of usage records

	usageMu    sync.Mutex
	usageStmts map[usageStmtKey]*sql.Stmt // SQLite's prepared usage INSERTs (insertUsageSQLite)

	auditKeys auditKeys

	replicas *replicaSet // nil without read replicas
}

// Open connects to the database named by dsn. A dsn starting with
// "postgres://" or "postgresql://" is PostgreSQL; anything else is a SQLite
// file path, optionally prefixed "sqlite:" or "file:" (parent directories
// are created). Open does not migrate: call Migrate, or CheckSchema to
// refuse to start on an old schema.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	db := &DB{sealer: opts.Sealer, now: opts.Now, auditKeys: auditKeys{configured: opts.AuditKey}}
	if db.now == nil {
		db.now = time.Now
	}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		err = db.openPostgres(dsn, opts)
	} else {
		err = db.openSQLite(dsn, opts)
	}
	if err == nil {
		err = db.openReplicas(opts.Replicas, opts)
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open db: %w", err)
	}
	return db, nil
}

func (db *DB) openPostgres(dsn string, opts Options) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 20
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db.d = dialect{name: DialectPostgres}
	db.wdb, db.rdb = pool, pool
	return nil
}

func (db *DB) openSQLite(dsn string, opts Options) error {
	path := sqlitePath(dsn)
	switch {
	case path == "":
		return errors.New("empty SQLite path")
	case path == ":memory:" || strings.Contains(path, "mode=memory"):
		return errors.New("in-memory SQLite is not supported (it is not shared between connections); use a file path")
	case strings.ContainsRune(path, '?'):
		return fmt.Errorf("SQLite path %q: query parameters are not supported; the store sets its own", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// The file holds password and key hashes and sealed credentials: create
	// it readable by the owner only (SQLite would honour the umask).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the SQLite file the operator configured (database_url / data_dir)
	if err != nil {
		return err
	}
	f.Close()

	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1", busyTimeout.Milliseconds())
	// IMMEDIATE: a write transaction takes the write lock at BEGIN, so it
	// waits (busy_timeout) rather than failing when it first writes.
	wdb, err := sql.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// The write connection switches the file to WAL; open it first.
	if err := wdb.Ping(); err != nil {
		wdb.Close()
		return err
	}
	rdb, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		wdb.Close()
		return err
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = max(4, runtime.NumCPU())
	}
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	db.d = dialect{name: DialectSQLite}
	db.wdb, db.rdb = wdb, rdb
	return nil
}

// sqlitePath strips the optional scheme from a SQLite dsn.
func sqlitePath(dsn string) string {
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if s, ok := strings.CutPrefix(dsn, p); ok {
			return s
		}
	}
	return dsn
}

// Close closes the connection pools.
func (db *DB) Close() error {
	db.usageMu.Lock()
	var err error
	for _, st := range db.usageStmts {
		err = errors.Join(err, st.Close())
	}
	db.usageStmts = nil
	db.usageMu.Unlock()
	err = errors.Join(err, db.wdb.Close())
	if db.rdb != db.wdb {
		err = errors.Join(err, db.rdb.Close())
	}
	return errors.Join(err, db.replicas.close())
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.wdb.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if db.rdb != db.wdb {
		if err := db.rdb.PingContext(ctx); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
	return nil
}

// Dialect returns DialectSQLite or DialectPostgres.
func (db *DB) Dialect() string { return db.d.name }

// begin starts a write transaction.
func (db *DB) begin(ctx context.Context) (*tx, error) {
	t, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &tx{Tx: t, d: db.d, now: db.timeNow}, nil
}

// beginRead starts a read-only transaction whose reads see one snapshot.
func (db *DB) beginRead(ctx context.Context) (*tx, error) {
	t, err := db.rdb.BeginTx(ctx, db.d.readTx())
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &tx{Tx: t, d: db.d, now: db.timeNow}, nil
}

// commit commits tx, wrapping the error.
func commit(tx *tx) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// timeNow returns the current time as it will be stored.
func (db *DB) timeNow() time.Time { return normTime(db.now()) }

// RegistryChannel is the PostgreSQL notification channel on which every
// registry version bump is announced when its transaction commits, so
// that instances LISTENing on it refresh at once instead of at their next
// poll.
const RegistryChannel = "chorus_registry"

// LiveChannel is the PostgreSQL notification channel on which changes a
// console shows live (audited changes, budget alerts) are announced when
// their transaction commits, so instances wake their live update streams
// at once instead of at their next poll.
const LiveChannel = "chorus_live"

// notifyLive announces a change on LiveChannel (PostgreSQL only; once per
// transaction however many times it is called).
func notifyLive(ctx context.Context, tx *tx) error {
	if tx.d.name != DialectPostgres {
		return nil
	}
	if _, err := tx.exec(ctx, `SELECT pg_notify('`+LiveChannel+`', '')`); err != nil {
		return fmt.Errorf("notify live change: %w", err)
	}
	return nil
}

// bumpRegistry increments the registry version inside a write transaction
// and, on PostgreSQL, notifies RegistryChannel (delivered on commit, once
// per transaction however many times it is called).
func bumpRegistry(ctx context.Context, tx *tx) error {
	if _, err := tx.exec(ctx, `UPDATE registry_version SET version = version + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("bump registry version: %w", err)
	}
	if tx.d.name == DialectPostgres {
		if _, err := tx.exec(ctx, `SELECT pg_notify('`+RegistryChannel+`', '')`); err != nil {
			return fmt.Errorf("notify registry change: %w", err)
		}
	}
	return nil
}

// commitRegistryChange ends a write to the registry tables: it bumps the
// registry version, appends the change's audit entry and commits. The
// order is the store's lock order — the registry row before the audit
// head — so two such transactions never wait on each other in a cycle.
func commitRegistryChange(ctx context.Context, tx *tx, e *chorus.AuditEntry) error {
	if err := bumpRegistry(ctx, tx); err != nil {
		return err
	}
	if err := appendAudit(ctx, tx, e); err != nil {
		return err
	}
	return commit(tx)
}

// limit clamps a page's Limit.
func limit(p chorus.Page) int {
	switch {
	case p.Limit == 0:
		return chorus.DefaultPageSize
	case p.Limit < 1:
		return 1
	case p.Limit > chorus.MaxPageSize:
		return chorus.MaxPageSize
	}
	return p.Limit
}

// notFound returns an ENOTFOUND error.
func notFound(format string, args ...any) error {
	return chorus.Errorf(chorus.ENOTFOUND, format, args...)
}

// conflict returns an ECONFLICT error wrapping the database's error.
func conflict(err error, format string, args ...any) error {
	e := chorus.Errorf(chorus.ECONFLICT, format, args...)
	e.Err = err
	return e
}

// affected returns the number of rows a statement changed.
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}
