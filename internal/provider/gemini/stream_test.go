package gemini

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/chorusgw/chorus/internal/provider"
)

// newTestStream returns a stream over body, as ChatStream would after a
// 200 answer.
func newTestStream(body string) *stream {
	return &stream{
		ctx:     context.Background(),
		body:    io.NopCloser(strings.NewReader(body)),
		sse:     provider.NewSSEReader(strings.NewReader(body)),
		model:   "m",
		created: testNow.Unix(),
	}
}

// drain reads s to its end; err is nil for io.EOF.
func drain(t *testing.T, s provider.Stream) (chunks []*provider.StreamChunk, err error) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		c, err := s.Next()
		if err == io.EOF {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
	t.Fatal("stream does not end")
	return nil, nil
}

// sse frames each data payload as an event, with the line end nl.
func sse(nl string, payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString("data: " + p + nl + nl)
	}
	return b.String()
}

// summary is what a client assembles from a stream, per choice.
type summary struct {
	text    map[int]string
	finish  map[int][]provider.FinishReason
	calls   map[int][]provider.ToolCallDelta
	roles   map[int]int // how many deltas carried a role
	usage   []provider.Usage
	chunks  int
	rawless int
}

func summarize(chunks []*provider.StreamChunk) summary {
	s := summary{text: map[int]string{}, finish: map[int][]provider.FinishReason{},
		calls: map[int][]provider.ToolCallDelta{}, roles: map[int]int{}, chunks: len(chunks)}
	for _, c := range chunks {
		if len(c.Raw) == 0 || c.RawFormat != provider.FormatGemini {
			s.rawless++
		}
		if c.Usage != nil {
			s.usage = append(s.usage, *c.Usage)
		}
		for _, ch := range c.Choices {
			s.text[ch.Index] += ch.Content
			if ch.FinishReason != "" {
				s.finish[ch.Index] = append(s.finish[ch.Index], ch.FinishReason)
			}
			if ch.Role != "" {
				s.roles[ch.Index]++
			}
			s.calls[ch.Index] = append(s.calls[ch.Index], ch.ToolCalls...)
		}
	}
	return s
}

