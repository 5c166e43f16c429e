package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// This file translates a canonical request into an Anthropic Messages body.
//
// What does not map one to one:
//   - system and developer messages, wherever they stand, join the top-level
//     system prompt in order (text parts only: Anthropic's system is text).
//     Claude takes a system message in place (mid-conversation) only on some
//     models (Opus 4.8 on), so the portable top-level prompt is used; an
//     Anthropic client's own in-place system messages reach Anthropic
//     upstreams as sent, since its body is forwarded raw;
//   - thinking parts go back as thinking blocks only with their signature,
//     redacted thinking only with its data (reasoning another provider made
//     cannot be verified by Anthropic and is dropped); cache_control is kept
//     on system, text, image and tool_result blocks and on tools;
//   - Reasoning becomes thinking: its budget, or a budget for its effort
//     (effortBudget), kept below max_tokens; with thinking on, temperature,
//     top_p and top_k are left out, as Anthropic refuses them with thinking;
//   - tool messages become tool_result blocks of a user turn;
//   - consecutive turns of the same Anthropic role are merged into one, as
//     Anthropic requires, with tool_result blocks first in a merged user turn;
//   - empty text parts are dropped (Anthropic rejects empty text blocks) and
//     a turn left with no content is dropped;
//   - response_format json_schema maps to Anthropic's native structured
//     output, output_config.format; json_object has no Anthropic equivalent
//     and is refused with ENOTSUPPORTED, as is n > 1;
//   - seed, presence_penalty and frequency_penalty have no Anthropic
//     equivalent and are dropped (they are hints, not contracts).

// requestKeys are the top-level members appendRequest writes itself; Extra
// members with these names are not copied.
var requestKeys = map[string]bool{
	"model": true, "max_tokens": true, "system": true, "messages": true,
	"stop_sequences": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "metadata": true, "stream": true,
	"output_config": true, "thinking": true,
}

// appendRequest appends the Anthropic body for req. defMaxTokens is used
// when req has no MaxTokens. Extra members are copied only when the request
// came from an Anthropic client (they are Anthropic fields then).
func appendRequest(dst []byte, req *provider.ChatRequest, stream bool, defMaxTokens int) ([]byte, error) {
	if req.N != nil && *req.N > 1 {
		return nil, &chorus.Error{Code: chorus.ENOTSUPPORTED, Param: "n",
			Message: "n > 1 is not supported by Anthropic models; send one request per choice"}
	}
	anthropicExtra := req.RawFormat == provider.FormatAnthropic
	outputConfig, err := outputConfig(req, anthropicExtra)
	if err != nil {
		return nil, err
	}
	dst = append(dst, '{')
	dst = appendStringField(dst, "model", req.Model)
	maxTokens := defMaxTokens
	if req.MaxTokens != nil {
		maxTokens = *req.MaxTokens
	}
	dst = appendIntField(dst, "max_tokens", maxTokens)
	dst = appendSystem(dst, req.Messages)
	if dst, err = appendMessages(dst, req.Messages); err != nil {
		return nil, err
	}
	thinking := thinkingConfig(req, anthropicExtra, maxTokens)
	if thinking != nil {
		dst = appendRawField(dst, "thinking", thinking)
	}
	dst = appendSampling(dst, req, thinking != nil && !anthropicExtra)
	if len(req.Tools) > 0 {
		if dst, err = appendTools(dst, req); err != nil {
			return nil, err
		}
	}
	if req.User != "" {
		dst = appendKey(dst, "metadata")
		dst = appendStringField(append(dst, '{'), "user_id", req.User)
		dst = append(dst, '}')
	}
	if outputConfig != nil {
		dst = appendRawField(dst, "output_config", outputConfig)
	}
	if stream {
		dst = append(appendKey(dst, "stream"), "true"...)
	}
	if anthropicExtra {
		for _, k := range sortedKeys(req.Extra) {
			if !requestKeys[k] {
				dst = appendRawField(dst, k, req.Extra[k])
			}
		}
	}
	return append(dst, '}'), nil
}

