package e2e_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

var requestIDPattern = regexp.MustCompile(`^req_[0-9a-f]{24}$`)

// weatherTool is a function tool the simulator calls with sample arguments
// (its one required string property gets the last user message).
func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Current weather in a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})
}

func timeTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "get_time",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{}},
	})
}

// TestOpenAIChat drives chat completions, embeddings and models with the
// official OpenAI SDK: against the simulator (translation from the
// canonical schema) and against the OpenAI fake (passthrough).
func TestOpenAIChat(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("sim", map[string]any{"output_tokens": 12, "seed": 1})
	embed := g.createModel(modelSpec{Name: "sim-embed", Kind: chorus.KindEmbedding})
	g.createDeployment(deploymentSpec{ModelID: embed.ID, Name: "sim-embed-sim", Provider: chorus.ProviderSimulator,
		Settings: map[string]any{"dimensions": 16, "seed": 3}, InputPrice: 20_000})
	fake := openaitest.New(t)
	const upstreamSecret = "sk-upstream-openai-secret-1234"
	g.upstream("oa", chorus.ProviderOpenAI, fake.URL(), "gpt-upstream", upstreamSecret)
	key := g.customer()
	c := g.openAI(key.Key)

	const prompt = "Tell me about gateways"
	ctx := testContext(t, 60*time.Second)

	// The non-streamed answer every streamed one is compared with.
	var raw *http.Response
	want, err := c.Chat.Completions.New(ctx, chatParams("sim", prompt), option.WithResponseInto(&raw))
	if err != nil {
		t.Fatalf("chat: %v", err)
	}

	t.Run("NonStreaming", func(t *testing.T) {
		if want.Object != "chat.completion" || want.ID == "" || want.Created == 0 {
			t.Errorf("object, id, created = %q, %q, %d; want chat.completion, an ID and a time", want.Object, want.ID, want.Created)
		}
		if len(want.Choices) != 1 {
			t.Fatalf("choices = %d, want 1", len(want.Choices))
		}
		ch := want.Choices[0]
		if got := words(ch.Message.Content); got != 12 || !strings.HasSuffix(ch.Message.Content, ".") {
			t.Errorf("content = %q (%d words), want 12 words ending in a period", ch.Message.Content, got)
		}
		if ch.FinishReason != "stop" || ch.Message.Role != "assistant" || len(ch.Message.ToolCalls) != 0 {
			t.Errorf("finish %q role %q tool calls %d; want stop, assistant, none", ch.FinishReason, ch.Message.Role, len(ch.Message.ToolCalls))
		}
		u := want.Usage
		if u.CompletionTokens != 12 || u.PromptTokens < 1 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage = %d prompt + %d completion = %d total; want 12 completion tokens that add up", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
		}
		h := raw.Header
		if h.Get("X-Chorus-Model") != "sim" || h.Get("X-Chorus-Deployment") != "sim-sim" || h.Get("X-Chorus-Provider") != "simulator" {
			t.Errorf("x-chorus headers = model %q deployment %q provider %q; want sim, sim-sim, simulator",
				h.Get("X-Chorus-Model"), h.Get("X-Chorus-Deployment"), h.Get("X-Chorus-Provider"))
		}
		if id := h.Get("X-Request-Id"); !requestIDPattern.MatchString(id) {
			t.Errorf("X-Request-Id = %q, want req_ and 24 hex digits", id)
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		again, err := c.Chat.Completions.New(ctx, chatParams("sim", prompt))
		if err != nil {
			t.Fatal(err)
		}
		if again.Choices[0].Message.Content != want.Choices[0].Message.Content {
			t.Errorf("same seed and prompt answered %q, then %q", want.Choices[0].Message.Content, again.Choices[0].Message.Content)
		}
	})

	t.Run("CallerRequestID", func(t *testing.T) {
		var raw *http.Response
		if _, err := c.Chat.Completions.New(ctx, chatParams("sim", prompt), option.WithHeader("X-Request-Id", "trace-e2e-42"),
			option.WithResponseInto(&raw)); err != nil {
			t.Fatal(err)
		}
		if got := raw.Header.Get("X-Request-Id"); got != "trace-e2e-42" {
			t.Errorf("X-Request-Id = %q, want the caller's trace-e2e-42", got)
		}
	})

	t.Run("StreamWithUsage", func(t *testing.T) {
		var log exchangeLog
		p := chatParams("sim", prompt)
		p.StreamOptions.IncludeUsage = openai.Bool(true)
		s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p, log.openAI()))
		if s.usageChunks != 1 {
			t.Errorf("usage chunks = %d, want exactly 1", s.usageChunks)
		}
		if len(s.acc.Choices) != 1 {
			t.Fatalf("accumulated choices = %d, want 1", len(s.acc.Choices))
		}
		if got := s.acc.Choices[0].Message.Content; got != want.Choices[0].Message.Content {
			t.Errorf("streamed text = %q, want the non-streamed %q", got, want.Choices[0].Message.Content)
		}
		if s.chunks < 12 {
			t.Errorf("chunks = %d, want at least one per token (12)", s.chunks)
		}
		if s.acc.Choices[0].FinishReason != "stop" {
			t.Errorf("finish reason = %q, want stop", s.acc.Choices[0].FinishReason)
		}
		if u := s.acc.Usage; u.PromptTokens != want.Usage.PromptTokens || u.CompletionTokens != 12 || u.TotalTokens != u.PromptTokens+12 {
			t.Errorf("streamed usage = %+v, want %d prompt and 12 completion tokens", u, want.Usage.PromptTokens)
		}
		h := log.Header()
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("Content-Type = %q, want text/event-stream", ct)
		}
		if h.Get("X-Chorus-Deployment") != "sim-sim" || !requestIDPattern.MatchString(h.Get("X-Request-Id")) {
			t.Errorf("stream headers deployment %q request id %q", h.Get("X-Chorus-Deployment"), h.Get("X-Request-Id"))
		}
	})

	t.Run("StreamWithoutUsage", func(t *testing.T) {
		s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, chatParams("sim", prompt)))
		if s.usageChunks != 0 {
			t.Errorf("usage chunks = %d, want none: the client did not ask for usage", s.usageChunks)
		}
		if got := s.acc.Choices[0].Message.Content; got != want.Choices[0].Message.Content {
			t.Errorf("streamed text = %q, want %q", got, want.Choices[0].Message.Content)
		}
	})

	t.Run("StreamFraming", func(t *testing.T) {
		r := g.do("POST", "/v1/chat/completions", key.Key, map[string]any{
			"model": "sim", "stream": true, "messages": []map[string]string{{"role": "user", "content": prompt}},
		})
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		frames := strings.Split(strings.TrimSuffix(string(r.Body), "\n\n"), "\n\n")
		for i, f := range frames {
			if !strings.HasPrefix(f, "data: ") || strings.Contains(f, "\n") {
				t.Fatalf("frame %d = %q, want one data: line", i, f)
			}
			if i < len(frames)-1 && !json.Valid([]byte(f[len("data: "):])) {
				t.Errorf("frame %d is not JSON: %q", i, f)
			}
		}
		if last := frames[len(frames)-1]; last != "data: [DONE]" {
			t.Errorf("last frame = %q, want data: [DONE]", last)
		}
	})

	t.Run("Tools", func(t *testing.T) {
		p := chatParams("sim", "Weather in Paris?")
		p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool(), timeTool()}
		resp, err := c.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Choices[0]
		if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
			t.Fatalf("finish %q, tool calls %+v; want one call and tool_calls", ch.FinishReason, ch.Message.ToolCalls)
		}
		tc := ch.Message.ToolCalls[0]
		checkWeatherCall(t, tc.ID, tc.Type, tc.Function.Name, tc.Function.Arguments, "Weather in Paris?")
		if resp.Usage.CompletionTokens < 1 {
			t.Errorf("completion tokens = %d for a tool call, want > 0", resp.Usage.CompletionTokens)
		}

		p.Messages = append(p.Messages, ch.Message.ToParam(), openai.ToolMessage(`{"temperature_c": 21}`, tc.ID))
		follow, err := c.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatalf("follow-up with the tool result: %v", err)
		}
		fc := follow.Choices[0]
		if fc.FinishReason != "stop" || len(fc.Message.ToolCalls) != 0 || words(fc.Message.Content) != 12 {
			t.Errorf("follow-up = finish %q, %d tool calls, text %q; want 12 words of text and stop", fc.FinishReason, len(fc.Message.ToolCalls), fc.Message.Content)
		}
	})

	t.Run("ToolsStreaming", func(t *testing.T) {
		p := chatParams("sim", "Weather in Oslo?")
		p.Tools = []openai.ChatCompletionToolUnionParam{weatherTool()}
		s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p))
		ch := s.acc.Choices[0]
		if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
			t.Fatalf("finish %q, tool calls %+v; want one call and tool_calls", ch.FinishReason, ch.Message.ToolCalls)
		}
		tc := ch.Message.ToolCalls[0]
		checkWeatherCall(t, tc.ID, tc.Type, tc.Function.Name, tc.Function.Arguments, "Weather in Oslo?")
		if len(s.toolCalls) != 1 || s.toolCalls[0].ID != tc.ID || s.toolCalls[0].Arguments != tc.Function.Arguments {
			t.Errorf("JustFinishedToolCall saw %+v, want the one call %s", s.toolCalls, tc.ID)
		}

		p.Messages = append(p.Messages, ch.Message.ToParam(), openai.ToolMessage("It is 3 degrees and snowing.", tc.ID))
		f := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p))
		fc := f.acc.Choices[0]
		if fc.FinishReason != "stop" || len(fc.Message.ToolCalls) != 0 || words(fc.Message.Content) != 12 {
			t.Errorf("streamed follow-up = finish %q, %d tool calls, text %q; want text and stop", fc.FinishReason, len(fc.Message.ToolCalls), fc.Message.Content)
		}
	})

	t.Run("N2", func(t *testing.T) {
		p := chatParams("sim", prompt)
		p.N = openai.Int(2)
		resp, err := c.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Choices) != 2 {
			t.Fatalf("choices = %d, want 2", len(resp.Choices))
		}
		for i, ch := range resp.Choices {
			if ch.Index != int64(i) || words(ch.Message.Content) != 12 || ch.FinishReason != "stop" {
				t.Errorf("choice %d = index %d, %q, %q", i, ch.Index, ch.Message.Content, ch.FinishReason)
			}
		}
		if resp.Usage.CompletionTokens != 24 {
			t.Errorf("completion tokens = %d, want 24 (two answers of 12)", resp.Usage.CompletionTokens)
		}
	})

	t.Run("Passthrough", func(t *testing.T) {
		var log exchangeLog
		p := openai.ChatCompletionNewParams{
			Model: "oa",
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("Answer in JSON."),
				openai.UserMessage("Name a colour."),
			},
			N:           openai.Int(2),
			Temperature: openai.Float(0.3),
			Stop:        openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END", "STOP"}},
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
					Name:   "colour",
					Strict: openai.Bool(true),
					Schema: map[string]any{
						"type": "object", "additionalProperties": false,
						"properties": map[string]any{"name": map[string]any{"type": "string"}},
						"required":   []string{"name"},
					},
				},
			}},
		}
		var raw *http.Response
		resp, err := c.Chat.Completions.New(ctx, p, log.openAI(), option.WithResponseInto(&raw),
			option.WithJSONSet("x_vendor_option", map[string]any{"a": 1, "b": []any{true, nil}}))
		if err != nil {
			t.Fatal(err)
		}
		sent := log.Body()
		if !bytes.Contains(sent, []byte(`"model":"oa"`)) {
			t.Fatalf("the SDK's body %s does not hold \"model\":\"oa\"", sent)
		}
		wantBody := bytes.Replace(sent, []byte(`"model":"oa"`), []byte(`"model":"gpt-upstream"`), 1)
		last := fake.Last()
		if !bytes.Equal(last.Body, wantBody) {
			t.Errorf("upstream got\n%s\nwant the client's body with only the model replaced:\n%s", last.Body, wantBody)
		}
		var up map[string]json.RawMessage
		if err := json.Unmarshal(last.Body, &up); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"x_vendor_option": `{"a":1,"b":[true,null]}`, "n": "2", "temperature": "0.3", "stop": `["END","STOP"]`} {
			if got := string(up[k]); got != v {
				t.Errorf("upstream %s = %s, want %s", k, got, v)
			}
		}
		if !strings.Contains(string(up["response_format"]), `"json_schema"`) {
			t.Errorf("upstream response_format = %s, want the json_schema", up["response_format"])
		}
		if got := last.Header.Get("Authorization"); got != "Bearer "+upstreamSecret {
			t.Errorf("upstream Authorization = %q, want the deployment's credential", got)
		}
		if strings.Contains(strings.Join(last.Header.Values("Authorization"), " "), key.Key) {
			t.Error("the client's key reached the upstream")
		}
		// The upstream's answer is relayed as is: its fingerprint and ID survive.
		if !strings.Contains(resp.RawJSON(), `"system_fingerprint":"fp_fake"`) || resp.ID != "chatcmpl-fake" || resp.Choices[0].Message.Content != "Hello from the fake." {
			t.Errorf("answer = id %q content %q; want the fake's, with its fingerprint", resp.ID, resp.Choices[0].Message.Content)
		}
		if resp.Usage.PromptTokens != 9 || resp.Usage.CompletionTokens != 5 {
			t.Errorf("usage = %+v, want the fake's 9 + 5", resp.Usage)
		}
		if raw.Header.Get("X-Chorus-Provider") != "openai" || raw.Header.Get("X-Chorus-Deployment") != "oa-dep" {
			t.Errorf("headers provider %q deployment %q", raw.Header.Get("X-Chorus-Provider"), raw.Header.Get("X-Chorus-Deployment"))
		}
	})

	t.Run("PassthroughStream", func(t *testing.T) {
		for _, include := range []bool{false, true} {
			p := chatParams("oa", "Stream please")
			if include {
				p.StreamOptions.IncludeUsage = openai.Bool(true)
			}
			s := collectOpenAI(t, c.Chat.Completions.NewStreaming(ctx, p))
			if got := s.acc.Choices[0].Message.Content; got != "Hello from the fake." {
				t.Errorf("include_usage %v: text = %q, want the fake's", include, got)
			}
			wantUsage := 0
			if include {
				wantUsage = 1
			}
			if s.usageChunks != wantUsage {
				t.Errorf("include_usage %v: usage chunks = %d, want %d", include, s.usageChunks, wantUsage)
			}
			if include && (s.acc.Usage.PromptTokens != 9 || s.acc.Usage.CompletionTokens != 5) {
				t.Errorf("usage = %+v, want 9 + 5", s.acc.Usage)
			}
			// The gateway always asks the upstream for usage, to meter the stream.
			var up struct {
				StreamOptions struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			if err := json.Unmarshal(fake.Last().Body, &up); err != nil || !up.StreamOptions.IncludeUsage {
				t.Errorf("include_usage %v: upstream body %s does not ask for usage", include, fake.Last().Body)
			}
		}
	})

	t.Run("Embeddings", func(t *testing.T) {
		in := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta gamma"}}
		var raw *http.Response
		f, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "sim-embed", Input: in}, option.WithResponseInto(&raw))
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "sim-embed", Input: in,
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Data) != 2 || len(b.Data) != 2 {
			t.Fatalf("data = %d float, %d base64; want 2 each", len(f.Data), len(b.Data))
		}
		for i := range f.Data {
			if f.Data[i].Index != int64(i) || len(f.Data[i].Embedding) != 16 {
				t.Errorf("float[%d] = index %d, %d dimensions; want %d, 16", i, f.Data[i].Index, len(f.Data[i].Embedding), i)
			}
			if !equalFloat32(f.Data[i].Embedding, b.Data[i].Embedding) {
				t.Errorf("embedding %d: float %v != base64 %v", i, f.Data[i].Embedding, b.Data[i].Embedding)
			}
		}
		if equalFloat32(f.Data[0].Embedding, f.Data[1].Embedding) {
			t.Error("different inputs got the same vector")
		}
		if f.Usage.PromptTokens < 2 || f.Usage.TotalTokens != f.Usage.PromptTokens || b.Usage.PromptTokens != f.Usage.PromptTokens {
			t.Errorf("usage float %+v base64 %+v; want equal prompt tokens > 1", f.Usage, b.Usage)
		}
		if raw.Header.Get("X-Chorus-Model") != "sim-embed" {
			t.Errorf("X-Chorus-Model = %q", raw.Header.Get("X-Chorus-Model"))
		}
	})

	t.Run("WrongKind", func(t *testing.T) {
		_, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "sim",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")}})
		if e := wantOpenAIError(t, err, 400, "invalid_request_error", "-"); e.Param != "model" {
			t.Errorf("param = %q, want model", e.Param)
		}
		_, err = c.Chat.Completions.New(ctx, chatParams("sim-embed", "hi"))
		if e := wantOpenAIError(t, err, 400, "invalid_request_error", "-"); e.Param != "model" {
			t.Errorf("param = %q, want model", e.Param)
		}
	})

	t.Run("Models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range page.Data {
			ids = append(ids, m.ID)
			if m.Object != "model" || m.Created == 0 || m.OwnedBy == "" {
				t.Errorf("model %+v lacks object, created or owned_by", m)
			}
		}
		if want := []string{"oa", "sim", "sim-embed"}; !slices.Equal(ids, want) {
			t.Errorf("models = %v, want %v", ids, want)
		}

		restricted := g.openAI(g.customer("sim").Key)
		page, err = restricted.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "sim" {
			t.Errorf("restricted key sees %+v, want only sim", page.Data)
		}
		m, err := restricted.Models.Get(ctx, "sim")
		if err != nil || m.ID != "sim" || m.OwnedBy != "chorus" {
			t.Errorf("get sim = %+v, %v; want sim owned by chorus", m, err)
		}
		_, err = restricted.Models.Get(ctx, "oa")
		wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found")
		_, err = c.Models.Get(ctx, "no-such-model")
		wantOpenAIError(t, err, 404, "invalid_request_error", "model_not_found")
	})
}

// checkWeatherCall checks a call of weatherTool made for prompt.
func checkWeatherCall(t *testing.T, id, typ, name, arguments, prompt string) {
	t.Helper()
	if id == "" || typ != "function" || name != "get_weather" {
		t.Errorf("tool call = id %q type %q name %q; want an ID, function, get_weather", id, typ, name)
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(arguments), &args); err != nil || args["city"] != prompt || len(args) != 1 {
		t.Errorf("arguments = %s (%v), want {\"city\": %q}", arguments, err, prompt)
	}
}

func equalFloat32(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if float32(a[i]) != float32(b[i]) || math.IsNaN(a[i]) {
			return false
		}
	}
	return true
}
