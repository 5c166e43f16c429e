// Package usage writes one usage record per request through a bounded,
// batched writer off the request path, and flushes it on shutdown.
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
}

// Writer batches usage records. Record never drops a record: when the queue
// is full it waits (back-pressure) and counts the wait in a metric. Database
// errors are retried with backoff; at shutdown, records that still cannot be
// written are saved to a spill file that Import loads on the next start.
type Writer struct {
	db     Inserter
	opts   Options
	queue  chan chorus.Usage
	done   chan struct{}
	once   sync.Once
	mu     sync.RWMutex // guards closed against Record racing Close
	closed bool
}

// NewWriter returns a writer; call Run to start it.
func NewWriter(db Inserter, opts Options) *Writer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Writer{db: db, opts: opts, queue: make(chan chorus.Usage, opts.QueueSize), done: make(chan struct{})}
}

// Record queues one record. It returns an error only after Close.
func (w *Writer) Record(rec chorus.Usage) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return fmt.Errorf("usage writer closed")
	}
	if rec.Key == "" {
		rec.Key = newKey() // so a retried batch stores the record once
	}
	select {
	case w.queue <- rec:
	default:
		if w.opts.Metrics != nil {
			w.opts.Metrics.UsageBlocked.Inc()
		}
		w.queue <- rec
	}
	return nil
}

// Run writes batches until Close is called and the queue is drained.
func (w *Writer) Run() {
	defer close(w.done)
	batch := make([]chorus.Usage, 0, w.opts.BatchSize)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case rec, ok := <-w.queue:
			if !ok {
				w.flush(batch, true)
				return
			}
			batch = append(batch, rec)
			// Take what is already queued without waiting, up to a batch.
			for len(batch) < w.opts.BatchSize {
				select {
				case rec, ok = <-w.queue:
				default:
					ok = false
				}
				if !ok {
					break
				}
				batch = append(batch, rec)
			}
			if len(batch) >= w.opts.BatchSize {
				batch = w.flush(batch, false)
			}
		case <-tick.C:
			batch = w.flush(batch, false)
		}
		if w.opts.Metrics != nil {
			w.opts.Metrics.UsageQueue.Set(float64(len(w.queue)))
		}
	}
}

// flush writes batch, retrying on error. While running it retries until it
// succeeds; at shutdown it gives up after a few attempts and spills.
func (w *Writer) flush(batch []chorus.Usage, final bool) []chorus.Usage {
	if len(batch) == 0 {
		return batch
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
		close(w.queue)
		w.mu.Unlock()
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
