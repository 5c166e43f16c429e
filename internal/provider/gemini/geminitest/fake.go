// Package geminitest is a local fake of the Gemini API (v1beta) for tests.
// It speaks the documented wire format: the model and method in the URL
// (models/{model}:generateContent, :streamGenerateContent, :batchEmbedContents),
// the x-goog-api-key header, server-sent events with alt=sse (a JSON array
// without it), google.rpc.Status error bodies with RetryInfo details, and
// error events mid-stream. It implements conformance.Fake.
package geminitest

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chorusgw/chorus/internal/provider/conformance"
)

// basePath is the API version prefix the fake serves, as the real API does.
const basePath = "/v1beta/"

// maxBody bounds a request body the fake reads.
const maxBody = 32 << 20

// Options script Gemini-specific behaviour that conformance.Scenario has no
// words for.
type Options struct {
	// CRLF frames events with "\r\n" line ends ("\r\n\r\n" between
	// events) instead of "\n".
	CRLF bool
	// RetryDelay adds a google.rpc.RetryInfo detail with this retryDelay
	// (e.g. "2s") to an error body.
	RetryDelay string
	// BlockReason answers with promptFeedback.blockReason and no candidates.
	BlockReason string
	// FinishReason, when set, is sent verbatim instead of the one mapped
	// from Scenario.FinishReason (e.g. "RECITATION").
	FinishReason string
	// ThoughtSignature is attached to the first functionCall part.
	ThoughtSignature string
	// Thought, when set, is sent as a thought-summary part before the text.
	Thought string
	// Body, when set, is the whole 200 answer to a non-streamed call, or
	// the data of the only event of a streamed one, sent as is.
	Body string
}

// Server is the fake. Create it with New.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	scenario conformance.Scenario
	opts     Options
	last     conformance.Captured
	requests int
}

var _ conformance.Fake = (*Server)(nil)

// New starts a fake that shuts down when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL to configure the adapter with, version included
// ("http://127.0.0.1:port/v1beta").
func (s *Server) URL() string { return s.srv.URL + strings.TrimSuffix(basePath, "/") }

// Script answers every following request as sc says.
func (s *Server) Script(sc conformance.Scenario) { s.ScriptGemini(sc, Options{}) }

// ScriptGemini answers every following request as sc and opts say.
func (s *Server) ScriptGemini(sc conformance.Scenario, opts Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scenario, s.opts = sc, opts
}

// Last returns what the last request carried.
func (s *Server) Last() conformance.Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.last
	c.Header = c.Header.Clone()
	return c
}

// Requests returns how many requests the fake has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Gemini method names, as they follow the colon in the URL.
const (
	methodGenerate   = "generateContent"
	methodStream     = "streamGenerateContent"
	methodBatchEmbed = "batchEmbedContents"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "unreadable body")
		return
	}
	model, method, pathOK := splitPath(r.URL.Path)
	c := capture(r, body, model, method)

	s.mu.Lock()
	s.requests++
	s.last = c
	sc, opts := s.scenario, s.opts
	s.mu.Unlock()

	switch {
	case !pathOK:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	case r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "method "+r.Method+" not allowed")
		return
	case r.Header.Get("x-goog-api-key") == "" && r.URL.Query().Get("key") == "":
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	}
	if !wait(r, sc.Delay) {
		return
	}
	if sc.Status != 0 {
		writeScenarioError(w, sc, opts)
		return
	}
	switch method {
	case methodGenerate, methodStream:
		var req generateRequest
		if msg := decodeGenerate(body, &req); msg != "" {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg)
			return
		}
		a := newAnswer(sc, opts, model, candidateCount(&req))
		switch {
		case method == methodGenerate:
			a.writeJSON(w)
		case r.URL.Query().Get("alt") == "sse":
			a.writeSSE(w, r)
		default:
			a.writeArray(w)
		}
	case methodBatchEmbed:
		var req batchEmbedRequest
		if msg := decodeBatchEmbed(body, model, &req); msg != "" {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", msg)
			return
		}
		writeEmbeddings(w, sc, &req)
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "unknown method "+method)
	}
}

