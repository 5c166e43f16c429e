// Package replay is the provider whose answers come from a recorded
// dataset: each question's recorded answer by one model, with its latency
// (recorded, or modelled from the answer's length) and token counts (the
// repository's offline estimate). Any routing strategy can then be run on
// real model answers, offline. A question the dataset does not hold is a
// clear 404 in the provider error shape.
//
// Datasets are CSV files in the columns of RouteLLM's evaluation files
// (prompt; per model, True/False and <model>_response) or JSONL with one
// {"prompt", "response", "model", "correct", "latency_ms"} object a line.
// They must lie in the directory the operator allows (upstreams.replay_dir).
package replay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/chorusgw/chorus/internal/provider"
)

var _ provider.Provider = (*Client)(nil)

// Settings are a replay deployment's settings.
type Settings struct {
	File            string        // dataset path, relative to the replay directory or absolute within it
	Model           string        // which model's answers: the CSV's column (required for CSV); JSONL lines of other models are skipped
	Latency         time.Duration // before the answer when the dataset records none (latency_ms)
	TokensPerSecond float64       // modelled generation speed: output tokens / this is added to Latency (0: none)
}

// Record is one recorded answer.
type Record struct {
	Prompt   string
	Response string
	Correct  *bool         // when the dataset says
	Latency  time.Duration // recorded; 0: modelled
}

// Client answers from one dataset.
type Client struct {
	s       Settings
	answers map[string]*Record // by Normalize(prompt)
}

// New loads the dataset named in cfg.Settings from cfg.ReplayDir (where
// datasets must lie; "" refuses every dataset).
func New(cfg provider.Config) (*Client, error) {
	s, err := ParseSettings(cfg.Settings)
	if err != nil {
		return nil, err
	}
	path, err := resolve(cfg.ReplayDir, s.File)
	if err != nil {
		return nil, err
	}
	recs, err := Load(path, s.Model)
	if err != nil {
		return nil, err
	}
	return NewFromRecords(s, recs), nil
}

// NewFromRecords returns a client over records already read.
func NewFromRecords(s Settings, recs []Record) *Client {
	c := &Client{s: s, answers: make(map[string]*Record, len(recs))}
	for i := range recs {
		c.answers[Normalize(recs[i].Prompt)] = &recs[i]
	}
	return c
}

// Len is the number of recorded questions.
func (c *Client) Len() int { return len(c.answers) }

// ParseSettings reads a deployment's settings: file (required), model,
// latency_ms, tokens_per_second.
func ParseSettings(m map[string]any) (Settings, error) {
	var s Settings
	str := func(key string) (string, error) {
		v, ok := m[key]
		if !ok || v == nil {
			return "", nil
		}
		t, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("replay setting %s: want a string, got %T", key, v)
		}
		return t, nil
	}
	num := func(key string, lo, hi float64) (float64, error) {
		v, ok := m[key]
		if !ok || v == nil {
			return 0, nil
		}
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		default:
			return 0, fmt.Errorf("replay setting %s: want a number, got %T", key, v)
		}
		if !(f >= lo && f <= hi) {
			return 0, fmt.Errorf("replay setting %s: must be between %g and %g, got %g", key, lo, hi, f)
		}
		return f, nil
	}
	var err error
	if s.File, err = str("file"); err != nil {
		return s, err
	}
	if s.File == "" {
		return s, fmt.Errorf("replay setting file is required: the recorded dataset (.csv or .jsonl) in the replay directory")
	}
	if s.Model, err = str("model"); err != nil {
		return s, err
	}
	ms, err := num("latency_ms", 0, 600_000)
	if err != nil {
		return s, err
	}
	s.Latency = time.Duration(ms * float64(time.Millisecond))
	if s.TokensPerSecond, err = num("tokens_per_second", 0, 1e7); err != nil {
		return s, err
	}
	for k := range m {
		switch k {
		case "file", "model", "latency_ms", "tokens_per_second", "timeout_ms", "first_token_timeout_ms", "rpm", "tpm", "max_concurrency":
		default:
			return s, fmt.Errorf("replay setting %s is unknown; known settings are file, model, latency_ms and tokens_per_second", k)
		}
	}
	return s, nil
}

// resolve returns file's path inside dir, refusing one outside it.
func resolve(dir, file string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("replay deployments are off: set upstreams.replay_dir to the directory of recorded datasets")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("replay directory: %w", err)
	}
	p := file
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	p = filepath.Clean(p)
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("replay setting file: %q is outside the replay directory %s", file, root)
	}
	if ext := strings.ToLower(filepath.Ext(p)); ext != ".csv" && ext != ".jsonl" {
		return "", fmt.Errorf("replay setting file: %q must be a .csv or .jsonl file", file)
	}
	return p, nil
}

