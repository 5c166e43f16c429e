package openai_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

func newResponsesClient(t *testing.T, baseURL string) *openai.Client {
	t.Helper()
	c, err := openai.New(provider.Config{
		BaseURL:    baseURL,
		APIKey:     "sk-test",
		Settings:   map[string]any{"api": "responses"},
		HTTPClient: &http.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConformanceResponsesDeployment runs the suite against a deployment in
// Responses mode: requests from chat clients still go to chat completions.
func TestConformanceResponsesDeployment(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Name:        "openai-responses-mode",
		Format:      provider.FormatOpenAI,
		NewFake:     func(t *testing.T) conformance.Fake { return openaitest.New(t) },
		NewProvider: func(t *testing.T, baseURL string) provider.Provider { return newResponsesClient(t, baseURL) },
		Images:      true,
	})
}

func TestResponsesSettingRefused(t *testing.T) {
	for name, cfg := range map[string]provider.Config{
		"UnknownAPI": {Settings: map[string]any{"api": "assistants"}},
		"Azure":      {Kind: chorus.ProviderAzure, BaseURL: "https://x.openai.azure.com", Settings: map[string]any{"api": "responses"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := openai.New(cfg); err == nil {
				t.Error("New accepted the setting")
			}
		})
	}
}

// responsesCall is a canonical request from a Responses client.
func responsesCall(t *testing.T, body string) *provider.ChatRequest {
	t.Helper()
	r, err := openai.DecodeResponsesRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Chat.Model = "upstream-model"
	return r.Chat
}

const upstreamBody = `{"model":"client-model","instructions":"Be terse.","input":[{"role":"user","content":"Weather?"}],"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"max_output_tokens":64,"x_custom":{"a":1}}`

var upstreamScenario = conformance.Scenario{
	Text:         "Checking the weather.",
	ToolCalls:    []provider.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "get_weather", Arguments: `{"city":"Rome"}`}},
	FinishReason: provider.FinishToolCalls,
	Usage:        provider.Usage{InputTokens: 50, OutputTokens: 20, CachedInputTokens: 32, ReasoningTokens: 8},
}

func checkUpstreamCaptured(t *testing.T, f *openaitest.Server, stream bool) {
	t.Helper()
	c := f.Last()
	if c.Path != "/v1/responses" || c.Model != "upstream-model" || c.Stream != stream || c.MaxTokens != 64 || c.System != "Be terse." {
		t.Errorf("captured %s model %q stream %v max %d system %q", c.Path, c.Model, c.Stream, c.MaxTokens, c.System)
	}
	if v, _, _ := jsonscan.GetField(c.Body, "x_custom"); string(v) != `{"a":1}` {
		t.Errorf("x_custom = %s", v)
	}
	if len(c.Messages) != 1 || c.Messages[0].Text != "Weather?" || len(c.ToolNames) != 1 {
		t.Errorf("captured messages %+v tools %v", c.Messages, c.ToolNames)
	}
}

func TestResponsesUpstreamChat(t *testing.T) {
	f := openaitest.New(t)
	f.Script(upstreamScenario)
	c := newResponsesClient(t, f.URL())
	resp, err := c.Chat(context.Background(), responsesCall(t, upstreamBody))
	if err != nil {
		t.Fatal(err)
	}
	checkUpstreamCaptured(t, f, false)
	if resp.RawFormat != provider.FormatOpenAIResponses || !strings.Contains(string(resp.Raw), `"object":"response"`) {
		t.Errorf("raw = %q %s", resp.RawFormat, resp.Raw)
	}
	ch := resp.Choices[0]
	if ch.Message.Text() != upstreamScenario.Text || ch.FinishReason != provider.FinishToolCalls || len(ch.Message.ToolCalls) != 2 {
		t.Errorf("choice = %+v", ch)
	}
	if tc := ch.Message.ToolCalls[1]; tc.ID != "call_2" || tc.Name != "get_weather" || tc.Arguments != `{"city":"Rome"}` {
		t.Errorf("tool call = %+v", tc)
	}
	if resp.Usage != upstreamScenario.Usage || resp.ID != "resp_fake" {
		t.Errorf("usage = %+v, id %q", resp.Usage, resp.ID)
	}
}

