package provider

import "encoding/json"

// Format names a wire format. Clients and upstreams each speak one; when they
// speak the same one the body is forwarded as received (model rewritten only).
type Format string

// Wire formats.
const (
	FormatOpenAI    Format = "openai"
	FormatAnthropic Format = "anthropic"
	FormatGemini    Format = "gemini"
	// FormatOpenAIResponses is OpenAI's Responses API (POST /v1/responses).
	// Only an OpenAI deployment configured for it (settings.api:
	// "responses") speaks it upstream; there a Responses request is
	// forwarded as received.
	FormatOpenAIResponses Format = "openai-responses"
)

// Roles of a message in the canonical schema (OpenAI's vocabulary).
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Part types.
const (
	PartText  = "text"
	PartImage = "image"
	// PartThinking is a model's visible reasoning (Anthropic's thinking
	// block: Text and Signature). Only Anthropic upstreams take it back in a
	// later turn; other encoders drop it.
	PartThinking = "thinking"
	// PartRedactedThinking is reasoning the provider encrypted (Anthropic's
	// redacted_thinking: Data). Anthropic upstreams only.
	PartRedactedThinking = "redacted_thinking"
)

// FinishReason is why generation stopped, in OpenAI's vocabulary.
type FinishReason string

// Finish reasons.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
)

// ChatRequest is the canonical chat request every adapter maps from. Its
// vocabulary is OpenAI's Chat Completions, the widest of the formats.
type ChatRequest struct {
	Model             string
	Messages          []Message
	MaxTokens         *int // max_tokens / max_completion_tokens / max_output_tokens
	Temperature       *float64
	TopP              *float64
	TopK              *int
	N                 *int
	Stop              []string
	Seed              *int64
	PresencePenalty   *float64
	FrequencyPenalty  *float64
	Tools             []Tool
	ToolChoice        *ToolChoice
	ParallelToolCalls *bool
	ResponseFormat    *ResponseFormat
	// Reasoning asks a reasoning model to think (nil: the upstream's default).
	Reasoning    *Reasoning
	Stream       bool
	IncludeUsage bool // stream_options.include_usage as the client asked it
	User         string

	// Extra holds top-level fields of the client's body that the canonical
	// schema does not know; adapters of the same format pass them on.
	Extra map[string]json.RawMessage

	// UpstreamHeaders are request headers of the client's that an adapter of
	// RawFormat sends on to its upstream, by lower-case name: an Anthropic
	// client's anthropic-version and anthropic-beta, which select the API
	// version and beta features (prompt caching, extended thinking, ...) the
	// body relies on. Adapters of other formats ignore them.
	UpstreamHeaders map[string]string

	// Raw is the body exactly as the client sent it, in RawFormat. An adapter
	// whose upstream speaks RawFormat forwards Raw with only the model
	// rewritten (see SetField) instead of encoding the canonical fields.
	Raw       []byte
	RawFormat Format
}

// Message is one turn of a conversation.
type Message struct {
	Role       string
	Content    []Part // nil for an assistant turn that only calls tools
	Name       string
	ToolCalls  []ToolCall // assistant turns
	ToolCallID string     // tool turns: the call this answers
	// TextOnly is set when the content was (or may be) a plain string rather
	// than an array of parts; encoders use it to write content faithfully.
	TextOnly bool
}

// Text returns the concatenated text parts of the message; reasoning
// (thinking parts) is not part of it.
func (m *Message) Text() string {
	if len(m.Content) == 1 {
		if m.Content[0].IsReasoning() {
			return ""
		}
		return m.Content[0].Text
	}
	var n int
	for i := range m.Content {
		if !m.Content[i].IsReasoning() {
			n += len(m.Content[i].Text)
		}
	}
	b := make([]byte, 0, n)
	for i := range m.Content {
		if !m.Content[i].IsReasoning() {
			b = append(b, m.Content[i].Text...)
		}
	}
	return string(b)
}

// Reasoning returns the concatenated text of the message's thinking parts.
func (m *Message) Reasoning() string {
	var s string
	for i := range m.Content {
		if m.Content[i].Type == PartThinking {
			s += m.Content[i].Text
		}
	}
	return s
}

// TextMessage returns a message with a single text part.
func TextMessage(role, text string) Message {
	return Message{Role: role, Content: []Part{{Type: PartText, Text: text}}, TextOnly: true}
}

