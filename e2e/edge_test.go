package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	oaissestream "github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// TestMidStreamError checks an upstream that fails after the first bytes:
// the client gets what was streamed, then an error event carrying the
// upstream's message, and the usage log records the failure.
func TestMidStreamError(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	oai := openaitest.New(t)
	oai.Script(conformance.Scenario{Text: "one two three four five six", FinishReason: provider.FinishStop,
		StreamErrorAfter: 2, ErrType: "server_error", ErrMessage: "upstream exploded mid-stream"})
	g.upstream("gpt", chorus.ProviderOpenAI, oai.URL(), "gpt-up", "sk-1")
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Text: "a long answer that will not finish", FinishReason: provider.FinishStop,
		StreamErrorAfter: 2, ErrType: "overloaded_error", ErrMessage: "Overloaded right now"})
	g.upstream("claude", chorus.ProviderAnthropic, ant.URL(), "claude-up", "sk-2")
	key := g.customer()
	ctx := testContext(t, 30*time.Second)

	t.Run("OpenAIClient", func(t *testing.T) {
		var log exchangeLog
		s := g.openAI(key.Key).Chat.Completions.NewStreaming(ctx, chatParams("gpt", "go"), log.openAI())
		var text strings.Builder
		for s.Next() {
			if c := s.Current(); len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		if text.String() != "one two " {
			t.Errorf("text before the error = %q, want %q", text.String(), "one two ")
		}
		var se *oaissestream.StreamError
		if !errors.As(s.Err(), &se) {
			t.Fatalf("stream error = %v (%T), want an error event", s.Err(), s.Err())
		}
		var ev apiError
		if err := json.Unmarshal(se.Event.Data, &ev); err != nil {
			t.Fatalf("error event %s: %v", se.Event.Data, err)
		}
		if ev.Error.Type != "upstream_error" || !strings.Contains(ev.Error.Message, "upstream exploded mid-stream") {
			t.Errorf("error event = %s, want type upstream_error with the upstream's message", se.Event.Data)
		}
		recs := g.waitUsage(key.ID, 1)
		if r := recs[0]; r.Status != http.StatusBadGateway || r.ErrorCode != chorus.EUPSTREAM || r.RequestID != log.Header().Get("X-Request-Id") {
			t.Errorf("usage = status %d code %q, want 502 upstream", r.Status, r.ErrorCode)
		}
	})

	t.Run("AnthropicClient", func(t *testing.T) {
		s := g.anthropic(key.Key).Messages.NewStreaming(ctx, messageParams("claude", "go"))
		var msg anthropic.Message
		for s.Next() {
			if err := msg.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		var e *anthropic.Error
		if !errors.As(s.Err(), &e) {
			t.Fatalf("stream error = %v (%T), want *anthropic.Error", s.Err(), s.Err())
		}
		if e.Type() != "overloaded_error" || !strings.Contains(e.RawJSON(), "Overloaded right now") {
			t.Errorf("error event = %s (type %q), want overloaded_error with the upstream's message", e.RawJSON(), e.Type())
		}
		if textOf(&msg) == "" {
			t.Error("no text before the error")
		}
	})
}

// TestFallback checks a failing deployment falls back to a healthy one of
// the same model, for plain and streamed requests, and the usage names the
// deployment that answered.
func TestFallback(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	m := g.createModel(modelSpec{Name: "ha"})
	g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "ha-broken", Provider: "simulator",
		Settings: map[string]any{"error_rate": 1, "error_status": 503}})
	g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "ha-ok", Provider: "simulator",
		Settings: map[string]any{"text": "still up"}, InputPrice: 1_000_000})
	key := g.customer()
	c := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)

	const n = 12
	attempts := map[string]int{}
	for i := range n {
		var raw *http.Response
		var content string
		if i%2 == 0 {
			resp, err := c.Chat.Completions.New(ctx, chatParams("ha", "hi"), option.WithResponseInto(&raw))
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			content = resp.Choices[0].Message.Content
		} else {
			var log exchangeLog
			s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, chatParams("ha", "hi"), log.openAI()))
			content = s.acc.Choices[0].Message.Content
			raw = &http.Response{Header: log.Header()}
		}
		if content != "still up" || raw.Header.Get("X-Chorus-Deployment") != "ha-ok" {
			t.Errorf("request %d: %q from %q, want still up from ha-ok", i, content, raw.Header.Get("X-Chorus-Deployment"))
		}
		attempts[raw.Header.Get("X-Chorus-Attempts")]++
	}
	if attempts["1"]+attempts["2"] != n || attempts["2"] == 0 {
		t.Errorf("X-Chorus-Attempts counts = %v; want only 1 and 2, and some 2 (the broken deployment is tried first about half the time)", attempts)
	}
	for _, r := range g.waitUsage(key.ID, n) {
		if r.Status != 200 || r.Deployment != "ha-ok" || r.Cost <= 0 {
			t.Errorf("usage %+v, want 200 from ha-ok with a cost", r)
		}
	}
}

