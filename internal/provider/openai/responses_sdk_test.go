package openai_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// sdkAnswer is the canonical answer the test server gives every request.
type sdkAnswer struct {
	thinking  string
	text      []string // streamed piece by piece
	calls     []provider.ToolCall
	finish    provider.FinishReason
	usage     provider.Usage
	gotChat   *provider.ChatRequest
	gotReq    *openai.ResponsesRequest
	finalResp []byte
}

// responsesServer decodes what the official SDK sends with
// DecodeResponsesRequest and answers with the package's encoders.
func responsesServer(t *testing.T, a *sdkAnswer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/responses" {
			t.Errorf("path = %s", r.URL.Path)
		}
		req, err := openai.DecodeResponsesRequest(body)
		if err != nil {
			t.Errorf("decode %s: %v", body, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.gotReq, a.gotChat = req, req.Chat
		meta := openai.ResponseMeta{ID: "resp_test", CreatedAt: 1700000000, Model: req.Chat.Model, CompletedAt: 1700000001}
		if !req.Chat.Stream {
			w.Header().Set("Content-Type", "application/json")
			w.Write(openai.AppendResponseObject(nil, a.response(), req, meta))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		enc := openai.NewResponsesStreamEncoder(req, meta)
		out := enc.Start(nil)
		for _, c := range a.chunks() {
			out = enc.Encode(out, c)
		}
		out = enc.Finish(out, &a.usage)
		a.finalResp = enc.Response()
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (a *sdkAnswer) response() *provider.ChatResponse {
	m := provider.Message{Role: provider.RoleAssistant, ToolCalls: a.calls}
	if a.thinking != "" {
		m.Content = append(m.Content, provider.Part{Type: provider.PartThinking, Text: a.thinking})
	}
	if len(a.text) > 0 {
		m.Content = append(m.Content, provider.Part{Type: provider.PartText, Text: strings.Join(a.text, "")})
	}
	return &provider.ChatResponse{Choices: []provider.Choice{{Message: m, FinishReason: a.finish}}, Usage: a.usage}
}

func (a *sdkAnswer) chunks() []*provider.StreamChunk {
	one := func(ch provider.ChunkChoice) *provider.StreamChunk {
		return &provider.StreamChunk{Choices: []provider.ChunkChoice{ch}}
	}
	var out []*provider.StreamChunk
	if a.thinking != "" {
		half := len(a.thinking) / 2
		out = append(out, one(provider.ChunkChoice{Role: "assistant", Reasoning: a.thinking[:half]}),
			one(provider.ChunkChoice{Reasoning: a.thinking[half:]}))
	}
	for _, piece := range a.text {
		out = append(out, one(provider.ChunkChoice{Content: piece}))
	}
	for i, tc := range a.calls {
		half := len(tc.Arguments) / 2
		out = append(out,
			one(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: i, ID: tc.ID, Name: tc.Name}}}),
			one(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: i, Arguments: tc.Arguments[:half]}}}),
			one(provider.ChunkChoice{ToolCalls: []provider.ToolCallDelta{{Index: i, Arguments: tc.Arguments[half:]}}}))
	}
	return append(out, one(provider.ChunkChoice{FinishReason: a.finish}))
}

