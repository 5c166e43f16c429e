package openai_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// answer is a canonical response with every member AppendChatResponse writes.
func answer() *provider.ChatResponse {
	return &provider.ChatResponse{
		ID: "chatcmpl-1", Model: "gpt-test", Created: 1700000001, SystemFingerprint: "fp_1",
		Choices: []provider.Choice{
			{Index: 0, FinishReason: provider.FinishStop, Message: provider.Message{Role: provider.RoleAssistant,
				Content: []provider.Part{{Type: provider.PartText, Text: "Hé \"quoted\"\n<tag> \u2028 done"}}, TextOnly: true}},
			{Index: 1, FinishReason: provider.FinishToolCalls, Message: provider.Message{Role: provider.RoleAssistant,
				ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "f", Arguments: `{"x":[1,2]}`}}}},
		},
		Usage: provider.Usage{InputTokens: 11, OutputTokens: 7, CachedInputTokens: 3, ReasoningTokens: 2},
	}
}

// chunks is a canonical stream with text, a tool call in pieces, a finish
// and a usage chunk.
func chunks() []*provider.StreamChunk {
	base := provider.StreamChunk{ID: "chatcmpl-2", Model: "gpt-test", Created: 1700000002}
	mk := func(choices []provider.ChunkChoice, u *provider.Usage) *provider.StreamChunk {
		c := base
		c.Choices, c.Usage = choices, u
		return &c
	}
	return []*provider.StreamChunk{
		mk([]provider.ChunkChoice{{Role: provider.RoleAssistant}}, nil),
		mk([]provider.ChunkChoice{{Content: "Hel"}}, nil),
		mk([]provider.ChunkChoice{{Content: "lo \"x\""}}, nil),
		mk([]provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: 0, ID: "call_9", Name: "get"}}}}, nil),
		mk([]provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: 0, Arguments: `{"k":`}}}}, nil),
		mk([]provider.ChunkChoice{{ToolCalls: []provider.ToolCallDelta{{Index: 0, Arguments: `"v"}`}}}}, nil),
		mk([]provider.ChunkChoice{{FinishReason: provider.FinishToolCalls}}, nil),
		mk([]provider.ChunkChoice{}, &provider.Usage{InputTokens: 5, OutputTokens: 4, CachedInputTokens: 1, ReasoningTokens: 0}),
	}
}

// serveBody answers every request with body, as JSON or as an SSE stream.
func serveBody(t *testing.T, body []byte, sse bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sse {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func sseBody(cs []*provider.StreamChunk) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, "data: "...)
		b = openai.AppendChunk(b, c)
		b = append(b, "\n\n"...)
	}
	return append(b, "data: [DONE]\n\n"...)
}

func sdkClient(url string) sdk.Client {
	return sdk.NewClient(option.WithBaseURL(url), option.WithAPIKey("k"), option.WithMaxRetries(0))
}

var sdkParams = sdk.ChatCompletionNewParams{Model: "gpt-test", Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("hi")}}

// TestAppendChatResponseSDK reads AppendChatResponse's output with the
// official OpenAI SDK.
func TestAppendChatResponseSDK(t *testing.T) {
	want := answer()
	url := serveBody(t, openai.AppendChatResponse(nil, want), false)
	cl := sdkClient(url)
	got, err := cl.Chat.Completions.New(context.Background(), sdkParams)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Model != want.Model || got.Created != want.Created || string(got.Object) != "chat.completion" {
		t.Errorf("header fields = %q %q %d %q", got.ID, got.Model, got.Created, got.Object)
	}
	if len(got.Choices) != 2 {
		t.Fatalf("got %d choices", len(got.Choices))
	}
	if c := got.Choices[0]; c.Message.Content != want.Choices[0].Message.Text() || c.FinishReason != "stop" || c.Message.Role != "assistant" {
		t.Errorf("choice 0 = %+v", c)
	}
	c := got.Choices[1]
	if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.JSON.Content.Raw() != "null" {
		t.Errorf("choice 1 = %+v", c)
	}
	if tc := c.Message.ToolCalls[0]; tc.ID != "call_1" || tc.Type != "function" || tc.Function.Name != "f" || tc.Function.Arguments != `{"x":[1,2]}` {
		t.Errorf("tool call = %+v", tc)
	}
	u := got.Usage
	if u.PromptTokens != 11 || u.CompletionTokens != 7 || u.TotalTokens != 18 || u.PromptTokensDetails.CachedTokens != 3 || u.CompletionTokensDetails.ReasoningTokens != 2 {
		t.Errorf("usage = %+v", u)
	}
}

