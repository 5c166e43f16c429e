package anthropictest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// The official SDK is the judge of whether the fake speaks Anthropic's
// wire format.

func sdkClient(s *anthropictest.Server) sdk.Client {
	return sdk.NewClient(option.WithBaseURL(s.URL()), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

func params() sdk.MessageNewParams {
	return sdk.MessageNewParams{
		Model: "claude-fake", MaxTokens: 64,
		System:   []sdk.TextBlockParam{{Text: "One."}, {Text: "Two."}},
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Hi"))},
	}
}

var scenario = conformance.Scenario{
	Text:         "A fairly long answer that the fake streams in pieces.",
	ToolCalls:    []provider.ToolCall{{ID: "toolu_1", Name: "f", Arguments: `{"city":"Paris","days":3}`}},
	FinishReason: provider.FinishToolCalls,
	Usage:        provider.Usage{InputTokens: 20, OutputTokens: 9, CachedInputTokens: 5},
}

func TestFakeStreamSDK(t *testing.T) {
	s := anthropictest.NewServer(t)
	s.Script(scenario)
	client := sdkClient(s)
	stream := client.Messages.NewStreaming(context.Background(), params())
	var msg sdk.Message
	for stream.Next() {
		ev := stream.Current()
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Text != scenario.Text || string(msg.Content[1].Input) != `{"city":"Paris","days":3}` {
		t.Errorf("content = %+v", msg.Content)
	}
	if msg.StopReason != sdk.StopReasonToolUse || msg.Usage.InputTokens != 15 || msg.Usage.CacheReadInputTokens != 5 || msg.Usage.OutputTokens != 9 {
		t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}
	c := s.Last()
	if !c.Stream || c.System != "One.\nTwo." || c.Model != "claude-fake" || c.MaxTokens != 64 || len(c.Messages) != 1 {
		t.Errorf("captured = %+v", c)
	}
	if !strings.Contains(string(c.Body), `"stream":true`) {
		t.Errorf("captured body %s lacks stream", c.Body)
	}
}

func TestFakeMidStreamErrorSDK(t *testing.T) {
	s := anthropictest.NewServer(t)
	sc := scenario
	sc.StreamErrorAfter, sc.ErrType, sc.ErrMessage = 1, "overloaded_error", "Overloaded"
	s.Script(sc)
	client := sdkClient(s)
	stream := client.Messages.NewStreaming(context.Background(), params())
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "Overloaded") {
		t.Fatalf("stream error = %v, want the overloaded error event", err)
	}
}

func TestFakeErrorsSDK(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		errType  string
		wantType string
	}{
		{"Overloaded529", 529, "overloaded_error", "overloaded_error"},
		{"RateLimit", 429, "rate_limit_error", "rate_limit_error"},
		{"TooLarge", 413, "request_too_large", "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := anthropictest.NewServer(t)
			s.Script(conformance.Scenario{Status: tt.status, ErrType: tt.errType, ErrMessage: "nope", RetryAfter: "1"})
			client := sdkClient(s)
			_, err := client.Messages.New(context.Background(), params())
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an SDK API error", err)
			}
			if apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.wantType {
				t.Errorf("status %d type %q, want %d %q", apiErr.StatusCode, apiErr.Type(), tt.status, tt.wantType)
			}
			if got := apiErr.Response.Header.Get("retry-after"); got != "1" {
				t.Errorf("retry-after = %q, want 1", got)
			}
		})
	}
}

// TestFakeRejects checks the fake refuses what Anthropic refuses, so an
// adapter sending it cannot pass by accident.
func TestFakeRejects(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		header     map[string]string
		body       string
		wantStatus int
		wantType   string
	}{
		{"NoAPIKey", "/v1/messages", map[string]string{"anthropic-version": "2023-06-01"},
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, 401, "authentication_error"},
		{"NoVersion", "/v1/messages", map[string]string{"x-api-key": "k"},
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"WrongPath", "/v1/chat/completions", map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"},
			`{}`, 404, "not_found_error"},
		{"NoMaxTokens", "/v1/messages", map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"},
			`{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"ToolRole", "/v1/messages", map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"},
			`{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}`, 400, "invalid_request_error"},
		{"CountTokensMaxTokens", "/v1/messages/count_tokens", map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"},
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error"},
		{"EmptyTextBlock", "/v1/messages", map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"},
			`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := anthropictest.NewServer(t)
			req, _ := http.NewRequest(http.MethodPost, s.URL()+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), `"type":"`+tt.wantType+`"`) {
				t.Errorf("got %d %s, want %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantType)
			}
		})
	}
}
