package openai_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// TestAnthropicRequestToOpenAI translates an Anthropic client's request to
// an OpenAI upstream: the mid-conversation system message stays a system
// message in place, thinking in the history is dropped, cache_control too,
// and the thinking budget becomes reasoning_effort.
func TestAnthropicRequestToOpenAI(t *testing.T) {
	req, err := anthropic.DecodeRequest([]byte(`{"model":"m","max_tokens":9000,
		"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
		"thinking":{"type":"enabled","budget_tokens":10000},
		"messages":[
			{"role":"user","content":"Weather?"},
			{"role":"assistant","content":[{"type":"thinking","thinking":"call it","signature":"s"},{"type":"tool_use","id":"t1","name":"w","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"}]},
			{"role":"system","content":"Answer in French."}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	var sent []byte
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","choices":[{"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
	})
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	assertJSONEq(t, sent, `{"model":"m","max_tokens":9000,"reasoning_effort":"medium","messages":[
		{"role":"system","content":"Be brief."},
		{"role":"user","content":"Weather?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"w","arguments":"{}"}}]},
		{"role":"tool","content":"sunny","tool_call_id":"t1"},
		{"role":"system","content":"Answer in French."}]}`)
}

func TestReasoningEffort(t *testing.T) {
	for _, tt := range []struct {
		r    *provider.Reasoning
		want string
	}{
		{&provider.Reasoning{BudgetTokens: 1024}, "low"},
		{&provider.Reasoning{BudgetTokens: 4096}, "medium"},
		{&provider.Reasoning{BudgetTokens: 32000}, "high"},
		{&provider.Reasoning{Effort: "minimal", BudgetTokens: 32000}, "minimal"},
		{&provider.Reasoning{Effort: "max"}, "xhigh"},
	} {
		var sent struct {
			Effort string `json:"reasoning_effort"`
		}
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(b, &sent)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"x","choices":[]}`)
		})
		req := userRequest()
		req.Reasoning = tt.r
		if _, err := c.Chat(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if sent.Effort != tt.want {
			t.Errorf("reasoning %+v: reasoning_effort = %q, want %q", *tt.r, sent.Effort, tt.want)
		}
	}
}

// TestReasoningContent reads DeepSeek's and vLLM's reasoning_content, whole
// and streamed, and writes it back to OpenAI clients.
func TestReasoningContent(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant",
			"content":null,"reasoning_content":"Need the tool.","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
			"finish_reason":"tool_calls"}]}`)
	})
	resp, err := c.Chat(context.Background(), userRequest())
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Choices[0].Message
	if m.Reasoning() != "Need the tool." || m.Text() != "" || len(m.ToolCalls) != 1 {
		t.Fatalf("message = %+v, want the reasoning, no text, one call", m)
	}
	resp.Raw = nil
	out := openai.AppendChatResponse(nil, resp)
	if !strings.Contains(string(out), `"content":null,"refusal":null,"reasoning_content":"Need the tool."`) {
		t.Errorf("answer = %s, want null content and the reasoning_content", out)
	}

	s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"Hm\"}}]}\n\n"+
			"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"m.\"}}]}\n\n"+
			"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	})
	st, err := s.ChatStream(context.Background(), userRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var reasoning string
	for {
		ch, err := st.Next()
		if err != nil {
			break
		}
		for _, cc := range ch.Choices {
			reasoning += cc.Reasoning
		}
	}
	if reasoning != "Hmm." {
		t.Errorf("streamed reasoning = %q, want Hmm.", reasoning)
	}
}

// TestAppendChunkToolOnly checks the first delta of an answer that only
// calls tools, as OpenAI sends it: role, null content, the call.
func TestAppendChunkToolOnly(t *testing.T) {
	tests := []struct {
		name string
		c    provider.ChunkChoice
		want string
	}{
		{"ToolOnlyFirst", provider.ChunkChoice{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCallDelta{{ID: "c1", Name: "f"}}},
			`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":""}}]}`},
		{"RoleOnly", provider.ChunkChoice{Role: provider.RoleAssistant}, `{"role":"assistant","content":""}`},
		{"Reasoning", provider.ChunkChoice{Reasoning: "hm"}, `{"reasoning_content":"hm"}`},
		{"LaterToolDelta", provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Arguments: "{}"}}},
			`{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := openai.AppendChunk(nil, &provider.StreamChunk{ID: "x", Choices: []provider.ChunkChoice{tt.c}})
			var got struct {
				Choices []struct {
					Delta json.RawMessage `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			assertJSONEq(t, got.Choices[0].Delta, tt.want)
		})
	}
}

func assertJSONEq(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("invalid want %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("got\n%s\nwant\n%s", gb, wb)
	}
}
