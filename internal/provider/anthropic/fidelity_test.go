package anthropic_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// agentBody is a Messages request as a coding agent sends it: cache
// breakpoints on system, tools and the last tool result, signed and
// redacted thinking in the history, a mid-conversation system message.
const agentBody = `{
	"model": "claude-x", "max_tokens": 8000,
	"system": [{"type":"text","text":"You are a coding agent.","cache_control":{"type":"ephemeral"}}],
	"thinking": {"type":"enabled","budget_tokens":2048},
	"tools": [{"name":"bash","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}],
	"messages": [
		{"role":"user","content":"List the files."},
		{"role":"assistant","content":[
			{"type":"thinking","thinking":"I should run ls.","signature":"sig-1"},
			{"type":"redacted_thinking","data":"EmwKAhgB"},
			{"type":"tool_use","id":"toolu_1","name":"bash","input":{"cmd":"ls"}}
		]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.go b.go","cache_control":{"type":"ephemeral"}}]},
		{"role":"system","content":"Be terse from now on."}
	]
}`

func TestAppendRequestKeepsThinkingAndCacheControl(t *testing.T) {
	req, err := anthropic.DecodeRequest([]byte(agentBody))
	if err != nil {
		t.Fatal(err)
	}
	// As if another format's client sent it: only the canonical fields count.
	req.Extra, req.Raw, req.RawFormat = nil, nil, ""
	body, err := anthropic.AppendRequest(nil, req, false, 4096)
	if err != nil {
		t.Fatal(err)
	}
	assertJSON(t, body, `{
		"model":"claude-x","max_tokens":8000,
		"system":[{"type":"text","text":"You are a coding agent.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Be terse from now on."}],
		"messages":[
			{"role":"user","content":"List the files."},
			{"role":"assistant","content":[
				{"type":"thinking","thinking":"I should run ls.","signature":"sig-1"},
				{"type":"redacted_thinking","data":"EmwKAhgB"},
				{"type":"tool_use","id":"toolu_1","name":"bash","input":{"cmd":"ls"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.go b.go","cache_control":{"type":"ephemeral"}}]}
		],
		"thinking":{"type":"enabled","budget_tokens":2048},
		"tools":[{"name":"bash","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral","ttl":"1h"}}]
	}`)

	// Decoding what was encoded gives the same turns back (the system
	// message now in the top-level prompt).
	again, err := anthropic.DecodeRequest(body)
	if err != nil {
		t.Fatalf("decode the encoded body: %v", err)
	}
	if got, want := again.Messages[2], req.Messages[2]; got.Content[0].Signature != want.Content[0].Signature ||
		got.Content[1].Data != want.Content[1].Data || got.ToolCalls[0].ID != "toolu_1" {
		t.Errorf("assistant turn = %+v, want %+v", got, want)
	}
	if cc := string(again.Messages[3].Content[0].CacheControl); cc != `{"type":"ephemeral"}` {
		t.Errorf("tool result cache_control = %s", cc)
	}
}

