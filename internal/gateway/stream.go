package gateway

import (
	"bytes"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

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
	// first chunk.
	responseID(first *provider.StreamChunk) string
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

func (o *openAIStreamWriter) responseID(first *provider.StreamChunk) string { return first.ID }

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
