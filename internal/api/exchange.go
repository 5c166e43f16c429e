package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/chorusgw/chorus"
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
	target   *registry.Target
	attempts int
	stream   bool
	respID   string // the answer's ID as the client saw it
	start    time.Time
	ttft     time.Duration
	usage    provider.Usage
	status   int
	code     string
}

func (s *Server) newExchange(r *http.Request, endpoint string) *exchange {
	s.inflight.Add(1)
	return &exchange{s: s, r: r, endpoint: endpoint, start: s.Now(), status: http.StatusOK}
}

// fail records the error's status and code (once the error is known).
func (x *exchange) fail(err error) {
	x.status = StatusOf(err)
	x.code = chorus.ErrorCode(err)
}

// finish records usage and metrics. It runs once, after the response.
func (x *exchange) finish() {
	defer x.s.inflight.Done()
	if x.key == nil {
		x.s.Metrics.Observe(&telemetry.Request{Endpoint: x.endpoint, Status: x.status, ErrorCode: x.code, Duration: x.s.Now().Sub(x.start)})
		return
	}
	modelName, deployment, prov := "", "", ""
	var inPrice, outPrice int64
	if x.route != nil {
		modelName = x.route.Model.Name
	}
	if x.target != nil {
		d := x.target.Deployment
		deployment, prov, inPrice, outPrice = d.Name, d.Provider, d.InputPrice, d.OutputPrice
	}
	dur := x.s.Now().Sub(x.start)
	in, out := int64(x.usage.InputTokens), int64(x.usage.OutputTokens)
	x.s.Metrics.Observe(&telemetry.Request{
		Endpoint: x.endpoint, Model: modelName, Provider: prov, Status: x.status, ErrorCode: x.code,
		Duration: dur, TTFT: x.ttft, InputTokens: in, OutputTokens: out,
	})
	if x.route == nil {
		return // rejected before a model was resolved: nothing consumed
	}
	rec := chorus.Usage{
		RequestID:    RequestID(x.r.Context()),
		ResponseID:   x.respID,
		KeyID:        x.key.ID,
		UserID:       x.key.UserID,
		Model:        modelName,
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
		Cost:         chorus.RequestCost(in, out, inPrice, outPrice),
		CreatedAt:    x.start.UTC(),
	}
	if err := x.s.Usage.Record(rec); err != nil {
		x.s.Logger.Error("usage record not queued", "request_id", rec.RequestID, "err", err)
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
	if x.attempts > 0 {
		h.Set("X-Chorus-Attempts", strconv.Itoa(x.attempts))
	}
}

// upstreamContext bounds one request's upstream work by the configured deadline.
func (x *exchange) upstreamContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(x.r.Context(), x.s.Upstream)
}

// try calls fn on the route's deployments in orchestrate's order until one
// succeeds or an error says trying elsewhere is pointless. It returns the
// last error, mapped for the client.
func (x *exchange) try(ctx context.Context, fn func(t *registry.Target) error) error {
	var last error
	for _, t := range orchestrate.Order(x.route.Targets) {
		x.attempts++
		x.target = t
		err := fn(t)
		outcome := "ok"
		if err != nil {
			outcome = "error"
			if ctx.Err() != nil {
				outcome = "canceled"
			}
		}
		x.s.Metrics.Attempt(t.Deployment.Name, t.Deployment.Provider, outcome)
		if err == nil {
			return nil
		}
		last = err
		if x.r.Context().Err() != nil || ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	if x.r.Context().Err() != nil {
		return &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "client closed request", Err: x.r.Context().Err()}
	}
	return upstreamError(last)
}

func retryable(err error) bool {
	var pe *provider.Error
	return errors.As(err, &pe) && pe.Retryable()
}

// bodyPool recycles request body buffers.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads the request body within the size limit. release must be
// called when the body is no longer referenced.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	max := s.Limits.MaxBodyBytes
	if r.ContentLength > max {
		return nil, func() {}, tooLarge(max)
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
			return nil, func() {}, tooLarge(max)
		}
		return nil, func() {}, chorus.Invalid("", "could not read the request body: %v", err)
	}
	return buf.Bytes(), release, nil
}

func tooLarge(max int64) error {
	return &chorus.Error{Code: chorus.ETOOLARGE, Message: "Request body too large: the limit is " + strconv.FormatInt(max, 10) + " bytes."}
}
