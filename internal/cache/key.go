package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/chorusgw/chorus/internal/jsonscan"
	"github.com/chorusgw/chorus/internal/provider"
)

// Tags of the key encoding besides those of jsonscan.AppendCanonical, whose
// values are mixed with these: every value is a tag byte and its content.
const (
	tagAbsent = '-'
	tagFloat  = 'f' // 8 bytes, IEEE 754 bits
	tagInt    = 'i' // varint
)

// Key versions: bump one when its encoding changes, so answers stored by an
// older Chorus in a shared Redis are not matched against a new meaning.
const (
	chatKeyVersion      = "chorus/cache/chat/1\x00"
	embeddingKeyVersion = "chorus/cache/embedding/1\x00"
	scopeVersion        = "chorus/cache/scope/1\x00"
)

// Key returns the cache key of a chat request to the public model (or
// route) name model: SHA-256 over a canonical encoding of what changes the
// answer — the model name, the messages (roles, names, text and image parts,
// tool calls and tool call IDs), tools, tool_choice, parallel_tool_calls,
// response_format, temperature, top_p, top_k, n, stop, seed, max_tokens,
// the penalties, and the Extra members not in ignoredExtra.
//
// Not in the key: user, stream, stream_options, metadata, and other
// members that do not change the answer (ignoredExtra); whether content
// was a string or an array of parts; the format the client spoke. JSON
// inside the request (tool schemas, tool call arguments, Extra values) is
// compared as values: member order, whitespace and escapes do not matter.
// Defaults are normalised where every format agrees on them: n 1,
// penalties 0, parallel_tool_calls true, tool_choice auto,
// response_format text, image detail auto. So the same conversation sent
// in OpenAI's and Anthropic's format has one key.
//
// A request whose canonical form leaves something out (see
// CacheableRequest) also hashes its body as received, so it can never
// share a key with a request that differs in what was left out.
func Key(model string, req *provider.ChatRequest) [32]byte {
	bp := keyBufs.Get().(*[]byte)
	b := append((*bp)[:0], chatKeyVersion...)
	b = appendString(b, model)
	b = appendMessages(b, req.Messages)
	b = appendTools(b, req)
	b = appendParams(b, req)
	b = appendExtra(b, req.Extra, req.RawFormat)
	if lossy(req) {
		b = appendBytes(append(b, jsonscan.TagRaw), req.Raw)
	}
	sum := sha256.Sum256(b)
	putKeyBuf(bp, b)
	return sum
}

// EmbeddingKey returns the cache key of an embeddings request to model:
// the model name, the inputs (text or tokens), dimensions and the Extra
// members not in ignoredExtra. encoding_format and user are not in it: the
// stored vectors are canonical and encoded per request.
func EmbeddingKey(model string, req *provider.EmbeddingRequest) [32]byte {
	bp := keyBufs.Get().(*[]byte)
	b := append((*bp)[:0], embeddingKeyVersion...)
	b = appendString(b, model)
	b = appendUvarint(b, uint64(len(req.Input)))
	for _, s := range req.Input {
		b = appendString(b, s)
	}
	b = appendUvarint(b, uint64(len(req.InputTokens)))
	for _, toks := range req.InputTokens {
		b = appendUvarint(b, uint64(len(toks)))
		for _, t := range toks {
			b = binary.AppendVarint(b, int64(t))
		}
	}
	b = appendOptInt(b, req.Dimensions, 0)
	b = appendExtra(b, req.Extra, req.RawFormat)
	sum := sha256.Sum256(b)
	putKeyBuf(bp, b)
	return sum
}

// Scope returns key confined to a scope (a user or a key ID, say), for
// callers that must not share answers across tenants.
func Scope(key [32]byte, scope string) [32]byte {
	b := make([]byte, 0, len(scopeVersion)+len(key)+len(scope)+4)
	b = append(b, scopeVersion...)
	b = append(b, key[:]...)
	b = appendString(b, scope)
	return sha256.Sum256(b)
}

// keyBufs recycles the buffers keys are encoded into.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func putKeyBuf(bp *[]byte, b []byte) {
	if cap(b) <= 1<<20 {
		*bp = b
		keyBufs.Put(bp)
	}
}

func appendMessages(b []byte, msgs []provider.Message) []byte {
	b = appendUvarint(b, uint64(len(msgs)))
	for i := range msgs {
		m := &msgs[i]
		b = appendString(b, m.Role)
		b = appendString(b, m.Name)
		b = appendString(b, m.ToolCallID)
		b = appendUvarint(b, uint64(len(m.Content)))
		for j := range m.Content {
			p := &m.Content[j]
			b = appendString(b, p.Type)
			b = appendString(b, p.Text)
			b = appendString(b, p.ImageURL)
			detail := p.ImageDetail
			if detail == "auto" {
				detail = ""
			}
			b = appendString(b, detail)
		}
		b = appendUvarint(b, uint64(len(m.ToolCalls)))
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			b = appendString(b, tc.ID)
			b = appendString(b, tc.Name)
			b = appendArguments(b, tc.Arguments)
		}
	}
	return b
}

