package bench_test

// Response cache benchmarks: what a cache hit costs Chorus, in process and
// on Redis, and how it grows with the number of cached answers.
//
//	go test ./bench -run '^$' -bench 'Cache' -benchmem
//
// CacheMemoryGet and CacheRedisGet are one lookup that hits, over a cache
// holding entries=N answers, every lookup on another key in a scattered
// order (not the same few keys over and over, which would stay in the CPU
// caches). CacheKey is the key of a typical 1 KB request. CacheHit and
// CacheHitStream are the whole work of a hit between the decoded request
// and the bytes for the client: key, lookup, a fresh answer ID, encoding
// (whole, or replayed as a stream of chunks).

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/limit/limittest"
	"github.com/chorusgw/chorus/internal/orchestrate"
	"github.com/chorusgw/chorus/internal/provider"
	"github.com/chorusgw/chorus/internal/provider/openai"
)

// cacheRequest is a typical chat request of about 1 KB: a system prompt, a
// few turns, a tool, a temperature.
const cacheRequest = `{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":512,"user":"u-123",
 "messages":[
  {"role":"system","content":"You are a support assistant for an online shop. Answer briefly and politely, in the customer's language. Never invent order numbers."},
  {"role":"user","content":"Hello, I ordered a pair of shoes last week and they have not arrived yet. Can you check where my parcel is?"},
  {"role":"assistant","content":null,"tool_calls":[{"id":"call_8f3a","type":"function","function":{"name":"track_order","arguments":"{\"order_id\": \"A-20931\"}"}}]},
  {"role":"tool","tool_call_id":"call_8f3a","content":"{\"status\":\"in transit\",\"carrier\":\"DHL\",\"eta\":\"2026-11-25\"}"},
  {"role":"user","content":"Thanks. Will it come before the weekend, and can I change the delivery address?"}],
 "tools":[{"type":"function","function":{"name":"track_order","description":"Look up the shipping status of an order by its ID.",
  "parameters":{"type":"object","properties":{"order_id":{"type":"string","description":"The order ID, such as A-12345."}},"required":["order_id"]}}}]}`

// cacheAnswer is a typical answer of about 600 bytes.
func cacheAnswer() *cache.Entry {
	text := strings.Repeat("Your parcel is with DHL and should arrive on 25 November. ", 10)
	return &cache.Entry{
		Response: &provider.ChatResponse{
			ID: "chatcmpl-abc123", Model: "gpt-4o-mini-2024-07-18", Created: 1_790_000_000,
			Choices: []provider.Choice{{FinishReason: provider.FinishStop, Message: provider.TextMessage(provider.RoleAssistant, text)}},
			Usage:   provider.Usage{InputTokens: 260, OutputTokens: 120},
		},
		Model: "gpt-4o-mini", Deployment: "openai-main", Provider: "openai", Cost: 123, StoredAt: time.Now(),
	}
}

// cacheKeys returns n distinct keys.
func cacheKeys(n int) [][32]byte {
	keys := make([][32]byte, n)
	for i := range keys {
		keys[i] = cache.Key("m", &provider.ChatRequest{Messages: []provider.Message{provider.TextMessage("user", fmt.Sprint(i))}})
	}
	return keys
}

// scatter is a step coprime with every entry count used here (powers of
// ten), so i*scatter mod n visits every key in a scattered order.
const scatter = 7919

var cacheEntryCounts = []int{1, 1_000, 100_000, 1_000_000}

func BenchmarkCacheMemoryGet(b *testing.B) {
	ctx := context.Background()
	e := cacheAnswer()
	for _, n := range cacheEntryCounts {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			keys := cacheKeys(n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m := cache.NewMemory(n, 0, nil)
			for _, k := range keys {
				m.Set(ctx, k, e, time.Hour)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			if got := m.Stats().Entries; got < n*9/10 {
				b.Fatalf("%d entries held, want about %d", got, n)
			}
			i := 0
			for b.Loop() {
				if _, ok := m.Get(ctx, keys[i]); !ok {
					b.Fatal("miss")
				}
				i = (i + scatter) % n
			}
			if n >= 1000 {
				// The answer is shared: this is the cache's own overhead per entry.
				b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heapB/entry")
			}
		})
	}
}

