package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// messageParams is a one-message Messages request.
func messageParams(model, prompt string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 256,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
	}
}

func anthropicWeatherTool() anthropic.ToolUnionParam {
	return anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
		Name:        "get_weather",
		Description: anthropic.String("Current weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"city": map[string]any{"type": "string"}},
			Required:   []string{"city"},
		},
	}}
}

// textOf joins the text blocks of a message.
func textOf(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// TestAnthropicMessages drives /v1/messages with the official Anthropic SDK:
// against the simulator (the gateway encodes Anthropic's format) and
// against the Anthropic fake (passthrough, relayed byte for byte).
func TestAnthropicMessages(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", map[string]any{"output_tokens": 12, "seed": 1})
	g.simulated("sim-429", map[string]any{"error_rate": 1, "error_status": 429})
	fake := anthropictest.NewServer(t)
	fake.Script(conformance.Scenario{Text: "Bonjour from the fake Anthropic upstream.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 11, OutputTokens: 7}})
	const upstreamSecret = "sk-ant-upstream-secret-5678"
	g.upstream("claude", chorus.ProviderAnthropic, fake.URL(), "claude-upstream", upstreamSecret)
	key := g.customer()
	c := g.anthropic(key.Key)
	ctx := testContext(t, 60*time.Second)

	const prompt = "Tell me about gateways"
	var raw *http.Response
	want, err := c.Messages.New(ctx, messageParams("sim", prompt), anthropicoption.WithResponseInto(&raw))
	if err != nil {
		t.Fatalf("messages: %v", err)
	}

	t.Run("Simulator", func(t *testing.T) {
		if !strings.HasPrefix(want.ID, "msg_") || want.Type != "message" || want.Role != "assistant" {
			t.Errorf("id %q type %q role %q; want msg_…, message, assistant", want.ID, want.Type, want.Role)
		}
		if len(want.Content) != 1 || want.Content[0].Type != "text" {
			t.Fatalf("content = %+v, want one text block", want.Content)
		}
		if n := words(want.Content[0].Text); n != 12 {
			t.Errorf("text = %q (%d words), want 12", want.Content[0].Text, n)
		}
		if want.StopReason != anthropic.StopReasonEndTurn {
			t.Errorf("stop reason = %q, want end_turn", want.StopReason)
		}
		if want.Usage.OutputTokens != 12 || want.Usage.InputTokens < 1 {
			t.Errorf("usage = %d in, %d out; want > 0 and 12", want.Usage.InputTokens, want.Usage.OutputTokens)
		}
		if raw.Header.Get("X-Chorus-Model") != "sim" || raw.Header.Get("X-Chorus-Provider") != "simulator" ||
			!requestIDPattern.MatchString(raw.Header.Get("X-Request-Id")) {
			t.Errorf("headers model %q provider %q request id %q", raw.Header.Get("X-Chorus-Model"),
				raw.Header.Get("X-Chorus-Provider"), raw.Header.Get("X-Request-Id"))
		}
	})

	t.Run("SameAnswerAsOpenAI", func(t *testing.T) {
		resp, err := g.openAI(key.Key).Chat.Completions.New(ctx, chatParams("sim", prompt))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content; got != textOf(want) {
			t.Errorf("OpenAI client got %q, Anthropic client %q: one prompt and seed, two answers", got, textOf(want))
		}
		if resp.Usage.PromptTokens != want.Usage.InputTokens {
			t.Errorf("input tokens: OpenAI %d, Anthropic %d", resp.Usage.PromptTokens, want.Usage.InputTokens)
		}
	})

	t.Run("SimulatorStream", func(t *testing.T) {
		var log exchangeLog
		s := collectAnthropic(t, c.Messages.NewStreaming(ctx, messageParams("sim", prompt), log.anthropic()))
		if got := textOf(&s.msg); got != textOf(want) {
			t.Errorf("streamed text = %q, want the non-streamed %q", got, textOf(want))
		}
		if s.msg.Usage.OutputTokens != 12 || s.msg.Usage.InputTokens != want.Usage.InputTokens {
			t.Errorf("streamed usage = %d in, %d out; want %d, 12", s.msg.Usage.InputTokens, s.msg.Usage.OutputTokens, want.Usage.InputTokens)
		}
		if s.msg.StopReason != anthropic.StopReasonEndTurn || !strings.HasPrefix(s.msg.ID, "msg_") {
			t.Errorf("stop reason %q id %q", s.msg.StopReason, s.msg.ID)
		}
		checkEventOrder(t, s.events)
		if ct := log.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("Content-Type = %q", ct)
		}
	})

	t.Run("MaxTokens", func(t *testing.T) {
		p := messageParams("sim", prompt)
		p.MaxTokens = 5
		m, err := c.Messages.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if words(textOf(m)) != 5 || m.StopReason != anthropic.StopReasonMaxTokens || m.Usage.OutputTokens != 5 {
			t.Errorf("text %q, stop %q, output %d; want 5 words, max_tokens, 5", textOf(m), m.StopReason, m.Usage.OutputTokens)
		}
	})

	t.Run("Tools", func(t *testing.T) {
		p := messageParams("sim", "Weather in Paris?")
		p.Tools = []anthropic.ToolUnionParam{anthropicWeatherTool()}
		m, err := c.Messages.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		tu := checkToolUse(t, m, "Weather in Paris?")
		p.Messages = append(p.Messages, m.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "21 degrees and sunny", false)))
		f, err := c.Messages.New(ctx, p)
		if err != nil {
			t.Fatalf("follow-up with the tool result: %v", err)
		}
		if f.StopReason != anthropic.StopReasonEndTurn || words(textOf(f)) != 12 {
			t.Errorf("follow-up = stop %q, text %q; want end_turn and 12 words", f.StopReason, textOf(f))
		}
	})

	t.Run("ToolsStream", func(t *testing.T) {
		p := messageParams("sim", "Weather in Oslo?")
		p.Tools = []anthropic.ToolUnionParam{anthropicWeatherTool()}
		s := collectAnthropic(t, c.Messages.NewStreaming(ctx, p))
		tu := checkToolUse(t, &s.msg, "Weather in Oslo?")
		p.Messages = append(p.Messages, s.msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(tu.ID, "3 degrees and snowing", false)))
		f := collectAnthropic(t, c.Messages.NewStreaming(ctx, p))
		if f.msg.StopReason != anthropic.StopReasonEndTurn || words(textOf(&f.msg)) != 12 {
			t.Errorf("streamed follow-up = stop %q, text %q", f.msg.StopReason, textOf(&f.msg))
		}
	})

	t.Run("Passthrough", func(t *testing.T) {
		var log exchangeLog
		var raw *http.Response
		m, err := c.Messages.New(ctx, messageParams("claude", "Say bonjour"), log.anthropic(), anthropicoption.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != "msg_fake01" || textOf(m) != "Bonjour from the fake Anthropic upstream." {
			t.Errorf("message id %q text %q; want the fake's msg_fake01 and text", m.ID, textOf(m))
		}
		if m.Usage.InputTokens != 11 || m.Usage.OutputTokens != 7 || m.StopReason != anthropic.StopReasonEndTurn {
			t.Errorf("usage %d/%d stop %q; want 11/7 end_turn", m.Usage.InputTokens, m.Usage.OutputTokens, m.StopReason)
		}
		if raw.Header.Get("X-Chorus-Provider") != "anthropic" || raw.Header.Get("X-Chorus-Deployment") != "claude-dep" {
			t.Errorf("headers provider %q deployment %q", raw.Header.Get("X-Chorus-Provider"), raw.Header.Get("X-Chorus-Deployment"))
		}
		last := fake.Last()
		if got := last.Header.Get("X-Api-Key"); got != upstreamSecret {
			t.Errorf("upstream x-api-key = %q, want the deployment's credential", got)
		}
		if last.Header.Get("Anthropic-Version") == "" {
			t.Error("upstream request has no anthropic-version")
		}
		wantBody := bytes.Replace(log.Body(), []byte(`"model":"claude"`), []byte(`"model":"claude-upstream"`), 1)
		if !bytes.Equal(last.Body, wantBody) {
			t.Errorf("upstream body\n%s\nwant the client's with only the model replaced\n%s", last.Body, wantBody)
		}
	})

	t.Run("PassthroughStream", func(t *testing.T) {
		s := collectAnthropic(t, c.Messages.NewStreaming(ctx, messageParams("claude", "Say bonjour")))
		if s.msg.ID != "msg_fake01" || textOf(&s.msg) != "Bonjour from the fake Anthropic upstream." {
			t.Errorf("streamed id %q text %q; want the fake's", s.msg.ID, textOf(&s.msg))
		}
		if s.msg.Usage.InputTokens != 11 || s.msg.Usage.OutputTokens != 7 {
			t.Errorf("streamed usage %d/%d, want 11/7", s.msg.Usage.InputTokens, s.msg.Usage.OutputTokens)
		}

		// Byte for byte: what the gateway relays is what the upstream sent.
		body := `{"model":"claude","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say bonjour"}]}`
		got := g.do("POST", "/v1/messages", "", body, "X-Api-Key", key.Key, "Anthropic-Version", "2023-06-01")
		if got.Status != http.StatusOK {
			t.Fatalf("status %d: %s", got.Status, got.Body)
		}
		direct := strings.Replace(body, `"model":"claude"`, `"model":"claude-upstream"`, 1)
		req, _ := http.NewRequest("POST", fake.URL()+"/v1/messages", strings.NewReader(direct))
		req.Header.Set("X-Api-Key", upstreamSecret)
		req.Header.Set("Anthropic-Version", "2023-06-01")
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		upstream, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got.Body, upstream) {
			t.Errorf("gateway relayed\n%s\nthe upstream sent\n%s", got.Body, upstream)
		}
		if !bytes.Contains(got.Body, []byte("event: ping")) {
			t.Error("the upstream's ping event did not reach the client")
		}
	})

	t.Run("Models", func(t *testing.T) {
		page, err := c.Models.List(ctx, anthropic.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
		}
		if want := []string{"claude", "sim", "sim-429"}; !slices.Equal(ids, want) {
			t.Errorf("models = %v, want %v", ids, want)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		_, err := g.anthropic("sk-ant-not-a-key-000000000000").Messages.New(ctx, messageParams("sim", "hi"))
		wantAnthropicError(t, err, 401, "authentication_error")

		_, err = c.Messages.New(ctx, messageParams("claude-9-nonexistent", "hi"))
		wantAnthropicError(t, err, 404, "not_found_error")

		_, err = c.Messages.New(ctx, messageParams("sim", "hi"), anthropicoption.WithJSONDel("max_tokens"))
		e := wantAnthropicError(t, err, 400, "invalid_request_error")
		if !strings.Contains(e.RawJSON(), "max_tokens") {
			t.Errorf("message %s does not name max_tokens", e.RawJSON())
		}

		_, err = c.Messages.New(ctx, messageParams("sim-429", "hi"))
		e = wantAnthropicError(t, err, 429, "rate_limit_error")
		if e.Response.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}

		s := c.Messages.NewStreaming(ctx, messageParams("sim-429", "hi"))
		for s.Next() {
		}
		wantAnthropicError(t, s.Err(), 429, "rate_limit_error")

		// A body that is not JSON, sent raw.
		r := g.do("POST", "/v1/messages", "", `{"model":`, "X-Api-Key", key.Key, "Anthropic-Version", "2023-06-01")
		var eb struct {
			Type  string `json:"type"`
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		if r.Status != 400 || json.Unmarshal(r.Body, &eb) != nil || eb.Type != "error" || eb.Error.Type != "invalid_request_error" {
			t.Errorf("malformed body: %d %s; want 400 with Anthropic's error shape", r.Status, r.Body)
		}
	})
}