func collectStream(t *testing.T, s provider.Stream) ([]*provider.StreamChunk, error) {
	t.Helper()
	defer s.Close()
	var out []*provider.StreamChunk
	for {
		c, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

func TestResponsesUpstreamStream(t *testing.T) {
	f := openaitest.New(t)
	f.Script(upstreamScenario)
	c := newResponsesClient(t, f.URL())
	s, err := c.ChatStream(context.Background(), responsesCall(t, upstreamBody))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collectStream(t, s)
	if err != nil {
		t.Fatal(err)
	}
	checkUpstreamCaptured(t, f, true)
	var text strings.Builder
	args := map[int]string{}
	ids := map[int]string{}
	var usage []provider.Usage
	var finish []provider.FinishReason
	for i, ch := range chunks {
		if ch.RawFormat != provider.FormatOpenAIResponses || len(ch.Raw) == 0 || !strings.HasPrefix(ch.RawEvent, "response.") {
			t.Errorf("chunk %d raw %q event %q", i, ch.RawFormat, ch.RawEvent)
		}
		if ch.Usage != nil {
			usage = append(usage, *ch.Usage)
		}
		for _, cc := range ch.Choices {
			text.WriteString(cc.Content)
			if cc.FinishReason != "" {
				finish = append(finish, cc.FinishReason)
			}
			for _, d := range cc.ToolCalls {
				args[d.Index] += d.Arguments
				if d.ID != "" {
					ids[d.Index] = d.ID + "/" + d.Name
				}
			}
		}
	}
	if text.String() != upstreamScenario.Text || args[0] != `{"city":"Paris"}` || args[1] != `{"city":"Rome"}` ||
		ids[0] != "call_1/get_weather" || ids[1] != "call_2/get_weather" {
		t.Errorf("text %q args %v ids %v", text.String(), args, ids)
	}
	if len(usage) != 1 || usage[0] != upstreamScenario.Usage || len(finish) != 1 || finish[0] != provider.FinishToolCalls {
		t.Errorf("usage %+v finish %v", usage, finish)
	}
	last := chunks[len(chunks)-1]
	if resp, ok := openai.CompletedResponse(last.Raw); !ok || !strings.Contains(string(resp), `"status":"completed"`) {
		t.Errorf("CompletedResponse(%s) = %s, %v", last.Raw, resp, ok)
	}
}

func TestResponsesUpstreamErrors(t *testing.T) {
	f := openaitest.New(t)
	c := newResponsesClient(t, f.URL())
	f.Script(conformance.Scenario{Status: 429, ErrType: "rate_limit_error", ErrMessage: "slow down", RetryAfter: "2"})
	_, err := c.Chat(context.Background(), responsesCall(t, upstreamBody))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Status != 429 || !pe.Retryable() || pe.RetryAfter != 2*time.Second || pe.Message != "slow down" {
		t.Errorf("status error = %#v", err)
	}
	f.Script(conformance.Scenario{Text: "one two three four", FinishReason: provider.FinishStop, StreamErrorAfter: 2, ErrType: "server_error", ErrMessage: "boom"})
	s, err := c.ChatStream(context.Background(), responsesCall(t, upstreamBody))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := collectStream(t, s)
	if !errors.As(err, &pe) || pe.Type != "server_error" || pe.Message != "boom" || len(chunks) == 0 {
		t.Errorf("mid-stream error = %#v after %d chunks", err, len(chunks))
	}
}

func TestResponsesUpstreamIncomplete(t *testing.T) {
	f := openaitest.New(t)
	f.Script(conformance.Scenario{Text: "cut", FinishReason: provider.FinishLength, Usage: provider.Usage{InputTokens: 1, OutputTokens: 64}})
	c := newResponsesClient(t, f.URL())
	resp, err := c.Chat(context.Background(), responsesCall(t, upstreamBody))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != provider.FinishLength {
		t.Errorf("finish = %q", resp.Choices[0].FinishReason)
	}
}
