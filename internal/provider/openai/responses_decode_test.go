package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
	"github.com/chorusgw/chorus/internal/provider/anthropic/anthropictest"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// conversationBody is a tool-using conversation in the Responses format.
const conversationBody = `{"model":"gpt-test","instructions":"Be brief.",
"input":[
 {"role":"developer","content":"Use metric units."},
 {"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in "},{"type":"input_text","text":"Paris?"},{"type":"input_image","image_url":"https://x.test/a.png","detail":"low"}]},
 {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"think"}]},
 {"type":"message","role":"assistant","id":"msg_1","status":"completed","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
 {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
 {"type":"custom_tool_call","call_id":"call_2","name":"run_sql","input":"SELECT 1"},
 {"type":"function_call","call_id":"call_3","name":"lookup","namespace":"crm","arguments":"{}"},
 {"type":"function_call_output","call_id":"call_1","output":"18C"},
 {"type":"custom_tool_call_output","call_id":"call_2","output":[{"type":"input_text","text":"1"}]},
 {"type":"function_call_output","call_id":"call_3","output":"none"},
 {"type":"web_search_call","id":"ws_1","status":"completed"}
],
"tools":[{"type":"function","name":"get_weather","description":"Weather.","parameters":{"type":"object"},"strict":true},
 {"type":"custom","name":"run_sql"},
 {"type":"namespace","name":"crm","description":"CRM","tools":[{"type":"function","name":"lookup"}]},
 {"type":"file_search","vector_store_ids":["vs_1"]}],
"tool_choice":"required","parallel_tool_calls":false,
"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"},
"reasoning":{"effort":"high","summary":"detailed"},
"max_output_tokens":500,"temperature":0.2,"top_p":0.9,"store":false,"background":false,
"previous_response_id":"resp_0","include":["reasoning.encrypted_content"],"user":"u-1",
"metadata":{"k":"v"},"prompt_cache_key":"pk","service_tier":"auto","truncation":"disabled","x_custom":1}`

func wantConversation() []provider.Message {
	text := func(s string) []provider.Part { return []provider.Part{{Type: provider.PartText, Text: s}} }
	return []provider.Message{
		provider.TextMessage(provider.RoleSystem, "Be brief."),
		provider.TextMessage(provider.RoleDeveloper, "Use metric units."),
		{Role: provider.RoleUser, Content: []provider.Part{
			{Type: provider.PartText, Text: "Weather in "},
			{Type: provider.PartText, Text: "Paris?"},
			{Type: provider.PartImage, ImageURL: "https://x.test/a.png", ImageDetail: "low"},
		}},
		{Role: provider.RoleAssistant, Content: text("Checking."), ToolCalls: []provider.ToolCall{
			{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "call_2", Name: "run_sql", Arguments: `{"input":"SELECT 1"}`},
			{ID: "call_3", Name: "crm__lookup", Arguments: `{}`},
		}},
		{Role: provider.RoleTool, ToolCallID: "call_1", Content: text("18C"), TextOnly: true},
		{Role: provider.RoleTool, ToolCallID: "call_2", Content: text("1")},
		{Role: provider.RoleTool, ToolCallID: "call_3", Content: text("none"), TextOnly: true},
	}
}

