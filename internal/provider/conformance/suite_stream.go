package conformance

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
)

// checkRaw asserts every chunk carries its upstream event in h.Format, which
// is what lets the API relay a same-format stream unchanged.
func checkRaw(t *testing.T, h Harness, chunks []*provider.StreamChunk) {
	t.Helper()
	for i, c := range chunks {
		if c.RawFormat != h.Format || len(c.Raw) == 0 {
			t.Errorf("chunk %d raw = %d bytes in %q, want the upstream event in %q", i, len(c.Raw), c.RawFormat, h.Format)
			return
		}
	}
}

// finishReasons lists every finish reason the chunks carry, in order.
func finishReasons(chunks []*provider.StreamChunk) []provider.FinishReason {
	var out []provider.FinishReason
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.FinishReason != "" {
				out = append(out, ch.FinishReason)
			}
		}
	}
	return out
}

// checkStreamUsage asserts usage is reported exactly once, with want.
func checkStreamUsage(t *testing.T, chunks []*provider.StreamChunk, want provider.Usage) {
	t.Helper()
	var got []provider.Usage
	for _, c := range chunks {
		if c.Usage != nil {
			got = append(got, *c.Usage)
		}
	}
	if len(got) != 1 {
		t.Fatalf("usage reported %d times %+v, want once", len(got), got)
	}
	if got[0] != want {
		t.Errorf("usage = %+v, want %+v", got[0], want)
	}
}

func contentChunks(chunks []*provider.StreamChunk) int {
	n := 0
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.Content != "" {
				n++
			}
		}
	}
	return n
}

func testStreamText(t *testing.T, h Harness) {
	f, p := setup(t, h, Scenario{Text: answerText, Usage: answerUsage, FinishReason: provider.FinishStop})
	req := conversation()
	req.Stream, req.IncludeUsage = true, true
	chunks, err := collect(t, p, req)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := contentOf(chunks); got != answerText {
		t.Errorf("content = %q, want %q", got, answerText)
	}
	if n := contentChunks(chunks); n < 2 {
		t.Errorf("got %d content chunks, want the text in several", n)
	}
	if fr := finishReasons(chunks); !slices.Equal(fr, []provider.FinishReason{provider.FinishStop}) {
		t.Errorf("finish reasons = %q, want exactly one stop", fr)
	}
	checkStreamUsage(t, chunks, answerUsage)
	checkRaw(t, h, chunks)
	checkConversationCaptured(t, f, true)
}

func testStreamTools(t *testing.T, h Harness) {
	f, p := setup(t, h, Scenario{ToolCalls: wantCalls, Usage: answerUsage, FinishReason: provider.FinishToolCalls})
	req := toolRequest()
	req.Stream, req.IncludeUsage = true, true
	chunks, err := collect(t, p, req)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	checkToolCalls(t, assembleToolCalls(chunks))
	if fr := finishReasons(chunks); !slices.Equal(fr, []provider.FinishReason{provider.FinishToolCalls}) {
		t.Errorf("finish reasons = %q, want exactly one tool_calls", fr)
	}
	checkStreamUsage(t, chunks, answerUsage)
	checkRaw(t, h, chunks)
	if c := f.Last(); !c.Stream || !slices.Equal(c.ToolNames, []string{"get_weather", "get_time"}) {
		t.Errorf("captured stream=%v tools=%q, want a streamed request with both tools", c.Stream, c.ToolNames)
	}
}

// assembleToolCalls rebuilds the tool calls of choice 0 from their deltas,
// as a client does: by Index, the first ID and name, arguments appended.
func assembleToolCalls(chunks []*provider.StreamChunk) []provider.ToolCall {
	var calls []provider.ToolCall
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.Index != 0 {
				continue
			}
			for _, d := range ch.ToolCalls {
				for len(calls) <= d.Index {
					calls = append(calls, provider.ToolCall{})
				}
				tc := &calls[d.Index]
				if tc.ID == "" {
					tc.ID = d.ID
				}
				if tc.Name == "" {
					tc.Name = d.Name
				}
				tc.Arguments += d.Arguments
			}
		}
	}
	return calls
}

