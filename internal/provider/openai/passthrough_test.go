package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/jsonscan"
)

func TestRewriteChatBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		stream bool
		want   string
	}{
		{
			name: "ModelOnly",
			in:   `{"model":"alias", "messages":[{"role":"user","content":"hi"}],"x":{"a":1}}`,
			want: `{"model":"gpt-4o", "messages":[{"role":"user","content":"hi"}],"x":{"a":1}}`,
		},
		{
			name: "ModelMissingAppended",
			in:   `{"messages":[]}`,
			want: `{"messages":[],"model":"gpt-4o"}`,
		},
		{
			name: "ChatTurnsStreamOff",
			in:   `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
			want: `{"model":"gpt-4o","stream":false,"stream_options":null}`,
		},
		{
			name:   "StreamAdded",
			in:     `{"model":"m" , "messages":[] }`,
			stream: true,
			want:   `{"model":"gpt-4o" , "messages":[] ,"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name:   "StreamKeptUsageAsked",
			in:     `{"stream":true,"model":"m","stream_options":{"include_usage":true}}`,
			stream: true,
			want:   `{"stream":true,"model":"gpt-4o","stream_options":{"include_usage":true}}`,
		},
		{
			name:   "UsageInjectedIntoOptions",
			in:     `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false}}`,
			stream: true,
			want:   `{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true}}`,
		},
		{
			name:   "UsageFalseTurnedOn",
			in:     `{"model":"m","stream":true,"stream_options":{"include_usage":false}}`,
			stream: true,
			want:   `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name:   "NullOptions",
			in:     `{"model":"m","stream":null,"stream_options":null}`,
			stream: true,
			want:   `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name: "EscapedTextUntouched",
			in:   `{"model":"m","messages":[{"role":"user","content":"say \"model\": {\"stream\":1}"}]}`,
			want: `{"model":"gpt-4o","messages":[{"role":"user","content":"say \"model\": {\"stream\":1}"}]}`,
		},
		{
			name: "DuplicateModelLastRewritten",
			in:   `{"model":"a","model":"b"}`,
			want: `{"model":"a","model":"gpt-4o"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			got, err := rewriteChatBody(in, "gpt-4o", tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if string(in) != tc.in {
				t.Errorf("input modified: %s", in)
			}
			if !json.Valid(got) {
				t.Errorf("output is not JSON")
			}
		})
	}
}

func TestRewriteChatBodyRejectsGarbage(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"model":}`, `{"model":"a"`, `{"model":"a"} x`} {
		if _, err := rewriteChatBody([]byte(in), "m", false); err == nil {
			t.Errorf("rewriteChatBody(%q) succeeded, want an error", in)
		}
	}
}

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

func BenchmarkPassthroughRewrite(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		if _, err := rewriteChatBody(benchBody, "gpt-4o-mini-2024-07-18", true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassthroughSetField is the naive alternative: jsonscan.SetField
// once per member.
func BenchmarkPassthroughSetField(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for b.Loop() {
		out, _ := jsonscan.SetField(benchBody, "model", jsonscan.AppendString(nil, "gpt-4o-mini-2024-07-18"))
		out, _ = jsonscan.SetField(out, "stream", []byte("true"))
		if _, err := jsonscan.SetField(out, "stream_options", []byte(`{"include_usage":true}`)); err != nil {
			b.Fatal(err)
		}
	}
}
