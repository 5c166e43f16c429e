package gateway

import (
	"net/http"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

// anthropicHeaderNames are the request headers of an Anthropic client that
// reach an Anthropic upstream: the API version and the beta features the
// body relies on. A request without anthropic-version is accepted (Chorus
// is lenient where Anthropic answers 400); the adapter then sends its own.
var anthropicHeaderNames = [...]string{"anthropic-version", "anthropic-beta"}

// anthropicHeaders copies the client's anthropic-version and anthropic-beta
// headers onto req for the upstream. Repeated beta headers are joined with
// commas, the list form Anthropic reads.
func anthropicHeaders(h http.Header, req *provider.ChatRequest) {
	for _, name := range anthropicHeaderNames {
		v := h.Values(name)
		if len(v) == 0 {
			continue
		}
		if req.UpstreamHeaders == nil {
			req.UpstreamHeaders = make(map[string]string, len(anthropicHeaderNames))
		}
		req.UpstreamHeaders[name] = strings.Join(v, ",")
	}
}

// anthropicResponse writes a whole answer from another format as an
// Anthropic message, with the upstream's reasoning as thinking when the
// client asked for thinking.
func anthropicResponse(dst []byte, req *provider.ChatRequest, r *provider.ChatResponse) []byte {
	return anthropic.AppendResponse(dst, r, anthropic.ThinkingRequested(req))
}

// anthropicStreamWriter writes Anthropic SSE events: relayed byte for byte
// from an Anthropic upstream, encoded from canonical chunks otherwise.
type anthropicStreamWriter struct {
	x     *exchange
	req   *provider.ChatRequest
	model string
	enc   *anthropic.StreamEncoder
	raw   bool
}

func newAnthropicStreamWriter(x *exchange, req *provider.ChatRequest) chunkWriter {
	return &anthropicStreamWriter{x: x, req: req, model: x.route.Model.Name}
}

// responseID is the message ID an Anthropic client sees for a stream whose
// first chunk is first.
func (a *anthropicStreamWriter) responseID(first *provider.StreamChunk) string {
	return anthropic.MessageID(first.ID)
}

func (a *anthropicStreamWriter) contentType() string { return "text/event-stream; charset=utf-8" }

func (a *anthropicStreamWriter) chunk(dst []byte, c *provider.StreamChunk) []byte {
	if c.RawFormat == provider.FormatAnthropic && c.Raw != nil {
		a.raw = true
		if c.RawEvent != "" {
			dst = append(dst, "event: "...)
			dst = append(dst, c.RawEvent...)
			dst = append(dst, '\n')
		}
		return appendSSEData(dst, c.Raw)
	}
	if a.enc == nil {
		model := c.Model
		if model == "" {
			model = a.model
		}
		a.enc = anthropic.NewStreamEncoder(model).WithThinking(anthropic.ThinkingRequested(a.req))
		if c.Usage == nil || c.Usage.InputTokens == 0 {
			a.enc.WithInputTokens(a.inputTokens())
		}
	}
	return a.enc.Encode(dst, c)
}

// inputTokens counts the prompt's tokens for message_start when the
// upstream reports them only at the end (OpenAI-style streams): with the
// meter's offline tokenizer for the answering deployment's model. It runs
// once, before the first event, and costs about 100 µs per kilobyte of
// prompt.
func (a *anthropicStreamWriter) inputTokens() int {
	if a.x == nil || a.req == nil {
		return 0
	}
	model := ""
	if t := a.x.target; t != nil {
		model = t.Deployment.UpstreamModel
	}
	return a.x.s.Meter.InputTokens(model, a.req)
}

func (a *anthropicStreamWriter) end(dst []byte, usage *provider.Usage) []byte {
	if a.raw || a.enc == nil {
		return dst // an Anthropic upstream sent its own message_stop
	}
	return a.enc.Finish(dst, usage)
}

func (a *anthropicStreamWriter) error(dst []byte, e *chorus.Error) []byte {
	return anthropic.AppendErrorEvent(dst, anthropic.ErrorType(api.StatusOf(e)), e.Message)
}
