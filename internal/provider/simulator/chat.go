package simulator

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// vocabulary the simulator writes with; one word is one token.
var vocabulary = strings.Fields(`the a model answer request token route quality cost latency stream
gateway chorus credit ledger cache limit deployment provider fast careful simple clear result
value signal measure system user data good better best small large first next final`)

// answer is one generated choice: its tokens (words with their spacing),
// or a tool call.
type answer struct {
	tokens   []string
	toolCall *provider.ToolCall
	finish   provider.FinishReason
}

// generate builds the choices for req.
func (c *Client) generate(req *provider.ChatRequest, r *rng) []answer {
	n := 1
	if req.N != nil && *req.N > 1 {
		n = *req.N
	}
	limit := math.MaxInt // generated answers have OutputTokens words; max_tokens cuts any answer
	if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	out := make([]answer, n)
	for i := range out {
		if tc := c.toolCall(req, i); tc != nil {
			out[i] = answer{toolCall: tc, finish: provider.FinishToolCalls}
			continue
		}
		out[i] = c.textAnswer(req, r, limit)
	}
	return out
}

func (c *Client) textAnswer(req *provider.ChatRequest, r *rng, limit int) answer {
	var words []string
	switch {
	case c.s.HasBias:
		words = c.judgingWords(req)
	case c.s.Text == "echo":
		words = strings.Fields(lastUserText(req))
	case c.s.Text != "":
		words = strings.Fields(c.s.Text)
	default:
		words = make([]string, c.s.OutputTokens)
		for i := range words {
			words[i] = vocabulary[r.next()%uint64(len(vocabulary))]
		}
		if len(words) > 0 {
			words[len(words)-1] += "."
		}
	}
	finish := provider.FinishStop
	if c.s.HasQuality {
		mark := WrongMark
		if Difficulty(lastUserText(req)) < c.s.Quality {
			mark = CorrectMark
		}
		words = append(words, mark)
	}
	if len(words) > limit {
		words, finish = words[:limit], provider.FinishLength
	}
	toks := make([]string, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		toks[i] = w
	}
	return answer{tokens: toks, finish: finish}
}

// toolCall returns a call when the request offers tools the model may use and
// the conversation does not end with a tool result.
func (c *Client) toolCall(req *provider.ChatRequest, choice int) *provider.ToolCall {
	if len(req.Tools) == 0 || (req.ToolChoice != nil && req.ToolChoice.Mode == "none") {
		return nil
	}
	if len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == provider.RoleTool {
		return nil
	}
	tool := req.Tools[0]
	if req.ToolChoice != nil && req.ToolChoice.Name != "" {
		for _, t := range req.Tools {
			if t.Name == req.ToolChoice.Name {
				tool = t
			}
		}
	}
	return &provider.ToolCall{
		ID:        "call_sim" + strconv.Itoa(choice) + strconv.FormatUint(c.counter.Load(), 36),
		Name:      tool.Name,
		Arguments: sampleArguments(tool.Parameters, lastUserText(req)),
	}
}

