package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chorusgw/chorus/internal/store"
)

// RestoreOptions say how to restore.
type RestoreOptions struct {
	// DryRun verifies the backup and inspects the target, changing nothing.
	DryRun bool
	// Force replaces a database that holds data.
	Force bool
}

// RestoreResult is what Restore did, or with DryRun would do.
type RestoreResult struct {
	Backup *Manifest
	// Verification is the backup's, restored into a scratch database.
	Verification *Verification
	// Target describes the database restored into (no password).
	Target string
	// TargetHasData is whether the target held a Chorus schema before.
	TargetHasData bool
	// Created is whether the target database had to be created
	// (PostgreSQL; with DryRun: would have to be).
	Created bool
	// Restored is whether the target was replaced (false with DryRun).
	Restored bool
	// After is the check of the restored target (nil with DryRun).
	After *Verification
}

// ErrTargetHasData is returned when the target holds data and Force is
// not set.
var ErrTargetHasData = errors.New("the target database holds data: pass --force to replace it")

// Restore verifies the backup m, then replaces the database named by dsn
// with it and checks the result against the manifest. It refuses a backup
// that fails verification, a target that holds data (unless Force) and,
// on PostgreSQL, a target other sessions are connected to (a running
// instance). A restore is all or nothing: SQLite's file is swapped in by
// a rename, PostgreSQL's load is one transaction.
func (b *Backuper) Restore(ctx context.Context, m *Manifest, dsn string, opts RestoreOptions) (*RestoreResult, error) {
	res := &RestoreResult{Backup: m}
	v, err := b.verify(ctx, m)
	if err != nil {
		return res, err
	}
	res.Verification = v
	if !v.OK {
		return res, fmt.Errorf("backup %s failed verification, not restored: %s", m.ID, strings.Join(v.Problems, "; "))
	}
	isPG := strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
	if (m.Kind == KindPostgres) != isPG {
		return res, fmt.Errorf("backup %s is a %s backup; the configured database is not", m.ID, m.Kind)
	}
	if isPG {
		err = b.restorePostgres(ctx, m, dsn, opts, res)
	} else {
		err = restoreSQLite(ctx, m, dsn, opts, res)
	}
	if err != nil || opts.DryRun {
		return res, err
	}
	db, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		return res, fmt.Errorf("open the restored database: %w", err)
	}
	defer db.Close()
	res.After = &Verification{Problems: []string{}}
	Check(ctx, db, m, res.After)
	res.After.OK = len(res.After.Problems) == 0
	res.After.At = b.opts.Now().UTC()
	if !res.After.OK {
		return res, fmt.Errorf("the restored database does not match the backup: %s", strings.Join(res.After.Problems, "; "))
	}
	return res, nil
}

// restoreSQLite swaps the backup's file in for the database file.
func restoreSQLite(ctx context.Context, m *Manifest, dsn string, opts RestoreOptions, res *RestoreResult) error {
	path := store.SQLitePath(dsn)
	res.Target = path
	if _, err := os.Stat(path); err == nil {
		has, err := hasData(ctx, dsn)
		switch {
		case err != nil && !opts.Force:
			return fmt.Errorf("%w (pass --force to replace it)", err)
		case err != nil:
			has = true // unreadable, perhaps the very corruption being repaired: replaced
		}
		res.TargetHasData = has
	}
	if opts.DryRun {
		return nil
	}
	if res.TargetHasData && !opts.Force {
		return ErrTargetHasData
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmp := path + ".restoring"
	_ = os.Remove(tmp)
	if err := copyFile(m.DataPath(), tmp); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The old database's write-ahead log must not be replayed into the
	// restored file.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	res.Restored = true
	return syncDir(filepath.Dir(path))
}

// restorePostgres loads the dump into the configured database, creating
// it if it does not exist.
func (b *Backuper) restorePostgres(ctx context.Context, m *Manifest, dsn string, opts RestoreOptions, res *RestoreResult) error {
	tl, err := b.tools()
	if err != nil {
		return err
	}
	t, err := parsePG(dsn)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	res.Target = t.url
	exists, err := databaseExists(ctx, t)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	res.Created = !exists
	if exists {
		if err := inspectPostgres(ctx, dsn, res); err != nil {
			return err
		}
	}
	if opts.DryRun {
		return nil
	}
	if res.TargetHasData && !opts.Force {
		return ErrTargetHasData
	}
	if !exists {
		if err := createDatabase(ctx, t, t.database); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := tl.restore(ctx, t, m.DataPath(), res.TargetHasData); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	res.Restored = true
	return nil
}

// inspectPostgres refuses a target other sessions use and notes whether
// it holds data.
func inspectPostgres(ctx context.Context, dsn string, res *RestoreResult) error {
	db, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 1})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	n, err := db.OtherSessions(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("restore: %d other sessions are connected to the target database (a running instance?): stop every instance first", n)
	}
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	res.TargetHasData = current > 0
	return nil
}

// hasData reports whether the database at dsn holds a Chorus schema.
func hasData(ctx context.Context, dsn string) (bool, error) {
	db, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 1})
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	return current > 0, nil
}
