package openai

import (
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

// FuzzParseUpstream feeds arbitrary upstream answers to every parser of
// upstream bytes: none may panic, whatever a broken or hostile server sends.
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{
		`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`,
		`{"choices":[{"index":0,"delta":{"content":"a","tool_calls":[{"index":0,"id":"c"}]},"finish_reason":null}],"usage":null}`,
		`{"data":[{"index":0,"embedding":[0.1,2]},{"index":1,"embedding":"AACAPw=="}],"usage":{"prompt_tokens":3}}`,
		`{"error":{"message":"m","type":"t","code":5}}`, `{"error":"x"}`, `{"choices":5,"usage":[]}`,
		`{"data":[{"index":9,"embedding":[]}]}`, `{"data":[{"embedding":"!!"}]}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := parseChatResponse(b); err == nil && r == nil {
			t.Fatal("nil response without error")
		}
		if c, perr, err := parseChunk(b); err == nil && c == nil && perr == nil {
			t.Fatal("nil chunk without error")
		}
		if r, err := parseEmbeddingResponse(b); err == nil {
			for i, v := range r.Data {
				if v == nil {
					t.Fatalf("embedding %d missing without error", i)
				}
			}
		}
		var e provider.Error
		parseErrorBody(b, &e)
		_ = errorText(b)
	})
}

// FuzzDecodeEmbeddingRequest checks the embeddings decoder never panics and
// accepts only requests with a model and at least one input.
func FuzzDecodeEmbeddingRequest(f *testing.F) {
	for _, s := range []string{`{"model":"e","input":"x"}`, `{"model":"e","input":[[1,2],[3]]}`, `{"model":"e","input":[1]}`, `{"input":[""]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeEmbeddingRequest(b)
		if err != nil {
			return
		}
		if r.Model == "" || len(r.Input)+len(r.InputTokens) == 0 || len(r.Input) > 0 && len(r.InputTokens) > 0 {
			t.Fatalf("accepted %q as %+v", b, r)
		}
	})
}
