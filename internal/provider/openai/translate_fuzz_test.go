package openai

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

// FuzzTranslateChatRequest decodes arbitrary client bodies and encodes what
// the decoder accepts as an upstream body from its canonical fields (as for
// a client of another format): the encoder must never fail on a request the
// decoder accepted, nor write invalid JSON.
func FuzzTranslateChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}}]}],"max_tokens":5,"stop":["a"],"seed":1}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false}`,
		`{"model":"m","messages":[{"role":"developer","content":"d"},{"role":"user","content":"x","name":"n"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{},"strict":true}},"reasoning_effort":"high","stream_options":{"include_usage":true},"x_extra":[1]}`,
	} {
		f.Add([]byte(s))
	}
	c := &Client{}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeChatRequest(b)
		if err != nil {
			return
		}
		req.Raw, req.RawFormat = nil, provider.FormatAnthropic // encode the canonical fields, not the passthrough
		for _, stream := range []bool{false, true} {
			out, err := c.appendChatRequest(nil, req, stream)
			if err != nil {
				t.Fatalf("decoded request %s does not encode: %v", b, err)
			}
			if !json.Valid(out) {
				t.Fatalf("request %s encodes as invalid JSON %q", b, out)
			}
		}
	})
}

// FuzzTranslateEmbeddingRequest does the same for embeddings requests.
func FuzzTranslateEmbeddingRequest(f *testing.F) {
	for _, s := range []string{`{"model":"e","input":"x","dimensions":8,"encoding_format":"base64","user":"u"}`, `{"model":"e","input":[[1,2],[3]],"x":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeEmbeddingRequest(b)
		if err != nil {
			return
		}
		if out := appendEmbeddingRequest(nil, req); !json.Valid(out) {
			t.Fatalf("request %s encodes as invalid JSON %q", b, out)
		}
	})
}

// FuzzStream checks that no upstream event stream makes the chat stream
// decoder panic or loop, that Ready never panics on what is buffered, and
// that the stream ends with io.EOF or a *provider.Error.
func FuzzStream(f *testing.F) {
	for _, s := range []string{
		"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"a\"},\"finish_reason\":null}]}\n\n" +
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n" +
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
		"data: {\"error\":{\"message\":\"m\",\"type\":\"server_error\"}}\n\n",
		": keep-alive\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
		"data: [DONE]\n\n", "data: \n\n", "data: {\n\n", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		br := bufio.NewReaderSize(strings.NewReader(body), 16<<10)
		s := &stream{kind: "openai", body: io.NopCloser(strings.NewReader("")), br: br, sse: provider.NewSSEReader(br), ctxErr: func() error { return nil }}
		for i := range len(body) + 2 {
			_ = s.Ready()
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