// appendSampling appends stop_sequences, temperature, top_p and top_k; with
// thinking that Chorus turned on, only the stop sequences.
func appendSampling(dst []byte, req *provider.ChatRequest, thinking bool) []byte {
	if len(req.Stop) > 0 {
		dst = appendKey(dst, "stop_sequences")
		dst = append(dst, '[')
		for i, s := range req.Stop {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonscan.AppendString(dst, s)
		}
		dst = append(dst, ']')
	}
	if thinking {
		return dst
	}
	if req.Temperature != nil {
		dst = appendFloatField(dst, "temperature", *req.Temperature)
	}
	if req.TopP != nil {
		dst = appendFloatField(dst, "top_p", *req.TopP)
	}
	if req.TopK != nil {
		dst = appendIntField(dst, "top_k", *req.TopK)
	}
	return dst
}

// Thinking budgets for OpenAI's reasoning efforts. Anthropic's minimum
// budget is 1,024 tokens.
const minThinkingBudget = 1024

var effortBudget = map[string]int{
	"minimal": minThinkingBudget, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768, "max": 32768,
}

// thinkingConfig returns the thinking member, or nil: an Anthropic client's
// own (in Extra), else one for req.Reasoning — its budget, or the budget of
// its effort — below maxTokens, as Anthropic requires. A budget that cannot
// reach the minimum under maxTokens, or effort "none", turns nothing on.
func thinkingConfig(req *provider.ChatRequest, anthropicExtra bool, maxTokens int) []byte {
	if anthropicExtra {
		if v, ok := req.Extra["thinking"]; ok {
			return v
		}
	}
	r := req.Reasoning
	if r == nil {
		return nil
	}
	budget := r.BudgetTokens
	if budget <= 0 {
		budget = effortBudget[r.Effort]
	}
	budget = min(budget, maxTokens-1)
	if budget < minThinkingBudget {
		return nil
	}
	return append(strconv.AppendInt([]byte(`{"type":"enabled","budget_tokens":`), int64(budget), 10), '}')
}

// outputConfig returns the output_config member for req's response_format,
// or nil. An Anthropic client's own output_config (in Extra) wins: it is the
// original of what DecodeRequest read into ResponseFormat, with any other
// settings (effort) it holds.
func outputConfig(req *provider.ChatRequest, anthropicExtra bool) ([]byte, error) {
	if anthropicExtra {
		if v, ok := req.Extra["output_config"]; ok {
			return v, nil
		}
	}
	rf := req.ResponseFormat
	if rf == nil {
		return nil, nil
	}
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_schema":
		if len(bytes.TrimSpace(rf.Schema)) == 0 {
			return nil, chorus.Invalid("response_format.json_schema.schema", "response_format json_schema needs a schema")
		}
		b := append([]byte(`{"format":{"type":"json_schema","schema":`), rf.Schema...)
		return append(b, "}}"...), nil
	case "json_object":
		return nil, &chorus.Error{Code: chorus.ENOTSUPPORTED, Param: "response_format",
			Message: "response_format json_object is not supported by Anthropic models; use json_schema with a schema"}
	default:
		return nil, chorus.Invalid("response_format.type", "unknown response_format type %q", rf.Type)
	}
}

// isSystem reports whether m goes to Anthropic's top-level system prompt.
func isSystem(m *provider.Message) bool {
	return m.Role == provider.RoleSystem || m.Role == provider.RoleDeveloper
}

// appendSystem appends the system member: a string when there is exactly one
// plain-text system message, text blocks otherwise, nothing when there is no
// system text.
func appendSystem(dst []byte, msgs []provider.Message) []byte {
	var only *provider.Message
	n := 0
	for i := range msgs {
		if isSystem(&msgs[i]) {
			only = &msgs[i]
			n++
		}
	}
	if n == 0 {
		return dst
	}
	if n == 1 && only.TextOnly && !hasCacheControl(only.Content) {
		if text := only.Text(); text != "" {
			return appendStringField(dst, "system", text)
		}
		return dst
	}
	mark := len(dst)
	dst = appendKey(dst, "system")
	dst = append(dst, '[')
	blocks := 0
	for i := range msgs {
		if !isSystem(&msgs[i]) {
			continue
		}
		for k := range msgs[i].Content {
			if p := &msgs[i].Content[k]; p.Type == provider.PartText && p.Text != "" {
				dst = appendTextBlock(appendComma(dst), p.Text, p.CacheControl)
				blocks++
			}
		}
	}
	if blocks == 0 {
		return dst[:mark]
	}
	return append(dst, ']')
}

