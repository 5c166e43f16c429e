package gateway

import (
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

func TestClampRaw(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format provider.Format
		body   string
		want   string
	}{
		{"OpenAIMaxTokens", provider.FormatOpenAI, `{"model":"m","max_tokens":32000,"n":1}`, `{"model":"m","max_tokens":8192,"n":1}`},
		{"OpenAIMaxCompletionTokens", provider.FormatOpenAI, `{"max_completion_tokens":32000}`, `{"max_completion_tokens":8192}`},
		{"OpenAINeither", provider.FormatOpenAI, `{"model":"m"}`, `{"model":"m"}`},
		{"Anthropic", provider.FormatAnthropic, `{"max_tokens": 32000, "model":"m"}`, `{"max_tokens": 8192, "model":"m"}`},
		// A repeated member, which a last-wins decoder reads last, is
		// left once: its last copy, rewritten.
		{"AnthropicRepeated", provider.FormatAnthropic, `{"max_tokens":1,"model":"m","max_tokens":32000}`, `{"model":"m","max_tokens":8192}`},
		{"Responses", provider.FormatOpenAIResponses, `{"max_output_tokens":32000,"max_tokens":5}`, `{"max_output_tokens":8192,"max_tokens":5}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clampRaw([]byte(tt.body), maxTokensFields[tt.format], 8192)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("clampRaw(%s) = %s, want %s", tt.body, got, tt.want)
			}
		})
	}
}
