package gateway

import (
	"context"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// responsesStreamWriter writes the Responses API's semantic events:
// relayed as received from an upstream that speaks Responses, encoded from
// canonical chunks otherwise. It keeps the final response object for
// storage.
type responsesStreamWriter struct {
	x       *exchange
	enc     *openai.ResponsesStreamEncoder
	raw     bool
	started bool
	final   []byte // the response object of a relayed response.completed
}

func (r *responsesStreamWriter) responseID(first *provider.StreamChunk) string {
	if first.RawFormat == provider.FormatOpenAIResponses && first.ID != "" {
		r.x.conv.id = first.ID
	}
	return r.x.conv.id
}

func (r *responsesStreamWriter) contentType() string { return "text/event-stream; charset=utf-8" }

func (r *responsesStreamWriter) chunk(dst []byte, c *provider.StreamChunk) []byte {
	if c.RawFormat == provider.FormatOpenAIResponses && c.Raw != nil {
		r.raw = true
		if obj, ok := openai.CompletedResponse(c.Raw); ok {
			r.final = obj
		}
		if c.RawEvent != "" {
			dst = append(dst, "event: "...)
			dst = append(dst, c.RawEvent...)
			dst = append(dst, '\n')
		}
		return appendSSEData(dst, c.Raw)
	}
	if !r.started {
		r.started = true
		dst = r.enc.Start(dst)
	}
	return r.enc.Encode(dst, c)
}

func (r *responsesStreamWriter) end(dst []byte, usage *provider.Usage) []byte {
	if r.raw {
		return dst // the upstream sent its own response.completed
	}
	if !r.started {
		r.started = true
		dst = r.enc.Start(dst)
	}
	dst = r.enc.Finish(dst, usage)
	r.final = r.enc.Response()
	return dst
}

func (r *responsesStreamWriter) error(dst []byte, e *chorus.Error) []byte {
	return r.enc.Fail(dst, api.OpenAICode(e), e.Message)
}

// keep stores the finished response (relay.end calls it after end, before
// the final events are sent).
func (r *responsesStreamWriter) keep(ctx context.Context) { r.x.keepResponse(ctx, r.final) }
