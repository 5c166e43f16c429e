package orchestrate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/tracing"
	"go.opentelemetry.io/otel/trace"
)

// Attempt outcomes.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"
	OutcomeCanceled  = "canceled"   // a hedge's loser, or the client left
	OutcomeRejected  = "rejected"   // below a cascade's threshold
	OutcomeNotChosen = "not_chosen" // an ensemble's loser
	OutcomeJudge     = "judge"      // a judge model scoring an answer inline
)

// Evaluator scores an answer in [0,1] for cascades and ensembles. judged
// lists the upstream calls its judges made (they are part of the
// request's usage and cost), also when it fails.
type Evaluator interface {
	Evaluate(ctx context.Context, rt *registry.Route, req *provider.ChatRequest, resp *provider.ChatResponse) (score float64, judged []*Attempt, err error)
}

// Orchestrator turns one request into upstream calls according to its
// route's strategy, keeping every deployment's health.
type Orchestrator struct {
	Health    *Health
	Evaluator Evaluator                          // for cascade and ensemble; nil scores every answer 1
	Observe   func(a *Attempt)                   // called once per finished attempt (metrics)
	Quality   func(model string) (float64, bool) // observed quality, for quality-weighted balance
	// Limits holds each deployment's own provider limits (settings rpm, tpm,
	// max_concurrency): a deployment at its limit is waited for up to
	// MaxWait, else skipped for the next. Nil disables them.
	Limits  limit.Limiter
	MaxWait time.Duration
	// Tracer traces routings, attempts and scorings (trace.go); nil: off,
	// and then nothing here calls into OpenTelemetry.
	Tracer *tracing.Tracer
}

// Attempt is one upstream call.
type Attempt struct {
	Target  *registry.Target
	Tier    int // index of the route tier the target belongs to
	Start   time.Time
	Latency time.Duration // to the answer, or to a stream's first chunk
	Usage   provider.Usage
	Err     error
	Outcome string
	Score   *float64

	resp   *provider.ChatResponse
	emb    *provider.EmbeddingResponse
	stream provider.Stream
	first  *provider.StreamChunk
	done   func()        // ends the in-flight count
	ticket *limit.Ticket // the deployment-limit reservation
	epoch  uint64        // the deployment circuit's epoch when the call started
	tr     *attemptTrace // the attempt's span; nil when tracing is off
}

// Result is the outcome of a non-streamed request.
type Result struct {
	Response *provider.ChatResponse
	Winner   *Attempt
	Attempts []*Attempt
	Tier     int // the answering tier (cascade), -1 when not a cascade
}

// EmbedResult is the outcome of an embeddings request.
type EmbedResult struct {
	Response *provider.EmbeddingResponse
	Winner   *Attempt
	Attempts []*Attempt
}

// StreamResult is an open stream from the winning attempt. The caller
// relays Stream after First and must call Finish once with what the stream
// consumed and how it ended.
type StreamResult struct {
	Stream   provider.Stream
	First    *provider.StreamChunk // nil when the stream ended at once
	Winner   *Attempt
	Attempts []*Attempt
	Tier     int
	o        *Orchestrator
	replayed bool       // a cascade or ensemble answered; its attempts are already final
	span     trace.Span // the routing span, ended with the stream (nil when not traced)
}

// Finish records the winner's usage and outcome (err nil or io.EOF for a
// complete stream) and closes the stream.
func (s *StreamResult) Finish(usage provider.Usage, err error) {
	s.Stream.Close()
	if s.replayed {
		return
	}
	a := s.Winner
	a.Usage = usage
	if err != nil && !errors.Is(err, io.EOF) {
		a.Err = err
		a.Outcome = OutcomeError
		if errors.Is(err, context.Canceled) {
			a.Outcome = OutcomeCanceled
		}
	}
	s.o.finish(a, a.Err)
	if a.tr != nil {
		s.o.endStream(s)
	}
}

