// Package mockupstream is an instant OpenAI-compatible upstream for
// benchmarks: every answer is precomputed at start, requests are read into
// pooled buffers and only scanned for the two members that change the
// answer (stream and stream_options.include_usage), so the mock costs a few
// microseconds per request and is never what a benchmark measures.
package mockupstream

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options shape the answers.
type Options struct {
	// Chunks is how many content chunks a streamed answer carries, between
	// the role chunk and the finish chunk (default 16).
	Chunks int
	// ChunkDelay is slept before each content chunk (default 0: the whole
	// stream is written at once).
	ChunkDelay time.Duration
	// Model is the model named in answers (default "mock-model").
	Model string
}

// Server answers POST /v1/chat/completions (streamed and not) and POST
// /v1/embeddings. It is safe for concurrent use.
type Server struct {
	opts Options

	completion []byte   // non-streamed answer
	contentLen []string // its Content-Length
	embedding  []byte
	embedLen   []string
	// streamHead is the role chunk; streamChunks the content chunks; tail
	// the finish chunk, usage chunk and [DONE]; tailNoUsage the same without
	// the usage chunk.
	streamHead   []byte
	streamChunks [][]byte
	tail         []byte
	tailNoUsage  []byte
	// streamAll and streamAllNoUsage are whole streams for ChunkDelay == 0.
	streamAll        []byte
	streamAllNoUsage []byte

	bufs sync.Pool

	chats, streams, embeds atomic.Int64
}

// Shared header values: net/http only reads them.
var (
	ctJSON = []string{"application/json"}
	ctSSE  = []string{"text/event-stream"}
	noCach = []string{"no-cache"}
)

// Usage of every answer: the prompt and completion token counts the mock
// reports, so callers can check what was metered.
const (
	PromptTokens     = 24
	CompletionTokens = 16
)

// New precomputes every answer.
func New(opts Options) *Server {
	if opts.Chunks <= 0 {
		opts.Chunks = 16
	}
	if opts.Model == "" {
		opts.Model = "mock-model"
	}
	s := &Server{opts: opts}
	s.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }
	const created = 1767225600
	id := "chatcmpl-mock0123456789"
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`,
		PromptTokens, CompletionTokens, PromptTokens+CompletionTokens)
	s.completion = fmt.Appendf(nil, `{"id":%q,"object":"chat.completion","created":%d,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is the benchmark mock answering instantly."},`+
		`"logprobs":null,"finish_reason":"stop"}],"usage":%s,"system_fingerprint":"fp_mock"}`,
		id, created, opts.Model, usage)
	s.contentLen = []string{strconv.Itoa(len(s.completion))}

	chunk := func(delta, finish string) []byte {
		return fmt.Appendf(nil, `data: {"id":%q,"object":"chat.completion.chunk","created":%d,"model":%q,`+
			`"system_fingerprint":"fp_mock","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}`+"\n\n",
			id, created, opts.Model, delta, finish)
	}
	s.streamHead = chunk(`{"role":"assistant","content":"","refusal":null}`, "null")
	for i := range opts.Chunks {
		s.streamChunks = append(s.streamChunks, chunk(fmt.Sprintf(`{"content":"tok%d "}`, i), "null"))
	}
	finish := chunk(`{}`, `"stop"`)
	usageChunk := fmt.Appendf(nil, `data: {"id":%q,"object":"chat.completion.chunk","created":%d,"model":%q,`+
		`"system_fingerprint":"fp_mock","choices":[],"usage":%s}`+"\n\n", id, created, opts.Model, usage)
	done := []byte("data: [DONE]\n\n")
	s.tailNoUsage = append(append([]byte{}, finish...), done...)
	s.tail = append(append(append([]byte{}, finish...), usageChunk...), done...)
	all := append([]byte{}, s.streamHead...)
	for _, c := range s.streamChunks {
		all = append(all, c...)
	}
	s.streamAll = append(append([]byte{}, all...), s.tail...)
	s.streamAllNoUsage = append(all, s.tailNoUsage...)

	s.embedding = fmt.Appendf(nil, `{"object":"list","data":[{"object":"embedding","index":0,`+
		`"embedding":[0.0123,-0.0456,0.0789,-0.0012,0.0345,-0.0678,0.0901,-0.0234]}],"model":%q,`+
		`"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, opts.Model, PromptTokens, PromptTokens)
	s.embedLen = []string{strconv.Itoa(len(s.embedding))}
	return s
}

// Counts returns how many chat, streamed chat and embedding requests were
// answered.
func (s *Server) Counts() (chats, streams, embeds int64) {
	return s.chats.Load(), s.streams.Load(), s.embeds.Load()
}

// ServeHTTP routes by path; anything but POST to the two endpoints is a 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	switch r.URL.Path {
	case "/v1/chat/completions", "/chat/completions":
		s.chat(w, r)
	case "/v1/embeddings", "/embeddings":
		s.embed(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.bufs.Put(buf)
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, 8<<20)); err != nil {
		http.Error(w, `{"error":{"message":"could not read body","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	h := w.Header()
	if !memberTrue(body, `"stream"`) {
		s.chats.Add(1)
		h["Content-Type"] = ctJSON
		h["Content-Length"] = s.contentLen
		_, _ = w.Write(s.completion)
		return
	}
	s.streams.Add(1)
	usage := memberTrue(body, `"include_usage"`)
	h["Content-Type"] = ctSSE
	h["Cache-Control"] = noCach
	if s.opts.ChunkDelay <= 0 {
		if usage {
			_, _ = w.Write(s.streamAll)
		} else {
			_, _ = w.Write(s.streamAllNoUsage)
		}
		return
	}
	rc := http.NewResponseController(w)
	_, _ = w.Write(s.streamHead)
	_ = rc.Flush()
	t := time.NewTimer(s.opts.ChunkDelay)
	defer t.Stop()
	for _, c := range s.streamChunks {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		t.Reset(s.opts.ChunkDelay)
		if _, err := w.Write(c); err != nil {
			return
		}
		_ = rc.Flush()
	}
	if usage {
		_, _ = w.Write(s.tail)
	} else {
		_, _ = w.Write(s.tailNoUsage)
	}
}

func (s *Server) embed(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 8<<20))
	s.embeds.Add(1)
	h := w.Header()
	h["Content-Type"] = ctJSON
	h["Content-Length"] = s.embedLen
	_, _ = w.Write(s.embedding)
}

// memberTrue reports whether key (quoted) appears in body followed by a
// colon and the literal true. It is a scan, not a parse: good enough for
// the mock, whose callers send well-formed bodies.
func memberTrue(body []byte, key string) bool {
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return false
		}
		body = body[i+len(key):]
		j := skipSpace(body, 0)
		if j < len(body) && body[j] == ':' {
			j = skipSpace(body, j+1)
			if bytes.HasPrefix(body[j:], []byte("true")) {
				return true
			}
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
