package backup

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chorusgw/chorus/internal/store"
)

// Verify restores the backup into a scratch database, checks it (see
// Check), records the result in the backup's manifest and returns it. A
// backup that cannot be restored (a wrong checksum, a truncated file) is a
// failed verification, not an error; the error is for a verification that
// could not be carried out (no scratch database, no pg_restore).
func (b *Backuper) Verify(ctx context.Context, m *Manifest) (*Verification, error) {
	v, err := b.verify(ctx, m)
	if err != nil {
		return nil, err
	}
	m.Verification = v
	if err := m.write(); err != nil {
		return v, fmt.Errorf("record verification: %w", err)
	}
	b.opts.Log.Info("backup verified", "id", m.ID, "ok", v.OK, "problems", v.Problems, "seconds", v.Seconds)
	return v, nil
}

// verify restores m into a scratch database and checks it, without
// recording the result.
func (b *Backuper) verify(ctx context.Context, m *Manifest) (*Verification, error) {
	start := b.opts.Now()
	v := &Verification{Problems: []string{}}
	finish := func() *Verification {
		v.At = b.opts.Now().UTC()
		v.Seconds = v.At.Sub(start).Seconds()
		v.OK = len(v.Problems) == 0
		return v
	}
	size, sum, err := hashFile(m.DataPath())
	if err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("data file: %v", err))
		return finish(), nil
	}
	if size != m.Size || sum != m.SHA256 {
		v.Problems = append(v.Problems, fmt.Sprintf("data file: %d bytes with sha256 %s, the manifest says %d bytes with %s",
			size, sum, m.Size, m.SHA256))
		return finish(), nil
	}
	err = b.withScratch(ctx, m, func(db *store.DB) error {
		Check(ctx, db, m, v)
		return nil
	}, func(restoreErr error) {
		v.Problems = append(v.Problems, fmt.Sprintf("restore: %v", restoreErr))
	})
	if err != nil {
		return nil, err
	}
	return finish(), nil
}

// withScratch restores m into a scratch database and calls fn with it
// open, or failed with the reason the restore failed; then it removes the
// scratch database.
func (b *Backuper) withScratch(ctx context.Context, m *Manifest, fn func(*store.DB) error, failed func(error)) error {
	if m.Kind == KindSQLite {
		return withSQLiteScratch(ctx, m, fn, failed)
	}
	return b.withPostgresScratch(ctx, m, fn, failed)
}

// withSQLiteScratch opens a copy of the backup's file (opening a SQLite
// file may write to it; the backup stays as it was).
func withSQLiteScratch(ctx context.Context, m *Manifest, fn func(*store.DB) error, failed func(error)) error {
	dir, err := os.MkdirTemp("", "chorus-verify-")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "chorus.db")
	if err := copyFile(m.DataPath(), path); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		failed(err)
		return nil
	}
	defer db.Close()
	return fn(db)
}

// withPostgresScratch restores the dump into a fresh database on the
// source's server (or the configured verification database).
func (b *Backuper) withPostgresScratch(ctx context.Context, m *Manifest, fn func(*store.DB) error, failed func(error)) error {
	tl, err := b.tools()
	if err != nil {
		return err
	}
	src, err := parsePG(b.opts.DSN)
	if err != nil {
		return fmt.Errorf("verify: database URL: %w", err)
	}
	scratch, clean := src.withDatabase(scratchName()), false
	if b.opts.VerifyDatabase != "" {
		if scratch, err = parsePG(b.opts.VerifyDatabase); err != nil {
			return fmt.Errorf("verify: backup.verify_database: %w", err)
		}
		scratch.full.RawQuery = src.full.RawQuery // the source's schema and settings
		scratch, clean = scratch.withDatabase(scratch.database), true
	} else {
		if err := createDatabase(ctx, src, scratch.database); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		defer func() {
			// A fresh context: the scratch database must go even when
			// the run was cancelled.
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := dropDatabase(dctx, src, scratch.database); err != nil {
				b.opts.Log.Error("verify: could not drop the scratch database", "database", scratch.database, "err", err)
			}
		}()
	}
	if err := tl.restore(ctx, scratch, m.DataPath(), clean); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failed(err)
		return nil
	}
	db, err := store.Open(ctx, scratch.pgxURL(), store.Options{MaxOpenConns: 2})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer db.Close()
	return fn(db)
}

// Check checks a restored database against the backup's manifest and
// appends what is wrong to v.Problems: the schema is at the version the
// manifest says and this binary needs; the ledger's invariants hold
// (postings balance, balances equal their entries, no negative
// reservation); what wallets and budgets reserve equals their holds; the
// audit log's hash chain verifies; and every table has the rows the
// manifest counted.
func Check(ctx context.Context, db *store.DB, m *Manifest, v *Verification) {
	bad := func(format string, args ...any) { v.Problems = append(v.Problems, fmt.Sprintf(format, args...)) }
	current, latest, err := db.SchemaVersion(ctx)
	switch {
	case err != nil:
		bad("schema: %v", err)
	case current != latest:
		bad("schema: at version %d, this binary needs %d", current, latest)
	case current != m.SchemaVersion:
		bad("schema: at version %d, the manifest says %d", current, m.SchemaVersion)
	}
	v.SchemaVersion = current
	if rep, err := db.CheckLedger(ctx); err != nil {
		bad("ledger: %v", err)
	} else {
		v.LedgerPostings = rep.Postings
		for _, p := range rep.Problems {
			bad("ledger: %s", p)
		}
	}
	if problems, err := db.CheckHolds(ctx); err != nil {
		bad("holds: %v", err)
	} else {
		for _, p := range problems {
			bad("holds: %s", p)
		}
	}
	if rep, err := db.VerifyAudit(ctx); err != nil {
		bad("audit chain: %v", err)
	} else {
		v.AuditEntries = rep.Entries
		if !rep.OK {
			bad("audit chain: broken at seq %d (%s: %s)", rep.Problem.Seq, rep.Problem.Kind, rep.Problem.Detail)
		}
	}
	counts, err := db.TableCounts(ctx)
	if err != nil {
		bad("row counts: %v", err)
		return
	}
	for _, p := range compareCounts(m.Tables, counts) {
		bad("row counts: %s", p)
	}
}

// compareCounts lists the tables whose rows differ between want (the
// manifest) and got (the restored database).
func compareCounts(want, got map[string]int64) []string {
	var out []string
	names := slices.Sorted(maps.Keys(want))
	for _, name := range names {
		g, ok := got[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("table %s is missing", name))
		case g != want[name]:
			out = append(out, fmt.Sprintf("table %s has %d rows, the manifest says %d", name, g, want[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			out = append(out, fmt.Sprintf("table %s is not in the manifest", name))
		}
	}
	return out
}

// copyFile copies src to dst (created, owner-only) and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src) // #nosec G304 -- a backup's data file
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a path we chose
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
