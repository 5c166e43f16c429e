package openai

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// responsesStreamCall sends a streamed Responses request.
func (c *Client) responsesStreamCall(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := rewriteResponsesBody(req.Raw, req.Model, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.responsesURL, body, true)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(resp.Body, provider.SSEBufferSize)
	return &responsesStream{kind: c.kind, body: resp.Body, br: br, sse: provider.NewSSEReader(br), ctxErr: ctx.Err}, nil
}

// responsesStream reads a Responses SSE answer. Every event becomes a chunk
// whose Raw is the event's data (so a Responses client gets it unchanged);
// text, reasoning and tool call deltas, and the final usage and finish
// reason, are also given canonically.
type responsesStream struct {
	kind    string
	body    io.ReadCloser
	br      *bufio.Reader
	sse     *provider.SSEReader
	ctxErr  func() error
	id      string
	model   string
	created int64
	calls   map[int]int // output_index → canonical tool call index
	role    bool        // the assistant role was given
	ended   bool        // a terminal event was seen
	err     error
}

// Next returns the next chunk, io.EOF after response.completed or
// response.incomplete, or the error that ended the stream (a
// *provider.Error for response.failed and error events).
func (s *responsesStream) Next() (*provider.StreamChunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.ended {
		return nil, s.fail(io.EOF)
	}
	for {
		event, data, err := s.sse.Next()
		if err != nil {
			return nil, s.fail(s.readError(err))
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			continue
		}
		if !jsonscan.Valid(data) || data[0] != '{' {
			return nil, s.fail(&provider.Error{Provider: s.kind, Type: "invalid_response", Message: "upstream sent a stream event that could not be parsed", Err: jsonscan.ErrSyntax})
		}
		c := &provider.StreamChunk{Raw: slices.Clone(data), RawEvent: event, RawFormat: provider.FormatOpenAIResponses}
		if perr := s.translate(c, data); perr != nil {
			perr.Provider = s.kind
			return nil, s.fail(perr)
		}
		c.ID, c.Model, c.Created = s.id, s.model, s.created
		return c, nil
	}
}

// eventFields are the members of a stream event the translation reads.
type eventFields struct {
	typ, delta, item, response, outputIndex []byte
}

// translate fills c's canonical part from one event's data.
func (s *responsesStream) translate(c *provider.StreamChunk, data []byte) *provider.Error {
	var f eventFields
	_ = jsonscan.EachMember(data, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "type":
			f.typ = v
		case "delta":
			f.delta = v
		case "item":
			f.item = v
		case "response":
			f.response = v
		case "output_index":
			f.outputIndex = v
		}
		return nil
	})
	switch str(f.typ) {
	case "response.created", "response.in_progress":
		s.id, s.model = str(memberOf(f.response, "id")), str(memberOf(f.response, "model"))
		s.created = int64(num(memberOf(f.response, "created_at")))
	case "response.output_text.delta", "response.refusal.delta":
		s.choice(c).Content = str(f.delta)
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		s.choice(c).Reasoning = str(f.delta)
	case "response.output_item.added":
		s.callStart(c, num(f.outputIndex), f.item)
	case "response.function_call_arguments.delta":
		s.callDelta(c, num(f.outputIndex), str(f.delta))
	case "response.custom_tool_call_input.delta":
		// The canonical arguments are {"input":"…"}: each piece of input is
		// escaped on its own, and escaping commutes with concatenation.
		esc := jsonscan.AppendString(nil, str(f.delta))
		s.callDelta(c, num(f.outputIndex), string(esc[1:len(esc)-1]))
	case "response.output_item.done":
		if str(memberOf(f.item, "type")) == itemCustomCall {
			s.callDelta(c, num(f.outputIndex), `"}`)
		}
	case "response.completed", "response.incomplete":
		s.end(c, f.response)
	case "response.failed":
		return responseError(memberOf(f.response, "error"))
	case "error":
		return responseError(data)
	}
	return nil
}

// choice returns c's one choice, adding it (with the role on the first).
func (s *responsesStream) choice(c *provider.StreamChunk) *provider.ChunkChoice {
	if len(c.Choices) == 0 {
		c.Choices = []provider.ChunkChoice{{}}
		if !s.role {
			c.Choices[0].Role, s.role = provider.RoleAssistant, true
		}
	}
	return &c.Choices[0]
}

// callStart gives the head of a function or custom tool call item.
func (s *responsesStream) callStart(c *provider.StreamChunk, outputIndex int, item []byte) {
	typ := str(memberOf(item, "type"))
	if typ != itemFunctionCall && typ != itemCustomCall {
		return
	}
	if s.calls == nil {
		s.calls = make(map[int]int, 2)
	}
	n := len(s.calls)
	s.calls[outputIndex] = n
	d := provider.ToolCallDelta{
		Index: n,
		ID:    str(memberOf(item, "call_id")),
		Name:  canonicalName(str(memberOf(item, "name")), str(memberOf(item, "namespace"))),
	}
	if typ == itemCustomCall {
		d.Arguments = `{"input":"`
	}
	ch := s.choice(c)
	ch.ToolCalls = append(ch.ToolCalls, d)
}

func (s *responsesStream) callDelta(c *provider.StreamChunk, outputIndex int, args string) {
	n, ok := s.calls[outputIndex]
	if !ok || args == "" {
		return
	}
	ch := s.choice(c)
	ch.ToolCalls = append(ch.ToolCalls, provider.ToolCallDelta{Index: n, Arguments: args})
}

// end reads the final response object: usage and the finish reason.
func (s *responsesStream) end(c *provider.StreamChunk, resp []byte) {
	s.ended = true
	finish := provider.FinishStop
	switch {
	case str(memberOf(resp, "status")) == statusIncomplete:
		finish = provider.FinishLength
		if str(memberOf(memberOf(resp, "incomplete_details"), "reason")) == "content_filter" {
			finish = provider.FinishContentFilter
		}
	case len(s.calls) > 0:
		finish = provider.FinishToolCalls
	}
	s.choice(c).FinishReason = finish
	if u := memberOf(resp, "usage"); u != nil && u[0] == '{' {
		usage := parseResponsesUsage(u)
		c.Usage = &usage
	}
}

// Ready reports whether the next event has arrived in full (see
// stream.Ready).
func (s *responsesStream) Ready() bool {
	if s.err != nil || s.ended {
		return false
	}
	n := s.br.Buffered()
	if n == 0 {
		return false
	}
	b, err := s.br.Peek(n)
	return err == nil && completeDataEvent(b)
}

// readError classifies a failure to read the next event: a stream that
// ends before its terminal event is truncated.
func (s *responsesStream) readError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if cerr := s.ctxErr(); cerr != nil && !errors.Is(err, cerr) {
		err = errors.Join(cerr, err)
	}
	return provider.TransportError(s.kind, context.Background(), err)
}

func (s *responsesStream) fail(err error) error {
	s.err = err
	return err
}

// Close aborts the upstream call if it is still running.
func (s *responsesStream) Close() error {
	if s.err == nil {
		s.err = errClosed
	}
	return s.body.Close()
}
