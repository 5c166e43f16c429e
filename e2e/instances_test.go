package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/conformance"
	"github.com/chorusgw/chorus/internal/provider/openai/openaitest"
)

// eventually retries check every 25 ms until it returns "" or d passes,
// and returns how long it took.
func eventually(t *testing.T, d time.Duration, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := check()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestTwoInstances runs two gateways on one database, as a scaled-out
// deployment does: a change made through one reaches the other by polling.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	edit := func(c *config.Config) {
		c.DataDir = data
		c.Registry.PollInterval = 100 * time.Millisecond
	}
	a := startGateway(t, edit)
	b := startGateway(t, edit)
	a.simulated("shared", map[string]any{"text": "from the shared registry"})
	key := a.customer()
	bc := b.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)

	took := eventually(t, 3*time.Second, func() string {
		resp, err := bc.Chat.Completions.New(ctx, chatParams("shared", "hi"))
		if err != nil {
			return fmt.Sprintf("instance b: %v", err)
		}
		if got := resp.Choices[0].Message.Content; got != "from the shared registry" {
			return "instance b answered " + got
		}
		return ""
	})
	t.Logf("instance b saw the new model and key after %v", took)

	a.mustAdmin("DELETE", fmt.Sprintf("/api/admin/keys/%d", key.ID), nil, http.StatusNoContent, nil)
	took = eventually(t, 3*time.Second, func() string {
		if _, err := bc.Models.List(ctx); err == nil {
			return "instance b still accepts the revoked key"
		}
		return ""
	})
	if took > time.Second {
		t.Errorf("instance b accepted a revoked key for %v; the poll interval is 100ms", took)
	}

	// Both instances' usage lands in the one database.
	k2 := a.customer()
	for _, g := range []*gateway{a, b} {
		if _, err := g.openAI(k2.Key).Chat.Completions.New(ctx, chatParams("shared", "hi")); err != nil {
			// b may not have seen k2 yet.
			eventually(t, 3*time.Second, func() string {
				if _, err := g.openAI(k2.Key).Chat.Completions.New(ctx, chatParams("shared", "hi")); err != nil {
					return err.Error()
				}
				return ""
			})
		}
	}
	if recs := a.waitUsage(k2.ID, 2); recs[0].RequestID == recs[1].RequestID {
		t.Errorf("two requests share one record: %+v", recs)
	}
}

// TestDisabledUser checks disabling a user (a store change, as a console
// would make it) stops their keys without a restart.
func TestDisabledUser(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *config.Config) { c.Registry.PollInterval = 100 * time.Millisecond })
	g.simulated("sim", nil)
	key := g.customer()
	c := g.openAI(key.Key)
	ctx := testContext(t, 30*time.Second)
	if _, err := c.Chat.Completions.New(ctx, chatParams("sim", "hi")); err != nil {
		t.Fatal(err)
	}
	u, err := g.App.DB.UserByID(context.Background(), key.UserID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u.DisabledAt = &now
	if err := g.App.DB.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, func() string {
		_, err := c.Chat.Completions.New(ctx, chatParams("sim", "hi"))
		if err == nil {
			return "a disabled user's key still works"
		}
		wantOpenAIError(t, err, 401, "authentication_error", "invalid_api_key")
		return ""
	})
}

// TestStreamingIsIncremental checks streams are relayed chunk by chunk as
// the upstream produces them, not buffered: the first token reaches the
// client long before the last.
func TestStreamingIsIncremental(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.simulated("paced", map[string]any{"output_tokens": 8, "tokens_per_second": 10})
	oai := openaitest.New(t)
	oai.Script(conformance.Scenario{Text: "one two three four five six", FinishReason: provider.FinishStop,
		Usage: provider.Usage{InputTokens: 3, OutputTokens: 6}, ChunkDelay: 80 * time.Millisecond})
	g.upstream("gpt", "openai", oai.URL(), "gpt-up", "sk-1")
	key := g.customer()

	// Each subtest makes its context after t.Parallel: a parallel subtest
	// may wait for a free slot longer than any deadline set before.
	for _, model := range []string{"paced", "gpt"} {
		t.Run("OpenAI/"+model, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 30*time.Second)
			start := time.Now()
			s := g.openAI(key.Key).Chat.Completions.NewStreaming(ctx, chatParams(model, "hi"))
			var first, last time.Duration
			for s.Next() {
				if c := s.Current(); len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
					if first == 0 {
						first = time.Since(start)
					}
					last = time.Since(start)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if last-first < 350*time.Millisecond {
				t.Errorf("content arrived between %v and %v: the stream was buffered", first, last)
			}
		})
		t.Run("Anthropic/"+model, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 30*time.Second)
			start := time.Now()
			s := g.anthropic(key.Key).Messages.NewStreaming(ctx, messageParams(model, "hi"))
			var first, last time.Duration
			for s.Next() {
				if ev := s.Current(); ev.Type == "content_block_delta" {
					if first == 0 {
						first = time.Since(start)
					}
					last = time.Since(start)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if last-first < 350*time.Millisecond {
				t.Errorf("content arrived between %v and %v: the stream was buffered", first, last)
			}
		})
	}
}
