package e2e_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// TestTranslation sends each client format to an upstream of another
// format: OpenAI client → Anthropic, Anthropic client → OpenAI, both →
// Gemini. The fakes check the wire format they receive; the SDKs check the
// one they get back.
func TestTranslation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Text: "Translated from Anthropic.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 21, OutputTokens: 4}})
	g.upstream("claude", chorus.ProviderAnthropic, ant.URL(), "claude-upstream", "sk-ant-secret")
	oai := openaitest.New(t)
	g.upstream("gpt", chorus.ProviderOpenAI, oai.URL(), "gpt-upstream", "sk-openai-secret")
	gem := geminitest.New(t)
	gem.Script(conformance.Scenario{Text: "Hello from Gemini, translated.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 13, OutputTokens: 6}})
	g.upstream("gemini", chorus.ProviderGemini, gem.URL(), "gemini-upstream", "goog-secret")
	key := g.customer()
	oc, ac := g.openAI(key.Key), g.anthropic(key.Key)
	ctx := testContext(t, 60*time.Second)

	t.Run("OpenAIToAnthropic", func(t *testing.T) {
		p := openai.ChatCompletionNewParams{Model: "claude", Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Be brief."), openai.UserMessage("Hello?"),
		}, MaxTokens: openai.Int(100), Temperature: openai.Float(0.5)}
		resp, err := oc.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Translated from Anthropic." || resp.Choices[0].FinishReason != "stop" {
			t.Errorf("answer %q finish %q", got, resp.Choices[0].FinishReason)
		}
		if resp.Usage.PromptTokens != 21 || resp.Usage.CompletionTokens != 4 || resp.Object != "chat.completion" {
			t.Errorf("usage %+v object %q; want 21/4 chat.completion", resp.Usage, resp.Object)
		}
		last := ant.Last()
		if last.Model != "claude-upstream" || last.System != "Be brief." || last.MaxTokens != 100 ||
			last.Temperature == nil || *last.Temperature != 0.5 {
			t.Errorf("upstream got model %q system %q max_tokens %d temperature %v", last.Model, last.System, last.MaxTokens, last.Temperature)
		}
		if len(last.Messages) != 1 || last.Messages[0].Role != "user" || last.Messages[0].Text != "Hello?" {
			t.Errorf("upstream messages = %+v, want the user message", last.Messages)
		}
		if last.Header.Get("X-Api-Key") != "sk-ant-secret" {
			t.Errorf("upstream x-api-key = %q", last.Header.Get("X-Api-Key"))
		}

		pp := p
		pp.StreamOptions.IncludeUsage = openai.Bool(true)
		s := collectOpenAI(t, oc.Chat.Completions.NewStreaming(ctx, pp))
		if got := s.acc.Choices[0].Message.Content; got != "Translated from Anthropic." {
			t.Errorf("streamed %q", got)
		}
		if s.usageChunks != 1 || s.acc.Usage.PromptTokens != 21 || s.acc.Usage.CompletionTokens != 4 {
			t.Errorf("streamed usage %+v in %d chunks, want 21/4 once", s.acc.Usage, s.usageChunks)
		}
		if !ant.Last().Stream {
			t.Error("upstream call was not streamed")
		}
	})

	t.Run("AnthropicToOpenAI", func(t *testing.T) {
		p := messageParams("gpt", "Hi there")
		p.System = []anthropic.TextBlockParam{{Text: "You are terse."}}
		p.StopSequences = []string{"END"}
		m, err := ac.Messages.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if textOf(m) != "Hello from the fake." || m.StopReason != anthropic.StopReasonEndTurn {
			t.Errorf("text %q stop %q", textOf(m), m.StopReason)
		}
		if m.Usage.InputTokens != 9 || m.Usage.OutputTokens != 5 {
			t.Errorf("usage %d/%d, want 9/5", m.Usage.InputTokens, m.Usage.OutputTokens)
		}
		last := oai.Last()
		if last.System != "You are terse." || last.Model != "gpt-upstream" || !slices.Equal(last.Stop, []string{"END"}) {
			t.Errorf("upstream got system %q model %q stop %v", last.System, last.Model, last.Stop)
		}
		var body struct {
			Messages []struct {
				Role    string          `json:"role"`
				Content json.RawMessage `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(last.Body, &body); err != nil || len(body.Messages) != 2 ||
			(body.Messages[0].Role != "system" && body.Messages[0].Role != "developer") || body.Messages[1].Role != "user" {
			t.Errorf("upstream messages = %s, want a system message then the user's", last.Body)
		}
		if last.Header.Get("Authorization") != "Bearer sk-openai-secret" {
			t.Errorf("upstream Authorization = %q", last.Header.Get("Authorization"))
		}

		s := collectAnthropic(t, ac.Messages.NewStreaming(ctx, p))
		if textOf(&s.msg) != "Hello from the fake." || s.msg.Usage.InputTokens != 9 || s.msg.Usage.OutputTokens != 5 {
			t.Errorf("streamed text %q usage %d/%d", textOf(&s.msg), s.msg.Usage.InputTokens, s.msg.Usage.OutputTokens)
		}
		checkEventOrder(t, s.events)
		if oai.Last().System != "You are terse." || !oai.Last().Stream {
			t.Errorf("streamed upstream call: system %q stream %v", oai.Last().System, oai.Last().Stream)
		}
	})

	t.Run("AnthropicToolsToOpenAI", func(t *testing.T) {
		oai.Script(conformance.Scenario{ToolCalls: []provider.ToolCall{{ID: "call_up1", Name: "get_weather", Arguments: `{"city":"Lyon"}`}},
			FinishReason: provider.FinishToolCalls, Usage: provider.Usage{InputTokens: 30, OutputTokens: 8}})
		t.Cleanup(func() {
			oai.Script(conformance.Scenario{Text: "Hello from the fake.", FinishReason: provider.FinishStop,
				Usage: provider.Usage{InputTokens: 9, OutputTokens: 5}})
		})
		p := messageParams("gpt", "Weather in Lyon?")
		p.Tools = []anthropic.ToolUnionParam{anthropicWeatherTool()}
		for _, stream := range []bool{false, true} {
			var m *anthropic.Message
			if stream {
				m = &collectAnthropic(t, ac.Messages.NewStreaming(ctx, p)).msg
			} else {
				var err error
				if m, err = ac.Messages.New(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			var tu *anthropic.ContentBlockUnion
			for i := range m.Content {
				if m.Content[i].Type == "tool_use" {
					tu = &m.Content[i]
				}
			}
			if tu == nil || tu.ID != "call_up1" || tu.Name != "get_weather" || strings.ReplaceAll(string(tu.Input), " ", "") != `{"city":"Lyon"}` {
				t.Errorf("stream %v: content %+v, want the upstream's get_weather call", stream, m.Content)
			}
			if m.StopReason != anthropic.StopReasonToolUse {
				t.Errorf("stream %v: stop %q, want tool_use", stream, m.StopReason)
			}
			if !slices.Equal(oai.Last().ToolNames, []string{"get_weather"}) {
				t.Errorf("stream %v: upstream tools %v", stream, oai.Last().ToolNames)
			}
		}
	})

	t.Run("ToGemini", func(t *testing.T) {
		p := chatParams("gemini", "Bonjour?")
		p.Messages = append([]openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Reply kindly.")}, p.Messages...)
		resp, err := oc.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != "Hello from Gemini, translated." || resp.Usage.PromptTokens != 13 || resp.Usage.CompletionTokens != 6 {
			t.Errorf("OpenAI client: %q usage %+v", got, resp.Usage)
		}
		last := gem.Last()
		if last.Model != "gemini-upstream" || last.System != "Reply kindly." || last.Header.Get("X-Goog-Api-Key") != "goog-secret" {
			t.Errorf("upstream got model %q system %q key %q", last.Model, last.System, last.Header.Get("X-Goog-Api-Key"))
		}

		pp := p
		pp.StreamOptions.IncludeUsage = openai.Bool(true)
		s := collectOpenAI(t, oc.Chat.Completions.NewStreaming(ctx, pp))
		if got := s.acc.Choices[0].Message.Content; got != "Hello from Gemini, translated." || s.usageChunks != 1 || s.acc.Usage.CompletionTokens != 6 {
			t.Errorf("OpenAI stream: %q usage %+v (%d chunks)", got, s.acc.Usage, s.usageChunks)
		}

		ap := messageParams("gemini", "Bonjour?")
		ap.System = []anthropic.TextBlockParam{{Text: "Reply kindly."}}
		m, err := ac.Messages.New(ctx, ap)
		if err != nil {
			t.Fatal(err)
		}
		if textOf(m) != "Hello from Gemini, translated." || m.Usage.InputTokens != 13 || m.Usage.OutputTokens != 6 {
			t.Errorf("Anthropic client: %q usage %d/%d", textOf(m), m.Usage.InputTokens, m.Usage.OutputTokens)
		}
		as := collectAnthropic(t, ac.Messages.NewStreaming(ctx, ap))
		if textOf(&as.msg) != "Hello from Gemini, translated." || as.msg.Usage.OutputTokens != 6 {
			t.Errorf("Anthropic stream: %q usage %d/%d", textOf(&as.msg), as.msg.Usage.InputTokens, as.msg.Usage.OutputTokens)
		}
		checkEventOrder(t, as.events)
		if gem.Last().System != "Reply kindly." || !gem.Last().Stream {
			t.Errorf("streamed upstream call: system %q stream %v", gem.Last().System, gem.Last().Stream)
		}
	})
}
