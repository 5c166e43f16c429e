// Package provider defines how Chorus talks to model providers: the canonical
// request/response/stream schema every adapter maps to and from, the small
// Provider interface, optional capabilities as separate interfaces, and the
// upstream error type. Adapters live in subpackages (openai, anthropic,
// gemini, simulator).
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Provider is one configured upstream deployment that can chat. The request's
// Model is already the upstream model ID.
type Provider interface {
	// Chat sends a non-streaming chat request.
	Chat(ctx context.Context, req *ChatRequest) (*ChatResponse, error)
	// ChatStream sends a streaming chat request. The returned stream must be
	// closed; closing it early aborts the upstream call.
	ChatStream(ctx context.Context, req *ChatRequest) (Stream, error)
}

// Embedder is implemented by providers that can embed text.
type Embedder interface {
	Embed(ctx context.Context, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// TokenCounter is implemented by providers that count a chat request's
// input tokens themselves (Anthropic's POST /v1/messages/count_tokens): the
// prompt as the model would see it, system prompt and tools included.
type TokenCounter interface {
	CountTokens(ctx context.Context, req *ChatRequest) (int, error)
}

// Stream yields the chunks of a streamed answer. Next returns io.EOF after
// the last chunk; any other error ends the stream (a mid-stream upstream
// error is an *Error).
type Stream interface {
	Next() (*StreamChunk, error)
	Close() error
}

// Config is what an adapter needs to reach one upstream.
type Config struct {
	Kind       string            // chorus.Provider* kind
	BaseURL    string            // e.g. https://api.openai.com/v1; adapters have a default
	APIKey     string            // credential secret; may be empty (local vLLM, Ollama)
	Headers    map[string]string // extra headers on every upstream request
	Settings   map[string]any    // provider-specific settings (api_version, simulator knobs)
	HTTPClient *http.Client      // shared client (NewHTTPClient); nil: the adapter builds one in New (Client)
	// AllowPrivateNetwork lets the client an adapter builds for a nil
	// HTTPClient dial loopback and private addresses.
	AllowPrivateNetwork bool
	// ReplayDir is the directory replay deployments may read recorded
	// datasets from (upstreams.replay_dir); "" allows none.
	ReplayDir string
}

// Error is an error from an upstream: an HTTP error status with the
// provider's error body, a transport failure, or an error event mid-stream.
type Error struct {
	Provider   string        // adapter kind
	Status     int           // upstream HTTP status; 0 for transport errors and mid-stream events without one
	Type       string        // provider's error type, e.g. "rate_limit_error", "overloaded_error"
	Code       string        // provider's error code, if any
	Message    string        // provider's message
	RetryAfter time.Duration // from Retry-After (or equivalent), if given
	Timeout    bool          // the call timed out (or its deadline passed)
	Err        error         // transport cause, if any
}

// Error implements error.
func (e *Error) Error() string {
	s := e.Provider + " upstream"
	if e.Status != 0 {
		s += fmt.Sprintf(" status %d", e.Status)
	}
	if e.Type != "" {
		s += " " + e.Type
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the transport cause.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether another attempt (here or elsewhere) may succeed:
// transport failures, timeouts, 408, 409, 429 and 5xx (including Anthropic's 529).
func (e *Error) Retryable() bool {
	if e.Status == 0 {
		return true
	}
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusConflict ||
		e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// TransportError wraps a failure to get a response from the upstream.
func TransportError(provider string, ctx context.Context, err error) *Error {
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		timeout = true
	}
	return &Error{Provider: provider, Message: "upstream request failed", Timeout: timeout, Err: err}
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date), and
// the millisecond variants some providers send. It returns 0 when absent.
func ParseRetryAfter(h http.Header) time.Duration {
	if v := h.Get("retry-after-ms"); v != "" {
		var ms float64
		if _, err := fmt.Sscanf(v, "%g", &ms); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var s float64
	if _, err := fmt.Sscanf(v, "%g", &s); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
