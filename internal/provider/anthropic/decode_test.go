package anthropic_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

func TestDecodeRequestErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name      string
		body      string
		wantParam string
		wantMsg   string // a part of the message
	}{
		{"MalformedJSON", `{"model":"m",`, "", "not valid JSON"},
		{"EmptyBody", ``, "", "not valid JSON"},
		{"NotAnObject", `[1,2]`, "", "must be a JSON object"},
		{"InvalidUTF8InText", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"caf` + "\xe9" + `"}]}`, "", "not UTF-8"},
		{"InvalidUTF8InKey", `{"model":"m","max_tokens":5,"metadata":{"` + "\xff" + `":1},` + msgs + `}`, "", "not UTF-8"},
		{"SurrogateBytes", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"` + "\xed\xa0\x80" + `"}]}`, "", "not UTF-8"},
		{"ModelMissing", `{"max_tokens":5,` + msgs + `}`, "model", "model is required"},
		{"CaseVariantModel", `{"model":"m","MODEL":"n","max_tokens":5,` + msgs + `}`, "MODEL", "did you mean model"},
		{"CaseVariantStream", `{"model":"m","max_tokens":5,"Stream":true,` + msgs + `}`, "Stream", "case-sensitive"},
		{"ModelEmpty", `{"model":"","max_tokens":5,` + msgs + `}`, "model", "model is required"},
		{"ModelWrongType", `{"model":5,"max_tokens":5,` + msgs + `}`, "model", "must be a string"},
		{"MaxTokensMissing", `{"model":"m",` + msgs + `}`, "max_tokens", "max_tokens is required"},
		{"MaxTokensZero", `{"model":"m","max_tokens":0,` + msgs + `}`, "max_tokens", "at least 1"},
		{"MaxTokensNegative", `{"model":"m","max_tokens":-3,` + msgs + `}`, "max_tokens", "at least 1"},
		{"MaxTokensString", `{"model":"m","max_tokens":"5",` + msgs + `}`, "max_tokens", "must be a number"},
		{"MessagesMissing", `{"model":"m","max_tokens":5}`, "messages", "at least one message"},
		{"MessagesEmpty", `{"model":"m","max_tokens":5,"messages":[]}`, "messages", "at least one message"},
		{"RoleTool", `{"model":"m","max_tokens":5,"messages":[{"role":"tool","content":"x"}]}`, "messages[0].role", "user, assistant or system"},
		{"ThinkingNoBudget", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled"}}`, "thinking.budget_tokens", "budget_tokens"},
		{"RoleMissing", `{"model":"m","max_tokens":5,"messages":[{"content":"x"}]}`, "messages[0].role", "role is required"},
		{"ContentMissing", `{"model":"m","max_tokens":5,"messages":[{"role":"user"}]}`, "messages[0].content", "content is required"},
		{"ContentNumber", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":7}]}`, "messages[0].content", "string or an array"},
		{"UnknownBlock", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video","url":"x"}]}]}`,
			"messages[0].content[0].type", `unknown content block type "video"`},
		{"BlockTypeMissing", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}`,
			"messages[0].content[0].type", "type is required"},
		{"TextBlockWithoutText", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text"}]}]}`,
			"messages[0].content[0].text", "needs text"},
		{"ImageWithoutSource", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image"}]}]}`,
			"messages[0].content[0].source", "needs a source"},
		{"ImageBadSourceType", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"ftp"}}]}]}`,
			"messages[0].content[0].source.type", "base64 or url"},
		{"ToolUseInUserTurn", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"n","input":{}}]}]}`,
			"messages[0].content[0].type", "assistant messages"},
		{"ToolResultInAssistantTurn", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]}`,
			"messages[0].content[0].type", "user messages"},
		{"ToolUseWithoutID", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","name":"n","input":{}}]}]}`,
			"messages[0].content[0].id", "needs an id"},
		{"ToolUseInputNotObject", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":[1]}]}]}`,
			"messages[0].content[0].input", "must be an object"},
		{"ToolResultWithoutID", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`,
			"messages[0].content[0].tool_use_id", "needs a tool_use_id"},
		{"SystemNumber", `{"model":"m","max_tokens":5,"system":3,` + msgs + `}`, "system", "string or an array"},
		{"SystemImageBlock", `{"model":"m","max_tokens":5,"system":[{"type":"image"}],` + msgs + `}`, "system[0].type", "must be text"},
		{"TemperatureTooHigh", `{"model":"m","max_tokens":5,"temperature":1.5,` + msgs + `}`, "temperature", "between 0 and 1"},
		{"TopPNegative", `{"model":"m","max_tokens":5,"top_p":-0.1,` + msgs + `}`, "top_p", "between 0 and 1"},
		{"TopKNegative", `{"model":"m","max_tokens":5,"top_k":-1,` + msgs + `}`, "top_k", "must not be negative"},
		{"ToolWithoutName", `{"model":"m","max_tokens":5,"tools":[{"input_schema":{}}],` + msgs + `}`, "tools[0].name", "name is required"},
		{"ToolWithoutSchema", `{"model":"m","max_tokens":5,"tools":[{"name":"f"}],` + msgs + `}`, "tools[0].input_schema", "input_schema"},
		{"ToolChoiceUnknown", `{"model":"m","max_tokens":5,"tool_choice":{"type":"sometimes"},` + msgs + `}`, "tool_choice.type", "auto, any, tool or none"},
		{"ToolChoiceToolWithoutName", `{"model":"m","max_tokens":5,"tool_choice":{"type":"tool"},` + msgs + `}`, "tool_choice.name", "needs a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := anthropic.DecodeRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeRequest succeeded with %+v, want an error", req)
			}
			var ce *chorus.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *chorus.Error", err, err)
			}
			if ce.Code != chorus.EINVALID {
				t.Errorf("code = %q, want %q", ce.Code, chorus.EINVALID)
			}
			if ce.Param != tt.wantParam {
				t.Errorf("param = %q, want %q", ce.Param, tt.wantParam)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", ce.Message, tt.wantMsg)
			}
		})
	}
}

func TestDecodeRequest(t *testing.T) {
	body := `{
		"model": "claude-sonnet",
		"max_tokens": 1024,
		"system": [{"type":"text","text":"Be brief."},{"type":"text","text":"Be kind.","cache_control":{"type":"ephemeral"}}],
		"messages": [
			{"role":"assistant","content":"I start."},
			{"role":"user","content":[
				{"type":"text","text":"Look:"},
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
				{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}}
			]},
			{"role":"assistant","content":[
				{"type":"thinking","thinking":"hmm","signature":"sig"},
				{"type":"text","text":"Calling."},
				{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
				{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}
			]},
			{"role":"user","content":[
				{"type":"text","text":"Here you go."},
				{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},
				{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"noon"}],"is_error":false,"cache_control":{"type":"ephemeral"}}
			]},
			{"role":"system","content":"Now answer in French."},
			{"role":"assistant","content":[{"type":"redacted_thinking","data":"EmwK"}]}
		],
		"stop_sequences": ["END"],
		"temperature": 0.5,
		"top_p": 0.9,
		"top_k": 40,
		"tools": [
			{"name":"get_weather","description":"Weather.","input_schema":{"type":"object","properties":{"city":{"type":"string"}}},"cache_control":{"type":"ephemeral","ttl":"1h"}},
			{"type":"web_search_20250305","name":"web_search","max_uses":3}
		],
		"tool_choice": {"type":"any","disable_parallel_tool_use":true},
		"metadata": {"user_id":"user-7"},
		"stream": true,
		"thinking": {"type":"enabled","budget_tokens":2048},
		"output_config": {"format":{"type":"json_schema","schema":{"type":"object"}}}
	}`
	req, err := anthropic.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	text := func(s string) provider.Part { return provider.Part{Type: provider.PartText, Text: s} }
	ephemeral := json.RawMessage(`{"type":"ephemeral"}`)
	kind := text("Be kind.")
	kind.CacheControl = ephemeral
	noon := text("noon")
	noon.CacheControl = ephemeral
	want := []provider.Message{
		{Role: provider.RoleSystem, Content: []provider.Part{text("Be brief."), kind}},
		provider.TextMessage(provider.RoleAssistant, "I start."),
		{Role: provider.RoleUser, Content: []provider.Part{
			text("Look:"),
			{Type: provider.PartImage, ImageURL: "data:image/png;base64,iVBORw0K"},
			{Type: provider.PartImage, ImageURL: "https://example.com/a.jpg"},
		}},
		{Role: provider.RoleAssistant, Content: []provider.Part{{Type: provider.PartThinking, Text: "hmm", Signature: "sig"}, text("Calling.")}, ToolCalls: []provider.ToolCall{
			{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			{ID: "toolu_2", Name: "get_time", Arguments: `{}`},
		}},
		{Role: provider.RoleTool, ToolCallID: "toolu_1", Content: []provider.Part{text("sunny")}, TextOnly: true},
		{Role: provider.RoleTool, ToolCallID: "toolu_2", Content: []provider.Part{noon}},
		{Role: provider.RoleUser, Content: []provider.Part{text("Here you go.")}},
		provider.TextMessage(provider.RoleSystem, "Now answer in French."),
		{Role: provider.RoleAssistant, Content: []provider.Part{{Type: provider.PartRedactedThinking, Data: "EmwK"}}},
	}
	if !reflect.DeepEqual(req.Messages, want) {
		t.Errorf("messages =\n%+v\nwant\n%+v", req.Messages, want)
	}
	if req.Model != "claude-sonnet" || *req.MaxTokens != 1024 || *req.Temperature != 0.5 || *req.TopP != 0.9 || *req.TopK != 40 {
		t.Errorf("scalars = %q %d %v %v %v", req.Model, *req.MaxTokens, *req.Temperature, *req.TopP, *req.TopK)
	}
	if !reflect.DeepEqual(req.Stop, []string{"END"}) || !req.Stream || !req.IncludeUsage || req.User != "user-7" {
		t.Errorf("stop %q stream %v include usage %v user %q", req.Stop, req.Stream, req.IncludeUsage, req.User)
	}
	if len(req.Tools) != 1 || req.Tools[0].Name != "get_weather" || req.Tools[0].Description != "Weather." {
		t.Errorf("tools = %+v, want get_weather only (web_search is a server tool)", req.Tools)
	} else if cc := string(req.Tools[0].CacheControl); cc != `{"type":"ephemeral","ttl":"1h"}` {
		t.Errorf("tool cache_control = %s", cc)
	}
	if r := req.Reasoning; r == nil || r.BudgetTokens != 2048 {
		t.Errorf("reasoning = %+v, want a budget of 2048", r)
	}
	if tc := req.ToolChoice; tc == nil || tc.Mode != "required" {
		t.Errorf("tool choice = %+v, want required", tc)
	}
	if req.ParallelToolCalls == nil || *req.ParallelToolCalls {
		t.Errorf("parallel tool calls = %v, want false", req.ParallelToolCalls)
	}
	if rf := req.ResponseFormat; rf == nil || rf.Type != "json_schema" || string(rf.Schema) != `{"type":"object"}` {
		t.Errorf("response format = %+v", rf)
	}
	if got := keys(req.Extra); !reflect.DeepEqual(got, []string{"output_config", "thinking"}) {
		t.Errorf("extra keys = %q, want output_config and thinking", got)
	}
	if string(req.Extra["thinking"]) != `{"type":"enabled","budget_tokens":2048}` {
		t.Errorf("extra thinking = %s", req.Extra["thinking"])
	}
	if req.RawFormat != provider.FormatAnthropic || string(req.Raw) != body {
		t.Errorf("raw = %q in %q, want the body in anthropic", req.Raw, req.RawFormat)
	}
}

func TestDecodeRequestToolChoices(t *testing.T) {
	tests := []struct {
		name   string
		choice string
		want   provider.ToolChoice
	}{
		{"Auto", `{"type":"auto"}`, provider.ToolChoice{Mode: "auto"}},
		{"Any", `{"type":"any"}`, provider.ToolChoice{Mode: "required"}},
		{"None", `{"type":"none"}`, provider.ToolChoice{Mode: "none"}},
		{"Tool", `{"type":"tool","name":"f"}`, provider.ToolChoice{Mode: "function", Name: "f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := anthropic.DecodeRequest([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],` +
				`"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":` + tt.choice + `}`))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if req.ToolChoice == nil || *req.ToolChoice != tt.want {
				t.Errorf("tool choice = %+v, want %+v", req.ToolChoice, tt.want)
			}
			if req.ParallelToolCalls != nil {
				t.Errorf("parallel tool calls = %v, want unset", *req.ParallelToolCalls)
			}
		})
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	// Two keys at most in these tests; order them.
	if len(out) == 2 && out[0] > out[1] {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

func FuzzDecodeRequest(f *testing.F) {
	seeds := []string{
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`,
		`{"model":"m","max_tokens":5,"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{"a":[1,{"b":"}"}]}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}],"tools":[{"name":"n","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"n"}}`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"x\u0079":1,"thinking":{"type":"enabled"}}`,
		`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"g"},{"type":"redacted_thinking","data":"d"},{"type":"text","text":"a"}]},{"role":"system","content":[{"type":"text","text":"now"}]}],"thinking":{"type":"adaptive"},"output_config":{"effort":"high"}}`,
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r","cache_control":{"type":"ephemeral"}}]}],"tools":[{"name":"n","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]}`,
		`{"model":"m"}`, `[]`, `{`, `null`, `{"messages":null}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := anthropic.DecodeRequest(body)
		if err != nil {
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Code != chorus.EINVALID || ce.Message == "" {
				t.Fatalf("error %v is not an EINVALID *chorus.Error with a message", err)
			}
			return
		}
		if req.Model == "" || len(req.Messages) == 0 || req.MaxTokens == nil || *req.MaxTokens < 1 {
			t.Fatalf("success without model, messages or max_tokens: %+v", req)
		}
		for k, v := range req.Extra {
			if !json.Valid(v) {
				t.Fatalf("extra %q = %q is not valid JSON", k, v)
			}
		}
	})
}
