package e2e_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	oaissestream "github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/gemini/geminitest"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// responsesParams is a Responses request with a string input.
func responsesParams(model, input string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(input)}}
}

// responsesStream is what one streamed response produced.
type responsesStream struct {
	types     []string // event types in order
	completed *responses.Response
	text      string
	args      map[string]string // function call arguments by item ID
}

// collectResponses reads a Responses stream to its end, checking sequence
// numbers run 0, 1, 2 … and deltas add up to each .done.
func collectResponses(t *testing.T, s *oaissestream.Stream[responses.ResponseStreamEventUnion]) *responsesStream {
	t.Helper()
	defer s.Close()
	out := &responsesStream{args: map[string]string{}}
	var deltas strings.Builder
	for s.Next() {
		e := s.Current()
		if e.SequenceNumber != int64(len(out.types)) {
			t.Errorf("event %d (%s) has sequence_number %d", len(out.types), e.Type, e.SequenceNumber)
		}
		out.types = append(out.types, e.Type)
		switch e.Type {
		case "response.output_text.delta":
			deltas.WriteString(e.Delta)
		case "response.output_text.done":
			if e.Text != deltas.String() {
				t.Errorf("output_text.done %q, deltas %q", e.Text, deltas.String())
			}
			out.text = e.Text
		case "response.function_call_arguments.delta":
			out.args[e.ItemID] += e.Delta
		case "response.function_call_arguments.done":
			if e.Arguments != out.args[e.ItemID] {
				t.Errorf("arguments.done %q, deltas %q", e.Arguments, out.args[e.ItemID])
			}
		case "response.completed", "response.incomplete":
			r := e.Response
			out.completed = &r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return out
}

// checkResponsesOrder checks a stream's events against OpenAI's documented
// sequence: created, in_progress, then per item added … done, then one
// terminal event last.
func checkResponsesOrder(t *testing.T, types []string) {
	t.Helper()
	if len(types) < 4 || types[0] != "response.created" || types[1] != "response.in_progress" {
		t.Fatalf("events %v: want response.created, response.in_progress first", types)
	}
	if last := types[len(types)-1]; last != "response.completed" && last != "response.incomplete" {
		t.Errorf("last event %s, want response.completed", last)
	}
	open := 0
	for i, typ := range types[2 : len(types)-1] {
		switch typ {
		case "response.output_item.added":
			if open != 0 {
				t.Errorf("event %d: item added while another is open (%v)", i+2, types)
			}
			open++
		case "response.output_item.done":
			open--
		case "response.created", "response.in_progress", "response.completed":
			t.Errorf("event %d: %s in the middle (%v)", i+2, typ, types)
		default:
			if open != 1 {
				t.Errorf("event %d: %s outside an item (%v)", i+2, typ, types)
			}
		}
	}
}

func responsesWeatherTool() responses.ToolUnionParam {
	return responses.ToolParamOfFunction("get_weather", map[string]any{
		"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required": []string{"city"}, "additionalProperties": false,
	}, true)
}

// TestResponsesAPI drives POST /v1/responses with the official openai-go
// client against every provider family through the conformance fakes.
func TestResponsesAPI(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	ant := anthropictest.NewServer(t)
	ant.Script(conformance.Scenario{Text: "Hello from Claude.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 21, OutputTokens: 4}})
	g.upstream("r-claude", chorus.ProviderAnthropic, ant.URL(), "claude-upstream", "sk-ant-secret")
	oai := openaitest.New(t)
	g.upstream("r-gpt", chorus.ProviderOpenAI, oai.URL(), "gpt-upstream", "sk-openai-secret")
	gem := geminitest.New(t)
	gem.Script(conformance.Scenario{Text: "Hello from Gemini.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 13, OutputTokens: 6}})
	g.upstream("r-gemini", chorus.ProviderGemini, gem.URL(), "gemini-upstream", "goog-secret")
	g.simulated("r-sim", nil)
	key := g.customer()
	var log exchangeLog
	oc := g.openAI(key.Key, log.openAI())
	ctx := testContext(t, 90*time.Second)

	t.Run("Simulator", func(t *testing.T) {
		p := responsesParams("r-sim", "Say hello.")
		p.Instructions = openai.String("Be brief.")
		p.Metadata = map[string]string{"ticket": "42"}
		r, err := oc.Responses.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(r.ID, "resp_") || r.Object != "response" || r.Status != "completed" || r.OutputText() == "" {
			t.Errorf("response %s: id %q object %q status %q text %q", r.RawJSON(), r.ID, r.Object, r.Status, r.OutputText())
		}
		if r.Usage.InputTokens == 0 || r.Usage.OutputTokens == 0 || r.Usage.TotalTokens != r.Usage.InputTokens+r.Usage.OutputTokens {
			t.Errorf("usage %+v", r.Usage)
		}
		if r.Model != "r-sim" || r.Instructions.OfString != "Be brief." || r.Metadata["ticket"] != "42" {
			t.Errorf("echo: model %q instructions %+v metadata %v", r.Model, r.Instructions, r.Metadata)
		}
		s := collectResponses(t, oc.Responses.NewStreaming(ctx, p))
		checkResponsesOrder(t, s.types)
		if s.completed == nil || s.completed.Status != "completed" || s.completed.OutputText() != s.text || s.text == "" {
			t.Fatalf("streamed: text %q completed %+v", s.text, s.completed)
		}
		if s.completed.Usage.OutputTokens == 0 {
			t.Errorf("streamed usage %+v", s.completed.Usage)
		}
	})

	t.Run("Conversation", func(t *testing.T) {
		p := responsesParams("r-gpt", "My name is Ada.")
		p.Instructions = openai.String("Be brief.")
		r1, err := oc.Responses.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if oai.Last().System != "Be brief." {
			t.Errorf("upstream system %q", oai.Last().System)
		}
		p2 := responsesParams("r-gpt", "What is my name?")
		p2.PreviousResponseID = openai.String(r1.ID)
		r2, err := oc.Responses.New(ctx, p2)
		if err != nil {
			t.Fatal(err)
		}
		last := oai.Last()
		var roles, texts []string
		for _, m := range last.Messages {
			roles, texts = append(roles, m.Role), append(texts, m.Text)
		}
		if !slices.Equal(roles, []string{"user", "assistant", "user"}) || texts[0] != "My name is Ada." ||
			texts[1] != r1.OutputText() || texts[2] != "What is my name?" || last.System != "" {
			t.Errorf("upstream conversation %v %q (system %q); want the first turn, its answer, the question, no carried instructions", roles, texts, last.System)
		}
		if r2.PreviousResponseID != r1.ID {
			t.Errorf("previous_response_id echoed %q", r2.PreviousResponseID)
		}
		// The stored response reads back as it was sent; its input items page.
		got, err := oc.Responses.Get(ctx, r1.ID, responses.ResponseGetParams{})
		if err != nil || got.ID != r1.ID || got.OutputText() != r1.OutputText() {
			t.Fatalf("get %s: %+v %v", r1.ID, got, err)
		}
		items, err := oc.Responses.InputItems.List(ctx, r2.ID, responses.InputItemListParams{})
		if err != nil || len(items.Data) != 1 || items.Data[0].Type != "message" || items.Data[0].ID == "" {
			t.Fatalf("input items of %s: %+v %v", r2.ID, items, err)
		}
		// The prompt's tokens, counted with and without the stored turns.
		alone, err := oc.Responses.InputTokens.Count(ctx, responses.InputTokenCountParams{Model: openai.String("r-gpt"),
			Input: responses.InputTokenCountParamsInputUnion{OfString: openai.String("What is my name?")}})
		if err != nil {
			t.Fatal(err)
		}
		withHistory, err := oc.Responses.InputTokens.Count(ctx, responses.InputTokenCountParams{Model: openai.String("r-gpt"),
			PreviousResponseID: openai.String(r1.ID), Input: responses.InputTokenCountParamsInputUnion{OfString: openai.String("What is my name?")}})
		if err != nil {
			t.Fatal(err)
		}
		if alone.InputTokens < 5 || withHistory.InputTokens <= alone.InputTokens+5 {
			t.Errorf("input tokens %d alone, %d with the conversation", alone.InputTokens, withHistory.InputTokens)
		}
		// Another team sees nothing.
		other := g.openAI(g.customer().Key)
		if _, err := other.Responses.Get(ctx, r1.ID, responses.ResponseGetParams{}); !isStatus(err, 404) {
			t.Errorf("another team's get: %v, want 404", err)
		}
		p3 := responsesParams("r-gpt", "And mine?")
		p3.PreviousResponseID = openai.String(r1.ID)
		if _, err := other.Responses.New(ctx, p3); !isStatus(err, 404) {
			t.Errorf("another team's previous_response_id: %v, want 404", err)
		}
		// Deleted is gone; store:false keeps nothing.
		if err := oc.Responses.Delete(ctx, r1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := oc.Responses.Get(ctx, r1.ID, responses.ResponseGetParams{}); !isStatus(err, 404) {
			t.Errorf("get after delete: %v", err)
		}
		p4 := responsesParams("r-gpt", "Forget this.")
		p4.Store = openai.Bool(false)
		r4, err := oc.Responses.New(ctx, p4)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oc.Responses.Get(ctx, r4.ID, responses.ResponseGetParams{}); !isStatus(err, 404) {
			t.Errorf("store:false response readable: %v", err)
		}
	})

	t.Run("ToolsAnthropic", func(t *testing.T) {
		ant.Script(conformance.Scenario{ToolCalls: []provider.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
			FinishReason: provider.FinishToolCalls, Usage: provider.Usage{InputTokens: 30, OutputTokens: 8}})
		p := responsesParams("r-claude", "Weather in Paris?")
		p.Tools = []responses.ToolUnionParam{responsesWeatherTool()}
		for _, stream := range []bool{false, true} {
			var r *responses.Response
			if stream {
				s := collectResponses(t, oc.Responses.NewStreaming(ctx, p))
				checkResponsesOrder(t, s.types)
				if !slices.Contains(s.types, "response.function_call_arguments.done") {
					t.Errorf("no function_call_arguments.done in %v", s.types)
				}
				r = s.completed
			} else {
				var err error
				if r, err = oc.Responses.New(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if r == nil || len(r.Output) != 1 || r.Output[0].Type != "function_call" || r.Output[0].CallID != "toolu_1" ||
				r.Output[0].Name != "get_weather" || strings.ReplaceAll(r.Output[0].Arguments.OfString, " ", "") != `{"city":"Paris"}` {
				t.Fatalf("stream %v: output %s, want the get_weather call", stream, r.RawJSON())
			}
			if r.Usage.InputTokens != 30 || r.Usage.OutputTokens != 8 {
				t.Errorf("stream %v: usage %+v, want 30/8", stream, r.Usage)
			}
			if !slices.Equal(ant.Last().ToolNames, []string{"get_weather"}) {
				t.Errorf("upstream tools %v", ant.Last().ToolNames)
			}
			// The tool's result continues the conversation.
			ant.Script(conformance.Scenario{Text: "It is sunny.", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 40, OutputTokens: 4}})
			out := responses.ResponseInputItemParamOfFunctionCallOutput("sunny, 22C")
			out.OfFunctionCallOutput.CallID = openai.String("toolu_1")
			p2 := responses.ResponseNewParams{Model: "r-claude", PreviousResponseID: openai.String(r.ID), Tools: p.Tools,
				Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}}}
			r2, err := oc.Responses.New(ctx, p2)
			if err != nil {
				t.Fatal(err)
			}
			msgs := ant.Last().Messages
			if r2.OutputText() != "It is sunny." || len(msgs) != 3 || !slices.Equal(msgs[1].ToolCallIDs, []string{"toolu_1"}) || msgs[2].ToolResult != "toolu_1" {
				t.Errorf("stream %v: follow-up %q, upstream messages %+v", stream, r2.OutputText(), msgs)
			}
			ant.Script(conformance.Scenario{ToolCalls: []provider.ToolCall{{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
				FinishReason: provider.FinishToolCalls, Usage: provider.Usage{InputTokens: 30, OutputTokens: 8}})
		}
	})

	t.Run("StructuredOutput", func(t *testing.T) {
		p := responsesParams("r-gpt", "A city, as JSON.")
		p.Text = responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
			OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "city", Strict: openai.Bool(true),
				Schema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}}}}
		p.MaxOutputTokens = openai.Int(200)
		p.Temperature = openai.Float(0.2)
		if _, err := oc.Responses.New(ctx, p); err != nil {
			t.Fatal(err)
		}
		var body struct {
			ResponseFormat struct {
				Type       string `json:"type"`
				JSONSchema struct {
					Name   string `json:"name"`
					Strict bool   `json:"strict"`
				} `json:"json_schema"`
			} `json:"response_format"`
		}
		last := oai.Last()
		_ = json.Unmarshal(last.Body, &body)
		if body.ResponseFormat.Type != "json_schema" || body.ResponseFormat.JSONSchema.Name != "city" || !body.ResponseFormat.JSONSchema.Strict ||
			last.MaxTokens != 200 || last.Temperature == nil || *last.Temperature != 0.2 {
			t.Errorf("upstream got %s", last.Body)
		}
	})

	t.Run("HostedToolsDropped", func(t *testing.T) {
		p := responsesParams("r-gemini", "Search the web.")
		p.Tools = []responses.ToolUnionParam{responses.ToolParamOfWebSearch(responses.WebSearchToolTypeWebSearch), responsesWeatherTool()}
		r, err := oc.Responses.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := log.Header().Get("X-Chorus-Dropped-Tools"); got != "web_search" {
			t.Errorf("X-Chorus-Dropped-Tools = %q, want web_search", got)
		}
		if r.OutputText() != "Hello from Gemini." || !slices.Equal(gem.Last().ToolNames, []string{"get_weather"}) {
			t.Errorf("answer %q upstream tools %v", r.OutputText(), gem.Last().ToolNames)
		}
		s := collectResponses(t, oc.Responses.NewStreaming(ctx, p))
		if s.text != "Hello from Gemini." || s.completed.Usage.InputTokens != 13 || s.completed.Usage.OutputTokens != 6 {
			t.Errorf("streamed %q usage %+v", s.text, s.completed.Usage)
		}
	})

	t.Run("CodingAgent", func(t *testing.T) {
		// What coding agents send on every turn: developer items, reasoning
		// with encrypted content asked back, namespace and custom tools,
		// hosted tools, no storage, cache keys and client metadata.
		body := `{"model":"r-claude","instructions":"You are a coding agent.","stream":true,"store":false,
			"input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"<permissions>sandboxed</permissions>"}]},
				{"type":"message","role":"user","content":[{"type":"input_text","text":"Fix the bug."}]}],
			"tools":[{"type":"function","name":"shell","description":"Run a command","strict":false,
					"parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}},"required":["command"]}},
				{"type":"custom","name":"apply_patch","description":"Apply a patch","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}},
				{"type":"namespace","name":"crm","description":"CRM tools","tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{}}}]},
				{"type":"web_search"}],
			"tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"high","summary":"auto"},
			"include":["reasoning.encrypted_content"],"prompt_cache_key":"session-1","client_metadata":{"originator":"agent"},
			"text":{"verbosity":"low"}}`
		ant.Script(conformance.Scenario{Text: "Done.", FinishReason: provider.FinishStop, Usage: provider.Usage{InputTokens: 50, OutputTokens: 2}})
		r := g.do("POST", "/v1/responses", key.Key, body)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "event: response.completed") {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if got := r.Header.Get("X-Chorus-Dropped-Tools"); got != "web_search" {
			t.Errorf("dropped tools header %q", got)
		}
		last := ant.Last()
		if !slices.Equal(last.ToolNames, []string{"shell", "apply_patch", "crm__lookup"}) {
			t.Errorf("upstream tools %v", last.ToolNames)
		}
		if !strings.Contains(last.System, "You are a coding agent.") || !strings.Contains(last.System+fmtMessages(last.Messages), "sandboxed") {
			t.Errorf("upstream system %q messages %+v: instructions and the developer item must arrive", last.System, last.Messages)
		}
		if !strings.Contains(string(last.Body), `"thinking"`) {
			t.Errorf("reasoning.effort high did not turn on thinking upstream: %s", last.Body)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		for name, tc := range map[string]struct {
			body   string
			status int
			param  string
		}{
			"UnknownModel":     {`{"model":"nope","input":"hi"}`, 404, "model"},
			"BadInput":         {`{"model":"r-sim","input":42}`, 400, "input"},
			"UnknownPrevious":  {`{"model":"r-sim","input":"hi","previous_response_id":"resp_missing"}`, 404, "previous_response_id"},
			"Background":       {`{"model":"r-sim","input":"hi","background":true}`, 400, "background"},
			"BadJSON":          {`{"model":`, 400, ""},
			"BadToolItemParam": {`{"model":"r-sim","input":[{"type":"message","role":"user","content":[{"type":"bogus"}]}]}`, 400, "input[0].content[0].type"},
		} {
			t.Run(name, func(t *testing.T) {
				wantAPIError(t, g.do("POST", "/v1/responses", key.Key, tc.body), tc.status, "invalid_request_error", tc.param)
			})
		}
	})

	t.Run("Usage", func(t *testing.T) {
		time.Sleep(500 * time.Millisecond) // the usage writer flushes every 200 ms
		n := 0
		for _, u := range g.listUsage(key.ID) {
			if u.Endpoint == "responses" && u.Status == 200 {
				n++
				if !strings.HasPrefix(u.ResponseID, "resp_") || u.Cost <= 0 {
					t.Errorf("usage record %+v: want a resp_ ID and a cost", u)
				}
			}
		}
		if n < 10 {
			t.Errorf("%d successful responses usage records, want at least 10", n)
		}
	})
}

// TestResponsesHostedToolsRefused checks responses.hosted_tools: refuse.
func TestResponsesHostedToolsRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Responses.HostedTools = config.HostedToolsRefuse })
	g.simulated("r-sim", nil)
	key := g.customer()
	body := `{"model":"r-sim","input":"hi","tools":[{"type":"web_search"}]}`
	e := wantAPIError(t, g.do("POST", "/v1/responses", key.Key, body), 400, "invalid_request_error", "tools")
	if !strings.Contains(e.Error.Message, "web_search") {
		t.Errorf("message %q does not name the tool", e.Error.Message)
	}
}

// fmtMessages joins captured messages' text.
func fmtMessages(ms []conformance.CapturedMessage) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// isStatus reports whether err is an OpenAI SDK error with that status.
func isStatus(err error, status int) bool {
	var e *openai.Error
	return errors.As(err, &e) && e.StatusCode == status
}

// TestResponsesPassthrough sends Responses requests to a deployment that is
// OpenAI's Responses API itself: the body goes as received (model
// rewritten, hosted tools kept), the answer and its events come back as
// OpenAI sent them, and stored conversations continue there.
func TestResponsesPassthrough(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	oai := openaitest.New(t)
	oai.Script(conformance.Scenario{Text: "Hello from the Responses API.", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 17, OutputTokens: 5, CachedInputTokens: 8}})
	c := g.createCredential("resp-cred", chorus.ProviderOpenAI, "sk-openai-secret")
	m := g.createModel(modelSpec{Name: "r-native", MaxOutput: 4096})
	g.createDeployment(deploymentSpec{ModelID: m.ID, Name: "r-native-dep", Provider: chorus.ProviderOpenAI, UpstreamModel: "gpt-5-upstream",
		BaseURL: oai.URL(), CredentialID: &c.ID, Settings: map[string]any{"api": "responses"}, InputPrice: 3_000_000, OutputPrice: 15_000_000})
	key := g.customer()
	var log exchangeLog
	oc := g.openAI(key.Key, log.openAI())
	ctx := testContext(t, 60*time.Second)

	p := responsesParams("r-native", "Find the news.")
	p.Tools = []responses.ToolUnionParam{responses.ToolParamOfWebSearch(responses.WebSearchToolTypeWebSearch)}
	p.Include = []responses.ResponseIncludable{responses.ResponseIncludableReasoningEncryptedContent}
	r1, err := oc.Responses.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	last := oai.Last()
	var sent map[string]any
	_ = json.Unmarshal(last.Body, &sent)
	if last.Path != "/v1/responses" || sent["model"] != "gpt-5-upstream" || !strings.Contains(string(last.Body), `"web_search"`) ||
		!strings.Contains(string(last.Body), "reasoning.encrypted_content") {
		t.Errorf("upstream got %s %s", last.Path, last.Body)
	}
	if h := log.Header().Get("X-Chorus-Dropped-Tools"); h != "" {
		t.Errorf("hosted tools dropped for OpenAI's Responses API: %q", h)
	}
	if !strings.HasPrefix(r1.ID, "resp_fake") || r1.OutputText() != "Hello from the Responses API." ||
		r1.Usage.InputTokens != 17 || r1.Usage.InputTokensDetails.CachedTokens != 8 {
		t.Errorf("answer %s", r1.RawJSON())
	}

	// The follow-up carries the stored conversation in input, upstream.
	p2 := responsesParams("r-native", "And the weather?")
	p2.PreviousResponseID = openai.String(r1.ID)
	s := collectResponses(t, oc.Responses.NewStreaming(ctx, p2))
	checkResponsesOrder(t, s.types)
	if s.completed == nil || s.text != "Hello from the Responses API." || !strings.HasPrefix(s.completed.ID, "resp_fake") {
		t.Fatalf("streamed %q %+v", s.text, s.completed)
	}
	last = oai.Last()
	var body struct {
		Input              []map[string]any `json:"input"`
		PreviousResponseID *string          `json:"previous_response_id"`
		Stream             bool             `json:"stream"`
	}
	if err := json.Unmarshal(last.Body, &body); err != nil || len(body.Input) != 3 || body.PreviousResponseID != nil || !body.Stream {
		t.Errorf("follow-up upstream body %s: want the first turn, its answer and the question, no previous_response_id", last.Body)
	}
	// The streamed answer was stored under OpenAI's ID.
	got, err := oc.Responses.Get(ctx, s.completed.ID, responses.ResponseGetParams{})
	if err != nil || got.OutputText() != s.text || got.PreviousResponseID != r1.ID && got.PreviousResponseID != "" {
		t.Errorf("stored stream answer: %+v %v", got, err)
	}
}
