package openai

import (
	"encoding/base64"
	"encoding/binary"
	"math"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// AppendChatResponse appends the OpenAI chat.completion JSON of r to dst.
// Callers set r.ID (OpenAI's are "chatcmpl-…"), r.Created and r.Model to what
// the client should see.
func AppendChatResponse(dst []byte, r *provider.ChatResponse) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendString(dst, r.ID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = appendInt(dst, r.Created)
	dst = append(dst, `,"model":`...)
	dst = jsonscan.AppendString(dst, r.Model)
	dst = append(dst, `,"choices":[`...)
	for i := range r.Choices {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendChoice(dst, &r.Choices[i])
	}
	dst = append(dst, `],"usage":`...)
	dst = appendUsage(dst, r.Usage)
	if r.SystemFingerprint != "" {
		dst = append(dst, `,"system_fingerprint":`...)
		dst = jsonscan.AppendString(dst, r.SystemFingerprint)
	}
	return append(dst, '}')
}

func appendChoice(dst []byte, ch *provider.Choice) []byte {
	m := &ch.Message
	dst = append(dst, `{"index":`...)
	dst = appendInt(dst, int64(ch.Index))
	dst = append(dst, `,"message":{"role":`...)
	role := m.Role
	if role == "" {
		role = provider.RoleAssistant
	}
	dst = jsonscan.AppendString(dst, role)
	dst = append(dst, `,"content":`...)
	// An assistant message that only calls tools has null content, as
	// OpenAI writes it; reasoning is not content.
	if text := m.Text(); text != "" || len(m.ToolCalls) == 0 {
		dst = jsonscan.AppendString(dst, text)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"refusal":null`...)
	if r := m.Reasoning(); r != "" {
		// reasoning_content is where OpenAI-compatible reasoning servers
		// (DeepSeek, vLLM) put the model's visible reasoning.
		dst = append(dst, `,"reasoning_content":`...)
		dst = jsonscan.AppendString(dst, r)
	}
	if len(m.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i, tc := range m.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendToolCall(dst, tc.ID, tc.Name, tc.Arguments)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	dst = appendFinish(dst, ch.FinishReason)
	return append(dst, '}')
}

func appendFinish(dst []byte, fr provider.FinishReason) []byte {
	return appendOptString(dst, string(fr))
}

// appendUsage writes OpenAI's usage object, details included.
func appendUsage(dst []byte, u provider.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, int64(u.InputTokens))
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, int64(u.OutputTokens))
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, int64(u.Total()))
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, int64(u.CachedInputTokens))
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = appendInt(dst, int64(u.ReasoningTokens))
	return append(dst, "}}"...)
}

// AppendChunk appends one chat.completion.chunk JSON object for c to dst,
// without SSE framing. The usage member is written only on the chunk that
// carries usage (OpenAI's last chunk, with no choices).
func AppendChunk(dst []byte, c *provider.StreamChunk) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendString(dst, c.ID)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = appendInt(dst, c.Created)
	dst = append(dst, `,"model":`...)
	dst = jsonscan.AppendString(dst, c.Model)
	dst = append(dst, `,"choices":[`...)
	for i := range c.Choices {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendChunkChoice(dst, &c.Choices[i])
	}
	dst = append(dst, ']')
	if c.Usage != nil {
		dst = append(dst, `,"usage":`...)
		dst = appendUsage(dst, *c.Usage)
	}
	return append(dst, '}')
}

func appendChunkChoice(dst []byte, ch *provider.ChunkChoice) []byte {
	dst = append(dst, `{"index":`...)
	dst = appendInt(dst, int64(ch.Index))
	dst = append(dst, `,"delta":{`...)
	first := true
	if ch.Role != "" {
		dst = appendKey(dst, "role", first)
		dst = jsonscan.AppendString(dst, ch.Role)
		first = false
	}
	switch {
	case ch.Content != "" || (ch.Role != "" && len(ch.ToolCalls) == 0):
		dst = appendKey(dst, "content", first)
		dst = jsonscan.AppendString(dst, ch.Content)
		first = false
	case ch.Role != "":
		// The first delta of a message that only calls tools: OpenAI sends
		// "content":null beside the role and the calls.
		dst = appendKey(dst, "content", first)
		dst = append(dst, "null"...)
		first = false
	}
	if ch.Reasoning != "" {
		dst = appendKey(dst, "reasoning_content", first)
		dst = jsonscan.AppendString(dst, ch.Reasoning)
		first = false
	}
	if len(ch.ToolCalls) > 0 {
		dst = appendKey(dst, "tool_calls", first)
		dst = append(dst, '[')
		for i, d := range ch.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendToolCallDelta(dst, &d)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	dst = appendFinish(dst, ch.FinishReason)
	return append(dst, '}')
}

// appendToolCallDelta writes a streamed tool call piece: the first one of a
// call has its ID, type and name; later ones only add arguments.
func appendToolCallDelta(dst []byte, d *provider.ToolCallDelta) []byte {
	dst = append(dst, `{"index":`...)
	dst = appendInt(dst, int64(d.Index))
	if d.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = jsonscan.AppendString(dst, d.ID)
		dst = append(dst, `,"type":"function"`...)
	}
	dst = append(dst, `,"function":{`...)
	if d.Name != "" {
		dst = append(dst, `"name":`...)
		dst = jsonscan.AppendString(dst, d.Name)
		dst = append(dst, ',')
	}
	dst = append(dst, `"arguments":`...)
	dst = jsonscan.AppendString(dst, d.Arguments)
	return append(dst, "}}"...)
}

// AppendEmbeddingResponse appends the OpenAI embeddings list JSON of r to
// dst, with vectors as float arrays or, when encodingFormat is "base64", as
// base64 strings of little-endian float32s.
func AppendEmbeddingResponse(dst []byte, r *provider.EmbeddingResponse, encodingFormat string) []byte {
	dst = append(dst, `{"object":"list","data":[`...)
	var buf []byte
	for i, vec := range r.Data {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = appendInt(dst, int64(i))
		dst = append(dst, `,"embedding":`...)
		if encodingFormat == "base64" {
			buf = buf[:0]
			for _, f := range vec {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(f))
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, buf)
			dst = append(dst, '"')
		} else {
			dst = append(dst, '[')
			for j, f := range vec {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = jsonscan.AppendFloat(dst, float64(f), 32)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"model":`...)
	dst = jsonscan.AppendString(dst, r.Model)
	dst = append(dst, `,"usage":{"prompt_tokens":`...)
	dst = appendInt(dst, int64(r.Usage.InputTokens))
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, int64(r.Usage.InputTokens))
	return append(dst, "}}"...)
}
