package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
)

func ptr[T any](v T) *T { return &v }

func hello(model string) *provider.ChatRequest {
	return &provider.ChatRequest{
		Model:    model,
		Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hello")},
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readAll drains a stream; err is nil for io.EOF.
func readAll(t *testing.T, c *gemini.Client, req *provider.ChatRequest) ([]*provider.StreamChunk, error) {
	t.Helper()
	req.Stream = true
	s, err := c.ChatStream(ctxT(t), req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []*provider.StreamChunk
	for {
		ch, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ch)
	}
}

func streamText(chunks []*provider.StreamChunk, index int) string {
	var b strings.Builder
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.Index == index {
				b.WriteString(ch.Content)
			}
		}
	}
	return b.String()
}

func streamFinish(chunks []*provider.StreamChunk) []provider.FinishReason {
	var out []provider.FinishReason
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.FinishReason != "" {
				out = append(out, ch.FinishReason)
			}
		}
	}
	return out
}

func TestRequestWire(t *testing.T) {
	tests := []struct {
		name     string
		model    string
		stream   bool
		wantPath string
		wantAcc  string
	}{
		{"Chat", "gemini-2.0-flash", false, "/v1beta/models/gemini-2.0-flash:generateContent", "application/json"},
		{"Stream", "gemini-2.0-flash", true, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", "text/event-stream"},
		{"ResourceName", "models/gemini-2.0-flash", false, "/v1beta/models/gemini-2.0-flash:generateContent", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := geminitest.New(t)
			f.Script(conformance.Scenario{Text: "Hi there", FinishReason: provider.FinishStop})
			c := newClient(t, f.URL())
			var err error
			if tt.stream {
				_, err = readAll(t, c, hello(tt.model))
			} else {
				_, err = c.Chat(ctxT(t), hello(tt.model))
			}
			if err != nil {
				t.Fatal(err)
			}
			got := f.Last()
			if got.Path != tt.wantPath {
				t.Errorf("path = %q, want %q", got.Path, tt.wantPath)
			}
			for k, want := range map[string]string{
				"X-Goog-Api-Key": testKey, "X-Test": "yes", "Content-Type": "application/json", "Accept": tt.wantAcc,
			} {
				if v := got.Header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			if got.Header.Get("Authorization") != "" || strings.Contains(got.Path, "key=") {
				t.Error("the API key travels in x-goog-api-key only")
			}
		})
	}
}

func TestStreamCRLF(t *testing.T) {
	f := geminitest.New(t)
	const text = "one two three four five"
	f.ScriptGemini(conformance.Scenario{Text: text, FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 3, OutputTokens: 5}}, geminitest.Options{CRLF: true})
	chunks, err := readAll(t, newClient(t, f.URL()), hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	if got := streamText(chunks, 0); got != text {
		t.Errorf("text = %q, want %q", got, text)
	}
	if fr := streamFinish(chunks); !slices.Equal(fr, []provider.FinishReason{provider.FinishStop}) {
		t.Errorf("finish = %q", fr)
	}
}

func TestErrorDetails(t *testing.T) {
	tests := []struct {
		name           string
		sc             conformance.Scenario
		opts           geminitest.Options
		wantType       string
		wantRetryAfter time.Duration
	}{
		{
			name:     "RetryInfoOnly",
			sc:       conformance.Scenario{Status: 429, ErrMessage: "Quota exceeded"},
			opts:     geminitest.Options{RetryDelay: "3s"},
			wantType: "RESOURCE_EXHAUSTED", wantRetryAfter: 3 * time.Second,
		},
		{
			name:     "RetryInfoFraction",
			sc:       conformance.Scenario{Status: 429, ErrMessage: "Quota exceeded"},
			opts:     geminitest.Options{RetryDelay: "1.5s"},
			wantType: "RESOURCE_EXHAUSTED", wantRetryAfter: 1500 * time.Millisecond,
		},
		{
			name:     "HeaderWins",
			sc:       conformance.Scenario{Status: 503, ErrMessage: "overloaded", RetryAfter: "4"},
			opts:     geminitest.Options{RetryDelay: "9s"},
			wantType: "UNAVAILABLE", wantRetryAfter: 4 * time.Second,
		},
		{
			name:     "NoDelay",
			sc:       conformance.Scenario{Status: 400, ErrMessage: "bad"},
			wantType: "INVALID_ARGUMENT",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := geminitest.New(t)
			f.ScriptGemini(tt.sc, tt.opts)
			_, err := newClient(t, f.URL()).Chat(ctxT(t), hello("m"))
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			if pe.Status != tt.sc.Status || pe.Type != tt.wantType || pe.Message != tt.sc.ErrMessage || pe.RetryAfter != tt.wantRetryAfter {
				t.Errorf("error = %+v, want status %d type %q message %q retry after %v",
					pe, tt.sc.Status, tt.wantType, tt.sc.ErrMessage, tt.wantRetryAfter)
			}
		})
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>Bad Gateway</html>")
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(t, srv.URL).Chat(ctxT(t), hello("m"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway || !pe.Retryable() || !strings.Contains(pe.Message, "Bad Gateway") {
		t.Errorf("error = %#v, want a retryable 502 quoting the body", err)
	}
}

func TestStreamNotEventStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"candidates":[]}]`)
	}))
	t.Cleanup(srv.Close)
	_, err := readAll(t, newClient(t, srv.URL), hello("m"))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Type != "invalid_response" {
		t.Errorf("error = %v, want invalid_response", err)
	}
}

func TestTimeout(t *testing.T) {
	f := geminitest.New(t)
	f.Script(conformance.Scenario{Text: "late", Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newClient(t, f.URL()).Chat(ctx, hello("m"))
	var pe *provider.Error
	if !errors.As(err, &pe) || !pe.Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want a timed-out transport error", err)
	}
}

func TestFinishReasonsViaFake(t *testing.T) {
	tests := []struct {
		name string
		sc   conformance.Scenario
		opts geminitest.Options
		want provider.FinishReason
		text string
	}{
		{"Length", conformance.Scenario{Text: "cut off", FinishReason: provider.FinishLength}, geminitest.Options{}, provider.FinishLength, "cut off"},
		{"Safety", conformance.Scenario{Text: "partial", FinishReason: provider.FinishContentFilter}, geminitest.Options{}, provider.FinishContentFilter, "partial"},
		{"Recitation", conformance.Scenario{Text: "quoted"}, geminitest.Options{FinishReason: "RECITATION"}, provider.FinishContentFilter, "quoted"},
		{"PromptBlocked", conformance.Scenario{Text: "never sent", Usage: provider.Usage{InputTokens: 8}}, geminitest.Options{BlockReason: "SAFETY"}, provider.FinishContentFilter, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := geminitest.New(t)
			f.ScriptGemini(tt.sc, tt.opts)
			c := newClient(t, f.URL())
			resp, err := c.Chat(ctxT(t), hello("m"))
			if err != nil {
				t.Fatal(err)
			}
			if ch := resp.Choices[0]; ch.FinishReason != tt.want || ch.Message.Text() != tt.text {
				t.Errorf("Chat: finish %q text %q, want %q %q", ch.FinishReason, ch.Message.Text(), tt.want, tt.text)
			}
			chunks, err := readAll(t, c, hello("m"))
			if err != nil {
				t.Fatal(err)
			}
			if fr := streamFinish(chunks); !slices.Equal(fr, []provider.FinishReason{tt.want}) || streamText(chunks, 0) != tt.text {
				t.Errorf("stream: finish %q text %q, want %q %q", fr, streamText(chunks, 0), tt.want, tt.text)
			}
		})
	}
}

func TestThinking(t *testing.T) {
	f := geminitest.New(t)
	usage := provider.Usage{InputTokens: 10, OutputTokens: 30, ReasoningTokens: 20, CachedInputTokens: 4}
	f.ScriptGemini(conformance.Scenario{Text: "Answer.", FinishReason: provider.FinishStop, Usage: usage},
		geminitest.Options{Thought: "**Thinking** about it"})
	c := newClient(t, f.URL())
	resp, err := c.Chat(ctxT(t), hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Text() != "Answer." || resp.Usage != usage {
		t.Errorf("Chat: text %q usage %+v, want %q %+v", resp.Choices[0].Message.Text(), resp.Usage, "Answer.", usage)
	}
	chunks, err := readAll(t, c, hello("m"))
	if err != nil {
		t.Fatal(err)
	}
	if got := streamText(chunks, 0); got != "Answer." {
		t.Errorf("stream text = %q, want the thought left out", got)
	}
}

// TestThoughtSignatureRoundTrip checks that a thinking model's signature on
// a function call comes back on the next turn, as Gemini requires.
func TestThoughtSignatureRoundTrip(t *testing.T) {
	f := geminitest.New(t)
	const sig = "CiQBcsjafE+/+1Q9yLwq3cOm7Xg="
	f.ScriptGemini(conformance.Scenario{ToolCalls: []provider.ToolCall{{Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
		geminitest.Options{ThoughtSignature: sig})
	c := newClient(t, f.URL())
	req := hello("m")
	req.Tools = []provider.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`)}}
	resp, err := c.Chat(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 1 || resp.Choices[0].FinishReason != provider.FinishToolCalls {
		t.Fatalf("choice = %+v, want one tool call", resp.Choices[0])
	}
	if strings.ContainsAny(calls[0].ID, "+/=") {
		t.Errorf("ID %q has characters outside [A-Za-z0-9_-]", calls[0].ID)
	}
	f.Script(conformance.Scenario{Text: "Cold.", FinishReason: provider.FinishStop})
	req.Messages = append(req.Messages, resp.Choices[0].Message, provider.Message{
		Role: provider.RoleTool, ToolCallID: calls[0].ID, Content: []provider.Part{{Type: provider.PartText, Text: "-3C"}},
	})
	if _, err := c.Chat(ctxT(t), req); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Contents []struct {
			Parts []struct {
				ThoughtSignature string `json:"thoughtSignature"`
				FunctionCall     *struct {
					ID string `json:"id"`
				} `json:"functionCall"`
				FunctionResponse *struct {
					ID string `json:"id"`
				} `json:"functionResponse"`
			} `json:"parts"`
		} `json:"contents"`
	}
	if err := json.Unmarshal(f.Last().Body, &body); err != nil || len(body.Contents) != 3 {
		t.Fatalf("captured body %s (%v), want three turns", f.Last().Body, err)
	}
	call, result := body.Contents[1].Parts[0], body.Contents[2].Parts[0]
	if call.ThoughtSignature != sig {
		t.Errorf("thoughtSignature = %q, want %q", call.ThoughtSignature, sig)
	}
	if call.FunctionCall == nil || result.FunctionResponse == nil || call.FunctionCall.ID == "" ||
		call.FunctionCall.ID != result.FunctionResponse.ID || strings.Contains(call.FunctionCall.ID, "__sig_") {
		t.Errorf("call %+v and result %+v, want the same bare ID", call.FunctionCall, result.FunctionResponse)
	}
}

