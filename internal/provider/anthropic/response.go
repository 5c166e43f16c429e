package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// parseResponse turns an Anthropic Message body into a canonical answer
// that keeps the body in Raw. Thinking and redacted_thinking blocks become
// thinking parts, ahead of the text blocks joined into one text part;
// tool_use blocks become tool calls; server-tool blocks have no canonical
// form and are left to Raw.
func parseResponse(raw []byte, status int) (*provider.ChatResponse, error) {
	var w wireResponse
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, &provider.Error{Provider: chorus.ProviderAnthropic, Status: status,
			Message: "upstream answered with a body that is not an Anthropic message", Err: err}
	}
	if w.Type == "error" {
		// Some proxies answer 200 with an error body.
		var e wireErrorBody
		_ = json.Unmarshal(raw, &e)
		return nil, &provider.Error{Provider: chorus.ProviderAnthropic, Status: status, Type: e.Error.Type, Message: e.Error.Message}
	}
	ch := provider.Choice{Message: answerMessage(w.Content), FinishReason: finishReason(w.StopReason)}
	if w.StopReason == stopSequence && w.StopSequence != nil {
		ch.StopSequence = *w.StopSequence
	}
	var u usageTracker
	u.merge(&w.Usage)
	return &provider.ChatResponse{
		ID:        w.ID,
		Model:     w.Model,
		Created:   time.Now().Unix(),
		Choices:   []provider.Choice{ch},
		Usage:     u.canonical(),
		Raw:       raw,
		RawFormat: provider.FormatAnthropic,
	}, nil
}

// answerMessage returns an answer's content blocks as a canonical message.
func answerMessage(blocks []wireBlock) provider.Message {
	msg := provider.Message{Role: provider.RoleAssistant}
	var text strings.Builder
	for i := range blocks {
		b := &blocks[i]
		switch b.Type {
		case "text":
			if b.Text != nil {
				text.WriteString(*b.Text)
			}
		case "thinking", "redacted_thinking":
			msg.Content = append(msg.Content, decodeThinking(b))
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, provider.ToolCall{ID: b.ID, Name: b.Name, Arguments: toolArguments(b.Input)})
		}
	}
	if text.Len() > 0 {
		msg.TextOnly = len(msg.Content) == 0
		msg.Content = append(msg.Content, provider.Part{Type: provider.PartText, Text: text.String()})
	}
	return msg
}

// toolArguments returns a tool_use input as canonical arguments text.
func toolArguments(input json.RawMessage) string {
	input = bytes.TrimSpace(input)
	if len(input) == 0 || string(input) == "null" {
		return "{}"
	}
	return string(input)
}

// AppendResponse appends r as an Anthropic Message object, for answering an
// Anthropic client from a canonical answer of any provider. Only the first
// choice is written (Anthropic answers have one): its reasoning as a
// thinking block when thinking is true (the client asked for thinking; see
// ThinkingRequested), its text as a text block and its tool calls as
// tool_use blocks; arguments that are not a JSON object are written as an
// empty input, as Anthropic's SDKs do with input they cannot parse.
//
// A thinking block carries the signature the upstream gave it, which is
// empty for reasoning of a provider other than Anthropic: Anthropic checks
// signatures only on thinking sent back to it, and Chorus drops unsigned
// thinking before it reaches an Anthropic upstream.
func AppendResponse(dst []byte, r *provider.ChatResponse, thinking bool) []byte {
	dst = append(dst, '{')
	dst = appendStringField(dst, "id", MessageID(r.ID))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonscan.AppendString(dst, r.Model)
	dst = append(dst, `,"content":[`...)
	var ch provider.Choice
	if len(r.Choices) > 0 {
		ch = r.Choices[0]
		dst = appendAnswerBlocks(dst, &ch.Message, thinking)
	}
	dst = append(dst, "],"...)
	dst = appendStop(dst, ch.FinishReason, ch.StopSequence)
	dst = append(dst, `,"usage":`...)
	dst = appendUsage(dst, r.Usage)
	return append(dst, '}')
}

