package gateway

import (
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

func TestAppendSSEData(t *testing.T) {
	for name, tc := range map[string]struct{ raw, want string }{
		"OneLine":   {`{"a":1}`, "data: {\"a\":1}\n\n"},
		"MultiLine": {"{\n\"a\":1\n}", "data: {\ndata: \"a\":1\ndata: }\n\n"},
		"Empty":     {"", "data: \n\n"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := string(appendSSEData(nil, []byte(tc.raw))); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOpenAIStreamWriter(t *testing.T) {
	usage := &provider.Usage{InputTokens: 3, OutputTokens: 5}
	usageOnly := &provider.StreamChunk{Raw: []byte(`{"choices":[],"usage":{}}`), RawFormat: provider.FormatOpenAI, Usage: usage}
	t.Run("PassthroughHidesInjectedUsage", func(t *testing.T) {
		w := &openAIStreamWriter{includeUsage: false}
		if got := w.chunk(nil, usageOnly); len(got) != 0 {
			t.Fatalf("usage chunk relayed to a client that did not ask: %q", got)
		}
		if got := string(w.end(nil, usage)); got != "data: [DONE]\n\n" {
			t.Fatalf("end = %q", got)
		}
	})
	t.Run("PassthroughRelaysAskedUsage", func(t *testing.T) {
		w := &openAIStreamWriter{includeUsage: true}
		if got := string(w.chunk(nil, usageOnly)); !strings.Contains(got, `"usage"`) {
			t.Fatalf("usage chunk not relayed: %q", got)
		}
		if got := string(w.end(nil, usage)); got != "data: [DONE]\n\n" {
			t.Fatalf("usage sent twice: %q", got)
		}
	})
	t.Run("TranslatedUsageAtEnd", func(t *testing.T) {
		w := &openAIStreamWriter{includeUsage: true}
		c := &provider.StreamChunk{ID: "x", Model: "m", Choices: []provider.ChunkChoice{{Content: "hi", FinishReason: provider.FinishStop}}, Usage: usage}
		got := string(w.chunk(nil, c))
		if strings.Contains(got, `"usage"`) || !strings.Contains(got, `"hi"`) {
			t.Fatalf("chunk = %q", got)
		}
		end := string(w.end(nil, usage))
		if !strings.Contains(end, `"prompt_tokens":3`) || !strings.HasSuffix(end, "data: [DONE]\n\n") {
			t.Fatalf("end = %q", end)
		}
	})
}
