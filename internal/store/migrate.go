package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFS holds the schema migrations, named NNNN_description.sql. They
// are applied in order, each in its own transaction, and recorded in
// schema_migrations. A migration that cannot be written portably may come as
// NNNN_description.sqlite.sql and NNNN_description.postgres.sql instead.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one versioned schema change, already expanded for a dialect.
type migration struct {
	version int
	name    string
	sql     string
}

const createSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at {{timestamp}} NOT NULL
)`

// migrations returns the embedded migrations for d, sorted by version.
func migrations(fsys fs.FS, d dialect) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]migration{}
	for _, file := range names {
		base := strings.TrimSuffix(path.Base(file), ".sql")
		if dn := path.Ext(base); dn != "" {
			if dn[1:] != d.name {
				continue // another dialect's variant
			}
			base = strings.TrimSuffix(base, dn)
		}
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", file)
		}
		if prev, dup := byVersion[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d is also %s", file, v, prev.name)
		}
		src, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		q, err := d.ddl(string(src))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", file, err)
		}
		byVersion[v] = migration{version: v, name: name, sql: q}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration versions must run 1, 2, 3…: missing %d", i+1)
		}
	}
	return out, nil
}

// Migrate brings the schema up to date. It is idempotent, applies each
// migration in its own transaction, and is safe when several instances start
// at once: they take turns (PostgreSQL advisory lock, SQLite write lock) and
// each skips what another has applied.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := migrations(migrationFS, db.d)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if err := db.migrate(ctx, m); err != nil {
			return fmt.Errorf("migrate %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, m migration) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if err := db.d.lockMigrations(ctx, tx.Tx); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	create, err := db.d.ddl(createSchemaMigrations)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, create); err != nil {
		return err
	}
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil // applied already, perhaps by another instance a moment ago
	}
	if _, err := tx.exec(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, db.now()); err != nil {
		return err
	}
	return commit(tx)
}

// SchemaVersion returns the version the database is at (0 for an empty
// database) and the latest version this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	ms, err := migrations(migrationFS, db.d)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	latest = len(ms)
	ok, err := db.d.tableExists(ctx, db.rdb, "schema_migrations")
	if err != nil {
		return 0, latest, fmt.Errorf("schema version: %w", err)
	}
	if !ok {
		return 0, latest, nil
	}
	var v *int64
	if err := db.rdb.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, latest, fmt.Errorf("schema version: %w", err)
	}
	if v != nil {
		current = int(*v)
	}
	return current, latest, nil
}

// CheckSchema returns an error unless the database is at exactly the schema
// version this binary needs. The server calls it at start; `chorus migrate`
// is the fix when the database is behind.
func (db *DB) CheckSchema(ctx context.Context) error {
	current, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current < latest:
		return fmt.Errorf("database schema is at version %d, this binary needs %d: run `chorus migrate`", current, latest)
	case current > latest:
		return fmt.Errorf("database schema is at version %d, newer than this binary knows (%d): upgrade chorus", current, latest)
	}
	return nil
}
