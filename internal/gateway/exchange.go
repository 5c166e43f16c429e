package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/limit"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/registry"
	"github.com/chorusgw/chorus/internal/telemetry"
)

// statusClientClosed is what we record when the client went away first
// (nginx's 499); it is never sent.
const statusClientClosed = 499

// exchange is one model API request on its way through the gateway: who
// asked, which deployment answered, what it cost. Every request takes the
// same steps, each a method called with the request's context:
//
//	begin → authenticate → decode → resolve → admit (rate limits) →
//	reserve (credit) → answer (cache, orchestrator, relay) → settle →
//	deliver → finish (usage record, metrics)
//
// settle runs exactly once per exchange, between answer and deliver, so the
// charge is written before the client has the whole answer (strict mode
// makes it durable first); finish records what happened.
type exchange struct {
	s        *Server
	endpoint string
	reqID    string // the request ID (api.RequestID)
	start    time.Time
	key      *chorus.APIKey
	route    *registry.Route
	target   *registry.Target       // the deployment that answered
	attempts []*orchestrate.Attempt // every upstream call, in order
	tier     int                    // the answering cascade tier, -1 otherwise
	limit    *limit.Ticket          // the rate-limit reservation, settled in finish
	hold     *meter.Hold            // the credit reserved (metered requests), settled once (meter.go)
	cache    string                 // x-chorus-cache: hit, miss, bypass; "" when not cached
	cached   *cache.Entry           // the answer, on a cache hit
	stream   bool
	respID   string // the answer's ID as the client saw it
	ttft     time.Duration
	status   int
	code     string
	credits  int64         // the team's available credit after settlement; -1 unknown
	clamped  string        // "asked->sent" when max_tokens was clamped (clampedHeader)
	conv     *conversation // the Responses API request (responses.go); nil elsewhere
	recKey   string        // the usage record's idempotency key (recordKey)

	summed        bool // the usage below is computed (see usage)
	lines         []chorus.UsageAttempt
	in, out, cost int64
	// The parts of in and out priced apart, summed over the lines.
	cachedIn, cacheWrite, reasoning int64
}

// begin starts an exchange; finish must follow.
func (s *Server) begin(ctx context.Context, endpoint string) *exchange {
	s.inflight.Add(1)
	return &exchange{s: s, endpoint: endpoint, reqID: api.RequestID(ctx), start: s.Now(), status: http.StatusOK, tier: -1, credits: -1}
}

// fail records the error's status and code (once the error is known).
func (x *exchange) fail(err error) {
	x.status = api.StatusOf(err)
	x.code = chorus.ErrorCode(err)
}

// failed records err and answers it in the endpoint's error shape, unless
// the client went away (then nothing is sent and 499 recorded).
func (x *exchange) failed(ctx context.Context, w http.ResponseWriter, r *http.Request, f api.Format, err error) {
	x.fail(err)
	if ctx.Err() != nil {
		x.status = statusClientClosed
		return
	}
	x.s.writeError(w, r, f, err)
}

// finish records the request's usage and metrics. It runs once, last.
func (x *exchange) finish(ctx context.Context) {
	defer x.s.inflight.Done()
	if x.s.Tracer != nil {
		defer x.annotate(ctx)
	}
	if x.key == nil {
		dur := x.s.Now().Sub(x.start)
		x.s.Metrics.Observe(&telemetry.Request{Endpoint: x.endpoint, Status: x.status, ErrorCode: x.code, Duration: dur})
		// Refused before a key was known (a missing or bad key): recorded
		// under key, user and team 0.
		if err := x.s.Usage.Record(x.record(dur)); err != nil {
			x.s.Logger.ErrorContext(ctx, "usage record not queued", "err", err)
		}
		return
	}
	_, in, out, _ := x.usage()
	x.limit.Done(in + out) // correct the token estimate; free the concurrency slot
	dur := x.s.Now().Sub(x.start)
	_, _, _, prov := x.names()
	x.s.Metrics.Observe(&telemetry.Request{
		Endpoint: x.endpoint, Model: x.publicName(), Provider: prov, Status: x.status, ErrorCode: x.code,
		Duration: dur, TTFT: x.ttft, InputTokens: in, OutputTokens: out,
	})
	if x.cache != "" && x.s.CacheMetrics != nil {
		x.s.CacheMetrics.Lookup(x.endpoint, x.cache) // chorus_cache_requests_total: hit, miss, bypass
	}
	// A request refused before a model was resolved (bad JSON, an
	// unsupported field, an unknown model) consumed nothing, but its
	// record — model "", its status and error code — is what an operator
	// debugs a failing client integration with.
	if err := x.s.Usage.Record(x.record(dur)); err != nil {
		x.s.Logger.ErrorContext(ctx, "usage record not queued", "err", err)
	}
}

