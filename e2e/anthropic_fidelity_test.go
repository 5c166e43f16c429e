package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// TestAnthropicFidelity drives the Anthropic wire details coding agents
// rely on with the official SDK: count_tokens, the client's version and
// beta headers, mid-conversation system messages, and message_start's
// input tokens from an upstream that reports usage only at the end.
func TestAnthropicFidelity(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", map[string]any{"output_tokens": 6, "seed": 1})
	fake := anthropictest.NewServer(t)
	fake.Script(conformance.Scenario{Text: "Bonjour.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 11, OutputTokens: 2}})
	g.upstream("claude", chorus.ProviderAnthropic, fake.URL(), "claude-upstream", "sk-ant-secret")
	oai := openaitest.New(t)
	oai.Script(conformance.Scenario{Text: "Hello there, friend.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 42, OutputTokens: 5}})
	g.upstream("gpt", chorus.ProviderOpenAI, oai.URL(), "gpt-upstream", "sk-oai-secret")
	c := g.anthropic(g.customer().Key)
	ctx := testContext(t, 60*time.Second)

	countParams := func(model string) anthropic.MessageCountTokensParams {
		return anthropic.MessageCountTokensParams{
			Model:    anthropic.Model(model),
			System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("Be brief.")},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("How many tokens is this?"))},
			Tools:    []anthropic.MessageCountTokensToolUnionParam{{OfTool: anthropicWeatherTool().OfTool}},
		}
	}

	t.Run("CountTokensForwarded", func(t *testing.T) {
		n, err := c.Messages.CountTokens(ctx, countParams("claude"))
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens != 11 {
			t.Errorf("input tokens = %d, want the upstream's 11", n.InputTokens)
		}
		last := fake.Last()
		if last.Path != "/v1/messages/count_tokens" || !strings.Contains(string(last.Body), `"model":"claude-upstream"`) {
			t.Errorf("upstream got %s %s", last.Path, last.Body)
		}
	})

	t.Run("CountTokensLocal", func(t *testing.T) {
		with, err := c.Messages.CountTokens(ctx, countParams("sim"))
		if err != nil {
			t.Fatal(err)
		}
		p := countParams("sim")
		p.Tools = nil
		without, err := c.Messages.CountTokens(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if without.InputTokens < 10 || with.InputTokens <= without.InputTokens {
			t.Errorf("input tokens = %d with tools, %d without; want a count with the tools counted", with.InputTokens, without.InputTokens)
		}
	})

	t.Run("CountTokensUnknownModel", func(t *testing.T) {
		_, err := c.Messages.CountTokens(ctx, countParams("no-such-model"))
		var e *anthropic.Error
		if !asAnthropicError(err, &e) || e.StatusCode != 404 || !strings.Contains(e.RawJSON(), "not_found_error") {
			t.Errorf("error = %v, want Anthropic's 404 not_found_error", err)
		}
	})

	t.Run("VersionAndBetaForwarded", func(t *testing.T) {
		_, err := c.Messages.New(ctx, messageParams("claude", "Hi"),
			anthropicoption.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14"))
		if err != nil {
			t.Fatal(err)
		}
		h := fake.Last().Header
		if h.Get("Anthropic-Beta") != "interleaved-thinking-2025-05-14" || h.Get("Anthropic-Version") != "2023-06-01" {
			t.Errorf("upstream anthropic-beta %q anthropic-version %q", h.Get("Anthropic-Beta"), h.Get("Anthropic-Version"))
		}
	})

	t.Run("MidConversationSystem", func(t *testing.T) {
		p := messageParams("claude", "Hi")
		p.Messages = append(p.Messages,
			anthropic.NewAssistantMessage(anthropic.NewTextBlock("Hello.")),
			anthropic.NewUserMessage(anthropic.NewTextBlock("And now?")),
			anthropic.MessageParam{Role: anthropic.MessageParamRoleSystem, Content: []anthropic.ContentBlockParamUnion{anthropic.NewTextBlock("Answer in French.")}})
		if _, err := c.Messages.New(ctx, p); err != nil {
			t.Fatalf("to an Anthropic upstream: %v", err)
		}
		if !strings.Contains(string(fake.Last().Body), `"role":"system"`) {
			t.Errorf("upstream body %s lost the system message", fake.Last().Body)
		}
		p.Model = "gpt"
		if _, err := c.Messages.New(ctx, p); err != nil {
			t.Fatalf("to an OpenAI upstream: %v", err)
		}
		var sent struct {
			Messages []struct{ Role string } `json:"messages"`
		}
		_ = json.Unmarshal(oai.Last().Body, &sent)
		if n := len(sent.Messages); n != 4 || sent.Messages[n-1].Role != "system" {
			t.Errorf("OpenAI upstream messages = %+v, want the system message last, in place", sent.Messages)
		}
	})

	t.Run("MessageStartInputTokens", func(t *testing.T) {
		stream := c.Messages.NewStreaming(ctx, messageParams("gpt", "Tell me a story about a long journey"))
		defer stream.Close()
		var start, final int64 = -1, -1
		var msg anthropic.Message
		for stream.Next() {
			ev := stream.Current()
			if ev.Type == "message_start" {
				start = ev.Message.Usage.InputTokens
			}
			if err := msg.Accumulate(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		final = msg.Usage.InputTokens
		if start < 5 || final != 42 || msg.Usage.OutputTokens != 5 {
			t.Errorf("message_start input %d, final input %d output %d; want a count > 0, then the upstream's 42 and 5", start, final, msg.Usage.OutputTokens)
		}
	})
}

func asAnthropicError(err error, target **anthropic.Error) bool {
	e, ok := err.(*anthropic.Error)
	if ok {
		*target = e
	}
	return ok
}