func TestAppendRequestThinking(t *testing.T) {
	tests := []struct {
		name      string
		reasoning *provider.Reasoning
		maxTokens int
		want      string // the thinking member, "" for none
	}{
		{"Budget", &provider.Reasoning{BudgetTokens: 3000}, 8000, `{"type":"enabled","budget_tokens":3000}`},
		{"BudgetUnderMaxTokens", &provider.Reasoning{BudgetTokens: 9000}, 4096, `{"type":"enabled","budget_tokens":4095}`},
		{"EffortHigh", &provider.Reasoning{Effort: "high"}, 32000, `{"type":"enabled","budget_tokens":16384}`},
		{"EffortLow", &provider.Reasoning{Effort: "low"}, 32000, `{"type":"enabled","budget_tokens":2048}`},
		{"EffortNone", &provider.Reasoning{Effort: "none"}, 32000, ""},
		{"TooFewTokens", &provider.Reasoning{Effort: "medium"}, 1000, ""},
		{"Nil", nil, 32000, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			temp := 0.2
			req := &provider.ChatRequest{Model: "m", MaxTokens: &tt.maxTokens, Temperature: &temp, Reasoning: tt.reasoning,
				Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}}
			body, err := anthropic.AppendRequest(nil, req, false, 4096)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Thinking    json.RawMessage `json:"thinking"`
				Temperature *float64        `json:"temperature"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.Thinking) != tt.want {
				t.Errorf("thinking = %s, want %s", got.Thinking, tt.want)
			}
			if (got.Temperature == nil) != (tt.want != "") {
				t.Errorf("temperature = %v with thinking %s; Anthropic refuses one with the other", got.Temperature, got.Thinking)
			}
		})
	}
}

func TestDecodeReasoning(t *testing.T) {
	tests := []struct {
		name, extra string
		want        *provider.Reasoning
		thinking    bool // ThinkingRequested
	}{
		{"Enabled", `"thinking":{"type":"enabled","budget_tokens":4000}`, &provider.Reasoning{BudgetTokens: 4000}, true},
		{"Adaptive", `"thinking":{"type":"adaptive"}`, &provider.Reasoning{Effort: "medium"}, true},
		{"AdaptiveEffort", `"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}`, &provider.Reasoning{Effort: "high"}, true},
		{"EffortOnly", `"output_config":{"effort":"low"}`, &provider.Reasoning{Effort: "low"}, false},
		{"Disabled", `"thinking":{"type":"disabled"}`, nil, false},
		{"None", `"top_k":3`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := anthropic.DecodeRequest([]byte(`{"model":"m","max_tokens":9000,"messages":[{"role":"user","content":"x"}],` + tt.extra + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if (req.Reasoning == nil) != (tt.want == nil) || (req.Reasoning != nil && *req.Reasoning != *tt.want) {
				t.Errorf("reasoning = %+v, want %+v", req.Reasoning, tt.want)
			}
			if got := anthropic.ThinkingRequested(req); got != tt.thinking {
				t.Errorf("ThinkingRequested = %v, want %v", got, tt.thinking)
			}
		})
	}
}

// upstream answers every request with body as contentType and records the
// request.
func upstream(t *testing.T, contentType, body string) (*anthropic.Client, *http.Request) {
	t.Helper()
	got := new(http.Request)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = *r.Clone(context.Background())
		b, _ := io.ReadAll(r.Body)
		got.Body = io.NopCloser(strings.NewReader(string(b)))
		w.Header().Set("Content-Type", contentType)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := anthropic.New(provider.Config{BaseURL: srv.URL, APIKey: "k", AllowPrivateNetwork: true, Headers: map[string]string{"anthropic-beta": "context-1m-2025-08-07"}})
	if err != nil {
		t.Fatal(err)
	}
	return c, got
}

func TestChatThinkingAndStopSequence(t *testing.T) {
	c, got := upstream(t, "application/json", `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
		"content":[{"type":"thinking","thinking":"Let me think.","signature":"sig"},{"type":"text","text":"Done"}],
		"stop_reason":"stop_sequence","stop_sequence":"END",
		"usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":0,"output_tokens":3}}`)
	req, err := anthropic.DecodeRequest([]byte(agentBody))
	if err != nil {
		t.Fatal(err)
	}
	req.UpstreamHeaders = map[string]string{"anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14,context-1m-2025-08-07"}
	resp, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	want := []provider.Part{{Type: provider.PartThinking, Text: "Let me think.", Signature: "sig"}, {Type: provider.PartText, Text: "Done"}}
	if len(ch.Message.Content) != 2 || ch.Message.Content[0].Signature != "sig" || ch.Message.Text() != "Done" || ch.Message.Reasoning() != "Let me think." {
		t.Errorf("message = %+v, want %+v", ch.Message, want)
	}
	if ch.FinishReason != provider.FinishStop || ch.StopSequence != "END" {
		t.Errorf("finish = %q %q, want stop END", ch.FinishReason, ch.StopSequence)
	}
	if b := got.Header.Get("Anthropic-Beta"); b != "context-1m-2025-08-07,interleaved-thinking-2025-05-14" {
		t.Errorf("upstream anthropic-beta = %q, want the deployment's and the client's flags, each once", b)
	}
	sent, _ := io.ReadAll(got.Body)
	if want, _ := anthropic.PassthroughBody([]byte(agentBody), "claude-x", false); string(sent) != string(want) {
		t.Errorf("upstream body =\n%s\nwant the client's as sent", sent)
	}
	// Back to an Anthropic client: thinking only when asked for.
	out := anthropic.AppendResponse(nil, resp, true)
	assertJSON(t, out, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
		"content":[{"type":"thinking","thinking":"Let me think.","signature":"sig"},{"type":"text","text":"Done"}],
		"stop_reason":"stop_sequence","stop_sequence":"END",
		"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":3}}`)
	if out := anthropic.AppendResponse(nil, resp, false); strings.Contains(string(out), "thinking") {
		t.Errorf("answer without thinking asked for = %s", out)
	}
}

func TestChatStreamThinking(t *testing.T) {
	events := []string{
		`{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":7,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"##"},"usage":{"output_tokens":4}}`,
		`{"type":"message_stop"}`,
	}
	var sse strings.Builder
	for _, e := range events {
		var typ struct{ Type string }
		_ = json.Unmarshal([]byte(e), &typ)
		sse.WriteString("event: " + typ.Type + "\ndata: " + e + "\n\n")
	}
	c, _ := upstream(t, "text/event-stream", sse.String())
	st, err := c.ChatStream(context.Background(), &provider.ChatRequest{Model: "claude-x",
		Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var reasoning, text, seq string
	var finish provider.FinishReason
	for {
		ch, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, cc := range ch.Choices {
			reasoning += cc.Reasoning
			text += cc.Content
			if cc.FinishReason != "" {
				finish, seq = cc.FinishReason, cc.StopSequence
			}
		}
	}
	if reasoning != "Hmm." || text != "Hi" || finish != provider.FinishStop || seq != "##" {
		t.Errorf("reasoning %q text %q finish %q %q; want Hmm., Hi, stop ##", reasoning, text, finish, seq)
	}
}

// TestStreamEncoderSDKThinkingAndTools accumulates the encoder's events
// with the official SDK: reasoning, text and two tool calls from an
// OpenAI-style stream (usage only at the end), with the client's thinking
// on and the prompt counted for message_start.
func TestStreamEncoderSDKThinkingAndTools(t *testing.T) {
	ch := func(c provider.ChunkChoice) *provider.StreamChunk {
		return &provider.StreamChunk{ID: "chatcmpl-9", Model: "gpt-x", Choices: []provider.ChunkChoice{c}}
	}
	chunks := []*provider.StreamChunk{
		ch(provider.ChunkChoice{Role: provider.RoleAssistant}),
		ch(provider.ChunkChoice{Reasoning: "Two cities, "}),
		ch(provider.ChunkChoice{Reasoning: "two calls."}),
		ch(provider.ChunkChoice{Content: "Checking both."}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 0, ID: "call_a", Name: "weather"}}}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 0, Arguments: `{"city":"Oslo"}`}}}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 1, ID: "call_b", Name: "weather", Arguments: `{"city":`}}}),
		ch(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: 1, Arguments: `"Rome"}`}}}),
		ch(provider.ChunkChoice{FinishReason: provider.FinishToolCalls}),
		{ID: "chatcmpl-9", Usage: &provider.Usage{InputTokens: 120, CachedInputTokens: 100, CacheWriteTokens: 15, OutputTokens: 30}},
	}
	for _, thinking := range []bool{true, false} {
		client := sdkServer(t, func(w http.ResponseWriter, req *provider.ChatRequest) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(encodeAll(anthropic.NewStreamEncoder(req.Model).WithThinking(thinking).WithInputTokens(111), chunks, nil))
		})
		stream := client.Messages.NewStreaming(context.Background(), sdkParams())
		var msg sdk.Message
		var startInput int64 = -1
		for stream.Next() {
			ev := stream.Current()
			if ev.Type == "message_start" {
				startInput = ev.Message.Usage.InputTokens
			}
			if err := msg.Accumulate(ev); err != nil {
				t.Fatalf("Accumulate(%s): %v", ev.Type, err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, b := range msg.Content {
			kinds = append(kinds, string(b.Type))
		}
		wantKinds := "text tool_use tool_use"
		if thinking {
			wantKinds = "thinking " + wantKinds
		}
		if got := strings.Join(kinds, " "); got != wantKinds {
			t.Fatalf("thinking %v: blocks = %s, want %s", thinking, got, wantKinds)
		}
		if thinking && msg.Content[0].Thinking != "Two cities, two calls." {
			t.Errorf("thinking = %q", msg.Content[0].Thinking)
		}
		n := len(msg.Content)
		if a, b := msg.Content[n-2], msg.Content[n-1]; a.ID != "call_a" || string(a.Input) != `{"city":"Oslo"}` || b.ID != "call_b" || string(b.Input) != `{"city":"Rome"}` {
			t.Errorf("tool calls = %s %s, %s %s", a.ID, a.Input, b.ID, b.Input)
		}
		u := msg.Usage
		if startInput != 111 || u.InputTokens != 5 || u.CacheReadInputTokens != 100 || u.CacheCreationInputTokens != 15 || u.OutputTokens != 30 {
			t.Errorf("message_start input %d; final usage %+v; want 111, then input 5, cache read 100, cache write 15, output 30", startInput, u)
		}
		if msg.StopReason != sdk.StopReasonToolUse {
			t.Errorf("stop reason = %q", msg.StopReason)
		}
	}
}

func TestStreamEncoderStartUsageFromFirstChunk(t *testing.T) {
	enc := anthropic.NewStreamEncoder("m").WithInputTokens(999)
	out := enc.Encode(nil, &provider.StreamChunk{Usage: &provider.Usage{InputTokens: 50, CachedInputTokens: 20},
		Choices: []provider.ChunkChoice{{Role: provider.RoleAssistant, Content: "Hi"}}})
	out = enc.Encode(out, &provider.StreamChunk{Choices: []provider.ChunkChoice{{FinishReason: provider.FinishStop, StopSequence: "STOP"}},
		Usage: &provider.Usage{InputTokens: 50, CachedInputTokens: 20, OutputTokens: 2}})
	out = enc.Finish(out, nil)
	evs := parseEvents(t, out)
	start := evs[0].data["message"].(map[string]any)["usage"].(map[string]any)
	if start["input_tokens"] != 30.0 || start["cache_read_input_tokens"] != 20.0 {
		t.Errorf("message_start usage = %v, want the first chunk's 30 + 20 cached", start)
	}
	var delta map[string]any
	for _, e := range evs {
		if e.name == "message_delta" {
			delta = e.data["delta"].(map[string]any)
		}
	}
	if delta["stop_reason"] != "stop_sequence" || delta["stop_sequence"] != "STOP" {
		t.Errorf("message_delta = %v, want stop_sequence STOP", delta)
	}
}

func TestCountTokens(t *testing.T) {
	fake := anthropictest.NewServer(t)
	fake.Script(conformance.Scenario{Usage: provider.Usage{InputTokens: 321}})
	c, err := anthropic.New(provider.Config{BaseURL: fake.URL(), APIKey: "k", AllowPrivateNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		req  func() *provider.ChatRequest
	}{
		{"Anthropic", func() *provider.ChatRequest {
			req, err := anthropic.DecodeCountTokensRequest([]byte(`{"model":"claude","system":"s","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.UpstreamHeaders = map[string]string{"anthropic-beta": "token-counting-2024-11-01"}
			return req
		}},
		{"Canonical", func() *provider.ChatRequest {
			return &provider.ChatRequest{Model: "claude", Stream: true, Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, err := c.CountTokens(context.Background(), tt.req())
			if err != nil || n != 321 {
				t.Fatalf("CountTokens = %d, %v; want 321", n, err)
			}
			last := fake.Last()
			if last.Path != "/v1/messages/count_tokens" || strings.Contains(string(last.Body), "max_tokens") {
				t.Errorf("upstream got %s %s", last.Path, last.Body)
			}
			if tt.name == "Anthropic" && last.Header.Get("Anthropic-Beta") != "token-counting-2024-11-01" {
				t.Errorf("anthropic-beta = %q", last.Header.Get("Anthropic-Beta"))
			}
		})
	}
	fake.Script(conformance.Scenario{Status: 404, ErrType: "not_found_error", ErrMessage: "model: claude"})
	_, err = c.CountTokens(context.Background(), &provider.ChatRequest{Model: "claude", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}})
	if pe, ok := err.(*provider.Error); !ok || pe.Status != 404 || pe.Provider != chorus.ProviderAnthropic {
		t.Errorf("error = %v, want the upstream's 404", err)
	}
}

// TestStopReasons maps every stop reason from an Anthropic answer to the
// canonical finish reason and back to what an Anthropic client is sent.
// pause_turn and model_context_window_exceeded have no canonical reason of
// their own: they come back as end_turn and max_tokens.
func TestStopReasons(t *testing.T) {
	tests := []struct {
		stop, seq string
		finish    provider.FinishReason
		back      string
	}{
		{"end_turn", "", provider.FinishStop, "end_turn"},
		{"max_tokens", "", provider.FinishLength, "max_tokens"},
		{"stop_sequence", "\n\nHuman:", provider.FinishStop, "stop_sequence"},
		{"tool_use", "", provider.FinishToolCalls, "tool_use"},
		{"pause_turn", "", provider.FinishStop, "end_turn"},
		{"refusal", "", provider.FinishContentFilter, "refusal"},
		{"model_context_window_exceeded", "", provider.FinishLength, "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.stop, func(t *testing.T) {
			seq := "null"
			if tt.seq != "" {
				b, _ := json.Marshal(tt.seq)
				seq = string(b)
			}
			c, _ := upstream(t, "application/json", `{"id":"msg_s","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"x"}],`+
				`"stop_reason":"`+tt.stop+`","stop_sequence":`+seq+`,"usage":{"input_tokens":1,"output_tokens":1}}`)
			resp, err := c.Chat(context.Background(), &provider.ChatRequest{Model: "m", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}})
			if err != nil {
				t.Fatal(err)
			}
			if ch := resp.Choices[0]; ch.FinishReason != tt.finish || ch.StopSequence != tt.seq {
				t.Errorf("finish = %q %q, want %q %q", ch.FinishReason, ch.StopSequence, tt.finish, tt.seq)
			}
			var back struct {
				StopReason   string  `json:"stop_reason"`
				StopSequence *string `json:"stop_sequence"`
			}
			if err := json.Unmarshal(anthropic.AppendResponse(nil, resp, false), &back); err != nil {
				t.Fatal(err)
			}
			if back.StopReason != tt.back || (back.StopSequence != nil) != (tt.seq != "") {
				t.Errorf("back to Anthropic: %q %v, want %q %q", back.StopReason, back.StopSequence, tt.back, tt.seq)
			}
		})
	}
}
