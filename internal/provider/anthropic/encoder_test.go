package anthropic_test

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

type sseEvent struct {
	name string
	data map[string]any
}

// parseEvents reads encoder output back, failing on a frame that is not an
// SSE event with one line of JSON whose type is the event name.
func parseEvents(t *testing.T, b []byte) []sseEvent {
	t.Helper()
	r := provider.NewSSEReader(bytes.NewReader(b))
	var out []sseEvent
	for {
		name, data, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read events: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("event %s data %q is not JSON: %v", name, data, err)
		}
		if m["type"] != name {
			t.Fatalf("event %s has data type %v", name, m["type"])
		}
		out = append(out, sseEvent{name, m})
	}
}

func names(evs []sseEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.name)
	}
	return strings.Join(s, " ")
}

func encodeAll(enc *anthropic.StreamEncoder, chunks []*provider.StreamChunk, final *provider.Usage) []byte {
	var out []byte
	for _, c := range chunks {
		out = enc.Encode(out, c)
	}
	return enc.Finish(out, final)
}

func TestStreamEncoderEmpty(t *testing.T) {
	evs := parseEvents(t, anthropic.NewStreamEncoder("m").Finish(nil, &provider.Usage{InputTokens: 4}))
	if got := names(evs); got != "message_start message_delta message_stop" {
		t.Fatalf("events = %s", got)
	}
	d := evs[1].data
	if d["delta"].(map[string]any)["stop_reason"] != "end_turn" || d["usage"].(map[string]any)["input_tokens"] != 4.0 {
		t.Errorf("message_delta = %v, want end_turn and the usage given to Finish", d)
	}
}

func TestStreamEncoderUsageWithFinish(t *testing.T) {
	// Anthropic-origin chunks report usage with the finish reason; the
	// message_delta goes out then, and Finish adds only message_stop.
	enc := anthropic.NewStreamEncoder("")
	out := enc.Encode(nil, &provider.StreamChunk{ID: "msg_abc", Model: "claude-x", Choices: []provider.ChunkChoice{{Role: "assistant"}},
		Usage: &provider.Usage{InputTokens: 10}})
	out = enc.Encode(out, &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "Hi"}}})
	out = enc.Encode(out, &provider.StreamChunk{Choices: []provider.ChunkChoice{{FinishReason: provider.FinishLength}},
		Usage: &provider.Usage{InputTokens: 10, OutputTokens: 2}})
	before := len(out)
	out = enc.Encode(out, &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "late"}}})
	if len(out) != before {
		t.Errorf("content after message_delta was encoded: %q", out[before:])
	}
	out = enc.Finish(out, nil)
	if again := enc.Finish(nil, nil); len(again) != 0 {
		t.Errorf("second Finish appended %q", again)
	}
	evs := parseEvents(t, out)
	if got := names(evs); got != "message_start content_block_start content_block_delta content_block_stop message_delta message_stop" {
		t.Fatalf("events = %s", got)
	}
	msg := evs[0].data["message"].(map[string]any)
	if msg["id"] != "msg_abc" || msg["model"] != "claude-x" || msg["usage"].(map[string]any)["input_tokens"] != 10.0 {
		t.Errorf("message_start = %v", msg)
	}
	d := evs[4].data
	if d["delta"].(map[string]any)["stop_reason"] != "max_tokens" || d["usage"].(map[string]any)["output_tokens"] != 2.0 {
		t.Errorf("message_delta = %v", d)
	}
}

func TestStreamEncoderParallelToolCalls(t *testing.T) {
	chunks := []*provider.StreamChunk{
		{Choices: []provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: 0, ID: "call_a", Name: "f", Arguments: `{"x":`}}}}},
		{Choices: []provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: 0, Arguments: `1}`}}}}},
		{Choices: []provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: 1, Name: "g", Arguments: `{}`}}}}},
		{Choices: []provider.ChunkChoice{{Index: 1, Content: "another choice, not encoded"}}},
		{Choices: []provider.ChunkChoice{{FinishReason: provider.FinishToolCalls}}},
	}
	evs := parseEvents(t, encodeAll(anthropic.NewStreamEncoder("m"), chunks, nil))
	want := "message_start content_block_start content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_stop message_delta message_stop"
	if got := names(evs); got != want {
		t.Fatalf("events = %s\nwant %s", got, want)
	}
	second := evs[5].data
	if second["index"] != 1.0 {
		t.Errorf("second tool block index = %v, want 1", second["index"])
	}
	cb := second["content_block"].(map[string]any)
	if id, _ := cb["id"].(string); cb["name"] != "g" || !strings.HasPrefix(id, "toolu_") {
		t.Errorf("second tool block = %v, want g with a made-up toolu_ id", cb)
	}
}