// tryElsewhere reports whether another deployment may succeed where this
// one failed: retryable upstream errors, and upstream errors that are about
// the deployment rather than the request (bad credentials, unknown model),
// and features this provider lacks.
func tryElsewhere(err error) bool {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe.Retryable() || pe.Status == http.StatusUnauthorized ||
			pe.Status == http.StatusForbidden || pe.Status == http.StatusNotFound
	}
	return chorus.ErrorCode(err) == chorus.ENOTSUPPORTED
}

// withDeadline applies the route's whole-request deadline.
func withDeadline(ctx context.Context, rt *registry.Route) (context.Context, context.CancelFunc) {
	if d := rt.Config.DeadlineMS; d > 0 {
		return context.WithTimeout(ctx, time.Duration(d)*time.Millisecond)
	}
	return ctx, noCancel // a context per request costs allocations on the hot path
}

// noCancel stands in for a cancel func where no context was derived.
func noCancel() {}

// Chat answers a non-streamed chat request.
func (o *Orchestrator) Chat(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*Result, error) {
	if o.Tracer != nil {
		return o.tracedChat(ctx, rt, req)
	}
	return o.chat(ctx, rt, req)
}

func (o *Orchestrator) chat(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*Result, error) {
	ctx, cancel := withDeadline(ctx, rt)
	defer cancel()
	switch rt.Strategy {
	case chorus.StrategyCascade:
		return o.cascade(ctx, rt, req)
	case chorus.StrategyEnsemble:
		return o.ensemble(ctx, rt, req)
	}
	try := func(ctx context.Context, t *registry.Target, tier int) *Attempt { return o.tryChat(ctx, t, tier, req) }
	var w *Attempt
	var attempts []*Attempt
	var err error
	if rt.Strategy == chorus.StrategyHedge {
		w, attempts, err = o.hedge(ctx, rt, o.order(rt), provider.EstimateChatTokens(req), try)
	} else {
		w, attempts, err = o.sequence(ctx, rt, o.order(rt), provider.EstimateChatTokens(req), try)
	}
	if err != nil {
		return &Result{Attempts: attempts, Tier: -1}, err
	}
	return &Result{Response: w.resp, Winner: w, Attempts: attempts, Tier: -1}, nil
}

// ChatStream opens a streamed answer. The first chunk is read before this
// returns, so a failing deployment can still be replaced; after that the
// stream is the winner's alone. Cascades and ensembles need whole answers
// to score: they run unstreamed upstream and the chosen answer is replayed
// as a stream.
func (o *Orchestrator) ChatStream(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*StreamResult, error) {
	if o.Tracer != nil {
		return o.tracedChatStream(ctx, rt, req)
	}
	return o.chatStream(ctx, rt, req)
}

func (o *Orchestrator) chatStream(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*StreamResult, error) {
	if rt.Strategy == chorus.StrategyCascade || rt.Strategy == chorus.StrategyEnsemble {
		whole := *req
		whole.Stream, whole.IncludeUsage = false, false
		res, err := o.Chat(ctx, rt, &whole)
		if err != nil {
			return &StreamResult{Attempts: res.Attempts, Tier: res.Tier, o: o, replayed: true}, err
		}
		st := Replay(res.Response)
		first, _ := st.Next()
		return &StreamResult{Stream: st, First: first, Winner: res.Winner, Attempts: res.Attempts, Tier: res.Tier, o: o, replayed: true}, nil
	}
	// The winner's stream outlives this call: its deadline is the caller's.
	try := func(ctx context.Context, t *registry.Target, tier int) *Attempt {
		return o.tryStream(ctx, t, tier, req)
	}
	var w *Attempt
	var attempts []*Attempt
	var err error
	if rt.Strategy == chorus.StrategyHedge {
		w, attempts, err = o.hedge(ctx, rt, o.order(rt), provider.EstimateChatTokens(req), try)
	} else {
		w, attempts, err = o.sequence(ctx, rt, o.order(rt), provider.EstimateChatTokens(req), try)
	}
	if err != nil {
		return &StreamResult{Attempts: attempts, Tier: -1, o: o}, err
	}
	return &StreamResult{Stream: w.stream, First: w.first, Winner: w, Attempts: attempts, Tier: -1, o: o}, nil
}

