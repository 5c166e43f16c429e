package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ManifestFile is the name of the manifest in a backup's directory.
const ManifestFile = "manifest.json"

// Backup kinds: what the data file is.
const (
	KindSQLite   = "sqlite"   // a SQLite database file (VACUUM INTO)
	KindPostgres = "postgres" // a pg_dump archive in custom format
)

// Manifest describes one backup: a directory DIR/<ID> holding the data file
// and this manifest. It is written last, so a directory without one is not
// a backup (an interrupted run leaves only a DIR/.partial-… directory).
type Manifest struct {
	ID            string           `json:"id"` // the start time, 20261207T030000Z
	Kind          string           `json:"kind"`
	StartedAt     time.Time        `json:"started_at"`
	FinishedAt    time.Time        `json:"finished_at"`
	SchemaVersion int              `json:"schema_version"`
	Tables        map[string]int64 `json:"tables"` // rows per table at the moment of the copy
	File          string           `json:"file"`   // the data file's name in the backup directory
	Size          int64            `json:"size_bytes"`
	SHA256        string           `json:"sha256"`
	// Verification is the result of restoring the backup into a scratch
	// database and checking it; nil when it was not verified.
	Verification *Verification `json:"verification,omitempty"`

	dir string // where it was read from
}

// Verification is what restoring a backup into a scratch database found.
type Verification struct {
	At       time.Time `json:"at"`
	OK       bool      `json:"ok"`
	Problems []string  `json:"problems"`
	Seconds  float64   `json:"seconds"` // how long the restore and checks took
	// What was checked, for the record.
	SchemaVersion  int   `json:"schema_version"`
	LedgerPostings int64 `json:"ledger_postings"`
	AuditEntries   int64 `json:"audit_entries"`
}

// Dir returns the backup's directory.
func (m *Manifest) Dir() string { return m.dir }

// DataPath returns the path of the backup's data file.
func (m *Manifest) DataPath() string { return filepath.Join(m.dir, m.File) }

// Verified reports whether the backup was restored and found sound.
func (m *Manifest) Verified() bool { return m.Verification != nil && m.Verification.OK }

// usable reports whether retention may count the backup as a good one:
// verified, or taken with verification off.
func (m *Manifest) usable() bool { return m.Verification == nil || m.Verification.OK }

// ReadManifest reads the manifest of the backup in dir.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile)) // #nosec G304 -- a backup directory the operator named
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", dir, err)
	}
	if m.Kind != KindSQLite && m.Kind != KindPostgres {
		return nil, fmt.Errorf("manifest %s: unknown kind %q", dir, m.Kind)
	}
	if m.File == "" || filepath.Base(m.File) != m.File {
		return nil, fmt.Errorf("manifest %s: bad file name %q", dir, m.File)
	}
	m.dir = dir
	return &m, nil
}

// write saves the manifest in its directory, atomically: a reader sees the
// old one or the new one, never half of either.
func (m *Manifest) write() error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(m.dir, ManifestFile), append(b, '\n'))
}

// writeFileAtomic writes data to path through a synced temporary file
// renamed over it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // #nosec G304 -- inside the backup directory
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the backup directory
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// List returns the backups in dir, oldest first. Directories without a
// readable manifest (an interrupted run's, or anything else) are skipped.
func List(dir string) ([]*Manifest, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var out []*Manifest
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		m, err := ReadManifest(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, nil
}

// Latest returns the newest verified backup in dir.
func Latest(dir string) (*Manifest, error) {
	ms, err := List(dir)
	if err != nil {
		return nil, err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Verified() {
			return ms[i], nil
		}
	}
	return nil, fmt.Errorf("no verified backup in %s", dir)
}

// Open returns the backup at path: a backup's directory (with a
// manifest), or a directory of backups, whose newest verified one it
// picks.
func Open(path string) (*Manifest, error) {
	if _, err := os.Stat(filepath.Join(path, ManifestFile)); err == nil {
		return ReadManifest(path)
	}
	if fi, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open backup: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open backup: %s is not a backup directory", path)
	}
	return Latest(path)
}
