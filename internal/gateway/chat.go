package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"

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
	decode   func(body []byte) (*provider.ChatRequest, error)
	encode   func(dst []byte, r *provider.ChatResponse) []byte
	id       func(r *provider.ChatResponse) string // the answer's ID as the client sees it
	stream   func(x *exchange, req *provider.ChatRequest) chunkWriter
}

// openAIChat is POST /v1/chat/completions.
var openAIChat = &chatFormat{
	endpoint: "chat", wire: api.FormatOpenAI, raw: provider.FormatOpenAI,
	decode: openai.DecodeChatRequest, encode: openai.AppendChatResponse,
	id: func(r *provider.ChatResponse) string { return r.ID },
	stream: func(_ *exchange, req *provider.ChatRequest) chunkWriter {
		return &openAIStreamWriter{includeUsage: req.IncludeUsage}
	},
}

// anthropicChat is POST /v1/messages, so Anthropic clients work against
// any deployment.
var anthropicChat = &chatFormat{
	endpoint: "messages", wire: api.FormatAnthropic, raw: provider.FormatAnthropic,
	decode: anthropic.DecodeRequest, encode: anthropic.AppendResponse,
	id: func(r *provider.ChatResponse) string { return anthropic.MessageID(r.ID) },
	stream: func(x *exchange, _ *provider.ChatRequest) chunkWriter {
		return &anthropicStreamWriter{model: x.route.Model.Name}
	},
}

// chat returns the handler of a chat endpoint in format f.
func (s *Server) chat(f *chatFormat) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		x := s.newExchange(r, f.endpoint)
		defer x.finish()
		if err := s.serveChat(w, r, x, f); err != nil {
			x.fail(err)
			if r.Context().Err() != nil {
				x.status = statusClientClosed
				return
			}
			s.writeError(w, r, f.wire, err)
		}
	}
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, x *exchange, f *chatFormat) error {
	key, err := s.authenticate(r)
	if err != nil {
		return err
	}
	x.key = key
	body, release, err := s.readBody(w, r)
	defer release()
	if err != nil {
		return err
	}
	req, err := f.decode(body)
	if err != nil {
		return err
	}
	if err := x.resolve(req.Model, chorus.KindChat); err != nil {
		return err
	}
	if err := x.checkChat(req); err != nil {
		return err
	}
	if err := x.admit(w, chatTokens(req)); err != nil {
		return err
	}
	if err := x.reserve(meter.ChatQuote(x.route, req)); err != nil {
		return err
	}
	x.stream = req.Stream
	ctx, cancel := x.upstreamContext()
	defer cancel()
	hit, cc := s.cacheLookup(x, r, req)
	if req.Stream {
		return s.streamChat(ctx, w, x, req, f.stream(x, req), hit, cc)
	}
	var resp *provider.ChatResponse
	var winner *orchestrate.Attempt
	if hit != nil {
		resp = x.hit(hit)
	} else {
		var entry *cache.Entry
		defer func() { cc.finish(s, ctx, entry) }()
		res, err := s.Orchestrator.Chat(ctx, x.route, req)
		x.took(res.Attempts, res.Winner, res.Tier)
		if err != nil {
			return upstreamError(err)
		}
		resp, winner = res.Response, res.Winner
		if cc != nil {
			entry = x.cacheEntry(resp, winner)
		}
	}
	if resp.ID == "" {
		resp.ID = api.RequestID(r.Context())
	}
	x.respID = f.id(resp)
	if hit == nil {
		s.submitScoring(x, req, resp, inlineScore(winner))
	}
	out := resp.Raw
	if resp.RawFormat != f.raw || resp.Raw == nil {
		out = f.encode(nil, resp)
	}
	x.setHeaders(w)
	if err := x.settle(w); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
	return nil
}

// chunkWriter encodes stream chunks in one client format.
type chunkWriter interface {
	contentType() string
	// chunk appends the frames for c (possibly none) to dst.
	chunk(dst []byte, c *provider.StreamChunk) []byte
	// end appends the closing frames after the last chunk.
	end(dst []byte, usage *provider.Usage) []byte
	// error appends a mid-stream error frame.
	error(dst []byte, e *chorus.Error) []byte
	// responseID returns the answer's ID as the client sees it, given the
	// first chunk's ID.
	responseID(first string) string
}