// Normalize is how questions are matched: Unicode spaces collapsed to one
// space, trimmed. Case and punctuation are kept: they can change a
// question's meaning.
func Normalize(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// lookup finds the recorded answer to the request's last user message.
func (c *Client) lookup(req *provider.ChatRequest) (*Record, error) {
	q := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == provider.RoleUser {
			q = req.Messages[i].Text()
			break
		}
	}
	r := c.answers[Normalize(q)]
	if r == nil {
		return nil, &provider.Error{Provider: "replay", Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_question",
			Message: fmt.Sprintf("the replay dataset has no recorded answer to this question (%d questions recorded; matched on the last user message, whitespace normalised)", len(c.answers))}
	}
	return r, nil
}

// latency is how long the recorded answer takes: as recorded, else the base
// latency plus the output at the modelled speed.
func (c *Client) latency(r *Record, outTokens int) time.Duration {
	if r.Latency > 0 {
		return r.Latency
	}
	d := c.s.Latency
	if c.s.TokensPerSecond > 0 {
		d += time.Duration(float64(outTokens) / c.s.TokensPerSecond * float64(time.Second))
	}
	return d
}

// Chat answers with the recorded answer after its latency.
func (c *Client) Chat(ctx context.Context, req *provider.ChatRequest) (*provider.ChatResponse, error) {
	r, err := c.lookup(req)
	if err != nil {
		return nil, err
	}
	resp := c.response(req, r)
	if err := sleep(ctx, c.latency(r, resp.Usage.OutputTokens)); err != nil {
		return nil, err
	}
	return resp, nil
}

// response builds the answer, cut at max_tokens.
func (c *Client) response(req *provider.ChatRequest, r *Record) *provider.ChatResponse {
	text := r.Response
	finish := provider.FinishStop
	if req.MaxTokens != nil && provider.EstimateTokens(text) > *req.MaxTokens {
		text, finish = cut(text, *req.MaxTokens*4), provider.FinishLength
	}
	return &provider.ChatResponse{
		ID: newID(), Model: req.Model, Created: time.Now().Unix(),
		Choices: []provider.Choice{{Index: 0, Message: provider.TextMessage(provider.RoleAssistant, text), FinishReason: finish}},
		Usage:   provider.Usage{InputTokens: provider.EstimateInputTokens(req), OutputTokens: provider.EstimateTokens(text)},
	}
}

// cut returns at most n bytes of s, never splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// ChatStream streams the recorded answer: the first chunk after the base
// latency, the rest at the modelled speed.
func (c *Client) ChatStream(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	r, err := c.lookup(req)
	if err != nil {
		return nil, err
	}
	resp := c.response(req, r)
	first := c.s.Latency
	if r.Latency > 0 {
		first = r.Latency
	}
	if err := sleep(ctx, first); err != nil {
		return nil, err
	}
	return newStream(ctx, resp, c.s.TokensPerSecond), nil
}

// stream plays back one answer: a role chunk, the text in pieces of about
// four tokens paced at the modelled speed, the finish reason, the usage.
type stream struct {
	ctx    context.Context
	chunks []*provider.StreamChunk
	pace   time.Duration // per content chunk
	i      int
}

func newStream(ctx context.Context, resp *provider.ChatResponse, tps float64) *stream {
	s := &stream{ctx: ctx}
	add := func(cc provider.ChunkChoice) {
		s.chunks = append(s.chunks, &provider.StreamChunk{ID: resp.ID, Model: resp.Model, Created: resp.Created, Choices: []provider.ChunkChoice{cc}})
	}
	ch := resp.Choices[0]
	add(provider.ChunkChoice{Role: provider.RoleAssistant})
	const piece = 16 // bytes: about four tokens
	text := ch.Message.Text()
	for len(text) > 0 {
		n := len(cut(text, piece))
		if n == 0 {
			n = min(len(text), piece)
			for n < len(text) && text[n]&0xC0 == 0x80 {
				n++
			}
		}
		add(provider.ChunkChoice{Content: text[:n]})
		text = text[n:]
	}
	add(provider.ChunkChoice{FinishReason: ch.FinishReason})
	u := resp.Usage
	s.chunks = append(s.chunks, &provider.StreamChunk{ID: resp.ID, Model: resp.Model, Created: resp.Created, Usage: &u})
	if tps > 0 {
		s.pace = time.Duration(4 / tps * float64(time.Second))
	}
	return s
}

// Next returns the next chunk, pacing content chunks.
func (s *stream) Next() (*provider.StreamChunk, error) {
	if s.i >= len(s.chunks) {
		return nil, io.EOF
	}
	c := s.chunks[s.i]
	if s.i > 0 && len(c.Choices) > 0 && c.Choices[0].Content != "" {
		if err := sleep(s.ctx, s.pace); err != nil {
			return nil, err
		}
	}
	s.i++
	return c, nil
}

// Close ends the stream.
func (s *stream) Close() error {
	s.i = len(s.chunks)
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return provider.TransportError("replay", ctx, ctx.Err())
	}
}

// newID returns a random answer ID: feedback finds answers by it.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "chatcmpl-replay" + hex.EncodeToString(b[:])
}

// parseBool reads the datasets' True/False (and true/false, 1/0).
func parseBool(s string) (*bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return nil, err
	}
	return &b, nil
}
