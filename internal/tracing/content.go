package tracing

import (
	"encoding/json"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/chorusgw/chorus/internal/provider"
)

// Content capture (tracing.capture_content) writes prompts and answers in
// the GenAI conventions' message structure: gen_ai.system_instructions,
// gen_ai.input.messages and gen_ai.output.messages, each a JSON array.
// Text is what is bounded: every attribute holds at most max bytes of text
// (an image is named by its kind only, never its data), cut on a rune
// boundary; a cut sets chorus.content.truncated.

type part struct {
	Type      string `json:"type"`
	Content   string `json:"content,omitempty"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	Response  string `json:"response,omitempty"`
}

type message struct {
	Role         string `json:"role"`
	Parts        []part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// budget hands out text up to a total number of bytes.
type budget struct {
	left int
	cut  bool
}

// take returns as much of s as the budget allows.
func (b *budget) take(s string) string {
	if len(s) <= b.left {
		b.left -= len(s)
		return s
	}
	b.cut = true
	n := b.left
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	b.left = 0
	return s[:n]
}

// parts converts a message's content, tool calls and tool result.
func (b *budget) parts(m *provider.Message) []part {
	out := make([]part, 0, len(m.Content)+len(m.ToolCalls))
	for i := range m.Content {
		p := &m.Content[i]
		switch {
		case p.IsReasoning():
			out = append(out, part{Type: "reasoning", Content: b.take(p.Text)})
		case p.Type == provider.PartText && m.Role == provider.RoleTool:
			out = append(out, part{Type: "tool_call_response", ID: m.ToolCallID, Response: b.take(p.Text)})
		case p.Type == provider.PartText:
			out = append(out, part{Type: "text", Content: b.take(p.Text)})
		default:
			out = append(out, part{Type: p.Type})
		}
	}
	for _, tc := range m.ToolCalls {
		out = append(out, part{Type: "tool_call", ID: tc.ID, Name: tc.Name, Arguments: b.take(tc.Arguments)})
	}
	return out
}

// inputContent is a request's system instructions and input messages.
func inputContent(r *provider.ChatRequest, max int) []attribute.KeyValue {
	sys := &budget{left: max}
	in := &budget{left: max}
	var system []part
	msgs := make([]message, 0, len(r.Messages))
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Role == provider.RoleSystem || m.Role == provider.RoleDeveloper {
			system = append(system, sys.parts(m)...)
			continue
		}
		msgs = append(msgs, message{Role: m.Role, Parts: in.parts(m)})
	}
	attrs := []attribute.KeyValue{semconv.GenAIInputMessagesKey.String(mustJSON(msgs))}
	if len(system) > 0 {
		attrs = append(attrs, semconv.GenAISystemInstructionsKey.String(mustJSON(system)))
	}
	if sys.cut || in.cut {
		attrs = append(attrs, AttrTruncated.Bool(true))
	}
	return attrs
}

// outputContent is a whole answer's output messages, one per choice.
func outputContent(r *provider.ChatResponse, max int) []attribute.KeyValue {
	b := &budget{left: max}
	msgs := make([]message, 0, len(r.Choices))
	for i := range r.Choices {
		c := &r.Choices[i]
		msgs = append(msgs, message{Role: provider.RoleAssistant, Parts: b.parts(&c.Message), FinishReason: string(c.FinishReason)})
	}
	return outputAttrs(msgs, b.cut)
}

// outputText is a stream's output: its text, as one assistant message.
func outputText(text string, finish []string, max int) []attribute.KeyValue {
	b := &budget{left: max}
	m := message{Role: provider.RoleAssistant, Parts: []part{{Type: "text", Content: b.take(text)}}}
	if len(finish) > 0 {
		m.FinishReason = finish[0]
	}
	return outputAttrs([]message{m}, b.cut)
}

func outputAttrs(msgs []message, cut bool) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.GenAIOutputMessagesKey.String(mustJSON(msgs))}
	if cut {
		attrs = append(attrs, AttrTruncated.Bool(true))
	}
	return attrs
}

// mustJSON encodes values that always encode (strings and slices of them).
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "[]"
	}
	return string(b)
}