func hasCacheControl(parts []provider.Part) bool {
	for i := range parts {
		if len(parts[i].CacheControl) > 0 {
			return true
		}
	}
	return false
}

// anthropicRole returns the Anthropic role m belongs to, "" for system
// messages, or an error for an unknown role.
func anthropicRole(m *provider.Message, i int) (string, error) {
	switch m.Role {
	case provider.RoleUser, provider.RoleTool:
		return provider.RoleUser, nil
	case provider.RoleAssistant:
		return provider.RoleAssistant, nil
	case provider.RoleSystem, provider.RoleDeveloper:
		return "", nil
	}
	return "", chorus.Invalid(fmt.Sprintf("messages[%d].role", i), "unknown role %q", m.Role)
}

// appendMessages appends the messages member, merging runs of messages with
// the same Anthropic role into one turn.
func appendMessages(dst []byte, msgs []provider.Message) ([]byte, error) {
	roles := make([]string, len(msgs))
	for i := range msgs {
		r, err := anthropicRole(&msgs[i], i)
		if err != nil {
			return nil, err
		}
		roles[i] = r
	}
	dst = appendKey(dst, "messages")
	dst = append(dst, '[')
	var group []int
	for i := 0; i < len(msgs); {
		if roles[i] == "" {
			i++
			continue
		}
		// The turn is the run of messages from i with this role, system
		// messages in between skipped.
		group = group[:0]
		j := i
		for ; j < len(msgs) && (roles[j] == roles[i] || roles[j] == ""); j++ {
			if roles[j] != "" {
				group = append(group, j)
			}
		}
		var err error
		if dst, err = appendTurn(dst, msgs, roles[i], group); err != nil {
			return nil, err
		}
		i = j
	}
	return append(dst, ']'), nil
}

// appendTurn appends one message of the given role made of msgs[group...].
// A turn with no content is left out.
func appendTurn(dst []byte, msgs []provider.Message, role string, group []int) ([]byte, error) {
	mark := len(dst)
	dst = appendComma(dst)
	dst = appendStringField(append(dst, '{'), "role", role)
	dst = appendKey(dst, "content")
	if len(group) == 1 {
		m := &msgs[group[0]]
		if m.TextOnly && m.Role != provider.RoleTool && len(m.ToolCalls) == 0 &&
			len(m.Content) == 1 && m.Content[0].Type == provider.PartText && len(m.Content[0].CacheControl) == 0 {
			if m.Content[0].Text == "" {
				return dst[:mark], nil
			}
			dst = jsonscan.AppendString(dst, m.Content[0].Text)
			return append(dst, '}'), nil
		}
	}
	dst = append(dst, '[')
	start := len(dst)
	var err error
	// Tool results first: Anthropic wants them leading the user turn that
	// follows the tool calls.
	for _, i := range group {
		if msgs[i].Role == provider.RoleTool {
			if dst, err = appendToolResult(dst, &msgs[i], i); err != nil {
				return nil, err
			}
		}
	}
	for _, i := range group {
		m := &msgs[i]
		if m.Role == provider.RoleTool {
			continue
		}
		if dst, err = appendParts(dst, m.Content, m.Role == provider.RoleAssistant, i); err != nil {
			return nil, err
		}
		for j := range m.ToolCalls {
			if dst, err = appendToolUse(dst, &m.ToolCalls[j], i, j); err != nil {
				return nil, err
			}
		}
	}
	if len(dst) == start {
		return dst[:mark], nil
	}
	return append(dst, "]}"...), nil
}

