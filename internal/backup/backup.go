// Package backup takes, verifies, prunes and restores Chorus's backups:
// a consistent copy of the database (SQLite: VACUUM INTO; PostgreSQL:
// pg_dump in custom format at an exported snapshot) with a manifest of its
// row counts and checksum, verified by restoring it into a scratch
// database and checking it (schema version, ledger and holds invariants,
// the audit chain, row counts). See docs/backups.md.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chorusgw/chorus/internal/store"
)

// Options configure a Backuper.
type Options struct {
	// Dir is where backups are written, one directory each.
	Dir string
	// DSN is the database's DSN as the store opens it (pg_dump and the
	// verification's scratch database use it on PostgreSQL).
	DSN string
	// PGDump and PGRestore are the tools' paths; empty: found on PATH.
	PGDump, PGRestore string
	// VerifyDatabase, on PostgreSQL, is a database used for verification
	// (its contents are replaced each time); empty: a fresh
	// chorus_verify_<random> database is created on the server and dropped.
	VerifyDatabase string
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Log receives what a run did; discarded when nil.
	Log *slog.Logger
}

// Backuper takes and verifies backups of one database.
type Backuper struct {
	opts Options
}

// New returns a Backuper.
func New(opts Options) *Backuper {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Backuper{opts: opts}
}

// Run takes a backup, verifies it when verify is set, records the result
// in its manifest and prunes what r no longer keeps. The manifest is
// returned whenever the backup was written, also when verification found
// problems (then with an error).
func (b *Backuper) Run(ctx context.Context, db *store.DB, verify bool, r Retention) (*Manifest, error) {
	m, err := b.Take(ctx, db)
	if err != nil {
		return nil, err
	}
	if verify {
		v, err := b.Verify(ctx, m)
		if err != nil {
			return m, err
		}
		if !v.OK {
			return m, fmt.Errorf("backup %s failed verification: %s", m.ID, strings.Join(v.Problems, "; "))
		}
	}
	removed, err := Prune(b.opts.Dir, r)
	for _, old := range removed {
		b.opts.Log.Info("backup pruned", "id", old.ID)
	}
	return m, err
}

// Take writes a backup of db to a new directory in Dir and returns its
// manifest. The backup is written under a hidden name and renamed into
// place once complete, so Dir never holds half a backup.
func (b *Backuper) Take(ctx context.Context, db *store.DB) (*Manifest, error) {
	if b.opts.Dir == "" {
		return nil, errors.New("backup: no directory (backup.dir or --dir)")
	}
	if err := os.MkdirAll(b.opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	b.removeStalePartials()
	start := b.opts.Now().UTC()
	m := &Manifest{ID: start.Format("20060102T150405Z"), StartedAt: start}
	current, _, err := db.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m.SchemaVersion = current
	partial, err := os.MkdirTemp(b.opts.Dir, ".partial-"+m.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(partial) // gone once renamed; cleans up a failure
	if err := b.copyData(ctx, db, m, partial); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if m.Size, m.SHA256, err = hashFile(filepath.Join(partial, m.File)); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m.FinishedAt = b.opts.Now().UTC()
	m.dir = partial
	if err := m.write(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	final, err := b.place(partial, m.ID)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m.dir = final
	b.opts.Log.Info("backup taken", "id", m.ID, "kind", m.Kind, "bytes", m.Size,
		"seconds", m.FinishedAt.Sub(m.StartedAt).Seconds())
	return m, nil
}

// copyData writes db's data file into dir and fills in the manifest's
// kind, file and row counts.
func (b *Backuper) copyData(ctx context.Context, db *store.DB, m *Manifest, dir string) error {
	if db.Dialect() == store.DialectSQLite {
		m.Kind, m.File = KindSQLite, "chorus.db"
		counts, err := db.CopySQLite(ctx, filepath.Join(dir, m.File))
		m.Tables = counts
		return err
	}
	m.Kind, m.File = KindPostgres, "chorus.dump"
	tl, err := b.tools()
	if err != nil {
		return err
	}
	t, err := parsePG(b.opts.DSN)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	return db.WithSnapshot(ctx, func(ctx context.Context, snapshot string, counts map[string]int64) error {
		m.Tables = counts
		return tl.dump(ctx, t, snapshot, filepath.Join(dir, m.File))
	})
}

// place renames the finished partial directory to its ID (with a suffix
// should two backups start in the same second) and syncs Dir.
func (b *Backuper) place(partial, id string) (string, error) {
	for i := 0; i < 100; i++ {
		name := id
		if i > 0 {
			name = fmt.Sprintf("%s-%d", id, i)
		}
		final := filepath.Join(b.opts.Dir, name)
		if _, err := os.Stat(final); err == nil {
			continue
		}
		if err := os.Rename(partial, final); err != nil {
			return "", err
		}
		return final, syncDir(b.opts.Dir)
	}
	return "", fmt.Errorf("too many backups named %s", id)
}

// removeStalePartials deletes what runs that died a day or more ago left.
func (b *Backuper) removeStalePartials() {
	entries, err := os.ReadDir(b.opts.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".partial-") {
			continue
		}
		if fi, err := e.Info(); err == nil && b.opts.Now().Sub(fi.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(filepath.Join(b.opts.Dir, e.Name()))
		}
	}
}

// tools finds pg_dump and pg_restore.
func (b *Backuper) tools() (tools, error) {
	d, err := lookTool(b.opts.PGDump, "pg_dump", "backup.pg_dump")
	if err != nil {
		return tools{}, err
	}
	r, err := lookTool(b.opts.PGRestore, "pg_restore", "backup.pg_restore")
	if err != nil {
		return tools{}, err
	}
	return tools{pgDump: d, pgRestore: r}, nil
}

// hashFile returns a file's size and SHA-256 (hex).
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path) // #nosec G304 -- a backup's data file
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("hash %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
