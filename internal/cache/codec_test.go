package cache

import (
	"reflect"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

func codecEntries() []*Entry {
	return []*Entry{
		{
			Response: &provider.ChatResponse{
				ID: "x", Model: "m", Created: 9, SystemFingerprint: "fp",
				Usage: provider.Usage{InputTokens: 1, OutputTokens: 2, CachedInputTokens: 3, ReasoningTokens: 4, CacheWriteTokens: 5},
				Choices: []provider.Choice{
					{Index: 0, FinishReason: provider.FinishStop, StopSequence: "END", Message: provider.Message{
						Role: "assistant", TextOnly: true, Content: []provider.Part{{Type: "thinking", Text: "hm", Signature: "sig"}, {Type: "redacted_thinking", Data: "opaque"}, {Type: "text", Text: "hé"}, {Type: "image", ImageURL: "u", ImageDetail: "low"}},
					}},
					{Index: 1, FinishReason: provider.FinishToolCalls, Message: provider.Message{
						Role: "assistant", Name: "n", ToolCallID: "t", ToolCalls: []provider.ToolCall{{ID: "a", Name: "b", Arguments: "{}"}},
					}},
					{Index: 2, Message: provider.Message{Role: "assistant", Content: []provider.Part{}}},
				},
			},
			Model: "pub", Deployment: "d", Provider: "p", Cost: -5,
			StoredAt: time.Unix(5, 6), Expires: time.Unix(7, 8),
		},
		{Embedding: &provider.EmbeddingResponse{Model: "e", Data: [][]float32{{1, 2.5}, {}, {-3}}, Usage: provider.Usage{InputTokens: 3}}},
		{Model: "empty"},
	}
}

func TestCodec(t *testing.T) {
	for i, e := range codecEntries() {
		b := encodeEntry(nil, e)
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("entry %d:\ngot  %+v\nwant %+v", i, got, e)
		}
		for n := range len(b) {
			if _, err := decodeEntry(b[:n]); err == nil {
				t.Fatalf("entry %d truncated to %d of %d bytes decoded", i, n, len(b))
			}
		}
		if _, err := decodeEntry(append(b, 0)); err == nil {
			t.Fatalf("entry %d with a trailing byte decoded", i)
		}
	}
	if _, err := decodeEntry([]byte{codecVersion + 1}); err == nil {
		t.Fatal("another version decoded")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, e := range codecEntries() {
		f.Add(encodeEntry(nil, e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		// What decodes survives a round trip. (Compared as encodings: the
		// input's may differ, as a varint can carry redundant bytes, and
		// NaN vectors are not DeepEqual to themselves.)
		enc := encodeEntry(nil, e)
		again, err := decodeEntry(enc)
		if err != nil || string(encodeEntry(nil, again)) != string(enc) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", b, again, err, e)
		}
	})
}
