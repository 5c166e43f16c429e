package quality_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeStore keeps what InsertScores gets; insert may replace the behaviour.
type fakeStore struct {
	mu      sync.Mutex
	recs    []chorus.ScoreRecord
	batches int
	insert  func(recs []chorus.ScoreRecord) error
}

func (f *fakeStore) InsertScores(ctx context.Context, recs []chorus.ScoreRecord) error {
	if f.insert != nil {
		if err := f.insert(recs); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, recs...)
	f.batches++
	return nil
}

func (f *fakeStore) records() []chorus.ScoreRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chorus.ScoreRecord(nil), f.recs...)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func job(i int, specs ...quality.Spec) quality.Job {
	return quality.Job{
		RequestID: "req-" + string(rune('a'+i%26)), ResponseID: "chatcmpl-x", Model: "m", Route: "r", Deployment: "d",
		KeyID: 7, UserID: 3, Specs: specs, Request: request("q"), Response: answer(`{"a": 1}`),
	}
}

// counter returns a counter's value from reg by name and label value.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestRunner(t *testing.T) {
	valid := quality.Spec{Type: quality.TypeJSONValid}

	t.Run("QueueFullDrops", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		st := &fakeStore{}
		r := quality.NewRunner(quality.NewEvaluator(nil), st, quality.RunnerOptions{QueueSize: 2, Logger: quietLogger(), Registerer: reg})
		// Not running: the queue fills and stays full.
		var accepted int
		for i := range 5 {
			if r.Submit(job(i, valid)) {
				accepted++
			}
		}
		if accepted != 2 {
			t.Errorf("accepted %d jobs, want 2 (the queue size)", accepted)
		}
		if s := r.Stats(); s.Dropped != 3 || s.Queued != 2 {
			t.Errorf("stats %+v, want 3 dropped and 2 queued", s)
		}
		if got := counter(t, reg, "chorus_quality_jobs_total", "dropped"); got != 3 {
			t.Errorf("dropped metric = %v, want 3", got)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := len(st.records()); got != 2 {
			t.Errorf("stored %d records after Close, want the 2 queued jobs' scores", got)
		}
	})

	t.Run("CloseFlushes", func(t *testing.T) {
		st := &fakeStore{}
		r := quality.NewRunner(quality.NewEvaluator(nil), st, quality.RunnerOptions{
			QueueSize: 1000, Workers: 3, BatchSize: 64, FlushInterval: time.Hour, Logger: quietLogger(),
		})
		go r.Run()
		for i := range 300 {
			if !r.Submit(job(i, valid, quality.Spec{Type: quality.TypeContains, Value: "a"})) {
				t.Fatalf("job %d dropped", i)
			}
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs := st.records()
		if len(recs) != 600 {
			t.Fatalf("stored %d records, want 600 (300 jobs × 2 scorers), flushed at Close", len(recs))
		}
		got := recs[0]
		if got.Model != "m" || got.Route != "r" || got.Deployment != "d" || got.KeyID != 7 || got.UserID != 3 ||
			got.ResponseID != "chatcmpl-x" || got.Value != 1 || got.CreatedAt.IsZero() {
			t.Errorf("record %+v does not carry the job's context", got)
		}
		if s := r.Stats(); s.Written != 600 || s.Evaluated != 300 {
			t.Errorf("stats %+v", s)
		}
		if r.Submit(job(0, valid)) {
			t.Error("Submit after Close was accepted")
		}
	})

	t.Run("FlushInterval", func(t *testing.T) {
		st := &fakeStore{}
		r := quality.NewRunner(quality.NewEvaluator(nil), st, quality.RunnerOptions{FlushInterval: 20 * time.Millisecond, Logger: quietLogger()})
		go r.Run()
		defer r.Close(context.Background())
		r.Submit(job(1, valid))
		deadline := time.Now().Add(2 * time.Second)
		for len(st.records()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("a lone score was not written within the flush interval")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	t.Run("Inline", func(t *testing.T) {
		st := &fakeStore{}
		var calls atomic.Int64
		e := quality.NewEvaluator(fakeJudge{reply: "1", calls: &calls}.call)
		r := quality.NewRunner(e, st, quality.RunnerOptions{Logger: quietLogger()})
		j := job(1, quality.Spec{Type: quality.TypeJudge, Model: "g", Rubric: "r"})
		j.Inline = &quality.Result{Score: 0.9, Scores: []quality.Score{{Scorer: "judge", Value: 0.9, Reason: "inline"}}}
		r.Submit(j)
		j.Inline.Scores[0].Value = 0 // the caller reusing its result must not change what is stored
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs := st.records()
		if len(recs) != 1 || recs[0].Value != 0.9 || recs[0].Reason != "inline" || calls.Load() != 0 {
			t.Errorf("stored %+v after %d judge calls; want the inline score, not a new evaluation", recs, calls.Load())
		}
	})

	t.Run("DetachesPooledBuffers", func(t *testing.T) {
		st := &fakeStore{}
		r := quality.NewRunner(quality.NewEvaluator(nil), st, quality.RunnerOptions{Logger: quietLogger()})
		body := []byte(`{"type": "object", "required": ["a"]}`)
		j := job(1, quality.Spec{Type: quality.TypeJSONSchema})
		j.Request.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(body)}
		j.Request.Raw = body
		r.Submit(j)
		copy(body, `{"type": "string"                  }`) // the pool hands the buffer to the next request
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if recs := st.records(); len(recs) != 1 || recs[0].Value != 1 {
			t.Errorf("stored %+v; want the answer judged against the schema as submitted", recs)
		}
	})

	t.Run("ScorerErrorsStillStoreTheRest", func(t *testing.T) {
		st := &fakeStore{}
		reg := prometheus.NewRegistry()
		e := quality.NewEvaluator(fakeJudge{err: errors.New("boom")}.call)
		r := quality.NewRunner(e, st, quality.RunnerOptions{Logger: quietLogger(), Registerer: reg})
		r.Submit(job(1, valid, quality.Spec{Type: quality.TypeJudge, Model: "g", Rubric: "r"}))
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if recs := st.records(); len(recs) != 1 || recs[0].Scorer != "json_valid" {
			t.Errorf("stored %+v, want the json_valid score alone", recs)
		}
		if s := r.Stats(); s.Errors != 1 {
			t.Errorf("stats %+v, want 1 scorer error", s)
		}
		if got := counter(t, reg, "chorus_quality_scorer_errors_total", ""); got != 1 {
			t.Errorf("error metric = %v, want 1", got)
		}
	})

	t.Run("CloseDeadlineCancelsJudges", func(t *testing.T) {
		st := &fakeStore{}
		e := quality.NewEvaluator(fakeJudge{reply: "9", delay: time.Minute}.call)
		r := quality.NewRunner(e, st, quality.RunnerOptions{Logger: quietLogger()})
		go r.Run()
		r.Submit(job(1, quality.Spec{Type: quality.TypeJudge, Model: "g", Rubric: "r"}))
		time.Sleep(20 * time.Millisecond) // let a worker take it
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want the deadline error", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close took %v past its deadline", d)
		}
	})

	t.Run("StoreFailureLoses", func(t *testing.T) {
		st := &fakeStore{insert: func([]chorus.ScoreRecord) error { return errors.New("disk full") }}
		r := quality.NewRunner(quality.NewEvaluator(nil), st, quality.RunnerOptions{Logger: quietLogger()})
		r.Submit(job(1, valid))
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := r.Stats(); s.Lost != 1 || s.Written != 0 {
			t.Errorf("stats %+v, want 1 lost", s)
		}
	})

	t.Run("Nil", func(t *testing.T) {
		var r *quality.Runner
		if r.Submit(job(1, valid)) {
			t.Error("a nil runner accepted a job")
		}
	})
}

// BenchmarkSubmit measures what the request path pays to hand off a job.
func BenchmarkSubmit(b *testing.B) {
	r := quality.NewRunner(quality.NewEvaluator(nil), &fakeStore{}, quality.RunnerOptions{QueueSize: 1 << 16, Logger: quietLogger()})
	go r.Run()
	defer r.Close(context.Background())
	j := job(1, quality.Spec{Type: quality.TypeJSONValid})
	j.Request.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Name: "n", Schema: json.RawMessage(`{"type": "object"}`)}
	b.ReportAllocs()
	for b.Loop() {
		r.Submit(j)
	}
}
