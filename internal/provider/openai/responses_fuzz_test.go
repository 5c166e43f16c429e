package openai

import (
	"bytes"
	"io"
	"testing"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// FuzzDecodeResponsesRequest checks the Responses decoder never panics, and
// that what it accepts re-encodes: normalized items, the history rewrite,
// and the response object and stream written for it are valid JSON.
func FuzzDecodeResponsesRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"x"}],"tools":[{"type":"custom","name":"f"},{"type":"namespace","name":"n","tools":[{"type":"function","name":"g"}]},{"type":"mcp"}],"tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}}`,
		`{"model":"m","input":[{"type":"reasoning","id":"rs","summary":[]}],"text":{"format":{"type":"json_schema","name":"n","schema":{}}},"reasoning":{"effort":"low"}}`,
		`{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"f","input":"\u00e9"}],"stream":true}`,
		`{"model":"m","input":[{}]}`, `{"model":"m","input":[1]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponsesRequest(b)
		if err != nil {
			return
		}
		for i, it := range r.Input {
			if !jsonscan.Valid(it) {
				t.Fatalf("input[%d] = %s is not JSON", i, it)
			}
		}
		if err := r.WithHistory(r.Input); err != nil || !jsonscan.Valid(r.Chat.Raw) {
			t.Fatalf("WithHistory: %v: %s", err, r.Chat.Raw)
		}
		calls := make([]provider.ToolCall, 0, len(r.Chat.Tools))
		for _, tl := range r.Chat.Tools {
			calls = append(calls, provider.ToolCall{ID: "c", Name: tl.Name, Arguments: `{"input":"x"}`})
		}
		resp := &provider.ChatResponse{Choices: []provider.Choice{{Message: provider.Message{Role: "assistant", Content: []provider.Part{{Type: provider.PartText, Text: "a"}}, ToolCalls: calls}}}}
		if obj := AppendResponseObject(nil, resp, r, ResponseMeta{ID: "resp_x", Model: r.Chat.Model}); !jsonscan.Valid(obj) {
			t.Fatalf("response object is not JSON: %s", obj)
		}
		e := NewResponsesStreamEncoder(r, ResponseMeta{ID: "resp_x", Model: r.Chat.Model})
		out := e.Encode(nil, &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "a", ToolCalls: []provider.ToolCallDelta{{ID: "c", Name: "f", Arguments: "{}"}}}}})
		out = e.Finish(out, nil)
		for _, ev := range bytes.Split(out, []byte("\n\n")) {
			if _, data, ok := bytes.Cut(ev, []byte("data: ")); ok && !jsonscan.Valid(data) {
				t.Fatalf("event data is not JSON: %s", data)
			}
		}
	})
}

// FuzzParseResponsesUpstream feeds arbitrary answers and stream events to
// the Responses upstream parsers: none may panic.
func FuzzParseResponsesUpstream(f *testing.F) {
	for _, s := range []string{
		`{"id":"r","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"a"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"custom_tool_call","call_id":"d","name":"g","input":"x"}],"usage":{"input_tokens":1,"input_tokens_details":{"cached_tokens":1}}}`,
		`{"type":"response.output_item.added","output_index":0,"item":{"type":"custom_tool_call","call_id":"c","name":"g"}}`,
		`{"type":"response.custom_tool_call_input.delta","output_index":0,"delta":"x"}`,
		`{"type":"response.completed","response":{"status":"incomplete","incomplete_details":{"reason":"content_filter"},"usage":{}}}`,
		`{"type":"response.failed","response":{"error":{"code":5}}}`, `{"type":"error","code":"x","message":"m"}`,
		`{"status":"failed","error":null}`, `{"output":5,"usage":[]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, perr, err := parseResponseObject(b); err == nil && r == nil && perr == nil {
			t.Fatal("nil answer without error")
		}
		_, _ = CompletedResponse(b)
		_, _ = OutputItems(b)
		var sse bytes.Buffer
		for range 2 {
			sse.WriteString("event: x\ndata: ")
			sse.Write(bytes.ReplaceAll(b, []byte("\n"), nil))
			sse.WriteString("\n\n")
		}
		s := &responsesStream{kind: "openai", body: io.NopCloser(&sse), sse: provider.NewSSEReader(&sse), ctxErr: func() error { return nil }}
		for range 3 {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	})
}
