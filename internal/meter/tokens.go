package meter

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"

	"github.com/chorusgw/chorus/internal/provider"
)

// Token counting for reservations. Two bounds on a request's input tokens:
//
//   - the byte bound: the UTF-8 length of its text. Byte-level BPE
//     tokenizers (OpenAI's, Anthropic's) never make more tokens than bytes,
//     so this is a true upper bound, and it costs nothing to compute;
//   - the tokenizer count: OpenAI's o200k_base (cl100k_base for the GPT-4
//     and GPT-3.5 families), offline, times 1 + billing.input_margin for
//     providers whose tokenizers count more. Tight, but the BPE costs about
//     100 µs per kilobyte of prompt on this project's VM.
//
// The meter reserves on the byte bound and counts tokens only when that
// bound would be refused (see Meter.Reserve): a customer with credit to
// spare never pays the tokenizer's cost, and one near the end of their
// credit is refused only if the real count does not fit either.

// Per-message framing and fixed costs, in tokens (OpenAI's chat format
// spends 3–4 per message and 3 to prime the answer).
const (
	framePerMessage = 4
	framePrime      = 3
	// imageTokens bounds one image: a high-detail 2048×768 image is 1,105
	// tokens on OpenAI and Anthropic caps images near 1,600.
	imageTokens = 1600
)

// counter counts tokens with one BPE encoding, loaded on first use (the
// ranks take tens of milliseconds and tens of megabytes to load).
type counter struct {
	enc   tokenizer.Encoding
	once  sync.Once
	codec tokenizer.Codec
}

func (c *counter) count(s string) int64 {
	if s == "" {
		return 0
	}
	c.once.Do(func() {
		codec, err := tokenizer.Get(c.enc)
		if err == nil {
			c.codec = codec
		}
	})
	if c.codec == nil {
		return int64(len(s))
	}
	n, err := c.codec.Count(s)
	if err != nil {
		return int64(len(s))
	}
	return int64(n)
}

// tokenizers are the encodings the meter counts with.
type tokenizers struct {
	o200k, cl100k counter
}

func newTokenizers() *tokenizers {
	return &tokenizers{o200k: counter{enc: tokenizer.O200kBase}, cl100k: counter{enc: tokenizer.Cl100kBase}}
}

// forModel returns the counter for an upstream model: cl100k_base for the
// GPT-4 (not 4o or 4.1), GPT-3.5 and ada/text-embedding-3 families,
// o200k_base for everything else.
func (t *tokenizers) forModel(upstream string) *counter {
	m := strings.ToLower(upstream)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:] // "openai/gpt-4" on routers
	}
	switch {
	case strings.HasPrefix(m, "gpt-4o"), strings.HasPrefix(m, "gpt-4.1"), strings.HasPrefix(m, "chatgpt-4o"):
		return &t.o200k
	case strings.HasPrefix(m, "gpt-4"), strings.HasPrefix(m, "gpt-3.5"), strings.HasPrefix(m, "gpt-35"),
		strings.HasPrefix(m, "text-embedding-"):
		return &t.cl100k
	}
	return &t.o200k
}

// textCounter counts the tokens of one string: its byte length for the
// byte bound, the tokenizer's count otherwise.
type textCounter func(s string) int64

func byteCount(s string) int64 { return int64(len(s)) }

// chatInput returns a chat request's input tokens by count: every
// message's text, name and tool calls, the tools, the response format's
// schema, and the framing.
func chatInput(req *provider.ChatRequest, count textCounter) int64 {
	n := int64(framePrime)
	for i := range req.Messages {
		m := &req.Messages[i]
		n += framePerMessage + count(m.Name)
		for j := range m.Content {
			p := &m.Content[j]
			if p.Type == provider.PartImage {
				n += imageTokens
				continue
			}
			n += count(p.Text)
		}
		for _, tc := range m.ToolCalls {
			n += count(tc.Name) + count(tc.Arguments) + framePerMessage
		}
	}
	for _, t := range req.Tools {
		n += count(t.Name) + count(t.Description) + count(string(t.Parameters)) + framePerMessage
	}
	if rf := req.ResponseFormat; rf != nil {
		n += count(rf.Name) + count(string(rf.Schema))
	}
	return n
}

// embedInput returns an embedding request's input tokens by count.
func embedInput(req *provider.EmbeddingRequest, count textCounter) int64 {
	var n int64
	for _, s := range req.Input {
		n += count(s)
	}
	for _, ids := range req.InputTokens {
		n += int64(len(ids))
	}
	return n
}

// OutputTokens counts the tokens of text an upstream generated, for a
// stream that ended without reporting its usage (a client that went away,
// a provider that does not count): what was generated is billed.
func (m *Meter) OutputTokens(upstreamModel, text string) int {
	if m == nil {
		return (len(text) + 3) / 4
	}
	return int(m.tok.forModel(upstreamModel).count(text))
}

// InputTokens counts a chat request's input tokens with the tokenizer, for
// the same case as OutputTokens.
func (m *Meter) InputTokens(upstreamModel string, req *provider.ChatRequest) int {
	if m == nil {
		return provider.EstimateInputTokens(req)
	}
	return int(chatInput(req, m.tok.forModel(upstreamModel).count))
}