// TestStreamEncoderThroughClient feeds the encoder's output to this
// package's own upstream stream reader: canonical → Anthropic SSE →
// canonical must keep the text, the tool calls, the finish reason and the
// usage.
func TestStreamEncoderThroughClient(t *testing.T) {
	body := encodeAll(anthropic.NewStreamEncoder("claude-test"), openAIStyleChunks(), nil)
	chunks, err := readAll(t, sseServer(t, 200, "text/event-stream", string(body)))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	var text string
	var calls []provider.ToolCall
	var usage *provider.Usage
	var finish provider.FinishReason
	for _, c := range chunks {
		for _, ch := range c.Choices {
			text += ch.Content
			for _, d := range ch.ToolCalls {
				for len(calls) <= d.Index {
					calls = append(calls, provider.ToolCall{})
				}
				calls[d.Index].ID += d.ID
				calls[d.Index].Name += d.Name
				calls[d.Index].Arguments += d.Arguments
			}
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if text != `Let me check "that".` {
		t.Errorf("text = %q", text)
	}
	if want := []provider.ToolCall{{ID: "call_abc", Name: "get_weather", Arguments: `{"city":"Paris"}`}}; !reflect.DeepEqual(calls, want) {
		t.Errorf("tool calls = %+v, want %+v", calls, want)
	}
	if finish != provider.FinishToolCalls {
		t.Errorf("finish = %q", finish)
	}
	if want := (provider.Usage{InputTokens: 30, OutputTokens: 12, CachedInputTokens: 10}); usage == nil || *usage != want {
		t.Errorf("usage = %+v, want %+v", usage, want)
	}
}

func TestAppendResponse(t *testing.T) {
	tests := []struct {
		name string
		resp provider.ChatResponse
		want string
	}{
		{
			name: "TextKeepsMsgID",
			resp: provider.ChatResponse{ID: "msg_1", Model: "m", Choices: []provider.Choice{{
				Message: provider.TextMessage(provider.RoleAssistant, "héllo \"you\"\n"), FinishReason: provider.FinishStop}},
				Usage: provider.Usage{InputTokens: 12, OutputTokens: 3, CachedInputTokens: 5}},
			want: `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"héllo \"you\"\n"}],
				"stop_reason":"end_turn","stop_sequence":null,
				"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":3}}`,
		},
		{
			name: "ToolCallsWithBadArguments",
			resp: provider.ChatResponse{ID: "chatcmpl-9", Model: "gpt", Choices: []provider.Choice{{
				Message: provider.Message{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{
					{ID: "call_1", Name: "f", Arguments: `{"a":[1]}`},
					{ID: "call_2", Name: "g", Arguments: `{"a":`},
				}}, FinishReason: provider.FinishToolCalls}}},
			want: `{"id":"msg_chatcmpl-9","type":"message","role":"assistant","model":"gpt","content":[
				{"type":"tool_use","id":"call_1","name":"f","input":{"a":[1]}},
				{"type":"tool_use","id":"call_2","name":"g","input":{}}],
				"stop_reason":"tool_use","stop_sequence":null,
				"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		},
		{
			name: "NoChoicesLengthMapping",
			resp: provider.ChatResponse{ID: "x", Model: "m", Choices: []provider.Choice{{FinishReason: provider.FinishLength}}},
			want: `{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"max_tokens","stop_sequence":null,
				"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertJSON(t, anthropic.AppendResponse(nil, &tt.resp, false), tt.want)
		})
	}
}