// streamChat opens a stream on the first deployment that answers, then relays
// it chunk by chunk. The first chunk is read before any byte goes to the
// client, so a failing deployment can still fall back and a failed request
// still gets a proper HTTP error; after the first byte the stream is never
// switched to another upstream: an upstream error ends it with an error frame.
func (s *Server) streamChat(ctx context.Context, w http.ResponseWriter, x *exchange, req *provider.ChatRequest, cw chunkWriter,
	hit *cache.Entry, cc *cacheCall) error {
	var entry *cache.Entry // stored on a complete answer to a cache miss
	defer func() { cc.finish(s, ctx, entry) }()
	var sr *orchestrate.StreamResult
	var err error
	if hit != nil {
		sr = orchestrate.Replayed(x.hit(hit))
	} else {
		sr, err = s.Orchestrator.ChatStream(ctx, x.route, req)
		x.took(sr.Attempts, sr.Winner, sr.Tier)
		if err != nil {
			return upstreamError(err)
		}
	}
	var rec *cache.Recorder
	if cc != nil {
		rec = cache.NewRecorder(1 << 20)
	}
	st, first := sr.Stream, sr.First
	x.setHeaders(w)
	h := w.Header()
	h.Set("Content-Type", cw.contentType())
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	bp := streamBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPendingStream*2 {
			streamBufs.Put(bp)
		}
	}()
	var (
		buf       = (*bp)[:0]
		usage     *provider.Usage
		textBytes int
		c         = first
		scored    = hit == nil && s.wantsScoring(x, req)
		text      strings.Builder // choice 0's text, when the answer will be scored
		gen       strings.Builder // all output text, when metered (for a stream without usage)
		final     *provider.StreamChunk
	)
	if first != nil && hit == nil {
		x.respID = cw.responseID(first.ID)
	}
	for c != nil {
		if rec != nil {
			rec.Add(c)
		}
		if c.Usage != nil {
			u := *c.Usage
			usage = &u
		}
		firstToken := false
		for i := range c.Choices {
			n := len(c.Choices[i].Content)
			for _, tc := range c.Choices[i].ToolCalls {
				n += len(tc.Arguments) + len(tc.Name)
			}
			if n > 0 && x.ttft == 0 {
				x.ttft = s.Now().Sub(x.start)
				firstToken = true
			}
			textBytes += n
			if scored && c.Choices[i].Index == 0 {
				text.WriteString(c.Choices[i].Content)
			}
		}
		if x.hold != nil {
			collectText(&gen, c)
		}
		// Write and flush before waiting for the upstream, not after every
		// chunk: a burst of chunks that arrived together leaves in one write.
		// The first token goes out at once, whatever follows it. The
		// upstream's own end of stream waits for the settlement.
		if finalChunk(c) {
			final = c
		} else {
			buf = cw.chunk(buf, c)
		}
		if len(buf) > 0 && (firstToken || len(buf) >= maxPendingStream || !ready(st)) {
			if _, err := w.Write(buf); err != nil {
				break // client gone; the deferred Close aborts the upstream
			}
			_ = rc.Flush()
			buf = buf[:0]
		}
		c, err = st.Next()
		if err != nil {
			c = nil
		}
	}
	complete := (err == io.EOF || err == nil) && x.r.Context().Err() == nil
	sr.Finish(x.meteredUsage(req, usage, complete, textBytes, &gen), err)
	var serr *chorus.Error
	if complete {
		serr = x.settleStream() // before the end: strict mode makes the charge durable first
	}
	switch {
	case x.r.Context().Err() != nil:
		x.status = statusClientClosed
		x.code = "client_closed"
		return nil
	case serr != nil:
		buf = cw.error(buf, serr)
	case err == io.EOF || err == nil:
		if final != nil {
			buf = cw.chunk(buf, final)
		}
		buf = cw.end(buf, usage) // after any chunks not written yet
		if rec != nil && hit == nil {
			if resp, ok := rec.Response(); ok {
				resp.Usage = sr.Winner.Usage
				entry = x.cacheEntry(resp, sr.Winner)
			}
		}
		if scored {
			s.submitScoring(x, req, &provider.ChatResponse{ID: x.respID, Choices: []provider.Choice{{
				Message: provider.TextMessage(provider.RoleAssistant, text.String()), FinishReason: provider.FinishStop}}}, inlineScore(sr.Winner))
		}
	default:
		ce := upstreamError(err)
		x.status, x.code = api.StatusOf(ce), ce.Code
		s.Logger.WarnContext(x.r.Context(), "upstream stream failed after the first byte", "err", err)
		buf = cw.error(buf, ce)
	}
	_, _ = w.Write(buf)
	_ = rc.Flush()
	*bp = buf
	return nil
}

