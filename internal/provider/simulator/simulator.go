// Package simulator is the built-in provider that makes Chorus useful with no
// keys at all: it answers chat and embedding requests in-process with
// configurable latency, time to first token, tokens per second, error rate and
// output, deterministically for a seed. It drives demos, end-to-end tests and
// benchmarks.
package simulator

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

var (
	_ provider.Provider = (*Client)(nil)
	_ provider.Embedder = (*Client)(nil)
)

// Settings are the simulator's knobs, read from a deployment's settings.
type Settings struct {
	Latency         time.Duration // before a non-streamed answer, and before a stream starts
	TTFT            time.Duration // from stream start to the first token (default: Latency)
	TokensPerSecond float64       // streaming speed after the first token; 0 means instant
	OutputTokens    int           // length of a generated answer (default 16), capped by max_tokens
	ErrorRate       float64       // fraction of requests answered with ErrorStatus
	ErrorStatus     int           // HTTP status of injected errors (default 500)
	Text            string        // fixed answer; "echo" repeats the last user message
	Seed            uint64        // same seed and same requests, same answers
	// Quality, when set, marks every answer right or wrong: each prompt has
	// a difficulty in [0,1) derived from its text, and an answer is right
	// when the difficulty is below Quality. The answer's last word is then
	// CorrectMark or WrongMark, so a scorer (e.g. regex) can grade it: the
	// simulated stand-in for a judge that knows the truth.
	Quality    float64
	HasQuality bool
	// Heavy tails: with probability TailRate a call's latency is TailLatency
	// instead of Latency; LatencyJitter adds up to that fraction of Latency
	// at random (uniformly).
	TailRate      float64
	TailLatency   time.Duration
	LatencyJitter float64
	Dimensions    int // embedding vector length (default 64)
	// CachedFraction is the share of a request's input tokens reported as
	// read from a prompt cache; ReasoningTokens are reported spent on
	// reasoning, on top of the answer's tokens. Both exercise the prices of
	// those classes.
	CachedFraction  float64
	ReasoningTokens int
	// Bias, when set (even empty), makes the simulator the judging persona
	// (bias.go): it answers decisions, scores and descriptions of people,
	// less favourably (and sometimes not at all) when the prompt contains
	// one of the map's terms, by the term's weight in [-1, 1]. Empty: a
	// neutral judge. It proves that bias tests catch bias.
	Bias    map[string]float64
	HasBias bool
}

// Client is one simulated deployment.
type Client struct {
	s       Settings
	counter atomic.Uint64
}

// New returns a simulator configured from cfg.Settings.
func New(cfg provider.Config) (*Client, error) {
	s, err := ParseSettings(cfg.Settings)
	if err != nil {
		return nil, err
	}
	return &Client{s: s}, nil
}

// ParseSettings reads Settings from a deployment's settings map, with clear
// errors for wrong types or ranges.
func ParseSettings(m map[string]any) (Settings, error) {
	s := Settings{OutputTokens: 16, ErrorStatus: 500, Quality: 1, Dimensions: 64}
	num := func(key string) (float64, bool, error) {
		v, ok := m[key]
		if !ok || v == nil {
			return 0, false, nil
		}
		switch x := v.(type) {
		case float64:
			return x, true, nil
		case int:
			return float64(x), true, nil
		case int64:
			return float64(x), true, nil
		case json.Number:
			f, err := x.Float64()
			return f, err == nil, err
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return 0, false, fmt.Errorf("simulator setting %s: want a number, got %q", key, x)
			}
			return f, true, nil
		}
		return 0, false, fmt.Errorf("simulator setting %s: want a number, got %T", key, v)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	type field struct {
		key      string
		min, max float64
		set      func(float64)
	}
	fields := []field{
		{"latency_ms", 0, 600_000, func(f float64) { s.Latency = ms(f) }},
		{"ttft_ms", 0, 600_000, func(f float64) { s.TTFT = ms(f) }},
		{"tokens_per_second", 0, 1e7, func(f float64) { s.TokensPerSecond = f }},
		{"output_tokens", 0, 1_000_000, func(f float64) { s.OutputTokens = int(f) }},
		{"error_rate", 0, 1, func(f float64) { s.ErrorRate = f }},
		{"error_status", 400, 599, func(f float64) { s.ErrorStatus = int(f) }},
		{"seed", 0, math.MaxInt64, func(f float64) { s.Seed = uint64(f) }},
		{"quality", 0, 1, func(f float64) { s.Quality, s.HasQuality = f, true }},
		{"tail_rate", 0, 1, func(f float64) { s.TailRate = f }},
		{"tail_latency_ms", 0, 600_000, func(f float64) { s.TailLatency = ms(f) }},
		{"latency_jitter", 0, 10, func(f float64) { s.LatencyJitter = f }},
		{"dimensions", 1, 8192, func(f float64) { s.Dimensions = int(f) }},
		{"cached_fraction", 0, 1, func(f float64) { s.CachedFraction = f }},
		{"reasoning_tokens", 0, 1_000_000, func(f float64) { s.ReasoningTokens = int(f) }},
	}
	ttftSet := false
	for _, fd := range fields {
		f, ok, err := num(fd.key)
		if err != nil {
			return s, err
		}
		if !ok {
			continue
		}
		if f < fd.min || f > fd.max {
			return s, fmt.Errorf("simulator setting %s: must be between %g and %g, got %g", fd.key, fd.min, fd.max, f)
		}
		fd.set(f)
		ttftSet = ttftSet || fd.key == "ttft_ms"
	}
	if !ttftSet {
		s.TTFT = s.Latency
	}
	if v, ok := m["bias"]; ok && v != nil {
		b, err := parseBias(v)
		if err != nil {
			return s, err
		}
		s.Bias, s.HasBias = b, true
	}
	if v, ok := m["text"]; ok {
		t, ok := v.(string)
		if !ok {
			return s, fmt.Errorf("simulator setting text: want a string, got %T", v)
		}
		s.Text = t
	}
	return s, nil
}