// Part is one piece of message content.
type Part struct {
	Type string // PartText or PartImage
	Text string
	// Image: either a URL (http(s)) or inline data. ImageURL may be a data:
	// URI as OpenAI accepts it; adapters that need base64 split it with
	// ParseDataURI.
	ImageURL    string
	ImageDetail string // OpenAI's "detail": auto, low, high
	// Thinking parts: Signature (PartThinking) or Data (PartRedactedThinking),
	// opaque values only the provider that made them can verify.
	Signature string
	Data      string
	// CacheControl is Anthropic's cache_control on this block, as sent
	// (e.g. {"type":"ephemeral"}); other encoders drop it.
	CacheControl json.RawMessage
}

// IsReasoning reports whether p is a thinking or redacted thinking part,
// which only the provider that made it takes back and which is not text of
// the answer.
func (p *Part) IsReasoning() bool {
	return p.Type == PartThinking || p.Type == PartRedactedThinking
}

// Reasoning is how much a reasoning model should think. Effort is OpenAI's
// vocabulary ("minimal", "low", "medium", "high", "none", "xhigh");
// BudgetTokens is Anthropic's thinking budget. A decoder sets what its
// format says; encoders map one to the other when only one is set.
type Reasoning struct {
	Effort       string
	BudgetTokens int
	Summary      string // Responses' reasoning.summary: auto, concise, detailed
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema object; nil means no parameters
	Strict      *bool
	// CacheControl is Anthropic's cache_control on the tool, as sent;
	// other encoders drop it.
	CacheControl json.RawMessage
}

// ToolChoice constrains tool use. Mode is one of "auto", "none", "required"
// or "function" (then Name says which).
type ToolChoice struct {
	Mode string
	Name string
}

// ToolCall is a call the model made.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // JSON text, as the model produced it
}

// ResponseFormat asks for structured output. Type is "text", "json_object"
// or "json_schema" (then Name, Schema and Strict describe the schema).
type ResponseFormat struct {
	Type   string
	Name   string
	Schema json.RawMessage
	Strict *bool
}

// Usage counts tokens of one upstream call.
type Usage struct {
	InputTokens       int
	OutputTokens      int
	CachedInputTokens int // part of InputTokens served from the provider's prompt cache
	CacheWriteTokens  int // part of InputTokens written to the provider's prompt cache
	ReasoningTokens   int // part of OutputTokens spent on reasoning
}

// Total returns input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// ChatResponse is the canonical non-streaming answer.
type ChatResponse struct {
	ID                string
	Model             string // upstream model as reported
	Created           int64  // unix seconds
	Choices           []Choice
	Usage             Usage
	SystemFingerprint string

	// Raw is the upstream body as received, in RawFormat. The API writes it
	// unchanged when the client speaks the same format.
	Raw       []byte
	RawFormat Format
}

// Choice is one generated alternative.
type Choice struct {
	Index        int
	Message      Message
	FinishReason FinishReason
	// StopSequence is the stop sequence that ended generation (FinishStop),
	// when the upstream says which (Anthropic does).
	StopSequence string
}

// StreamChunk is one event of a streamed answer.
type StreamChunk struct {
	ID      string
	Model   string
	Created int64
	Choices []ChunkChoice
	Usage   *Usage // set on the chunk that reports usage (usually the last)

	// Raw is the upstream event's data payload as received, in RawFormat;
	// RawEvent is its SSE event name, if any. The API relays Raw unchanged
	// when the client speaks the same format. An adapter may return chunks
	// with Raw set and no Choices for events that carry no canonical content
	// (pings, content_block_stop); translators skip them.
	Raw       []byte
	RawEvent  string
	RawFormat Format
}

// ChunkChoice is the delta of one choice in a stream chunk.
type ChunkChoice struct {
	Index        int
	Role         string // set on the first delta of a choice
	Content      string
	Reasoning    string // visible reasoning text (Anthropic thinking, reasoning_content)
	ToolCalls    []ToolCallDelta
	FinishReason FinishReason // set on the last delta of a choice
	StopSequence string       // with FinishReason: the stop sequence that matched, when known
}

// ToolCallDelta is a piece of a tool call being streamed. The first delta of
// a call carries ID and Name; later ones append to Arguments.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// EmbeddingRequest is the canonical embeddings request.
type EmbeddingRequest struct {
	Model          string
	Input          []string // text inputs
	InputTokens    [][]int  // token-array inputs (OpenAI allows them); exclusive with Input
	Dimensions     *int
	EncodingFormat string // "float" or "base64", as the client asked
	User           string
	Extra          map[string]json.RawMessage

	Raw       []byte
	RawFormat Format
}

// EmbeddingResponse is the canonical embeddings answer.
type EmbeddingResponse struct {
	Model string
	Data  [][]float32 // one vector per input, in input order
	Usage Usage

	Raw       []byte
	RawFormat Format
}