// appendAnswerBlocks appends the content blocks of an answer message.
func appendAnswerBlocks(dst []byte, m *provider.Message, thinking bool) []byte {
	for i := range m.Content {
		p := &m.Content[i]
		switch {
		case !thinking || !p.IsReasoning():
		case p.Type == provider.PartThinking:
			dst = append(appendComma(dst), `{"type":"thinking","thinking":`...)
			dst = jsonscan.AppendString(dst, p.Text)
			dst = append(dst, `,"signature":`...)
			dst = jsonscan.AppendString(dst, p.Signature)
			dst = append(dst, '}')
		case p.Data != "":
			dst = append(appendComma(dst), `{"type":"redacted_thinking","data":`...)
			dst = jsonscan.AppendString(dst, p.Data)
			dst = append(dst, '}')
		}
	}
	if text := m.Text(); text != "" {
		dst = appendTextBlock(appendComma(dst), text, nil)
	}
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		dst = appendComma(dst)
		dst = appendToolUseBlock(dst, toolUseID(tc.ID, i), tc.Name, objectOrEmpty(tc.Arguments))
	}
	return dst
}

// appendStop appends the stop_reason and stop_sequence members.
func appendStop(dst []byte, f provider.FinishReason, seq string) []byte {
	reason := stopReason(f)
	if f == provider.FinishStop && seq != "" {
		reason = stopSequence
	}
	dst = append(dst, `"stop_reason":`...)
	dst = jsonscan.AppendString(dst, reason)
	dst = append(dst, `,"stop_sequence":`...)
	if reason == stopSequence {
		return jsonscan.AppendString(dst, seq)
	}
	return append(dst, "null"...)
}

// ThinkingRequested reports whether an Anthropic client's request turned
// thinking on (thinking of type enabled or adaptive), so that reasoning an
// upstream produced is shown to it as thinking blocks.
func ThinkingRequested(req *provider.ChatRequest) bool {
	if req == nil {
		return false
	}
	v, ok := req.Extra["thinking"]
	if !ok {
		return false
	}
	t, ok, err := jsonscan.GetField(v, "type")
	return err == nil && ok && (string(t) == `"enabled"` || string(t) == `"adaptive"`)
}

// appendToolUseBlock appends {"type":"tool_use","id":..,"name":..,"input":input}.
func appendToolUseBlock(dst []byte, id, name string, input []byte) []byte {
	dst = append(dst, `{"type":"tool_use","id":`...)
	dst = jsonscan.AppendString(dst, id)
	dst = append(dst, `,"name":`...)
	dst = jsonscan.AppendString(dst, name)
	dst = append(dst, `,"input":`...)
	dst = append(dst, input...)
	return append(dst, '}')
}

// appendUsage appends Anthropic's usage object for a canonical usage. The
// canonical InputTokens includes the prompt-cache reads and writes, which
// Anthropic counts apart: input_tokens is what is left of it.
func appendUsage(dst []byte, u provider.Usage) []byte {
	in := max(u.InputTokens, 0)
	cached := min(max(u.CachedInputTokens, 0), in)
	written := min(max(u.CacheWriteTokens, 0), in-cached)
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(in-cached-written), 10)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(written), 10)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(cached), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(max(u.OutputTokens, 0)), 10)
	return append(dst, '}')
}

// MessageID returns id with Anthropic's msg_ prefix.
func MessageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	if id == "" {
		return "msg_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return "msg_" + id
}

// toolUseID returns a tool call's ID, or a made-up one for providers that
// do not name their calls (the client must echo an ID in its tool_result).
func toolUseID(id string, i int) string {
	if id != "" {
		return id
	}
	return "toolu_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "_" + strconv.Itoa(i)
}

// objectOrEmpty returns args as a JSON object value, or {} when it is not one.
func objectOrEmpty(args string) []byte {
	b := bytes.TrimSpace([]byte(args))
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return []byte("{}")
	}
	return b
}