// record is the request's usage record as it stands dur after it began.
// A strict settlement stores it first (settle), with what is known then;
// finish writes it again at the end, under the same key, which completes
// the fields known only then (response ID, latency, status).
func (x *exchange) record(dur time.Duration) chorus.Usage {
	attempts, in, out, cost := x.usage()
	model, route, deployment, prov := x.names()
	u := chorus.Usage{
		RequestID: x.reqID, ResponseID: x.respID,
		Model: model, Route: route, Deployment: deployment, Provider: prov,
		Endpoint: x.endpoint, Stream: x.stream, InputTokens: in, OutputTokens: out,
		CachedInputTokens: x.cachedIn, CacheWriteTokens: x.cacheWrite, ReasoningTokens: x.reasoning,
		LatencyMS: float64(dur.Microseconds()) / 1000, TTFTMS: float64(x.ttft.Microseconds()) / 1000,
		Status: x.status, ErrorCode: x.code, Cost: cost, Attempts: attempts, CreatedAt: x.start.UTC(),
		Key: x.recordKey(), CacheHit: x.cached != nil, ProviderCost: cost,
	}
	if x.key != nil {
		u.KeyID, u.UserID, u.TeamID = x.key.ID, x.key.UserID, x.key.TeamID
	}
	if x.hold != nil && x.hold.Bills() {
		u.Revenue = cost
	}
	switch {
	case x.cached != nil:
		u.ProviderCost, u.Saved = 0, x.cached.Cost // no provider call; the original answer's cost avoided
	case x.tier >= 0 && x.route != nil && len(x.route.Tiers) > 1:
		u.Saved = x.cascadeSaved(cost)
	}
	return u
}

// cascadeSaved is what a cascade's answer saved against asking the route's
// strongest (last) tier at once: the answer's tokens at the strongest
// tier's first deployment's prices, less what the cascade's calls cost;
// never negative (a cascade that escalated may cost more: it saved nothing).
func (x *exchange) cascadeSaved(cost int64) int64 {
	last := x.route.Tiers[len(x.route.Tiers)-1]
	if len(last.Targets) == 0 || x.route.Strategy != chorus.StrategyCascade {
		return 0
	}
	for _, a := range x.attempts {
		if a.Target == x.target && a.Err == nil {
			would := chorus.TokenCost(tokenCounts(a.Usage), last.Targets[0].Deployment.Prices())
			return max(0, would-cost)
		}
	}
	return 0
}

// recordKey is the exchange's usage record idempotency key: random, made
// once, so every write of the record (the settlement's, the writer's, a
// retry, a replay) names the same record.
func (x *exchange) recordKey() string {
	if x.recKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		var s [32]byte
		hex.Encode(s[:], b[:])
		x.recKey = string(s[:]) // one allocation (EncodeToString makes two)
	}
	return x.recKey
}

// names are the usage record's model, route, deployment and provider: the
// model the client asked for, or for a route the model that answered and
// the route's name; the deployment of the answer (or the cached answer's).
func (x *exchange) names() (model, route, deployment, prov string) {
	if x.route != nil {
		model = x.route.Model.Name
		if x.route.Routed {
			route = model
		}
	}
	if x.target != nil {
		deployment, prov = x.target.Deployment.Name, x.target.Deployment.Provider
		if route != "" {
			model = x.target.Model.Name
		}
	}
	if x.cached != nil {
		deployment, prov = x.cached.Deployment, x.cached.Provider
	}
	return model, route, deployment, prov
}

