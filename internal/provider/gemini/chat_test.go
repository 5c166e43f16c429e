package gemini

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

var testNow = time.Unix(1_700_000_000, 0)

func TestParseResponseFinishReasons(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  provider.FinishReason
		text  string
		calls int
	}{
		{"Stop", `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"STOP"}]}`, provider.FinishStop, "Hi", 0},
		{"MaxTokens", `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"finishReason":"MAX_TOKENS"}]}`, provider.FinishLength, "Hi", 0},
		{"Safety", `{"candidates":[{"finishReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}]}`, provider.FinishContentFilter, "", 0},
		{"Recitation", `{"candidates":[{"content":{"parts":[{"text":"Once"}]},"finishReason":"RECITATION"}]}`, provider.FinishContentFilter, "Once", 0},
		{"Blocklist", `{"candidates":[{"finishReason":"BLOCKLIST"}]}`, provider.FinishContentFilter, "", 0},
		{"ProhibitedContent", `{"candidates":[{"finishReason":"PROHIBITED_CONTENT"}]}`, provider.FinishContentFilter, "", 0},
		{"SPII", `{"candidates":[{"finishReason":"SPII"}]}`, provider.FinishContentFilter, "", 0},
		{"StopWithCalls", `{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}]}`, provider.FinishToolCalls, "", 1},
		{"Other", `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"OTHER"}]}`, provider.FinishStop, "x", 0},
		{"PromptBlocked", `{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}`, provider.FinishContentFilter, "", 0},
		{"PromptBlockedOther", `{"promptFeedback":{"blockReason":"OTHER"}}`, provider.FinishContentFilter, "", 0},
		{"NoCandidates", `{"usageMetadata":{"promptTokenCount":9}}`, provider.FinishStop, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := parseResponse([]byte(tt.body), "m", testNow)
			if err != nil {
				t.Fatalf("parseResponse: %v", err)
			}
			if len(resp.Choices) != 1 {
				t.Fatalf("got %d choices, want 1", len(resp.Choices))
			}
			ch := resp.Choices[0]
			if ch.FinishReason != tt.want {
				t.Errorf("finish reason = %q, want %q", ch.FinishReason, tt.want)
			}
			if got := ch.Message.Text(); got != tt.text {
				t.Errorf("text = %q, want %q", got, tt.text)
			}
			if len(ch.Message.ToolCalls) != tt.calls {
				t.Errorf("got %d tool calls, want %d", len(ch.Message.ToolCalls), tt.calls)
			}
			if ch.Message.Role != provider.RoleAssistant {
				t.Errorf("role = %q, want assistant", ch.Message.Role)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	body := `{
		"candidates": [
			{"content": {"role": "model", "parts": [
				{"text": "Let me think.", "thought": true},
				{"text": "Paris "},
				{"text": "is sunny."},
				{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
				{"functionCall": {"id": "g-2", "name": "get_time"}}
			]}, "finishReason": "STOP"},
			{"content": {"role": "model", "parts": [{"text": "Second."}]}, "finishReason": "MAX_TOKENS", "index": 1}
		],
		"usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
			"cachedContentTokenCount": 40, "toolUsePromptTokenCount": 5, "totalTokenCount": 155},
		"modelVersion": "gemini-2.5-flash-001",
		"responseId": "resp-1"
	}`
	resp, err := parseResponse([]byte(body), "gemini-2.5-flash", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != "resp-1" || resp.Model != "gemini-2.5-flash-001" || resp.Created != testNow.Unix() {
		t.Errorf("id, model, created = %q, %q, %d", resp.ID, resp.Model, resp.Created)
	}
	if want := (provider.Usage{InputTokens: 105, OutputTokens: 50, CachedInputTokens: 40, ReasoningTokens: 30}); resp.Usage != want {
		t.Errorf("usage = %+v, want %+v", resp.Usage, want)
	}
	if resp.RawFormat != provider.FormatGemini || string(resp.Raw) != body {
		t.Errorf("raw not kept")
	}
	if len(resp.Choices) != 2 {
		t.Fatalf("got %d choices, want 2", len(resp.Choices))
	}
	c0, c1 := resp.Choices[0], resp.Choices[1]
	if got := c0.Message.Text(); got != "Paris is sunny." {
		t.Errorf("text = %q, want the answer without the thought", got)
	}
	if c0.FinishReason != provider.FinishToolCalls {
		t.Errorf("finish reason = %q, want tool_calls", c0.FinishReason)
	}
	calls := c0.Message.ToolCalls
	if len(calls) != 2 {
		t.Fatalf("got %d tool calls, want 2", len(calls))
	}
	if calls[0].Name != "get_weather" || calls[0].Arguments != `{"city": "Paris"}` || !strings.HasPrefix(calls[0].ID, "call_") {
		t.Errorf("call 0 = %+v", calls[0])
	}
	if _, sig := splitCallID(calls[0].ID); sig != "c2ln" {
		t.Errorf("call 0 ID %q carries signature %q, want c2ln", calls[0].ID, sig)
	}
	if calls[1].ID != "g-2" || calls[1].Arguments != "{}" {
		t.Errorf("call 1 = %+v, want Gemini's ID and empty arguments as {}", calls[1])
	}
	if c1.Index != 1 || c1.Message.Text() != "Second." || c1.FinishReason != provider.FinishLength {
		t.Errorf("choice 1 = %+v", c1)
	}
}

func TestParseResponseFallbacks(t *testing.T) {
	resp, err := parseResponse([]byte(`{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}`), "asked-model", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "asked-model" {
		t.Errorf("model = %q, want the requested model when the body names none", resp.Model)
	}
	if resp.ID == "" {
		t.Error("empty response ID, want a generated one")
	}
}

func TestParseResponseErrors(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantType string
		status   int
	}{
		{"NotJSON", `<html>`, "invalid_response", 0},
		{"Truncated", `{"candidates":[`, "invalid_response", 0},
		{"WrongShape", `{"candidates":{"a":1}}`, "invalid_response", 0},
		{"ErrorIn200", `{"error":{"code":500,"message":"boom","status":"INTERNAL"}}`, "INTERNAL", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseResponse([]byte(tt.body), "m", testNow)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			if pe.Type != tt.wantType || pe.Status != tt.status || pe.Provider != "gemini" {
				t.Errorf("error = %+v, want type %q status %d", pe, tt.wantType, tt.status)
			}
		})
	}
}

// FuzzParseResponse checks that no upstream body makes the parser panic,
// and that whatever it accepts is a usable answer.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"Hi"},{"functionCall":{"name":"f","args":{"a":[1]}}}]},"finishReason":"STOP","index":3}]}`,
		`{"promptFeedback":{"blockReason":"SAFETY"}}`,
		`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}`,
		`{"candidates":[{"content":null}],"usageMetadata":{"promptTokenCount":-1}}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":null},"thoughtSignature":"__sig_"}]}}]}`,
		`null`, `[]`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := parseResponse(body, "m", testNow)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			return
		}
		if len(resp.Choices) == 0 {
			t.Fatal("accepted body yields no choices")
		}
		for _, ch := range resp.Choices {
			for _, tc := range ch.Message.ToolCalls {
				if tc.ID == "" {
					t.Fatal("tool call without an ID")
				}
				splitCallID(tc.ID)
			}
		}
	})
}

func TestParseResponseNoFinishReason(t *testing.T) {
	resp, err := parseResponse([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}`), "m", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if fr := resp.Choices[0].FinishReason; fr != provider.FinishToolCalls {
		t.Errorf("finish reason = %q, want tool_calls when Gemini leaves it out", fr)
	}
}
