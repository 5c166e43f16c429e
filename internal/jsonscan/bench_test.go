package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchBody is a typical mid-sized chat request: a system prompt, a few
// turns and two tools.
var benchBody = []byte(`{"model":"gpt-4o-mini","messages":[` +
	`{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."},` +
	`{"role":"user","content":"` + strings.Repeat("What is the weather like in Paris today? ", 10) + `"},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_1","content":"{\"sky\":\"sunny\",\"temp_c\":21}"},` +
	`{"role":"user","content":[{"type":"text","text":"And tomorrow?"},{"type":"image_url","image_url":{"url":"https://example.com/map.png","detail":"low"}}]}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},` +
	`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],` +
	`"tool_choice":"auto","temperature":0.7,"max_tokens":512,"stream":true,"user":"u-123","metadata":{"trace":"abc"}}`)

func BenchmarkValid(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if !Valid(benchBody) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidStdlib(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if !json.Valid(benchBody) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkSetField(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := SetField(benchBody, "stream", []byte("false")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendCanonical(b *testing.B) {
	schema := []byte(`{"type":"object","properties":{"city":{"type":"string","description":"The city, e.g. \"Paris\"\n"},` +
		`"days":{"type":"integer","minimum":1,"maximum":1.6e1}},"required":["city"],"additionalProperties":false}`)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(schema)))
	for b.Loop() {
		buf = AppendCanonical(buf[:0], schema, "")
	}
}
