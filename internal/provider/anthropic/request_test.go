package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
)

// upstreamBody sends req through a Client to the fake and returns the body
// the fake received.
func upstreamBody(t *testing.T, c *anthropic.Client, fake *anthropictest.Server, req *provider.ChatRequest) []byte {
	t.Helper()
	if _, err := c.Chat(context.Background(), req); err != nil {
		t.Fatalf("Chat: %v", err)
	}
	return fake.Last().Body
}

func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func text(s string) provider.Part { return provider.Part{Type: provider.PartText, Text: s} }

func TestTranslateRequest(t *testing.T) {
	tests := []struct {
		name string
		req  provider.ChatRequest
		want string
	}{
		{
			name: "SystemString",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{
				provider.TextMessage(provider.RoleSystem, "Be brief."),
				provider.TextMessage(provider.RoleUser, "Hi"),
			}},
			want: `{"model":"m","max_tokens":10,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}]}`,
		},
		{
			name: "SystemAndDeveloperJoinedAsBlocks",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{
				provider.TextMessage(provider.RoleSystem, "One."),
				provider.TextMessage(provider.RoleUser, "Hi"),
				provider.TextMessage(provider.RoleDeveloper, "Two."),
			}},
			want: `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"One."},{"type":"text","text":"Two."}],
				"messages":[{"role":"user","content":"Hi"}]}`,
		},
		{
			name: "DefaultMaxTokensAndSamplingFields",
			req: provider.ChatRequest{Model: "m", Temperature: ptr(0.2), TopP: ptr(0.5), TopK: ptr(7), Stop: []string{"X", "Y"},
				User: "u1", Seed: ptr(int64(3)), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")}},
			want: `{"model":"m","max_tokens":4096,"messages":[{"role":"user","content":"Hi"}],"stop_sequences":["X","Y"],
				"temperature":0.2,"top_p":0.5,"top_k":7,"metadata":{"user_id":"u1"}}`,
		},
		{
			name: "ConsecutiveTurnsMergedAndEmptyDropped",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{
				provider.TextMessage(provider.RoleUser, "A"),
				provider.TextMessage(provider.RoleUser, "B"),
				{Role: provider.RoleAssistant},
				provider.TextMessage(provider.RoleUser, ""),
				provider.TextMessage(provider.RoleAssistant, "C"),
			}},
			want: `{"model":"m","max_tokens":10,"messages":[
				{"role":"user","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},
				{"role":"assistant","content":"C"}]}`,
		},
		{
			name: "ToolCallsAndResults",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{
				provider.TextMessage(provider.RoleUser, "Weather?"),
				{Role: provider.RoleAssistant, Content: []provider.Part{text("Checking.")}, ToolCalls: []provider.ToolCall{
					{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "call_2", Name: "get_time", Arguments: ``},
				}},
				{Role: provider.RoleTool, ToolCallID: "call_1", Content: []provider.Part{text("sunny")}, TextOnly: true},
				{Role: provider.RoleTool, ToolCallID: "call_2", Content: []provider.Part{text("noon"),
					{Type: provider.PartImage, ImageURL: "https://example.com/clock.png"}}},
				provider.TextMessage(provider.RoleUser, "Thanks"),
			}},
			want: `{"model":"m","max_tokens":10,"messages":[
				{"role":"user","content":"Weather?"},
				{"role":"assistant","content":[{"type":"text","text":"Checking."},
					{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
					{"type":"tool_use","id":"call_2","name":"get_time","input":{}}]},
				{"role":"user","content":[
					{"type":"tool_result","tool_use_id":"call_1","content":"sunny"},
					{"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"noon"},
						{"type":"image","source":{"type":"url","url":"https://example.com/clock.png"}}]},
					{"type":"text","text":"Thanks"}]}]}`,
		},
		{
			name: "ToolResultsLeadAMergedUserTurn",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{
				{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}},
				provider.TextMessage(provider.RoleUser, "Before the result"),
				{Role: provider.RoleTool, ToolCallID: "c", Content: []provider.Part{text("r")}, TextOnly: true},
			}},
			want: `{"model":"m","max_tokens":10,"messages":[
				{"role":"assistant","content":[{"type":"tool_use","id":"c","name":"f","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"c","content":"r"},
					{"type":"text","text":"Before the result"}]}]}`,
		},
		{
			name: "Images",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{{Role: provider.RoleUser, Content: []provider.Part{
				text("What?"),
				{Type: provider.PartImage, ImageURL: "data:image/png;base64,iVBORw0K"},
				{Type: provider.PartImage, ImageURL: "http://example.com/a.jpg", ImageDetail: "low"},
			}}}},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"What?"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
				{"type":"image","source":{"type":"url","url":"http://example.com/a.jpg"}}]}]}`,
		},
		{
			name: "ToolsWithRequiredChoiceAndNoParallel",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				Tools: []provider.Tool{
					{Name: "f", Description: "Does f.", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string"}}}`), Strict: ptr(true)},
					{Name: "g"},
				},
				ToolChoice: &provider.ToolChoice{Mode: "required"}, ParallelToolCalls: ptr(false)},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],"tools":[
				{"name":"f","description":"Does f.","input_schema":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true},
				{"name":"g","input_schema":{"type":"object","properties":{}}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
		},
		{
			name: "NoParallelAloneIsAuto",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				Tools: []provider.Tool{{Name: "g"}}, ParallelToolCalls: ptr(false)},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],
				"tools":[{"name":"g","input_schema":{"type":"object","properties":{}}}],
				"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`,
		},
		{
			name: "ToolChoiceFunction",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				Tools: []provider.Tool{{Name: "g"}}, ToolChoice: &provider.ToolChoice{Mode: "function", Name: "g"}},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],
				"tools":[{"name":"g","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"tool","name":"g"}}`,
		},
		{
			name: "ToolChoiceNoneIgnoresParallel",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				Tools: []provider.Tool{{Name: "g"}}, ToolChoice: &provider.ToolChoice{Mode: "none"}, ParallelToolCalls: ptr(false)},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],
				"tools":[{"name":"g","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`,
		},
		{
			name: "ResponseFormatJSONSchemaIsNative",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				ResponseFormat: &provider.ResponseFormat{Type: "json_schema", Name: "answer", Schema: json.RawMessage(`{"type":"object","additionalProperties":false}`)}},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],
				"output_config":{"format":{"type":"json_schema","schema":{"type":"object","additionalProperties":false}}}}`,
		},
		{
			name: "OpenAIExtraIsNotCopied",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				Extra: map[string]json.RawMessage{"logprobs": json.RawMessage(`true`)}, RawFormat: provider.FormatOpenAI},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`,
		},
		{
			name: "AnthropicExtraIsCopied",
			req: provider.ChatRequest{Model: "m", MaxTokens: ptr(10), Messages: []provider.Message{provider.TextMessage(provider.RoleUser, "Hi")},
				Extra:     map[string]json.RawMessage{"thinking": json.RawMessage(`{"type":"enabled","budget_tokens":1024}`), "model": json.RawMessage(`"x"`)},
				RawFormat: provider.FormatAnthropic},
			want: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}],"thinking":{"type":"enabled","budget_tokens":1024}}`,
		},
	}
	fake := anthropictest.NewServer(t)
	c := newClient(t, fake.URL())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertJSON(t, upstreamBody(t, c, fake, &tt.req), tt.want)
		})
	}
}

func TestTranslateRequestErrors(t *testing.T) {
	user := provider.TextMessage(provider.RoleUser, "Hi")
	tests := []struct {
		name      string
		req       provider.ChatRequest
		wantCode  string
		wantParam string
	}{
		{"NGreaterThanOne", provider.ChatRequest{Model: "m", N: ptr(2), Messages: []provider.Message{user}}, chorus.ENOTSUPPORTED, "n"},
		{"JSONObject", provider.ChatRequest{Model: "m", Messages: []provider.Message{user},
			ResponseFormat: &provider.ResponseFormat{Type: "json_object"}}, chorus.ENOTSUPPORTED, "response_format"},
		{"JSONSchemaWithoutSchema", provider.ChatRequest{Model: "m", Messages: []provider.Message{user},
			ResponseFormat: &provider.ResponseFormat{Type: "json_schema"}}, chorus.EINVALID, "response_format.json_schema.schema"},
		{"UnknownRole", provider.ChatRequest{Model: "m", Messages: []provider.Message{user, provider.TextMessage("critic", "x")}},
			chorus.EINVALID, "messages[1].role"},
		{"InvalidArguments", provider.ChatRequest{Model: "m", Messages: []provider.Message{user,
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: `{"a":`}}}}},
			chorus.EINVALID, "messages[1].tool_calls[0].function.arguments"},
		{"ArgumentsNotAnObject", provider.ChatRequest{Model: "m", Messages: []provider.Message{user,
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: `[1]`}}}}},
			chorus.EINVALID, "messages[1].tool_calls[0].function.arguments"},
		{"ToolCallWithoutID", provider.ChatRequest{Model: "m", Messages: []provider.Message{user,
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{Name: "f"}}}}},
			chorus.EINVALID, "messages[1].tool_calls[0].id"},
		{"ToolMessageWithoutCallID", provider.ChatRequest{Model: "m", Messages: []provider.Message{user,
			{Role: provider.RoleTool, Content: []provider.Part{text("r")}}}}, chorus.EINVALID, "messages[1].tool_call_id"},
		{"ImageFileURL", provider.ChatRequest{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser,
			Content: []provider.Part{{Type: provider.PartImage, ImageURL: "file:///etc/passwd"}}}}},
			chorus.EINVALID, "messages[0].content[0].image_url"},
		{"ImageDataNotBase64", provider.ChatRequest{Model: "m", Messages: []provider.Message{{Role: provider.RoleUser,
			Content: []provider.Part{{Type: provider.PartImage, ImageURL: "data:image/png,rawbytes"}}}}},
			chorus.EINVALID, "messages[0].content[0].image_url"},
		{"ToolChoiceFunctionWithoutName", provider.ChatRequest{Model: "m", Messages: []provider.Message{user},
			Tools: []provider.Tool{{Name: "f"}}, ToolChoice: &provider.ToolChoice{Mode: "function"}},
			chorus.EINVALID, "tool_choice.function.name"},
	}
	fake := anthropictest.NewServer(t)
	c := newClient(t, fake.URL())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				var err error
				if stream {
					var s provider.Stream
					if s, err = c.ChatStream(context.Background(), &tt.req); err == nil {
						s.Close()
					}
				} else {
					_, err = c.Chat(context.Background(), &tt.req)
				}
				var ce *chorus.Error
				if !errors.As(err, &ce) {
					t.Fatalf("stream %v: error %v (%T) is not a *chorus.Error", stream, err, err)
				}
				if ce.Code != tt.wantCode || ce.Param != tt.wantParam || ce.Message == "" {
					t.Errorf("stream %v: error = code %q param %q message %q, want code %q param %q", stream, ce.Code, ce.Param, ce.Message, tt.wantCode, tt.wantParam)
				}
			}
			if n := fake.Requests(); n != 0 {
				t.Errorf("fake received %d requests, want none: a bad request must fail before the upstream", n)
			}
		})
	}
}

// TestRoundTrip checks that an Anthropic body, decoded and translated back
// (with its raw body gone, as after a rewrite), keeps its meaning.
func TestRoundTrip(t *testing.T) {
	bodies := map[string]string{
		"Simple": `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`,
		"Everything": `{"model":"claude","max_tokens":512,
			"system":[{"type":"text","text":"A."},{"type":"text","text":"B."}],
			"messages":[
				{"role":"user","content":[{"type":"text","text":"Look"},
					{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}},
					{"type":"image","source":{"type":"url","url":"https://example.com/x.png"}}]},
				{"role":"assistant","content":[{"type":"text","text":"Calling."},
					{"type":"tool_use","id":"toolu_1","name":"f","input":{"q":[1,2,{"r":null}]}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"done"},
					{"type":"text","text":"And?"}]},
				{"role":"assistant","content":"Prefill"}],
			"stop_sequences":["\n\nHuman:"],"temperature":0.7,"top_p":0.95,"top_k":5,
			"tools":[{"name":"f","description":"F.","input_schema":{"type":"object","properties":{"q":{"type":"array"}}}}],
			"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},
			"metadata":{"user_id":"u-1"},
			"thinking":{"type":"enabled","budget_tokens":256},
			"output_config":{"effort":"low","format":{"type":"json_schema","schema":{"type":"object"}}},
			"service_tier":"auto"}`,
		"StreamingSystemString": `{"model":"m","max_tokens":10,"system":"S","stream":true,
			"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Yo"},{"role":"user","content":"Bye"}]}`,
	}
	fake := anthropictest.NewServer(t)
	c := newClient(t, fake.URL())
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			req, err := anthropic.DecodeRequest([]byte(body))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			req.Raw = nil
			if req.Stream {
				s, err := c.ChatStream(context.Background(), req)
				if err != nil {
					t.Fatalf("ChatStream: %v", err)
				}
				s.Close()
				assertJSON(t, fake.Last().Body, body)
				return
			}
			assertJSON(t, upstreamBody(t, c, fake, req), body)
		})
	}
}
