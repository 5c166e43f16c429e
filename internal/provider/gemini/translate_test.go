package gemini

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/provider"
)

func ptr[T any](v T) *T { return &v }

func text(role, s string) provider.Message { return provider.TextMessage(role, s) }

// jsonEq reports whether two JSON texts encode the same value.
func jsonEq(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is invalid JSON %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

func TestToGemini(t *testing.T) {
	const weatherSchema = `{"type":"object","properties":{"city":{"type":"string"}},"additionalProperties":false}`
	tests := []struct {
		name string
		req  provider.ChatRequest
		want string // the whole body
	}{
		{
			name: "SystemMerge",
			req: provider.ChatRequest{Messages: []provider.Message{
				text(provider.RoleSystem, "Be terse."),
				text(provider.RoleDeveloper, "Answer in French."),
				text(provider.RoleUser, "Hi"),
				text(provider.RoleSystem, "Late rule."),
			}},
			want: `{
				"systemInstruction": {"parts": [{"text": "Be terse."}, {"text": "Answer in French."}, {"text": "Late rule."}]},
				"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]
			}`,
		},
		{
			name: "SameRoleTurnsMerge",
			req: provider.ChatRequest{Messages: []provider.Message{
				text(provider.RoleUser, "one"),
				text(provider.RoleUser, "two"),
				text(provider.RoleAssistant, "three"),
				text(provider.RoleAssistant, "four"),
				text(provider.RoleUser, ""), // empty: no part, no turn
				text(provider.RoleUser, "five"),
			}},
			want: `{"contents": [
				{"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
				{"role": "model", "parts": [{"text": "three"}, {"text": "four"}]},
				{"role": "user", "parts": [{"text": "five"}]}
			]}`,
		},
		{
			name: "ToolRoundTrip",
			req: provider.ChatRequest{
				Messages: []provider.Message{
					text(provider.RoleUser, "Weather in Paris and Rome?"),
					{Role: provider.RoleAssistant, Content: []provider.Part{{Type: provider.PartText, Text: "Looking."}}, ToolCalls: []provider.ToolCall{
						{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
						{ID: "call_2", Name: "get_weather", Arguments: ``},
					}},
					{Role: provider.RoleTool, ToolCallID: "call_1", Content: []provider.Part{{Type: provider.PartText, Text: `{"sky":"sunny"}`}}},
					{Role: provider.RoleTool, ToolCallID: "call_2", Content: []provider.Part{{Type: provider.PartText, Text: `raining`}}},
					text(provider.RoleUser, "Thanks"),
				},
				Tools: []provider.Tool{{Name: "get_weather", Description: "Weather.", Parameters: json.RawMessage(weatherSchema)}},
			},
			want: `{
				"contents": [
					{"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
					{"role": "model", "parts": [
						{"text": "Looking."},
						{"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}},
						{"functionCall": {"id": "call_2", "name": "get_weather", "args": {}}}
					]},
					{"role": "user", "parts": [
						{"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"content": {"sky": "sunny"}}}},
						{"functionResponse": {"id": "call_2", "name": "get_weather", "response": {"content": "raining"}}},
						{"text": "Thanks"}
					]}
				],
				"tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather.", "parametersJsonSchema": ` + weatherSchema + `}]}]
			}`,
		},
		{
			name: "ToolResultNamedByMessage",
			req: provider.ChatRequest{Messages: []provider.Message{
				{Role: provider.RoleTool, ToolCallID: "from_elsewhere", Name: "lookup", Content: []provider.Part{{Type: provider.PartText, Text: "42"}}},
			}},
			want: `{"contents": [{"role": "user", "parts": [
				{"functionResponse": {"id": "from_elsewhere", "name": "lookup", "response": {"content": 42}}}
			]}]}`,
		},
		{
			name: "ThoughtSignatureUnfolded",
			req: provider.ChatRequest{Messages: []provider.Message{
				{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{
					{ID: "call_A__sig_c2lnbmF0dXJl", Name: "f", Arguments: `{}`},
				}},
				{Role: provider.RoleTool, ToolCallID: "call_A__sig_c2lnbmF0dXJl", Content: []provider.Part{{Type: provider.PartText, Text: "ok"}}},
			}},
			want: `{"contents": [
				{"role": "model", "parts": [{"functionCall": {"id": "call_A", "name": "f", "args": {}}, "thoughtSignature": "c2lnbmF0dXJl"}]},
				{"role": "user", "parts": [{"functionResponse": {"id": "call_A", "name": "f", "response": {"content": "ok"}}}]}
			]}`,
		},
		{
			name: "Images",
			req: provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleUser, Content: []provider.Part{
				{Type: provider.PartText, Text: "Compare"},
				{Type: provider.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
				{Type: provider.PartImage, ImageURL: "https://example.com/cat.webp?size=1"},
				{Type: provider.PartImage, ImageURL: "https://example.com/photo"},
				{Type: provider.PartImage, ImageURL: "data:image/svg+xml,%3Csvg%2F%3E"},
			}}}},
			want: `{"contents": [{"role": "user", "parts": [
				{"text": "Compare"},
				{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
				{"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=1"}},
				{"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photo"}},
				{"inlineData": {"mimeType": "image/svg+xml", "data": "PHN2Zy8+"}}
			]}]}`,
		},
		{
			name: "GenerationConfig",
			req: provider.ChatRequest{
				Messages:         []provider.Message{text(provider.RoleUser, "Hi")},
				MaxTokens:        ptr(100),
				Temperature:      ptr(0.0),
				TopP:             ptr(0.9),
				TopK:             ptr(40),
				N:                ptr(2),
				Stop:             []string{"END"},
				Seed:             ptr(int64(7)),
				PresencePenalty:  ptr(0.5),
				FrequencyPenalty: ptr(-0.5),
			},
			want: `{
				"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
				"generationConfig": {"maxOutputTokens": 100, "temperature": 0, "topP": 0.9, "topK": 40, "candidateCount": 2,
					"stopSequences": ["END"], "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": -0.5}
			}`,
		},
		{
			name: "JSONObject",
			req: provider.ChatRequest{
				Messages:       []provider.Message{text(provider.RoleUser, "Hi")},
				ResponseFormat: &provider.ResponseFormat{Type: "json_object"},
			},
			want: `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": {"responseMimeType": "application/json"}}`,
		},
		{
			name: "JSONSchema",
			req: provider.ChatRequest{
				Messages: []provider.Message{text(provider.RoleUser, "Hi")},
				ResponseFormat: &provider.ResponseFormat{Type: "json_schema", Name: "city", Strict: ptr(true),
					Schema: json.RawMessage(weatherSchema)},
			},
			want: `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
				"generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": ` + weatherSchema + `}}`,
		},
		{
			name: "TextFormatSendsNothing",
			req: provider.ChatRequest{
				Messages:       []provider.Message{text(provider.RoleUser, "Hi")},
				ResponseFormat: &provider.ResponseFormat{Type: "text"},
			},
			want: `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}`,
		},
		{
			name: "ToolChoiceRequired",
			req: provider.ChatRequest{
				Messages:   []provider.Message{text(provider.RoleUser, "Hi")},
				ToolChoice: &provider.ToolChoice{Mode: "required"},
			},
			want: `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}`,
		},
		{
			name: "ToolChoiceFunction",
			req: provider.ChatRequest{
				Messages:   []provider.Message{text(provider.RoleUser, "Hi")},
				ToolChoice: &provider.ToolChoice{Mode: "function", Name: "get_weather"},
			},
			want: `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
				"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}}`,
		},
		{
			name: "ToolChoiceNone",
			req: provider.ChatRequest{
				Messages:   []provider.Message{text(provider.RoleUser, "Hi")},
				ToolChoice: &provider.ToolChoice{Mode: "none"},
			},
			want: `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := requestBody(&tt.req)
			if err != nil {
				t.Fatalf("requestBody: %v", err)
			}
			if !jsonEq(t, got, tt.want) {
				t.Errorf("body =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestToGeminiErrors(t *testing.T) {
	tests := []struct {
		name      string
		req       provider.ChatRequest
		wantParam string
	}{
		{"UnknownRole", provider.ChatRequest{Messages: []provider.Message{text("function", "x")}}, "messages"},
		{"ArgumentsNotObject", provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleAssistant,
			ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: `[1]`}}}}}, "messages"},
		{"ArgumentsInvalidJSON", provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleAssistant,
			ToolCalls: []provider.ToolCall{{ID: "c", Name: "f", Arguments: `{"a":`}}}}}, "messages"},
		{"UnknownToolCallID", provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleTool, ToolCallID: "nope",
			Content: []provider.Part{{Type: provider.PartText, Text: "x"}}}}}, "messages"},
		{"ImageFTP", provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleUser,
			Content: []provider.Part{{Type: provider.PartImage, ImageURL: "ftp://example.com/a.png"}}}}}, "messages"},
		{"ImageBadBase64", provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleUser,
			Content: []provider.Part{{Type: provider.PartImage, ImageURL: "data:image/png;base64,***"}}}}}, "messages"},
		{"ImageNoComma", provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleUser,
			Content: []provider.Part{{Type: provider.PartImage, ImageURL: "data:image/png;base64"}}}}}, "messages"},
		{"UnknownResponseFormat", provider.ChatRequest{Messages: []provider.Message{text(provider.RoleUser, "x")},
			ResponseFormat: &provider.ResponseFormat{Type: "yaml"}}, "response_format"},
		{"UnknownToolChoice", provider.ChatRequest{Messages: []provider.Message{text(provider.RoleUser, "x")},
			ToolChoice: &provider.ToolChoice{Mode: "sometimes"}}, "tool_choice"},
		{"FunctionChoiceWithoutName", provider.ChatRequest{Messages: []provider.Message{text(provider.RoleUser, "x")},
			ToolChoice: &provider.ToolChoice{Mode: "function"}}, "tool_choice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := requestBody(&tt.req)
			if got := chorus.ErrorCode(err); got != chorus.EINVALID {
				t.Fatalf("error %v has code %q, want %q", err, got, chorus.EINVALID)
			}
			var ce *chorus.Error
			if !errors.As(err, &ce) || ce.Param != tt.wantParam {
				t.Errorf("error %v: param want %q", err, tt.wantParam)
			}
		})
	}
}

func TestRequestBodyPassthrough(t *testing.T) {
	raw := []byte(`{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"x_custom":{"a":1}}`)
	req := &provider.ChatRequest{
		Messages:  []provider.Message{text(provider.RoleUser, "something else")},
		Raw:       raw,
		RawFormat: provider.FormatGemini,
	}
	got, err := requestBody(req)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(raw) {
		t.Errorf("body = %s, want the raw body unchanged", got)
	}
	// A raw body in another format is translated, not forwarded.
	req.RawFormat = provider.FormatOpenAI
	got, err = requestBody(req)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEq(t, got, `{"contents":[{"role":"user","parts":[{"text":"something else"}]}]}`) {
		t.Errorf("body = %s, want the translated canonical request", got)
	}
}

func TestCallIDRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		fc        functionCall
		signature string
		wantID    string // exact, when Gemini sent an ID
	}{
		{name: "NoIDNoSignature"},
		{name: "GeminiID", fc: functionCall{ID: "abc-1"}, wantID: "abc-1"},
		{name: "Signature", signature: "CiQBcsjafE+/+1Q9yLwq3cOm7Xg="},
		{name: "GeminiIDAndSignature", fc: functionCall{ID: "abc-1"}, signature: "c2ln"},
		{name: "SignatureNotBase64", signature: "not base64!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := callID(&tt.fc, tt.signature)
			base, sig := splitCallID(id)
			if sig != tt.signature {
				t.Errorf("signature = %q, want %q (id %q)", sig, tt.signature, id)
			}
			if tt.wantID != "" && base != tt.wantID {
				t.Errorf("base ID = %q, want %q", base, tt.wantID)
			}
			if base == "" {
				t.Errorf("empty base ID in %q", id)
			}
			if tt.signature == "" && id != base {
				t.Errorf("id %q changed without a signature", id)
			}
		})
	}
	if a, b := callID(&functionCall{}, ""), callID(&functionCall{}, ""); a == b {
		t.Errorf("two generated IDs are both %q", a)
	}
}

// TestToGeminiReasoningAndSystem covers what an Anthropic client's request
// brings: a mid-conversation system message joins systemInstruction, the
// thinking budget becomes thinkingConfig with thoughts included, thinking
// parts of earlier turns are dropped.
func TestToGeminiReasoningAndSystem(t *testing.T) {
	req := &provider.ChatRequest{
		Reasoning: &provider.Reasoning{BudgetTokens: 2048},
		Messages: []provider.Message{
			text(provider.RoleSystem, "Be brief."),
			text(provider.RoleUser, "Hi"),
			{Role: provider.RoleAssistant, Content: []provider.Part{
				{Type: provider.PartThinking, Text: "greet", Signature: "s"},
				{Type: provider.PartRedactedThinking, Data: "x"},
				{Type: provider.PartText, Text: "Hello"},
			}},
			text(provider.RoleUser, "And now?"),
			text(provider.RoleSystem, "Answer in French."),
		},
	}
	g, err := toGemini(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(g)
	want := `{"contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello"}]},{"role":"user","parts":[{"text":"And now?"}]}],
		"systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Answer in French."}]},
		"generationConfig":{"thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true}}}`
	if !jsonEq(t, b, want) {
		t.Errorf("body =\n%s\nwant\n%s", b, want)
	}
	// Thinking in a user turn (not Anthropic's, but canonical allows it) is
	// dropped too rather than refused.
	req.Messages[1].Content = append(req.Messages[1].Content, provider.Part{Type: provider.PartThinking, Text: "t"})
	if _, err := toGemini(req); err != nil {
		t.Errorf("thinking part in a user turn: %v", err)
	}
}

func TestThinkingConfigFor(t *testing.T) {
	for _, tt := range []struct {
		r    *provider.Reasoning
		want string
	}{
		{nil, "null"},
		{&provider.Reasoning{Effort: "high"}, `{"thinkingBudget":24576,"includeThoughts":true}`},
		{&provider.Reasoning{Effort: "none"}, `{"thinkingBudget":0}`},
		{&provider.Reasoning{Effort: "unknown"}, "null"},
	} {
		b, _ := json.Marshal(thinkingConfigFor(tt.r))
		if string(b) != tt.want {
			t.Errorf("thinkingConfigFor(%+v) = %s, want %s", tt.r, b, tt.want)
		}
	}
}

func TestChoiceFromThoughts(t *testing.T) {
	ch := choiceFrom(&candidate{Content: &content{Role: roleModel, Parts: []part{
		{Text: "Thinking it over.", Thought: true}, {Text: "Answer."},
	}}, FinishReason: "STOP"})
	m := ch.Message
	if m.Reasoning() != "Thinking it over." || m.Text() != "Answer." || m.TextOnly {
		t.Errorf("message = %+v, want the thought as reasoning and the answer as text", m)
	}
}
