package e2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	oaissestream "github.com/openai/openai-go/v3/packages/ssestream"
)

// exchangeLog records, for SDK calls made through its middleware, the last
// request body the SDK sent and the last response header it got, so tests
// can check what went over the wire (streaming calls have no
// WithResponseInto).
type exchangeLog struct {
	mu     sync.Mutex
	body   []byte
	header http.Header
}

func (l *exchangeLog) record(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := next(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.body = body
	if resp != nil {
		l.header = resp.Header.Clone()
	}
	return resp, err
}

// openAI is the middleware for the OpenAI SDK.
func (l *exchangeLog) openAI() option.RequestOption {
	return option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		return l.record(req, next)
	})
}

// anthropic is the middleware for the Anthropic SDK.
func (l *exchangeLog) anthropic() anthropicoption.RequestOption {
	return anthropicoption.WithMiddleware(func(req *http.Request, next anthropicoption.MiddlewareNext) (*http.Response, error) {
		return l.record(req, next)
	})
}

func (l *exchangeLog) Body() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.body
}

func (l *exchangeLog) Header() http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.header
}

// chatParams is a one-message chat request.
func chatParams(model, prompt string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
	}
}

// openAIStream is what one streamed chat completion produced.
type openAIStream struct {
	acc         openai.ChatCompletionAccumulator
	chunks      int
	usageChunks int // chunks carrying a non-null usage
	toolCalls   []openai.FinishedChatCompletionToolCall
}

// collectOpenAI reads a stream to its end through the SDK's accumulator.
func collectOpenAI(t *testing.T, s *oaissestream.Stream[openai.ChatCompletionChunk]) *openAIStream {
	t.Helper()
	defer s.Close()
	out := &openAIStream{}
	for s.Next() {
		c := s.Current()
		out.chunks++
		if c.JSON.Usage.Valid() {
			out.usageChunks++
			if len(c.Choices) != 0 {
				t.Errorf("usage chunk has %d choices, want none (OpenAI sends usage in its own last chunk)", len(c.Choices))
			}
		}
		if !out.acc.AddChunk(c) {
			t.Fatalf("accumulator rejected chunk %d: %s", out.chunks, c.RawJSON())
		}
		if tc, ok := out.acc.JustFinishedToolCall(); ok {
			out.toolCalls = append(out.toolCalls, tc)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return out
}

// anthropicStream is what one streamed message produced.
type anthropicStream struct {
	msg    anthropic.Message
	events []string
}

// collectAnthropic reads a stream to its end with Message.Accumulate.
func collectAnthropic(t *testing.T, s *ssestream.Stream[anthropic.MessageStreamEventUnion]) *anthropicStream {
	t.Helper()
	defer s.Close()
	out := &anthropicStream{}
	for s.Next() {
		ev := s.Current()
		out.events = append(out.events, ev.Type)
		if err := out.msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.Type, err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return out
}

// wantOpenAIError checks err is the SDK's *openai.Error with status, type
// and code ("-" skips the code check).
func wantOpenAIError(t *testing.T, err error, status int, typ, code string) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *openai.Error", err, err)
	}
	if e.StatusCode != status {
		t.Errorf("status = %d, want %d (%s)", e.StatusCode, status, e.RawJSON())
	}
	if e.Type != typ {
		t.Errorf("type = %q, want %q (%s)", e.Type, typ, e.RawJSON())
	}
	if code != "-" && e.Code != code {
		t.Errorf("code = %q, want %q (%s)", e.Code, code, e.RawJSON())
	}
	if e.Message == "" {
		t.Errorf("error has no message: %s", e.RawJSON())
	}
	return e
}

// wantAnthropicError checks err is the SDK's *anthropic.Error with status,
// and that the body has Anthropic's error shape with type typ.
func wantAnthropicError(t *testing.T, err error, status int, typ string) *anthropic.Error {
	t.Helper()
	var e *anthropic.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *anthropic.Error", err, err)
	}
	if e.StatusCode != status {
		t.Errorf("status = %d, want %d (%s)", e.StatusCode, status, e.RawJSON())
	}
	if string(e.Type()) != typ {
		t.Errorf("Type() = %q, want %q (%s)", e.Type(), typ, e.RawJSON())
	}
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(e.RawJSON()), &body); err != nil || body.Type != "error" ||
		body.Error.Type != typ || body.Error.Message == "" {
		t.Errorf("body = %s, want {\"type\":\"error\",\"error\":{\"type\":%q,\"message\":...}}", e.RawJSON(), typ)
	}
	return e
}

// words counts the whitespace-separated words of s.
func words(s string) int { return len(strings.Fields(s)) }
