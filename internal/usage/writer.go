// Package usage writes one usage record per request through a bounded,
// batched writer off the request path, and flushes it on shutdown.
//
// When the database is unreachable (a failed batch, or the database
// circuit open) a batch goes to the spool — a bounded, fsync'd file — at
// once, so requests never wait on the outage; the writer replays the spool
// when the database returns, and at its next start after a crash. Records
// carry their key (chorus.Usage.Key, unique in the database), so a batch
// replayed twice is stored once. Only when the spool is full does the
// writer fall back to retrying in memory, and then a full queue makes
// Record wait (back-pressure).
package usage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// Inserter stores a batch of usage records in one transaction.
type Inserter interface {
	InsertUsage(ctx context.Context, recs []chorus.Usage) error
}

// Options configure a Writer.
type Options struct {
	QueueSize     int
	BatchSize     int
	FlushInterval time.Duration
	SpillDir      string // where records that could not be written at shutdown are saved
	Metrics       *telemetry.Metrics
	Logger        *slog.Logger // failed, retried and spilled batches; nil discards them
	// Spool, when set, takes the batches the database cannot take, at
	// once; nil: they are retried in memory and spilled at shutdown.
	Spool Spool
	// Database is the database circuit: while it says down, batches go
	// straight to the spool. Nil: every batch is tried.
	Database Database
	// Energy, when set, fills a record's energy and emissions estimates
	// (EnergyWh, CO2eGrams) before it is written, off the request path.
	Energy func(*chorus.Usage)
}

// Spool is where batches wait for the database (spool.Spool).
type Spool interface {
	Append(v any) error
	Replay(fn func(entry json.RawMessage) error) (int, error)
	Size() int64
}

// Database says whether the database is reachable, and hears of failed
// calls (the app's circuit).
type Database interface {
	Down() bool
	Failed(err error)
}

// Stats are the writer's spool counters.
type Stats struct {
	Spooled  int64 // records written to the spool
	Replayed int64 // spooled records written to the database since
}

// Writer batches usage records. Record never drops a record: when the queue
// is full it waits (back-pressure) and counts the wait in a metric. Database
// errors are retried with backoff; at shutdown, records that still cannot be
// written are saved to a spill file that Import loads on the next start.
//
// Record appends to a slice under a mutex and wakes the writer only when a
// batch is ready (or the queue is full); otherwise the writer sleeps until
// its flush tick. Waking it for every record, as a channel receive would,
// cost every request a goroutine hand-off and often a sleeping thread's
// wake-up: in a scheduler trace at 1,000 requests/s it was 72% of the
// gateway's scheduling delay. The slice also holds only the records
// pending (a channel of QueueSize records held QueueSize × ~340 bytes once
// its ring had been round: 22 MB by default).
type Writer struct {
	db      Inserter
	opts    Options
	wakeAt  int // pending records that wake the writer: min(batch size, queue size)
	mu      sync.Mutex
	pending []chorus.Usage // queued, oldest first; at most opts.QueueSize
	spare   []chorus.Usage // a drained slice, reused as the next pending
	notFull *sync.Cond     // Record waits on it while the queue is full
	wake    chan struct{}  // (cap 1) a batch is ready, the queue is full, or Close
	done    chan struct{}
	once    sync.Once
	closed  bool

	spooled, replayed atomic.Int64
	spooling          bool // Run's: batches are going to the spool (logged once)
	spoolRefused      bool // Run's: the spool refused a batch (logged once)
}

// Stats returns the writer's spool counters.
func (w *Writer) Stats() Stats {
	return Stats{Spooled: w.spooled.Load(), Replayed: w.replayed.Load()}
}

// NewWriter returns a writer; call Run to start it.
func NewWriter(db Inserter, opts Options) *Writer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueueSize < 1 {
		opts.QueueSize = 1
	}
	if opts.BatchSize < 1 {
		opts.BatchSize = 1
	}
	w := &Writer{db: db, opts: opts, wakeAt: min(opts.BatchSize, opts.QueueSize), wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.notFull = sync.NewCond(&w.mu)
	return w
}

