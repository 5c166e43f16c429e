package orchestrate

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
)

// tryFunc makes one attempt on a target; Attempt.Err nil means success.
type tryFunc func(ctx context.Context, t *registry.Target, tier int) *Attempt

// candidate is a target in the order to try, with its tier.
type candidate struct {
	t    *registry.Target
	tier int
}

// sequence tries candidates one after another — the fallback chain and the
// balance strategies' failover — retrying each up to the route's retries
// with exponential backoff and full jitter (at least the upstream's
// Retry-After), all within ctx's deadline. Deployments whose circuit is
// open are skipped.
func (o *Orchestrator) sequence(ctx context.Context, rt *registry.Route, order []candidate, tokens int64, try tryFunc) (*Attempt, []*Attempt, error) {
	var attempts []*Attempt
	var last error
	var skip skipped
	for _, c := range order {
		h := o.Health.Of(c.t.Deployment.Name)
		for n := 0; n <= rt.Config.Retries; n++ {
			tk, lerr := o.takeDeployment(ctx, c.t, tokens)
			if lerr != nil {
				if n == 0 {
					skip.addLimited(lerr, c)
				}
				break
			}
			if !h.Allow() {
				tk.Done(0)
				if n == 0 {
					skip.add(h, c)
				}
				break
			}
			a := o.withTicket(try(ctx, c.t, c.tier), tk)
			attempts = append(attempts, a)
			if a.Err == nil {
				return a, attempts, nil
			}
			last = a.Err
			if ctx.Err() != nil || !tryElsewhere(a.Err) {
				return nil, attempts, last
			}
			if n == rt.Config.Retries {
				break
			}
			if !sleep(ctx, backoff(rt.Config.BackoffMS, n, a.Err)) {
				return nil, attempts, last
			}
		}
	}
	if last == nil && skip.panicky(len(order)) {
		// Every circuit is open, none merely rate limited. With several
		// deployments that is more often chance (a burst of failures on each)
		// than an outage of all: rather than refuse, try the one whose recent
		// calls went best, once — Envoy's "panic routing". A model with one
		// deployment keeps failing fast.
		a := try(ctx, skip.best.t, skip.best.tier)
		attempts = append(attempts, a)
		if a.Err == nil {
			return a, attempts, nil
		}
		return nil, attempts, a.Err
	}
	if last == nil {
		return nil, attempts, skip.err()
	}
	return nil, attempts, last
}

// skipped remembers deployments passed over because their circuit is open
// or they are resting after a 429, to say why nothing was called.
type skipped struct {
	n, limited int
	retryAt    time.Time
	best       candidate // the open circuit whose recent calls went best
	bestRatio  float64
	bestAt     time.Time
}

// addLimited skips a deployment at its provider's rate limits.
func (s *skipped) addLimited(err error, c candidate) {
	s.n++
	s.limited++
	var ce *chorus.Error
	if errors.As(err, &ce) && ce.RetryAfter > 0 {
		if at := time.Now().Add(ce.RetryAfter); s.retryAt.IsZero() || at.Before(s.retryAt) {
			s.retryAt = at
		}
	}
}

func (s *skipped) add(h *DeploymentHealth, c candidate) {
	s.n++
	if h.RateLimited() {
		s.limited++
	}
	at := h.RetryAt()
	if s.retryAt.IsZero() || at.Before(s.retryAt) {
		s.retryAt = at
	}
	// For panic routing: the best recent success ratio; on a tie, the one
	// that reopens first. (The first circuit to open is usually the one
	// failing hardest, so "oldest" alone would pick a dead deployment.)
	r := h.SuccessRatio()
	if s.best.t == nil || r > s.bestRatio || (r == s.bestRatio && at.Before(s.bestAt)) {
		s.best, s.bestRatio, s.bestAt = c, r, at
	}
}

// panicky reports whether all of a route's several candidates were skipped
// for open circuits (a rate-limited deployment is never forced).
func (s *skipped) panicky(candidates int) bool {
	return candidates > 1 && s.n == candidates && s.limited == 0
}

// err is the error when no deployment could be called: 429 when they all
// rest after the upstream's rate limiting, 503 when circuits are open.
func (s *skipped) err() error {
	e := &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "No healthy deployment can take this request now; try again shortly."}
	if s.n > 0 && s.limited == s.n {
		e = &chorus.Error{Code: chorus.ERATELIMIT, Message: "The upstream provider is rate limiting this model; try again after the Retry-After delay."}
	}
	if !s.retryAt.IsZero() {
		e.RetryAfter = max(time.Until(s.retryAt), time.Second)
	}
	return e
}

