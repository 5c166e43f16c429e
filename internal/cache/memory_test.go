package cache_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/cache"
	"github.com/chorusgw/chorus/internal/provider"
)

func numKey(i int) [32]byte {
	return cache.Key("m", &provider.ChatRequest{Messages: []provider.Message{provider.TextMessage("user", strconv.Itoa(i))}})
}

// textEntry is an answer of about n bytes of text.
func textEntry(n int) *cache.Entry {
	return &cache.Entry{Response: &provider.ChatResponse{Choices: []provider.Choice{{
		FinishReason: provider.FinishStop, Message: provider.TextMessage(provider.RoleAssistant, strings.Repeat("x", n)),
	}}}}
}

func has(c cache.Cache, i int) bool {
	_, ok := c.Get(context.Background(), numKey(i))
	return ok
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	t.Run("EvictsLeastRecentlyUsedByCount", func(t *testing.T) {
		m := cache.NewMemory(3, 0, nil)
		for i := range 3 {
			m.Set(ctx, numKey(i), textEntry(10), time.Hour)
		}
		has(m, 0) // 0 is now the most recently used; 1 the least
		m.Set(ctx, numKey(3), textEntry(10), time.Hour)
		for i, want := range []bool{true, false, true, true} {
			if got := has(m, i); got != want {
				t.Fatalf("entry %d present = %v, want %v", i, got, want)
			}
		}
		if st := m.Stats(); st.Entries != 3 || st.Evictions != 1 {
			t.Fatalf("stats = %+v, want 3 entries, 1 eviction", st)
		}
	})
	t.Run("EvictsByBytes", func(t *testing.T) {
		m := cache.NewMemory(1000, 3000, nil)
		for i := range 10 {
			m.Set(ctx, numKey(i), textEntry(500), time.Hour)
		}
		st := m.Stats()
		if st.Bytes > 3000 || st.Entries < 2 || st.Entries > 5 {
			t.Fatalf("stats = %+v, want at most 3000 bytes in a few entries", st)
		}
		if !has(m, 9) || has(m, 0) {
			t.Fatal("want the newest kept and the oldest evicted")
		}
	})
	t.Run("RefusesEntryOverBound", func(t *testing.T) {
		m := cache.NewMemory(10, 2000, nil)
		m.Set(ctx, numKey(1), textEntry(100), time.Hour)
		m.Set(ctx, numKey(2), textEntry(5000), time.Hour)
		if has(m, 2) || !has(m, 1) {
			t.Fatal("an entry over the byte bound was stored, or evicted the others")
		}
	})
	t.Run("OverwriteKeepsSizeExact", func(t *testing.T) {
		m := cache.NewMemory(10, 0, nil)
		m.Set(ctx, numKey(1), textEntry(1000), time.Hour)
		big := m.Stats().Bytes
		m.Set(ctx, numKey(1), textEntry(10), time.Hour)
		if st := m.Stats(); st.Entries != 1 || st.Bytes >= big {
			t.Fatalf("after overwrite: %+v (was %d bytes)", st, big)
		}
	})
	t.Run("ExpiresWithInjectedClock", func(t *testing.T) {
		clk := newFakeClock()
		m := cache.NewMemory(10, 0, clk.Now)
		m.Set(ctx, numKey(1), textEntry(1), time.Minute)
		m.Set(ctx, numKey(2), textEntry(1), time.Hour)
		clk.Advance(time.Minute - time.Nanosecond)
		if !has(m, 1) {
			t.Fatal("expired early")
		}
		clk.Advance(time.Nanosecond)
		if has(m, 1) {
			t.Fatal("alive at its TTL")
		}
		if !has(m, 2) {
			t.Fatal("the longer TTL expired too")
		}
		if st := m.Stats(); st.Entries != 1 || st.Expired != 1 {
			t.Fatalf("stats = %+v, want the dead entry removed", st)
		}
		e, _ := m.Get(ctx, numKey(2))
		if want := clk.Now().Add(time.Hour - time.Minute); !e.Expires.Equal(want) {
			t.Fatalf("Expires = %v, want %v", e.Expires, want)
		}
	})
	t.Run("ShardedHoldsItsBound", func(t *testing.T) {
		const max = 10_000
		m := cache.NewMemory(max, 0, nil)
		for i := range max {
			m.Set(ctx, numKey(i), textEntry(1), time.Hour)
		}
		for i := range max {
			if !has(m, i) {
				t.Fatalf("entry %d of %d evicted before the cache was full", i, max)
			}
		}
	})
	t.Run("ShardedStaysBounded", func(t *testing.T) {
		const max = 10_000
		m := cache.NewMemory(max, 0, nil)
		for i := range 3 * max {
			m.Set(ctx, numKey(i), textEntry(1), time.Hour)
		}
		st := m.Stats()
		if st.Entries > max+16 || st.Entries < max-16 {
			t.Fatalf("%d entries, want %d (give or take one per shard)", st.Entries, max)
		}
		if !has(m, 3*max-1) {
			t.Fatal("newest entry evicted")
		}
	})
}

func TestTieredFillsL1WithRemainingTTL(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	l1, l2 := cache.NewMemory(10, 0, clk.Now), cache.NewMemory(10, 0, clk.Now)
	tc := &cache.Tiered{L1: l1, L2: l2}
	l2.Set(ctx, numKey(1), textEntry(1), time.Hour)
	clk.Advance(30 * time.Minute)
	if !has(tc, 1) {
		t.Fatal("miss on an L2 entry")
	}
	if !has(l1, 1) {
		t.Fatal("L2 hit not copied to L1")
	}
	clk.Advance(31 * time.Minute)
	if has(l1, 1) {
		t.Fatal("L1 copy outlived the L2 entry")
	}
	tc.Set(ctx, numKey(2), textEntry(1), time.Hour)
	if !has(l1, 2) || !has(l2, 2) {
		t.Fatal("Set did not reach both tiers")
	}
}
