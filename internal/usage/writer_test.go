package usage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/spool"
	"github.com/chorusgw/chorus/internal/telemetry"
	"github.com/chorusgw/chorus/internal/usage"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeDB records inserted batches; fail makes the next n inserts fail.
type fakeDB struct {
	mu      sync.Mutex
	recs    []chorus.Usage
	batches int
	fail    atomic.Int32
	down    atomic.Bool  // fails every insert while set
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

// circuit is a hand-set database circuit.
type circuit struct{ down atomic.Bool }

func (c *circuit) Down() bool   { return c.down.Load() }
func (c *circuit) Failed(error) {}
func (f *fakeDB) keyCount() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.keys) }

// lockedBuffer is a log sink safe for Run's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWriterSpool(t *testing.T) {
	open := func(t *testing.T, dir string, max int64) *spool.Spool {
		sp, err := spool.Open(dir, "usage", max)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sp.Close() })
		return sp
	}
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	t.Run("OutageSpoolsThenReplaysOnce", func(t *testing.T) {
		db := &fakeDB{}
		db.down.Store(true)
		c := &circuit{}
		c.down.Store(true)
		var logs lockedBuffer
		sp := open(t, t.TempDir(), 1<<20)
		// A queue far smaller than the records: without the spool, Record
		// would wait for the database.
		w := usage.NewWriter(db, usage.Options{QueueSize: 4, BatchSize: 10, FlushInterval: 5 * time.Millisecond,
			Spool: sp, Database: c, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		go w.Run()
		recorded := make(chan struct{})
		go func() {
			for i := range 500 {
				_ = w.Record(chorus.Usage{RequestID: fmt.Sprintf("r%d", i)})
			}
			close(recorded)
		}()
		select {
		case <-recorded:
		case <-time.After(5 * time.Second):
			t.Fatal("Record blocked while the database was down")
		}
		waitFor(t, "every record spooled", func() bool { return w.Stats().Spooled == 500 })
		if db.count() != 0 || sp.Size() == 0 {
			t.Fatalf("stored %d, spool %d bytes: want all spooled", db.count(), sp.Size())
		}
		db.down.Store(false)
		c.down.Store(false)
		waitFor(t, "the spool replayed", func() bool { return db.count() == 500 })
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := db.keyCount(); got != 500 || db.count() != 500 {
			t.Fatalf("stored %d records with %d keys, want 500 once each", db.count(), got)
		}
		if sp.Size() != 0 {
			t.Fatalf("spool holds %d bytes after replay", sp.Size())
		}
		if n := strings.Count(logs.String(), "level=WARN"); n > 2 {
			t.Fatalf("%d warnings for one outage, want at most 2 (one per state change):\n%s", n, logs.String())
		}
	})
	t.Run("ReplayAfterCrashStoresOnce", func(t *testing.T) {
		dir := t.TempDir()
		db := &fakeDB{}
		db.down.Store(true)
		w := usage.NewWriter(db, usage.Options{QueueSize: 100, BatchSize: 10, FlushInterval: 5 * time.Millisecond,
			Spool: open(t, dir, 1<<20)})
		go w.Run()
		for i := range 25 {
			_ = w.Record(chorus.Usage{RequestID: fmt.Sprintf("r%d", i)})
		}
		_ = w.Close(context.Background()) // the database never came back
		if db.count() != 0 {
			t.Fatal("records stored while the database was down")
		}
		// The next process replays; a crash before it deleted the segment
		// makes a third replay the same entries.
		db.down.Store(false)
		db.lost.Store(1) // and the first replayed batch's commit is lost
		for range 2 {
			w2 := usage.NewWriter(db, usage.Options{QueueSize: 10, BatchSize: 10, FlushInterval: time.Hour,
				Spool: open(t, dir, 1<<20)})
			go w2.Run()
			_ = w2.Close(context.Background())
		}
		if got := db.count(); got != 25 {
			t.Fatalf("stored %d, want 25: a replayed record must be stored exactly once", got)
		}
	})
	t.Run("FullSpoolKeepsRecordsInMemory", func(t *testing.T) {
		db := &fakeDB{}
		db.down.Store(true)
		sp := open(t, t.TempDir(), 10) // no batch fits
		w := usage.NewWriter(db, usage.Options{QueueSize: 100, BatchSize: 10, FlushInterval: 5 * time.Millisecond, Spool: sp})
		go w.Run()
		for i := range 5 {
			_ = w.Record(chorus.Usage{RequestID: fmt.Sprintf("r%d", i)})
		}
		time.Sleep(50 * time.Millisecond)
		db.down.Store(false)
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if db.count() != 5 {
			t.Fatalf("stored %d, want 5: records the spool refused must be retried", db.count())
		}
	})
}

func TestWriterEnergyHook(t *testing.T) {
	db := &fakeDB{}
	// A deterministic estimate: 1 Wh per 1,000 tokens, 400 g per kWh.
	energy := func(u *chorus.Usage) {
		u.EnergyWh = float64(u.InputTokens+u.OutputTokens) / 1000
		u.CO2eGrams = u.EnergyWh * 0.4
	}
	w := usage.NewWriter(db, usage.Options{QueueSize: 10, BatchSize: 10, FlushInterval: 5 * time.Millisecond, Energy: energy})
	go w.Run()
	for i := range 5 {
		if err := w.Record(chorus.Usage{RequestID: "r", InputTokens: int64(1000 * i), OutputTokens: 500}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if db.count() != 5 {
		t.Fatalf("written %d, want 5", db.count())
	}
	for _, r := range db.recs {
		want := float64(r.InputTokens+500) / 1000
		if r.EnergyWh != want || r.CO2eGrams != want*0.4 {
			t.Errorf("record of %d input tokens: %g Wh, %g g; want %g Wh, %g g", r.InputTokens, r.EnergyWh, r.CO2eGrams, want, want*0.4)
		}
	}
}

// TestWriterShedsKeylessUnderLoad checks that records of requests refused
// before a key was known are not queued past half the queue, so a flood
// of them never makes a paying request wait; keyed records still queue.
func TestWriterShedsKeylessUnderLoad(t *testing.T) {
	db := &fakeDB{}
	m := telemetry.New()
	w := usage.NewWriter(db, usage.Options{QueueSize: 10, BatchSize: 100, FlushInterval: 5 * time.Millisecond, Metrics: m})
	// Not running yet: the queue only fills.
	for range 8 {
		if err := w.Record(chorus.Usage{RequestID: "anon", Status: 401, ErrorCode: "invalid_api_key"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		if err := w.Record(chorus.Usage{RequestID: "paid", KeyID: 7, Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	go w.Run()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	anon, paid := 0, 0
	for _, r := range db.recs {
		if r.KeyID == 0 {
			anon++
		} else {
			paid++
		}
	}
	if anon != 6 || paid != 4 {
		t.Fatalf("written %d keyless and %d keyed records, want 6 (up to half the queue, then shed) and 4", anon, paid)
	}
	if got := testutil.ToFloat64(m.UsageShed); got != 2 {
		t.Fatalf("chorus_usage_shed_total = %g, want 2", got)
	}
}

// TestWriterWakesPerBatch: the writer sleeps until a batch is ready (or
// its flush tick, or Close) instead of waking for every record, and an
// idle queue of the default size costs no memory up front (a channel of
// 65,536 records held 22 MB).
func TestWriterWakesPerBatch(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	big := usage.NewWriter(&fakeDB{}, usage.Options{QueueSize: 65536, BatchSize: 512, FlushInterval: time.Hour})
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Fatalf("a new writer allocated %d bytes", grown)
	}
	_ = big

	db := &fakeDB{}
	w := usage.NewWriter(db, usage.Options{QueueSize: 1000, BatchSize: 100, FlushInterval: time.Hour})
	go w.Run()
	for range 99 {
		if err := w.Record(chorus.Usage{KeyID: 1, Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := db.count(); n != 0 {
		t.Fatalf("%d records written before a batch was ready or the tick", n)
	}
	if err := w.Record(chorus.Usage{KeyID: 1, Status: 200}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for db.count() < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := db.count(); n != 100 {
		t.Fatalf("a full batch of 100 was not written at once: %d", n)
	}
	for range 7 {
		_ = w.Record(chorus.Usage{KeyID: 1, Status: 200})
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := db.count(); n != 107 {
		t.Fatalf("Close wrote %d records in all, want 107", n)
	}
}