// backoff returns the wait before retry n (0-based): full jitter over an
// exponentially growing cap, and never less than the upstream's Retry-After.
func backoff(baseMS, n int, err error) time.Duration {
	if baseMS <= 0 {
		baseMS = 100
	}
	ceiling := time.Duration(baseMS) * time.Millisecond << min(n, 10)
	d := time.Duration(rand.Int64N(int64(ceiling) + 1)) // #nosec G404 -- retry backoff jitter, not a security decision
	var pe *provider.Error
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = pe.RetryAfter
	}
	return d
}

// sleep waits d unless ctx ends first or d passes its deadline; it reports
// whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// hedge calls the first candidate, and another each time the delay passes
// with no answer (up to hedge_max extra calls); the first good answer wins
// and the other calls are cancelled. A call that fails is replaced at once
// (fallback, not a hedge).
func (o *Orchestrator) hedge(ctx context.Context, rt *registry.Route, order []candidate, tokens int64, try tryFunc) (*Attempt, []*Attempt, error) {
	h := &hedger{o: o, order: order, tokens: tokens, try: try, results: make(chan launched, len(order))}
	if !h.launch(ctx) {
		return h.noneLaunched(ctx)
	}
	maxExtra := max(rt.Config.HedgeMax, 1)
	delay := o.hedgeDelay(rt, order[0].t)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var last error
	for h.pending > 0 && h.winner == nil {
		select {
		case r := <-h.results:
			h.pending--
			h.attempts = append(h.attempts, r.a)
			if r.a.Err == nil {
				h.winner, h.winnerIdx = r.a, r.idx
				continue
			}
			last = r.a.Err
			if !tryElsewhere(r.a.Err) {
				return h.finish(ctx, last)
			}
			h.launch(ctx)
		case <-timer.C:
			if len(h.cancels)-1 < maxExtra && h.launch(ctx) {
				timer.Reset(delay)
			}
		case <-ctx.Done():
			return h.finish(ctx, last)
		}
	}
	return h.finish(ctx, last)
}

// launched is one hedged call's result and its index among the launches.
type launched struct {
	a   *Attempt
	idx int
}

// hedger is the state of one hedged request.
type hedger struct {
	o         *Orchestrator
	order     []candidate
	tokens    int64
	try       tryFunc
	results   chan launched
	cancels   []context.CancelFunc // one per launched call
	next      int                  // the next candidate in order
	pending   int                  // calls launched, not yet returned
	skip      skipped
	attempts  []*Attempt
	winner    *Attempt
	winnerIdx int
}

// launch starts a call on the next candidate that its limits and circuit
// allow, and reports whether one was started.
func (h *hedger) launch(ctx context.Context) bool {
	for h.next < len(h.order) {
		c := h.order[h.next]
		h.next++
		health := h.o.Health.Of(c.t.Deployment.Name)
		tk, lerr := h.o.takeDeployment(ctx, c.t, h.tokens)
		if lerr != nil {
			h.skip.addLimited(lerr, c)
			continue
		}
		if !health.Allow() {
			tk.Done(0)
			h.skip.add(health, c)
			continue
		}
		actx, cancel := context.WithCancel(ctx)
		idx := len(h.cancels)
		h.cancels = append(h.cancels, cancel)
		h.pending++
		go func() { h.results <- launched{h.o.withTicket(h.try(actx, c.t, c.tier), tk), idx} }()
		return true
	}
	return false
}

// noneLaunched answers when no candidate could be called: as in sequence,
// when every circuit is open the longest-rested is tried once.
func (h *hedger) noneLaunched(ctx context.Context) (*Attempt, []*Attempt, error) {
	if !h.skip.panicky(len(h.order)) {
		return nil, nil, h.skip.err()
	}
	a := h.try(ctx, h.skip.best.t, h.skip.best.tier)
	if a.Err == nil {
		return a, []*Attempt{a}, nil
	}
	return nil, []*Attempt{a}, a.Err
}

