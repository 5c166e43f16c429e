package cache

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// codecVersion is the first byte of an encoded entry. An entry of another
// version is a miss (and is overwritten on the next Set).
const codecVersion = 2

// Kinds of answer an encoded entry holds.
const (
	kindNone      = 0
	kindChat      = 1
	kindEmbedding = 2
)

// errCorrupt is what decodeEntry says of bytes it cannot read.
var errCorrupt = errors.New("cache: corrupt or foreign entry")

// encodeEntry appends the compact binary form of e to dst: varints for
// numbers, length-prefixed strings, little-endian float32 vectors.
func encodeEntry(dst []byte, e *Entry) []byte {
	w := writer{b: dst}
	w.b = append(w.b, codecVersion)
	w.time(e.StoredAt)
	w.time(e.Expires)
	w.str(e.Model)
	w.str(e.Deployment)
	w.str(e.Provider)
	w.int(e.Cost)
	switch {
	case e.Response != nil:
		w.b = append(w.b, kindChat)
		w.chat(e.Response)
	case e.Embedding != nil:
		w.b = append(w.b, kindEmbedding)
		w.embedding(e.Embedding)
	default:
		w.b = append(w.b, kindNone)
	}
	return w.b
}

// decodeEntry reads an entry written by encodeEntry. It checks every
// length against what is left, so corrupt input is an error, never a panic
// or a huge allocation.
func decodeEntry(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errCorrupt
	}
	r := reader{b: b[1:]}
	e := &Entry{}
	e.StoredAt = r.time()
	e.Expires = r.time()
	e.Model = r.str()
	e.Deployment = r.str()
	e.Provider = r.str()
	e.Cost = r.int()
	switch r.byte() {
	case kindChat:
		e.Response = r.chat()
	case kindEmbedding:
		e.Embedding = r.embedding()
	case kindNone:
	default:
		r.bad = true
	}
	if r.bad || len(r.b) != 0 {
		return nil, errCorrupt
	}
	return e, nil
}

type writer struct{ b []byte }

func (w *writer) uint(u uint64) { w.b = binary.AppendUvarint(w.b, u) }
func (w *writer) int(i int64)   { w.b = binary.AppendVarint(w.b, i) }
func (w *writer) str(s string)  { w.b = appendString(w.b, s) }

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *writer) time(t time.Time) {
	if t.IsZero() {
		w.int(0)
		return
	}
	w.int(t.UnixNano())
}

func (w *writer) usage(u provider.Usage) {
	w.int(int64(u.InputTokens))
	w.int(int64(u.OutputTokens))
	w.int(int64(u.CachedInputTokens))
	w.int(int64(u.ReasoningTokens))
	w.int(int64(u.CacheWriteTokens))
}

func (w *writer) chat(r *provider.ChatResponse) {
	w.str(r.ID)
	w.str(r.Model)
	w.int(r.Created)
	w.str(r.SystemFingerprint)
	w.usage(r.Usage)
	w.uint(uint64(len(r.Choices)))
	for i := range r.Choices {
		c := &r.Choices[i]
		w.int(int64(c.Index))
		w.str(string(c.FinishReason))
		w.str(c.StopSequence)
		w.message(&c.Message)
	}
}

func (w *writer) message(m *provider.Message) {
	w.str(m.Role)
	w.str(m.Name)
	w.str(m.ToolCallID)
	w.bool(m.TextOnly)
	// Content is written as len+1 so that nil (an assistant turn that only
	// calls tools) and empty stay apart.
	if m.Content == nil {
		w.uint(0)
	} else {
		w.uint(uint64(len(m.Content)) + 1)
	}
	for i := range m.Content {
		p := &m.Content[i]
		w.str(p.Type)
		w.str(p.Text)
		w.str(p.ImageURL)
		w.str(p.ImageDetail)
		w.str(p.Signature)
		w.str(p.Data)
	}
	w.uint(uint64(len(m.ToolCalls)))
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		w.str(tc.ID)
		w.str(tc.Name)
		w.str(tc.Arguments)
	}
}

func (w *writer) embedding(r *provider.EmbeddingResponse) {
	w.str(r.Model)
	w.usage(r.Usage)
	w.uint(uint64(len(r.Data)))
	for _, v := range r.Data {
		w.uint(uint64(len(v)))
		for _, f := range v {
			w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(f))
		}
	}
}

// reader reads what writer wrote. After the first error every read returns
// a zero value and bad stays set.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint() uint64 {
	u, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return u
}

func (r *reader) int() int64 {
	i, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return i
}

// count reads a count of items each taking at least minSize bytes, and
// rejects one that the rest of the input cannot hold.
func (r *reader) count(minSize int) int {
	u := r.uint()
	if r.bad || u > uint64(len(r.b)/minSize) { // #nosec G115 -- len is non-negative, so the conversion is exact
		r.bad = true
		return 0
	}
	return int(u) // #nosec G115 -- u <= len(r.b)/minSize, checked just above, fits in an int
}

func (r *reader) str() string {
	n := r.count(1)
	if r.bad {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) bool() bool { return r.byte() == 1 }

func (r *reader) time() time.Time {
	ns := r.int()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (r *reader) usage() provider.Usage {
	return provider.Usage{
		InputTokens: int(r.int()), OutputTokens: int(r.int()),
		CachedInputTokens: int(r.int()), ReasoningTokens: int(r.int()), CacheWriteTokens: int(r.int()),
	}
}

func (r *reader) chat() *provider.ChatResponse {
	resp := &provider.ChatResponse{ID: r.str(), Model: r.str(), Created: r.int(), SystemFingerprint: r.str()}
	resp.Usage = r.usage()
	n := r.count(4)
	if n > 0 {
		resp.Choices = make([]provider.Choice, n)
	}
	for i := 0; i < n && !r.bad; i++ {
		c := &resp.Choices[i]
		c.Index = int(r.int())
		c.FinishReason = provider.FinishReason(r.str())
		c.StopSequence = r.str()
		r.message(&c.Message)
	}
	return resp
}

func (r *reader) message(m *provider.Message) {
	m.Role, m.Name, m.ToolCallID = r.str(), r.str(), r.str()
	m.TextOnly = r.bool()
	if n := r.count(1); n > 0 {
		n-- // written as len+1
		m.Content = make([]provider.Part, n)
		for i := 0; i < n && !r.bad; i++ {
			m.Content[i] = provider.Part{Type: r.str(), Text: r.str(), ImageURL: r.str(), ImageDetail: r.str(), Signature: r.str(), Data: r.str()}
		}
	}
	if n := r.count(3); n > 0 {
		m.ToolCalls = make([]provider.ToolCall, n)
		for i := 0; i < n && !r.bad; i++ {
			m.ToolCalls[i] = provider.ToolCall{ID: r.str(), Name: r.str(), Arguments: r.str()}
		}
	}
}

func (r *reader) embedding() *provider.EmbeddingResponse {
	resp := &provider.EmbeddingResponse{Model: r.str()}
	resp.Usage = r.usage()
	n := r.count(1)
	if n > 0 {
		resp.Data = make([][]float32, n)
	}
	for i := 0; i < n && !r.bad; i++ {
		dim := r.count(4)
		if r.bad {
			break
		}
		v := make([]float32, dim)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(r.b[4*j:]))
		}
		r.b = r.b[4*dim:]
		resp.Data[i] = v
	}
	return resp
}
