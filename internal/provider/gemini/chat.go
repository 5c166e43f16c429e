package gemini

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// Chat sends req to models/{model}:generateContent.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	body, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.endpoint(req.Model, "generateContent"), body, false)
	if err != nil {
		return nil, err
	}
	raw, err := readBody(ctx, resp)
	if err != nil {
		return nil, err
	}
	return parseResponse(raw, req.Model, c.now())
}

// parseResponse decodes a generateContent body into the canonical answer.
// model names the answer when the body does not (no modelVersion).
func parseResponse(raw []byte, model string, now time.Time) (*provider.ChatResponse, error) {
	var g generateResponse
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, invalidResponse(err)
	}
	if g.Error != nil {
		return nil, statusError(g.Error)
	}
	out := &provider.ChatResponse{
		ID:        responseID(g.ResponseID),
		Model:     cmp.Or(g.ModelVersion, model),
		Created:   now.Unix(),
		Choices:   make([]provider.Choice, 0, max(len(g.Candidates), 1)),
		Usage:     usageFrom(g.UsageMetadata),
		Raw:       raw,
		RawFormat: provider.FormatGemini,
	}
	if len(g.Candidates) == 0 {
		// The whole prompt was blocked (promptFeedback.blockReason), or
		// the model produced nothing: an empty answer, not an error, so the
		// client sees finish_reason content_filter as OpenAI reports it.
		fr := provider.FinishStop
		if g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
			fr = provider.FinishContentFilter
		}
		out.Choices = append(out.Choices, provider.Choice{
			Message:      provider.TextMessage(provider.RoleAssistant, ""),
			FinishReason: fr,
		})
		return out, nil
	}
	for i := range g.Candidates {
		out.Choices = append(out.Choices, choiceFrom(&g.Candidates[i]))
	}
	return out, nil
}

// choiceFrom maps one candidate: thought summaries joined as a thinking
// part, answer text joined, function calls as tool calls.
func choiceFrom(cand *candidate) provider.Choice {
	var text, thought strings.Builder
	var calls []provider.ToolCall
	if cand.Content != nil {
		for i := range cand.Content.Parts {
			p := &cand.Content.Parts[i]
			switch {
			case p.FunctionCall != nil:
				calls = append(calls, toolCallFrom(p))
			case p.Thought:
				thought.WriteString(p.Text)
			default:
				text.WriteString(p.Text)
			}
		}
	}
	msg := provider.Message{Role: provider.RoleAssistant, ToolCalls: calls}
	if thought.Len() > 0 {
		msg.Content = []provider.Part{{Type: provider.PartThinking, Text: thought.String()}}
	}
	if text.Len() > 0 || len(calls) == 0 {
		msg.Content = append(msg.Content, provider.Part{Type: provider.PartText, Text: text.String()})
		msg.TextOnly = thought.Len() == 0
	}
	// A whole answer always ends; Gemini leaving the reason out means
	// nothing stopped it early.
	return provider.Choice{
		Index:        cand.Index,
		Message:      msg,
		FinishReason: finishReason(cmp.Or(cand.FinishReason, "STOP"), len(calls) > 0),
	}
}

// toolCallFrom maps a functionCall part; args is already a JSON object.
func toolCallFrom(p *part) provider.ToolCall {
	args := string(p.FunctionCall.Args)
	if args == "" || args == "null" {
		args = "{}"
	}
	return provider.ToolCall{
		ID:        callID(p.FunctionCall, p.ThoughtSignature),
		Name:      p.FunctionCall.Name,
		Arguments: args,
	}
}

// finishReason maps Gemini's finishReason. Gemini says STOP when it stops
// to call functions; clients expect tool_calls then. An empty reason (a
// stream chunk before the last) stays empty.
func finishReason(r string, hasCalls bool) provider.FinishReason {
	switch r {
	case "":
		return ""
	case "MAX_TOKENS":
		return provider.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		return provider.FinishContentFilter
	}
	// STOP, and reasons with no OpenAI counterpart (OTHER, LANGUAGE,
	// MALFORMED_FUNCTION_CALL, ...): generation ended normally as far as
	// the client can act on it.
	if hasCalls {
		return provider.FinishToolCalls
	}
	return provider.FinishStop
}

// usageFrom maps usageMetadata. Thinking tokens are billed as output, so
// they count in OutputTokens and, as their part of it, ReasoningTokens.
// Tokens of tool-use prompts (e.g. search results) are billed as input.
func usageFrom(u *usageMetadata) provider.Usage {
	if u == nil {
		return provider.Usage{}
	}
	return provider.Usage{
		InputTokens:       u.PromptTokenCount + u.ToolUsePromptTokenCount,
		OutputTokens:      u.CandidatesTokenCount + u.ThoughtsTokenCount,
		CachedInputTokens: u.CachedContentTokenCount,
		ReasoningTokens:   u.ThoughtsTokenCount,
	}
}

// responseID returns Gemini's responseId, or a fresh ID when it sent none.
func responseID(id string) string {
	if id != "" {
		return id
	}
	return "gen-" + rand.Text()
}