// finish cancels every call but the winner, collects the calls still
// running as canceled, and returns the outcome (last is the last failure).
func (h *hedger) finish(ctx context.Context, last error) (*Attempt, []*Attempt, error) {
	for i, cancel := range h.cancels {
		if i != h.winnerIdx || h.winner == nil {
			cancel()
		}
	}
	for ; h.pending > 0; h.pending-- {
		a := (<-h.results).a
		if a.stream != nil { // opened after the winner: close it unread
			a.stream.Close()
			a.Err = context.Canceled
			h.o.finish(a, a.Err)
		}
		a.Outcome = OutcomeCanceled
		h.attempts = append(h.attempts, a)
	}
	if h.winner != nil {
		return h.winner, h.attempts, nil
	}
	if last == nil {
		last = ctx.Err()
	}
	return nil, h.attempts, last
}

// hedgeDelay is the configured delay, or the primary's observed p95 (time
// to first chunk for streams), or 1s before there is enough data.
func (o *Orchestrator) hedgeDelay(rt *registry.Route, primary *registry.Target) time.Duration {
	if d := rt.Config.HedgeDelay; d > 0 {
		return time.Duration(d) * time.Millisecond
	}
	if p95, ok := o.Health.Of(primary.Deployment.Name).P95(); ok {
		return max(p95, 5*time.Millisecond)
	}
	return time.Second
}

// threshold is the cascade's pass score.
func threshold(rt *registry.Route) float64 {
	if t := rt.Config.Threshold; t > 0 {
		return t
	}
	return 0.7
}

// Thresholder is what an Evaluator offers to calibrate a cascade's
// threshold to its config.target; ok false keeps the configured threshold
// (not enough held-out feedback yet).
type Thresholder interface {
	Threshold(rt *registry.Route) (threshold float64, ok bool)
}

// PreScorer is what an Evaluator offers to score a cascade tier's answer
// before calling it, from the request alone (a prompt-only learned
// scorer); ok false means it cannot, and the tier is called.
type PreScorer interface {
	PreScore(rt *registry.Route, req *provider.ChatRequest, tier int) (score float64, ok bool)
}

// cascadeThreshold is the calibrated threshold when the route has a target
// and the evaluator can calibrate it, else the configured one.
func (o *Orchestrator) cascadeThreshold(rt *registry.Route) float64 {
	if rt.Config.Target != nil {
		if th, ok := o.Evaluator.(Thresholder); ok {
			if t, ok := th.Threshold(rt); ok {
				return t
			}
		}
	}
	return threshold(rt)
}

// exploreTier picks the tier an exploring request goes to: the first in
// three cases of four (its answers are what a learned scorer judges), else
// another at random (to know how good the stronger tiers are).
func exploreTier(tiers int) int {
	if tiers < 2 || rand.IntN(4) > 0 { // #nosec G404 -- exploration, not a secret
		return 0
	}
	return 1 + rand.IntN(tiers-1) // #nosec G404 -- exploration, not a secret
}

// trailKey is the context key of a cascade request's Trail.
type trailKey struct{}

// Trail is what a cascade request carries from tier to tier for its
// evaluator: whether it explores, and what the evaluator kept of the first
// tier's answer (so that feedback on a later tier's answer can be paired
// with it). One request's tiers run one after another.
type Trail struct {
	Explored bool
	First    any
}

// TrailOf returns the cascade request's trail, or nil outside a cascade.
func TrailOf(ctx context.Context) *Trail {
	t, _ := ctx.Value(trailKey{}).(*Trail)
	return t
}

// Exploring reports whether ctx is a cascade request that explores
// (config.explore): a tier picked at random answers, whatever its score.
func Exploring(ctx context.Context) bool {
	t := TrailOf(ctx)
	return t != nil && t.Explored
}

// skipTier reports whether a prompt-only scorer predicts, before the call,
// that tier i's answer would not pass (never the last tier).
func (o *Orchestrator) skipTier(rt *registry.Route, req *provider.ChatRequest, i int, th float64) bool {
	if i == len(rt.Tiers)-1 {
		return false
	}
	ps, ok := o.Evaluator.(PreScorer)
	if !ok {
		return false
	}
	s, ok := ps.PreScore(rt, req, i)
	return ok && s < th
}

// score evaluates an answer; without an evaluator every answer passes. The
// judge calls the evaluator made are returned, marked OutcomeJudge, so the
// request's usage includes them.
func (o *Orchestrator) score(ctx context.Context, rt *registry.Route, req *provider.ChatRequest, a *Attempt) (float64, []*Attempt) {
	s := 1.0
	var judged []*Attempt
	if o.Evaluator != nil {
		ectx, span := o.Tracer.StartEvaluate(ctx, rt.Model.Name, a.Target.Deployment.Name)
		if o.Tracer != nil {
			ectx = judging(ectx)
		}
		var err error
		if s, judged, err = o.Evaluator.Evaluate(ectx, rt, req, a.resp); err != nil {
			s = 0
		}
		for _, j := range judged {
			j.Outcome = OutcomeJudge
		}
		o.Tracer.EndEvaluate(span, s, len(judged))
	}
	a.Score = &s
	return s, judged
}

