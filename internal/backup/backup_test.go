package backup

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/store"
)

// backends run a test on SQLite and on a fresh PostgreSQL database.
var backends = []struct {
	name string
	open func(t *testing.T) (*store.DB, string)
}{
	{"sqlite", openSQLite},
	{"postgres", func(t *testing.T) (*store.DB, string) {
		dsn := freshPostgres(t)
		return openMigrated(t, dsn), dsn
	}},
}

func TestRoundTrip(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := testContext(t)
			db, dsn := be.open(t)
			seed(t, db, "before", 5)
			b := New(Options{Dir: t.TempDir(), DSN: dsn, Now: newClock().Now})
			m, err := b.Run(ctx, db, true, Retention{Daily: 7})
			if err != nil {
				t.Fatal(err)
			}
			if !m.Verified() {
				t.Fatalf("verification: %+v", m.Verification)
			}
			if got, want := m.Tables["ledger_postings"], int64(5); got != want {
				t.Errorf("manifest counts %d postings, want %d", got, want)
			}
			if m.Verification.AuditEntries == 0 || m.Verification.LedgerPostings != 5 {
				t.Errorf("verification checked %d audit entries and %d postings, want some and 5",
					m.Verification.AuditEntries, m.Verification.LedgerPostings)
			}
			reread, err := ReadManifest(m.Dir())
			if err != nil || !reread.Verified() {
				t.Fatalf("the recorded manifest: %+v, %v", reread, err)
			}

			// Later writes are not in the backup; a restore over the
			// database (which holds data) needs --force.
			seed(t, db, "after", 3)
			db.Close()
			if _, err := b.Restore(ctx, m, dsn, RestoreOptions{}); !errors.Is(err, ErrTargetHasData) {
				t.Fatalf("restore over data without force: %v, want ErrTargetHasData", err)
			}
			dry, err := b.Restore(ctx, m, dsn, RestoreOptions{DryRun: true, Force: true})
			if err != nil || dry.Restored || !dry.TargetHasData || !dry.Verification.OK {
				t.Fatalf("dry run: %+v, %v", dry, err)
			}
			res, err := b.Restore(ctx, m, dsn, RestoreOptions{Force: true})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Restored || !res.After.OK {
				t.Fatalf("restore: %+v", res)
			}
			restored := openMigrated(t, dsn)
			if got := rows(t, restored, "ledger_postings"); got != 5 {
				t.Errorf("restored database has %d postings, want the backup's 5", got)
			}
			if rep, err := restored.VerifyAudit(ctx); err != nil || !rep.OK {
				t.Errorf("restored audit chain: %+v, %v", rep, err)
			}
		})
	}
}

// TestRestoreIntoMissing restores into a database that does not exist
// (the database was lost): SQLite's file and PostgreSQL's database are
// created.
func TestRestoreIntoMissing(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := testContext(t)
			db, dsn := be.open(t)
			seed(t, db, "lost", 2)
			b := New(Options{Dir: t.TempDir(), DSN: dsn})
			m, err := b.Run(ctx, db, true, Retention{Daily: 1})
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "new", "chorus.db")
			if be.name == "postgres" {
				target = freshPostgres(t)
				u, _ := url.Parse(target)
				dropTestDatabase(t, postgresBase(t), strings.TrimPrefix(u.Path, "/"))
			}
			res, err := b.Restore(ctx, m, target, RestoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.TargetHasData || !res.Restored || !res.After.OK {
				t.Fatalf("restore: %+v", res)
			}
			if got := rows(t, openMigrated(t, target), "users"); got != m.Tables["users"] {
				t.Errorf("restored %d users, the backup has %d", got, m.Tables["users"])
			}
		})
	}
}

