package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

// stream reads an Anthropic SSE answer as canonical chunks. Every event
// becomes a chunk carrying the event's bytes in Raw, even events with no
// canonical content (ping, content_block_stop), so a same-format client can
// be sent the upstream stream byte for byte.
type stream struct {
	ctx  context.Context // the call's; checked so a cancelled stream stops at once
	body io.ReadCloser
	sse  *provider.SSEReader

	id, model string
	created   int64
	usage     usageTracker

	// tools maps a content block index to its tool call ordinal, for the
	// blocks that are tool_use; argsSeen records which received arguments.
	tools    map[int]int
	argsSeen map[int]bool

	done bool // message_stop seen, or the stream failed
}

func newStream(ctx context.Context, body io.ReadCloser) *stream {
	return &stream{ctx: ctx, body: body, sse: provider.NewSSEReader(body), created: time.Now().Unix()}
}

// Close aborts the upstream call.
func (s *stream) Close() error {
	s.done = true
	return s.body.Close()
}

// Next returns the next event as a chunk.
func (s *stream) Next() (*provider.StreamChunk, error) {
	if s.done {
		return nil, io.EOF
	}
	if err := s.ctx.Err(); err != nil {
		s.done = true
		return nil, provider.TransportError(chorus.ProviderAnthropic, s.ctx, err)
	}
	event, data, err := s.sse.Next()
	if err != nil {
		s.done = true
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if cerr := s.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w: %w", cerr, err)
		}
		e := provider.TransportError(chorus.ProviderAnthropic, s.ctx, err)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			e.Message = "upstream stream ended before message_stop"
		}
		return nil, e
	}
	c := &provider.StreamChunk{
		ID: s.id, Model: s.model, Created: s.created,
		Raw: slices.Clone(data), RawEvent: event, RawFormat: provider.FormatAnthropic,
	}
	if event == "" {
		// Anthropic always names its events; a relay that drops the names
		// still leaves the type in the data.
		var t struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &t)
		event = t.Type
	}
	switch event {
	case "ping", "message_stop":
		s.done = event == "message_stop"
		return c, nil
	case "content_block_stop":
		s.blockStop(c)
		return c, nil
	}
	var ev wireEvent
	if err := json.Unmarshal(c.Raw, &ev); err != nil {
		s.done = true
		return nil, &provider.Error{Provider: chorus.ProviderAnthropic,
			Message: fmt.Sprintf("upstream sent a malformed %s event", event), Err: err}
	}
	switch event {
	case "message_start":
		s.messageStart(c, &ev)
	case "content_block_start":
		s.blockStart(c, &ev)
	case "content_block_delta":
		s.blockDelta(c, &ev)
	case "message_delta":
		s.messageDelta(c, &ev)
	case "error":
		s.done = true
		e := &provider.Error{Provider: chorus.ProviderAnthropic, Message: "upstream stream failed"}
		if ev.Error != nil {
			e.Type, e.Message = ev.Error.Type, ev.Error.Message
		}
		return nil, e
	}
	// Events this package does not know pass on as Raw only.
	return c, nil
}

func (s *stream) messageStart(c *provider.StreamChunk, ev *wireEvent) {
	if m := ev.Message; m != nil {
		s.id, s.model = m.ID, m.Model
		c.ID, c.Model = m.ID, m.Model
		s.usage.merge(&m.Usage)
	}
	c.Choices = []provider.ChunkChoice{{Role: provider.RoleAssistant}}
}

func (s *stream) blockStart(c *provider.StreamChunk, ev *wireEvent) {
	b := ev.ContentBlock
	if b == nil {
		return
	}
	switch b.Type {
	case "text":
		if b.Text != nil && *b.Text != "" {
			c.Choices = []provider.ChunkChoice{{Content: *b.Text}}
		}
	case "thinking":
		if b.Thinking != nil && *b.Thinking != "" {
			c.Choices = []provider.ChunkChoice{{Reasoning: *b.Thinking}}
		}
	case "tool_use":
		if s.tools == nil {
			s.tools, s.argsSeen = map[int]int{}, map[int]bool{}
		}
		n := len(s.tools)
		s.tools[ev.Index] = n
		d := provider.ToolCallDelta{Index: n, ID: b.ID, Name: b.Name}
		// The input of a start event is normally {} with the arguments to
		// follow as deltas; a non-empty one is the whole input.
		if in := bytes.TrimSpace(b.Input); len(in) > 0 && string(in) != "{}" && string(in) != "null" {
			d.Arguments = string(in)
			s.argsSeen[ev.Index] = true
		}
		c.Choices = []provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{d}}}
	}
}

func (s *stream) blockDelta(c *provider.StreamChunk, ev *wireEvent) {
	d := ev.Delta
	if d == nil {
		return
	}
	switch d.Type {
	case "text_delta":
		if d.Text != "" {
			c.Choices = []provider.ChunkChoice{{Content: d.Text}}
		}
	case "thinking_delta":
		// A signature_delta has no canonical form: only an Anthropic client,
		// which is sent the raw events, can send thinking back.
		if d.Thinking != "" {
			c.Choices = []provider.ChunkChoice{{Reasoning: d.Thinking}}
		}
	case "input_json_delta":
		n, ok := s.tools[ev.Index]
		if !ok || d.PartialJSON == "" {
			return
		}
		s.argsSeen[ev.Index] = true
		c.Choices = []provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: n, Arguments: d.PartialJSON}}}}
	}
}

// blockStop gives a tool call that received no arguments the empty object,
// so canonical clients see valid JSON arguments.
func (s *stream) blockStop(c *provider.StreamChunk) {
	if len(s.tools) == 0 {
		return
	}
	var ev struct {
		Index int `json:"index"`
	}
	if json.Unmarshal(c.Raw, &ev) != nil {
		return // a stop carries nothing else to lose
	}
	if n, ok := s.tools[ev.Index]; ok && !s.argsSeen[ev.Index] {
		s.argsSeen[ev.Index] = true
		c.Choices = []provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: n, Arguments: "{}"}}}}
	}
}

func (s *stream) messageDelta(c *provider.StreamChunk, ev *wireEvent) {
	s.usage.merge(ev.Usage)
	u := s.usage.canonical()
	c.Usage = &u
	if d := ev.Delta; d != nil && d.StopReason != "" {
		ch := provider.ChunkChoice{FinishReason: finishReason(d.StopReason)}
		if d.StopReason == stopSequence && d.StopSequence != nil {
			ch.StopSequence = *d.StopSequence
		}
		c.Choices = []provider.ChunkChoice{ch}
	}
}