func TestDecodeResponsesRequest(t *testing.T) {
	r, err := openai.DecodeResponsesRequest([]byte(conversationBody))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Chat
	if got, want := c.Messages, wantConversation(); !reflect.DeepEqual(got, want) {
		t.Errorf("messages:\n got %+v\nwant %+v", got, want)
	}
	if c.Model != "gpt-test" || *c.MaxTokens != 500 || *c.Temperature != 0.2 || *c.TopP != 0.9 || *c.ParallelToolCalls || c.User != "u-1" {
		t.Errorf("scalars = %+v", c)
	}
	if c.ToolChoice.Mode != "required" || c.Reasoning.Effort != "high" || c.Reasoning.Summary != "detailed" {
		t.Errorf("tool choice %+v, reasoning %+v", c.ToolChoice, c.Reasoning)
	}
	if rf := c.ResponseFormat; rf.Type != "json_schema" || rf.Name != "out" || string(rf.Schema) != `{"type":"object"}` || !*rf.Strict {
		t.Errorf("response format = %+v", rf)
	}
	var names []string
	for _, tl := range c.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "get_weather,run_sql,crm__lookup" || !strings.Contains(string(c.Tools[1].Parameters), `"input"`) {
		t.Errorf("tools = %+v", c.Tools)
	}
	if r.Store || r.Background || r.PreviousResponseID != "resp_0" || r.Instructions != "Be brief." ||
		!reflect.DeepEqual(r.HostedTools, []string{"file_search"}) || !reflect.DeepEqual(r.Include, []string{"reasoning.encrypted_content"}) {
		t.Errorf("request = %+v", r)
	}
	for _, k := range []string{"x_custom", "verbosity", "prompt_cache_key", "service_tier", "truncation"} {
		if _, ok := c.Extra[k]; !ok {
			t.Errorf("Extra lacks %s: %v", k, c.Extra)
		}
	}
	if c.RawFormat != provider.FormatOpenAIResponses || string(c.Raw) != conversationBody {
		t.Errorf("raw = %q", c.RawFormat)
	}
	if len(r.Input) != 11 {
		t.Fatalf("input items = %d", len(r.Input))
	}
	for i, it := range r.Input {
		if v, ok, _ := jsonscan.GetField(it, "id"); !ok || len(v) < 5 {
			t.Errorf("input[%d] has no id: %s", i, it)
		}
	}
	if v, _, _ := jsonscan.GetField(r.Input[3], "id"); string(v) != `"msg_1"` {
		t.Errorf("input[3] id = %s, want the client's", v)
	}
	if v, _, _ := jsonscan.GetField(r.Input[1], "id"); !strings.HasPrefix(string(v), `"msg_`) {
		t.Errorf("input[1] id = %s", v)
	}
	if v, _, _ := jsonscan.GetField(r.Input[0], "type"); string(v) != `"message"` {
		t.Errorf("input[0] type = %s", v)
	}
}