func responsesSDKClient(srv *httptest.Server) sdk.Client {
	return sdk.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

// sdkToolsBody is a request with every kind of tool Chorus translates and
// one hosted tool.
const sdkToolsBody = `{"model":"gpt-test","instructions":"Be terse.","input":"Weather in Paris?",
"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":false},
{"type":"custom","name":"run_sql","description":"Runs SQL"},
{"type":"namespace","name":"crm","description":"CRM","tools":[{"type":"function","name":"lookup","parameters":{"type":"object"}}]},
{"type":"web_search"}],"max_output_tokens":300,"metadata":{"k":"v"}STREAM}`

func toolAnswer() *sdkAnswer {
	return &sdkAnswer{
		thinking: "The user wants weather.",
		text:     []string{"Let me ", "check."},
		calls: []provider.ToolCall{
			{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "call_2", Name: "run_sql", Arguments: `{"input":"SELECT 1"}`},
			{ID: "call_3", Name: "crm__lookup", Arguments: `{"id":7}`},
		},
		finish: provider.FinishToolCalls,
		usage:  provider.Usage{InputTokens: 120, OutputTokens: 40, CachedInputTokens: 100, ReasoningTokens: 12},
	}
}

// checkSDKResponse checks a response as the SDK decoded it.
func checkSDKResponse(t *testing.T, r *responses.Response) {
	t.Helper()
	if r.ID != "resp_test" || r.Model != "gpt-test" || r.Status != responses.ResponseStatusCompleted {
		t.Errorf("id, model, status = %q, %q, %q", r.ID, r.Model, r.Status)
	}
	if r.Instructions.OfString != "Be terse." || r.MaxOutputTokens != 300 || r.Metadata["k"] != "v" {
		t.Errorf("echo: instructions %q, max_output_tokens %d, metadata %v", r.Instructions.OfString, r.MaxOutputTokens, r.Metadata)
	}
	if len(r.Tools) != 4 || r.Tools[3].Type != "web_search" || r.Tools[2].Type != "namespace" {
		t.Errorf("tools echo = %+v", r.Tools)
	}
	if got := r.OutputText(); got != "Let me check." {
		t.Errorf("output text = %q", got)
	}
	var types []string
	for _, it := range r.Output {
		types = append(types, it.Type)
	}
	if strings.Join(types, ",") != "reasoning,message,function_call,custom_tool_call,function_call" {
		t.Fatalf("output types = %v", types)
	}
	if s := r.Output[0].AsReasoning(); len(s.Summary) != 1 || s.Summary[0].Text != "The user wants weather." || !strings.HasPrefix(s.ID, "rs_") {
		t.Errorf("reasoning = %+v", s)
	}
	if m := r.Output[1].AsMessage(); !strings.HasPrefix(m.ID, "msg_") || m.Status != "completed" {
		t.Errorf("message = %+v", m)
	}
	fc := r.Output[2].AsFunctionCall()
	if fc.CallID != "call_1" || fc.Name != "get_weather" || fc.Arguments != `{"city":"Paris"}` || !strings.HasPrefix(fc.ID, "fc_") {
		t.Errorf("function call = %+v", fc)
	}
	if ct := r.Output[3].AsCustomToolCall(); ct.CallID != "call_2" || ct.Name != "run_sql" || ct.Input != "SELECT 1" {
		t.Errorf("custom tool call = %+v", ct)
	}
	if ns := r.Output[4].AsFunctionCall(); ns.Name != "lookup" || ns.Namespace != "crm" || ns.CallID != "call_3" {
		t.Errorf("namespaced call = %+v", ns)
	}
	u := r.Usage
	if u.InputTokens != 120 || u.OutputTokens != 40 || u.TotalTokens != 160 ||
		u.InputTokensDetails.CachedTokens != 100 || u.OutputTokensDetails.ReasoningTokens != 12 {
		t.Errorf("usage = %+v", u)
	}
}

func checkToolsDecoded(t *testing.T, a *sdkAnswer) {
	t.Helper()
	c := a.gotChat
	var names []string
	for _, tl := range c.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "get_weather,run_sql,crm__lookup" {
		t.Errorf("canonical tools = %v", names)
	}
	if got := a.gotReq.HostedTools; len(got) != 1 || got[0] != "web_search" {
		t.Errorf("hosted tools = %v", got)
	}
	if len(c.Messages) != 2 || c.Messages[0].Role != "system" || c.Messages[1].Text() != "Weather in Paris?" {
		t.Errorf("messages = %+v", c.Messages)
	}
}

func TestResponsesSDKNonStream(t *testing.T) {
	a := toolAnswer()
	srv := responsesServer(t, a)
	client := responsesSDKClient(srv)
	body := strings.Replace(sdkToolsBody, "STREAM", "", 1)
	r, err := client.Responses.New(context.Background(), responses.ResponseNewParams{}, option.WithRequestBody("application/json", []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	checkSDKResponse(t, r)
	checkToolsDecoded(t, a)
}

func TestResponsesSDKTypedParams(t *testing.T) {
	a := &sdkAnswer{text: []string{"Hi."}, finish: provider.FinishLength, usage: provider.Usage{InputTokens: 3, OutputTokens: 16}}
	client := responsesSDKClient(responsesServer(t, a))
	r, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model:           shared.ResponsesModel("gpt-test"),
		Input:           responses.ResponseNewParamsInputUnion{OfString: sdk.String("Hello")},
		Instructions:    sdk.String("Be kind."),
		MaxOutputTokens: sdk.Int(16),
		Temperature:     sdk.Float(0.5),
		Reasoning:       shared.ReasoningParam{Effort: shared.ReasoningEffortLow, Summary: shared.ReasoningSummaryAuto},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != responses.ResponseStatusIncomplete || r.IncompleteDetails.Reason != "max_output_tokens" {
		t.Errorf("status %q, incomplete %+v", r.Status, r.IncompleteDetails)
	}
	if r.Temperature != 0.5 || r.Reasoning.Effort != shared.ReasoningEffortLow || r.OutputText() != "Hi." {
		t.Errorf("temperature %v, reasoning %+v, text %q", r.Temperature, r.Reasoning, r.OutputText())
	}
	c := a.gotChat
	if *c.MaxTokens != 16 || *c.Temperature != 0.5 || c.Reasoning == nil || c.Reasoning.Effort != "low" || c.Reasoning.Summary != "auto" {
		t.Errorf("canonical = max %v temp %v reasoning %+v", c.MaxTokens, c.Temperature, c.Reasoning)
	}
	if len(a.gotReq.Input) != 1 || !strings.Contains(string(a.gotReq.Input[0]), `"id":"msg_`) {
		t.Errorf("input = %s", a.gotReq.Input)
	}
}

func TestResponsesSDKStream(t *testing.T) {
	a := toolAnswer()
	client := responsesSDKClient(responsesServer(t, a))
	// NewStreaming sets "stream" itself, with sjson, which needs a body on one line.
	body := strings.ReplaceAll(strings.Replace(sdkToolsBody, "STREAM", "", 1), "\n", "")
	stream := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{}, option.WithRequestBody("application/json", []byte(body)))
	// The SDK's accumulator is written for its WebSocket transport; its
	// events are the SSE events' JSON, so it checks the deltas and items.
	var acc responses.ResponseAccumulator
	var types []string
	var completed *responses.Response
	var text, args strings.Builder
	seq := int64(0)
	for stream.Next() {
		ev := stream.Current()
		if ev.SequenceNumber != seq {
			t.Errorf("event %d (%s): sequence_number = %d", seq, ev.Type, ev.SequenceNumber)
		}
		seq++
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			args.WriteString(ev.Delta)
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			completed = &r
		}
		var wsEvent responses.ResponsesServerEventUnion
		if err := json.Unmarshal([]byte(ev.RawJSON()), &wsEvent); err != nil {
			t.Fatalf("event %s as server event: %v", ev.Type, err)
		}
		if err := acc.AddEvent(wsEvent); err != nil {
			t.Fatalf("accumulator: %s: %v", ev.Type, err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("after %v: %v (server saw %v)", types, err, a.gotReq != nil)
	}
	checkEventOrder(t, types)
	if text.String() != "Let me check." || args.String() != `{"city":"Paris"}{"id":7}` {
		t.Errorf("deltas: text %q, args %q", text.String(), args.String())
	}
	if completed == nil {
		t.Fatal("no response.completed")
	}
	checkSDKResponse(t, completed)
	checkToolsDecoded(t, a)
	snap := acc.Snapshot()
	if snap.TerminalEvent != "response.completed" || snap.OutputText() != "Let me check." || len(snap.Output) != 5 {
		t.Errorf("accumulator snapshot = %+v", snap)
	}
	if snap.Output[3].Input != "SELECT 1" || snap.Output[2].Arguments != `{"city":"Paris"}` {
		t.Errorf("accumulated calls = %+v / %+v", snap.Output[2], snap.Output[3])
	}
	if items, err := openai.OutputItems(a.finalResp); err != nil || len(items) != 5 {
		t.Errorf("OutputItems = %d items, %v", len(items), err)
	}
}

func checkEventOrder(t *testing.T, got []string) {
	t.Helper()
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.output_item.added", "response.custom_tool_call_input.delta", "response.custom_tool_call_input.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