// signal wakes the writer (without waiting; one pending wake-up is enough).
func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Record queues one record. It returns an error only after Close.
func (w *Writer) Record(rec chorus.Usage) error {
	if rec.Key == "" {
		rec.Key = newKey() // so a retried batch stores the record once
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("usage writer closed")
	}
	if rec.KeyID == 0 && rec.Status >= 400 && 2*len(w.pending) > w.opts.QueueSize {
		// A request refused before any key was known (none, or a bad
		// one) costs nothing but is recorded for debugging; anyone can
		// send them. Under a flood they must not fill the queue that
		// paying requests wait on: past half full they are shed.
		w.mu.Unlock()
		if w.opts.Metrics != nil {
			w.opts.Metrics.UsageShed.Inc()
		}
		return nil
	}
	if len(w.pending) >= w.opts.QueueSize {
		if w.opts.Metrics != nil {
			w.opts.Metrics.UsageBlocked.Inc()
		}
		for len(w.pending) >= w.opts.QueueSize && !w.closed {
			w.signal()
			w.notFull.Wait()
		}
		if w.closed {
			w.mu.Unlock()
			return fmt.Errorf("usage writer closed")
		}
	}
	if w.pending == nil {
		w.pending, w.spare = w.spare, nil
	}
	w.pending = append(w.pending, rec)
	n := len(w.pending)
	if w.opts.Metrics != nil {
		w.opts.Metrics.UsageQueue.Set(float64(n))
	}
	w.mu.Unlock()
	if n == w.wakeAt {
		w.signal()
	}
	return nil
}

// take returns the pending records (the caller owns them until it hands
// them back with give) and whether Close was called.
func (w *Writer) take() ([]chorus.Usage, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	recs := w.pending
	w.pending = nil
	w.notFull.Broadcast()
	if w.opts.Metrics != nil {
		w.opts.Metrics.UsageQueue.Set(0)
	}
	return recs, w.closed
}

// give hands a drained slice back for reuse, unless it grew past what a
// queue of a few flush intervals needs (a burst's slice is let go).
func (w *Writer) give(recs []chorus.Usage) {
	if cap(recs) == 0 || cap(recs) > 4*w.opts.BatchSize {
		return
	}
	clear(recs) // no strings kept alive
	w.mu.Lock()
	if w.spare == nil {
		w.spare = recs[:0]
	}
	w.mu.Unlock()
}

// Run writes batches until Close is called and the queue is drained.
func (w *Writer) Run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	w.replay() // what an earlier process spooled
	for {
		ticked := false
		select {
		case <-w.wake:
		case <-tick.C:
			ticked = true
		}
		// After Close no Record gets in: what take returns with closed is
		// the last of them.
		all, closed := w.take()
		for i := range all {
			all[i] = w.estimate(all[i])
		}
		for recs := all; len(recs) > 0; {
			n := min(len(recs), w.opts.BatchSize)
			w.flush(recs[:n], closed)
			recs = recs[n:]
		}
		w.give(all)
		if closed {
			w.replay()
			return
		}
		if ticked {
			w.replay()
		}
	}
}

// estimate applies the Energy hook to rec.
func (w *Writer) estimate(rec chorus.Usage) chorus.Usage {
	if w.opts.Energy != nil {
		w.opts.Energy(&rec)
	}
	return rec
}

