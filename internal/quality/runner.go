package quality

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/prometheus/client_golang/prometheus"
)

// ScoreStore stores score records in batches.
type ScoreStore interface {
	InsertScores(ctx context.Context, recs []chorus.ScoreRecord) error
}

// Job is one answer to score off the request path.
type Job struct {
	RequestID  string
	ResponseID string // the answer ID the client saw
	Model      string // public model name
	Route      string // route name, or ""
	Deployment string
	KeyID      int64
	UserID     int64
	Specs      []Spec
	Request    *provider.ChatRequest
	Response   *provider.ChatResponse
	// Inline holds scores a cascade or ensemble computed already; they are
	// stored as they are, without evaluating Specs again.
	Inline *Result
}

// RunnerOptions configure a Runner. Zero values take the defaults.
type RunnerOptions struct {
	Workers       int                   // concurrent evaluations (default 2)
	QueueSize     int                   // jobs waiting; beyond it Submit drops (default 1024)
	Timeout       time.Duration         // bound on one job's evaluation, judge calls included (default 60 s)
	BatchSize     int                   // score records per database write (default 256)
	FlushInterval time.Duration         // how long records wait for a batch to fill (default 500 ms)
	Logger        *slog.Logger          // failed scorers and lost scores; nil discards them
	Registerer    prometheus.Registerer // where the runner's metrics go (optional)
	Now           func() time.Time
}

// RunnerStats counts what a runner did, for tests and diagnostics.
type RunnerStats struct {
	Queued    uint64 // jobs accepted
	Dropped   uint64 // jobs refused: queue full or runner closed
	Evaluated uint64 // jobs done (with or without scorer errors)
	Errors    uint64 // scorer failures
	Written   uint64 // score records stored
	Lost      uint64 // score records the database refused after retries
}

// Runner scores answers off the request path: Submit queues a job without
// blocking, a small pool of workers evaluates, and one writer stores the
// scores in batches. Scoring is best effort, unlike usage: a full queue
// drops the job (and counts it) rather than slow a request down.
type Runner struct {
	e     *Evaluator
	store ScoreStore
	opts  RunnerOptions

	queue   chan Job
	records chan []chorus.ScoreRecord
	done    chan struct{}
	started atomic.Bool
	base    context.Context // evaluations; canceled when Close gives up
	cancel  context.CancelFunc

	mu     sync.RWMutex // guards closed against Submit racing Close
	closed bool

	queued, dropped, evaluated, errs, written, lost atomic.Uint64

	mJobs    *prometheus.CounterVec
	mWritten prometheus.Counter
	mErrors  prometheus.Counter
	mQueue   prometheus.GaugeFunc
}

// NewRunner returns a runner; call Run to start it (Close starts it too, to
// drain what was queued).
func NewRunner(e *Evaluator, st ScoreStore, opts RunnerOptions) *Runner {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Runner{
		e: e, store: st, opts: opts,
		queue:   make(chan Job, opts.QueueSize),
		records: make(chan []chorus.ScoreRecord, opts.Workers),
		done:    make(chan struct{}),
	}
	r.base, r.cancel = context.WithCancel(context.Background())
	r.mJobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chorus_quality_jobs_total", Help: "Answers submitted for quality scoring, by outcome (queued, dropped).",
	}, []string{"outcome"})
	r.mWritten = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_quality_scores_written_total", Help: "Quality scores stored."})
	r.mErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_quality_scorer_errors_total", Help: "Scorers that failed (judge errors and timeouts included)."})
	r.mQueue = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chorus_quality_queue_length", Help: "Answers waiting to be scored."},
		func() float64 { return float64(len(r.queue)) })
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.mJobs, r.mWritten, r.mErrors, r.mQueue} {
			if err := opts.Registerer.Register(c); err != nil {
				opts.Logger.Warn("quality metrics not registered", "err", err)
			}
		}
	}
	return r
}

// Evaluator returns the evaluator the runner scores with.
func (r *Runner) Evaluator() *Evaluator { return r.e }

// Submit queues a job and returns at once. It returns false, and counts a
// drop, when the queue is full or the runner is closed (or nil). The job's
// Request and Response must not change after Submit; the parts of them that
// may alias pooled buffers (raw bodies, unknown fields, the response_format
// schema, tools) are copied or dropped here.
func (r *Runner) Submit(job Job) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		r.drop()
		return false
	}
	select {
	case r.queue <- detach(job):
		r.queued.Add(1)
		r.mJobs.WithLabelValues("queued").Inc()
		return true
	default:
		r.drop()
		return false
	}
}

func (r *Runner) drop() {
	r.dropped.Add(1)
	r.mJobs.WithLabelValues("dropped").Inc()
}

