package openai

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Chat sends a non-streaming chat completion request.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	if c.usesResponses(req) {
		return c.responsesChat(ctx, req)
	}
	body, err := c.chatBody(req, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.endpoint("chat/completions", req.Model), body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readBody(resp)
	if err != nil {
		return nil, provider.TransportError(c.kind, ctx, err)
	}
	out, err := parseChatResponse(raw)
	if err != nil {
		return nil, c.badAnswer(err)
	}
	out.Raw, out.RawFormat = raw, provider.FormatOpenAI
	return out, nil
}

// chatBody is the upstream body for req: the client's own body with the
// model rewritten when the client spoke OpenAI, else the canonical request
// encoded.
func (c *Client) chatBody(req *provider.ChatRequest, stream bool) ([]byte, error) {
	if req.RawFormat == provider.FormatOpenAI && req.Raw != nil {
		return rewriteChatBody(req.Raw, req.Model, stream)
	}
	return c.appendChatRequest(make([]byte, 0, 1024), req, stream)
}

// appendChatRequest encodes a canonical request as an OpenAI body. Extra
// members are included only when they came from an OpenAI client (or from
// code, with no RawFormat), since other formats' extras mean nothing here.
func (c *Client) appendChatRequest(b []byte, r *provider.ChatRequest, stream bool) ([]byte, error) {
	b = append(b, `{"model":`...)
	b = jsonscan.AppendString(b, r.Model)
	b = append(b, `,"messages":[`...)
	for i := range r.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendMessage(b, &r.Messages[i]); err != nil {
			return nil, err
		}
	}
	b = append(b, ']')
	if r.MaxTokens != nil {
		b = appendKey(b, c.maxTokensParam, false)
		b = appendInt(b, int64(*r.MaxTokens))
	}
	b = appendOptFloat(b, "temperature", r.Temperature)
	b = appendOptFloat(b, "top_p", r.TopP)
	b = appendOptFloat(b, "presence_penalty", r.PresencePenalty)
	b = appendOptFloat(b, "frequency_penalty", r.FrequencyPenalty)
	if r.N != nil {
		b = appendKey(b, "n", false)
		b = appendInt(b, int64(*r.N))
	}
	if r.Seed != nil {
		b = appendKey(b, "seed", false)
		b = appendInt(b, *r.Seed)
	}
	if len(r.Stop) > 0 {
		b = appendKey(b, "stop", false)
		b = appendStrings(b, r.Stop)
	}
	b = appendTools(b, r)
	if effort := reasoningEffort(r.Reasoning); effort != "" {
		b = append(b, `,"reasoning_effort":`...)
		b = jsonscan.AppendString(b, effort)
	}
	if r.ResponseFormat != nil {
		b = appendResponseFormat(b, r.ResponseFormat)
	}
	if stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	if r.User != "" {
		b = appendKey(b, "user", false)
		b = jsonscan.AppendString(b, r.User)
	}
	if r.RawFormat == "" || r.RawFormat == provider.FormatOpenAI {
		b = appendExtra(b, r.Extra, isChatMember)
	}
	return append(b, '}'), nil
}

func isChatMember(k string) bool { return knownIndex(k) >= 0 || k == "reasoning_effort" }

// reasoningEffort returns Chat Completions' reasoning_effort for r: its
// effort (Anthropic's "max" is OpenAI's "xhigh"), or one for its thinking
// budget — under 4,096 tokens low, under 16,384 medium, else high — or ""
// when r asks for nothing.
func reasoningEffort(r *provider.Reasoning) string {
	switch {
	case r == nil:
		return ""
	case r.Effort == "max":
		return "xhigh"
	case r.Effort != "":
		return r.Effort
	case r.BudgetTokens <= 0:
		return ""
	case r.BudgetTokens < 4096:
		return "low"
	case r.BudgetTokens < 16384:
		return "medium"
	}
	return "high"
}

func appendOptFloat(b []byte, key string, f *float64) []byte {
	if f == nil {
		return b
	}
	b = appendKey(b, key, false)
	return jsonscan.AppendFloat(b, *f, 64)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonscan.AppendString(b, s)
	}
	return append(b, ']')
}