// appendParts appends text and image blocks for the parts of message i,
// skipping empty text, and, in an assistant turn, thinking blocks that
// Anthropic can verify (signed thinking, redacted thinking with its data).
func appendParts(dst []byte, parts []provider.Part, assistant bool, i int) ([]byte, error) {
	for k := range parts {
		p := &parts[k]
		switch p.Type {
		case provider.PartText, "":
			if p.Text != "" {
				dst = appendTextBlock(appendComma(dst), p.Text, p.CacheControl)
			}
		case provider.PartImage:
			var err error
			if dst, err = appendImageBlock(appendComma(dst), p, i, k); err != nil {
				return nil, err
			}
		case provider.PartThinking, provider.PartRedactedThinking:
			if assistant {
				dst = appendThinkingBlock(dst, p)
			}
		default:
			return nil, chorus.Invalid(fmt.Sprintf("messages[%d].content[%d].type", i, k), "unknown content part type %q", p.Type)
		}
	}
	return dst, nil
}

// appendTextBlock appends a text block, with its cache_control if any.
func appendTextBlock(dst []byte, text string, cacheControl []byte) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	dst = jsonscan.AppendString(dst, text)
	return closeBlock(dst, cacheControl)
}

// closeBlock ends a block, adding cache_control when there is one.
func closeBlock(dst, cacheControl []byte) []byte {
	if len(cacheControl) > 0 {
		dst = appendRawField(dst, "cache_control", cacheControl)
	}
	return append(dst, '}')
}

// appendThinkingBlock appends a thinking part as Anthropic takes it back:
// thinking with its signature, redacted_thinking with its data. A part
// without them (reasoning of another provider) is left out.
func appendThinkingBlock(dst []byte, p *provider.Part) []byte {
	switch {
	case p.Type == provider.PartThinking && p.Signature != "":
		dst = append(appendComma(dst), `{"type":"thinking","thinking":`...)
		dst = jsonscan.AppendString(dst, p.Text)
		dst = append(dst, `,"signature":`...)
		dst = jsonscan.AppendString(dst, p.Signature)
	case p.Type == provider.PartRedactedThinking && p.Data != "":
		dst = append(appendComma(dst), `{"type":"redacted_thinking","data":`...)
		dst = jsonscan.AppendString(dst, p.Data)
	default:
		return dst
	}
	return closeBlock(dst, p.CacheControl)
}

// appendImageBlock appends an image block: a data: URI becomes a base64
// source, an http(s) URL a url source.
func appendImageBlock(dst []byte, p *provider.Part, i, k int) ([]byte, error) {
	url := p.ImageURL
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
		dst = jsonscan.AppendString(dst, url)
		return closeBlock(append(dst, '}'), p.CacheControl), nil
	}
	mediaType, data, ok := parseDataURI(url)
	if !ok {
		return nil, chorus.Invalid(fmt.Sprintf("messages[%d].content[%d].image_url", i, k), "image must be an http(s) URL or a base64 data: URI")
	}
	dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":`...)
	dst = jsonscan.AppendString(dst, mediaType)
	dst = append(dst, `,"data":`...)
	dst = jsonscan.AppendString(dst, data)
	return closeBlock(append(dst, '}'), p.CacheControl), nil
}

// parseDataURI splits a base64 data: URI into its media type and data.
func parseDataURI(uri string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mediaType, ok = strings.CutSuffix(meta, ";base64")
	if !ok || mediaType == "" || data == "" {
		return "", "", false
	}
	// Parameters (;charset=...) are not part of Anthropic's media_type.
	mediaType, _, _ = strings.Cut(mediaType, ";")
	return mediaType, data, true
}

// appendToolUse appends a tool_use block for an assistant's tool call. Its
// arguments must be a JSON object (or empty, meaning no arguments).
func appendToolUse(dst []byte, tc *provider.ToolCall, i, j int) ([]byte, error) {
	if tc.ID == "" {
		return nil, chorus.Invalid(toolCallParam(i, j, "id"), "tool call id is required")
	}
	if tc.Name == "" {
		return nil, chorus.Invalid(toolCallParam(i, j, "function.name"), "tool call name is required")
	}
	input := strings.TrimSpace(tc.Arguments)
	if input == "" {
		input = "{}"
	} else if input[0] != '{' || !json.Valid([]byte(input)) {
		return nil, chorus.Invalid(toolCallParam(i, j, "function.arguments"), "tool call arguments must be a JSON object")
	}
	dst = append(appendComma(dst), `{"type":"tool_use","id":`...)
	dst = jsonscan.AppendString(dst, tc.ID)
	dst = append(dst, `,"name":`...)
	dst = jsonscan.AppendString(dst, tc.Name)
	dst = append(dst, `,"input":`...)
	dst = append(dst, input...)
	return append(dst, '}'), nil
}

