package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
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

func userRequest() *provider.ChatRequest {
	return &provider.ChatRequest{Model: "up-model", Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "hi")}}
}

// mustNew returns a client for cfg that may dial the local fakes.
func mustNew(t *testing.T, cfg provider.Config) *openai.Client {
	t.Helper()
	cfg.AllowPrivateNetwork = true
	c, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRequestHeadersAndPaths(t *testing.T) {
	for _, tc := range []struct {
		name     string
		azure    bool
		cfg      provider.Config
		path     string
		auth     string
		apiKey   string
		maxParam string
	}{
		{name: "OpenAIKey", cfg: provider.Config{APIKey: "sk-1", Headers: map[string]string{"x-org": "o1"}},
			path: "/v1/chat/completions", auth: "Bearer sk-1", maxParam: "max_tokens"},
		{name: "LocalNoKey", cfg: provider.Config{Kind: "openai"},
			path: "/v1/chat/completions", maxParam: "max_tokens"},
		{name: "MaxTokensParamSetting", cfg: provider.Config{Settings: map[string]any{"max_tokens_param": "max_completion_tokens"}},
			path: "/v1/chat/completions", maxParam: "max_completion_tokens"},
		{name: "Azure", azure: true, cfg: provider.Config{Kind: "azure", APIKey: "az-1"},
			path: "/openai/deployments/up-model/chat/completions?api-version=2024-10-21", apiKey: "az-1", maxParam: "max_completion_tokens"},
		{name: "AzureAPIVersion", azure: true, cfg: provider.Config{Kind: "azure", APIKey: "az-1", Settings: map[string]any{"api_version": "2025-01-01-preview"}},
			path: "/openai/deployments/up-model/chat/completions?api-version=2025-01-01-preview", apiKey: "az-1", maxParam: "max_completion_tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openaitest.New(t)
			if tc.azure {
				f = openaitest.NewAzure(t)
			}
			tc.cfg.BaseURL = f.URL() + "/"
			c := mustNew(t, tc.cfg)
			req := userRequest()
			req.MaxTokens = ptr(5)
			if _, err := c.Chat(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			got := f.Last()
			if got.Path != tc.path {
				t.Errorf("path = %q, want %q", got.Path, tc.path)
			}
			if a := got.Header.Get("Authorization"); a != tc.auth {
				t.Errorf("Authorization = %q, want %q", a, tc.auth)
			}
			if k := got.Header.Get("Api-Key"); k != tc.apiKey {
				t.Errorf("api-key = %q, want %q", k, tc.apiKey)
			}
			if tc.cfg.Headers != nil && got.Header.Get("X-Org") != "o1" {
				t.Errorf("extra header missing: %v", got.Header)
			}
			if v, ok, _ := jsonscan.GetField(got.Body, tc.maxParam); !ok || string(v) != "5" {
				t.Errorf("body %s lacks %s: 5", got.Body, tc.maxParam)
			}
			if got.MaxTokens != 5 {
				t.Errorf("captured max tokens = %d", got.MaxTokens)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  provider.Config
	}{
		{"WrongKind", provider.Config{Kind: chorus.ProviderAnthropic}},
		{"AzureWithoutBase", provider.Config{Kind: chorus.ProviderAzure}},
		{"BadScheme", provider.Config{BaseURL: "ftp://example.com"}},
		{"NoHost", provider.Config{BaseURL: "http://"}},
		{"APIVersionNotString", provider.Config{Kind: chorus.ProviderAzure, BaseURL: "https://x.openai.azure.com", Settings: map[string]any{"api_version": 3}}},
		{"BadMaxTokensParam", provider.Config{Settings: map[string]any{"max_tokens_param": "max_output_tokens"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := openai.New(tc.cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
	if _, err := openai.New(provider.Config{}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// TestCanonicalEncoding checks what a translated request looks like on the
// wire, member by member.
func TestCanonicalEncoding(t *testing.T) {
	f := openaitest.New(t)
	c := mustNew(t, provider.Config{BaseURL: f.URL()})
	req := &provider.ChatRequest{
		Model: "up",
		Messages: []provider.Message{
			provider.TextMessage(provider.RoleSystem, "sys"),
			{Role: provider.RoleUser, Name: "ann", Content: []provider.Part{
				{Type: provider.PartText, Text: "look"},
				{Type: provider.PartImage, ImageURL: "https://x.test/i.png", ImageDetail: "low"}}},
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}},
			{Role: provider.RoleTool, ToolCallID: "c1", Name: "f", Content: []provider.Part{{Type: provider.PartText, Text: "ok"}}},
		},
		MaxTokens: ptr(9), Temperature: ptr(0.5), TopP: ptr(1.0), N: ptr(1), Seed: ptr(int64(42)),
		PresencePenalty: ptr(0.25), FrequencyPenalty: ptr(-0.5), Stop: []string{"x"},
		Tools:             []provider.Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`), Strict: ptr(true)}},
		ToolChoice:        &provider.ToolChoice{Mode: "function", Name: "f"},
		ParallelToolCalls: ptr(false),
		ResponseFormat:    &provider.ResponseFormat{Type: "json_schema", Name: "s", Schema: json.RawMessage(`{"type":"object"}`), Strict: ptr(true)},
		User:              "u",
		Extra:             map[string]json.RawMessage{"logprobs": json.RawMessage(`true`), "model": json.RawMessage(`"evil"`)},
	}
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := `{"model":"up","messages":[
		{"role":"system","content":"sys"},
		{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"https://x.test/i.png","detail":"low"}}],"name":"ann"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
		{"role":"tool","content":"ok","tool_call_id":"c1"}],
		"max_tokens":9,"temperature":0.5,"top_p":1,"presence_penalty":0.25,"frequency_penalty":-0.5,"n":1,"seed":42,"stop":["x"],
		"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],
		"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,
		"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},
		"user":"u","logprobs":true}`
	assertJSONEqual(t, f.Last().Body, want)

	// Extras of another format are not forwarded.
	req.RawFormat = provider.FormatAnthropic
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := jsonscan.GetField(f.Last().Body, "logprobs"); ok {
		t.Errorf("anthropic extra forwarded: %s", f.Last().Body)
	}

	// Parts no translation can carry are refused, not dropped.
	req.Messages[1].Content = append(req.Messages[1].Content, provider.Part{Type: openai.PartInputAudio})
	_, err := c.Chat(context.Background(), req)
	if chorus.ErrorCode(err) != chorus.ENOTSUPPORTED {
		t.Errorf("error = %v, want not_supported", err)
	}
}

func assertJSONEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestStreamAlwaysAsksForUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  func() *provider.ChatRequest
	}{
		{"Canonical", func() *provider.ChatRequest { r := userRequest(); r.Stream = true; return r }},
		{"Passthrough", func() *provider.ChatRequest {
			r, err := openai.DecodeChatRequest([]byte(`{"model":"alias","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			r.Model = "up-model"
			return r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openaitest.New(t)
			f.Script(conformance.Scenario{Text: "a b", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 3, OutputTokens: 2}})
			c := mustNew(t, provider.Config{BaseURL: f.URL()})
			s, err := c.ChatStream(context.Background(), tc.req())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var usage *provider.Usage
			for {
				ch, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if ch.Usage != nil {
					usage = ch.Usage
				}
			}
			if usage == nil || usage.InputTokens != 3 || usage.OutputTokens != 2 {
				t.Errorf("usage = %+v, want 3 in, 2 out", usage)
			}
			v, ok, _ := jsonscan.GetField(f.Last().Body, "stream_options")
			if !ok || !strings.Contains(string(v), `"include_usage":true`) {
				t.Errorf("stream_options = %s, want include_usage true", v)
			}
		})
	}
}

func TestUsageDetails(t *testing.T) {
	f := openaitest.New(t)
	want := provider.Usage{InputTokens: 100, OutputTokens: 50, CachedInputTokens: 64, ReasoningTokens: 30}
	f.Script(conformance.Scenario{Text: "x y", FinishReason: provider.FinishStop, Usage: want})
	c := mustNew(t, provider.Config{BaseURL: f.URL()})
	resp, err := c.Chat(context.Background(), userRequest())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage != want || resp.ID == "" || resp.Model != "up-model" || resp.Created == 0 || resp.SystemFingerprint != "fp_fake" {
		t.Errorf("got %+v, want usage %+v and the fake's id/model/created/fingerprint", resp, want)
	}
}

// serve starts a server answering every request with h.
func serve(t *testing.T, h http.HandlerFunc) *openai.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return mustNew(t, provider.Config{BaseURL: srv.URL})
}

func TestUpstreamErrorBodies(t *testing.T) {
	long := strings.Repeat("é", 400)
	for _, tc := range []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		want    provider.Error
		wantLen int
	}{
		{name: "OpenAI", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			want: provider.Error{Status: 429, Type: "requests", Code: "rate_limit_exceeded", Message: "Rate limit reached", RetryAfter: 7 * time.Second}},
		{name: "AzureNumericCodeMillis", status: 429, header: map[string]string{"retry-after-ms": "1500"},
			body: `{"error":{"code":429,"message":"Requests exceeded"}}`,
			want: provider.Error{Status: 429, Code: "429", Message: "Requests exceeded", RetryAfter: 1500 * time.Millisecond}},
		{name: "OllamaString", status: 404, body: `{"error":"model \"x\" not found"}`,
			want: provider.Error{Status: 404, Message: `model "x" not found`}},
		{name: "VLLMTopLevel", status: 400, body: `{"object":"error","message":"bad prompt","type":"BadRequestError","param":null,"code":400}`,
			want: provider.Error{Status: 400, Type: "BadRequestError", Code: "400", Message: "bad prompt"}},
		{name: "HTML", status: 502, body: "  <html>Bad gateway</html>\n",
			want: provider.Error{Status: 502, Message: "<html>Bad gateway</html>"}},
		{name: "Empty", status: 503, body: "",
			want: provider.Error{Status: 503, Message: "Service Unavailable"}},
		{name: "LongText", status: 500, body: long, wantLen: 512 + len("…")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			for _, stream := range []bool{false, true} {
				req := userRequest()
				req.Stream = stream
				var err error
				if stream {
					_, err = c.ChatStream(context.Background(), req)
				} else {
					_, err = c.Chat(context.Background(), req)
				}
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("stream=%v: error %v is not a *provider.Error", stream, err)
				}
				if tc.wantLen > 0 {
					if len(pe.Message) > tc.wantLen || !strings.HasSuffix(pe.Message, "…") || !strings.HasPrefix(long, strings.TrimSuffix(pe.Message, "…")) {
						t.Errorf("message of %d bytes not truncated on a rune boundary: %q", len(pe.Message), pe.Message)
					}
					continue
				}
				got := *pe
				got.Provider = ""
				if got != tc.want {
					t.Errorf("stream=%v: got %+v, want %+v", stream, got, tc.want)
				}
			}
		})
	}
}

func TestUnparsableAnswer(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"choices":[`) })
	_, err := c.Chat(context.Background(), userRequest())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Type != "invalid_response" || !pe.Retryable() {
		t.Errorf("error = %#v, want a retryable invalid_response *provider.Error", err)
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := mustNew(t, provider.Config{BaseURL: srv.URL})
	_, err := c.Chat(context.Background(), userRequest())
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Status != 0 || !pe.Retryable() || pe.Err == nil || pe.Provider != "openai" {
		t.Errorf("error = %#v, want a retryable transport *provider.Error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err = c.Chat(ctx, userRequest())
	if !errors.As(err, &pe) || !pe.Timeout {
		t.Errorf("error = %#v, want Timeout set after the deadline", err)
	}
}

func TestStreamEndings(t *testing.T) {
	const role = `data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	const text = `data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n"
	const fin = `data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n"
	for _, tc := range []struct {
		name    string
		body    string
		wantErr bool
		chunks  int
	}{
		{"Done", role + text + fin + "data: [DONE]\n\n", false, 3},
		{"FinishedWithoutDone", role + text + fin, false, 3},
		{"Truncated", role + text, true, 2},
		{"CommentsAndCRLF", ": keep-alive\r\n\r\n" + strings.ReplaceAll(role+text+fin, "\n", "\r\n") + "data: [DONE]\r\n\r\n", false, 3},
		{"Garbage", role + "data: {nope\n\n", true, 1},
		{"ErrorWithoutType", role + `data: {"error":{"message":"boom"}}` + "\n\n", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tc.body)
			})
			req := userRequest()
			req.Stream = true
			s, err := c.ChatStream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var chunks []*provider.StreamChunk
			for {
				ch, err := s.Next()
				if err == io.EOF {
					if tc.wantErr {
						t.Fatal("got io.EOF, want an error")
					}
					break
				}
				if err != nil {
					if !tc.wantErr {
						t.Fatalf("Next: %v", err)
					}
					var pe *provider.Error
					if !errors.As(err, &pe) {
						t.Fatalf("error %v is not a *provider.Error", err)
					}
					if _, again := s.Next(); again != err {
						t.Errorf("Next after the end returned %v, want the same error", again)
					}
					break
				}
				chunks = append(chunks, ch)
			}
			if len(chunks) != tc.chunks {
				t.Errorf("got %d chunks, want %d", len(chunks), tc.chunks)
			}
			// Raw payloads stay intact after later reads reuse buffers.
			if len(chunks) > 1 && !strings.Contains(string(chunks[1].Raw), `"content":"hi"`) {
				t.Errorf("chunk 1 raw = %s", chunks[1].Raw)
			}
			if tc.name == "Done" && chunks[2].Choices[0].FinishReason != provider.FinishLength {
				t.Errorf("finish = %q", chunks[2].Choices[0].FinishReason)
			}
		})
	}
}

