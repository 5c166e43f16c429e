package anthropic_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     provider.Config
		wantErr string
	}{
		{"Defaults", provider.Config{}, ""},
		{"BaseURLWithV1", provider.Config{BaseURL: "https://proxy.example/v1/"}, ""},
		{"BaseURLNotHTTP", provider.Config{BaseURL: "ftp://x"}, "not http(s)"},
		{"VersionNotString", provider.Config{Settings: map[string]any{"version": 2023}}, "version must be a string"},
		{"MaxTokensFloat", provider.Config{Settings: map[string]any{"default_max_tokens": 100.0}}, ""},
		{"MaxTokensFraction", provider.Config{Settings: map[string]any{"default_max_tokens": 1.5}}, "must be an integer"},
		{"MaxTokensZero", provider.Config{Settings: map[string]any{"default_max_tokens": 0}}, "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := anthropic.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestRequestHeadersAndSettings(t *testing.T) {
	fake := anthropictest.NewServer(t)
	c, err := anthropic.New(provider.Config{
		BaseURL:  fake.URL() + "/v1",
		APIKey:   "sk-ant-secret",
		Headers:  map[string]string{"anthropic-beta": "output-128k-2025-02-19"},
		Settings: map[string]any{"version": "2099-01-01", "default_max_tokens": 333},
		// The fake listens on loopback.
		AllowPrivateNetwork: true,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	req := &provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")}}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	got := fake.Last()
	if got.Path != "/v1/messages" {
		t.Errorf("path = %q, want /v1/messages", got.Path)
	}
	for k, want := range map[string]string{
		"X-Api-Key": "sk-ant-secret", "Anthropic-Version": "2099-01-01", "Anthropic-Beta": "output-128k-2025-02-19",
		"Content-Type": "application/json",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if got.MaxTokens != 333 {
		t.Errorf("max_tokens = %d, want the default_max_tokens setting 333", got.MaxTokens)
	}
}

func TestPassthroughStreamFlag(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Script(conformance.Scenario{Text: "ok", FinishReason: provider.FinishStop})
	c := newClient(t, fake.URL())
	raw := `{"stream":true,"model":"client-model","max_tokens":16,"messages":[{"role":"user","content":"Hello"}]}`
	req := &provider.ChatRequest{Model: "up", Raw: []byte(raw), RawFormat: provider.FormatAnthropic}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	want := `{"stream":false,"model":"up","max_tokens":16,"messages":[{"role":"user","content":"Hello"}]}`
	if got := string(fake.Last().Body); got != want {
		t.Errorf("body = %s, want %s (model rewritten, stream made false, nothing else touched)", got, want)
	}
	if string(req.Raw) != raw {
		t.Errorf("req.Raw modified: %s", req.Raw)
	}
}

// sseServer serves body as an SSE answer to every request.
func sseServer(t *testing.T, status int, contentType, body string) *anthropic.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL)
}

func readAll(t *testing.T, c *anthropic.Client) ([]*provider.StreamChunk, error) {
	t.Helper()
	s, err := c.ChatStream(context.Background(), &provider.ChatRequest{Model: "m",
		Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")}, Stream: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []*provider.StreamChunk
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
}

// A stream as Anthropic documents it, with extended thinking, a tool call
// that takes no arguments, prompt-cache usage and an event this package
// does not know.
const thinkingToolStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":100,"cache_read_input_tokens":40,"output_tokens":1}}}

event: ping
data: {"type": "ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"now","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: future_event
data: {"type":"future_event","x":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}

event: message_stop
data: {"type":"message_stop"}

`

func TestStreamEvents(t *testing.T) {
	chunks, err := readAll(t, sseServer(t, 200, "text/event-stream", thinkingToolStream))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	var events []string
	var content string
	var calls []provider.ToolCallDelta
	var usages []provider.Usage
	var finishes []provider.FinishReason
	for _, c := range chunks {
		events = append(events, c.RawEvent)
		if c.RawFormat != provider.FormatAnthropic || len(c.Raw) == 0 {
			t.Errorf("%s chunk raw = %q in %q", c.RawEvent, c.Raw, c.RawFormat)
		}
		if c.ID != "msg_01" || c.Model != "claude-x" {
			t.Errorf("%s chunk id, model = %q, %q", c.RawEvent, c.ID, c.Model)
		}
		for _, ch := range c.Choices {
			content += ch.Content
			calls = append(calls, ch.ToolCalls...)
			if ch.FinishReason != "" {
				finishes = append(finishes, ch.FinishReason)
			}
		}
		if c.Usage != nil {
			usages = append(usages, *c.Usage)
		}
	}
	if len(events) != 15 || events[1] != "ping" || events[12] != "future_event" {
		t.Errorf("events = %q, want all 15 in order", events)
	}
	if string(chunks[1].Raw) != `{"type": "ping"}` {
		t.Errorf("ping raw = %q, want the bytes as sent", chunks[1].Raw)
	}
	if content != "Okay." {
		t.Errorf("content = %q, want the text without the thinking", content)
	}
	wantCalls := []provider.ToolCallDelta{{Index: 0, ID: "toolu_9", Name: "now"}, {Index: 0, Arguments: "{}"}}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("tool call deltas = %+v, want %+v (an argument-less call gets {})", calls, wantCalls)
	}
	if !reflect.DeepEqual(finishes, []provider.FinishReason{provider.FinishToolCalls}) {
		t.Errorf("finish reasons = %q", finishes)
	}
	want := provider.Usage{InputTokens: 145, OutputTokens: 42, CachedInputTokens: 40, CacheWriteTokens: 100}
	if len(usages) != 1 || usages[0] != want {
		t.Errorf("usages = %+v, want once %+v", usages, want)
	}
}

func TestStreamEndsEarly(t *testing.T) {
	cut := thinkingToolStream[:strings.Index(thinkingToolStream, "event: message_delta")]
	chunks, err := readAll(t, sseServer(t, 200, "text/event-stream", cut))
	var pe *provider.Error
	if !errors.As(err, &pe) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want a *provider.Error wrapping io.ErrUnexpectedEOF", err)
	}
	if !pe.Retryable() || len(chunks) == 0 {
		t.Errorf("retryable %v after %d chunks, want a retryable error after the chunks", pe.Retryable(), len(chunks))
	}
}

func TestStreamMalformedEvent(t *testing.T) {
	_, err := readAll(t, sseServer(t, 200, "text/event-stream", "event: message_start\ndata: {not json\n\n"))
	var pe *provider.Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "malformed message_start") {
		t.Fatalf("error = %v, want a malformed-event *provider.Error", err)
	}
}

func TestErrorBodyNotJSON(t *testing.T) {
	c := sseServer(t, http.StatusBadGateway, "text/html", "<html>\n<body>Bad   gateway</body></html>")
	_, err := c.Chat(context.Background(), &provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")}})
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *provider.Error", err)
	}
	if pe.Status != 502 || pe.Type != "" || pe.Message != "<html> <body>Bad gateway</body></html>" || !pe.Retryable() {
		t.Errorf("error = %+v, want status 502, no type, the body on one line, retryable", pe)
	}
	if pe.Provider != chorus.ProviderAnthropic {
		t.Errorf("provider = %q", pe.Provider)
	}
}

func TestChatResponse(t *testing.T) {
	body := `{"id":"msg_7","type":"message","role":"assistant","model":"claude-x","content":[
		{"type":"thinking","thinking":"…","signature":"s"},
		{"type":"text","text":"Part one. "},
		{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}},
		{"type":"text","text":"Part two."}],
		"stop_reason":"refusal","stop_sequence":null,
		"usage":{"input_tokens":3,"cache_creation_input_tokens":2,"cache_read_input_tokens":10,"output_tokens":7}}`
	resp, err := sseServer(t, 200, "application/json", body).Chat(context.Background(),
		&provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")}})
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	ch := resp.Choices[0]
	if ch.Message.Text() != "Part one. Part two." || ch.FinishReason != provider.FinishContentFilter {
		t.Errorf("text %q finish %q", ch.Message.Text(), ch.FinishReason)
	}
	if !reflect.DeepEqual(ch.Message.ToolCalls, []provider.ToolCall{{ID: "toolu_1", Name: "f", Arguments: `{"a":1}`}}) {
		t.Errorf("tool calls = %+v", ch.Message.ToolCalls)
	}
	if want := (provider.Usage{InputTokens: 15, OutputTokens: 7, CachedInputTokens: 10, CacheWriteTokens: 2}); resp.Usage != want {
		t.Errorf("usage = %+v, want %+v", resp.Usage, want)
	}
	if resp.ID != "msg_7" || resp.Model != "claude-x" || string(resp.Raw) != body {
		t.Errorf("id %q model %q raw kept %v", resp.ID, resp.Model, string(resp.Raw) == body)
	}
}

func TestFinishReasons(t *testing.T) {
	tests := map[string]provider.FinishReason{
		"end_turn": provider.FinishStop, "stop_sequence": provider.FinishStop, "pause_turn": provider.FinishStop,
		"max_tokens": provider.FinishLength, "model_context_window_exceeded": provider.FinishLength,
		"tool_use": provider.FinishToolCalls, "refusal": provider.FinishContentFilter,
	}
	for stop, want := range tests {
		t.Run(stop, func(t *testing.T) {
			body := `{"id":"msg_1","type":"message","role":"assistant","model":"x","content":[],"stop_reason":"` + stop + `","usage":{}}`
			resp, err := sseServer(t, 200, "application/json", body).Chat(context.Background(),
				&provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")}})
			if err != nil {
				t.Fatalf("Chat: %v", err)
			}
			if got := resp.Choices[0].FinishReason; got != want {
				t.Errorf("finish reason = %q, want %q", got, want)
			}
		})
	}
}

func TestStreamGotJSON(t *testing.T) {
	tests := []struct {
		name, body, wantType, wantMsg string
	}{
		{"ErrorBodyWith200", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "overloaded_error", "Overloaded"},
		{"MessageInsteadOfStream", `{"id":"msg_1","type":"message","content":[]}`, "", "upstream answered a streaming request with a JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, sseServer(t, 200, "application/json", tt.body))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			if pe.Type != tt.wantType || pe.Message != tt.wantMsg {
				t.Errorf("error = type %q message %q, want %q %q", pe.Type, pe.Message, tt.wantType, tt.wantMsg)
			}
		})
	}
}
