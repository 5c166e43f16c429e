package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
)

// maxPendingStream bounds the chunks held back while more are ready.
const maxPendingStream = 32 << 10

// relays recycles relays (free puts one back).
var relays = sync.Pool{New: func() any { return new(relay) }}

// free returns the relay to the pool; nothing may use it after.
func (rl *relay) free() {
	*rl = relay{}
	relays.Put(rl)
}

// streamBufs recycles the buffers streams are relayed through.
var streamBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// relay copies one upstream stream to the client in the client's format:
// openStream sends the headers, run relays every chunk but the end, and end
// (after the exchange settled) writes the closing frames or an error frame.
// The first chunk is read before any byte goes to the client, so a failing
// deployment can still fall back and a failed request still gets a proper
// HTTP error; after the first byte the stream is never switched to another
// upstream: an upstream error ends it with an error frame.
type relay struct {
	x   *exchange
	w   http.ResponseWriter
	cw  chunkWriter
	sr  *orchestrate.StreamResult
	req *provider.ChatRequest
	bp  *[]byte // the pooled buffer behind buf, nil while nothing is pending
	buf []byte  // frames not written yet

	usage    provider.Usage // the last usage the upstream reported (when hasUsage)
	hasUsage bool
	outBytes int                   // output text relayed, for an estimate
	final    *provider.StreamChunk // the upstream's own end of stream, held for end
	scored   bool                  // the answer will be scored: keep its text
	text     strings.Builder       // choice 0's text, when scored
	gen      strings.Builder       // all output text, when metered (for a stream without usage)
	rec      *cache.Recorder       // the answer, when a cache miss stores it
	replayed bool                  // a cache hit, replayed
	err      error                 // what ended the stream: nil or io.EOF when complete
	complete bool                  // the upstream finished and the client is still there
	entry    *cache.Entry          // the answer to store, once complete
}

// openStream starts the stream — the cache hit replayed, or the first
// deployment that answers — and sends the response headers.
func (x *exchange) openStream(ctx context.Context, w http.ResponseWriter, cw chunkWriter, req *provider.ChatRequest,
	hit *cache.Entry, record bool) (*relay, error) {
	var sr *orchestrate.StreamResult
	if hit != nil {
		sr = orchestrate.Replayed(x.hit(ctx, hit))
	} else {
		var err error
		sr, err = x.s.Orchestrator.ChatStream(ctx, x.route, req)
		x.took(sr.Attempts, sr.Winner, sr.Tier)
		if err != nil {
			return nil, upstreamError(err)
		}
	}
	rl := relays.Get().(*relay)
	*rl = relay{x: x, w: w, cw: cw, sr: sr, req: req, replayed: hit != nil,
		scored: hit == nil && x.s.wantsScoring(x, req)}
	if record && hit == nil {
		rl.rec = cache.NewRecorder(1 << 20)
	}
	if sr.First != nil && hit == nil {
		x.respID = cw.responseID(sr.First)
	}
	x.setHeaders(w)
	h := w.Header()
	h.Set("Content-Type", cw.contentType())
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return rl, nil
}

// run relays chunks until the upstream ends or the client leaves, then
// records the winner's usage: the upstream's count, or what was relayed.
func (rl *relay) run(ctx context.Context) {
	c, err := rl.sr.First, error(nil)
	for c != nil {
		firstToken := rl.observe(c)
		if !rl.push(c, firstToken) {
			break // client gone; Finish below aborts the upstream
		}
		c, err = rl.sr.Stream.Next()
		if err != nil {
			c = nil
		}
	}
	rl.err = err
	rl.complete = (err == io.EOF || err == nil) && ctx.Err() == nil
	rl.sr.Finish(rl.x.meteredUsage(rl.req, rl.lastUsage(), rl.complete, rl.outBytes, &rl.gen), err)
}

// observe takes what the exchange needs from a chunk — usage, time to first
// token, text to score or count — and reports whether it carried the first
// token.
func (rl *relay) observe(c *provider.StreamChunk) (firstToken bool) {
	x := rl.x
	if rl.rec != nil {
		rl.rec.Add(c)
	}
	if c.Usage != nil {
		rl.usage, rl.hasUsage = *c.Usage, true
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		n := len(ch.Content) + len(ch.Reasoning) // thinking is output too: it starts the answer and is billed
		for _, tc := range ch.ToolCalls {
			n += len(tc.Arguments) + len(tc.Name)
		}
		if n > 0 && x.ttft == 0 {
			x.ttft = x.s.Now().Sub(x.start)
			firstToken = true
		}
		rl.outBytes += n
		if rl.scored && ch.Index == 0 {
			rl.text.WriteString(ch.Content)
		}
	}
	if x.hold != nil {
		collectText(&rl.gen, c)
	}
	return firstToken
}

