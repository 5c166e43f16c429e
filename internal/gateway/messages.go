package gateway

import (
	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

// anthropicStreamWriter writes Anthropic SSE events: relayed byte for byte
// from an Anthropic upstream, encoded from canonical chunks otherwise.
type anthropicStreamWriter struct {
	model string
	enc   *anthropic.StreamEncoder
	raw   bool
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
		a.enc = anthropic.NewStreamEncoder(model)
	}
	return a.enc.Encode(dst, c)
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
