package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// testModel is the upstream model every request of the suite names.
const testModel = "conformance-model"

// callTimeout bounds every call the suite makes, so a broken adapter fails
// instead of hanging the test binary.
const callTimeout = 10 * time.Second

// Run drives h's adapter through every behaviour the canonical interface
// promises, each in a named subtest with a fresh fake and provider. Fakes
// returned by h.NewFake must shut themselves down through t.Cleanup.
func Run(t *testing.T, h Harness) {
	t.Helper()
	t.Run("ChatText", func(t *testing.T) { testChatText(t, h) })
	t.Run("ChatTools", func(t *testing.T) { testChatTools(t, h) })
	t.Run("ChatToolResults", func(t *testing.T) { testChatToolResults(t, h) })
	t.Run("StreamText", func(t *testing.T) { testStreamText(t, h) })
	t.Run("StreamTools", func(t *testing.T) { testStreamTools(t, h) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, h) })
	t.Run("MidStreamError", func(t *testing.T) { testMidStreamError(t, h) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, h) })
	t.Run("Images", func(t *testing.T) {
		if !h.Images {
			t.Skip("adapter does not declare image input")
		}
		testImages(t, h)
	})
	t.Run("Embeddings", func(t *testing.T) {
		if !h.Embeddings {
			t.Skip("adapter does not declare embeddings")
		}
		testEmbeddings(t, h)
	})
	t.Run("Passthrough", func(t *testing.T) { testPassthrough(t, h) })
}

// setup starts a fresh fake scripted with s and an adapter pointed at it.
func setup(t *testing.T, h Harness, s Scenario) (Fake, provider.Provider) {
	t.Helper()
	f := h.NewFake(t)
	f.Script(s)
	p := h.NewProvider(t, f.URL())
	if p == nil {
		t.Fatal("NewProvider returned nil")
	}
	return f, p
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

// conversation is the canonical multi-turn request ChatText and StreamText send.
func conversation() *provider.ChatRequest {
	return &provider.ChatRequest{
		Model: testModel,
		Messages: []provider.Message{
			provider.TextMessage(provider.RoleSystem, "You are terse."),
			provider.TextMessage(provider.RoleUser, "Name a colour."),
			provider.TextMessage(provider.RoleAssistant, "Blue."),
			provider.TextMessage(provider.RoleUser, "Another one."),
		},
		MaxTokens:   ptr(64),
		Temperature: ptr(0.25),
		Stop:        []string{"END", "STOP"},
	}
}

// wantConversation is what the fake must have decoded from conversation().
var wantConversation = []CapturedMessage{
	{Role: provider.RoleUser, Text: "Name a colour."},
	{Role: provider.RoleAssistant, Text: "Blue."},
	{Role: provider.RoleUser, Text: "Another one."},
}

const answerText = "Green is the colour of spring leaves and of go signals."

var answerUsage = provider.Usage{InputTokens: 21, OutputTokens: 13}

func checkConversationCaptured(t *testing.T, f Fake, wantStream bool) {
	t.Helper()
	if n := f.Requests(); n != 1 {
		t.Fatalf("fake received %d requests, want exactly 1 (adapters must not retry)", n)
	}
	c := f.Last()
	if c.Method != http.MethodPost {
		t.Errorf("captured method = %q, want POST", c.Method)
	}
	if c.Model != testModel {
		t.Errorf("captured model = %q, want %q", c.Model, testModel)
	}
	if c.Stream != wantStream {
		t.Errorf("captured stream = %v, want %v", c.Stream, wantStream)
	}
	if c.MaxTokens != 64 {
		t.Errorf("captured max tokens = %d, want 64", c.MaxTokens)
	}
	if c.Temperature == nil || *c.Temperature != 0.25 {
		t.Errorf("captured temperature = %v, want 0.25", fmtPtr(c.Temperature))
	}
	if !slices.Equal(c.Stop, []string{"END", "STOP"}) {
		t.Errorf("captured stop = %q, want [END STOP]", c.Stop)
	}
	if c.System != "You are terse." {
		t.Errorf("captured system = %q, want %q", c.System, "You are terse.")
	}
	checkMessages(t, c.Messages, wantConversation)
}

func checkMessages(t *testing.T, got, want []CapturedMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("captured %d messages %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Role != w.Role || g.Text != w.Text {
			t.Errorf("captured message %d = {%s %q}, want {%s %q}", i, g.Role, g.Text, w.Role, w.Text)
		}
	}
}

