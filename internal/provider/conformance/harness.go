// Package conformance is the one test suite every provider adapter passes.
// Each adapter supplies a Harness: a local fake server that speaks the
// provider's documented wire format (including SSE framing, mid-stream errors
// and error bodies), scripted by Scenario, and a constructor for the adapter
// pointed at it. Run drives the adapter through the canonical interface and
// checks both what the adapter returned and what the fake received.
package conformance

import (
	"net/http"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// Scenario scripts the fake's next answers.
type Scenario struct {
	// A successful answer.
	Text         string              // assistant text; streamed in several chunks
	ToolCalls    []provider.ToolCall // tool calls to return (after Text, if any)
	FinishReason provider.FinishReason
	Usage        provider.Usage
	Embeddings   [][]float32 // for embedding requests

	// An error answer: when Status is non-zero the fake replies with that
	// HTTP status and the provider's documented error body.
	Status     int
	ErrType    string // provider's error type (e.g. "rate_limit_error")
	ErrMessage string
	RetryAfter string // Retry-After header value, if any

	// StreamErrorAfter > 0 makes a streamed answer send that many content
	// chunks, then the provider's mid-stream error event (ErrType/ErrMessage),
	// then end.
	StreamErrorAfter int

	// Delay holds the answer back (before any header) so callers can test
	// cancellation and timeouts.
	Delay time.Duration

	// ChunkDelay makes a streamed answer wait this long before each chunk
	// after the first (honoring the request's context), so callers can test
	// that closing or cancelling a stream aborts it.
	ChunkDelay time.Duration
}

// Captured is what the fake received, decoded from the provider's format.
type Captured struct {
	Method string
	Path   string // URL path (with query string, if any)
	Header http.Header
	Body   []byte

	Model       string // upstream model as sent (in the body or the URL)
	Stream      bool
	MaxTokens   int
	Temperature *float64
	Stop        []string
	System      string // system prompt text (joined)
	Messages    []CapturedMessage
	ToolNames   []string
	Inputs      []string // embedding inputs
}

// CapturedMessage is one non-system message the fake received.
type CapturedMessage struct {
	Role        string // "user", "assistant" or "tool" (a tool result)
	Text        string // text parts joined
	ToolCallIDs []string
	ToolResult  string // for tool results: which call ID it answers
	Images      int    // number of image parts
}

// Fake is a local server speaking one provider's wire format.
type Fake interface {
	URL() string       // base URL to configure the adapter with
	Script(s Scenario) // answer every following request this way
	Last() Captured    // the last request received
	Requests() int     // how many requests were received
}

// Harness describes one adapter under test.
type Harness struct {
	Name        string
	Format      provider.Format
	NewFake     func(t *testing.T) Fake
	NewProvider func(t *testing.T, baseURL string) provider.Provider
	// Capabilities the suite tests only when set.
	Embeddings bool
	Images     bool

	// ExtraErrors adds provider-specific cases (e.g. Anthropic's 529) to the
	// error table the suite runs.
	ExtraErrors []ErrorCase

	// PassthroughBody overrides the raw body, in Format, that the Passthrough
	// test sends. It must contain the member "x_custom":{"a":1} and name a
	// model other than the request's (when the format carries the model in
	// the body). Nil uses the suite's built-in body for Format.
	PassthroughBody []byte
}

// ErrorCase is one upstream error answer and what the adapter must make of it.
type ErrorCase struct {
	Status         int
	ErrType        string        // written by the fake into its error body
	RetryAfter     string        // Retry-After header value the fake sends, if any
	Retryable      bool          // want (*provider.Error).Retryable()
	WantRetryAfter time.Duration // want (*provider.Error).RetryAfter
}