// checkEventOrder checks a Messages stream has Anthropic's event grammar.
func checkEventOrder(t *testing.T, events []string) {
	t.Helper()
	if len(events) < 5 || events[0] != "message_start" || events[len(events)-1] != "message_stop" ||
		events[len(events)-2] != "message_delta" {
		t.Errorf("events = %v, want message_start … message_delta message_stop", events)
		return
	}
	open := false
	for _, e := range events[1 : len(events)-2] {
		switch e {
		case "content_block_start":
			if open {
				t.Errorf("events = %v: a block starts inside another", events)
			}
			open = true
		case "content_block_stop":
			if !open {
				t.Errorf("events = %v: a block stops that did not start", events)
			}
			open = false
		case "content_block_delta":
			if !open {
				t.Errorf("events = %v: a delta outside a block", events)
			}
		}
	}
}

// checkToolUse checks m is one get_weather call for prompt and returns it.
func checkToolUse(t *testing.T, m *anthropic.Message, prompt string) anthropic.ContentBlockUnion {
	t.Helper()
	if m.StopReason != anthropic.StopReasonToolUse {
		t.Errorf("stop reason = %q, want tool_use", m.StopReason)
	}
	var uses []anthropic.ContentBlockUnion
	for _, b := range m.Content {
		if b.Type == "tool_use" {
			uses = append(uses, b)
		}
	}
	if len(uses) != 1 {
		t.Fatalf("content = %+v, want one tool_use block", m.Content)
	}
	tu := uses[0]
	var input map[string]any
	if tu.ID == "" || tu.Name != "get_weather" || json.Unmarshal(tu.Input, &input) != nil || input["city"] != prompt {
		t.Errorf("tool_use = id %q name %q input %s; want get_weather {\"city\": %q}", tu.ID, tu.Name, tu.Input, prompt)
	}
	return tu
}
