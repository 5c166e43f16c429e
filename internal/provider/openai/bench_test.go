package openai

import (
	"encoding/json"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

func BenchmarkDecodeChatRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := DecodeChatRequest(benchBody); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeChatRequestStdlib is a reference point: encoding/json into
// a generic map, which does less than DecodeChatRequest (no validation, no
// canonical form).
func BenchmarkDecodeChatRequestStdlib(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchBody, &m); err != nil {
			b.Fatal(err)
		}
	}
}

var benchChunk = []byte(`{"id":"chatcmpl-AbCdEf123","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}`)

func BenchmarkParseChunk(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchChunk)))
	for b.Loop() {
		if _, _, err := parseChunk(benchChunk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendChunk(b *testing.B) {
	c, _, _ := parseChunk(benchChunk)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendChunk(buf[:0], c)
	}
}

func BenchmarkAppendChatResponse(b *testing.B) {
	r := &provider.ChatResponse{ID: "chatcmpl-1", Model: "gpt-4o-mini", Created: 1700000000,
		Choices: []provider.Choice{{FinishReason: provider.FinishStop, Message: provider.TextMessage(provider.RoleAssistant,
			"The weather in Paris is sunny with a high of 21°C. Tomorrow looks similar, with light wind from the west.")}},
		Usage: provider.Usage{InputTokens: 250, OutputTokens: 30}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendChatResponse(buf[:0], r)
	}
}