// Embed answers an embeddings request (fallback and balance only).
func (o *Orchestrator) Embed(ctx context.Context, rt *registry.Route, req *provider.EmbeddingRequest) (*EmbedResult, error) {
	if o.Tracer != nil {
		return o.tracedEmbed(ctx, rt, req)
	}
	return o.embed(ctx, rt, req)
}

func (o *Orchestrator) embed(ctx context.Context, rt *registry.Route, req *provider.EmbeddingRequest) (*EmbedResult, error) {
	ctx, cancel := withDeadline(ctx, rt)
	defer cancel()
	try := func(ctx context.Context, t *registry.Target, tier int) *Attempt {
		a := o.begin(t, tier)
		e, ok := t.Provider.(provider.Embedder)
		if !ok {
			a.Err = &chorus.Error{Code: chorus.ENOTSUPPORTED, Message: "The deployment " + t.Deployment.Name + " cannot create embeddings."}
			o.finish(a, a.Err)
			return a
		}
		actx, cancel := attemptContext(ctx, t, false)
		defer cancel()
		r := *req
		r.Model = t.Deployment.UpstreamModel
		if o.Tracer != nil {
			actx = o.traceAttempt(actx, a, tracing.OpEmbeddings, nil)
		}
		a.emb, a.Err = e.Embed(actx, &r)
		if a.Err == nil {
			a.Usage = a.emb.Usage
		}
		o.finish(a, a.Err)
		return a
	}
	w, attempts, err := o.sequence(ctx, rt, o.order(rt), provider.EstimateEmbeddingTokens(req), try)
	if err != nil {
		return &EmbedResult{Attempts: attempts}, err
	}
	return &EmbedResult{Response: w.emb, Winner: w, Attempts: attempts}, nil
}

// begin starts an attempt on t: in flight, timed.
func (o *Orchestrator) begin(t *registry.Target, tier int) *Attempt {
	end, epoch := o.Health.Of(t.Deployment.Name).Start()
	return &Attempt{Target: t, Tier: tier, Start: time.Now(), Outcome: OutcomeOK, done: end, epoch: epoch}
}

// finish ends an attempt: health, in-flight count, outcome, observer.
func (o *Orchestrator) finish(a *Attempt, err error) {
	if a.Latency == 0 {
		a.Latency = time.Since(a.Start)
	}
	if err != nil && a.Outcome == OutcomeOK {
		a.Outcome = OutcomeError
		if errors.Is(err, context.Canceled) {
			a.Outcome = OutcomeCanceled
		}
	}
	o.Health.Of(a.Target.Deployment.Name).Done(a.epoch, err, a.Latency)
	if a.done != nil {
		a.done()
		a.done = nil
	}
	a.ticket.Done(int64(a.Usage.InputTokens + a.Usage.OutputTokens))
	if o.Observe != nil {
		o.Observe(a)
	}
	if a.tr != nil {
		a.tr.end = time.Now()
	}
}

// attemptContext bounds one attempt by the deployment's own timeouts. For
// a non-streamed call the answer is its first token, so the tighter of the
// two applies.
func attemptContext(ctx context.Context, t *registry.Target, stream bool) (context.Context, context.CancelFunc) {
	d := t.Timeout
	if !stream && t.FirstTokenTimeout > 0 && (d == 0 || t.FirstTokenTimeout < d) {
		d = t.FirstTokenTimeout
	}
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return ctx, noCancel
}

// tryChat makes one non-streamed call.
func (o *Orchestrator) tryChat(ctx context.Context, t *registry.Target, tier int, req *provider.ChatRequest) *Attempt {
	a := o.begin(t, tier)
	actx, cancel := attemptContext(ctx, t, false)
	defer cancel()
	r := *req
	r.Model = t.Deployment.UpstreamModel
	if o.Tracer != nil {
		actx = o.traceAttempt(actx, a, tracing.OpChat, &r)
	}
	a.resp, a.Err = t.Provider.Chat(actx, &r)
	if a.Err == nil {
		a.Usage = a.resp.Usage
	}
	o.finish(a, a.Err)
	return a
}

