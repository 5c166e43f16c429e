package openai_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

func ptr[T any](v T) *T { return &v }

func TestDecodeChatRequest(t *testing.T) {
	body := []byte(`{
		"model": "gpt-4o",
		"messages": [
			{"role": "developer", "content": "Be brief."},
			{"role": "user", "name": "ann", "content": [
				{"type": "text", "text": "What is "},
				{"type": "text", "text": "this?"},
				{"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}}
			]},
			{"role": "assistant", "content": null, "tool_calls": [
				{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}}
			]},
			{"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
			{"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
		],
		"max_tokens": 10, "max_completion_tokens": 20,
		"temperature": 0.5, "top_p": 0.9, "n": 2, "stop": "END", "seed": -7,
		"presence_penalty": -1.5, "frequency_penalty": 2,
		"tools": [{"type": "function", "function": {"name": "look", "description": "Look.", "parameters": {"type": "object"}, "strict": true}}],
		"tool_choice": {"type": "function", "function": {"name": "look"}},
		"parallel_tool_calls": false,
		"response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}},
		"stream": true, "stream_options": {"include_usage": true},
		"user": "u-1",
		"logprobs": true, "metadata": {"k": "v"}
	}`)
	got, err := openai.DecodeChatRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	want := &provider.ChatRequest{
		Model: "gpt-4o",
		Messages: []provider.Message{
			provider.TextMessage(provider.RoleDeveloper, "Be brief."),
			{Role: provider.RoleUser, Name: "ann", Content: []provider.Part{
				{Type: provider.PartText, Text: "What is "},
				{Type: provider.PartText, Text: "this?"},
				{Type: provider.PartImage, ImageURL: "https://x.test/a.png", ImageDetail: "high"},
			}},
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "look", Arguments: `{"q":1}`}}},
			{Role: provider.RoleTool, ToolCallID: "call_1", Content: []provider.Part{{Type: provider.PartText, Text: "a cat"}}, TextOnly: true},
			{Role: provider.RoleAssistant, Content: []provider.Part{{Type: provider.PartText, Text: "No."}}},
		},
		MaxTokens:        ptr(20),
		Temperature:      ptr(0.5),
		TopP:             ptr(0.9),
		N:                ptr(2),
		Stop:             []string{"END"},
		Seed:             ptr(int64(-7)),
		PresencePenalty:  ptr(-1.5),
		FrequencyPenalty: ptr(2.0),
		Tools: []provider.Tool{{Name: "look", Description: "Look.",
			Parameters: json.RawMessage(`{"type": "object"}`), Strict: ptr(true)}},
		ToolChoice:        &provider.ToolChoice{Mode: "function", Name: "look"},
		ParallelToolCalls: ptr(false),
		ResponseFormat: &provider.ResponseFormat{Type: "json_schema", Name: "out",
			Schema: json.RawMessage(`{"type": "object"}`), Strict: ptr(true)},
		Stream:       true,
		IncludeUsage: true,
		User:         "u-1",
		Extra: map[string]json.RawMessage{
			"logprobs": json.RawMessage(`true`),
			"metadata": json.RawMessage(`{"k": "v"}`),
		},
		Raw:       body,
		RawFormat: provider.FormatOpenAI,
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("got\n%s\nwant\n%s", gj, wj)
	}
}

