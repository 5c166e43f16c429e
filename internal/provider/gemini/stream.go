package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"

	"github.com/chorusgw/chorus/internal/provider"
)

// maxCandidates bounds the candidate index a stream accepts.
const maxCandidates = 64

// errClosed is what Next returns after Close.
var errClosed = errors.New("gemini: stream closed")

// ChatStream sends req to models/{model}:streamGenerateContent?alt=sse.
// Each server-sent event carries a whole GenerateContentResponse holding
// the next piece of every candidate; usageMetadata is cumulative, so only
// the last one counts.
func (c *Client) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	body, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, c.endpoint(req.Model, "streamGenerateContent")+"?alt=sse", body, true)
	if err != nil {
		return nil, err
	}
	if err := checkEventStream(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return &stream{
		ctx:     ctx,
		body:    resp.Body,
		sse:     provider.NewSSEReader(resp.Body),
		model:   req.Model,
		created: c.now().Unix(),
	}, nil
}

// checkEventStream rejects a 2xx answer that is plainly not an event
// stream: without alt=sse Gemini answers with one JSON array, which the SSE
// reader would take for an empty stream.
func checkEventStream(resp *http.Response) error {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt != "text/event-stream" {
		return invalidResponse(fmt.Errorf("stream answered with content type %q", mt))
	}
	return nil
}

// stream is a provider.Stream over one streamGenerateContent answer. It
// holds the request's context, as http.Request does, to tell a cancelled
// call from a broken connection.
type stream struct {
	ctx     context.Context
	body    io.ReadCloser
	sse     *provider.SSEReader
	model   string
	created int64
	id      string

	choices   []choiceState  // by candidate index
	usage     *usageMetadata // the last usageMetadata seen
	usageSent bool
	finished  bool // some candidate (or the prompt feedback) ended the answer
	err       error
}

// choiceState is what the stream remembers about one candidate.
type choiceState struct {
	started  bool // the role has been sent
	calls    int  // tool calls sent so far; the next call's delta index
	finished bool
}

// Next returns the next chunk: one per upstream event, then, if no event
// carried the final usage, one more chunk with it.
func (s *stream) Next() (*provider.StreamChunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		_, data, err := s.sse.Next()
		if err == io.EOF {
			return s.end()
		}
		if err != nil {
			s.err = s.readError(err)
			return nil, s.err
		}
		if len(data) == 0 {
			continue
		}
		chunk, err := s.chunk(data)
		if err != nil {
			s.err = err
			return nil, err
		}
		return chunk, nil
	}
}

// Close aborts the upstream call if it is still running.
func (s *stream) Close() error {
	if s.err == nil {
		s.err = errClosed
	}
	return s.body.Close()
}

// end is reached at the end of the body. A Gemini stream always ends with
// a finishReason; a body that ends before one was cut short.
func (s *stream) end() (*provider.StreamChunk, error) {
	s.err = io.EOF
	if !s.finished {
		s.err = s.readError(fmt.Errorf("stream ended before a finish reason: %w", io.ErrUnexpectedEOF))
		return nil, s.err
	}
	if s.usage == nil || s.usageSent {
		return nil, io.EOF
	}
	s.usageSent = true
	u := usageFrom(s.usage)
	// The chunk still carries a Gemini event, as every chunk does: one
	// holding nothing but the usage.
	raw, _ := json.Marshal(generateResponse{UsageMetadata: s.usage})
	return &provider.StreamChunk{
		ID: s.id, Model: s.model, Created: s.created, Usage: &u,
		Raw: raw, RawFormat: provider.FormatGemini,
	}, nil
}

// readError wraps a failure to read the body. When the call's context is
// done, the error says so, whatever the transport made of it.
func (s *stream) readError(err error) error {
	if cerr := s.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return provider.TransportError(kind, s.ctx, err)
}

// chunk maps one event's data to a chunk.
func (s *stream) chunk(data []byte) (*provider.StreamChunk, error) {
	var g generateResponse
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, invalidResponse(err)
	}
	if g.Error != nil {
		return nil, statusError(g.Error)
	}
	if s.id == "" {
		s.id = responseID(g.ResponseID)
	}
	if g.ModelVersion != "" {
		s.model = g.ModelVersion
	}
	out := &provider.StreamChunk{
		ID: s.id, Model: s.model, Created: s.created,
		Choices:   make([]provider.ChunkChoice, 0, len(g.Candidates)),
		Raw:       slices.Clone(data),
		RawFormat: provider.FormatGemini,
	}
	for i := range g.Candidates {
		// Candidate indexes are below candidateCount, itself a small
		// number; a larger one must not make the stream allocate.
		if idx := g.Candidates[i].Index; idx < 0 || idx >= maxCandidates {
			return nil, invalidResponse(fmt.Errorf("candidate index %d out of range", idx))
		}
		out.Choices = append(out.Choices, s.delta(&g.Candidates[i]))
	}
	if len(g.Candidates) == 0 && g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" && !s.finished {
		st := s.state(0)
		st.started, st.finished, s.finished = true, true, true
		out.Choices = append(out.Choices, provider.ChunkChoice{
			Role: provider.RoleAssistant, FinishReason: provider.FinishContentFilter,
		})
	}
	if g.UsageMetadata != nil {
		s.usage = g.UsageMetadata
		// Usage is reported once: on the event that ends the last
		// candidate, which in Gemini's streams carries the final counts.
		if s.allFinished() && !s.usageSent {
			u := usageFrom(s.usage)
			out.Usage, s.usageSent = &u, true
		}
	}
	return out, nil
}

// delta maps one candidate of an event. Gemini sends each function call
// whole, so a call is one delta with its ID, name and all its arguments.
func (s *stream) delta(cand *candidate) provider.ChunkChoice {
	st := s.state(cand.Index)
	cc := provider.ChunkChoice{Index: cand.Index}
	if !st.started {
		cc.Role, st.started = provider.RoleAssistant, true
	}
	if cand.Content != nil {
		for i := range cand.Content.Parts {
			p := &cand.Content.Parts[i]
			switch {
			case p.FunctionCall != nil:
				tc := toolCallFrom(p)
				cc.ToolCalls = append(cc.ToolCalls, provider.ToolCallDelta{
					Index: st.calls, ID: tc.ID, Name: tc.Name, Arguments: tc.Arguments,
				})
				st.calls++
			case p.Thought:
				cc.Reasoning += p.Text
			default:
				cc.Content += p.Text
			}
		}
	}
	if !st.finished {
		cc.FinishReason = finishReason(cand.FinishReason, st.calls > 0)
		if cc.FinishReason != "" {
			st.finished, s.finished = true, true
		}
	}
	return cc
}

// state returns the state of candidate i, growing the table as needed.
func (s *stream) state(i int) *choiceState {
	for len(s.choices) <= i {
		s.choices = append(s.choices, choiceState{})
	}
	return &s.choices[i]
}

// allFinished reports whether the answer has ended for every candidate
// seen so far.
func (s *stream) allFinished() bool {
	for i := range s.choices {
		if s.choices[i].started && !s.choices[i].finished {
			return false
		}
	}
	return s.finished
}