func testMidStreamError(t *testing.T, h Harness) {
	const msg = "conformance: the upstream failed mid-stream"
	_, p := setup(t, h, Scenario{
		Text: answerText, Usage: answerUsage, FinishReason: provider.FinishStop,
		StreamErrorAfter: 2, ErrType: "overloaded_error", ErrMessage: msg,
	})
	req := conversation()
	req.Stream, req.IncludeUsage = true, true
	chunks, err := collect(t, p, req)
	if err == nil {
		t.Fatalf("stream ended cleanly after %d chunks (content %q), want the mid-stream error", len(chunks), contentOf(chunks))
	}
	pe := asProviderError(t, err)
	if pe.Message != msg {
		t.Errorf("message = %q, want %q", pe.Message, msg)
	}
	if pe.Type != "overloaded_error" {
		t.Errorf("type = %q, want overloaded_error", pe.Type)
	}
	if n := contentChunks(chunks); n != 2 {
		t.Errorf("got %d content chunks before the error, want 2", n)
	}
	if got := contentOf(chunks); got == "" || !strings.HasPrefix(answerText, got) {
		t.Errorf("content before the error = %q, want a prefix of %q", got, answerText)
	}
	if fr := finishReasons(chunks); len(fr) != 0 {
		t.Errorf("finish reasons %q before the error, want none", fr)
	}
}

// prompt is how long a cancelled or closed call may take to return.
const prompt = 3 * time.Second // well under the fake's 6 s delay, with room for a loaded CI machine

func testCancel(t *testing.T, h Harness) {
	t.Run("Chat", func(t *testing.T) {
		_, p := setup(t, h, Scenario{Text: answerText, FinishReason: provider.FinishStop, Delay: 6 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := p.Chat(ctx, conversation())
		checkCancelled(t, err, time.Since(start))
	})
	t.Run("StreamOpen", func(t *testing.T) {
		_, p := setup(t, h, Scenario{Text: answerText, FinishReason: provider.FinishStop, Delay: 6 * time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(50*time.Millisecond, cancel)
		req := conversation()
		req.Stream = true
		start := time.Now()
		s, err := p.ChatStream(ctx, req)
		if err == nil {
			defer s.Close()
			_, err = s.Next()
		}
		checkCancelled(t, err, time.Since(start))
	})
	t.Run("StreamMid", func(t *testing.T) {
		_, p := setup(t, h, slowStream())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := openFirstContent(t, ctx, p)
		defer s.Close()
		cancel()
		start := time.Now()
		for {
			_, err := s.Next()
			if err == io.EOF {
				t.Fatal("stream ended cleanly after its context was cancelled")
			}
			if err != nil {
				break
			}
			if time.Since(start) > prompt {
				t.Fatal("stream kept yielding chunks after its context was cancelled")
			}
		}
		if d := time.Since(start); d > prompt {
			t.Errorf("Next took %v after cancel, want under %v", d, prompt)
		}
	})
	t.Run("StreamClose", func(t *testing.T) {
		_, p := setup(t, h, slowStream())
		s := openFirstContent(t, callCtx(t), p)
		start := time.Now()
		_ = s.Close()
		if d := time.Since(start); d > prompt {
			t.Errorf("Close took %v, want under %v (closing must abort, not drain)", d, prompt)
		}
	})
}

// slowStream scripts a stream that would take several seconds to finish.
func slowStream() Scenario {
	return Scenario{
		Text:         strings.Repeat("slow words keep coming ", 10),
		FinishReason: provider.FinishStop,
		ChunkDelay:   300 * time.Millisecond,
	}
}

// openFirstContent opens a stream and reads until the first content delta.
func openFirstContent(t *testing.T, ctx context.Context, p provider.Provider) provider.Stream {
	t.Helper()
	req := conversation()
	req.Stream = true
	s, err := p.ChatStream(ctx, req)
	if err != nil {
		t.Fatalf("ChatStream: %v", err)
	}
	for {
		c, err := s.Next()
		if err != nil {
			s.Close()
			t.Fatalf("Next before the first content: %v", err)
		}
		if len(c.Choices) > 0 && c.Choices[0].Content != "" {
			return s
		}
	}
}

func checkCancelled(t *testing.T, err error, took time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded although its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if took > prompt {
		t.Errorf("call took %v after cancel, want under %v", took, prompt)
	}
}