// detach returns a job that shares nothing with the request's buffers.
func detach(j Job) Job {
	if j.Request != nil {
		req := *j.Request
		req.Raw, req.Extra, req.Tools, req.ToolChoice = nil, nil, nil, nil
		if rf := req.ResponseFormat; rf != nil {
			c := *rf
			c.Schema = bytes.Clone(rf.Schema)
			req.ResponseFormat = &c
		}
		j.Request = &req
	}
	if j.Response != nil {
		resp := *j.Response
		resp.Raw = nil
		j.Response = &resp
	}
	if j.Inline != nil {
		in := *j.Inline
		in.Scores = append([]Score(nil), in.Scores...)
		j.Inline = &in
	}
	return j
}

// Stats returns the runner's counters.
func (r *Runner) Stats() RunnerStats {
	return RunnerStats{
		Queued: r.queued.Load(), Dropped: r.dropped.Load(), Evaluated: r.evaluated.Load(),
		Errors: r.errs.Load(), Written: r.written.Load(), Lost: r.lost.Load(),
	}
}

// Run evaluates and stores until Close is called and everything queued is
// done. It returns at once if the runner is running already.
func (r *Runner) Run() {
	if r.started.CompareAndSwap(false, true) {
		r.run()
	}
}

func (r *Runner) run() {
	defer close(r.done)
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Go(r.work)
	}
	go func() { wg.Wait(); close(r.records) }()
	r.write()
}

// Close stops accepting jobs and waits until the queued ones are scored and
// stored, or ctx ends: then it cancels evaluations still running (their
// scores are lost) and returns ctx's error.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	if r.started.CompareAndSwap(false, true) {
		go r.run()
	}
	select {
	case <-r.done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		return ctx.Err()
	}
}

// work evaluates jobs and hands their records to the writer.
func (r *Runner) work() {
	for job := range r.queue {
		if recs := r.evaluate(job); len(recs) > 0 {
			r.records <- recs
		}
	}
}

func (r *Runner) evaluate(job Job) []chorus.ScoreRecord {
	defer r.evaluated.Add(1)
	var res Result
	if job.Inline != nil {
		res = *job.Inline
	} else {
		if len(job.Specs) == 0 || job.Response == nil {
			return nil // nothing to score with, or nothing to score (a stream)
		}
		ctx, cancel := context.WithTimeout(r.base, r.opts.Timeout)
		var err error
		sub := Subject{Scope: job.Model, Model: job.Model}
		if job.Route != "" {
			sub.Scope = job.Route
		}
		res, err = r.e.EvaluateFor(ctx, sub, job.Specs, job.Request, job.Response)
		cancel()
		if err != nil {
			n := len(job.Specs) - len(res.Scores)
			r.errs.Add(uint64(n)) // #nosec G115 -- n >= 0: an evaluation returns at most one score per spec
			r.mErrors.Add(float64(n))
			r.opts.Logger.Warn("quality scorer failed", "request_id", job.RequestID, "response_id", job.ResponseID,
				"model", job.Model, "err", err)
		}
	}
	now := r.opts.Now()
	recs := make([]chorus.ScoreRecord, 0, len(res.Scores))
	for _, s := range res.Scores {
		recs = append(recs, chorus.ScoreRecord{
			RequestID: job.RequestID, ResponseID: job.ResponseID, Model: job.Model, Route: job.Route,
			Deployment: job.Deployment, KeyID: job.KeyID, UserID: job.UserID,
			Scorer: s.Scorer, Value: clamp01(s.Value), Reason: clip(s.Reason, 1000), CreatedAt: now,
		})
	}
	return recs
}

// write batches records until the workers are done, then flushes.
func (r *Runner) write() {
	tick := time.NewTicker(r.opts.FlushInterval)
	defer tick.Stop()
	var batch []chorus.ScoreRecord
	for {
		select {
		case recs, ok := <-r.records:
			if !ok {
				r.flush(batch)
				return
			}
			batch = append(batch, recs...)
			if len(batch) >= r.opts.BatchSize {
				batch = r.flush(batch)
			}
		case <-tick.C:
			batch = r.flush(batch)
		}
	}
}

// flush stores batch, retrying a few times; scores are best effort, so a
// database that keeps failing loses them (counted and logged) rather than
// hold memory without bound.
func (r *Runner) flush(batch []chorus.ScoreRecord) []chorus.ScoreRecord {
	if len(batch) == 0 {
		return batch
	}
	backoff := 100 * time.Millisecond
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.store.InsertScores(ctx, batch)
		cancel()
		if err == nil {
			r.written.Add(uint64(len(batch)))
			r.mWritten.Add(float64(len(batch)))
			return batch[:0]
		}
		if chorus.ErrorCode(err) == chorus.EINVALID {
			break // the same batch would fail again
		}
		if attempt < 3 {
			time.Sleep(backoff)
			backoff *= 4
		}
	}
	r.lost.Add(uint64(len(batch)))
	r.opts.Logger.Error("quality scores lost: the database refused them", "records", len(batch), "err", err)
	return batch[:0]
}