// TestConcurrentTraffic runs many clients at once, mixing formats and
// streaming: every request succeeds and is recorded exactly once.
func TestConcurrentTraffic(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", map[string]any{"output_tokens": 20, "tokens_per_second": 400, "seed": 9})
	key := g.customer()
	oc, ac := g.openAI(key.Key), g.anthropic(key.Key)
	ctx := testContext(t, 30*time.Second)

	const workers, each = 16, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				prompt := fmt.Sprintf("worker %d request %d", w, i)
				var got int64
				switch (w + i) % 4 {
				case 0:
					resp, err := oc.Chat.Completions.New(ctx, chatParams("sim", prompt))
					if err != nil {
						errs <- err
						continue
					}
					got = resp.Usage.CompletionTokens
				case 1:
					p := chatParams("sim", prompt)
					p.StreamOptions.IncludeUsage = openai.Bool(true)
					s := oc.Chat.Completions.NewStreaming(ctx, p)
					var acc openai.ChatCompletionAccumulator
					for s.Next() {
						acc.AddChunk(s.Current())
					}
					if err := s.Err(); err != nil {
						errs <- err
						continue
					}
					got = acc.Usage.CompletionTokens
				case 2:
					m, err := ac.Messages.New(ctx, messageParams("sim", prompt))
					if err != nil {
						errs <- err
						continue
					}
					got = m.Usage.OutputTokens
				case 3:
					s := ac.Messages.NewStreaming(ctx, messageParams("sim", prompt))
					var m anthropic.Message
					for s.Next() {
						_ = m.Accumulate(s.Current())
					}
					if err := s.Err(); err != nil {
						errs <- err
						continue
					}
					got = m.Usage.OutputTokens
				}
				if got != 20 {
					errs <- fmt.Errorf("%s: %d output tokens, want 20", prompt, got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	recs := g.waitUsage(key.ID, workers*each)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.RequestID] {
			t.Errorf("request %s recorded twice", r.RequestID)
		}
		seen[r.RequestID] = true
		if r.Status != 200 || r.OutputTokens != 20 {
			t.Errorf("usage %+v, want 200 with 20 output tokens", r)
		}
	}
}

// TestMetering checks usage the client did not see is still metered: a
// passthrough stream without include_usage, an Anthropic passthrough
// stream, and a request the client abandoned before any byte.
func TestMetering(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	oai := openaitest.New(t)
	g.upstream("gpt", chorus.ProviderOpenAI, oai.URL(), "gpt-up", "sk-1")
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Text: "metered answer", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 11, OutputTokens: 7}})
	g.upstream("claude", chorus.ProviderAnthropic, ant.URL(), "claude-up", "sk-2")
	g.simulated("slow", map[string]any{"latency_ms": 5000})
	key := g.customer()
	ctx := testContext(t, 30*time.Second)

	var log exchangeLog
	collectOpenAI(t, g.openAI(key.Key).Chat.Completions.NewStreaming(ctx, chatParams("gpt", "hi"), log.openAI()))
	streamID := log.Header().Get("X-Request-Id")
	collectAnthropic(t, g.anthropic(key.Key).Messages.NewStreaming(ctx, messageParams("claude", "hi"), log.anthropic()))
	anthropicID := log.Header().Get("X-Request-Id")

	// Abandon a slow, non-streamed request before it answers.
	actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := g.openAI(key.Key).Chat.Completions.New(actx, chatParams("slow", "hi"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned request: %v, want the client's deadline", err)
	}

	recs := g.waitUsage(key.ID, 3)
	byModel := map[string]chorus.Usage{}
	for _, r := range recs {
		byModel[r.Model] = r
	}
	if r := byModel["gpt"]; r.RequestID != streamID || r.InputTokens != 9 || r.OutputTokens != 5 || r.Status != 200 ||
		r.Cost != chorus.RequestCost(9, 5, 3_000_000, 15_000_000) {
		t.Errorf("passthrough stream without include_usage: %+v, want the upstream's 9/5 and its cost", r)
	}
	if r := byModel["claude"]; r.RequestID != anthropicID || r.InputTokens != 11 || r.OutputTokens != 7 || r.Status != 200 {
		t.Errorf("Anthropic passthrough stream: %+v, want 11/7", r)
	}
	if r := byModel["slow"]; r.Status != 499 || r.OutputTokens != 0 || r.Cost != 0 {
		t.Errorf("abandoned request: %+v, want status 499 and nothing billed", r)
	}
}

