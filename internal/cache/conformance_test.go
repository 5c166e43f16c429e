package cache_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/provider"
)

// backend is one Cache under the conformance table, with a way to let
// time pass for it.
type backend struct {
	name    string
	new     func(t *testing.T) (c cache.Cache, advance func(time.Duration))
	realTTL bool // TTLs run on a real clock (Redis): keep them short
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func backends() []backend {
	return []backend{
		{name: "Memory", new: func(t *testing.T) (cache.Cache, func(time.Duration)) {
			clk := newFakeClock()
			return cache.NewMemory(1000, 64<<20, clk.Now), clk.Advance
		}},
		{name: "Redis", realTTL: true, new: func(t *testing.T) (cache.Cache, func(time.Duration)) {
			c := mustRedis(t)
			return cache.NewRedis(c, cache.RedisOptions{Timeout: 2 * time.Second, Prefix: testPrefix(t, c)}), time.Sleep
		}},
		{name: "Tiered", realTTL: true, new: func(t *testing.T) (cache.Cache, func(time.Duration)) {
			c := mustRedis(t)
			l2 := cache.NewRedis(c, cache.RedisOptions{Timeout: 2 * time.Second, Prefix: testPrefix(t, c)})
			return &cache.Tiered{L1: cache.NewMemory(1000, 64<<20, nil), L2: l2}, time.Sleep
		}},
	}
}

// chatEntry is an answer with every field set, to see each one survive.
func chatEntry() *cache.Entry {
	return &cache.Entry{
		Response: &provider.ChatResponse{
			ID: "chatcmpl-1", Model: "gpt-x-2025", Created: 1_700_000_000, SystemFingerprint: "fp_1",
			Usage: provider.Usage{InputTokens: 12, OutputTokens: 34, CachedInputTokens: 5, ReasoningTokens: 6},
			Choices: []provider.Choice{
				{Index: 0, FinishReason: provider.FinishStop, Message: provider.TextMessage(provider.RoleAssistant, "Hello, wörld ✓")},
				{Index: 1, FinishReason: provider.FinishToolCalls, Message: provider.Message{
					Role: provider.RoleAssistant, Name: "bot",
					ToolCalls: []provider.ToolCall{{ID: "call_1", Name: "f", Arguments: `{"a":1}`}, {ID: "call_2", Name: "g"}},
				}},
			},
			Raw: []byte(`{"raw":true}`), RawFormat: provider.FormatOpenAI,
		},
		Model: "public-model", Deployment: "dep-a", Provider: "openai", Cost: 1234,
		StoredAt: time.Unix(1_800_000_000, 123).UTC(),
	}
}

func embeddingEntry() *cache.Entry {
	return &cache.Entry{
		Embedding: &provider.EmbeddingResponse{
			Model: "emb-1", Data: [][]float32{{0.25, -1.5, 3e-7}, {}}, Usage: provider.Usage{InputTokens: 9},
		},
		Model: "emb", Deployment: "dep-e", Provider: "simulator", Cost: 7,
		StoredAt: time.Unix(1_800_000_001, 0).UTC(),
	}
}

// sameEntry compares what a cache returned with what was stored, apart from
// Raw (cleared on Set) and Expires (set by the cache).
func sameEntry(t *testing.T, got, want *cache.Entry) {
	t.Helper()
	w := *want
	if w.Response != nil {
		r := *w.Response
		r.Raw, r.RawFormat = nil, ""
		w.Response = &r
	}
	g := *got
	g.Expires = time.Time{}
	g.StoredAt, w.StoredAt = g.StoredAt.UTC(), w.StoredAt.UTC()
	if !reflect.DeepEqual(&g, &w) {
		t.Fatalf("got  %+v\nwant %+v", &g, &w)
	}
}

func TestConformance(t *testing.T) {
	ctx := context.Background()
	key := func(s string) [32]byte {
		return cache.Key(s, &provider.ChatRequest{Messages: []provider.Message{provider.TextMessage("user", s)}})
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Run("Miss", func(t *testing.T) {
				c, _ := b.new(t)
				if e, ok := c.Get(ctx, key("absent")); ok || e != nil {
					t.Fatalf("Get of an absent key = %v, %v", e, ok)
				}
			})
			t.Run("ChatRoundTrip", func(t *testing.T) {
				c, _ := b.new(t)
				want := chatEntry()
				c.Set(ctx, key("chat"), want, time.Hour)
				got, ok := c.Get(ctx, key("chat"))
				if !ok {
					t.Fatal("miss after Set")
				}
				sameEntry(t, got, want)
				if got.Response.Raw != nil || got.Response.RawFormat != "" {
					t.Fatal("Raw kept: entries must be canonical")
				}
				if want.Response.Raw == nil {
					t.Fatal("Set changed the caller's entry")
				}
				if d := time.Until(got.Expires); b.realTTL && (d <= 0 || d > time.Hour) {
					t.Fatalf("Expires in %v, want within the hour", d)
				}
			})
			t.Run("EmbeddingRoundTrip", func(t *testing.T) {
				c, _ := b.new(t)
				want := embeddingEntry()
				c.Set(ctx, key("emb"), want, time.Hour)
				got, ok := c.Get(ctx, key("emb"))
				if !ok {
					t.Fatal("miss after Set")
				}
				sameEntry(t, got, want)
			})
			t.Run("Overwrite", func(t *testing.T) {
				c, _ := b.new(t)
				c.Set(ctx, key("k"), chatEntry(), time.Hour)
				second := embeddingEntry()
				c.Set(ctx, key("k"), second, time.Hour)
				got, ok := c.Get(ctx, key("k"))
				if !ok {
					t.Fatal("miss after Set")
				}
				sameEntry(t, got, second)
			})
			t.Run("KeysApart", func(t *testing.T) {
				c, _ := b.new(t)
				c.Set(ctx, key("a"), chatEntry(), time.Hour)
				if _, ok := c.Get(ctx, key("b")); ok {
					t.Fatal("hit on another key")
				}
			})
			t.Run("NoTTLNoStore", func(t *testing.T) {
				c, _ := b.new(t)
				c.Set(ctx, key("zero"), chatEntry(), 0)
				if _, ok := c.Get(ctx, key("zero")); ok {
					t.Fatal("stored with ttl 0")
				}
			})
			t.Run("Expiry", func(t *testing.T) {
				c, advance := b.new(t)
				ttl := time.Hour
				if b.realTTL {
					ttl = 150 * time.Millisecond
				}
				c.Set(ctx, key("ttl"), chatEntry(), ttl)
				if _, ok := c.Get(ctx, key("ttl")); !ok {
					t.Fatal("miss before expiry")
				}
				advance(ttl + ttl/2)
				if _, ok := c.Get(ctx, key("ttl")); ok {
					t.Fatal("hit after expiry")
				}
			})
			t.Run("Concurrent", func(t *testing.T) {
				c, _ := b.new(t)
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						k := key(string(rune('a' + i)))
						for range 50 {
							c.Set(ctx, k, chatEntry(), time.Hour)
							if _, ok := c.Get(ctx, k); !ok {
								t.Error("miss after Set")
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		})
	}
}
