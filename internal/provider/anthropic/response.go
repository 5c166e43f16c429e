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
// that keeps the body in Raw. Text blocks are joined into the message's
// content; tool_use blocks become tool calls; thinking and server-tool
// blocks have no canonical form and are left to Raw.
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
	msg := provider.Message{Role: provider.RoleAssistant}
	var text strings.Builder
	for i := range w.Content {
		b := &w.Content[i]
		switch b.Type {
		case "text":
			if b.Text != nil {
				text.WriteString(*b.Text)
			}
		case "tool_use":
			msg.ToolCalls = append(msg.ToolCalls, provider.ToolCall{ID: b.ID, Name: b.Name, Arguments: toolArguments(b.Input)})
		}
	}
	if text.Len() > 0 {
		msg.Content = []provider.Part{{Type: provider.PartText, Text: text.String()}}
		msg.TextOnly = true
	}
	var u usageTracker
	u.merge(&w.Usage)
	return &provider.ChatResponse{
		ID:        w.ID,
		Model:     w.Model,
		Created:   time.Now().Unix(),
		Choices:   []provider.Choice{{Message: msg, FinishReason: finishReason(w.StopReason)}},
		Usage:     u.canonical(),
		Raw:       raw,
		RawFormat: provider.FormatAnthropic,
	}, nil
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
// choice is written (Anthropic answers have one). Its text becomes a text
// block and its tool calls tool_use blocks; arguments that are not a JSON
// object are written as an empty input, as Anthropic's SDKs do with input
// they cannot parse. Prompt-cache writes are not told apart in the canonical
// usage, so they are counted in input_tokens.
func AppendResponse(dst []byte, r *provider.ChatResponse) []byte {
	dst = append(dst, '{')
	dst = appendStringField(dst, "id", MessageID(r.ID))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = jsonscan.AppendString(dst, r.Model)
	dst = append(dst, `,"content":[`...)
	var finish provider.FinishReason
	if len(r.Choices) > 0 {
		ch := &r.Choices[0]
		finish = ch.FinishReason
		if text := ch.Message.Text(); text != "" {
			dst = appendTextBlock(dst, text)
		}
		for i := range ch.Message.ToolCalls {
			tc := &ch.Message.ToolCalls[i]
			dst = appendComma(dst)
			dst = appendToolUseBlock(dst, toolUseID(tc.ID, i), tc.Name, objectOrEmpty(tc.Arguments))
		}
	}
	dst = append(dst, `],"stop_reason":`...)
	dst = jsonscan.AppendString(dst, stopReason(finish))
	dst = append(dst, `,"stop_sequence":null,"usage":`...)
	dst = appendUsage(dst, r.Usage)
	return append(dst, '}')
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

// appendUsage appends Anthropic's usage object for a canonical usage.
func appendUsage(dst []byte, u provider.Usage) []byte {
	cached := min(max(u.CachedInputTokens, 0), max(u.InputTokens, 0))
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(max(u.InputTokens, 0)-cached), 10)
	dst = append(dst, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
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