func TestRefusalBecomesText(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"stop"}]}`)
	})
	resp, err := c.Chat(context.Background(), userRequest())
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Text(); got != "I can't." {
		t.Errorf("text = %q", got)
	}
}

func TestEmbedFormats(t *testing.T) {
	want := [][]float32{{0.5, -0.25}, {1e-7, 3}}
	for _, format := range []string{"", "float", "base64"} {
		t.Run("Format"+format, func(t *testing.T) {
			f := openaitest.New(t)
			f.Script(conformance.Scenario{Embeddings: want, Usage: provider.Usage{InputTokens: 4}})
			c := mustNew(t, provider.Config{BaseURL: f.URL()})
			resp, err := c.Embed(context.Background(), &provider.EmbeddingRequest{Model: "e", Input: []string{"a", "b"}, EncodingFormat: format})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(resp.Data, want) || resp.Usage.InputTokens != 4 || resp.RawFormat != provider.FormatOpenAI {
				t.Errorf("got %+v", resp)
			}
		})
	}
	t.Run("Passthrough", func(t *testing.T) {
		f := openaitest.New(t)
		c := mustNew(t, provider.Config{BaseURL: f.URL()})
		req, err := openai.DecodeEmbeddingRequest([]byte(`{"model":"alias","input":[[1,2],[3]],"x_custom":true}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Model = "up-embed"
		if _, err := c.Embed(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		assertJSONEqual(t, f.Last().Body, `{"model":"up-embed","input":[[1,2],[3]],"x_custom":true}`)
	})
	t.Run("OutOfOrderIndexes", func(t *testing.T) {
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":[{"index":1,"embedding":[2]},{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":2}}`)
		})
		resp, err := c.Embed(context.Background(), &provider.EmbeddingRequest{Model: "e", Input: []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(resp.Data, [][]float32{{1}, {2}}) {
			t.Errorf("data = %v", resp.Data)
		}
	})
	t.Run("RepeatedIndex", func(t *testing.T) {
		c := serve(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"data":[{"index":0,"embedding":[2]},{"index":0,"embedding":[1]}]}`)
		})
		if _, err := c.Embed(context.Background(), &provider.EmbeddingRequest{Model: "e", Input: []string{"a", "b"}}); err == nil {
			t.Error("Embed accepted a repeated index")
		}
	})
}