// splitPath parses /v1beta/models/{model}:{method}.
func splitPath(p string) (model, method string, ok bool) {
	rest, ok := strings.CutPrefix(p, basePath+"models/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// capture decodes what a request carried, as far as it can be decoded;
// validation happens later, so that even a rejected request is recorded.
func capture(r *http.Request, body []byte, model, method string) conformance.Captured {
	c := conformance.Captured{
		Method: r.Method,
		Path:   r.URL.Path,
		Header: r.Header.Clone(),
		Body:   body,
		Model:  model,
		Stream: method == methodStream,
	}
	if r.URL.RawQuery != "" {
		c.Path += "?" + r.URL.RawQuery
	}
	switch method {
	case methodBatchEmbed:
		var req batchEmbedRequest
		if json.Unmarshal(body, &req) == nil {
			for _, e := range req.Requests {
				c.Inputs = append(c.Inputs, partsText(e.Content.Parts))
			}
		}
	case methodGenerate, methodStream:
		var req generateRequest
		if json.Unmarshal(body, &req) == nil {
			captureGenerate(&c, &req)
		}
	}
	return c
}

func captureGenerate(c *conformance.Captured, req *generateRequest) {
	if gc := req.GenerationConfig; gc != nil {
		if gc.MaxOutputTokens != nil {
			c.MaxTokens = *gc.MaxOutputTokens
		}
		c.Temperature = gc.Temperature
		c.Stop = gc.StopSequences
	}
	if si := req.SystemInstruction; si != nil {
		texts := make([]string, 0, len(si.Parts))
		for _, p := range si.Parts {
			if p.Text != nil {
				texts = append(texts, *p.Text)
			}
		}
		c.System = strings.Join(texts, "\n")
	}
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			c.ToolNames = append(c.ToolNames, d.Name)
		}
	}
	for _, turn := range req.Contents {
		c.Messages = append(c.Messages, captureTurn(turn)...)
	}
}

// captureTurn maps one turn to captured messages: a model turn to one
// assistant message; a user turn to a tool message per functionResponse
// and one user message for its other parts. Gemini has no call IDs, so a
// call's id is used when the adapter sent one, else its function name.
func captureTurn(turn content) []conformance.CapturedMessage {
	if turn.Role == "model" {
		m := conformance.CapturedMessage{Role: "assistant", Text: partsText(turn.Parts), Images: images(turn.Parts)}
		for _, p := range turn.Parts {
			if fc := p.FunctionCall; fc != nil {
				m.ToolCallIDs = append(m.ToolCallIDs, cmp.Or(fc.ID, fc.Name))
			}
		}
		return []conformance.CapturedMessage{m}
	}
	var out []conformance.CapturedMessage
	var rest []part
	for _, p := range turn.Parts {
		fr := p.FunctionResponse
		if fr == nil {
			rest = append(rest, p)
			continue
		}
		out = append(out, conformance.CapturedMessage{
			Role:       "tool",
			Text:       responseText(fr.Response),
			ToolResult: cmp.Or(fr.ID, fr.Name),
		})
	}
	if len(rest) > 0 {
		out = append(out, conformance.CapturedMessage{Role: "user", Text: partsText(rest), Images: images(rest)})
	}
	return out
}

// responseText renders a functionResponse's response: its "content" member
// (how the Chorus adapter wraps tool output) as text, else the whole object.
func responseText(raw json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if v, ok := obj["content"]; ok && len(obj) == 1 {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
			return string(v)
		}
	}
	return string(raw)
}

// partsText joins the answer text of parts; thought summaries are not text.
func partsText(ps []part) string {
	var b strings.Builder
	for _, p := range ps {
		if p.Text != nil && !p.Thought {
			b.WriteString(*p.Text)
		}
	}
	return b.String()
}

func images(ps []part) int {
	n := 0
	for _, p := range ps {
		if p.InlineData != nil || p.FileData != nil {
			n++
		}
	}
	return n
}