// usage returns the usage of a call with in input tokens, before its answer
// is counted: the cached part and the reasoning tokens the settings ask for.
func (s *Settings) usage(in int) provider.Usage {
	return provider.Usage{InputTokens: in, CachedInputTokens: int(s.CachedFraction * float64(in)),
		OutputTokens: s.ReasoningTokens, ReasoningTokens: s.ReasoningTokens}
}

// Marks a simulated answer ends with when Quality is set.
const (
	CorrectMark = "[correct]"
	WrongMark   = "[wrong]"
)

// Difficulty returns a prompt's difficulty in [0,1): the same text, the
// same difficulty, on every model, so that stronger models answer a
// superset of what weaker ones do.
func Difficulty(prompt string) float64 {
	h := fnv.New64a()
	h.Write([]byte(prompt))
	r := rng(h.Sum64())
	return r.float()
}

// latency returns this call's delay before answering: the base latency with
// jitter, or the tail latency.
func (c *Client) latency(r *rng) time.Duration {
	if c.s.TailRate > 0 && r.float() < c.s.TailRate {
		return c.s.TailLatency
	}
	d := c.s.Latency
	if c.s.LatencyJitter > 0 {
		d += time.Duration(r.float() * c.s.LatencyJitter * float64(c.s.Latency))
	}
	return d
}

// Settings returns the client's settings.
func (c *Client) Settings() Settings { return c.s }

// rng is splitmix64: tiny, fast, and good enough to make answers look random
// while staying deterministic for a seed.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// requestRNG derives the generator for one request from the seed, the
// request's content and the request's ordinal, so a replayed sequence of
// requests gets the same answers and errors.
func (c *Client) requestRNG(content string) (answer, fault rng) {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], c.s.Seed)
	h.Write(b[:])
	h.Write([]byte(content))
	n := c.counter.Add(1)
	// Mixed once more so that no call's stream is a shifted copy of the
	// next one's: unmixed, seed 0 made call n's second draw call n+1's first.
	f := rng(c.s.Seed ^ n*0x9e3779b97f4a7c15)
	return rng(h.Sum64()), rng(f.next())
}

// injectedError decides whether this request fails.
func (c *Client) injectedError(r *rng) error {
	if c.s.ErrorRate <= 0 || r.float() >= c.s.ErrorRate {
		return nil
	}
	return &provider.Error{
		Provider:   "simulator",
		Status:     c.s.ErrorStatus,
		Type:       errorType(c.s.ErrorStatus),
		Message:    fmt.Sprintf("simulated upstream error (status %d)", c.s.ErrorStatus),
		RetryAfter: retryAfter(c.s.ErrorStatus),
	}
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

func retryAfter(status int) time.Duration {
	if status == http.StatusTooManyRequests {
		return time.Second
	}
	return 0
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
		return provider.TransportError("simulator", ctx, ctx.Err())
	}
}

// lastUserText returns the text of the last user message.
func lastUserText(req *provider.ChatRequest) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == provider.RoleUser {
			return req.Messages[i].Text()
		}
	}
	return ""
}

// promptKey is what answers are derived from: the whole conversation.
func promptKey(req *provider.ChatRequest) string {
	var b strings.Builder
	b.WriteString(req.Model)
	for i := range req.Messages {
		b.WriteString(req.Messages[i].Role)
		b.WriteByte(0)
		b.WriteString(req.Messages[i].Text())
		b.WriteByte(0)
	}
	return b.String()
}
