package replay_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/replay"
)

const mixtral = "mistralai/Mixtral-8x7B-Instruct-v0.1"

func ask(q string) *provider.ChatRequest {
	return &provider.ChatRequest{Model: mixtral, Messages: []provider.Message{
		provider.TextMessage(provider.RoleSystem, "You are a careful tutor."),
		provider.TextMessage(provider.RoleUser, q)}}
}

func sample(t *testing.T) []replay.Record {
	t.Helper()
	recs, err := replay.Load("testdata/gsm8k_sample.csv", mixtral)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestLoadCSV(t *testing.T) {
	recs := sample(t)
	if len(recs) != 160 {
		t.Fatalf("loaded %d records, want 160", len(recs))
	}
	right := 0
	for _, r := range recs {
		if r.Prompt == "" || r.Response == "" || r.Correct == nil {
			t.Fatalf("incomplete record %+v", r)
		}
		if *r.Correct {
			right++
		}
	}
	if right == 0 || right == len(recs) {
		t.Fatalf("%d of %d right: the True/False column was not read", right, len(recs))
	}
	if _, err := replay.Load("testdata/gsm8k_sample.csv", "no-such-model"); err == nil || !strings.Contains(err.Error(), "no column") {
		t.Fatalf("unknown model: err = %v", err)
	}
}

func TestChat(t *testing.T) {
	recs := sample(t)
	c := replay.NewFromRecords(replay.Settings{Latency: 2 * time.Millisecond, TokensPerSecond: 1e6}, recs)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		// Extra spaces and line breaks still match.
		q := "  " + strings.ReplaceAll(recs[3].Prompt, " ", "  \n") + "\n"
		start := time.Now()
		resp, err := c.Chat(ctx, ask(q))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Choices[0].Message.Text(), recs[3].Response; got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
		if time.Since(start) < 2*time.Millisecond {
			t.Fatal("answered before its latency")
		}
		if resp.Usage.OutputTokens != provider.EstimateTokens(recs[3].Response) || resp.Usage.InputTokens == 0 {
			t.Fatalf("usage %+v", resp.Usage)
		}
		if !strings.HasPrefix(resp.ID, "chatcmpl-replay") || resp.Model != mixtral {
			t.Fatalf("id %q model %q", resp.ID, resp.Model)
		}
	})

	t.Run("ErrUnknownQuestion", func(t *testing.T) {
		_, err := c.Chat(ctx, ask("What is the airspeed of an unladen swallow?"))
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Status != http.StatusNotFound || pe.Retryable() || !strings.Contains(pe.Message, "no recorded answer") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("MaxTokens", func(t *testing.T) {
		n := 5
		r := ask(recs[0].Prompt)
		r.MaxTokens = &n
		resp, err := c.Chat(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].FinishReason != provider.FinishLength || len(resp.Choices[0].Message.Text()) > 20 {
			t.Fatalf("finish %q text %q", resp.Choices[0].FinishReason, resp.Choices[0].Message.Text())
		}
	})

	t.Run("Stream", func(t *testing.T) {
		st, err := c.ChatStream(ctx, ask(recs[7].Prompt))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var text strings.Builder
		var usage *provider.Usage
		var finish provider.FinishReason
		for {
			ch, err := st.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Usage != nil {
				usage = ch.Usage
			}
			for _, cc := range ch.Choices {
				text.WriteString(cc.Content)
				if cc.FinishReason != "" {
					finish = cc.FinishReason
				}
			}
		}
		if text.String() != recs[7].Response || finish != provider.FinishStop || usage == nil || usage.OutputTokens == 0 {
			t.Fatalf("streamed %q finish %q usage %v", text.String(), finish, usage)
		}
	})

	t.Run("StreamUnknownQuestion", func(t *testing.T) {
		if _, err := c.ChatStream(ctx, ask("nothing recorded")); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/gsm8k_sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "g.csv"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	jsonl := `{"prompt":"2+2?","response":"4","correct":true,"latency_ms":1}` + "\n" + `{"prompt":"3+3?","response":"7","model":"other"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "s.jsonl"), []byte(jsonl), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		dir      string
		settings map[string]any
		want     string // error text; "" for success
		n        int
	}{
		{"CSV", dir, map[string]any{"file": "g.csv", "model": mixtral, "latency_ms": 1.0}, "", 160},
		{"JSONL", dir, map[string]any{"file": "s.jsonl", "model": "m"}, "", 1},
		{"ErrNoDir", "", map[string]any{"file": "g.csv", "model": mixtral}, "replay_dir", 0},
		{"ErrOutside", dir, map[string]any{"file": "../g.csv", "model": mixtral}, "outside", 0},
		{"ErrAbsoluteOutside", dir, map[string]any{"file": "/etc/passwd.csv", "model": mixtral}, "outside", 0},
		{"ErrExtension", dir, map[string]any{"file": "g.txt"}, ".csv or .jsonl", 0},
		{"ErrFileRequired", dir, map[string]any{}, "file is required", 0},
		{"ErrUnknownSetting", dir, map[string]any{"file": "g.csv", "speed": 1.0}, "unknown", 0},
		{"ErrLatency", dir, map[string]any{"file": "g.csv", "latency_ms": -1.0}, "between", 0},
		{"ErrMissingFile", dir, map[string]any{"file": "none.csv", "model": mixtral}, "no such file", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := replay.New(provider.Config{Kind: "replay", Settings: tt.settings, ReplayDir: tt.dir})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want one saying %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Len() != tt.n {
				t.Fatalf("%d questions, want %d", c.Len(), tt.n)
			}
		})
	}
}

func TestReadJSONLErrors(t *testing.T) {
	for name, in := range map[string]string{
		"NoPrompt":     `{"response":"x"}`,
		"UnknownField": `{"prompt":"p","answer":"x"}`,
		"BadLatency":   `{"prompt":"p","latency_ms":-5}`,
		"NotJSON":      `prompt,response`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := replay.ReadJSONL(strings.NewReader(in), ""); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	if got := replay.Normalize(" a\tb \n\n c "); got != "a b c" {
		t.Fatalf("got %q", got)
	}
}
