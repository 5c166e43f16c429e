package openaitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// responsesRequest is the part of a Responses request (POST /v1/responses)
// the fake checks and records, decoded with encoding/json independently of
// the adapter.
type responsesRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    *string         `json:"instructions"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
	Temperature     *float64        `json:"temperature"`
	Stream          bool            `json:"stream"`
	StreamOptions   json.RawMessage `json:"stream_options"`
	Tools           []struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tools"`
}

type responsesItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	CallID  string          `json:"call_id"`
	Name    string          `json:"name"`
}

// serveResponses answers POST /v1/responses.
func (s *Server) serveResponses(w http.ResponseWriter, r *http.Request, c conformance.Captured, sc conformance.Scenario) {
	var req responsesRequest
	err := json.Unmarshal(c.Body, &req)
	if err == nil {
		err = req.capture(&c)
	}
	s.mu.Lock()
	s.last = c
	s.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error(), "")
		return
	}
	if !wait(r, sc.Delay) {
		return
	}
	if sc.Status != 0 {
		if sc.RetryAfter != "" {
			w.Header().Set("Retry-After", sc.RetryAfter)
		}
		writeError(w, sc.Status, sc.ErrType, sc.ErrMessage, "")
		return
	}
	// Every response has its own ID, as OpenAI's do: the first is
	// resp_fake, then resp_fake2, resp_fake3 …
	id := "resp_fake"
	if n := s.Requests(); n > 1 {
		id += strconv.Itoa(n)
	}
	if req.Stream {
		writeResponsesStream(w, r, &sc, req.Model, id)
		return
	}
	o := responseObject(&sc, req.Model, responseStatus(&sc), outputItems(&sc))
	o["id"] = id
	writeJSON(w, o)
}

// capture checks a Responses request as OpenAI would and records it in c.
func (r *responsesRequest) capture(c *conformance.Captured) error {
	c.Model, c.Stream, c.Temperature = r.Model, r.Stream, r.Temperature
	if r.Model == "" {
		return errors.New("you must provide a model parameter")
	}
	if len(r.StreamOptions) > 0 && string(r.StreamOptions) != "null" && !r.Stream {
		return errors.New("the 'stream_options' parameter is only allowed when 'stream' is enabled")
	}
	if r.MaxOutputTokens != nil {
		c.MaxTokens = *r.MaxOutputTokens
	}
	if r.Instructions != nil {
		c.System = *r.Instructions
	}
	for _, t := range r.Tools {
		if t.Type == "function" || t.Type == "custom" {
			c.ToolNames = append(c.ToolNames, t.Name)
		}
	}
	var text string
	if json.Unmarshal(r.Input, &text) == nil {
		c.Messages = []conformance.CapturedMessage{{Role: "user", Text: text}}
		return nil
	}
	var items []responsesItem
	if err := json.Unmarshal(r.Input, &items); err != nil {
		return errors.New("'input' must be a string or an array of items")
	}
	for i, it := range items {
		if err := it.capture(c, i); err != nil {
			return err
		}
	}
	return nil
}

func (it *responsesItem) capture(c *conformance.Captured, i int) error {
	switch it.Type {
	case "", "message":
		text, images, err := itemText(it.Content)
		if err != nil {
			return fmt.Errorf("input[%d].content: %w", i, err)
		}
		if it.Role == "system" || it.Role == "developer" {
			c.System = strings.TrimPrefix(c.System+"\n"+text, "\n")
			return nil
		}
		c.Messages = append(c.Messages, conformance.CapturedMessage{Role: it.Role, Text: text, Images: images})
	case "function_call", "custom_tool_call":
		if it.CallID == "" || it.Name == "" {
			return fmt.Errorf("input[%d]: a call needs call_id and name", i)
		}
		n := len(c.Messages)
		if n == 0 || c.Messages[n-1].Role != "assistant" {
			c.Messages = append(c.Messages, conformance.CapturedMessage{Role: "assistant"})
			n++
		}
		c.Messages[n-1].ToolCallIDs = append(c.Messages[n-1].ToolCallIDs, it.CallID)
	case "function_call_output", "custom_tool_call_output":
		if it.CallID == "" {
			return fmt.Errorf("input[%d].call_id is required", i)
		}
		c.Messages = append(c.Messages, conformance.CapturedMessage{Role: "tool", ToolResult: it.CallID})
	case "reasoning":
	default:
		return fmt.Errorf("input[%d].type: invalid value %q", i, it.Type)
	}
	return nil
}

func itemText(raw json.RawMessage) (string, int, error) {
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, 0, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL string `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", 0, errors.New("want a string or an array of parts")
	}
	images := 0
	for _, p := range parts {
		switch p.Type {
		case "input_text", "output_text":
			text += p.Text
		case "input_image":
			images++
		default:
			return "", 0, fmt.Errorf("invalid part type %q", p.Type)
		}
	}
	return text, images, nil
}

func responseStatus(sc *conformance.Scenario) string {
	if sc.FinishReason == provider.FinishLength {
		return "incomplete"
	}
	return "completed"
}

func responsesUsage(u provider.Usage) map[string]any {
	return map[string]any{
		"input_tokens":          u.InputTokens,
		"input_tokens_details":  map[string]any{"cached_tokens": u.CachedInputTokens},
		"output_tokens":         u.OutputTokens,
		"output_tokens_details": map[string]any{"reasoning_tokens": u.ReasoningTokens},
		"total_tokens":          u.InputTokens + u.OutputTokens,
	}
}

func messageItem(text, status string) map[string]any {
	return map[string]any{"id": "msg_fake", "type": "message", "status": status, "role": "assistant",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
}

func callItem(i int, tc provider.ToolCall, args, status string) map[string]any {
	return map[string]any{"id": fmt.Sprintf("fc_fake%d", i), "type": "function_call", "status": status,
		"call_id": tc.ID, "name": tc.Name, "arguments": args}
}

// outputItems is the output of the scripted answer: its text as a message,
// then its tool calls.
func outputItems(sc *conformance.Scenario) []any {
	var out []any
	if sc.Text != "" || len(sc.ToolCalls) == 0 {
		out = append(out, messageItem(sc.Text, responseStatus(sc)))
	}
	for i, tc := range sc.ToolCalls {
		out = append(out, callItem(i, tc, tc.Arguments, "completed"))
	}
	return out
}

// responseObject is a response object; usage is given once it is done.
func responseObject(sc *conformance.Scenario, model, status string, output []any) map[string]any {
	o := map[string]any{
		"id": "resp_fake", "object": "response", "created_at": created, "status": status,
		"error": nil, "incomplete_details": nil, "model": model, "output": output,
		"parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{}, "usage": nil,
	}
	if status == "incomplete" {
		o["incomplete_details"] = map[string]any{"reason": "max_output_tokens"}
	}
	if status != "in_progress" {
		o["usage"] = responsesUsage(sc.Usage)
	}
	return o
}