// TestOpenAIClientToolsAcrossFormats checks tool calls from Anthropic and
// Gemini upstreams reach an OpenAI client, streamed and not.
func TestOpenAIClientToolsAcrossFormats(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Text: "Let me look.", ToolCalls: []provider.ToolCall{{ID: "toolu_01", Name: "get_weather", Arguments: `{"city":"Rome"}`}},
		FinishReason: provider.FinishToolCalls, Usage: provider.Usage{InputTokens: 40, OutputTokens: 12}})
	g.upstream("claude", chorus.ProviderAnthropic, ant.URL(), "claude-up", "sk-ant")
	key := g.customer()
	c := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)

	p := chatParams("claude", "Weather in Rome?")
	p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
	resp, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.FinishReason != "tool_calls" || ch.Message.Content != "Let me look." || len(ch.Message.ToolCalls) != 1 {
		t.Fatalf("choice = %+v, want text and one call", ch)
	}
	checkWeatherCall(t, ch.Message.ToolCalls[0].ID, ch.Message.ToolCalls[0].Type, ch.Message.ToolCalls[0].Function.Name,
		ch.Message.ToolCalls[0].Function.Arguments, "Rome")
	if ch.Message.ToolCalls[0].ID != "toolu_01" {
		t.Errorf("call id = %q, want the upstream's toolu_01", ch.Message.ToolCalls[0].ID)
	}

	s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p))
	sc := s.acc.Choices[0]
	if sc.FinishReason != "tool_calls" || sc.Message.Content != "Let me look." || len(sc.Message.ToolCalls) != 1 ||
		sc.Message.ToolCalls[0].ID != "toolu_01" || sc.Message.ToolCalls[0].Function.Arguments != `{"city":"Rome"}` {
		t.Errorf("streamed choice = %+v, want text and the call with its arguments", sc)
	}

	// The tool result goes back to Anthropic as a tool_result block.
	p.Messages = append(p.Messages, ch.Message.ToParam(), openai.ToolMessage("18 degrees", "toolu_01"))
	ant.Script(conformance.Scenario{Text: "It is 18 degrees.", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 60, OutputTokens: 6}})
	f, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Choices[0].Message.Content != "It is 18 degrees." {
		t.Errorf("follow-up = %q", f.Choices[0].Message.Content)
	}
	msgs := ant.Last().Messages
	if len(msgs) != 3 || msgs[1].Role != "assistant" || len(msgs[1].ToolCallIDs) != 1 || msgs[1].ToolCallIDs[0] != "toolu_01" ||
		msgs[2].ToolResult != "toolu_01" {
		t.Errorf("upstream messages = %+v, want user, assistant with the call, the tool result", msgs)
	}
}

// TestAnthropicErrorShapes checks the Messages endpoint answers every
// gateway error in Anthropic's shape.
func TestAnthropicErrorShapes(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", nil)
	g.simulated("other", nil)
	restricted := g.customer("sim")
	c := g.anthropic(restricted.Key)
	ctx := testContext(t, 30*time.Second)

	_, err := c.Messages.New(ctx, messageParams("other", "hi"))
	wantAnthropicError(t, err, 403, "permission_error")

	p := messageParams("sim", strings.Repeat("x", 9<<20))
	_, err = c.Messages.New(ctx, p)
	wantAnthropicError(t, err, 413, "request_too_large")

	_, err = c.Messages.New(ctx, anthropic.MessageNewParams{Model: "sim", MaxTokens: 10, Messages: []anthropic.MessageParam{}},
		anthropicoption.WithJSONSet("messages", []any{}))
	wantAnthropicError(t, err, 400, "invalid_request_error")

	pp := messageParams("sim", "hi")
	pp.MaxTokens = 1001 // the model's max_output_tokens is 1000
	_, err = c.Messages.New(ctx, pp)
	wantAnthropicError(t, err, 400, "invalid_request_error")

	// The request ID is on error answers too, for support.
	var raw *http.Response
	_, err = c.Messages.New(ctx, messageParams("other", "hi"), anthropicoption.WithResponseInto(&raw))
	var e *anthropic.Error
	if !errors.As(err, &e) || !requestIDPattern.MatchString(e.Response.Header.Get("X-Request-Id")) {
		t.Errorf("error answer without X-Request-Id: %v", err)
	}
}
