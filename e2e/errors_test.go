package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// TestOpenAIErrors checks every error class a client can meet, as the
// official SDK sees it: *openai.Error with the right status, type and code.
func TestOpenAIErrors(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) {
		c.Limits.MaxBodyBytes = 4096
		c.Limits.MaxMessages = 5
		c.Timeouts.Upstream = 300 * time.Millisecond
		c.Limits.MaxEmbeddingInputs = 3
	})
	g.simulated("sim", map[string]any{"output_tokens": 4})
	g.simulated("sim-other", map[string]any{"output_tokens": 4})
	g.simulated("sim-429", map[string]any{"error_rate": 1, "error_status": 429})
	g.simulated("sim-500", map[string]any{"error_rate": 1, "error_status": 500})
	g.simulated("sim-slow", map[string]any{"latency_ms": 3000})
	g.upstream("down", chorus.ProviderOpenAI, closedURL(t), "gpt-down", "sk-down")
	fake429 := openaitest.New(t)
	fake429.Script(conformance.Scenario{Status: 429, ErrType: "rate_limit_error", ErrMessage: "Slow down.", RetryAfter: "7"})
	g.upstream("oa-429", chorus.ProviderOpenAI, fake429.URL(), "gpt-busy", "sk-busy")
	fake500 := openaitest.New(t)
	fake500.Script(conformance.Scenario{Status: 500, ErrType: "server_error", ErrMessage: "The server had an error."})
	g.upstream("oa-500", chorus.ProviderOpenAI, fake500.URL(), "gpt-broken", "sk-broken")

	gem := geminitest.New(t)
	gem.ScriptGemini(conformance.Scenario{Status: 429, ErrMessage: "Quota exceeded."}, geminitest.Options{RetryDelay: "13s"})
	g.upstream("gem-429", chorus.ProviderGemini, gem.URL(), "gemini-busy", "goog-busy")
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Status: 529, ErrType: "overloaded_error", ErrMessage: "Overloaded"})
	g.upstream("claude-529", chorus.ProviderAnthropic, ant.URL(), "claude-busy", "sk-ant-busy")
	embed := g.createModel(modelSpec{Name: "embed", Kind: chorus.KindEmbedding})
	g.createDeployment(deploymentSpec{ModelID: embed.ID, Name: "embed-sim", Provider: chorus.ProviderSimulator})

	key := g.customer()
	restricted := g.customer("sim")
	c := g.openAI(key.Key)
	ctx := testContext(t, 60*time.Second)

	t.Run("MissingKey", func(t *testing.T) {
		nokey := g.openAI("", option.WithHeaderDel("Authorization"))
		_, err := nokey.Chat.Completions.New(ctx, chatParams("sim", "hi"))
		wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
	})

	t.Run("BadKey", func(t *testing.T) {
		bad := g.openAI("sk-chorus-this-key-does-not-exist-0000")
		_, err := bad.Chat.Completions.New(ctx, chatParams("sim", "hi"))
		e := wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
		if strings.Contains(e.Message, "this-key-does-not-exist") {
			t.Errorf("message %q repeats the presented key in full", e.Message)
		}
	})

	t.Run("RevokedKey", func(t *testing.T) {
		k := g.customer()
		kc := g.openAI(k.Key)
		if _, err := kc.Chat.Completions.New(ctx, chatParams("sim", "hi")); err != nil {
			t.Fatalf("before revoking: %v", err)
		}
		g.mustAdmin("DELETE", fmt.Sprintf("/api/admin/keys/%d", k.ID), nil, http.StatusNoContent, nil)
		_, err := kc.Chat.Completions.New(ctx, chatParams("sim", "hi"))
		wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
		_, err = kc.Models.List(ctx)
		wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
	})

	t.Run("ExpiredKey", func(t *testing.T) {
		u := g.createUser(chorus.RoleCustomer)
		expires := time.Now().Add(700 * time.Millisecond)
		k := g.createKey(keySpec{Name: "short-lived", UserID: u.ID, ExpiresAt: &expires})
		kc := g.openAI(k.Key)
		if _, err := kc.Chat.Completions.New(ctx, chatParams("sim", "hi")); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		time.Sleep(time.Until(expires) + 50*time.Millisecond)
		_, err := kc.Chat.Completions.New(ctx, chatParams("sim", "hi"))
		wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
	})

	t.Run("ModelNotAllowed", func(t *testing.T) {
		_, err := g.openAI(restricted.Key).Chat.Completions.New(ctx, chatParams("sim-other", "hi"))
		if e := wantOpenAIError(t, err, 403, "permission_error", "-"); e.Param != "model" {
			t.Errorf("param = %q, want model", e.Param)
		}
	})

	t.Run("UnknownModel", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("gpt-nonexistent", "hi"))
		if e := wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found"); e.Param != "model" {
			t.Errorf("param = %q, want model", e.Param)
		}
	})

	invalid := []struct {
		name   string
		params openai.ChatCompletionNewParams
		opts   []option.RequestOption
		param  string
	}{
		{"BadTemperature", func() openai.ChatCompletionNewParams {
			p := chatParams("sim", "hi")
			p.Temperature = openai.Float(5)
			return p
		}(), nil, "temperature"},
		{"EmptyMessages", openai.ChatCompletionNewParams{Model: "sim", Messages: []openai.ChatCompletionMessageParamUnion{}},
			[]option.RequestOption{option.WithJSONSet("messages", []any{})}, "messages"},
		{"TooManyMessages", openai.ChatCompletionNewParams{Model: "sim", Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("1"), openai.AssistantMessage("2"), openai.UserMessage("3"),
			openai.AssistantMessage("4"), openai.UserMessage("5"), openai.AssistantMessage("6"),
		}}, nil, "messages"},
		{"MaxTokensAboveModel", func() openai.ChatCompletionNewParams {
			p := chatParams("sim", "hi")
			p.MaxTokens = openai.Int(1001) // the model's max_output_tokens is 1000
			return p
		}(), nil, "max_tokens"},
		{"MaxCompletionTokensAboveModel", func() openai.ChatCompletionNewParams {
			p := chatParams("sim", "hi")
			p.MaxCompletionTokens = openai.Int(5000)
			return p
		}(), nil, "max_tokens"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Chat.Completions.New(ctx, tc.params, tc.opts...)
			if e := wantOpenAIError(t, err, 400, "invalid_request_error", "-"); e.Param != tc.param {
				t.Errorf("param = %q, want %q (%s)", e.Param, tc.param, e.Message)
			}
		})
	}

	t.Run("MaxTokensAtModelLimit", func(t *testing.T) {
		p := chatParams("sim", "hi")
		p.MaxTokens = openai.Int(1000)
		if _, err := c.Chat.Completions.New(ctx, p); err != nil {
			t.Errorf("max_tokens equal to the model's limit: %v", err)
		}
	})

	t.Run("MalformedJSON", func(t *testing.T) {
		for _, body := range []string{`{"model": "sim", "messages": [`, `not json`, `["model"]`, ``} {
			r := g.do("POST", "/v1/chat/completions", key.Key, body)
			e := wantAPIError(t, r, 400, "invalid_request_error", "")
			if e.Error.Message == "" {
				t.Errorf("body %q: no message", body)
			}
		}
	})

	t.Run("BodyTooLarge", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("sim", strings.Repeat("x", 5000)))
		wantOpenAIError(t, err, 413, "invalid_request_error", "request_too_large")
		// Without a Content-Length the limit holds while reading.
		req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions",
			struct{ *strings.Reader }{strings.NewReader(`{"model":"sim","messages":[{"role":"user","content":"` + strings.Repeat("y", 5000) + `"}]}`)})
		req.Header.Set("Authorization", "Bearer "+key.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("chunked oversize body: status %d, want 413", resp.StatusCode)
		}
	})

	t.Run("UpstreamRateLimited", func(t *testing.T) {
		var raw *http.Response
		_, err := c.Chat.Completions.New(ctx, chatParams("sim-429", "hi"), option.WithResponseInto(&raw))
		e := wantOpenAIError(t, err, 429, "rate_limit_error", "rate_limit_exceeded")
		if ra := e.Response.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After = %q, want 1 (the simulator's 1s)", ra)
		}
		_, err = c.Chat.Completions.New(ctx, chatParams("oa-429", "hi"))
		e = wantOpenAIError(t, err, 429, "rate_limit_error", "rate_limit_exceeded")
		if ra := e.Response.Header.Get("Retry-After"); ra != "7" {
			t.Errorf("Retry-After = %q, want the upstream's 7", ra)
		}
	})

	t.Run("UpstreamRateLimitedGemini", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("gem-429", "hi"))
		e := wantOpenAIError(t, err, 429, "rate_limit_error", "rate_limit_exceeded")
		if ra := e.Response.Header.Get("Retry-After"); ra != "13" {
			t.Errorf("Retry-After = %q, want 13 from Gemini's RetryInfo", ra)
		}
	})

	t.Run("UpstreamOverloaded", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("claude-529", "hi"))
		wantOpenAIError(t, err, 503, "service_unavailable", "")
		_, err = g.anthropic(key.Key).Messages.New(ctx, messageParams("claude-529", "hi"))
		wantAnthropicError(t, err, 503, "overloaded_error")
	})

	t.Run("TooManyEmbeddingInputs", func(t *testing.T) {
		_, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "c", "d"}}})
		if e := wantOpenAIError(t, err, 400, "invalid_request_error", "-"); e.Param != "input" {
			t.Errorf("param = %q, want input", e.Param)
		}
		if _, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "embed",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b", "c"}}}); err != nil {
			t.Errorf("three inputs (the limit): %v", err)
		}
	})

	t.Run("UpstreamRateLimitedStreaming", func(t *testing.T) {
		p := chatParams("sim-429", "hi")
		s := c.Chat.Completions.NewStreaming(ctx, p)
		for s.Next() {
			t.Errorf("got a chunk from a failed stream: %s", s.Current().RawJSON())
		}
		wantOpenAIError(t, s.Err(), 429, "rate_limit_error", "rate_limit_exceeded")
	})

	t.Run("UpstreamError", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("sim-500", "hi"))
		wantOpenAIError(t, err, 502, "upstream_error", "")
		_, err = c.Chat.Completions.New(ctx, chatParams("oa-500", "hi"))
		wantOpenAIError(t, err, 502, "upstream_error", "")
		if n := fake500.Requests(); n != 1 {
			t.Errorf("upstream saw %d requests, want 1 (one deployment: nothing to retry on)", n)
		}
	})

	t.Run("UpstreamUnreachable", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("down", "hi"))
		wantOpenAIError(t, err, 503, "service_unavailable", "")
	})

	t.Run("UpstreamTimeout", func(t *testing.T) {
		start := time.Now()
		_, err := c.Chat.Completions.New(ctx, chatParams("sim-slow", "hi"))
		wantOpenAIError(t, err, 504, "timeout_error", "")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v; the upstream timeout is 300ms", d)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s := c.Chat.Completions.NewStreaming(sctx, chatParams("sim-slow", "hi"))
		for s.Next() {
		}
		wantOpenAIError(t, s.Err(), 504, "timeout_error", "")
	})

	t.Run("UnknownRoute", func(t *testing.T) {
		r := g.do("POST", "/v1/completions", key.Key, `{"model":"sim","prompt":"hi"}`)
		wantAPIError(t, r, 404, "invalid_request_error", "")
	})
}