// flush writes batch, retrying on error. While running it retries until it
// succeeds; at shutdown it gives up after a few attempts and spills.
func (w *Writer) flush(batch []chorus.Usage, final bool) []chorus.Usage {
	if len(batch) == 0 {
		return batch
	}
	if w.opts.Spool != nil && w.writeOrSpool(batch) {
		return batch[:0]
	}
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.db.InsertUsage(ctx, batch)
		cancel()
		if err == nil {
			if w.opts.Metrics != nil {
				w.opts.Metrics.UsageWritten.Add(float64(len(batch)))
			}
			return batch[:0]
		}
		if w.opts.Metrics != nil {
			w.opts.Metrics.UsageRetries.Inc()
		}
		w.opts.Logger.Error("usage batch write failed; retrying", "records", len(batch), "attempt", attempt, "err", err)
		if final && attempt >= 5 {
			w.spill(batch)
			return batch[:0]
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// writeOrSpool writes batch once, or spools it when the database is down
// or the write fails. It reports false when the spool is full too: the
// caller then retries in memory.
func (w *Writer) writeOrSpool(batch []chorus.Usage) bool {
	if w.opts.Database == nil || !w.opts.Database.Down() {
		err := w.insert(batch)
		if err == nil {
			return true
		}
		if w.opts.Database != nil {
			w.opts.Database.Failed(err)
		}
		if w.opts.Metrics != nil {
			w.opts.Metrics.UsageRetries.Inc()
		}
		if !w.spooling {
			w.opts.Logger.Warn("usage: writing records failed; spooling them until the database takes them", "err", err)
		}
	}
	if err := w.opts.Spool.Append(batch); err != nil {
		if !w.spoolRefused {
			w.spoolRefused = true
			w.opts.Logger.Error("usage: the spool cannot take records; keeping them in memory (requests wait when the queue is full)", "err", err)
		}
		return false
	}
	w.spoolRefused = false
	if !w.spooling {
		w.spooling = true
		w.opts.Logger.Warn("usage: records are spooled to disk until the database returns")
	}
	w.spooled.Add(int64(len(batch)))
	return true
}

// insert writes one batch, bounded in time.
func (w *Writer) insert(batch []chorus.Usage) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.db.InsertUsage(ctx, batch)
	if err == nil && w.opts.Metrics != nil {
		w.opts.Metrics.UsageWritten.Add(float64(len(batch)))
	}
	return err
}

// replay writes the spooled batches while the database is up, and says
// once when the spool is empty again.
func (w *Writer) replay() {
	sp := w.opts.Spool
	if sp == nil || sp.Size() == 0 || (w.opts.Database != nil && w.opts.Database.Down()) {
		return
	}
	var recs int64
	_, err := sp.Replay(func(entry json.RawMessage) error {
		var batch []chorus.Usage
		if err := json.Unmarshal(entry, &batch); err != nil {
			w.opts.Logger.Error("usage: skipping an unreadable spool entry", "err", err)
			return nil
		}
		if err := w.insert(batch); err != nil {
			return err
		}
		recs += int64(len(batch))
		return nil
	})
	w.replayed.Add(recs)
	if err != nil {
		if w.opts.Database != nil {
			w.opts.Database.Failed(err)
		}
		return
	}
	if recs > 0 || w.spooling {
		w.opts.Logger.Info("usage: spooled records written to the database", "records", recs)
	}
	w.spooling = false
}

// spill saves records that could not be written to a JSON-lines file.
func (w *Writer) spill(batch []chorus.Usage) {
	if w.opts.SpillDir == "" {
		w.opts.Logger.Error("usage records lost: no spill directory", "records", len(batch))
		return
	}
	name := filepath.Join(w.opts.SpillDir, fmt.Sprintf("usage-spill-%d.jsonl", time.Now().UnixNano()))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600) // #nosec G304 -- a spill file in the configured data_dir, named by the writer itself
	if err == nil {
		enc := json.NewEncoder(f)
		for i := range batch {
			if err = enc.Encode(&batch[i]); err != nil {
				break
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		w.opts.Logger.Error("usage records lost: spill failed", "records", len(batch), "err", err)
		return
	}
	w.opts.Logger.Warn("usage records saved to a spill file; they are imported on the next start", "file", name, "records", len(batch))
}

// Close stops accepting records and waits until every queued record is
// written (or spilled), or ctx ends.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.notFull.Broadcast()
		w.mu.Unlock()
		w.signal()
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("usage writer flush: %w", ctx.Err())
	}
}

// Import loads spill files left by an earlier shutdown into the database and
// removes them. It returns how many records it imported.
func Import(ctx context.Context, db Inserter, dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "usage-spill-*.jsonl"))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, name := range files {
		b, err := os.ReadFile(name) // #nosec G304 -- a spill file in the configured data_dir, named by the writer itself
		if err != nil {
			return total, fmt.Errorf("read spill: %w", err)
		}
		var recs []chorus.Usage
		dec := json.NewDecoder(bytes.NewReader(b))
		for dec.More() {
			var r chorus.Usage
			if err := dec.Decode(&r); err != nil {
				return total, fmt.Errorf("spill %s: %w", name, err)
			}
			recs = append(recs, r)
		}
		if err := db.InsertUsage(ctx, recs); err != nil {
			return total, fmt.Errorf("import spill %s: %w", name, err)
		}
		if err := os.Remove(name); err != nil {
			return total, err
		}
		total += len(recs)
	}
	return total, nil
}

// newKey returns a random record key for a record its caller gave none.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