// push encodes c and writes what is pending — not after every chunk but
// before waiting for the upstream, so a burst of chunks that arrived
// together leaves in one write; the first token goes out at once, whatever
// follows it. The upstream's own end of stream is held for end, which comes
// after the settlement. It reports false when the client is gone.
//
// The buffer goes back to the pool once written: a slow stream waits for
// its upstream most of the time, and at 10,000 open streams a buffer held
// by each would be 40 MB.
func (rl *relay) push(c *provider.StreamChunk, firstToken bool) bool {
	if finalChunk(c) {
		rl.final = c
	} else {
		rl.buf = rl.cw.chunk(rl.pending(), c)
	}
	if len(rl.buf) > 0 && (firstToken || len(rl.buf) >= maxPendingStream || !ready(rl.sr.Stream)) {
		_, err := rl.w.Write(rl.buf) // #nosec G705 -- encoded SSE frames sent as text/event-stream, not HTML
		rl.release()
		if err != nil {
			return false
		}
		rl.flush()
	}
	return true
}

// pending returns the buffer of frames not written yet, taking one from the
// pool when there is none.
func (rl *relay) pending() []byte {
	if rl.bp == nil {
		rl.bp = streamBufs.Get().(*[]byte)
		rl.buf = (*rl.bp)[:0]
	}
	return rl.buf
}

// end closes the stream after the settlement: the final frames of a
// complete answer, or an error frame when the upstream failed after the
// first byte or the charge could not be written (serr, strict mode).
func (rl *relay) end(ctx context.Context, serr error) {
	x := rl.x
	defer rl.release()
	switch {
	case ctx.Err() != nil:
		x.status, x.code = statusClientClosed, "client_closed"
		return
	case !rl.complete:
		ce := upstreamError(rl.err)
		x.fail(ce)
		x.s.Logger.WarnContext(ctx, "upstream stream failed after the first byte", "err", rl.err)
		rl.buf = rl.cw.error(rl.pending(), ce)
	case serr != nil:
		ce := asChorusError(serr)
		x.fail(ce)
		x.s.Logger.ErrorContext(ctx, "stream not completed: its charge could not be written", "err", serr)
		rl.buf = rl.cw.error(rl.pending(), ce)
	default:
		rl.pending()
		if rl.final != nil {
			rl.buf = rl.cw.chunk(rl.buf, rl.final)
		}
		rl.buf = rl.cw.end(rl.buf, rl.lastUsage()) // after any chunks not written yet
		if k, ok := rl.cw.(keeper); ok {
			k.keep(ctx)
		}
		rl.storeEntry()
	}
	_, _ = rl.w.Write(rl.buf)
	rl.flush()
}

// flush sends what was written to the client now. (A ResponseController
// made per call stays on the stack; one kept in the relay would not.)
func (rl *relay) flush() { _ = http.NewResponseController(rl.w).Flush() }

// lastUsage is the last usage the upstream reported, nil when none.
func (rl *relay) lastUsage() *provider.Usage {
	if !rl.hasUsage {
		return nil
	}
	return &rl.usage
}

// storeEntry prepares the complete answer of a cache miss for the cache.
func (rl *relay) storeEntry() {
	if rl.rec == nil {
		return
	}
	if resp, ok := rl.rec.Response(); ok {
		resp.Usage = rl.sr.Winner.Usage
		rl.entry = rl.x.cacheEntry(resp, rl.sr.Winner)
	}
}

// scoredAnswer is the streamed answer as the scorers see it (nil when it
// is not scored).
func (rl *relay) scoredAnswer() *provider.ChatResponse {
	if !rl.scored {
		return nil
	}
	return &provider.ChatResponse{ID: rl.x.respID, Choices: []provider.Choice{{
		Message: provider.TextMessage(provider.RoleAssistant, rl.text.String()), FinishReason: provider.FinishStop}}}
}

// release returns the relay's buffer, if it has one, to the pool.
func (rl *relay) release() {
	if rl.bp == nil {
		return
	}
	*rl.bp = rl.buf[:0]
	if cap(rl.buf) <= maxPendingStream*2 {
		streamBufs.Put(rl.bp)
	}
	rl.bp, rl.buf = nil, nil
}

// keeper is a chunkWriter that stores the finished answer before its
// final frames are sent (the Responses API's stored responses).
type keeper interface{ keep(ctx context.Context) }

// readyStream is a stream that can tell whether its next chunk has arrived.
type readyStream interface{ Ready() bool }

// ready reports whether st's next chunk can be read without waiting.
func ready(st provider.Stream) bool {
	r, ok := st.(readyStream)
	return ok && r.Ready()
}

// asChorusError returns err as the application error the client sees.
func asChorusError(err error) *chorus.Error {
	var ce *chorus.Error
	if errors.As(err, &ce) {
		return ce
	}
	return &chorus.Error{Code: chorus.EINTERNAL, Message: "internal error", Err: err}
}