func fmtPtr(p *float64) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func testChatText(t *testing.T, h Harness) {
	f, p := setup(t, h, Scenario{Text: answerText, Usage: answerUsage, FinishReason: provider.FinishStop})
	resp, err := p.Chat(callCtx(t), conversation())
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(resp.Choices))
	}
	ch := resp.Choices[0]
	if ch.Message.Role != provider.RoleAssistant {
		t.Errorf("role = %q, want assistant", ch.Message.Role)
	}
	if got := ch.Message.Text(); got != answerText {
		t.Errorf("text = %q, want %q", got, answerText)
	}
	if len(ch.Message.ToolCalls) != 0 {
		t.Errorf("unexpected tool calls %+v", ch.Message.ToolCalls)
	}
	if ch.FinishReason != provider.FinishStop {
		t.Errorf("finish reason = %q, want stop", ch.FinishReason)
	}
	if resp.Usage != answerUsage {
		t.Errorf("usage = %+v, want %+v", resp.Usage, answerUsage)
	}
	if resp.RawFormat != h.Format || len(resp.Raw) == 0 {
		t.Errorf("raw = %d bytes in %q, want the upstream body in %q", len(resp.Raw), resp.RawFormat, h.Format)
	}
	checkConversationCaptured(t, f, false)
}

