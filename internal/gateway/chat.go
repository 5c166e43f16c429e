package gateway

import (
	"context"
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// chatFormat is what differs between the chat endpoints: the client's
// wire format. Everything else — limits, cache, orchestration, scoring,
// usage — is one path.
type chatFormat struct {
	endpoint string
	wire     api.Format
	raw      provider.Format // upstream answers in this format are relayed as received
	// decode reads the body into the canonical request; ctx and the
	// exchange (its key is known) serve formats that load state (the
	// Responses API's conversations).
	decode  func(ctx context.Context, x *exchange, body []byte) (*provider.ChatRequest, error)
	prepare func(h http.Header, req *provider.ChatRequest) // nil, or what the format reads from headers
	encode  func(x *exchange, dst []byte, req *provider.ChatRequest, r *provider.ChatResponse) []byte
	id      func(x *exchange, r *provider.ChatResponse) string // the answer's ID as the client sees it
	stream  func(x *exchange, req *provider.ChatRequest) chunkWriter
	// keep, when set, is given the whole answer as the client will receive
	// it, after the settlement and before it is sent (stored responses).
	keep func(ctx context.Context, x *exchange, out []byte)
}

// decodeBody adapts a stateless decoder to chatFormat.decode.
func decodeBody(dec func([]byte) (*provider.ChatRequest, error)) func(context.Context, *exchange, []byte) (*provider.ChatRequest, error) {
	return func(_ context.Context, _ *exchange, body []byte) (*provider.ChatRequest, error) { return dec(body) }
}

// openAIChat is POST /v1/chat/completions.
var openAIChat = &chatFormat{
	endpoint: "chat", wire: api.FormatOpenAI, raw: provider.FormatOpenAI,
	decode: decodeBody(openai.DecodeChatRequest),
	encode: func(_ *exchange, dst []byte, _ *provider.ChatRequest, r *provider.ChatResponse) []byte {
		return openai.AppendChatResponse(dst, r)
	},
	id: func(_ *exchange, r *provider.ChatResponse) string { return r.ID },
	stream: func(_ *exchange, req *provider.ChatRequest) chunkWriter {
		return &openAIStreamWriter{includeUsage: req.IncludeUsage}
	},
}

// anthropicChat is POST /v1/messages, so Anthropic clients work against
// any deployment.
var anthropicChat = &chatFormat{
	endpoint: "messages", wire: api.FormatAnthropic, raw: provider.FormatAnthropic,
	decode: decodeBody(anthropic.DecodeRequest), prepare: anthropicHeaders,
	encode: func(_ *exchange, dst []byte, req *provider.ChatRequest, r *provider.ChatResponse) []byte {
		return anthropicResponse(dst, req, r)
	},
	id:     func(_ *exchange, r *provider.ChatResponse) string { return anthropic.MessageID(r.ID) },
	stream: newAnthropicStreamWriter,
}

// chat returns the handler of a chat endpoint in format f: the request
// pipeline, top to bottom.
func (s *Server) chat(f *chatFormat) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		x := s.begin(ctx, f.endpoint)
		defer x.finish(ctx)
		req, release, err := x.admitChat(ctx, w, r, f)
		defer release()
		var a chatAnswer
		if err == nil {
			a, err = x.answerChat(ctx, w, r, f, req)
		}
		serr := x.settle(ctx) // the one settlement of this request
		switch {
		case a.relay != nil:
			a.relay.end(ctx, serr)
		case err != nil:
			x.failed(ctx, w, r, f.wire, err)
		case serr != nil:
			x.failed(ctx, w, r, f.wire, serr)
		default:
			x.deliver(ctx, w, f, a)
		}
		x.afterChat(ctx, req, a, err == nil && serr == nil)
		if a.relay != nil {
			a.relay.free()
		}
	}
}