// TestVerifyCatchesCorruption damages a good backup in ways that keep it
// loadable (the checksum is rewritten to match) and expects verification
// to name each problem: a weak verification lets these through.
func TestVerifyCatchesCorruption(t *testing.T) {
	tests := []struct {
		name     string
		stmts    []string
		want     string
		postgres bool // run on PostgreSQL too (each case costs seconds there)
	}{
		{"LedgerBalance", []string{`UPDATE ledger_accounts SET balance = balance + 7 WHERE name LIKE 'team:%'`}, "ledger: account team:", true},
		{"LedgerEntry", []string{`DELETE FROM ledger_entries WHERE id = (SELECT MAX(id) FROM ledger_entries)`}, "ledger: ", false},
		{"Holds", []string{`UPDATE ledger_accounts SET reserved = 5 WHERE name LIKE 'team:%'`}, "holds: wallet team:", false},
		{"AuditChain", []string{`UPDATE audit_log SET action = 'test.forged' WHERE seq = 2`}, "audit chain: broken at seq 2", true},
		{"RowCounts", []string{`INSERT INTO meta (key, value) VALUES ('extra', 'row')`}, "row counts: table meta has", false},
		{"Schema", []string{`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`}, "schema: at version", false},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			db, dsn := be.open(t)
			seed(t, db, "tamper", 3)
			opts := Options{Dir: t.TempDir(), DSN: dsn}
			if be.name == "postgres" {
				// One verification database for every case, replaced
				// each time (backup.verify_database).
				opts.VerifyDatabase = freshPostgres(t)
			}
			b := New(opts)
			for _, tt := range tests {
				if be.name == "postgres" && !tt.postgres {
					continue
				}
				t.Run(tt.name, func(t *testing.T) {
					ctx := testContext(t)
					m, err := b.Take(ctx, db)
					if err != nil {
						t.Fatal(err)
					}
					tamper(t, b, m, tt.stmts...)
					v, err := b.Verify(ctx, m)
					if err != nil {
						t.Fatal(err)
					}
					problemsContain(t, v, tt.want)
					if be.name == "sqlite" {
						if _, err := b.Restore(ctx, m, filepath.Join(t.TempDir(), "x.db"), RestoreOptions{}); err == nil {
							t.Error("a backup that fails verification was restored")
						}
					}
				})
			}
			t.Run("Truncated", func(t *testing.T) {
				ctx := testContext(t)
				m, err := b.Take(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(m.DataPath(), m.Size/2); err != nil {
					t.Fatal(err)
				}
				v, err := b.Verify(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				problemsContain(t, v, "the manifest says")
			})
			t.Run("TruncatedWithMatchingChecksum", func(t *testing.T) {
				ctx := testContext(t)
				m, err := b.Take(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(m.DataPath(), m.Size/2); err != nil {
					t.Fatal(err)
				}
				if m.Size, m.SHA256, err = hashFile(m.DataPath()); err != nil {
					t.Fatal(err)
				}
				v, err := b.Verify(ctx, m)
				if err != nil {
					t.Fatal(err)
				}
				if v.OK {
					t.Fatal("half a data file verified")
				}
			})
		})
	}
}

// TestSchedulerOneInstance runs two schedulers, as two instances of a
// fleet would, on one PostgreSQL database, both ticking at once in the
// same slot: exactly one takes the backup; ticks later in the slot take
// none; the next slot takes one more.
func TestSchedulerOneInstance(t *testing.T) {
	ctx := testContext(t)
	dsn := freshPostgres(t)
	seed(t, openMigrated(t, dsn), "fleet", 2)
	clk := newClock()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clk.Now() }
	dirA, dirB := t.TempDir(), t.TempDir() // not shared: the database decides
	sched := func(dir string) *Scheduler {
		return &Scheduler{
			DB:       openMigrated(t, dsn),
			Backuper: New(Options{Dir: dir, DSN: dsn, Now: now}),
			Schedule: Schedule{Every: 24 * time.Hour, At: 3 * time.Hour},
			Keep:     Retention{Daily: 7}, Verify: true, Now: now, Log: discardLog(),
		}
	}
	a, b := sched(dirA), sched(dirB)
	tickBoth := func() int {
		var wg sync.WaitGroup
		ran := make([]bool, 2)
		for i, s := range []*Scheduler{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Tick(ctx)
				if err != nil {
					t.Error(err)
				}
				ran[i] = r
			}()
		}
		wg.Wait()
		n := 0
		for _, r := range ran {
			if r {
				n++
			}
		}
		return n
	}
	for round := 0; round < 3; round++ {
		if n := tickBoth(); n != 1 && round == 0 || n != 0 && round > 0 {
			t.Fatalf("slot 1, tick %d: %d schedulers ran a backup", round, n)
		}
		mu.Lock()
		clk.Advance(time.Hour)
		mu.Unlock()
	}
	mu.Lock()
	clk.Advance(24 * time.Hour)
	mu.Unlock()
	if n := tickBoth(); n != 1 {
		t.Fatalf("slot 2: %d schedulers ran a backup, want 1", n)
	}
	la, _ := List(dirA)
	lb, _ := List(dirB)
	if len(la)+len(lb) != 2 {
		t.Errorf("%d + %d backups, want 2 in all", len(la), len(lb))
	}
	st, err := ReadStatus(ctx, a.DB)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastError != "" || st.LastVerified.IsZero() || st.LastSize == 0 || !st.LastSuccess.Equal(st.LastVerified) {
		t.Errorf("status %+v, want a verified success", st)
	}
}

// TestSchedulerRecordsFailure: a run whose backup cannot be taken is
// recorded as failed, the slot is not retried at the next tick, and the
// last success stays what it was.
func TestSchedulerRecordsFailure(t *testing.T) {
	ctx := testContext(t)
	db, dsn := openSQLite(t)
	clk := newClock()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Scheduler{DB: db, Backuper: New(Options{Dir: file, DSN: dsn, Now: clk.Now}),
		Schedule: Schedule{Every: time.Hour}, Verify: true, Now: clk.Now, Log: discardLog()}
	if ran, err := s.Tick(ctx); !ran || err == nil {
		t.Fatalf("tick: ran %v, err %v; want a failed run", ran, err)
	}
	if ran, _ := s.Tick(ctx); ran {
		t.Error("the failed slot ran again")
	}
	st, err := ReadStatus(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastError == "" || !st.LastSuccess.IsZero() {
		t.Errorf("status %+v, want the error and no success", st)
	}
}

// TestRestoreOverCorruptSQLite replaces a database file that is not a
// database any more: refused without --force, done with it.
func TestRestoreOverCorruptSQLite(t *testing.T) {
	ctx := testContext(t)
	db, dsn := openSQLite(t)
	seed(t, db, "corrupt", 2)
	b := New(Options{Dir: t.TempDir(), DSN: dsn})
	m, err := b.Run(ctx, db, true, Retention{Daily: 1})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(dsn + suffix)
	}
	if err := os.WriteFile(dsn, []byte("this is not a SQLite database, it is garbage of some length"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restore(ctx, m, dsn, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over a corrupt file without --force: %v, want a refusal naming --force", err)
	}
	res, err := b.Restore(ctx, m, dsn, RestoreOptions{Force: true})
	if err != nil || !res.Restored || !res.After.OK {
		t.Fatalf("restore --force over a corrupt file: %+v, %v", res, err)
	}
}