// appendArguments appends tool call arguments as a JSON value: OpenAI sends
// them as text, Anthropic as an object, and an empty text means no
// arguments in both.
func appendArguments(b []byte, args string) []byte {
	if args == "" {
		args = "{}"
	}
	// Read-only view of the string: AppendCanonical does not keep or
	// modify its input.
	return jsonscan.AppendCanonical(b, unsafe.Slice(unsafe.StringData(args), len(args)), "") // #nosec G103 -- read-only zero-copy view of an immutable string; AppendCanonical neither keeps nor modifies it
}

func appendTools(b []byte, req *provider.ChatRequest) []byte {
	b = appendUvarint(b, uint64(len(req.Tools)))
	for i := range req.Tools {
		t := &req.Tools[i]
		b = appendString(b, t.Name)
		b = appendString(b, t.Description)
		if len(t.Parameters) == 0 {
			b = append(b, tagAbsent)
		} else {
			b = jsonscan.AppendCanonical(b, t.Parameters, "")
		}
		b = appendOptBool(b, t.Strict, nil)
	}
	tc := req.ToolChoice
	if tc == nil || tc.Mode == "auto" {
		b = append(b, tagAbsent)
	} else {
		b = appendString(b, tc.Mode)
		b = appendString(b, tc.Name)
	}
	yes := true
	return appendOptBool(b, req.ParallelToolCalls, &yes)
}

func appendParams(b []byte, req *provider.ChatRequest) []byte {
	if rf := req.ResponseFormat; rf == nil || rf.Type == "" || rf.Type == "text" {
		b = append(b, tagAbsent)
	} else {
		b = appendString(b, rf.Type)
		b = appendString(b, rf.Name)
		if len(rf.Schema) == 0 {
			b = append(b, tagAbsent)
		} else {
			b = jsonscan.AppendCanonical(b, rf.Schema, "")
		}
		b = appendOptBool(b, rf.Strict, nil)
	}
	b = appendOptFloat(b, req.Temperature, math.NaN())
	b = appendOptFloat(b, req.TopP, math.NaN())
	b = appendOptInt(b, req.TopK, 0)
	b = appendOptInt(b, req.N, 1)
	b = appendUvarint(b, uint64(len(req.Stop)))
	for _, s := range req.Stop {
		b = appendString(b, s)
	}
	if req.Seed == nil {
		b = append(b, tagAbsent)
	} else {
		b = binary.AppendVarint(append(b, tagInt), *req.Seed)
	}
	b = appendOptInt(b, req.MaxTokens, 0)
	b = appendOptFloat(b, req.PresencePenalty, 0)
	return appendOptFloat(b, req.FrequencyPenalty, 0)
}

// ignoredExtra are top-level members that do not change the answer:
// end-user and tracking labels, storage and billing options.
var ignoredExtra = map[string]bool{
	"user": true, "metadata": true, "store": true, "service_tier": true,
	"safety_identifier": true, "prompt_cache_key": true, "prompt_cache_retention": true,
	"stream": true, "stream_options": true,
}

// appendExtra appends the Extra members that change the answer, in key
// order, as JSON values.
func appendExtra(b []byte, extra map[string]json.RawMessage, format provider.Format) []byte {
	var keysArr [16]string
	keys := keysArr[:0]
	for k := range extra {
		if !ignoredExtra[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	start := len(b)
	n := 0
	b = append(b, 0, 0, 0, 0) // count, filled in below
	for _, k := range keys {
		// Anthropic's output_config.format is the canonical ResponseFormat,
		// already in the key; its other settings (effort) are not.
		skip := ""
		if k == "output_config" && format == provider.FormatAnthropic {
			skip = "format"
		}
		mark := len(b)
		b = appendString(b, k)
		valAt := len(b)
		b = jsonscan.AppendCanonical(b, extra[k], skip)
		if skip != "" && bytes.Equal(b[valAt:], []byte{jsonscan.TagObject, 0}) {
			b = b[:mark] // only the format: nothing left to tell apart
			continue
		}
		n++
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(n))
	return b
}

func appendOptFloat(b []byte, f *float64, def float64) []byte {
	if f == nil || *f == def {
		return append(b, tagAbsent)
	}
	v := *f
	if v == 0 {
		v = 0 // -0
	}
	return binary.LittleEndian.AppendUint64(append(b, tagFloat), math.Float64bits(v))
}

func appendOptInt(b []byte, n *int, def int) []byte {
	if n == nil || (def != 0 && *n == def) {
		return append(b, tagAbsent)
	}
	return binary.AppendVarint(append(b, tagInt), int64(*n))
}

func appendOptBool(b []byte, v, def *bool) []byte {
	switch {
	case v == nil || (def != nil && *v == *def):
		return append(b, tagAbsent)
	case *v:
		return append(b, jsonscan.TagTrue)
	}
	return append(b, jsonscan.TagFalse)
}

func appendUvarint(dst []byte, u uint64) []byte { return binary.AppendUvarint(dst, u) }

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func appendBytes(dst []byte, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}
