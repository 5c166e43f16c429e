package openaitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// wireRequest is the part of an OpenAI request the fake checks and records.
// It is decoded with encoding/json, independently of the adapter's own
// decoder, so the two cannot share a misreading of the format.
type wireRequest struct {
	Model               string          `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`

	// Embeddings.
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	inputs         []string
}

type wireMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
}

type wirePart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// capture checks a chat request as OpenAI would and records it in c.
func (r *wireRequest) capture(c *conformance.Captured) error {
	c.Model, c.Stream, c.Temperature = r.Model, r.Stream, r.Temperature
	if r.Model == "" {
		return errors.New("you must provide a model parameter")
	}
	if len(r.Messages) == 0 {
		return errors.New("'messages' must be a non-empty array")
	}
	if r.StreamOptions != nil && !r.Stream {
		return errors.New("the 'stream_options' parameter is only allowed when 'stream' is enabled")
	}
	if r.MaxTokens != nil && r.MaxCompletionTokens != nil {
		return errors.New("max_tokens and max_completion_tokens cannot both be set")
	}
	switch {
	case r.MaxCompletionTokens != nil:
		c.MaxTokens = *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		c.MaxTokens = *r.MaxTokens
	}
	if err := decodeStop(r.Stop, &c.Stop); err != nil {
		return err
	}
	for i, t := range r.Tools {
		if t.Type != "function" || t.Function.Name == "" {
			return fmt.Errorf("tools[%d]: want a function with a name", i)
		}
		c.ToolNames = append(c.ToolNames, t.Function.Name)
	}
	var system []string
	for i, m := range r.Messages {
		cm, text, err := m.capture(i)
		if err != nil {
			return err
		}
		if m.Role == "system" || m.Role == "developer" {
			system = append(system, text)
			continue
		}
		c.Messages = append(c.Messages, cm)
	}
	c.System = strings.Join(system, "\n")
	return nil
}

func decodeStop(raw json.RawMessage, out *[]string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		*out = []string{one}
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil || len(*out) > 4 {
		return errors.New("'stop' must be a string or an array of at most 4 strings")
	}
	return nil
}

func (m *wireMessage) capture(i int) (conformance.CapturedMessage, string, error) {
	cm := conformance.CapturedMessage{Role: m.Role}
	switch m.Role {
	case "system", "developer", "user", "assistant":
	case "tool":
		if m.ToolCallID == "" {
			return cm, "", fmt.Errorf("messages[%d].tool_call_id is required", i)
		}
		cm.ToolResult = m.ToolCallID
	default:
		return cm, "", fmt.Errorf("messages[%d].role: invalid value %q", i, m.Role)
	}
	for _, tc := range m.ToolCalls {
		if m.Role != "assistant" || tc.ID == "" || tc.Type != "function" || tc.Function.Name == "" {
			return cm, "", fmt.Errorf("messages[%d].tool_calls: want assistant function calls with IDs", i)
		}
		cm.ToolCallIDs = append(cm.ToolCallIDs, tc.ID)
	}
	switch {
	case len(m.Content) == 0 || string(m.Content) == "null":
		if m.Role != "assistant" || len(m.ToolCalls) == 0 {
			return cm, "", fmt.Errorf("messages[%d].content is required", i)
		}
	case m.Content[0] == '"':
		if err := json.Unmarshal(m.Content, &cm.Text); err != nil {
			return cm, "", err
		}
	default:
		var parts []wirePart
		if err := json.Unmarshal(m.Content, &parts); err != nil {
			return cm, "", fmt.Errorf("messages[%d].content: want a string or an array of parts", i)
		}
		for j, p := range parts {
			switch {
			case p.Type == "text":
				cm.Text += p.Text
			case p.Type == "image_url" && m.Role == "user" && p.ImageURL != nil && p.ImageURL.URL != "":
				cm.Images++
			default:
				return cm, "", fmt.Errorf("messages[%d].content[%d]: invalid part", i, j)
			}
		}
	}
	return cm, cm.Text, nil
}