// tryStream opens a stream and reads its first chunk within the
// deployment's first-token timeout. On success the attempt stays in flight
// until StreamResult.Finish.
func (o *Orchestrator) tryStream(ctx context.Context, t *registry.Target, tier int, req *provider.ChatRequest) *Attempt {
	a := o.begin(t, tier)
	var cancel context.CancelFunc = noCancel
	sctx := ctx
	switch {
	case t.Timeout > 0:
		sctx, cancel = context.WithTimeout(ctx, t.Timeout)
	case t.FirstTokenTimeout > 0: // the first-token timer cancels it
		sctx, cancel = context.WithCancel(ctx)
	}
	r := *req
	r.Model = t.Deployment.UpstreamModel
	var timer *time.Timer
	if t.FirstTokenTimeout > 0 {
		timer = time.AfterFunc(t.FirstTokenTimeout, cancel)
	}
	if o.Tracer != nil {
		sctx = o.traceAttempt(sctx, a, tracing.OpChat, &r)
	}
	st, err := t.Provider.ChatStream(sctx, &r)
	if err == nil && a.tr != nil {
		st = o.traceStream(a, st)
	}
	var first *provider.StreamChunk
	if err == nil {
		first, err = st.Next()
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	firstTokenExpired := timer != nil && !timer.Stop()
	a.Latency = time.Since(a.Start)
	if err != nil {
		if firstTokenExpired {
			err = &provider.Error{Provider: t.Deployment.Provider, Timeout: true, Message: "no first token within " + t.FirstTokenTimeout.String(), Err: context.DeadlineExceeded}
		}
		if st != nil {
			st.Close()
		}
		cancel()
		a.Err = err
		o.finish(a, err)
		return a
	}
	a.stream, a.first = &cancelStream{Stream: st, cancel: cancel}, first
	return a
}

// cancelStream releases the attempt's context when the stream is closed.
type cancelStream struct {
	provider.Stream
	cancel context.CancelFunc
}

func (c *cancelStream) Close() error {
	err := c.Stream.Close()
	c.cancel()
	return err
}

// Ready forwards the wrapped stream's report that a chunk is buffered, so
// the relay can batch writes.
func (c *cancelStream) Ready() bool {
	r, ok := c.Stream.(interface{ Ready() bool })
	return ok && r.Ready()
}

// takeDeployment reserves a call within the deployment's own provider
// limits, waiting up to MaxWait when it is at them. It returns an
// ERATELIMIT error when the deployment cannot take the call now.
func (o *Orchestrator) takeDeployment(ctx context.Context, t *registry.Target, tokens int64) (*limit.Ticket, error) {
	if o.Limits == nil || t.Limits.IsZero() {
		return nil, nil
	}
	d, tk, err := o.Limits.TryDeployment(ctx, t.Deployment.Name, t.Limits, tokens)
	if err == nil && !d.Allowed && !d.TooLarge && d.RetryAfter <= o.MaxWait && sleep(ctx, d.RetryAfter) {
		d, tk, err = o.Limits.TryDeployment(ctx, t.Deployment.Name, t.Limits, tokens)
	}
	if err == nil && !d.Allowed {
		err = &chorus.Error{Code: chorus.ERATELIMIT, Message: "The model's deployments are at their providers' rate limits; try again shortly.", RetryAfter: d.RetryAfter}
	}
	return tk, err
}

// withTicket attaches a deployment-limit reservation to an attempt: settled
// now when the call is over, or when its stream finishes.
func (o *Orchestrator) withTicket(a *Attempt, tk *limit.Ticket) *Attempt {
	if a.done == nil { // finished: the call is over
		tk.Done(int64(a.Usage.InputTokens + a.Usage.OutputTokens))
	} else {
		a.ticket = tk
	}
	return a
}