func TestDecodeChatRequestVariants(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		check func(t *testing.T, r *provider.ChatRequest)
	}{
		{"StringContentIsTextOnly", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if m := r.Messages[0]; !m.TextOnly || m.Text() != "hi" || r.Stream || r.Extra != nil {
					t.Errorf("got %+v", r)
				}
			}},
		{"StopArray", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a","b"]}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if !reflect.DeepEqual(r.Stop, []string{"a", "b"}) {
					t.Errorf("stop = %q", r.Stop)
				}
			}},
		{"NullsAreAbsent", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":null,"temperature":null,"max_tokens":null,"tools":null,"tool_choice":null,"stream":null,"stream_options":null,"user":null}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if r.Stop != nil || r.Temperature != nil || r.MaxTokens != nil || r.Tools != nil || r.ToolChoice != nil || r.Stream {
					t.Errorf("got %+v", r)
				}
			}},
		{"MaxTokensOnly", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":7}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if r.MaxTokens == nil || *r.MaxTokens != 7 {
					t.Errorf("max tokens = %v", r.MaxTokens)
				}
			}},
		{"ToolChoiceRequired", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if r.ToolChoice == nil || r.ToolChoice.Mode != "required" || r.Tools[0].Parameters != nil {
					t.Errorf("got %+v %+v", r.ToolChoice, r.Tools)
				}
			}},
		{"LegacyFunctions", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"42"}],"functions":[{"name":"f"}],"function_call":{"name":"f"}}`,
			func(t *testing.T, r *provider.ChatRequest) {
				want := []provider.Message{
					provider.TextMessage(provider.RoleUser, "hi"),
					{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "f", Name: "f", Arguments: "{}"}}},
					{Role: provider.RoleTool, Name: "f", ToolCallID: "f", Content: []provider.Part{{Type: provider.PartText, Text: "42"}}, TextOnly: true},
				}
				if !reflect.DeepEqual(r.Messages, want) || len(r.Tools) != 1 || r.ToolChoice.Name != "f" {
					t.Errorf("got %+v tools %+v choice %+v", r.Messages, r.Tools, r.ToolChoice)
				}
			}},
		{"AudioAndFileParts", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}},{"type":"file","file":{"file_id":"f1"}}]}]}`,
			func(t *testing.T, r *provider.ChatRequest) {
				c := r.Messages[0].Content
				if len(c) != 2 || c[0].Type != openai.PartInputAudio || c[1].Type != openai.PartFile {
					t.Errorf("parts = %+v", c)
				}
			}},
		{"EscapedStrings", `{"model":"m\u00e9","messages":[{"role":"user","content":"a\nb\"c\ud83d\ude00"}]}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if r.Model != "mé" || r.Messages[0].Text() != "a\nb\"c😀" {
					t.Errorf("got %q %q", r.Model, r.Messages[0].Text())
				}
			}},
		{"StreamWithoutUsage", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`,
			func(t *testing.T, r *provider.ChatRequest) {
				if !r.Stream || r.IncludeUsage {
					t.Errorf("stream %v include usage %v", r.Stream, r.IncludeUsage)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := openai.DecodeChatRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

const hi = `"messages":[{"role":"user","content":"hi"}]`

func TestDecodeChatRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, param, msg string
	}{
		{"Malformed", `{"model":"m",`, "", "could not parse the JSON body"},
		{"Trailing", `{"model":"m"} {}`, "", "could not parse the JSON body"},
		{"InvalidUTF8", "{\"model\":\"\xff\"," + hi + "}", "", "could not parse the JSON body"},
		{"NotObject", `["model"]`, "", "expected a JSON object, but got an array"},
		{"ModelMissing", `{` + hi + `}`, "model", "you must provide a model parameter"},
		{"ModelEmpty", `{"model":"",` + hi + `}`, "model", "you must provide a model parameter"},
		{"ModelNotString", `{"model":4,` + hi + `}`, "model", "expected a string, but got an integer"},
		{"ModelDuplicate", `{"model":"a","model":"b",` + hi + `}`, "model", "Duplicate parameter"},
		{"ExtraDuplicate", `{"model":"a","x":1,"x":2,` + hi + `}`, "x", "Duplicate parameter"},
		{"EscapedKey", `{"mod\u0065l":"a",` + hi + `}`, "", "escaped characters"},
		{"CaseVariantStream", `{"model":"m","streAm":true,` + hi + `}`, "streAm", "did you mean 'stream'"},
		{"CaseVariantModel", `{"model":"m","MODEL":"other",` + hi + `}`, "MODEL", "case-sensitive"},
		{"FoldedLongS", `{"model":"m","\u017ftream":true,` + hi + `}`, "", "escaped characters"},
		{"FoldedLongSRaw", `{"model":"m","ſtream":true,` + hi + `}`, "ſtream", "did you mean 'stream'"},
		{"MessagesMissing", `{"model":"m"}`, "messages", "Missing required parameter: 'messages'"},
		{"MessagesEmpty", `{"model":"m","messages":[]}`, "messages", "empty array"},
		{"MessagesNotArray", `{"model":"m","messages":{}}`, "messages", "expected an array, but got an object"},
		{"MessageNotObject", `{"model":"m","messages":["hi"]}`, "messages[0]", "expected an object, but got a string"},
		{"RoleMissing", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role", "Missing required parameter"},
		{"RoleBad", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"robot","content":"x"}]}`, "messages[1].role", "Invalid value: 'robot'"},
		{"ContentNumber", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "expected one of a string or array of objects, but got an integer"},
		{"ContentMissing", `{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content", "Missing required parameter"},
		{"ContentNullUser", `{"model":"m","messages":[{"role":"system","content":null}]}`, "messages[0].content", "expected one of a string or array of objects, but got null"},
		{"PartTypeBad", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"video"}]}]}`, "messages[0].content[1].type", "Invalid value: 'video'"},
		{"PartNotObject", `{"model":"m","messages":[{"role":"user","content":["a"]}]}`, "messages[0].content[0]", "expected an object"},
		{"PartTextMissing", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text", "Missing required parameter"},
		{"ImageInSystem", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}`, "messages[0].content[0].type", "Supported values are: 'text'"},
		{"ImageURLMissing", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "messages[0].content[0].image_url", "Missing required parameter"},
		{"ImageDetailBad", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":"max"}}]}]}`, "messages[0].content[0].image_url.detail", "Invalid value: 'max'"},
		{"AssistantEmpty", `{"model":"m","messages":[{"role":"assistant"}]}`, "messages[0].content", "required when 'tool_calls' is not given"},
		{"ToolNoCallID", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id", "Missing required parameter"},
		{"ToolCallNoID", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].id", "Missing required parameter"},
		{"ToolCallNoName", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].function.name", "Missing required parameter"},
		{"FunctionRoleNoName", `{"model":"m","messages":[{"role":"function","content":"x"}]}`, "messages[0].name", "Missing required parameter"},
		{"TemperatureHigh", `{"model":"m",` + hi + `,"temperature":2.5}`, "temperature", "Expected a value <= 2, but got 2.5"},
		{"TemperatureNegative", `{"model":"m",` + hi + `,"temperature":-0.1}`, "temperature", "Expected a value >= 0"},
		{"TemperatureString", `{"model":"m",` + hi + `,"temperature":"hot"}`, "temperature", "expected a decimal, but got a string"},
		{"TopPHigh", `{"model":"m",` + hi + `,"top_p":1.01}`, "top_p", "Expected a value <= 1"},
		{"PresencePenaltyLow", `{"model":"m",` + hi + `,"presence_penalty":-3}`, "presence_penalty", "Expected a value >= -2"},
		{"NZero", `{"model":"m",` + hi + `,"n":0}`, "n", "Expected a value >= 1"},
		{"NTooMany", `{"model":"m",` + hi + `,"n":129}`, "n", "Expected a value <= 128"},
		{"NDecimal", `{"model":"m",` + hi + `,"n":1.5}`, "n", "expected an integer, but got a decimal"},
		{"StopTooMany", `{"model":"m",` + hi + `,"stop":["a","b","c","d","e"]}`, "stop", "maximum length 4"},
		{"StopBadType", `{"model":"m",` + hi + `,"stop":1}`, "stop", "expected one of a string or array of strings"},
		{"StopElementNotString", `{"model":"m",` + hi + `,"stop":["a",1]}`, "stop[1]", "expected a string"},
		{"MaxTokensZero", `{"model":"m",` + hi + `,"max_tokens":0}`, "max_tokens", "Expected a value >= 1"},
		{"MaxCompletionTokensNegative", `{"model":"m",` + hi + `,"max_completion_tokens":-5}`, "max_completion_tokens", "Expected a value >= 1"},
		{"MaxTokensHuge", `{"model":"m",` + hi + `,"max_tokens":99999999999999999999}`, "max_tokens", "out of range"},
		{"SeedDecimal", `{"model":"m",` + hi + `,"seed":1.5}`, "seed", "expected an integer"},
		{"ToolNoName", `{"model":"m",` + hi + `,"tools":[{"type":"function","function":{"description":"d"}}]}`, "tools[0].function.name", "Missing required parameter"},
		{"ToolBadName", `{"model":"m",` + hi + `,"tools":[{"type":"function","function":{"name":"has space"}}]}`, "tools[0].function.name", "does not match pattern"},
		{"ToolTypeBad", `{"model":"m",` + hi + `,"tools":[{"type":"retrieval"}]}`, "tools[0].type", "Invalid value: 'retrieval'"},
		{"ToolNoFunction", `{"model":"m",` + hi + `,"tools":[{"type":"function"}]}`, "tools[0].function", "Missing required parameter"},
		{"ToolParametersNotObject", `{"model":"m",` + hi + `,"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, "tools[0].function.parameters", "expected an object"},
		{"ToolChoiceUnknownFunction", `{"model":"m",` + hi + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, "tool_choice", "no function named 'g'"},
		{"ToolChoiceBadString", `{"model":"m",` + hi + `,"tool_choice":"always"}`, "tool_choice", "Invalid value: 'always'"},
		{"ToolChoiceRequiredNoTools", `{"model":"m",` + hi + `,"tool_choice":"required"}`, "tool_choice", "only allowed when tools are specified"},
		{"ToolsAndFunctions", `{"model":"m",` + hi + `,"tools":[],"functions":[]}`, "functions", "cannot both be given"},
		{"StreamOptionsWithoutStream", `{"model":"m",` + hi + `,"stream_options":{"include_usage":true}}`, "stream_options", "only allowed when 'stream' is enabled"},
		{"StreamOptionsStreamFalse", `{"model":"m",` + hi + `,"stream":false,"stream_options":{"include_usage":true}}`, "stream_options", "only allowed when 'stream' is enabled"},
		{"StreamNotBool", `{"model":"m",` + hi + `,"stream":"yes"}`, "stream", "expected a boolean, but got a string"},
		{"ResponseFormatBad", `{"model":"m",` + hi + `,"response_format":{"type":"xml"}}`, "response_format.type", "Invalid value: 'xml'"},
		{"JSONSchemaNoName", `{"model":"m",` + hi + `,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`, "response_format.json_schema.name", "Missing required parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openai.DecodeChatRequest([]byte(tc.body))
			checkInvalid(t, err, tc.param, tc.msg)
		})
	}
}

func checkInvalid(t *testing.T, err error, param, msg string) {
	t.Helper()
	var ce *chorus.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *chorus.Error", err)
	}
	if ce.Code != chorus.EINVALID {
		t.Errorf("code = %q, want invalid", ce.Code)
	}
	if ce.Param != param {
		t.Errorf("param = %q, want %q (message %q)", ce.Param, param, ce.Message)
	}
	if !strings.Contains(ce.Message, msg) {
		t.Errorf("message = %q, want it to contain %q", ce.Message, msg)
	}
}

func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m",` + hi + `}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":[{"type":"text","text":"x"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m",` + hi + `,"stream":true,"stream_options":{"include_usage":false},"stop":["a"],"temperature":1,"n":3}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:x","detail":"low"}}]}],"x":[1,{"y":null}]}`,
		`{"model":"a","model":"b"}`, `[]`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := openai.DecodeChatRequest(body)
		if err != nil {
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Code != chorus.EINVALID || ce.Message == "" {
				t.Fatalf("error %v is not a *chorus.Error with code invalid", err)
			}
			return
		}
		if r.Model == "" || len(r.Messages) == 0 {
			t.Fatalf("success without model or messages: %+v", r)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		// What passthrough forwards must name the model Chorus chose, in
		// the reading of any JSON parser (last member wins).
		for _, stream := range []bool{false, true} {
			out := openai.RewriteChatBodyForTest(body, "routed", stream)
			var fields struct {
				Model  string `json:"model"`
				Stream *bool  `json:"stream"`
			}
			if err := json.Unmarshal(out, &fields); err != nil {
				t.Fatalf("rewritten body is not JSON: %v\n%s", err, out)
			}
			if fields.Model != "routed" || fields.Stream != nil && *fields.Stream != stream {
				t.Fatalf("rewritten body model %q stream %v, want routed %v\n%s", fields.Model, fields.Stream, stream, out)
			}
		}
	})
}

func TestDecodeEmbeddingRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		input  []string
		tokens [][]int
	}{
		{"String", `{"model":"e","input":"hello"}`, []string{"hello"}, nil},
		{"Strings", `{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":256,"user":"u"}`, []string{"a", "b"}, nil},
		{"Tokens", `{"model":"e","input":[1,2,3]}`, nil, [][]int{{1, 2, 3}}},
		{"TokenArrays", `{"model":"e","input":[[1],[2,3]]}`, nil, [][]int{{1}, {2, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := openai.DecodeEmbeddingRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Input, tc.input) || !reflect.DeepEqual(r.InputTokens, tc.tokens) {
				t.Errorf("input %q tokens %v, want %q %v", r.Input, r.InputTokens, tc.input, tc.tokens)
			}
			if r.Model != "e" || r.RawFormat != provider.FormatOpenAI || string(r.Raw) != tc.body {
				t.Errorf("model %q raw %q format %q", r.Model, r.Raw, r.RawFormat)
			}
		})
	}
	r, err := openai.DecodeEmbeddingRequest([]byte(`{"model":"e","input":"x","encoding_format":"base64","dimensions":8,"user":"u","extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.EncodingFormat != "base64" || r.Dimensions == nil || *r.Dimensions != 8 || r.User != "u" || string(r.Extra["extra"]) != "1" {
		t.Errorf("got %+v", r)
	}
}

func TestDecodeEmbeddingRequestErrors(t *testing.T) {
	many := `["` + strings.Repeat(`x","`, 2048) + `x"]`
	for _, tc := range []struct{ name, body, param, msg string }{
		{"Malformed", `{"input":`, "", "could not parse"},
		{"ModelMissing", `{"input":"x"}`, "model", "you must provide a model parameter"},
		{"CaseVariant", `{"model":"e","Model":"f","input":"x"}`, "Model", "did you mean 'model'"},
		{"InputMissing", `{"model":"e"}`, "input", "Missing required parameter"},
		{"InputNull", `{"model":"e","input":null}`, "input", "Missing required parameter"},
		{"EmptyString", `{"model":"e","input":""}`, "input", "empty string"},
		{"EmptyArray", `{"model":"e","input":[]}`, "input", "empty array"},
		{"EmptyElement", `{"model":"e","input":["a",""]}`, "input[1]", "empty string"},
		{"TooMany", `{"model":"e","input":` + many + `}`, "input", "maximum length 2048"},
		{"Mixed", `{"model":"e","input":["a",1]}`, "input[1]", "expected a string"},
		{"BadToken", `{"model":"e","input":[1,-2]}`, "input[1]", "non-negative"},
		{"EmptyTokenArray", `{"model":"e","input":[[1],[]]}`, "input[1]", "empty array"},
		{"InputObject", `{"model":"e","input":{}}`, "input", "expected one of"},
		{"BadFormat", `{"model":"e","input":"x","encoding_format":"int8"}`, "encoding_format", "Invalid value: 'int8'"},
		{"BadDimensions", `{"model":"e","input":"x","dimensions":0}`, "dimensions", "Expected a value >= 1"},
		{"Duplicate", `{"model":"e","input":"x","input":"y"}`, "input", "Duplicate parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openai.DecodeEmbeddingRequest([]byte(tc.body))
			checkInvalid(t, err, tc.param, tc.msg)
		})
	}
}

func TestDecodeReasoningEffort(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		want *provider.Reasoning
	}{
		"High": {`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high"}`, &provider.Reasoning{Effort: "high"}},
		"Null": {`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":null}`, nil},
		"None": {`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := openai.DecodeChatRequest([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Reasoning, tc.want) {
				t.Errorf("Reasoning = %+v, want %+v", req.Reasoning, tc.want)
			}
			if tc.want != nil && string(req.Extra["reasoning_effort"]) != `"high"` {
				t.Errorf("reasoning_effort not kept for OpenAI upstreams: %s", req.Extra["reasoning_effort"])
			}
		})
	}
	_, err := openai.DecodeChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":3}`))
	var ce *chorus.Error
	if !errors.As(err, &ce) || ce.Param != "reasoning_effort" {
		t.Errorf("reasoning_effort 3: %v, want an error naming it", err)
	}
}