// weatherTools are the two tools the tool tests offer.
func weatherTools() []provider.Tool {
	return []provider.Tool{
		{
			Name:        "get_weather",
			Description: "Current weather in a city.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		},
		{
			Name:        "get_time",
			Description: "Local time in a city.",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"utc":{"type":"boolean"}}}`),
		},
	}
}

var wantCalls = []provider.ToolCall{
	{ID: "call_w1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
	{ID: "call_t1", Name: "get_time", Arguments: `{"city":"Paris","utc":true}`},
}

func toolRequest() *provider.ChatRequest {
	return &provider.ChatRequest{
		Model:      testModel,
		Messages:   []provider.Message{provider.TextMessage(provider.RoleUser, "Weather and time in Paris?")},
		MaxTokens:  ptr(128),
		Tools:      weatherTools(),
		ToolChoice: &provider.ToolChoice{Mode: "auto"},
	}
}

func checkToolCalls(t *testing.T, got []provider.ToolCall) {
	t.Helper()
	if len(got) != len(wantCalls) {
		t.Fatalf("got %d tool calls %+v, want %d", len(got), got, len(wantCalls))
	}
	for i, w := range wantCalls {
		g := got[i]
		if g.ID == "" {
			t.Errorf("tool call %d has an empty ID", i)
		}
		if g.Name != w.Name {
			t.Errorf("tool call %d name = %q, want %q", i, g.Name, w.Name)
		}
		if !jsonEqual(g.Arguments, w.Arguments) {
			t.Errorf("tool call %d arguments = %s, want %s", i, g.Arguments, w.Arguments)
		}
	}
}

func testChatTools(t *testing.T, h Harness) {
	f, p := setup(t, h, Scenario{ToolCalls: wantCalls, Usage: answerUsage, FinishReason: provider.FinishToolCalls})
	resp, err := p.Chat(callCtx(t), toolRequest())
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if len(resp.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(resp.Choices))
	}
	checkToolCalls(t, resp.Choices[0].Message.ToolCalls)
	if fr := resp.Choices[0].FinishReason; fr != provider.FinishToolCalls {
		t.Errorf("finish reason = %q, want tool_calls", fr)
	}
	if resp.Usage != answerUsage {
		t.Errorf("usage = %+v, want %+v", resp.Usage, answerUsage)
	}
	c := f.Last()
	if want := []string{"get_weather", "get_time"}; !slices.Equal(c.ToolNames, want) {
		t.Errorf("captured tool names = %q, want %q", c.ToolNames, want)
	}
	checkMessages(t, c.Messages, []CapturedMessage{{Role: provider.RoleUser, Text: "Weather and time in Paris?"}})
}

// testChatToolResults sends a conversation that already holds a tool call
// and its result, as a client does on the turn after a tool call.
func testChatToolResults(t *testing.T, h Harness) {
	f, p := setup(t, h, Scenario{Text: "It is sunny in Paris.", Usage: answerUsage, FinishReason: provider.FinishStop})
	req := toolRequest()
	req.Messages = append(req.Messages,
		provider.Message{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{
			{ID: "call_w1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
		}},
		provider.Message{Role: provider.RoleTool, ToolCallID: "call_w1", Name: "get_weather",
			Content: []provider.Part{{Type: provider.PartText, Text: `{"sky":"sunny"}`}}, TextOnly: true},
	)
	resp, err := p.Chat(callCtx(t), req)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Text() != "It is sunny in Paris." {
		t.Errorf("choices = %+v, want one with the scripted text", resp.Choices)
	}
	msgs := f.Last().Messages
	if len(msgs) != 3 {
		t.Fatalf("captured %d messages %+v, want 3 (user, assistant call, tool result)", len(msgs), msgs)
	}
	if msgs[0].Role != provider.RoleUser {
		t.Errorf("message 0 role = %q, want user", msgs[0].Role)
	}
	if msgs[1].Role != provider.RoleAssistant || !slices.Equal(msgs[1].ToolCallIDs, []string{"call_w1"}) {
		t.Errorf("message 1 = %+v, want an assistant turn calling call_w1", msgs[1])
	}
	if msgs[2].Role != provider.RoleTool || msgs[2].ToolResult != "call_w1" {
		t.Errorf("message 2 = %+v, want a tool result for call_w1", msgs[2])
	}
}

func testImages(t *testing.T, h Harness) {
	f, p := setup(t, h, Scenario{Text: "A red dot.", Usage: answerUsage, FinishReason: provider.FinishStop})
	req := &provider.ChatRequest{
		Model:     testModel,
		MaxTokens: ptr(32),
		Messages: []provider.Message{{Role: provider.RoleUser, Content: []provider.Part{
			{Type: provider.PartText, Text: "What is in this picture?"},
			{Type: provider.PartImage, ImageURL: tinyPNG, ImageDetail: "low"},
		}}},
	}
	if _, err := p.Chat(callCtx(t), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	msgs := f.Last().Messages
	if len(msgs) != 1 {
		t.Fatalf("captured %d messages, want 1", len(msgs))
	}
	if msgs[0].Images != 1 {
		t.Errorf("captured %d images, want 1", msgs[0].Images)
	}
	if msgs[0].Text != "What is in this picture?" {
		t.Errorf("captured text = %q, want the text part", msgs[0].Text)
	}
}

// tinyPNG is a 1×1 PNG as a data: URI.
const tinyPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

func testEmbeddings(t *testing.T, h Harness) {
	want := [][]float32{{0.25, -0.5, 1}, {0.125, 0, -1}}
	f, p := setup(t, h, Scenario{Embeddings: want, Usage: provider.Usage{InputTokens: 7}})
	e, ok := p.(provider.Embedder)
	if !ok {
		t.Fatalf("%T does not implement provider.Embedder", p)
	}
	resp, err := e.Embed(callCtx(t), &provider.EmbeddingRequest{
		Model: testModel, Input: []string{"first text", "second text"},
	})
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	if !reflect.DeepEqual(resp.Data, want) {
		t.Errorf("vectors = %v, want %v", resp.Data, want)
	}
	if resp.Usage.InputTokens != 7 {
		t.Errorf("usage input tokens = %d, want 7", resp.Usage.InputTokens)
	}
	c := f.Last()
	if !slices.Equal(c.Inputs, []string{"first text", "second text"}) {
		t.Errorf("captured inputs = %q", c.Inputs)
	}
	if c.Model != testModel {
		t.Errorf("captured model = %q, want %q", c.Model, testModel)
	}
}

// passthroughBodies are raw client bodies per format, each naming a model
// other than the request's and carrying a field no canonical schema knows.
var passthroughBodies = map[provider.Format]string{
	provider.FormatOpenAI:    `{"model":"client-model","messages":[{"role":"user","content":"Hello"}],"max_tokens":16,"x_custom":{"a":1}}`,
	provider.FormatAnthropic: `{"model":"client-model","max_tokens":16,"messages":[{"role":"user","content":"Hello"}],"x_custom":{"a":1}}`,
	provider.FormatGemini:    `{"contents":[{"role":"user","parts":[{"text":"Hello"}]}],"generationConfig":{"maxOutputTokens":16},"x_custom":{"a":1}}`,
}

func testPassthrough(t *testing.T, h Harness) {
	raw := h.PassthroughBody
	if raw == nil {
		b, ok := passthroughBodies[h.Format]
		if !ok {
			t.Skipf("no passthrough body for format %q; set Harness.PassthroughBody", h.Format)
		}
		raw = []byte(b)
	}
	for _, stream := range []bool{false, true} {
		name := "Chat"
		if stream {
			name = "Stream"
		}
		t.Run(name, func(t *testing.T) {
			f, p := setup(t, h, Scenario{Text: answerText, Usage: answerUsage, FinishReason: provider.FinishStop})
			req := &provider.ChatRequest{
				Model:     testModel,
				Messages:  []provider.Message{provider.TextMessage(provider.RoleUser, "Hello")},
				MaxTokens: ptr(16),
				Stream:    stream,
				Raw:       slices.Clone(raw),
				RawFormat: h.Format,
			}
			sent := slices.Clone(req.Raw)
			var text string
			if stream {
				chunks, err := collect(t, p, req)
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				text = contentOf(chunks)
			} else {
				resp, err := p.Chat(callCtx(t), req)
				if err != nil {
					t.Fatalf("Chat: %v", err)
				}
				if len(resp.Choices) > 0 {
					text = resp.Choices[0].Message.Text()
				}
			}
			if text != answerText {
				t.Errorf("text = %q, want %q", text, answerText)
			}
			if !slices.Equal(req.Raw, sent) {
				t.Errorf("adapter modified req.Raw in place")
			}
			c := f.Last()
			if c.Model != testModel {
				t.Errorf("captured model = %q, want the request's %q", c.Model, testModel)
			}
			if c.Stream != stream {
				t.Errorf("captured stream = %v, want %v", c.Stream, stream)
			}
			v, ok, err := jsonscan.GetField(c.Body, "x_custom")
			if err != nil || !ok {
				t.Fatalf("upstream body lacks x_custom (err %v): %s", err, c.Body)
			}
			if string(v) != `{"a":1}` {
				t.Errorf("x_custom = %s, want {\"a\":1} unchanged", v)
			}
		})
	}
}

func jsonEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// asProviderError returns err as a *provider.Error, failing the test if it
// is not one.
func asProviderError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe
}

// collect reads a stream to its end. It returns the chunks read and the
// error that ended the stream, nil for io.EOF.
func collect(t *testing.T, p provider.Provider, req *provider.ChatRequest) ([]*provider.StreamChunk, error) {
	t.Helper()
	s, err := p.ChatStream(callCtx(t), req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var chunks []*provider.StreamChunk
	for {
		c, err := s.Next()
		if err == io.EOF {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		if c == nil {
			t.Fatal("Next returned a nil chunk and no error")
		}
		chunks = append(chunks, c)
	}
}

// contentOf concatenates the content deltas of choice 0.
func contentOf(chunks []*provider.StreamChunk) string {
	var b []byte
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.Index == 0 {
				b = append(b, ch.Content...)
			}
		}
	}
	return string(b)
}