func TestCandidates(t *testing.T) {
	f := geminitest.New(t)
	f.Script(conformance.Scenario{Text: "same words", FinishReason: provider.FinishStop})
	c := newClient(t, f.URL())
	req := hello("m")
	req.N = ptr(2)
	resp, err := c.Chat(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 2 || resp.Choices[1].Index != 1 || resp.Choices[1].Message.Text() != "same words" {
		t.Errorf("choices = %+v, want two", resp.Choices)
	}
	chunks, err := readAll(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	if streamText(chunks, 0) != "same words" || streamText(chunks, 1) != "same words" || len(streamFinish(chunks)) != 2 {
		t.Errorf("stream texts %q %q finishes %q, want both candidates", streamText(chunks, 0), streamText(chunks, 1), streamFinish(chunks))
	}
}

func TestEmbed(t *testing.T) {
	t.Run("WireAndEstimatedUsage", func(t *testing.T) {
		f := geminitest.New(t)
		f.Script(conformance.Scenario{}) // no usageMetadata in the answer
		resp, err := newClient(t, f.URL()).Embed(ctxT(t), &provider.EmbeddingRequest{
			Model: "text-embedding-004", Input: []string{"abcd", "abcde"}, Dimensions: ptr(8),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Data) != 2 || len(resp.Data[0]) != 8 {
			t.Errorf("got %d vectors of %d, want 2 of 8", len(resp.Data), len(resp.Data[0]))
		}
		if resp.Usage.InputTokens != 1+2 {
			t.Errorf("estimated input tokens = %d, want 3 (bytes/4 rounded up per input)", resp.Usage.InputTokens)
		}
		got := f.Last()
		if got.Path != "/v1beta/models/text-embedding-004:batchEmbedContents" {
			t.Errorf("path = %q", got.Path)
		}
		var body struct {
			Requests []struct {
				Model                string `json:"model"`
				OutputDimensionality int    `json:"outputDimensionality"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(got.Body, &body); err != nil || len(body.Requests) != 2 ||
			body.Requests[1].Model != "models/text-embedding-004" || body.Requests[1].OutputDimensionality != 8 {
			t.Errorf("body = %s", got.Body)
		}
	})
	t.Run("ErrTokenArrays", func(t *testing.T) {
		f := geminitest.New(t)
		_, err := newClient(t, f.URL()).Embed(ctxT(t), &provider.EmbeddingRequest{Model: "m", InputTokens: [][]int{{1, 2}}})
		if chorus.ErrorCode(err) != chorus.ENOTSUPPORTED || f.Requests() != 0 {
			t.Errorf("error %v after %d requests, want not_supported without calling", err, f.Requests())
		}
	})
	t.Run("ErrEmptyString", func(t *testing.T) {
		f := geminitest.New(t)
		_, err := newClient(t, f.URL()).Embed(ctxT(t), &provider.EmbeddingRequest{Model: "m", Input: []string{"a", ""}})
		if chorus.ErrorCode(err) != chorus.EINVALID || f.Requests() != 0 {
			t.Errorf("error %v after %d requests, want invalid without calling", err, f.Requests())
		}
	})
	t.Run("ErrCountMismatch", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"embeddings":[{"values":[1]}]}`)
		}))
		t.Cleanup(srv.Close)
		_, err := newClient(t, srv.URL).Embed(ctxT(t), &provider.EmbeddingRequest{Model: "m", Input: []string{"a", "b"}})
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Type != "invalid_response" {
			t.Errorf("error = %v, want invalid_response", err)
		}
	})
}

func TestNew(t *testing.T) {
	for _, base := range []string{"ftp://example.com", "://nope", "http://"} {
		if _, err := gemini.New(provider.Config{BaseURL: base}); err == nil {
			t.Errorf("New accepted base URL %q", base)
		}
	}
	if _, err := gemini.New(provider.Config{}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// TestMalformedUpstream checks that a 200 answer the adapter cannot read is
// an upstream error, for both call kinds, and never a panic or a silent
// empty answer.
func TestMalformedUpstream(t *testing.T) {
	for _, body := range []string{`{"candidates":[`, `not json`, `{"candidates":"x"}`} {
		t.Run(body, func(t *testing.T) {
			f := geminitest.New(t)
			f.ScriptGemini(conformance.Scenario{}, geminitest.Options{Body: body})
			c := newClient(t, f.URL())
			_, err := c.Chat(ctxT(t), hello("m"))
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Type != "invalid_response" {
				t.Errorf("Chat error = %v, want invalid_response", err)
			}
			_, err = readAll(t, c, hello("m"))
			if !errors.As(err, &pe) || pe.Type != "invalid_response" {
				t.Errorf("stream error = %v, want invalid_response", err)
			}
		})
	}
}
