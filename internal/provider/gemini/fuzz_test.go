package gemini

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

// FuzzTranslateRequest translates arbitrary canonical requests (decoded
// from JSON by field name, so the fuzzer can reach every field) into
// Gemini bodies: the translator must never panic, and what it writes must
// be JSON.
func FuzzTranslateRequest(f *testing.F) {
	for _, s := range []string{
		`{"Model":"m","Messages":[{"Role":"system","Content":[{"Type":"text","Text":"s"}]},{"Role":"user","Content":[{"Type":"text","Text":"hi"},{"Type":"image","ImageURL":"data:image/png;base64,AA=="}]}]}`,
		`{"Model":"m","Messages":[{"Role":"assistant","ToolCalls":[{"ID":"c","Name":"f","Arguments":"{\"a\":1}"}]},{"Role":"tool","ToolCallID":"c","Content":[{"Type":"text","Text":"{\"r\":1}"}]}],"Tools":[{"Name":"f","Parameters":{"type":"object"}}],"ToolChoice":{"Mode":"function","Name":"f"}}`,
		`{"Model":"m","Messages":[{"Role":"user","Content":[{"Type":"text","Text":"x"}]}],"MaxTokens":5,"TopK":3,"N":2,"Seed":7,"Stop":["a"],"Reasoning":{"Effort":"high","BudgetTokens":100},"ResponseFormat":{"Type":"json_schema","Schema":{"type":"object"}}}`,
		`{"Messages":[{"Role":"tool","ToolCallID":"unknown"}],"ToolChoice":{"Mode":"none"}}`,
		`{"Messages":[{"Role":"user","Content":[{"Type":"image","ImageURL":"https://x/y.png"},{"Type":"image","ImageURL":"data:;base64,"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req provider.ChatRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		out, err := requestBody(&req)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("request %s translates to invalid JSON %q", b, out)
		}
	})
}

// FuzzParseEmbeddings checks that no upstream body makes the embeddings
// parser panic, and that what it accepts has one vector per input.
func FuzzParseEmbeddings(f *testing.F) {
	for _, s := range []string{
		`{"embeddings":[{"values":[0.1,0.2]},{"values":[]}],"usageMetadata":{"promptTokenCount":4}}`,
		`{"embeddings":[{"values":[1e400]}]}`, `{"embeddings":[null,{"values":null}]}`,
		`{"error":{"code":400,"message":"bad"}}`, `{"embeddings":5}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, body []byte, n uint8) {
		req := &provider.EmbeddingRequest{Model: "e", Input: make([]string, n%8)}
		resp, err := parseEmbeddings(body, req)
		if err != nil {
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			return
		}
		if len(resp.Data) != len(req.Input) {
			t.Fatalf("%d vectors for %d inputs", len(resp.Data), len(req.Input))
		}
		if resp.Usage.InputTokens < 0 {
			t.Fatalf("negative usage %d", resp.Usage.InputTokens)
		}
	})
}
