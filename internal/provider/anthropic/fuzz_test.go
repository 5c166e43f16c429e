package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

// FuzzStream checks that no upstream event stream makes the stream decoder
// panic or loop, and that every chunk it yields keeps its raw event.
func FuzzStream(f *testing.F) {
	for _, s := range []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":1}}}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n" +
			"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"x\"}}\n\n" +
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"s\"}}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n",
		"event: ping\ndata: {\"type\":\"ping\"}\n\n", "data: null\n\ndata: []\n\n", "event: message_delta\ndata: {\"usage\":5}\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s := newStream(context.Background(), io.NopCloser(strings.NewReader(body)))
		for i := range len(body) + 2 {
			c, err := s.Next()
			if err != nil {
				var pe *provider.Error
				if err != io.EOF && !errors.As(err, &pe) {
					t.Fatalf("chunk %d: error %v is neither io.EOF nor a *provider.Error", i, err)
				}
				return
			}
			if c == nil {
				t.Fatalf("chunk %d: nil without an error", i)
			}
		}
		t.Fatal("stream does not end")
	})
}

// FuzzParseResponse checks that no upstream body makes the message parser
// panic, and that what it accepts is one choice whose tool calls carry
// JSON arguments.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"msg_1","type":"message","model":"m","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"a"},{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2,"cache_creation_input_tokens":3}}`,
		`{"type":"message","content":[{"type":"redacted_thinking","data":"d"},{"type":"server_tool_use","id":"s"}],"stop_reason":"stop_sequence","stop_sequence":"END"}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`,
		`{"content":[{"type":"tool_use","input":null}]}`, `{"content":5}`, `null`, `[]`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := parseResponse(body, 200)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			return
		}
		if len(resp.Choices) != 1 {
			t.Fatalf("%d choices, want 1", len(resp.Choices))
		}
		for _, tc := range resp.Choices[0].Message.ToolCalls {
			if !json.Valid([]byte(tc.Arguments)) {
				t.Fatalf("tool call arguments %q are not JSON", tc.Arguments)
			}
		}
		_ = AppendResponse(nil, resp, true)
	})
}

// FuzzTranslateRequest translates arbitrary canonical requests (decoded
// from JSON by field name, so the fuzzer can reach every field) into
// Anthropic bodies: the encoder must never panic, and what it writes must
// be JSON.
func FuzzTranslateRequest(f *testing.F) {
	for _, s := range []string{
		`{"Model":"m","Messages":[{"Role":"system","Content":[{"Type":"text","Text":"s"}]},{"Role":"user","Content":[{"Type":"text","Text":"hi"},{"Type":"image","ImageURL":"data:image/png;base64,AA=="}]}]}`,
		`{"Model":"m","Messages":[{"Role":"assistant","ToolCalls":[{"ID":"c","Name":"f","Arguments":"{\"a\":1}"}]},{"Role":"tool","ToolCallID":"c","Content":[{"Type":"text","Text":"r"}]}],"Tools":[{"Name":"f","Parameters":{"type":"object"}}],"ToolChoice":{"Mode":"required"}}`,
		`{"Model":"m","Messages":[{"Role":"user","TextOnly":true,"Content":[{"Type":"text","Text":"x"}]},{"Role":"assistant","Content":[{"Type":"thinking","Text":"t","Signature":"g"},{"Type":"redacted_thinking","Data":"d"}]}],"MaxTokens":5,"Reasoning":{"Effort":"high"},"Stop":["a"],"Temperature":0.5}`,
		`{"Model":"m","Messages":[{"Role":"tool"}],"ResponseFormat":{"Type":"json_schema","Schema":{}}}`,
		`{"Messages":[{"Role":"developer","Content":[{"Type":"image","ImageURL":"https://x/y.png"}]}],"Extra":{"metadata":{"user_id":"u"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req provider.ChatRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		for _, stream := range []bool{false, true} {
			out, err := appendRequest(nil, &req, stream, 1024)
			if err != nil {
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("request %s encodes as invalid JSON %q", b, out)
			}
		}
	})
}