// BenchmarkCacheMemoryGetParallel is lookups from many requests at once:
// what the shards' locks cost under contention.
func BenchmarkCacheMemoryGetParallel(b *testing.B) {
	ctx := context.Background()
	const n = 100_000
	keys := cacheKeys(n)
	m := cache.NewMemory(n, 0, nil)
	e := cacheAnswer()
	for _, k := range keys {
		m.Set(ctx, k, e, time.Hour)
	}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(time.Now().UnixNano() % n)
		for pb.Next() {
			m.Get(ctx, keys[i])
			i = (i + scatter) % n
		}
	})
}

func BenchmarkCacheRedisGet(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c := limittest.Redis(b)
			prefix := limittest.Prefix(b, c)
			r := cache.NewRedis(c, cache.RedisOptions{Timeout: time.Second, Prefix: prefix})
			keys := cacheKeys(n)
			e := cacheAnswer()
			// Fill through the cache once for the encoding, then pipelined.
			r.Set(ctx, keys[0], e, time.Hour)
			k0 := hex.EncodeToString(keys[0][:])
			val, err := c.Get(ctx, prefix+k0).Bytes()
			if err != nil {
				b.Fatal(err)
			}
			for start := 0; start < n; start += 1000 {
				p := c.Pipeline()
				for _, k := range keys[start:min(start+1000, n)] {
					p.Set(ctx, prefix+hex.EncodeToString(k[:]), val, time.Hour)
				}
				if _, err := p.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				if _, ok := r.Get(ctx, keys[i]); !ok {
					b.Fatal("miss")
				}
				i = (i + scatter) % n
			}
			b.ReportMetric(float64(len(val)), "B/value")
		})
	}
}

func BenchmarkCacheKey(b *testing.B) {
	req, err := openai.DecodeChatRequest([]byte(cacheRequest))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(cacheRequest)))
	for b.Loop() {
		cache.Key("gpt-4o-mini", req)
	}
}

// BenchmarkCacheHit is a non-streaming hit after the request is decoded:
// key, lookup in 100k entries, a fresh answer ID, the answer encoded.
func BenchmarkCacheHit(b *testing.B) {
	ctx := context.Background()
	req, err := openai.DecodeChatRequest([]byte(cacheRequest))
	if err != nil {
		b.Fatal(err)
	}
	m := cache.NewMemory(100_000, 0, nil)
	for _, k := range cacheKeys(100_000 - 1) {
		m.Set(ctx, k, cacheAnswer(), time.Hour)
	}
	m.Set(ctx, cache.Key("gpt-4o-mini", req), cacheAnswer(), time.Hour)
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		e, ok := m.Get(ctx, cache.Key("gpt-4o-mini", req))
		if !ok {
			b.Fatal("miss")
		}
		buf = openai.AppendChatResponse(buf[:0], e.Chat("chatcmpl-hit", 1_790_000_001))
	}
}

// BenchmarkCacheHitStream is a streaming hit: as BenchmarkCacheHit, with
// the answer replayed as chunks (orchestrate.Replay) and encoded as SSE.
func BenchmarkCacheHitStream(b *testing.B) {
	ctx := context.Background()
	req, err := openai.DecodeChatRequest([]byte(cacheRequest))
	if err != nil {
		b.Fatal(err)
	}
	m := cache.NewMemory(1000, 0, nil)
	m.Set(ctx, cache.Key("gpt-4o-mini", req), cacheAnswer(), time.Hour)
	buf := make([]byte, 0, 8192)
	for b.Loop() {
		e, ok := m.Get(ctx, cache.Key("gpt-4o-mini", req))
		if !ok {
			b.Fatal("miss")
		}
		st := orchestrate.Replay(e.Chat("chatcmpl-hit", 1_790_000_001))
		buf = buf[:0]
		for {
			c, err := st.Next()
			if err == io.EOF {
				break
			}
			buf = append(buf, "data: "...)
			buf = openai.AppendChunk(buf, c)
			buf = append(buf, "\n\n"...)
		}
	}
}