// cascade calls the tiers cheapest first and returns the first answer whose
// score reaches the threshold (calibrated to config.target when set); when
// none does, the best one seen (the later, stronger tier on a tie). A tier
// that fails counts as a score of 0. A tier a prompt-only scorer rules out
// is not called. A request that explores (config.explore) returns the
// answer of a tier picked at random (exploreTier) whatever its score, so
// that feedback shows what each tier's answers are worth, unbiased by the
// scorer's choices.
func (o *Orchestrator) cascade(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*Result, error) {
	res := &Result{Tier: -1}
	var best *Attempt
	var last error
	try := func(ctx context.Context, t *registry.Target, tier int) *Attempt { return o.tryChat(ctx, t, tier, req) }
	th := o.cascadeThreshold(rt)
	trail := &Trail{}
	explore := -1                                                    // the tier that answers whatever its score, when exploring
	if rt.Config.Explore > 0 && rand.Float64() < rt.Config.Explore { // #nosec G404 -- exploration, not a secret
		explore = exploreTier(len(rt.Tiers))
		trail.Explored = true
	}
	ctx = context.WithValue(ctx, trailKey{}, trail)
	for i, tier := range rt.Tiers {
		if explore < 0 && o.skipTier(rt, req, i, th) {
			continue
		}
		w, attempts, err := o.sequence(ctx, rt, o.tierOrder(rt, tier, i), provider.EstimateChatTokens(req), try)
		res.Attempts = append(res.Attempts, attempts...)
		if err != nil {
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		s, judged := o.score(ctx, rt, req, w)
		res.Attempts = append(res.Attempts, judged...)
		// Exploring, the tiers before the chosen one are called and scored
		// (their scores are what the chosen answer's feedback is paired
		// with) but never answer.
		if i == explore || explore < 0 && s >= th {
			res.Response, res.Winner, res.Tier = w.resp, w, i
			if best != nil {
				best.Outcome = OutcomeRejected
			}
			return res, nil
		}
		if best == nil || s >= *best.Score {
			if best != nil {
				best.Outcome = OutcomeRejected
			}
			best = w
		} else {
			w.Outcome = OutcomeRejected
		}
	}
	if best == nil {
		if last == nil {
			last = (&skipped{}).err()
		}
		return res, last
	}
	res.Response, res.Winner, res.Tier = best.resp, best, best.Tier
	return res, nil
}

// ensemble calls the first EnsembleN tiers in parallel (each with failover
// inside its tier), scores every answer and returns the best.
func (o *Orchestrator) ensemble(ctx context.Context, rt *registry.Route, req *provider.ChatRequest) (*Result, error) {
	n := rt.Config.EnsembleN
	if n <= 0 || n > len(rt.Tiers) {
		n = len(rt.Tiers)
	}
	type out struct {
		w        *Attempt
		attempts []*Attempt
		judged   []*Attempt
		err      error
	}
	outs := make([]out, n)
	var wg sync.WaitGroup
	try := func(ctx context.Context, t *registry.Target, tier int) *Attempt { return o.tryChat(ctx, t, tier, req) }
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w, attempts, err := o.sequence(ctx, rt, o.tierOrder(rt, rt.Tiers[i], i), provider.EstimateChatTokens(req), try)
			var judged []*Attempt
			if err == nil {
				_, judged = o.score(ctx, rt, req, w)
			}
			outs[i] = out{w, attempts, judged, err}
		}(i)
	}
	wg.Wait()
	res := &Result{Tier: -1}
	var best *Attempt
	var last error
	for _, r := range outs {
		res.Attempts = append(res.Attempts, r.attempts...)
		res.Attempts = append(res.Attempts, r.judged...)
		if r.err != nil {
			last = r.err
			continue
		}
		if best == nil || *r.w.Score > *best.Score {
			best = r.w
		}
	}
	if best == nil {
		return res, last
	}
	for _, r := range outs {
		if r.w != nil && r.w != best {
			r.w.Outcome = OutcomeNotChosen
		}
	}
	res.Response, res.Winner, res.Tier = best.resp, best, best.Tier
	return res, nil
}
