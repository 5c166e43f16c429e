// Package anthropictest provides a fake Anthropic Messages API server for
// tests: it speaks the documented wire format (JSON messages, SSE streams
// with ping, content blocks, input_json_delta and message_delta usage,
// mid-stream error events, error bodies) and records what it received.
package anthropictest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// Server is a fake Anthropic upstream. Script it, point an adapter at URL,
// then look at Last.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	scenario conformance.Scenario
	last     conformance.Captured
	requests int
}

var _ conformance.Fake = (*Server)(nil)

// NewServer starts a fake that answers with an empty successful message
// until scripted. It shuts down when tb's test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{scenario: conformance.Scenario{FinishReason: provider.FinishStop}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL to configure the adapter with.
func (s *Server) URL() string { return s.srv.URL }

// Script makes every following request be answered as sc says.
func (s *Server) Script(sc conformance.Scenario) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scenario = sc
}

// Last returns what the last request held.
func (s *Server) Last() conformance.Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Requests returns how many requests the fake received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c, capErr := capture(r, body)
	s.mu.Lock()
	s.requests++
	s.last = c
	sc := s.scenario
	s.mu.Unlock()

	if r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens" {
		s.countTokens(w, r, body, sc)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		writeError(w, http.StatusNotFound, "not_found_error", "Not found: "+r.Method+" "+r.URL.Path, "")
		return
	}
	if r.Header.Get("x-api-key") == "" {
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required", "")
		return
	}
	if r.Header.Get("anthropic-version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required", "")
		return
	}
	if capErr != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", capErr.Error(), "")
		return
	}
	if sc.Delay > 0 && !sleep(r.Context(), sc.Delay) {
		return
	}
	if sc.Status != 0 {
		writeError(w, sc.Status, sc.ErrType, sc.ErrMessage, sc.RetryAfter)
		return
	}
	if c.Stream {
		s.stream(w, r, sc, c.Model)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_fake")
	_, _ = w.Write(message(sc, c.Model))
}