// admitChat checks the caller and the request, then admits it: key, body,
// model, request limits, rate limits and the credit hold. release frees the
// body (which req refers to) when the request is done; it is never nil.
func (x *exchange) admitChat(ctx context.Context, w http.ResponseWriter, r *http.Request, f *chatFormat) (req *provider.ChatRequest, release func(), err error) {
	if err := x.authenticate(r); err != nil {
		return nil, func() {}, err
	}
	body, release, err := x.s.readBody(w, r)
	if err != nil {
		return nil, release, err
	}
	if req, err = f.decode(ctx, x, body); err != nil {
		return nil, release, err
	}
	if f.prepare != nil {
		f.prepare(r.Header, req)
	}
	if err := x.resolve(req.Model, chorus.KindChat); err != nil {
		return nil, release, err
	}
	if err := x.checkHostedTools(w); err != nil {
		return nil, release, err
	}
	if err := x.checkChat(req); err != nil {
		return nil, release, err
	}
	if err := x.admit(ctx, w, provider.EstimateChatTokens(req)); err != nil {
		return nil, release, err
	}
	if err := x.reserve(ctx, meter.ChatQuote(x.route, req)); err != nil {
		return nil, release, err
	}
	x.stream = req.Stream
	return req, release, nil
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
	return x.checkMaxTokens(req, ceiling)
}

// chatAnswer is what answerChat produced: a whole answer to encode, or a
// stream relayed but for its end.
type chatAnswer struct {
	req    *provider.ChatRequest // what was asked, for encoding the answer
	resp   *provider.ChatResponse
	winner *orchestrate.Attempt
	hit    bool         // resp came from the cache
	cc     *cacheCall   // where a cache miss stores its answer
	entry  *cache.Entry // what to store, once the answer is complete
	relay  *relay
}

// answerChat gets the answer: from the cache or the orchestrator, whole or
// as a stream that it relays to the client up to (not including) its end.
func (x *exchange) answerChat(ctx context.Context, w http.ResponseWriter, r *http.Request, f *chatFormat, req *provider.ChatRequest) (chatAnswer, error) {
	uctx, cancel := context.WithTimeout(ctx, x.s.Upstream)
	defer cancel()
	hit, cc := x.s.cacheLookup(ctx, x, r.Header, req)
	a := chatAnswer{req: req, cc: cc, hit: hit != nil}
	if req.Stream {
		rl, err := x.openStream(uctx, w, f.stream(x, req), req, hit, cc != nil)
		if err != nil {
			return a, err
		}
		a.relay = rl
		rl.run(ctx)
		return a, nil
	}
	if hit != nil {
		a.resp = x.hit(ctx, hit)
		return a, nil
	}
	res, err := x.s.Orchestrator.Chat(uctx, x.route, req)
	x.took(res.Attempts, res.Winner, res.Tier)
	if err != nil {
		return a, upstreamError(err)
	}
	a.resp, a.winner = res.Response, res.Winner
	if cc != nil {
		a.entry = x.cacheEntry(a.resp, a.winner)
	}
	return a, nil
}

// deliver writes a whole answer in the client's format: relayed as the
// upstream sent it when the formats match, encoded otherwise.
func (x *exchange) deliver(ctx context.Context, w http.ResponseWriter, f *chatFormat, a chatAnswer) {
	resp := a.resp
	if resp.ID == "" {
		resp.ID = x.reqID
	}
	x.respID = f.id(x, resp)
	out := resp.Raw
	if resp.RawFormat != f.raw || resp.Raw == nil {
		out = f.encode(x, nil, a.req, resp)
	}
	if f.keep != nil {
		f.keep(ctx, x, out)
	}
	x.setHeaders(w)
	x.setCredits(w)
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(out)
}

// afterChat stores a complete answer in the cache (and releases requests
// waiting on it) and queues it for scoring.
func (x *exchange) afterChat(ctx context.Context, req *provider.ChatRequest, a chatAnswer, ok bool) {
	if a.relay != nil {
		ok = ok && a.relay.complete
		a.entry = a.relay.entry
		a.resp, a.winner = a.relay.scoredAnswer(), a.relay.sr.Winner
	}
	if !ok {
		a.entry = nil
	}
	a.cc.finish(ctx, x.s, a.entry)
	if ok && !a.hit && a.resp != nil {
		x.s.submitScoring(ctx, x, req, a.resp, inlineScore(a.winner))
	}
}
