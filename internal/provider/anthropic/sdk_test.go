package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

// These tests put the official Anthropic Go SDK on the client side of this
// package's client-side codec: the SDK's request is read by DecodeRequest
// and answered by AppendResponse, StreamEncoder or AppendError.

// openAIStyleChunks is a canonical stream as the OpenAI adapter produces
// it: a role chunk, text, one tool call in pieces, the finish reason, then
// usage alone in a last chunk.
func openAIStyleChunks() []*provider.StreamChunk {
	ch := func(c provider.ChunkChoice) *provider.StreamChunk {
		return &provider.StreamChunk{ID: "chatcmpl-42", Model: "gpt-test", Choices: []provider.ChunkChoice{c}, RawFormat: provider.FormatOpenAI}
	}
	return []*provider.StreamChunk{
		ch(provider.ChunkChoice{Role: provider.RoleAssistant}),
		ch(provider.ChunkChoice{Content: "Let me "}),
		ch(provider.ChunkChoice{Content: "check \"that\"."}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 0, ID: "call_abc", Name: "get_weather"}}}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 0, Arguments: `{"city":`}}}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 0, Arguments: `"Paris"}`}}}),
		ch(provider.ChunkChoice{FinishReason: provider.FinishToolCalls}),
		{ID: "chatcmpl-42", Model: "gpt-test", Usage: &provider.Usage{InputTokens: 30, OutputTokens: 12, CachedInputTokens: 10}},
	}
}

// sdkServer answers POST /v1/messages with answer, after checking the SDK's
// request decodes.
func sdkServer(t *testing.T, answer func(w http.ResponseWriter, req *provider.ChatRequest)) *sdk.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := anthropic.DecodeRequest(body)
		if err != nil {
			t.Errorf("DecodeRequest of the SDK's body %s: %v", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		answer(w, req)
	}))
	t.Cleanup(srv.Close)
	c := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	return &c
}

func sdkParams() sdk.MessageNewParams {
	return sdk.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 256,
		System:    []sdk.TextBlockParam{{Text: "Be brief."}},
		Messages:  []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Weather in Paris?"))},
		Tools: []sdk.ToolUnionParam{{OfTool: &sdk.ToolParam{
			Name:        "get_weather",
			InputSchema: sdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}},
		}}},
	}
}

func TestStreamEncoderSDKAccumulate(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, req *provider.ChatRequest) {
		if !req.Stream || req.Model != "claude-test" || len(req.Tools) != 1 {
			t.Errorf("decoded request = stream %v model %q tools %d", req.Stream, req.Model, len(req.Tools))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		enc := anthropic.NewStreamEncoder(req.Model)
		var out []byte
		for _, c := range openAIStyleChunks() {
			out = enc.Encode(out, c)
		}
		out = enc.Finish(out, nil)
		_, _ = w.Write(out)
	})
	stream := client.Messages.NewStreaming(context.Background(), sdkParams())
	var msg sdk.Message
	var events []string
	for stream.Next() {
		ev := stream.Current()
		events = append(events, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.Type, err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	wantEvents := []string{
		"message_start",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop",
	}
	if strings.Join(events, " ") != strings.Join(wantEvents, " ") {
		t.Errorf("events =\n%q\nwant\n%q", events, wantEvents)
	}
	if !strings.HasPrefix(msg.ID, "msg_") || msg.Model != "claude-test" {
		t.Errorf("id, model = %q, %q; want msg_..., claude-test", msg.ID, msg.Model)
	}
	if len(msg.Content) != 2 {
		t.Fatalf("content = %+v, want a text and a tool_use block", msg.Content)
	}
	if got := msg.Content[0]; got.Type != "text" || got.Text != `Let me check "that".` {
		t.Errorf("block 0 = %s %q, want the text", got.Type, got.Text)
	}
	tu := msg.Content[1]
	if tu.Type != "tool_use" || tu.ID != "call_abc" || tu.Name != "get_weather" {
		t.Errorf("block 1 = %s %q %q, want tool_use call_abc get_weather", tu.Type, tu.ID, tu.Name)
	}
	var input map[string]string
	if err := json.Unmarshal(tu.Input, &input); err != nil || input["city"] != "Paris" {
		t.Errorf("tool input = %s (%v), want {\"city\":\"Paris\"}", tu.Input, err)
	}
	if msg.StopReason != sdk.StopReasonToolUse {
		t.Errorf("stop reason = %q, want tool_use", msg.StopReason)
	}
	u := msg.Usage
	if u.InputTokens != 20 || u.CacheReadInputTokens != 10 || u.OutputTokens != 12 {
		t.Errorf("usage = input %d, cache read %d, output %d; want 20, 10, 12", u.InputTokens, u.CacheReadInputTokens, u.OutputTokens)
	}
}

func TestStreamErrorEventSDK(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, req *provider.ChatRequest) {
		w.Header().Set("Content-Type", "text/event-stream")
		enc := anthropic.NewStreamEncoder(req.Model)
		out := enc.Encode(nil, &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "partial"}}})
		out = anthropic.AppendErrorEvent(out, anthropic.ErrOverloaded, "upstream overloaded")
		_, _ = w.Write(out)
	})
	stream := client.Messages.NewStreaming(context.Background(), sdkParams())
	for stream.Next() {
	}
	err := stream.Err()
	if err == nil || !strings.Contains(err.Error(), "upstream overloaded") {
		t.Fatalf("stream error = %v, want the error event's message", err)
	}
}

func TestAppendResponseSDK(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, req *provider.ChatRequest) {
		if req.Stream {
			t.Error("decoded a streaming request, want non-streaming")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(anthropic.AppendResponse(nil, &provider.ChatResponse{
			ID: "chatcmpl-7", Model: "claude-test",
			Choices: []provider.Choice{{
				Message: provider.Message{Role: provider.RoleAssistant,
					Content:   []provider.Part{{Type: provider.PartText, Text: "Checking."}},
					ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
				FinishReason: provider.FinishToolCalls,
			}},
			Usage: provider.Usage{InputTokens: 9, OutputTokens: 4},
		}, false))
	})
	msg, err := client.Messages.New(context.Background(), sdkParams())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if msg.ID != "msg_chatcmpl-7" || msg.StopReason != sdk.StopReasonToolUse {
		t.Errorf("id %q stop %q, want msg_chatcmpl-7 tool_use", msg.ID, msg.StopReason)
	}
	if len(msg.Content) != 2 || msg.Content[0].Text != "Checking." || msg.Content[1].Name != "get_weather" ||
		string(msg.Content[1].Input) != `{"city":"Paris"}` {
		t.Errorf("content = %+v", msg.Content)
	}
	if msg.Usage.InputTokens != 9 || msg.Usage.OutputTokens != 4 {
		t.Errorf("usage = %+v, want 9 in, 4 out", msg.Usage)
	}
}

func TestAppendErrorSDK(t *testing.T) {
	client := sdkServer(t, func(w http.ResponseWriter, req *provider.ChatRequest) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(anthropic.AppendError(nil, anthropic.ErrorType(http.StatusTooManyRequests), "slow down"))
	})
	_, err := client.Messages.New(context.Background(), sdkParams())
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *anthropic.Error", err)
	}
	if apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Type() != "rate_limit_error" {
		t.Errorf("status %d type %q, want 429 rate_limit_error", apiErr.StatusCode, apiErr.Type())
	}
	if !strings.Contains(apiErr.Error(), "slow down") {
		t.Errorf("error %q lacks the message", apiErr.Error())
	}
}