// authenticate sets the caller's key.
func (x *exchange) authenticate(r *http.Request) error {
	k, err := x.s.authenticate(r)
	x.key = k
	return err
}

// resolve finds the route for a model name and checks the key may use it.
func (x *exchange) resolve(name, kind string) error {
	if name == "" {
		return chorus.Invalid("model", "you must provide a model parameter")
	}
	rt := x.s.Registry.Snapshot().Route(name)
	if rt == nil {
		return &chorus.Error{Code: chorus.ENOTFOUND, Param: "model", Message: "The model `" + name + "` does not exist or you do not have access to it."}
	}
	if !x.key.Allows(name) {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Param: "model", Message: "This API key is not allowed to use the model `" + name + "`."}
	}
	if rt.Model.Kind != kind {
		if kind == chorus.KindEmbedding {
			return chorus.Invalid("model", "The model `%s` is a %s model; it cannot create embeddings.", name, rt.Model.Kind)
		}
		return chorus.Invalid("model", "The model `%s` is an %s model; use /v1/embeddings.", name, rt.Model.Kind)
	}
	if len(rt.Targets) == 0 {
		return &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "The model `" + name + "` has no enabled deployment."}
	}
	x.route = rt
	return nil
}

// setHeaders writes the x-chorus-* headers that say what happened. The
// values share one backing array, each a full one-element slice under its
// canonical key (a later Add copies it): one allocation, where Header.Set
// would make one per header.
func (x *exchange) setHeaders(w http.ResponseWriter) {
	h := w.Header()
	vals := make([]string, 0, 8)
	set := func(key, v string) {
		vals = append(vals, v)
		h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if x.route != nil {
		set("X-Chorus-Model", x.route.Model.Name)
	}
	if x.target != nil {
		set("X-Chorus-Deployment", x.target.Deployment.Name)
		set("X-Chorus-Provider", x.target.Deployment.Provider)
	}
	if len(x.attempts) > 0 {
		set("X-Chorus-Attempts", strconv.Itoa(len(x.attempts)))
	}
	if x.route != nil && x.route.Routed {
		set("X-Chorus-Strategy", x.route.Strategy)
	}
	if x.tier >= 0 {
		set("X-Chorus-Cascade-Tier", strconv.Itoa(x.tier+1))
	}
	if x.cache != "" {
		set(cache.Header, x.cache)
	}
	if x.clamped != "" {
		set(clampedHeader, x.clamped)
	}
}

// jsonContentType is the Content-Type of every JSON answer, shared and
// never written to (see setHeaders).
var jsonContentType = []string{"application/json"}

// admit applies the rate limits of the key, its user and the model, with
// the request's estimated tokens (limit.Estimate*; the actual count
// corrects it in finish). The x-ratelimit-* headers are set on every
// answer, a refusal included.
func (x *exchange) admit(ctx context.Context, w http.ResponseWriter, tokens int64) error {
	if x.s.RateLimiter == nil {
		return nil
	}
	req := x.s.RateLimits.Request(x.key.ID, x.key.UserID, 0, x.route.Model.Name, tokens)
	d, t, err := x.s.RateLimiter.Admit(ctx, &req)
	if err != nil {
		return err
	}
	d.Headers.Write(w.Header())
	if !d.Allowed {
		x.s.Metrics.RateRefused(d.Scope, d.Kind)
		if d.RetryAfter > 0 {
			w.Header().Set("Retry-After-Ms", strconv.FormatInt(d.RetryAfter.Milliseconds(), 10))
		}
		return d.Err()
	}
	x.limit = t
	return nil
}

// took records what the orchestrator did: every attempt and the winner (or,
// when none won, the last deployment tried). The orchestrator's results list
// their attempts on failure too; a nil winner means none answered.
func (x *exchange) took(attempts []*orchestrate.Attempt, winner *orchestrate.Attempt, tier int) {
	x.attempts = attempts
	x.tier = tier
	if winner != nil {
		x.target = winner.Target
	} else if n := len(attempts); n > 0 {
		x.target = attempts[n-1].Target
	}
}

// publicName is the model or route name the client asked for.
func (x *exchange) publicName() string {
	if x.route == nil {
		return ""
	}
	return x.route.Model.Name
}

// usage is the request's usage lines and totals: the cache hit's line, or
// one line per upstream attempt, each priced at its own deployment (and
// the token classes' totals in x.cachedIn, x.cacheWrite, x.reasoning). It is
// computed once, when settle or finish first asks (the attempts are final
// by then).
func (x *exchange) usage() ([]chorus.UsageAttempt, int64, int64, int64) {
	if !x.summed {
		x.summed = true
		if x.cached != nil {
			x.lines, x.in, x.out, x.cost = x.hitUsage()
		} else {
			x.lines, x.in, x.out, x.cost = usageAttempts(x.attempts)
		}
		for i := range x.lines {
			l := &x.lines[i]
			x.cachedIn += l.CachedInputTokens
			x.cacheWrite += l.CacheWriteTokens
			x.reasoning += l.ReasoningTokens
		}
	}
	return x.lines, x.in, x.out, x.cost
}

// usageAttempts turns the orchestrator's attempts into usage lines, each
// priced at its own deployment, and sums them.
func usageAttempts(attempts []*orchestrate.Attempt) (out []chorus.UsageAttempt, in, outTok, cost int64) {
	if len(attempts) == 0 {
		return nil, 0, 0, 0
	}
	out = make([]chorus.UsageAttempt, len(attempts))
	for i, a := range attempts {
		d := a.Target.Deployment
		ua := chorus.UsageAttempt{
			Deployment:        d.Name,
			Provider:          d.Provider,
			Model:             a.Target.Model.Name,
			Outcome:           a.Outcome,
			InputTokens:       int64(a.Usage.InputTokens),
			OutputTokens:      int64(a.Usage.OutputTokens),
			CachedInputTokens: int64(a.Usage.CachedInputTokens),
			CacheWriteTokens:  int64(a.Usage.CacheWriteTokens),
			ReasoningTokens:   int64(a.Usage.ReasoningTokens),
			LatencyMS:         float64(a.Latency.Microseconds()) / 1000,
			Score:             a.Score,
		}
		ua.Cost = chorus.TokenCost(tokenCounts(a.Usage), d.Prices())
		switch {
		case a.Outcome == orchestrate.OutcomeCanceled:
			ua.Status, ua.Error = statusClientClosed, "canceled"
		case a.Err != nil:
			ce := upstreamError(a.Err)
			ua.Status, ua.Error = api.StatusOf(ce), ce.Message
		}
		out[i] = ua
		in += ua.InputTokens
		outTok += ua.OutputTokens
		cost += ua.Cost
	}
	return out, in, outTok, cost
}

// tokenCounts is an upstream call's usage as the cost function counts it.
func tokenCounts(u provider.Usage) chorus.TokenCounts {
	return chorus.TokenCounts{Input: int64(u.InputTokens), Output: int64(u.OutputTokens),
		CachedInput: int64(u.CachedInputTokens), CacheWrite: int64(u.CacheWriteTokens), Reasoning: int64(u.ReasoningTokens)}
}

// bodyPool recycles request body buffers.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads the request body within the size limit. release must be
// called when the body is no longer referenced.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	max := s.Limits.MaxBodyBytes
	if r.ContentLength > max {
		return nil, func() {}, api.TooLarge(max)
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	release = func() {
		if buf.Cap() <= 1<<20 {
			bodyPool.Put(buf)
		}
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max)); err != nil {
		release()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, func() {}, api.TooLarge(max)
		}
		return nil, func() {}, chorus.Invalid("", "could not read the request body: %v", err)
	}
	return buf.Bytes(), release, nil
}