// captureEmbedding checks an embeddings request and records it in c.
func (r *wireRequest) captureEmbedding(c *conformance.Captured) error {
	c.Model = r.Model
	if r.Model == "" {
		return errors.New("you must provide a model parameter")
	}
	if r.EncodingFormat != "" && r.EncodingFormat != "float" && r.EncodingFormat != "base64" {
		return fmt.Errorf("invalid encoding_format %q", r.EncodingFormat)
	}
	var one string
	var tokens [][]int
	switch {
	case json.Unmarshal(r.Input, &one) == nil:
		r.inputs = []string{one}
	case json.Unmarshal(r.Input, &r.inputs) == nil:
	case json.Unmarshal(r.Input, &tokens) == nil:
		for range tokens {
			r.inputs = append(r.inputs, "")
		}
	default:
		return errors.New("'input' must be a string, an array of strings or an array of token arrays")
	}
	if len(r.inputs) == 0 {
		return errors.New("'input' must not be empty")
	}
	c.Inputs = r.inputs
	return nil
}

const fakeID = "chatcmpl-fake"

// created is the fixed timestamp of the fake's answers.
const created = 1700000000

func usageBody(u provider.Usage) map[string]any {
	return map[string]any{
		"prompt_tokens":             u.InputTokens,
		"completion_tokens":         u.OutputTokens,
		"total_tokens":              u.InputTokens + u.OutputTokens,
		"prompt_tokens_details":     map[string]any{"cached_tokens": u.CachedInputTokens, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningTokens, "audio_tokens": 0},
	}
}

func toolCallsBody(calls []provider.ToolCall) []map[string]any {
	out := make([]map[string]any, len(calls))
	for i, tc := range calls {
		out[i] = map[string]any{"id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": tc.Arguments}}
	}
	return out
}

// completion is a chat.completion answer.
func completion(sc *conformance.Scenario, model string) map[string]any {
	msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil}
	if sc.Text != "" || len(sc.ToolCalls) == 0 {
		msg["content"] = sc.Text
	}
	if len(sc.ToolCalls) > 0 {
		msg["tool_calls"] = toolCallsBody(sc.ToolCalls)
	}
	return map[string]any{
		"id": fakeID, "object": "chat.completion", "created": created, "model": model,
		"choices": []map[string]any{{
			"index": 0, "message": msg, "logprobs": nil, "finish_reason": string(sc.FinishReason),
		}},
		"usage":              usageBody(sc.Usage),
		"system_fingerprint": "fp_fake",
	}
}

// writeStream streams the scripted answer as OpenAI does: a role chunk, the
// text a word at a time, each tool call as a header delta and argument
// pieces, a finish chunk, a usage chunk if asked for, and [DONE].
func writeStream(w http.ResponseWriter, r *http.Request, sc *conformance.Scenario, req *wireRequest) {
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	sent := 0
	send := func(v any) bool {
		if sent > 0 && !wait(r, sc.ChunkDelay) {
			return false
		}
		sent++
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		c := map[string]any{
			"id": fakeID, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_fake",
			"choices":            []map[string]any{{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		}
		if includeUsage {
			c["usage"] = nil
		}
		return c
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil)) {
		return
	}
	for i, piece := range splitWords(sc.Text) {
		if sc.StreamErrorAfter > 0 && i == sc.StreamErrorAfter {
			send(errorBody(sc.ErrType, sc.ErrMessage, ""))
			return
		}
		if !send(chunk(map[string]any{"content": piece}, nil)) {
			return
		}
	}
	for i, tc := range sc.ToolCalls {
		head := map[string]any{"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": ""}}
		if !send(chunk(map[string]any{"tool_calls": []any{head}}, nil)) {
			return
		}
		half := len(tc.Arguments) / 2
		for _, args := range []string{tc.Arguments[:half], tc.Arguments[half:]} {
			piece := map[string]any{"index": i, "function": map[string]any{"arguments": args}}
			if !send(chunk(map[string]any{"tool_calls": []any{piece}}, nil)) {
				return
			}
		}
	}
	if !send(chunk(map[string]any{}, string(sc.FinishReason))) {
		return
	}
	if includeUsage {
		if !send(map[string]any{
			"id": fakeID, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_fake", "choices": []any{}, "usage": usageBody(sc.Usage),
		}) {
			return
		}
	}
	if wait(r, sc.ChunkDelay) {
		fmt.Fprint(w, "data: [DONE]\n\n")
	}
}

// splitWords cuts text after each space, so the pieces join back exactly.
func splitWords(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}
