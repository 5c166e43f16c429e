package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// MaxMessages is the most messages a request may hold, Anthropic's limit.
const MaxMessages = 100_000

// decodeReq is the subset of a Messages request the canonical schema holds.
type decodeReq struct {
	Model         *string           `json:"model"`
	MaxTokens     *int              `json:"max_tokens"`
	System        json.RawMessage   `json:"system"`
	Messages      []decodeMsg       `json:"messages"`
	StopSequences []string          `json:"stop_sequences"`
	Temperature   *float64          `json:"temperature"`
	TopP          *float64          `json:"top_p"`
	TopK          *int              `json:"top_k"`
	Tools         []decodeTool      `json:"tools"`
	ToolChoice    *decodeToolChoice `json:"tool_choice"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata"`
	Stream       bool `json:"stream"`
	OutputConfig *struct {
		Effort string `json:"effort"`
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking"`
}

type decodeMsg struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type decodeTool struct {
	Type         string          `json:"type"` // "" or "custom" for client tools; server tools name a version
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	Strict       *bool           `json:"strict"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type decodeToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

// canonicalKeys are the top-level members the canonical request holds; all
// others go to Extra. output_config and thinking are both read and kept:
// output_config may hold settings beside the format, and thinking says more
// (adaptive, display) than the canonical Reasoning.
var canonicalKeys = map[string]bool{
	"model": true, "max_tokens": true, "system": true, "messages": true,
	"stop_sequences": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "metadata": true, "stream": true,
}

// readKeys are the top-level members decodeReq reads.
var readKeys = []string{
	"model", "max_tokens", "system", "messages", "stop_sequences", "temperature", "top_p",
	"top_k", "tools", "tool_choice", "metadata", "stream", "output_config", "thinking",
}

// droppedBlocks are content block types of the Messages API that have no
// canonical form (documents, server tools; thinking outside an assistant
// turn). They are accepted and left out of the canonical request: an
// Anthropic upstream still gets them through Raw, other upstreams could not
// take them anyway.
var droppedBlocks = map[string]bool{
	"thinking": true, "redacted_thinking": true, "document": true, "search_result": true,
	"server_tool_use": true, "web_search_tool_result": true, "web_fetch_tool_result": true,
	"code_execution_tool_result": true, "bash_code_execution_tool_result": true,
	"text_editor_code_execution_tool_result": true, "tool_search_tool_result": true,
	"container_upload": true, "mcp_tool_use": true, "mcp_tool_result": true,
}

// DecodeRequest turns an Anthropic Messages request body into a canonical
// request with Raw = body and RawFormat = FormatAnthropic. The system prompt
// becomes a leading system message, and a system message inside messages
// (Claude's mid-conversation system message) a system message in its place;
// tool_result blocks become tool messages, placed before the rest of their
// user turn; tool_use blocks become the assistant's tool calls; an
// assistant's thinking and redacted_thinking blocks become thinking parts;
// cache_control is kept on text and image blocks, system blocks and tools
// (a tool_result's on its last part); thinking and output_config.effort
// become Reasoning; top-level members the canonical schema does not hold are
// kept in Extra. Document and server-tool blocks, and server tools, are
// accepted but have no canonical form (see droppedBlocks).
// Errors are *chorus.Error with code EINVALID and the field at fault.
//
// The request refers to body (Raw, Extra, tool schemas): the caller must not
// modify body afterwards.
func DecodeRequest(body []byte) (*provider.ChatRequest, error) {
	return decodeRequest(body, false)
}

// DecodeCountTokensRequest decodes the body of POST
// /v1/messages/count_tokens: a Messages request without max_tokens (one
// given is accepted and ignored), as DecodeRequest decodes a Messages
// request.
func DecodeCountTokensRequest(body []byte) (*provider.ChatRequest, error) {
	return decodeRequest(body, true)
}

func decodeRequest(body []byte, count bool) (*provider.ChatRequest, error) {
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD, so the
	// prompt billed, cached and sent on would not be the one received; the
	// OpenAI decoder refuses it, and so does this one. Outside strings any
	// byte above 0x7f is a syntax error anyway, so checking the whole body
	// checks the strings.
	if !utf8.Valid(body) {
		return nil, chorus.Invalid("", "request body is not valid JSON: it holds bytes that are not UTF-8")
	}
	// encoding/json matches member names ignoring case; Anthropic does
	// not, so "MODEL" or "Stream" would be read here and not upstream.
	if err := jsonscan.EachMember(body, func(key []byte, _ bool, _ []byte) error {
		if n, ok := jsonscan.CaseVariant(key, readKeys); ok {
			return chorus.Invalid(string(key), "%s: Extra inputs are not permitted (member names are case-sensitive; did you mean %s?)", key, n)
		}
		return nil
	}); err != nil {
		var ce *chorus.Error
		if errors.As(err, &ce) {
			return nil, err
		}
	}
	var w decodeReq
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(err)
	}
	if count && w.MaxTokens == nil {
		one := 1
		w.MaxTokens = &one // so the checks of a Messages request apply as they are
	}
	if err := validateTop(&w); err != nil {
		return nil, err
	}
	maxTokens := w.MaxTokens
	if count {
		maxTokens = nil
	}
	req := &provider.ChatRequest{
		Model:       *w.Model,
		MaxTokens:   maxTokens,
		Temperature: w.Temperature,
		TopP:        w.TopP,
		TopK:        w.TopK,
		Stop:        w.StopSequences,
		Stream:      w.Stream,
		// Anthropic streams always report usage; ask other upstreams for it.
		IncludeUsage: w.Stream,
		Raw:          body,
		RawFormat:    provider.FormatAnthropic,
	}
	if w.Metadata != nil {
		req.User = w.Metadata.UserID
	}
	if of := w.OutputConfig; of != nil && of.Format != nil && of.Format.Type == "json_schema" {
		req.ResponseFormat = &provider.ResponseFormat{Type: "json_schema", Schema: of.Format.Schema}
	}
	req.Reasoning = decodeReasoning(&w)
	var err error
	if req.Messages, err = decodeSystem(w.System); err != nil {
		return nil, err
	}
	for i := range w.Messages {
		if req.Messages, err = decodeMessage(req.Messages, &w.Messages[i], i); err != nil {
			return nil, err
		}
	}
	if err := decodeTools(req, &w); err != nil {
		return nil, err
	}
	_ = jsonscan.EachMember(body, func(key []byte, escaped bool, value []byte) error {
		if escaped {
			key = jsonscan.AppendUnescaped(nil, key) // the name encoding/json reads
		}
		if canonicalKeys[string(key)] {
			return nil
		}
		if req.Extra == nil {
			req.Extra = make(map[string]json.RawMessage)
		}
		req.Extra[string(key)] = value
		return nil
	})
	return req, nil
}

// jsonError turns a json.Unmarshal error into a client-facing one.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return chorus.Invalid("", "request body must be a JSON object")
		}
		return chorus.Invalid(te.Field, "%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return chorus.Invalid("", "request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "int", "int64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "of another type"
}

// decodeReasoning maps thinking and output_config.effort to Reasoning:
// enabled thinking to its budget, adaptive thinking to the effort (medium
// when none is given); effort alone to the effort. Disabled or absent
// thinking with no effort is nil, the upstream's default.
func decodeReasoning(w *decodeReq) *provider.Reasoning {
	var effort string
	if w.OutputConfig != nil {
		effort = w.OutputConfig.Effort
	}
	if t := w.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			return &provider.Reasoning{BudgetTokens: t.BudgetTokens, Effort: effort}
		case "adaptive":
			if effort == "" {
				effort = "medium"
			}
			return &provider.Reasoning{Effort: effort}
		}
	}
	if effort != "" {
		return &provider.Reasoning{Effort: effort}
	}
	return nil
}

func validateTop(w *decodeReq) error {
	if w.Model == nil || *w.Model == "" {
		return chorus.Invalid("model", "model is required")
	}
	if w.MaxTokens == nil {
		return chorus.Invalid("max_tokens", "max_tokens is required")
	}
	if *w.MaxTokens < 1 {
		return chorus.Invalid("max_tokens", "max_tokens must be at least 1, got %d", *w.MaxTokens)
	}
	if len(w.Messages) == 0 {
		return chorus.Invalid("messages", "messages must hold at least one message")
	}
	if len(w.Messages) > MaxMessages {
		return chorus.Invalid("messages", "messages holds %d messages, more than the limit of %d", len(w.Messages), MaxMessages)
	}
	if t := w.Thinking; t != nil && t.Type == "enabled" && t.BudgetTokens < 1 {
		return chorus.Invalid("thinking.budget_tokens", "thinking of type enabled needs budget_tokens")
	}
	if t := w.Temperature; t != nil && (*t < 0 || *t > 1) {
		return chorus.Invalid("temperature", "temperature must be between 0 and 1, got %g", *t)
	}
	if p := w.TopP; p != nil && (*p < 0 || *p > 1) {
		return chorus.Invalid("top_p", "top_p must be between 0 and 1, got %g", *p)
	}
	if k := w.TopK; k != nil && *k < 0 {
		return chorus.Invalid("top_k", "top_k must not be negative, got %d", *k)
	}
	return nil
}

// decodeSystem returns the system prompt as a leading system message, if
// there is one: a string, or an array of text blocks.
func decodeSystem(raw json.RawMessage) ([]provider.Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, chorus.Invalid("system", "system must be a string or an array of text blocks")
		}
		if s == "" {
			return nil, nil
		}
		return []provider.Message{provider.TextMessage(provider.RoleSystem, s)}, nil
	}
	var blocks []wireBlock
	if raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return nil, chorus.Invalid("system", "system must be a string or an array of text blocks")
	}
	m := provider.Message{Role: provider.RoleSystem}
	for i := range blocks {
		b := &blocks[i]
		if b.Type != "text" {
			return nil, chorus.Invalid(fmt.Sprintf("system[%d].type", i), "system blocks must be text, not %q", b.Type)
		}
		if b.Text == nil {
			return nil, chorus.Invalid(fmt.Sprintf("system[%d].text", i), "text block needs text")
		}
		m.Content = append(m.Content, provider.Part{Type: provider.PartText, Text: *b.Text, CacheControl: b.CacheControl})
	}
	if len(m.Content) == 0 {
		return nil, nil
	}
	return []provider.Message{m}, nil
}

// decodeMessage appends the canonical messages of one Anthropic message to
// out: the tool results of a user turn as tool messages first, then the
// turn's other content. A system message (Anthropic's mid-conversation
// system message) stays a system message in its place; where that is not
// the upstream's way, the encoders of the other formats decide.
func decodeMessage(out []provider.Message, w *decodeMsg, i int) ([]provider.Message, error) {
	at := loc{msg: i, block: -1, sub: -1}
	switch w.Role {
	case provider.RoleUser, provider.RoleAssistant, provider.RoleSystem:
	case "":
		return nil, chorus.Invalid(at.param(".role"), "role is required")
	default:
		return nil, chorus.Invalid(at.param(".role"), "role must be user, assistant or system, not %q", w.Role)
	}
	content := bytes.TrimSpace(w.Content)
	if len(content) == 0 || string(content) == "null" {
		return nil, chorus.Invalid(at.param(".content"), "content is required")
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return nil, chorus.Invalid(at.param(".content"), "content must be a string or an array of content blocks")
		}
		return append(out, provider.TextMessage(w.Role, s)), nil
	}
	var blocks []wireBlock
	if content[0] != '[' {
		return nil, chorus.Invalid(at.param(".content"), "content must be a string or an array of content blocks")
	}
	err := json.Unmarshal(content, &blocks)
	if err != nil {
		return nil, blockError(err, at.param(".content"))
	}
	m := provider.Message{Role: w.Role}
	for j := range blocks {
		if out, err = decodeBlock(out, &m, &blocks[j], loc{msg: i, block: j, sub: -1}); err != nil {
			return nil, err
		}
	}
	if len(m.Content) > 0 || len(m.ToolCalls) > 0 || !hasToolResult(blocks) {
		out = append(out, m)
	}
	return out, nil
}

// decodeBlock adds one content block of message m: to m itself, or, for a
// tool result, as a tool message appended to out.
func decodeBlock(out []provider.Message, m *provider.Message, b *wireBlock, at loc) ([]provider.Message, error) {
	switch b.Type {
	case "text":
		if b.Text == nil {
			return nil, chorus.Invalid(at.param(".text"), "text block needs text")
		}
		m.Content = append(m.Content, provider.Part{Type: provider.PartText, Text: *b.Text, CacheControl: b.CacheControl})
	case "image":
		p, ok, err := decodeImage(b, at)
		if err != nil {
			return nil, err
		}
		if ok {
			m.Content = append(m.Content, p)
		}
	case "thinking", "redacted_thinking":
		if m.Role == provider.RoleAssistant {
			m.Content = append(m.Content, decodeThinking(b))
		}
	case "tool_use":
		if m.Role != provider.RoleAssistant {
			return nil, chorus.Invalid(at.param(".type"), "tool_use blocks belong in assistant messages")
		}
		tc, err := decodeToolUse(b, at)
		if err != nil {
			return nil, err
		}
		m.ToolCalls = append(m.ToolCalls, tc)
	case "tool_result":
		if m.Role != provider.RoleUser {
			return nil, chorus.Invalid(at.param(".type"), "tool_result blocks belong in user messages")
		}
		tm, err := decodeToolResult(b, at)
		if err != nil {
			return nil, err
		}
		out = append(out, tm)
	case "":
		return nil, chorus.Invalid(at.param(".type"), "content block type is required")
	default:
		if !droppedBlocks[b.Type] {
			return nil, chorus.Invalid(at.param(".type"), "unknown content block type %q", b.Type)
		}
	}
	return out, nil
}

// decodeThinking returns a thinking or redacted_thinking block as a part;
// only an Anthropic upstream takes it back, with its signature or data.
func decodeThinking(b *wireBlock) provider.Part {
	if b.Type == "redacted_thinking" {
		return provider.Part{Type: provider.PartRedactedThinking, Data: b.Data, CacheControl: b.CacheControl}
	}
	p := provider.Part{Type: provider.PartThinking, Signature: b.Signature, CacheControl: b.CacheControl}
	if b.Thinking != nil {
		p.Text = *b.Thinking
	}
	return p
}

func hasToolResult(blocks []wireBlock) bool {
	for i := range blocks {
		if blocks[i].Type == "tool_result" {
			return true
		}
	}
	return false
}

// blockError reports a type error inside content blocks.
func blockError(err error, param string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return chorus.Invalid(param, "content block field %s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return chorus.Invalid(param, "content must be a string or an array of content blocks")
}

// loc is where a message or content block stands in the request; it is
// turned into a parameter name only when an error needs one, so decoding a
// valid request formats nothing.
type loc struct{ msg, block, sub int } // -1: not that deep

// param returns the location as a parameter name followed by field.
func (l loc) param(field string) string {
	s := "messages[" + strconv.Itoa(l.msg) + "]"
	if l.block >= 0 {
		s += ".content[" + strconv.Itoa(l.block) + "]"
	}
	if l.sub >= 0 {
		s += ".content[" + strconv.Itoa(l.sub) + "]"
	}
	return s + field
}

// decodeImage returns an image block as a part: a base64 source as a data:
// URI, a url source as its URL. A file source (Anthropic's Files API) has no
// canonical form and is dropped (ok false).
func decodeImage(b *wireBlock, at loc) (p provider.Part, ok bool, err error) {
	s := b.Source
	if s == nil {
		return p, false, chorus.Invalid(at.param(".source"), "image block needs a source")
	}
	switch s.Type {
	case "base64":
		if s.MediaType == "" || s.Data == "" {
			return p, false, chorus.Invalid(at.param(".source"), "base64 image source needs media_type and data")
		}
		return provider.Part{Type: provider.PartImage, ImageURL: "data:" + s.MediaType + ";base64," + s.Data, CacheControl: b.CacheControl}, true, nil
	case "url":
		if s.URL == "" {
			return p, false, chorus.Invalid(at.param(".source.url"), "url image source needs a url")
		}
		return provider.Part{Type: provider.PartImage, ImageURL: s.URL, CacheControl: b.CacheControl}, true, nil
	case "file":
		return p, false, nil
	}
	return p, false, chorus.Invalid(at.param(".source.type"), "image source type must be base64 or url, not %q", s.Type)
}

func decodeToolUse(b *wireBlock, at loc) (provider.ToolCall, error) {
	if b.ID == "" {
		return provider.ToolCall{}, chorus.Invalid(at.param(".id"), "tool_use block needs an id")
	}
	if b.Name == "" {
		return provider.ToolCall{}, chorus.Invalid(at.param(".name"), "tool_use block needs a name")
	}
	in := bytes.TrimSpace(b.Input)
	if len(in) > 0 && string(in) != "null" && in[0] != '{' {
		return provider.ToolCall{}, chorus.Invalid(at.param(".input"), "tool_use input must be an object")
	}
	return provider.ToolCall{ID: b.ID, Name: b.Name, Arguments: toolArguments(in)}, nil
}

// decodeToolResult returns a tool_result block as a tool message. Its
// is_error flag has no canonical form and is dropped; its cache_control
// goes on its last part (the breakpoint is where the result ends).
func decodeToolResult(b *wireBlock, at loc) (provider.Message, error) {
	m, err := decodeToolResultContent(b, at)
	if err == nil && len(b.CacheControl) > 0 && len(m.Content) > 0 {
		if last := &m.Content[len(m.Content)-1]; last.CacheControl == nil {
			last.CacheControl = b.CacheControl
		}
	}
	return m, err
}

// decodeToolResultContent returns a tool_result block's content as a tool
// message.
func decodeToolResultContent(b *wireBlock, at loc) (provider.Message, error) {
	if b.ToolUseID == "" {
		return provider.Message{}, chorus.Invalid(at.param(".tool_use_id"), "tool_result block needs a tool_use_id")
	}
	m := provider.Message{Role: provider.RoleTool, ToolCallID: b.ToolUseID}
	content := bytes.TrimSpace(b.Content)
	if len(content) == 0 || string(content) == "null" {
		m.Content, m.TextOnly = []provider.Part{{Type: provider.PartText}}, true
		return m, nil
	}
	if content[0] == '"' {
		var s string
		if err := json.Unmarshal(content, &s); err != nil {
			return m, chorus.Invalid(at.param(".content"), "tool_result content must be a string or an array of blocks")
		}
		m.Content, m.TextOnly = []provider.Part{{Type: provider.PartText, Text: s}}, true
		return m, nil
	}
	var blocks []wireBlock
	if content[0] != '[' || json.Unmarshal(content, &blocks) != nil {
		return m, chorus.Invalid(at.param(".content"), "tool_result content must be a string or an array of blocks")
	}
	for k := range blocks {
		bb := &blocks[k]
		bp := loc{msg: at.msg, block: at.block, sub: k}
		switch bb.Type {
		case "text":
			if bb.Text == nil {
				return m, chorus.Invalid(bp.param(".text"), "text block needs text")
			}
			m.Content = append(m.Content, provider.Part{Type: provider.PartText, Text: *bb.Text, CacheControl: bb.CacheControl})
		case "image":
			p, ok, err := decodeImage(bb, bp)
			if err != nil {
				return m, err
			}
			if ok {
				m.Content = append(m.Content, p)
			}
		default:
			if !droppedBlocks[bb.Type] {
				return m, chorus.Invalid(bp.param(".type"), "unknown tool_result content block type %q", bb.Type)
			}
		}
	}
	return m, nil
}

// decodeTools reads tools and tool_choice. Server tools (a versioned type
// such as web_search_20250305) run at Anthropic and have no canonical form;
// they are left out.
func decodeTools(req *provider.ChatRequest, w *decodeReq) error {
	for i := range w.Tools {
		t := &w.Tools[i]
		if t.Type != "" && t.Type != "custom" {
			continue
		}
		if t.Name == "" {
			return chorus.Invalid(fmt.Sprintf("tools[%d].name", i), "tool name is required")
		}
		schema := bytes.TrimSpace(t.InputSchema)
		if len(schema) == 0 || schema[0] != '{' {
			return chorus.Invalid(fmt.Sprintf("tools[%d].input_schema", i), "tool %q needs an input_schema object", t.Name)
		}
		req.Tools = append(req.Tools, provider.Tool{Name: t.Name, Description: t.Description, Parameters: schema,
			Strict: t.Strict, CacheControl: t.CacheControl})
	}
	tc := w.ToolChoice
	if tc == nil {
		return nil
	}
	switch tc.Type {
	case "auto":
		req.ToolChoice = &provider.ToolChoice{Mode: "auto"}
	case "any":
		req.ToolChoice = &provider.ToolChoice{Mode: "required"}
	case "none":
		req.ToolChoice = &provider.ToolChoice{Mode: "none"}
	case "tool":
		if tc.Name == "" {
			return chorus.Invalid("tool_choice.name", "tool_choice of type tool needs a name")
		}
		req.ToolChoice = &provider.ToolChoice{Mode: "function", Name: tc.Name}
	default:
		return chorus.Invalid("tool_choice.type", "tool_choice type must be auto, any, tool or none, not %q", tc.Type)
	}
	if tc.DisableParallelToolUse {
		f := false
		req.ParallelToolCalls = &f
	}
	return nil
}