// countTokens answers POST /v1/messages/count_tokens: the scripted input
// tokens, or one token per four bytes of the body. Like Anthropic's, it
// refuses max_tokens and stream, which are not about the prompt.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request, body []byte, sc conformance.Scenario) {
	var req struct {
		Model     string            `json:"model"`
		Messages  []json.RawMessage `json:"messages"`
		MaxTokens *int              `json:"max_tokens"`
		Stream    *bool             `json:"stream"`
	}
	switch {
	case r.Header.Get("x-api-key") == "":
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required", "")
	case json.Unmarshal(body, &req) != nil || req.Model == "" || len(req.Messages) == 0:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model and messages are required", "")
	case req.MaxTokens != nil || req.Stream != nil:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "max_tokens, stream: Extra inputs are not permitted", "")
	case sc.Status != 0:
		writeError(w, sc.Status, sc.ErrType, sc.ErrMessage, sc.RetryAfter)
	default:
		n := sc.Usage.InputTokens
		if n == 0 {
			n = (len(body) + 3) / 4
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"input_tokens":%d}`, n)
	}
}

// writeError writes Anthropic's error body with status.
func writeError(w http.ResponseWriter, status int, typ, msg, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("retry-after", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-should-retry", fmt.Sprint(status == 429 || status >= 500))
	w.WriteHeader(status)
	_, _ = w.Write(errorBody(typ, msg))
}

func errorBody(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": typ, "message": msg}})
	return b
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopReason maps a scripted finish reason to Anthropic's.
func stopReason(sc conformance.Scenario) string {
	switch sc.FinishReason {
	case provider.FinishLength:
		return "max_tokens"
	case provider.FinishToolCalls:
		return "tool_use"
	case provider.FinishContentFilter:
		return "refusal"
	case provider.FinishStop:
		return "end_turn"
	}
	if len(sc.ToolCalls) > 0 {
		return "tool_use"
	}
	return "end_turn"
}

// usage is Anthropic's usage object for u: the canonical InputTokens counts
// cache reads and writes, Anthropic's input_tokens does not.
func usage(u provider.Usage) map[string]int {
	return map[string]int{
		"input_tokens":                u.InputTokens - u.CachedInputTokens - u.CacheWriteTokens,
		"cache_creation_input_tokens": u.CacheWriteTokens,
		"cache_read_input_tokens":     u.CachedInputTokens,
		"output_tokens":               u.OutputTokens,
	}
}

func toolInput(args string) json.RawMessage {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(args)
}

func message(sc conformance.Scenario, model string) []byte {
	content := []map[string]any{}
	if sc.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": sc.Text})
	}
	for i, tc := range sc.ToolCalls {
		content = append(content, map[string]any{"type": "tool_use", "id": toolID(tc, i), "name": tc.Name, "input": toolInput(tc.Arguments)})
	}
	b, _ := json.Marshal(map[string]any{
		"id": "msg_fake01", "type": "message", "role": "assistant", "model": model,
		"content": content, "stop_reason": stopReason(sc), "stop_sequence": nil,
		"usage": usage(sc.Usage),
	})
	return b
}

func toolID(tc provider.ToolCall, i int) string {
	if tc.ID != "" {
		return tc.ID
	}
	return fmt.Sprintf("toolu_fake%02d", i)
}

// stream writes sc as Anthropic's SSE event sequence, flushing each event.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, sc conformance.Scenario, model string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	sent := 0
	send := func(event string, data any) bool {
		if sent > 0 && sc.ChunkDelay > 0 && !sleep(r.Context(), sc.ChunkDelay) {
			return false
		}
		b, _ := json.Marshal(data)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		sent++
		return true
	}
	start := usage(sc.Usage)
	start["output_tokens"] = 1
	if !send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_fake01", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": start,
	}}) || !send("ping", map[string]string{"type": "ping"}) {
		return
	}
	index, deltas := 0, 0
	// failed sends the mid-stream error once StreamErrorAfter deltas went out.
	failed := func() bool {
		if sc.StreamErrorAfter > 0 && deltas >= sc.StreamErrorAfter {
			send("error", json.RawMessage(errorBody(sc.ErrType, sc.ErrMessage)))
			return true
		}
		return false
	}
	if sc.Text != "" {
		if !send("content_block_start", map[string]any{"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "text", "text": ""}}) {
			return
		}
		for _, piece := range split(sc.Text, 12) {
			if failed() || !send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
				"delta": map[string]string{"type": "text_delta", "text": piece}}) {
				return
			}
			deltas++
		}
		if failed() || !send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index}) {
			return
		}
		index++
	}
	for i, tc := range sc.ToolCalls {
		if !send("content_block_start", map[string]any{"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "tool_use", "id": toolID(tc, i), "name": tc.Name, "input": map[string]any{}}}) {
			return
		}
		// Anthropic's first input_json_delta is often empty.
		for _, piece := range append([]string{""}, split(tc.Arguments, 7)...) {
			if failed() || !send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index,
				"delta": map[string]string{"type": "input_json_delta", "partial_json": piece}}) {
				return
			}
			deltas++
		}
		if !send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index}) {
			return
		}
		index++
	}
	if failed() {
		return
	}
	if !send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stopReason(sc), "stop_sequence": nil},
		"usage": map[string]int{"output_tokens": sc.Usage.OutputTokens}}) {
		return
	}
	send("message_stop", map[string]string{"type": "message_stop"})
}

// split cuts s into pieces of about n bytes, on rune boundaries.
func split(s string, n int) []string {
	var out []string
	for len(s) > n {
		i := n
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// captureReq is what capture reads of a Messages request.
type captureReq struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	StopSequences []string        `json:"stop_sequences"`
	Stream        bool            `json:"stream"`
	System        json.RawMessage `json:"system"`
	Messages      []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

type captureBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

// capture decodes what the conformance suite checks from a request. A body
// that is not a valid Messages request is reported as an error, which the
// fake answers with 400 as Anthropic would.
func capture(r *http.Request, body []byte) (conformance.Captured, error) {
	c := conformance.Captured{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: slices.Clone(body)}
	var w captureReq
	if err := json.Unmarshal(body, &w); err != nil {
		return c, fmt.Errorf("body: %v", err)
	}
	c.Model, c.Stream, c.MaxTokens, c.Temperature, c.Stop = w.Model, w.Stream, w.MaxTokens, w.Temperature, w.StopSequences
	if w.Model == "" {
		return c, fmt.Errorf("model: Field required")
	}
	if w.MaxTokens < 1 {
		return c, fmt.Errorf("max_tokens: Field required")
	}
	if len(w.Messages) == 0 {
		return c, fmt.Errorf("messages: at least one message is required")
	}
	for _, t := range w.Tools {
		c.ToolNames = append(c.ToolNames, t.Name)
	}
	sys, err := textOf(w.System)
	if err != nil {
		return c, fmt.Errorf("system: %v", err)
	}
	c.System = sys
	for i, m := range w.Messages {
		if m.Role != "user" && m.Role != "assistant" && m.Role != "system" {
			return c, fmt.Errorf("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i)
		}
		msgs, err := captureMessage(m.Role, m.Content)
		if err != nil {
			return c, fmt.Errorf("messages.%d.content: %v", i, err)
		}
		c.Messages = append(c.Messages, msgs...)
	}
	return c, nil
}

// captureMessage returns one Anthropic message as captured messages: each
// tool_result block as a "tool" message, then the rest of the turn.
func captureMessage(role string, content json.RawMessage) ([]conformance.CapturedMessage, error) {
	var s string
	if json.Unmarshal(content, &s) == nil {
		if s == "" {
			return nil, fmt.Errorf("text content must be non-empty")
		}
		return []conformance.CapturedMessage{{Role: role, Text: s}}, nil
	}
	var blocks []captureBlock
	if err := json.Unmarshal(content, &blocks); err != nil {
		return nil, fmt.Errorf("must be a string or a list of blocks")
	}
	var out []conformance.CapturedMessage
	m := conformance.CapturedMessage{Role: role}
	rest := false
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if b.Text == "" {
				return nil, fmt.Errorf("text content blocks must be non-empty")
			}
			m.Text += b.Text
			rest = true
		case "image":
			m.Images++
			rest = true
		case "tool_use":
			m.ToolCallIDs = append(m.ToolCallIDs, b.ID)
			rest = true
		case "tool_result":
			text, err := textOf(b.Content)
			if err != nil {
				return nil, fmt.Errorf("tool_result content: %v", err)
			}
			out = append(out, conformance.CapturedMessage{Role: provider.RoleTool, ToolResult: b.ToolUseID, Text: text})
		default:
			rest = true
		}
	}
	if rest || len(out) == 0 {
		out = append(out, m)
	}
	return out, nil
}

// textOf joins the text of a string or an array of text blocks.
func textOf(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []captureBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("must be a string or a list of blocks")
	}
	var parts []string
	for _, b := range blocks {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n"), nil
}