// maxPendingStream bounds the chunks held back while more are ready.
const maxPendingStream = 32 << 10

// streamBufs recycles the buffers streams are relayed through.
var streamBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readyStream is a stream that can tell whether its next chunk has arrived.
type readyStream interface{ Ready() bool }

// ready reports whether st's next chunk can be read without waiting.
func ready(st provider.Stream) bool {
	r, ok := st.(readyStream)
	return ok && r.Ready()
}

// openAIStreamWriter writes chat.completion.chunk frames. Chunks the
// upstream sent in OpenAI's format are relayed byte for byte; others are
// encoded. Usage goes out only if the client asked for it, in its own final
// chunk, as OpenAI does.
type openAIStreamWriter struct {
	includeUsage bool
	id, model    string
	created      int64
	sentUsage    bool
}

func (o *openAIStreamWriter) responseID(first string) string { return first }

func (o *openAIStreamWriter) contentType() string { return "text/event-stream; charset=utf-8" }

func (o *openAIStreamWriter) chunk(dst []byte, c *provider.StreamChunk) []byte {
	if o.id == "" {
		o.id, o.model, o.created = c.ID, c.Model, c.Created
	}
	if c.RawFormat == provider.FormatOpenAI && c.Raw != nil {
		if len(c.Choices) == 0 && c.Usage != nil && !o.includeUsage {
			return dst // usage we asked for on the client's behalf
		}
		o.sentUsage = o.sentUsage || c.Usage != nil
		return appendSSEData(dst, c.Raw)
	}
	if len(c.Choices) == 0 {
		return dst // usage-only or format-specific events; usage is sent at the end
	}
	cc := *c
	cc.Usage = nil
	if cc.ID == "" {
		cc.ID = o.id
	}
	if cc.Model == "" {
		cc.Model = o.model
	}
	if cc.Created == 0 {
		cc.Created = o.created
	}
	dst = append(dst, "data: "...)
	dst = openai.AppendChunk(dst, &cc)
	return append(dst, "\n\n"...)
}

func (o *openAIStreamWriter) end(dst []byte, usage *provider.Usage) []byte {
	if o.includeUsage && !o.sentUsage && usage != nil {
		dst = append(dst, "data: "...)
		dst = openai.AppendChunk(dst, &provider.StreamChunk{ID: o.id, Model: o.model, Created: o.created, Usage: usage, Choices: []provider.ChunkChoice{}})
		dst = append(dst, "\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

func (o *openAIStreamWriter) error(dst []byte, e *chorus.Error) []byte {
	typ := api.ErrorType(e.Code)
	dst = append(dst, "data: "...)
	dst = openai.AppendError(dst, e.Message, typ, e.Param, api.OpenAICode(e))
	return append(dst, "\n\n"...)
}

// appendSSEData appends raw as the data field of one SSE event. A payload
// with line breaks becomes several data lines, which the client rejoins.
func appendSSEData(dst, raw []byte) []byte {
	for {
		dst = append(dst, "data: "...)
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			dst = append(dst, raw...)
			return append(dst, "\n\n"...)
		}
		dst = append(dst, raw[:i]...)
		dst = append(dst, '\n')
		raw = raw[i+1:]
	}
}