func TestAppendChunkSDK(t *testing.T) {
	url := serveBody(t, sseBody(chunks()), true)
	cl := sdkClient(url)
	s := cl.Chat.Completions.NewStreaming(context.Background(), sdkParams)
	var acc sdk.ChatCompletionAccumulator
	n := 0
	for s.Next() {
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("accumulator refused chunk %d", n)
		}
		n++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(chunks()) {
		t.Errorf("SDK read %d chunks, want %d", n, len(chunks()))
	}
	m := acc.Choices[0].Message
	if m.Content != `Hello "x"` || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("accumulated %q finish %q", m.Content, acc.Choices[0].FinishReason)
	}
	if len(m.ToolCalls) != 1 || m.ToolCalls[0].ID != "call_9" || m.ToolCalls[0].Function.Name != "get" || m.ToolCalls[0].Function.Arguments != `{"k":"v"}` {
		t.Errorf("tool calls = %+v", m.ToolCalls)
	}
	if acc.Usage.PromptTokens != 5 || acc.Usage.CompletionTokens != 4 || acc.Usage.TotalTokens != 9 {
		t.Errorf("usage = %+v", acc.Usage)
	}
}

func TestAppendEmbeddingResponseSDK(t *testing.T) {
	want := &provider.EmbeddingResponse{Model: "emb", Data: [][]float32{{0.5, -1.25, 3e-7}, {0, 1, 2}}, Usage: provider.Usage{InputTokens: 6}}
	for _, format := range []string{"float", "base64"} {
		t.Run(format, func(t *testing.T) {
			url := serveBody(t, openai.AppendEmbeddingResponse(nil, want, format), false)
			cl := sdkClient(url)
			params := sdk.EmbeddingNewParams{Model: "emb", Input: sdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}}
			if format == "base64" {
				params.EncodingFormat = sdk.EmbeddingNewParamsEncodingFormatBase64
			}
			got, err := cl.Embeddings.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Data) != 2 || got.Usage.PromptTokens != 6 || got.Model != "emb" {
				t.Fatalf("got %+v", got)
			}
			for i, e := range got.Data {
				vec := make([]float32, len(e.Embedding))
				for j, f := range e.Embedding {
					vec[j] = float32(f)
				}
				if e.Index != int64(i) || !reflect.DeepEqual(vec, want.Data[i]) {
					t.Errorf("embedding %d = %v (index %d), want %v", i, vec, e.Index, want.Data[i])
				}
			}
		})
	}
}

// The round trips below read the encoders' output back with the adapter's
// own parsers: what one side writes the other must read unchanged.

func TestChatResponseRoundTrip(t *testing.T) {
	want := answer()
	body := openai.AppendChatResponse(nil, want)
	c := mustNew(t, provider.Config{BaseURL: serveBody(t, body, false)})
	got, err := c.Chat(context.Background(), userRequest())
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Raw) != string(body) {
		t.Errorf("Raw is not the body as received")
	}
	got.Raw, got.RawFormat = nil, ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestChunkRoundTrip(t *testing.T) {
	want := chunks()
	c := mustNew(t, provider.Config{BaseURL: serveBody(t, sseBody(want), true)})
	req := userRequest()
	req.Stream = true
	s, err := c.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; ; i++ {
		got, err := s.Next()
		if err == io.EOF {
			if i != len(want) {
				t.Errorf("read %d chunks, want %d", i, len(want))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Raw) != string(openai.AppendChunk(nil, want[i])) {
			t.Errorf("chunk %d Raw = %s", i, got.Raw)
		}
		got.Raw, got.RawFormat = nil, ""
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("chunk %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestEmbeddingRoundTrip(t *testing.T) {
	want := &provider.EmbeddingResponse{Model: "emb", Data: [][]float32{{0.1, 0.2}, {-3.5, 1e-8}}, Usage: provider.Usage{InputTokens: 2}}
	for _, format := range []string{"float", "base64"} {
		c := mustNew(t, provider.Config{BaseURL: serveBody(t, openai.AppendEmbeddingResponse(nil, want, format), false)})
		got, err := c.Embed(context.Background(), &provider.EmbeddingRequest{Model: "emb", Input: []string{"a", "b"}})
		if err != nil {
			t.Fatal(err)
		}
		got.Raw, got.RawFormat = nil, ""
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", format, got, want)
		}
	}
}

func TestAppendError(t *testing.T) {
	for _, tc := range []struct {
		name, msg, typ, param, code, want string
	}{
		{"Full", `bad "x"`, "invalid_request_error", "messages[0].role", "invalid_value",
			`{"error":{"message":"bad \"x\"","type":"invalid_request_error","param":"messages[0].role","code":"invalid_value"}}`},
		{"Nulls", "slow down", "rate_limit_error", "", "",
			`{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(openai.AppendError([]byte("x"), tc.msg, tc.typ, tc.param, tc.code)); got != "x"+tc.want {
				t.Errorf("got  %s\nwant x%s", got, tc.want)
			}
		})
	}
}