// appendExtra appends extra members in a stable order, skipping any that
// would duplicate a member the encoder writes itself.
func appendExtra(b []byte, extra map[string]json.RawMessage, written func(string) bool) []byte {
	if len(extra) == 0 {
		return b
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !written(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v := extra[k]; jsonscan.Valid(v) {
			b = append(b, ',')
			b = jsonscan.AppendString(b, k)
			b = append(b, ':')
			b = append(b, v...)
		}
	}
	return b
}

func appendMessage(b []byte, m *provider.Message) ([]byte, error) {
	b = append(b, `{"role":`...)
	b = jsonscan.AppendString(b, m.Role)
	b = append(b, `,"content":`...)
	var err error
	if b, err = appendContent(b, m); err != nil {
		return nil, err
	}
	if m.Name != "" && m.Role != provider.RoleTool {
		b = append(b, `,"name":`...)
		b = jsonscan.AppendString(b, m.Name)
	}
	if m.Role == provider.RoleTool {
		b = append(b, `,"tool_call_id":`...)
		b = jsonscan.AppendString(b, m.ToolCallID)
	}
	if len(m.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, tc := range m.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendToolCall(b, tc.ID, tc.Name, tc.Arguments)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendToolCall(b []byte, id, name, args string) []byte {
	b = append(b, `{"id":`...)
	b = jsonscan.AppendString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = jsonscan.AppendString(b, name)
	b = append(b, `,"arguments":`...)
	b = jsonscan.AppendString(b, args)
	return append(b, "}}"...)
}

// appendContent writes a string when the content was one (or is only text
// where the role takes only text), an array of parts otherwise, and null for
// an assistant turn that only calls tools. Thinking parts are left out: an
// OpenAI upstream cannot take reasoning back.
func appendContent(b []byte, m *provider.Message) ([]byte, error) {
	if slices.ContainsFunc(m.Content, func(p provider.Part) bool { return p.IsReasoning() }) {
		mm := *m
		mm.Content = slices.DeleteFunc(slices.Clone(m.Content), func(p provider.Part) bool { return p.IsReasoning() })
		m = &mm
	}
	if len(m.Content) == 0 {
		if m.Role == provider.RoleAssistant && len(m.ToolCalls) > 0 {
			return append(b, "null"...), nil
		}
		return append(b, `""`...), nil
	}
	textOnly := true
	for i := range m.Content {
		if m.Content[i].Type != provider.PartText {
			textOnly = false
		}
	}
	if textOnly && (m.TextOnly || m.Role != provider.RoleUser) {
		return jsonscan.AppendString(b, m.Text()), nil
	}
	b = append(b, '[')
	for i, p := range m.Content {
		if i > 0 {
			b = append(b, ',')
		}
		switch p.Type {
		case provider.PartText:
			b = append(b, `{"type":"text","text":`...)
			b = jsonscan.AppendString(b, p.Text)
			b = append(b, '}')
		case provider.PartImage:
			b = append(b, `{"type":"image_url","image_url":{"url":`...)
			b = jsonscan.AppendString(b, p.ImageURL)
			if p.ImageDetail != "" {
				b = append(b, `,"detail":`...)
				b = jsonscan.AppendString(b, p.ImageDetail)
			}
			b = append(b, "}}"...)
		default:
			return nil, chorus.Errorf(chorus.ENOTSUPPORTED, "content parts of type %q cannot be translated to the OpenAI format", p.Type)
		}
	}
	return append(b, ']'), nil
}

func appendTools(b []byte, r *provider.ChatRequest) []byte {
	if len(r.Tools) > 0 {
		b = append(b, `,"tools":[`...)
		for i, t := range r.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"function","function":{"name":`...)
			b = jsonscan.AppendString(b, t.Name)
			if t.Description != "" {
				b = append(b, `,"description":`...)
				b = jsonscan.AppendString(b, t.Description)
			}
			if len(t.Parameters) > 0 && jsonscan.Valid(t.Parameters) {
				b = append(b, `,"parameters":`...)
				b = append(b, t.Parameters...)
			}
			if t.Strict != nil {
				b = append(b, `,"strict":`...)
				b = strconv.AppendBool(b, *t.Strict)
			}
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	if tc := r.ToolChoice; tc != nil {
		b = append(b, `,"tool_choice":`...)
		if tc.Mode == "function" {
			b = append(b, `{"type":"function","function":{"name":`...)
			b = jsonscan.AppendString(b, tc.Name)
			b = append(b, "}}"...)
		} else {
			b = jsonscan.AppendString(b, tc.Mode)
		}
	}
	if r.ParallelToolCalls != nil {
		b = append(b, `,"parallel_tool_calls":`...)
		b = strconv.AppendBool(b, *r.ParallelToolCalls)
	}
	return b
}

func appendResponseFormat(b []byte, rf *provider.ResponseFormat) []byte {
	b = append(b, `,"response_format":{"type":`...)
	b = jsonscan.AppendString(b, rf.Type)
	if rf.Type == "json_schema" {
		b = append(b, `,"json_schema":{"name":`...)
		b = jsonscan.AppendString(b, rf.Name)
		if len(rf.Schema) > 0 && jsonscan.Valid(rf.Schema) {
			b = append(b, `,"schema":`...)
			b = append(b, rf.Schema...)
		}
		if rf.Strict != nil {
			b = append(b, `,"strict":`...)
			b = strconv.AppendBool(b, *rf.Strict)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
