package anthropic_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/anthropic"
)

// benchBody is a realistic agent turn: a system prompt, tools, and a
// conversation of 20 turns with tool calls and results.
func benchBody() []byte {
	var b strings.Builder
	b.WriteString(`{"model":"claude-sonnet-4-5","max_tokens":2048,"system":"You are a careful assistant. ` + strings.Repeat("Follow the rules. ", 20) + `",`)
	b.WriteString(`"tools":[{"name":"search","description":"Search the web.","input_schema":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}],`)
	b.WriteString(`"messages":[`)
	for i := range 10 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%d","content":"result %d"},{"type":"text","text":"%s"}]},`,
			i, i, strings.Repeat("Tell me more about it. ", 10))
		fmt.Fprintf(&b, `{"role":"assistant","content":[{"type":"text","text":"%s"},{"type":"tool_use","id":"toolu_%d","name":"search","input":{"q":"query %d"}}]}`,
			strings.Repeat("Let me look that up. ", 10), i+1, i)
	}
	b.WriteString(`,{"role":"user","content":"Summarise."}],"stream":true,"temperature":0.3}`)
	return []byte(b.String())
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := benchBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anthropic.DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassthroughBody is the whole same-format cost: rewrite the model
// in the client's body.
func BenchmarkPassthroughBody(b *testing.B) {
	body := benchBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := anthropic.PassthroughBody(body, "claude-sonnet-4-5-20250929", true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendRequest is the translation cost for a request from
// another format.
func BenchmarkAppendRequest(b *testing.B) {
	req, err := anthropic.DecodeRequest(benchBody())
	if err != nil {
		b.Fatal(err)
	}
	req.Raw, req.RawFormat = nil, provider.FormatOpenAI
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		if buf, err = anthropic.AppendRequest(buf[:0], req, true, 4096); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkStreamEncoder encodes a 200-chunk answer.
func BenchmarkStreamEncoder(b *testing.B) {
	chunks := make([]*provider.StreamChunk, 200)
	for i := range chunks {
		chunks[i] = &provider.StreamChunk{Choices: []provider.ChunkChoice{{Content: "word \"quoted\" "}}}
	}
	final := &provider.Usage{InputTokens: 100, OutputTokens: 200}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		enc := anthropic.NewStreamEncoder("claude")
		buf = buf[:0]
		for _, c := range chunks {
			buf = enc.Encode(buf, c)
		}
		buf = enc.Finish(buf, final)
	}
	b.SetBytes(int64(len(buf)))
}
