package chorus_test

import (
	"math"
	"testing"

	"github.com/chorusgw/chorus"
)

func price(v int64) *int64 { return &v }

func TestTokenCost(t *testing.T) {
	// 3 and 15 credits per million input and output tokens; cache reads at a
	// tenth, cache writes at 1.25 times, reasoning at the output price.
	full := chorus.Prices{Input: 3_000_000, Output: 15_000_000,
		CachedInput: price(300_000), CacheWrite: price(3_750_000), Reasoning: price(15_000_000)}
	for _, tt := range []struct {
		name string
		u    chorus.TokenCounts
		p    chorus.Prices
		want int64
	}{
		{"Zero", chorus.TokenCounts{}, full, 0},
		{"Free", chorus.TokenCounts{Input: 1000, Output: 1000, CachedInput: 500, Reasoning: 10}, chorus.Prices{}, 0},
		{"PlainInputOutput", chorus.TokenCounts{Input: 1000, Output: 200}, full, 3000 + 3000},
		// Without optional prices every class costs what RequestCost says,
		// rounded as one line per side: 1001 tokens at 1 micro-credit per
		// million is 1 micro-credit, not 1 per class.
		{"DefaultsCached", chorus.TokenCounts{Input: 1001, CachedInput: 500}, chorus.Prices{Input: 1}, 1},
		{"DefaultsCacheWrite", chorus.TokenCounts{Input: 1001, CacheWrite: 500}, chorus.Prices{Input: 1}, 1},
		{"DefaultsReasoning", chorus.TokenCounts{Output: 1001, Reasoning: 500}, chorus.Prices{Output: 1}, 1},
		{"DefaultsAll", chorus.TokenCounts{Input: 10_000, Output: 3000, CachedInput: 4000, CacheWrite: 2000, Reasoning: 1000},
			chorus.Prices{Input: 3_000_000, Output: 15_000_000}, chorus.RequestCost(10_000, 3000, 3_000_000, 15_000_000)},
		// 1000 input of which 600 cached: 400 × 3 + 600 × 0.3 = 1200 + 180.
		{"Cached", chorus.TokenCounts{Input: 1000, CachedInput: 600}, full, 1200 + 180},
		// 1000 input of which 600 written: 400 × 3 + 600 × 3.75 = 1200 + 2250.
		{"CacheWrite", chorus.TokenCounts{Input: 1000, CacheWrite: 600}, full, 1200 + 2250},
		// 1000 output of which 400 reasoning at 60 credits: 600 × 15 + 400 × 60.
		{"Reasoning", chorus.TokenCounts{Output: 1000, Reasoning: 400},
			chorus.Prices{Output: 15_000_000, Reasoning: price(60_000_000)}, 9000 + 24_000},
		{"ReasoningDefault", chorus.TokenCounts{Output: 1000, Reasoning: 400}, chorus.Prices{Output: 15_000_000}, 15_000},
		{"ZeroCachedPrice", chorus.TokenCounts{Input: 1000, CachedInput: 1000}, chorus.Prices{Input: 3_000_000, CachedInput: price(0)}, 0},
		{"EveryClass", chorus.TokenCounts{Input: 10_000, Output: 3000, CachedInput: 4000, CacheWrite: 2000, Reasoning: 1000}, full,
			4000*3 + 4000*3/10 + 2000*15/4 + 2000*15 + 1000*15},
		// Each price's tokens round up on their own: 1 uncached token at 3
		// credits per million is 3 micro-credits; 1 cached at 0.3 rounds up
		// to 1; 1 written at 3.75 rounds up to 4; 1 reasoning at 15 is 15.
		{"RoundsEachPriceUp", chorus.TokenCounts{Input: 3, Output: 1, CachedInput: 1, CacheWrite: 1, Reasoning: 1}, full, 3 + 1 + 4 + 15},
		// Classes at one price share a line: 3 tokens at 0.3 credits per
		// million are 0.9 micro-credits, rounded up once to 1 (not 3).
		{"SamePriceOneLine", chorus.TokenCounts{Input: 3, CachedInput: 1, CacheWrite: 1},
			chorus.Prices{Input: 300_000, CachedInput: price(300_000), CacheWrite: price(300_000)}, 1},
		{"InputAndOutputRoundApart", chorus.TokenCounts{Input: 1, Output: 1}, chorus.Prices{Input: 1, Output: 1}, 2},
		// An upstream reporting more cached than input tokens is capped.
		{"CachedCapped", chorus.TokenCounts{Input: 100, CachedInput: 500, CacheWrite: 50}, full, 30},
		{"WriteCapped", chorus.TokenCounts{Input: 100, CachedInput: 60, CacheWrite: 500}, full, 18 + 150},
		{"ReasoningCapped", chorus.TokenCounts{Output: 100, Reasoning: 900}, chorus.Prices{Output: 1_000_000, Reasoning: price(2_000_000)}, 200},
		{"Negative", chorus.TokenCounts{Input: -5, Output: -5, CachedInput: -1}, full, 0},
		{"Saturates", chorus.TokenCounts{Input: math.MaxInt64, Output: math.MaxInt64}, full, math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := chorus.TokenCost(tt.u, tt.p); got != tt.want {
				t.Errorf("TokenCost(%+v) = %d, want %d", tt.u, got, tt.want)
			}
		})
	}
}

