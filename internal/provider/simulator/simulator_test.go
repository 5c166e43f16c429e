package simulator_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/simulator"
)

func newSim(t *testing.T, settings map[string]any) *simulator.Client {
	t.Helper()
	c, err := simulator.New(provider.Config{Kind: "simulator", Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func chatReq(text string) *provider.ChatRequest {
	return &provider.ChatRequest{Model: "sim", Messages: []provider.Message{provider.TextMessage("user", text)}}
}

func TestChat(t *testing.T) {
	t.Run("DeterministicForSeed", func(t *testing.T) {
		a, b := newSim(t, map[string]any{"seed": 7}), newSim(t, map[string]any{"seed": 7})
		ra, err := a.Chat(context.Background(), chatReq("hi"))
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := b.Chat(context.Background(), chatReq("hi"))
		if got, want := ra.Choices[0].Message.Text(), rb.Choices[0].Message.Text(); got != want || got == "" {
			t.Fatalf("answers differ or empty: %q vs %q", got, want)
		}
		c := newSim(t, map[string]any{"seed": 8})
		rc, _ := c.Chat(context.Background(), chatReq("hi"))
		if rc.Choices[0].Message.Text() == ra.Choices[0].Message.Text() {
			t.Fatal("different seeds gave the same answer")
		}
	})
	t.Run("MaxTokensTruncates", func(t *testing.T) {
		c := newSim(t, map[string]any{"output_tokens": 20})
		req := chatReq("hi")
		three := 3
		req.MaxTokens = &three
		r, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Usage.OutputTokens, 3; got != want {
			t.Fatalf("output tokens = %d, want %d", got, want)
		}
		if r.Choices[0].FinishReason != provider.FinishLength {
			t.Fatalf("finish = %q, want length", r.Choices[0].FinishReason)
		}
	})
	t.Run("Echo", func(t *testing.T) {
		c := newSim(t, map[string]any{"text": "echo"})
		r, _ := c.Chat(context.Background(), chatReq("say these words"))
		if got, want := r.Choices[0].Message.Text(), "say these words"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("ErrorRate", func(t *testing.T) {
		c := newSim(t, map[string]any{"error_rate": 0.5, "error_status": 503, "seed": 1})
		fails := 0
		for i := 0; i < 1000; i++ {
			_, err := c.Chat(context.Background(), chatReq("x"))
			var pe *provider.Error
			if errors.As(err, &pe) {
				if pe.Status != 503 {
					t.Fatalf("status = %d", pe.Status)
				}
				fails++
			}
		}
		if fails < 400 || fails > 600 {
			t.Fatalf("fails = %d of 1000, want about 500", fails)
		}
	})
	t.Run("ToolCall", func(t *testing.T) {
		c := newSim(t, nil)
		req := chatReq("weather in Paris")
		req.Tools = []provider.Tool{{Name: "get_weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}}
		r, err := c.Chat(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		tc := r.Choices[0].Message.ToolCalls
		if len(tc) != 1 || tc[0].Name != "get_weather" || !strings.Contains(tc[0].Arguments, `"city"`) {
			t.Fatalf("tool calls = %+v", tc)
		}
		if r.Choices[0].FinishReason != provider.FinishToolCalls {
			t.Fatalf("finish = %q", r.Choices[0].FinishReason)
		}
	})
	t.Run("BadSettings", func(t *testing.T) {
		if _, err := simulator.New(provider.Config{Settings: map[string]any{"error_rate": 2.0}}); err == nil {
			t.Fatal("error_rate 2 accepted")
		}
		if _, err := simulator.New(provider.Config{Settings: map[string]any{"latency_ms": "soon"}}); err == nil {
			t.Fatal("latency_ms soon accepted")
		}
	})
}

func TestStream(t *testing.T) {
	c := newSim(t, map[string]any{"output_tokens": 10, "ttft_ms": 30, "tokens_per_second": 500})
	start := time.Now()
	s, err := c.ChatStream(context.Background(), chatReq("hi"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var text strings.Builder
	var usage *provider.Usage
	var first time.Duration
	finishes := 0
	for {
		ch, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, cc := range ch.Choices {
			if cc.Content != "" && first == 0 {
				first = time.Since(start)
			}
			text.WriteString(cc.Content)
			if cc.FinishReason != "" {
				finishes++
			}
		}
		if ch.Usage != nil {
			usage = ch.Usage
		}
	}
	if first < 30*time.Millisecond {
		t.Fatalf("first token after %v, want >= 30ms", first)
	}
	if got := len(strings.Fields(text.String())); got != 10 {
		t.Fatalf("streamed %d words, want 10", got)
	}
	if finishes != 1 || usage == nil || usage.OutputTokens != 10 {
		t.Fatalf("finishes=%d usage=%+v", finishes, usage)
	}
}

func TestStreamCancel(t *testing.T) {
	c := newSim(t, map[string]any{"output_tokens": 1000, "tokens_per_second": 10})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.ChatStream(ctx, chatReq("hi"))
	if err != nil {
		t.Fatal(err)
	}
	s.Next()
	s.Next()
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	for {
		if _, err := s.Next(); err != nil {
			break
		}
	}
	if time.Since(start) > time.Second {
		t.Fatal("stream did not stop on cancel")
	}
}

func TestEmbed(t *testing.T) {
	c := newSim(t, map[string]any{"dimensions": 8})
	r, err := c.Embed(context.Background(), &provider.EmbeddingRequest{Model: "e", Input: []string{"a", "b", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Data) != 3 || len(r.Data[0]) != 8 {
		t.Fatalf("shape %d x %d", len(r.Data), len(r.Data[0]))
	}
	for i := range r.Data[0] {
		if r.Data[0][i] != r.Data[2][i] {
			t.Fatal("equal inputs gave different vectors")
		}
	}
}

func TestQualityMarks(t *testing.T) {
	weak, strong := newSim(t, map[string]any{"quality": 0.3}), newSim(t, map[string]any{"quality": 0.9})
	var weakRight, strongRight, n int
	for i := 0; i < 500; i++ {
		p := "question " + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		rw, _ := weak.Chat(context.Background(), chatReq(p))
		rs, _ := strong.Chat(context.Background(), chatReq(p))
		w := strings.HasSuffix(rw.Choices[0].Message.Text(), simulator.CorrectMark)
		s := strings.HasSuffix(rs.Choices[0].Message.Text(), simulator.CorrectMark)
		if w && !s {
			t.Fatalf("prompt %q: the weak model is right where the strong one is wrong", p)
		}
		if !w && !strings.HasSuffix(rw.Choices[0].Message.Text(), simulator.WrongMark) {
			t.Fatalf("answer has no mark: %q", rw.Choices[0].Message.Text())
		}
		n++
		if w {
			weakRight++
		}
		if s {
			strongRight++
		}
	}
	if f := float64(weakRight) / float64(n); f < 0.2 || f > 0.4 {
		t.Fatalf("weak right %.2f of the time, want about 0.3", f)
	}
	if f := float64(strongRight) / float64(n); f < 0.8 || f > 0.97 {
		t.Fatalf("strong right %.2f of the time, want about 0.9", f)
	}
	if plain, _ := newSim(t, nil).Chat(context.Background(), chatReq("q")); strings.Contains(plain.Choices[0].Message.Text(), "[") {
		t.Fatal("marks without a quality setting")
	}
}

func TestLatencyTail(t *testing.T) {
	c := newSim(t, map[string]any{"latency_ms": 1, "tail_rate": 0.5, "tail_latency_ms": 40, "seed": 3})
	slow := 0
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := c.Chat(context.Background(), chatReq("x")); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) >= 40*time.Millisecond {
			slow++
		}
	}
	if slow < 4 || slow > 16 {
		t.Fatalf("%d of 20 calls in the tail, want about 10", slow)
	}
}

// TestTokenClasses: cached_fraction and reasoning_tokens report cached
// input and reasoning output, streamed or not.
func TestTokenClasses(t *testing.T) {
	c := newSim(t, map[string]any{"output_tokens": 4, "cached_fraction": 0.5, "reasoning_tokens": 7})
	req := chatReq(strings.Repeat("word ", 40))
	in := provider.EstimateInputTokens(req)
	want := provider.Usage{InputTokens: in, CachedInputTokens: in / 2, OutputTokens: 4 + 7, ReasoningTokens: 7}
	r, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Usage != want {
		t.Errorf("Chat usage = %+v, want %+v", r.Usage, want)
	}
	s, err := c.ChatStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got *provider.Usage
	for {
		ch, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.Usage != nil {
			got = ch.Usage
		}
	}
	if got == nil || *got != want {
		t.Errorf("stream usage = %+v, want %+v", got, want)
	}
	if _, err := simulator.ParseSettings(map[string]any{"cached_fraction": 1.5}); err == nil {
		t.Error("cached_fraction 1.5 accepted")
	}
}
