package anthropic

import (
	"encoding/json"

	"github.com/chorusgw/chorus/internal/provider"
)

// This file holds the Anthropic Messages wire types this package decodes,
// and the vocabulary mappings (stop reasons, usage) shared by both
// directions.

// Stop reasons of the Messages API.
const (
	stopEndTurn      = "end_turn"
	stopMaxTokens    = "max_tokens"
	stopSequence     = "stop_sequence"
	stopToolUse      = "tool_use"
	stopPauseTurn    = "pause_turn"
	stopRefusal      = "refusal"
	stopContextLimit = "model_context_window_exceeded"
)

// wireResponse is a Message object: a non-streaming answer, or the message
// of a message_start event.
type wireResponse struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []wireBlock `json:"content"`
	StopReason   string      `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        wireUsage   `json:"usage"`
}

// wireBlock is a content block of any type, in a request or a response.
type wireBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	Source    *wireSource     `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"` // tool_result: a string or blocks
	IsError   bool            `json:"is_error"`
	Thinking  *string         `json:"thinking"`  // thinking
	Signature string          `json:"signature"` // thinking
	Data      string          `json:"data"`      // redacted_thinking
	// CacheControl is kept as sent ({"type":"ephemeral","ttl":"1h"}).
	CacheControl json.RawMessage `json:"cache_control"`
}

// wireSource is where an image (or document) comes from.
type wireSource struct {
	Type      string `json:"type"` // base64, url, text, file
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// wireUsage is the usage object; pointers tell absent from zero, which
// matters in message_delta events.
type wireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// wireError is the error object of an error body or error event.
type wireError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// wireErrorBody is {"type":"error","error":{...}}.
type wireErrorBody struct {
	Type  string    `json:"type"`
	Error wireError `json:"error"`
}

// wireEvent is the data of any streaming event.
type wireEvent struct {
	Type         string        `json:"type"`
	Message      *wireResponse `json:"message"`
	Index        int           `json:"index"`
	ContentBlock *wireBlock    `json:"content_block"`
	Delta        *wireDelta    `json:"delta"`
	Usage        *wireUsage    `json:"usage"`
	Error        *wireError    `json:"error"`
}

// wireDelta is the delta of content_block_delta (type, text, partial_json,
// ...) or of message_delta (stop_reason, stop_sequence).
type wireDelta struct {
	Type         string  `json:"type"`
	Text         string  `json:"text"`
	PartialJSON  string  `json:"partial_json"`
	Thinking     string  `json:"thinking"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// usageTracker accumulates the usage an answer reports. Anthropic counts
// prompt-cache reads and writes apart from input_tokens; the canonical
// InputTokens is their sum, so billing sees every prompt token.
type usageTracker struct {
	input, output, cacheRead, cacheWrite int
}

// merge overwrites the counts u carries; Anthropic's counts are cumulative.
func (t *usageTracker) merge(u *wireUsage) {
	if u == nil {
		return
	}
	if u.InputTokens != nil {
		t.input = *u.InputTokens
	}
	if u.OutputTokens != nil {
		t.output = *u.OutputTokens
	}
	if u.CacheReadInputTokens != nil {
		t.cacheRead = *u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		t.cacheWrite = *u.CacheCreationInputTokens
	}
}

// canonical returns the counts as a canonical Usage.
func (t *usageTracker) canonical() provider.Usage {
	return provider.Usage{
		InputTokens:       t.input + t.cacheRead + t.cacheWrite,
		OutputTokens:      t.output,
		CachedInputTokens: t.cacheRead,
		CacheWriteTokens:  t.cacheWrite,
	}
}

// finishReason maps an Anthropic stop_reason to the canonical one. A
// pause_turn (a server tool loop paused) ends the answer as it stands, so it
// reads as stop; an unknown reason does too.
func finishReason(stop string) provider.FinishReason {
	switch stop {
	case stopMaxTokens, stopContextLimit:
		return provider.FinishLength
	case stopToolUse:
		return provider.FinishToolCalls
	case stopRefusal:
		return provider.FinishContentFilter
	case "":
		return ""
	case stopEndTurn, stopSequence, stopPauseTurn:
		return provider.FinishStop
	default:
		return provider.FinishStop
	}
}

// stopReason maps a canonical finish reason to an Anthropic stop_reason.
func stopReason(f provider.FinishReason) string {
	switch f {
	case provider.FinishLength:
		return stopMaxTokens
	case provider.FinishToolCalls:
		return stopToolUse
	case provider.FinishContentFilter:
		return stopRefusal
	default:
		return stopEndTurn
	}
}
