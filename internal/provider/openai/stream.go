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

// ChatStream sends a streaming chat completion request. The upstream is
// always asked for usage (stream_options.include_usage), so the last chunk
// reports it even when the client did not ask; callers relaying Raw to a
// client that did not ask should drop that usage-only chunk.
func (c *Client) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	if c.usesResponses(req) {
		return c.responsesStreamCall(ctx, req)
	}
	body, err := c.chatBody(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.endpoint("chat/completions", req.Model), body, true)
	if err != nil {
		return nil, err
	}
	// The SSE reader reads through br (NewSSEReader keeps a large enough
	// bufio.Reader as it is), so Ready can look at what has arrived.
	br := bufio.NewReaderSize(resp.Body, provider.SSEBufferSize)
	return &stream{kind: c.kind, body: resp.Body, br: br, sse: provider.NewSSEReader(br), ctxErr: ctx.Err}, nil
}

// stream reads an OpenAI SSE answer: "data: {chunk}" events ended by
// "data: [DONE]".
type stream struct {
	kind   string
	body   io.ReadCloser
	br     *bufio.Reader // what the SSE reader reads from
	sse    *provider.SSEReader
	ctxErr func() error // the call's context, for classifying read errors
	finish bool         // a finish_reason was seen
	err    error        // sticky: what ended the stream
}

var doneMarker = []byte("[DONE]")

// Next returns the next chunk, io.EOF after [DONE], or the error that ended
// the stream (a *provider.Error for an upstream error event).
func (s *stream) Next() (*provider.StreamChunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		_, data, err := s.sse.Next()
		if err != nil {
			return nil, s.fail(s.readError(err))
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, doneMarker) {
			return nil, s.fail(io.EOF)
		}
		chunk, perr, err := parseChunk(data)
		if err != nil {
			return nil, s.fail(&provider.Error{Provider: s.kind, Type: "invalid_response", Message: "upstream sent a stream event that could not be parsed", Err: err})
		}
		if perr != nil {
			perr.Provider = s.kind
			return nil, s.fail(perr)
		}
		for i := range chunk.Choices {
			if chunk.Choices[i].FinishReason != "" {
				s.finish = true
			}
		}
		chunk.Raw = slices.Clone(data)
		chunk.RawFormat = provider.FormatOpenAI
		return chunk, nil
	}
}

// Ready reports whether the next event has arrived in full, so that Next
// returns without waiting for the upstream. The API server flushes to its
// client only when the next chunk is not ready: a burst of events goes out
// in one write, and no chunk ever waits for the upstream.
func (s *stream) Ready() bool {
	if s.err != nil {
		return false
	}
	n := s.br.Buffered()
	if n == 0 {
		return false
	}
	b, err := s.br.Peek(n)
	if err != nil {
		return false
	}
	return completeDataEvent(b)
}

// completeDataEvent reports whether b holds a non-empty data line followed
// by the blank line that ends its event. Events Next would skip (comments,
// empty data) do not count, so a false "ready" cannot hold back a chunk.
func completeDataEvent(b []byte) bool {
	for line := 0; line < len(b); {
		end := bytes.IndexByte(b[line:], '\n')
		if end < 0 {
			return false
		}
		l := bytes.TrimSuffix(b[line:line+end], []byte("\r"))
		if v, ok := bytes.CutPrefix(l, []byte("data:")); ok && len(bytes.TrimSpace(v)) > 0 {
			rest := b[line+end+1:]
			// The event ends at the first blank line after its data lines.
			return bytes.HasPrefix(rest, []byte("\n")) || bytes.HasPrefix(rest, []byte("\r\n")) ||
				bytes.Contains(rest, []byte("\n\n")) || bytes.Contains(rest, []byte("\n\r\n"))
		}
		line += end + 1
	}
	return false
}

// readError classifies a failure to read the next event. A stream that ends
// without [DONE] is complete if it finished its choices (some compatible
// servers omit the marker) and truncated otherwise.
func (s *stream) readError(err error) error {
	if err == io.EOF {
		if s.finish {
			return io.EOF
		}
		err = io.ErrUnexpectedEOF
	}
	if s.ctxErr != nil {
		if cerr := s.ctxErr(); cerr != nil && !errors.Is(err, cerr) {
			err = errors.Join(cerr, err)
		}
	}
	return provider.TransportError(s.kind, context.Background(), err)
}

func (s *stream) fail(err error) error {
	s.err = err
	return err
}

// Close aborts the upstream call if it is still running. It never drains
// the body.
func (s *stream) Close() error {
	if s.err == nil {
		s.err = errClosed
	}
	return s.body.Close()
}

var errClosed = errors.New("openai: stream closed")

// parseChunk reads one chat.completion.chunk, or the error event an
// upstream sends in its place.
func parseChunk(data []byte) (*provider.StreamChunk, *provider.Error, error) {
	if !jsonscan.Valid(data) || data[jsonscan.SkipSpace(data, 0)] != '{' {
		return nil, nil, jsonscan.ErrSyntax
	}
	c := &provider.StreamChunk{}
	var errObj []byte
	_ = jsonscan.EachMember(data, func(k []byte, _ bool, v []byte) error {
		switch string(k) {
		case "id":
			c.ID = str(v)
		case "model":
			c.Model = str(v)
		case "created":
			c.Created = int64(num(v))
		case "usage":
			if v[0] == '{' {
				u := parseUsage(v)
				c.Usage = &u
			}
		case "choices":
			if v[0] == '[' {
				c.Choices = make([]provider.ChunkChoice, 0, jsonscan.CountElements(v))
				_ = jsonscan.EachElement(v, func(i int, e []byte) error {
					c.Choices = append(c.Choices, parseChunkChoice(i, e))
					return nil
				})
			}
		case "error":
			if !isNull(v) {
				errObj = v
			}
		}
		return nil
	})
	if errObj != nil {
		e := &provider.Error{}
		if !parseErrorBody(data, e) || e.Message == "" {
			e.Message = errorText(errObj)
		}
		return nil, e, nil
	}
	return c, nil, nil
}

func parseChunkChoice(i int, v []byte) provider.ChunkChoice {
	ch := provider.ChunkChoice{Index: i}
	if v[0] != '{' {
		return ch
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "index":
			ch.Index = num(mv)
		case "finish_reason":
			ch.FinishReason = finishReason(mv)
		case "delta":
			parseDelta(&ch, mv)
		}
		return nil
	})
	return ch
}

func parseDelta(ch *provider.ChunkChoice, v []byte) {
	if v[0] != '{' {
		return
	}
	_ = jsonscan.EachMember(v, func(k []byte, _ bool, mv []byte) error {
		switch string(k) {
		case "role":
			ch.Role = str(mv)
		case "content":
			ch.Content += str(mv)
		case "refusal":
			ch.Content += str(mv)
		case "reasoning_content", "reasoning":
			ch.Reasoning += str(mv)
		case "tool_calls":
			if mv[0] == '[' {
				ch.ToolCalls = make([]provider.ToolCallDelta, 0, jsonscan.CountElements(mv))
				_ = jsonscan.EachElement(mv, func(_ int, e []byte) error {
					ch.ToolCalls = append(ch.ToolCalls, parseToolCallDelta(e))
					return nil
				})
			}
		case "function_call":
			if mv[0] == '{' {
				ch.ToolCalls = append(ch.ToolCalls, parseFunction(mv))
			}
		}
		return nil
	})
}