// sampleArguments fills the required properties of a JSON schema with values
// of their type, so the call validates against simple schemas.
func sampleArguments(schema json.RawMessage, text string) string {
	var s struct {
		Properties map[string]struct {
			Type string   `json:"type"`
			Enum []string `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	}
	if len(schema) == 0 || json.Unmarshal(schema, &s) != nil {
		return "{}"
	}
	args := make(map[string]any, len(s.Required))
	for _, name := range s.Required {
		p := s.Properties[name]
		switch {
		case len(p.Enum) > 0:
			args[name] = p.Enum[0]
		case p.Type == "number" || p.Type == "integer":
			args[name] = 1
		case p.Type == "boolean":
			args[name] = true
		case p.Type == "array":
			args[name] = []any{}
		case p.Type == "object":
			args[name] = map[string]any{}
		default:
			args[name] = text
		}
	}
	b, _ := json.Marshal(args)
	return string(b)
}

func (a *answer) text() string { return strings.Join(a.tokens, "") }

func (a *answer) outputTokens() int {
	if a.toolCall != nil {
		return provider.EstimateTokens(a.toolCall.Name) + provider.EstimateTokens(a.toolCall.Arguments)
	}
	return len(a.tokens)
}

// Chat answers after the configured latency.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	ar, fr := c.requestRNG(promptKey(req))
	if err := sleep(ctx, c.latency(&fr)); err != nil {
		return nil, err
	}
	if err := c.injectedError(&fr); err != nil {
		return nil, err
	}
	answers := c.generate(req, &ar)
	resp := &provider.ChatResponse{
		ID:      newID(),
		Model:   req.Model,
		Created: time.Now().Unix(),
		Choices: make([]provider.Choice, len(answers)),
		Usage:   c.s.usage(provider.EstimateInputTokens(req)),
	}
	for i := range answers {
		a := &answers[i]
		msg := provider.Message{Role: provider.RoleAssistant}
		if a.toolCall != nil {
			msg.ToolCalls = []provider.ToolCall{*a.toolCall}
		} else {
			msg.Content = []provider.Part{{Type: provider.PartText, Text: a.text()}}
			msg.TextOnly = true
		}
		resp.Choices[i] = provider.Choice{Index: i, Message: msg, FinishReason: a.finish}
		resp.Usage.OutputTokens += a.outputTokens()
	}
	return resp, nil
}

// ChatStream streams the answer token by token at the configured speed.
func (c *Client) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	ar, fr := c.requestRNG(promptKey(req))
	if err := sleep(ctx, c.latency(&fr)); err != nil {
		return nil, err
	}
	if err := c.injectedError(&fr); err != nil {
		return nil, err
	}
	s := &stream{
		ctx:     ctx,
		c:       c,
		answers: c.generate(req, &ar),
		id:      newID(),
		model:   req.Model,
		created: time.Now().Unix(),
		start:   time.Now(),
		usage:   c.s.usage(provider.EstimateInputTokens(req)),
	}
	ttft := c.s.TTFT - c.s.Latency // the tail (or jitter) delays the start, not the pace
	if ttft < 0 {
		ttft = 0
	}
	s.start = s.start.Add(ttft)
	return s, nil
}

// stream emits, per choice: a role chunk, one chunk per token (or one tool
// call chunk), a finish chunk; then one usage chunk.
type stream struct {
	ctx     context.Context
	c       *Client
	answers []answer
	id      string
	model   string
	created int64
	start   time.Time // when the first token is due
	usage   provider.Usage

	choice  int // current choice
	pos     int // -1 before the role chunk; then token index
	emitted int // tokens emitted so far, for pacing
	started bool
	done    bool
	closed  bool
}

func (s *stream) chunk(cc provider.ChunkChoice) *provider.StreamChunk {
	return &provider.StreamChunk{ID: s.id, Model: s.model, Created: s.created, Choices: []provider.ChunkChoice{cc}}
}

// Next returns the next chunk, sleeping to honour TTFT and tokens/second.
func (s *stream) Next() (*provider.StreamChunk, error) {
	if s.closed || s.done {
		return nil, io.EOF
	}
	if s.choice >= len(s.answers) {
		s.done = true
		u := s.usage
		return &provider.StreamChunk{ID: s.id, Model: s.model, Created: s.created, Usage: &u}, nil
	}
	a := &s.answers[s.choice]
	if !s.started {
		s.started = true
		return s.chunk(provider.ChunkChoice{Index: s.choice, Role: provider.RoleAssistant}), nil
	}
	if err := s.pace(); err != nil {
		return nil, err
	}
	if a.toolCall != nil && s.pos == 0 {
		s.pos = 1
		s.usage.OutputTokens += a.outputTokens()
		return s.chunk(provider.ChunkChoice{Index: s.choice, ToolCalls: []provider.ToolCallDelta{{
			Index: 0, ID: a.toolCall.ID, Name: a.toolCall.Name, Arguments: a.toolCall.Arguments,
		}}}), nil
	}
	if a.toolCall == nil && s.pos < len(a.tokens) {
		tok := a.tokens[s.pos]
		s.pos++
		s.emitted++
		s.usage.OutputTokens++
		return s.chunk(provider.ChunkChoice{Index: s.choice, Content: tok}), nil
	}
	ch := s.chunk(provider.ChunkChoice{Index: s.choice, FinishReason: a.finish})
	s.choice++
	s.pos = 0
	s.started = false
	return ch, nil
}

// pace sleeps until the next token is due.
func (s *stream) pace() error {
	due := s.start
	if s.c.s.TokensPerSecond > 0 {
		due = due.Add(time.Duration(float64(s.emitted) / s.c.s.TokensPerSecond * float64(time.Second)))
	}
	return sleep(s.ctx, time.Until(due))
}

// Close ends the stream.
func (s *stream) Close() error {
	s.closed = true
	return nil
}

// newID returns a random answer ID. IDs are unique across clients,
// instances and restarts (feedback finds answers by them); the answers
// themselves stay deterministic for a seed.
func newID() string {
	return "chatcmpl-sim" + strconv.FormatUint(rand.Uint64(), 36) // #nosec G404 -- the simulator's response IDs are labels, not secrets
}
