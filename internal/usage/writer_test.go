package usage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/usage"
)

// fakeDB records inserted batches; fail makes the next n inserts fail.
type fakeDB struct {
	mu      sync.Mutex
	recs    []chorus.Usage
	batches int
	fail    atomic.Int32
	down    atomic.Bool // fails every insert while set
	lost    atomic.Int32 // the next n inserts commit, then report an error (a reset mid-commit)
	keys    map[string]bool
}

func (f *fakeDB) InsertUsage(ctx context.Context, recs []chorus.Usage) error {
	if f.down.Load() || f.fail.Add(-1) >= 0 {
		return errors.New("database unavailable")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = make(map[string]bool)
	}
	for _, r := range recs { // the store's ON CONFLICT (record_key) DO NOTHING
		if r.Key == "" || !f.keys[r.Key] {
			f.recs = append(f.recs, r)
			f.keys[r.Key] = r.Key != ""
		}
	}
	f.batches++
	if f.lost.Add(-1) >= 0 {
		return errors.New("connection reset by peer")
	}
	return nil
}

func (f *fakeDB) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recs)
}

func newWriter(db usage.Inserter, dir string, queue int) *usage.Writer {
	return usage.NewWriter(db, usage.Options{QueueSize: queue, BatchSize: 100, FlushInterval: 10 * time.Millisecond, SpillDir: dir})
}

func TestWriter(t *testing.T) {
	t.Run("AllRecordsWrittenInBatches", func(t *testing.T) {
		db := &fakeDB{}
		w := newWriter(db, t.TempDir(), 16) // a queue smaller than the load: Record must wait, not drop
		go w.Run()
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					if err := w.Record(chorus.Usage{KeyID: int64(g), RequestID: "r"}); err != nil {
						t.Error(err)
					}
				}
			}(g)
		}
		wg.Wait()
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := db.count(), 4000; got != want {
			t.Fatalf("written %d, want %d", got, want)
		}
		if db.batches >= 4000 {
			t.Fatalf("%d batches for 4000 records: not batching", db.batches)
		}
	})
	t.Run("RetriesAfterErrors", func(t *testing.T) {
		db := &fakeDB{}
		db.fail.Store(3)
		w := newWriter(db, t.TempDir(), 100)
		go w.Run()
		for i := 0; i < 10; i++ {
			_ = w.Record(chorus.Usage{RequestID: "r"})
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := db.count(); got != 10 {
			t.Fatalf("written %d, want 10", got)
		}
	})
	t.Run("RetryAfterLostCommitWritesOnce", func(t *testing.T) {
		db := &fakeDB{}
		db.lost.Store(2) // the first two writes commit but say they failed
		w := newWriter(db, t.TempDir(), 100)
		go w.Run()
		for i := 0; i < 10; i++ {
			_ = w.Record(chorus.Usage{RequestID: "same-request-id"})
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if db.batches < 3 {
			t.Fatalf("%d writes: the lost commits were not retried", db.batches)
		}
		if got := db.count(); got != 10 {
			t.Fatalf("stored %d, want 10: a retried batch must not store its records twice", got)
		}
	})
	t.Run("SpillAndImport", func(t *testing.T) {
		dir := t.TempDir()
		db := &fakeDB{}
		db.down.Store(true)
		w := newWriter(db, dir, 100)
		go w.Run()
		for i := 0; i < 7; i++ {
			_ = w.Record(chorus.Usage{RequestID: "spilled", OutputTokens: int64(i)})
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if db.count() != 0 {
			t.Fatal("records written while the database was down")
		}
		db.down.Store(false)
		n, err := usage.Import(context.Background(), db, dir)
		if err != nil {
			t.Fatal(err)
		}
		if n != 7 || db.count() != 7 {
			t.Fatalf("imported %d, stored %d, want 7", n, db.count())
		}
		if n, _ := usage.Import(context.Background(), db, dir); n != 0 {
			t.Fatalf("second import found %d records: spill file not removed", n)
		}
	})
	t.Run("ErrRecordAfterClose", func(t *testing.T) {
		w := newWriter(&fakeDB{}, t.TempDir(), 10)
		go w.Run()
		_ = w.Close(context.Background())
		if err := w.Record(chorus.Usage{}); err == nil {
			t.Fatal("Record after Close succeeded")
		}
	})
}