func TestStreamFraming(t *testing.T) {
	events := []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]}}],"usageMetadata":{"promptTokenCount":5}}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2}}`,
	}
	tests := []struct {
		name string
		body string
	}{
		{"LF", sse("\n", events...)},
		{"CRLF", sse("\r\n", events...)},
		{"CommentsAndEventNames", ": keep-alive\n\nevent: message\n" + sse("\n", events...)},
		{"NoFinalBlankLine", strings.TrimSuffix(sse("\n", events...), "\n\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, err := drain(t, newTestStream(tt.body))
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			s := summarize(chunks)
			if s.text[0] != "Hello" || s.chunks != 2 || s.rawless != 0 || s.roles[0] != 1 {
				t.Errorf("got %+v, want two chunks with Raw, one role, text Hello", s)
			}
			if len(s.usage) != 1 || s.usage[0] != (provider.Usage{InputTokens: 5, OutputTokens: 2}) {
				t.Errorf("usage = %+v, want once {5 2}", s.usage)
			}
		})
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		check  func(t *testing.T, s summary)
	}{
		{
			name: "ToolCallsAcrossEvents",
			events: []string{
				`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}}}]}}]}`,
				`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"b"}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}`,
			},
			check: func(t *testing.T, s summary) {
				calls := s.calls[0]
				if len(calls) != 2 || calls[0].Index != 0 || calls[1].Index != 1 ||
					calls[0].Name != "a" || calls[0].Arguments != `{"x":1}` || calls[1].Arguments != "{}" ||
					calls[0].ID == "" || calls[0].ID == calls[1].ID {
					t.Errorf("tool call deltas = %+v", calls)
				}
				if got := s.finish[0]; len(got) != 1 || got[0] != provider.FinishToolCalls {
					t.Errorf("finish = %q, want one tool_calls", got)
				}
			},
		},
		{
			name: "TwoCandidates",
			events: []string{
				`{"candidates":[{"content":{"parts":[{"text":"A1"}]}},{"content":{"parts":[{"text":"B1"}]},"index":1}],"usageMetadata":{"promptTokenCount":3}}`,
				`{"candidates":[{"content":{"parts":[{"text":"A2"}]},"finishReason":"STOP"},{"content":{"parts":[{"text":"B2"}]},"index":1}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}`,
				`{"candidates":[{"content":{"parts":[{"text":"B3"}]},"finishReason":"MAX_TOKENS","index":1}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":5}}`,
			},
			check: func(t *testing.T, s summary) {
				if s.text[0] != "A1A2" || s.text[1] != "B1B2B3" {
					t.Errorf("texts = %v", s.text)
				}
				if s.roles[0] != 1 || s.roles[1] != 1 {
					t.Errorf("roles sent %v times, want once per choice", s.roles)
				}
				if s.finish[0][0] != provider.FinishStop || s.finish[1][0] != provider.FinishLength {
					t.Errorf("finish = %v", s.finish)
				}
				// Usage waits for the last candidate to finish.
				if len(s.usage) != 1 || s.usage[0].OutputTokens != 5 {
					t.Errorf("usage = %+v, want once with 5 output tokens", s.usage)
				}
			},
		},
		{
			name: "ThoughtsLeftOutCountedAsReasoning",
			events: []string{
				`{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true}]}}]}`,
				`{"candidates":[{"content":{"parts":[{"text":"Answer"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":7}}`,
			},
			check: func(t *testing.T, s summary) {
				if s.text[0] != "Answer" {
					t.Errorf("text = %q, want the answer only", s.text[0])
				}
				if len(s.usage) != 1 || s.usage[0] != (provider.Usage{InputTokens: 3, OutputTokens: 9, ReasoningTokens: 7}) {
					t.Errorf("usage = %+v", s.usage)
				}
			},
		},
		{
			name: "PromptBlocked",
			events: []string{
				`{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4}}`,
			},
			check: func(t *testing.T, s summary) {
				if got := s.finish[0]; len(got) != 1 || got[0] != provider.FinishContentFilter || s.text[0] != "" {
					t.Errorf("finish = %q text %q, want content_filter and no text", got, s.text[0])
				}
				if len(s.usage) != 1 || s.usage[0].InputTokens != 4 {
					t.Errorf("usage = %+v", s.usage)
				}
			},
		},
		{
			name: "UsageAfterFinish",
			events: []string{
				`{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}`,
				`{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}`,
			},
			check: func(t *testing.T, s summary) {
				if len(s.usage) != 1 || s.usage[0] != (provider.Usage{InputTokens: 3, OutputTokens: 1}) || s.rawless != 0 {
					t.Errorf("usage = %+v (%d chunks without Raw)", s.usage, s.rawless)
				}
			},
		},
		{
			name: "UsageOnlyBeforeFinish",
			events: []string{
				`{"candidates":[{"content":{"parts":[{"text":"x"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}`,
				`{"candidates":[{"content":{"parts":[{"text":"y"}]},"finishReason":"STOP"}]}`,
			},
			check: func(t *testing.T, s summary) {
				// Reported once, on a synthesized last chunk that still
				// carries a Gemini event.
				if len(s.usage) != 1 || s.usage[0] != (provider.Usage{InputTokens: 3, OutputTokens: 1}) || s.rawless != 0 || s.chunks != 3 {
					t.Errorf("usage = %+v over %d chunks (%d without Raw)", s.usage, s.chunks, s.rawless)
				}
			},
		},
		{
			name:   "NoUsage",
			events: []string{`{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}`},
			check: func(t *testing.T, s summary) {
				if len(s.usage) != 0 {
					t.Errorf("usage = %+v, want none", s.usage)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, err := drain(t, newTestStream(sse("\n", tt.events...)))
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			tt.check(t, summarize(chunks))
		})
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantType string
		status   int
		unexpEOF bool
	}{
		{
			name: "MidStreamError",
			body: sse("\n", `{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}`,
				`{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`),
			wantType: "UNAVAILABLE", status: 503,
		},
		{
			name:     "MalformedEvent",
			body:     sse("\n", `{"candidates":[{"content":`),
			wantType: "invalid_response",
		},
		{
			name:     "CandidateIndexOutOfRange",
			body:     sse("\n", `{"candidates":[{"index":100000000}]}`),
			wantType: "invalid_response",
		},
		{
			name:     "EndsBeforeFinish",
			body:     sse("\n", `{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}`),
			unexpEOF: true,
		},
		{
			name:     "Empty",
			body:     "",
			unexpEOF: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStream(tt.body)
			_, err := drain(t, s)
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *provider.Error", err)
			}
			if pe.Type != tt.wantType || pe.Status != tt.status {
				t.Errorf("error = %+v, want type %q status %d", pe, tt.wantType, tt.status)
			}
			if tt.unexpEOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v does not wrap io.ErrUnexpectedEOF", err)
			}
			if _, again := s.Next(); again != err {
				t.Errorf("Next after the error = %v, want the same error", again)
			}
		})
	}
}

func TestStreamClose(t *testing.T) {
	s := newTestStream(sse("\n", `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); !errors.Is(err, errClosed) {
		t.Errorf("Next after Close = %v, want errClosed", err)
	}
}

// FuzzStream checks that no upstream event stream makes the stream panic
// or yield a chunk without its Raw event.
func FuzzStream(f *testing.F) {
	f.Add(sse("\n", `{"candidates":[{"content":{"parts":[{"text":"x"},{"functionCall":{"name":"f"}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1}}`))
	f.Add(sse("\r\n", `{"promptFeedback":{"blockReason":"SAFETY"}}`))
	f.Add(sse("\n", `{"candidates":[{"index":2,"finishReason":"SAFETY"},{"index":-1}]}`))
	f.Add(sse("\n", `{"error":{"code":99999,"details":[{"@type":"x.google.rpc.RetryInfo","retryDelay":"-1s"}]}}`))
	f.Add("data: null\n\ndata: []\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		s := newTestStream(body)
		for i := 0; i < 10000; i++ {
			c, err := s.Next()
			if err != nil {
				return
			}
			if c == nil || len(c.Raw) == 0 {
				t.Fatalf("chunk %d = %+v, want one with Raw", i, c)
			}
		}
		t.Fatal("stream does not end")
	})
}