func TestMaxCost(t *testing.T) {
	for _, tt := range []struct {
		name    string
		p       chorus.Prices
		in, out int64
		want    int64
	}{
		{"Defaults", chorus.Prices{Input: 3_000_000, Output: 15_000_000}, 1000, 100, 3000 + 1500},
		{"CacheWriteDearest", chorus.Prices{Input: 3_000_000, Output: 15_000_000, CachedInput: price(300_000), CacheWrite: price(3_750_000)},
			1000, 100, 3750 + 1500 + 2},
		{"CachedDearest", chorus.Prices{Input: 3_000_000, Output: 15_000_000, CachedInput: price(5_000_000)}, 1000, 100, 5000 + 1500 + 1},
		{"ReasoningDearer", chorus.Prices{Input: 3_000_000, Output: 15_000_000, Reasoning: price(60_000_000)}, 1000, 100, 3000 + 6000 + 1},
		{"ReasoningCheaper", chorus.Prices{Input: 3_000_000, Output: 15_000_000, Reasoning: price(1)}, 1000, 100, 3000 + 1500 + 1},
		{"NoTokens", chorus.Prices{Input: 3, Output: 15, CachedInput: price(1), Reasoning: price(60)}, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.MaxCost(tt.in, tt.out); got != tt.want {
				t.Errorf("MaxCost(%d, %d) = %d, want %d", tt.in, tt.out, got, tt.want)
			}
		})
	}
}

// TestMaxCostBounds: for every split of a few tokens into classes, at
// prices so small that each class rounds up to a whole micro-credit on its
// own, TokenCost never exceeds MaxCost (1 cached, 1 written and 1 uncached
// token cost 3 micro-credits, where 3 tokens at the dearest price cost 1).
func TestMaxCostBounds(t *testing.T) {
	p := chorus.Prices{Input: 1, Output: 5, CachedInput: price(2), CacheWrite: price(3), Reasoning: price(7)}
	for in := int64(0); in <= 6; in++ {
		for cached := int64(0); cached <= in; cached++ {
			for written := int64(0); cached+written <= in; written++ {
				for out := int64(0); out <= 3; out++ {
					for r := int64(0); r <= out; r++ {
						u := chorus.TokenCounts{Input: in, Output: out, CachedInput: cached, CacheWrite: written, Reasoning: r}
						if got, bound := chorus.TokenCost(u, p), p.MaxCost(in, out); got > bound {
							t.Errorf("TokenCost(%+v) = %d > MaxCost = %d", u, got, bound)
						}
					}
				}
			}
		}
	}
}

func TestRequestCost(t *testing.T) {
	for _, tt := range []struct {
		name      string
		in, out   int64
		inP, outP int64
		want      int64
	}{
		{"Zero", 0, 0, 1, 1, 0},
		{"Exact", 1_000_000, 1_000_000, 1, 2, 3},
		{"RoundsEachSideUp", 1, 1, 1, 1, 2},
		{"Saturates", math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64, math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := chorus.RequestCost(tt.in, tt.out, tt.inP, tt.outP); got != tt.want {
				t.Errorf("RequestCost = %d, want %d", got, tt.want)
			}
		})
	}
}
