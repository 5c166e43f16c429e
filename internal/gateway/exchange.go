package gateway

import (
	"bytes"
	"context"
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

// exchange is one API request on its way through the gateway: who asked,
// which deployment answered, what it cost. finish records it once.
type exchange struct {
	s        *Server
	r        *http.Request
	endpoint string
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
	start    time.Time
	ttft     time.Duration
	status   int
	code     string

	summed        bool // the usage below is computed (see usage)
	lines         []chorus.UsageAttempt
	in, out, cost int64
}

func (s *Server) newExchange(r *http.Request, endpoint string) *exchange {
	s.inflight.Add(1)
	return &exchange{s: s, r: r, endpoint: endpoint, start: s.Now(), status: http.StatusOK, tier: -1}
}

// fail records the error's status and code (once the error is known).
func (x *exchange) fail(err error) {
	x.status = api.StatusOf(err)
	x.code = chorus.ErrorCode(err)
}

// finish records usage and metrics. It runs once, after the response.
func (x *exchange) finish() {
	defer x.s.inflight.Done()
	if x.key == nil {
		x.s.Metrics.Observe(&telemetry.Request{Endpoint: x.endpoint, Status: x.status, ErrorCode: x.code, Duration: x.s.Now().Sub(x.start)})
		return
	}
	modelName, routeName, deployment, prov := "", "", "", ""
	if x.route != nil {
		modelName = x.route.Model.Name
		if x.route.Routed {
			routeName = modelName
		}
	}
	if x.target != nil {
		deployment, prov = x.target.Deployment.Name, x.target.Deployment.Provider
		if routeName != "" {
			modelName = x.target.Model.Name
		}
	}
	if x.hold != nil { // an error, or a stream the client left: bill what was used
		if err := x.settle(nil); err != nil {
			x.s.Logger.ErrorContext(x.r.Context(), "settlement failed", "err", err)
		}
	}
	attempts, in, out, cost := x.usage()
	if x.cached != nil {
		deployment, prov = x.cached.Deployment, x.cached.Provider
	}
	x.limit.Done(in + out) // correct the token estimate; free the concurrency slot
	dur := x.s.Now().Sub(x.start)
	x.s.Metrics.Observe(&telemetry.Request{
		Endpoint: x.endpoint, Model: x.publicName(), Provider: prov, Status: x.status, ErrorCode: x.code,
		Duration: dur, TTFT: x.ttft, InputTokens: in, OutputTokens: out,
	})
	if x.route == nil {
		return // rejected before a model was resolved: nothing consumed
	}
	rec := chorus.Usage{
		RequestID:    api.RequestID(x.r.Context()),
		ResponseID:   x.respID,
		KeyID:        x.key.ID,
		UserID:       x.key.UserID,
		TeamID:       x.key.TeamID,
		Model:        modelName,
		Route:        routeName,
		Deployment:   deployment,
		Provider:     prov,
		Endpoint:     x.endpoint,
		Stream:       x.stream,
		InputTokens:  in,
		OutputTokens: out,
		LatencyMS:    float64(dur.Microseconds()) / 1000,
		TTFTMS:       float64(x.ttft.Microseconds()) / 1000,
		Status:       x.status,
		ErrorCode:    x.code,
		Cost:         cost,
		Attempts:     attempts,
		CreatedAt:    x.start.UTC(),
	}
	if err := x.s.Usage.Record(rec); err != nil {
		x.s.Logger.ErrorContext(x.r.Context(), "usage record not queued", "err", err)
	}
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

// checkChat applies the request limits that depend on config and model.
func (x *exchange) checkChat(req *provider.ChatRequest) error {
	lim := x.s.Limits
	if n := len(req.Messages); n > lim.MaxMessages {
		return chorus.Invalid("messages", "Too many messages: %d. The maximum is %d.", n, lim.MaxMessages)
	}
	ceiling := lim.MaxTokens
	if m := x.route.Model.MaxOutput; m > 0 {
		ceiling = m
	}
	if req.MaxTokens != nil && *req.MaxTokens > ceiling {
		return chorus.Invalid("max_tokens", "max_tokens is too large: %d. This model supports at most %d completion tokens.", *req.MaxTokens, ceiling)
	}
	return nil
}

// setHeaders writes the x-chorus-* headers that say what happened.
func (x *exchange) setHeaders(w http.ResponseWriter) {
	h := w.Header()
	if x.route != nil {
		h.Set("X-Chorus-Model", x.route.Model.Name)
	}
	if x.target != nil {
		h.Set("X-Chorus-Deployment", x.target.Deployment.Name)
		h.Set("X-Chorus-Provider", x.target.Deployment.Provider)
	}
	if len(x.attempts) > 0 {
		h.Set("X-Chorus-Attempts", strconv.Itoa(len(x.attempts)))
	}
	if x.route != nil && x.route.Routed {
		h.Set("X-Chorus-Strategy", x.route.Strategy)
	}
	if x.tier >= 0 {
		h.Set("X-Chorus-Cascade-Tier", strconv.Itoa(x.tier+1))
	}
	if x.cache != "" {
		h.Set(cache.Header, x.cache)
	}
}

// upstreamContext bounds one request's upstream work by the configured deadline.
func (x *exchange) upstreamContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(x.r.Context(), x.s.Upstream)
}

// admit applies the rate limits of the key, its user and the model, with
// the request's estimated tokens (input plus max_tokens when given; the
// actual count corrects it in finish). The x-ratelimit-* headers are set on
// every answer, a refusal included.
func (x *exchange) admit(w http.ResponseWriter, tokens int64) error {
	if x.s.RateLimiter == nil {
		return nil
	}
	req := x.s.RateLimits.Request(x.key.ID, x.key.UserID, 0, x.route.Model.Name, tokens)
	d, t, err := x.s.RateLimiter.Admit(x.r.Context(), &req)
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

// chatTokens estimates a chat request's tokens for the limits: its input,
// plus max_tokens when the client set it (otherwise the output is debited
// when it is known, so a key's TPM need not exceed the model's ceiling).
func chatTokens(req *provider.ChatRequest) int64 {
	n := int64(provider.EstimateInputTokens(req))
	if req.MaxTokens != nil {
		n += int64(*req.MaxTokens) * int64(max(1, deref(req.N)))
	}
	return n
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// took records what the orchestrator did: every attempt and the winner.
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
			Deployment:   d.Name,
			Provider:     d.Provider,
			Model:        a.Target.Model.Name,
			Outcome:      a.Outcome,
			InputTokens:  int64(a.Usage.InputTokens),
			OutputTokens: int64(a.Usage.OutputTokens),
			LatencyMS:    float64(a.Latency.Microseconds()) / 1000,
			Score:        a.Score,
		}
		ua.Cost = chorus.RequestCost(ua.InputTokens, ua.OutputTokens, d.InputPrice, d.OutputPrice)
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