func toolCallParam(i, j int, field string) string {
	return fmt.Sprintf("messages[%d].tool_calls[%d].%s", i, j, field)
}

// appendToolResult appends a tool_result block for a tool message: string
// content when it is text only (then the last part's cache_control goes on
// the block, where DecodeRequest found it), blocks when it holds images.
func appendToolResult(dst []byte, m *provider.Message, i int) ([]byte, error) {
	if m.ToolCallID == "" {
		return nil, chorus.Invalid(fmt.Sprintf("messages[%d].tool_call_id", i), "tool message needs a tool_call_id")
	}
	dst = append(appendComma(dst), `{"type":"tool_result","tool_use_id":`...)
	dst = jsonscan.AppendString(dst, m.ToolCallID)
	dst = append(dst, `,"content":`...)
	if !slices.ContainsFunc(m.Content, func(p provider.Part) bool { return p.Type == provider.PartImage }) {
		dst = jsonscan.AppendString(dst, m.Text())
		var cc []byte
		if n := len(m.Content); n > 0 {
			cc = m.Content[n-1].CacheControl
		}
		return closeBlock(dst, cc), nil
	}
	dst = append(dst, '[')
	var err error
	if dst, err = appendParts(dst, m.Content, false, i); err != nil {
		return nil, err
	}
	return append(dst, "]}"...), nil
}

// appendTools appends tools and tool_choice.
func appendTools(dst []byte, req *provider.ChatRequest) ([]byte, error) {
	dst = appendKey(dst, "tools")
	dst = append(dst, '[')
	for i := range req.Tools {
		t := &req.Tools[i]
		if t.Name == "" {
			return nil, chorus.Invalid(fmt.Sprintf("tools[%d].function.name", i), "tool name is required")
		}
		dst = appendComma(dst)
		dst = appendStringField(append(dst, '{'), "name", t.Name)
		if t.Description != "" {
			dst = appendStringField(dst, "description", t.Description)
		}
		schema := bytes.TrimSpace(t.Parameters)
		if len(schema) == 0 || string(schema) == "null" {
			schema = []byte(`{"type":"object","properties":{}}`)
		}
		dst = appendRawField(dst, "input_schema", schema)
		if t.Strict != nil {
			dst = strconv.AppendBool(appendKey(dst, "strict"), *t.Strict)
		}
		dst = closeBlock(dst, t.CacheControl)
	}
	dst = append(dst, ']')

	noParallel := req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	mode, name := "auto", ""
	if tc := req.ToolChoice; tc != nil && tc.Mode != "" {
		mode, name = tc.Mode, tc.Name
	} else if !noParallel {
		return dst, nil // Anthropic's default is auto
	}
	dst = appendKey(dst, "tool_choice")
	switch mode {
	case "auto":
		dst = append(dst, `{"type":"auto"`...)
	case "none":
		// tool_choice none takes no other member.
		return append(dst, `{"type":"none"}`...), nil
	case "required":
		dst = append(dst, `{"type":"any"`...)
	case "function":
		if name == "" {
			return nil, chorus.Invalid("tool_choice.function.name", "tool_choice function needs a name")
		}
		dst = append(dst, `{"type":"tool","name":`...)
		dst = jsonscan.AppendString(dst, name)
	default:
		return nil, chorus.Invalid("tool_choice", "unknown tool_choice %q", mode)
	}
	if noParallel {
		dst = append(dst, `,"disable_parallel_tool_use":true`...)
	}
	return append(dst, '}'), nil
}

// sortedKeys returns m's keys in order, so bodies are deterministic.
func sortedKeys(m map[string]json.RawMessage) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