func TestDecodeResponsesRequestStringInput(t *testing.T) {
	r, err := openai.DecodeResponsesRequest([]byte(`{"model":"m","input":"Hi \"there\"","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Store || !r.Chat.Stream || len(r.Chat.Messages) != 1 || r.Chat.Messages[0].Text() != `Hi "there"` || r.Chat.Messages[0].Role != "user" {
		t.Errorf("request = %+v / %+v", r, r.Chat.Messages)
	}
	var item struct {
		ID, Type, Role string
		Content        []struct{ Type, Text string }
	}
	if err := json.Unmarshal(r.Input[0], &item); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(item.ID, "msg_") || item.Type != "message" || item.Role != "user" ||
		len(item.Content) != 1 || item.Content[0].Type != "input_text" || item.Content[0].Text != `Hi "there"` {
		t.Errorf("item = %+v", item)
	}
}

func TestDecodeResponsesRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, param, msg string
	}{
		{"NotJSON", `{"model":`, "", "could not parse"},
		{"InvalidUTF8", "{\"model\":\"m\xff\",\"input\":\"x\"}", "", "could not parse"},
		{"NoModel", `{"input":"x"}`, "model", "model parameter"},
		{"CaseVariant", `{"model":"m","input":"x","Stream":true}`, "Stream", "did you mean 'stream'"},
		{"NoInput", `{"model":"m"}`, "input", "Missing required parameter"},
		{"InputNumber", `{"model":"m","input":5}`, "input", "Invalid type"},
		{"ItemNotObject", `{"model":"m","input":["x"]}`, "input[0]", "Invalid type"},
		{"BadPartType", `{"model":"m","input":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_audio"}]}]}`, "input[1].content[1].type", "input_audio"},
		{"BadRole", `{"model":"m","input":[{"role":"tool","content":"a"}]}`, "input[0].role", "Invalid value"},
		{"ImageFileID", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}`, "input[0].content[0].file_id", "file ID"},
		{"ItemReference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0]", "cannot be resolved"},
		{"UnknownItem", `{"model":"m","input":[{"type":"telepathy"}]}`, "input[0].type", "telepathy"},
		{"CallNoID", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id", "Missing"},
		{"OutputNoOutput", `{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}`, "input[0].output", "Missing"},
		{"ToolNoName", `{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools[0].name", "Missing"},
		{"NamespacedBadType", `{"model":"m","input":"x","tools":[{"type":"namespace","name":"n","tools":[{"type":"web_search"}]}]}`, "tools[0].tools[0].type", "web_search"},
		{"DuplicateTool", `{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"custom","name":"f"}]}`, "tools[1].name", "Duplicate"},
		{"ToolChoiceUnknown", `{"model":"m","input":"x","tool_choice":{"type":"function","name":"g"}}`, "tool_choice", "no function named"},
		{"TextFormat", `{"model":"m","input":"x","text":{"format":{"type":"xml"}}}`, "text.format.type", "xml"},
		{"SchemaNoName", `{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name", "Missing"},
		{"Effort", `{"model":"m","input":"x","reasoning":{"effort":"max"}}`, "reasoning.effort", "max"},
		{"Temperature", `{"model":"m","input":"x","temperature":3}`, "temperature", "maximum"},
		{"Duplicate", `{"model":"m","input":"x","input":"y"}`, "input", "Duplicate"},
		{"Store", `{"model":"m","input":"x","store":"yes"}`, "store", "boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openai.DecodeResponsesRequest([]byte(tc.body))
			var ce *chorus.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *chorus.Error", err)
			}
			if ce.Code != chorus.EINVALID || ce.Param != tc.param || !strings.Contains(ce.Message, tc.msg) {
				t.Errorf("err = %s param %q %q, want param %q containing %q", ce.Code, ce.Param, ce.Message, tc.param, tc.msg)
			}
		})
	}
}

func TestResponsesWithHistory(t *testing.T) {
	r, err := openai.DecodeResponsesRequest([]byte(`{"model":"m","instructions":"Sys.","previous_response_id":"resp_1","input":[{"type":"function_call_output","call_id":"call_1","output":"18C"}],"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	history := []json.RawMessage{
		json.RawMessage(`{"id":"msg_a","type":"message","role":"user","content":[{"type":"input_text","text":"Weather?"}]}`),
		json.RawMessage(`{"id":"rs_a","type":"reasoning","summary":[]}`),
		json.RawMessage(`{"id":"fc_a","type":"function_call","status":"completed","call_id":"call_1","name":"get_weather","arguments":"{}"}`),
	}
	if err := r.WithHistory(history); err != nil {
		t.Fatal(err)
	}
	msgs := r.Chat.Messages
	if len(msgs) != 4 || msgs[0].Role != "system" || msgs[1].Text() != "Weather?" || msgs[2].ToolCalls[0].ID != "call_1" || msgs[3].ToolCallID != "call_1" {
		t.Errorf("messages = %+v", msgs)
	}
	var body struct {
		PreviousResponseID *string           `json:"previous_response_id"`
		Input              []json.RawMessage `json:"input"`
		X                  int               `json:"x"`
	}
	if err := json.Unmarshal(r.Chat.Raw, &body); err != nil {
		t.Fatalf("raw %s: %v", r.Chat.Raw, err)
	}
	if body.PreviousResponseID != nil || len(body.Input) != 4 || body.X != 1 {
		t.Errorf("raw = %s", r.Chat.Raw)
	}
	if _, ok, _ := jsonscan.GetField(body.Input[0], "id"); ok {
		t.Errorf("input message kept its id: %s", body.Input[0])
	}
	if v, _, _ := jsonscan.GetField(body.Input[2], "id"); string(v) != `"fc_a"` {
		t.Errorf("function call id = %s", v)
	}
	if len(r.Input) != 1 || r.PreviousResponseID != "resp_1" {
		t.Errorf("Input %d items, previous %q", len(r.Input), r.PreviousResponseID)
	}
	obj := openai.AppendResponseObject(nil, &provider.ChatResponse{Choices: []provider.Choice{{Message: provider.TextMessage("assistant", "ok")}}}, r, openai.ResponseMeta{ID: "resp_2", Model: "m"})
	if v, _, _ := jsonscan.GetField(obj, "previous_response_id"); string(v) != `"resp_1"` {
		t.Errorf("echoed previous_response_id = %s", v)
	}
}

// TestResponsesTranslated sends a decoded Responses conversation to Chat
// Completions and Anthropic upstreams and checks what they received.
func TestResponsesTranslated(t *testing.T) {
	body := strings.Replace(conversationBody, `{"type":"input_image","image_url":"https://x.test/a.png","detail":"low"}`, `{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}`, 1)
	want := []conformance.CapturedMessage{
		{Role: "user", Text: "Weather in Paris?", Images: 1},
		{Role: "assistant", Text: "Checking.", ToolCallIDs: []string{"call_1", "call_2", "call_3"}},
		{Role: "tool", ToolResult: "call_1", Text: "18C"},
		{Role: "tool", ToolResult: "call_2", Text: "1"},
		{Role: "tool", ToolResult: "call_3", Text: "none"},
	}
	t.Run("OpenAIChat", func(t *testing.T) {
		f := openaitest.New(t)
		req := responsesCall(t, body)
		if _, err := newClient(t, chorus.ProviderOpenAI, f.URL()).Chat(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		c := f.Last()
		checkTranslated(t, c, want)
		for _, k := range []string{"x_custom", "previous_response_id", "store"} {
			if _, ok, _ := jsonscan.GetField(c.Body, k); ok {
				t.Errorf("chat body carries Responses member %s: %s", k, c.Body)
			}
		}
		if v, _, _ := jsonscan.GetField(c.Body, "response_format"); !strings.Contains(string(v), `"json_schema"`) {
			t.Errorf("response_format = %s", v)
		}
	})
	t.Run("Anthropic", func(t *testing.T) {
		f := anthropictest.NewServer(t)
		f.Script(conformance.Scenario{Text: "ok", FinishReason: provider.FinishStop})
		a, err := anthropic.New(provider.Config{BaseURL: f.URL(), APIKey: "k", HTTPClient: &http.Client{}})
		if err != nil {
			t.Fatal(err)
		}
		req := responsesCall(t, strings.Replace(body, `"text":{"format":{"type":"json_schema","name":"out","schema":{"type":"object"},"strict":true},"verbosity":"low"},`, "", 1))
		if _, err := a.Chat(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		checkTranslated(t, f.Last(), want)
	})
}

func checkTranslated(t *testing.T, c conformance.Captured, want []conformance.CapturedMessage) {
	t.Helper()
	if !strings.Contains(c.System, "Be brief.") || !strings.Contains(c.System, "Use metric units.") {
		t.Errorf("system = %q", c.System)
	}
	if strings.Join(c.ToolNames, ",") != "get_weather,run_sql,crm__lookup" {
		t.Errorf("tools = %v", c.ToolNames)
	}
	if len(c.Messages) != len(want) {
		t.Fatalf("messages = %+v, want %+v", c.Messages, want)
	}
	for i := range want {
		g, w := c.Messages[i], want[i]
		if g.Role != w.Role || g.Images != w.Images || strings.Join(g.ToolCallIDs, ",") != strings.Join(w.ToolCallIDs, ",") || g.ToolResult != w.ToolResult {
			t.Errorf("message %d = %+v, want %+v", i, g, w)
		}
		if w.Role != "tool" && g.Text != w.Text {
			t.Errorf("message %d text = %q, want %q", i, g.Text, w.Text)
		}
	}
}
