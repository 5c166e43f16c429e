package chorus

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// Cost returns the cost in micro-credits of tokens at a price given in
// micro-credits per million tokens.
//
// This is the one rounding rule of Chorus: the exact product is divided by one
// million and rounded up (ceiling) to the next whole micro-credit, so a
// request never costs less than what it consumed and a priced request with at
// least one token never costs zero. Input and output are rounded separately
// and then added, so a line item always equals the sum of its parts. The
// product is computed in 128 bits; a result beyond int64 saturates.
func Cost(tokens, pricePerMillion int64) int64 {
	if tokens <= 0 || pricePerMillion <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(pricePerMillion))
	if hi >= 1_000_000 {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, 1_000_000)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// RequestCost returns the cost of input and output tokens at one input and
// one output price: TokenCost without the optional prices.
func RequestCost(inputTokens, outputTokens, inputPrice, outputPrice int64) int64 {
	return addSaturated(Cost(inputTokens, inputPrice), Cost(outputTokens, outputPrice))
}

// Prices are what one deployment charges, in micro-credits per million
// tokens. The optional prices are nil when the deployment states none: then
// cached and cache-write input tokens are charged at Input, reasoning tokens
// at Output.
type Prices struct {
	Input, Output int64
	CachedInput   *int64 // input tokens read from the provider's prompt cache
	CacheWrite    *int64 // input tokens written to the provider's prompt cache
	Reasoning     *int64 // output tokens spent on reasoning
}

// MaxCost is the most TokenCost may charge for in input and out output
// tokens however they split into classes: every input token at the dearest
// input price (a cache write, usually), every output token at the dearer of
// output and reasoning, plus the micro-credit each further price's own
// rounding up may add. Worst-case quotes use it, so holds stay an upper
// bound of what settlement charges.
func (p Prices) MaxCost(in, out int64) int64 {
	ins := []int64{p.Input, priceOr(p.CachedInput, p.Input), priceOr(p.CacheWrite, p.Input)}
	outs := []int64{p.Output, priceOr(p.Reasoning, p.Output)}
	c := RequestCost(in, out, slices.Max(ins), slices.Max(outs))
	if in > 0 {
		c = addSaturated(c, distinct(ins)-1)
	}
	if out > 0 {
		c = addSaturated(c, distinct(outs)-1)
	}
	return c
}

// distinct returns how many different values v holds (v is short).
func distinct(v []int64) int64 {
	var n int64
	for i := range v {
		if !slices.Contains(v[:i], v[i]) {
			n++
		}
	}
	return n
}

// TokenCounts are the tokens of one upstream call by class. Input counts
// every prompt token, CachedInput and CacheWrite included; Output counts
// every generated token, Reasoning included.
type TokenCounts struct {
	Input, Output           int64
	CachedInput, CacheWrite int64 // parts of Input
	Reasoning               int64 // part of Output
}

// TokenCost returns the cost of one upstream call: uncached input at
// p.Input, cached input at p.CachedInput, cache writes at p.CacheWrite,
// reasoning at p.Reasoning and the rest of the output at p.Output (each
// optional price defaulting as Prices says).
//
// It applies Cost's rounding to each price's tokens and adds the results.
// Input classes charged at the same price are counted together before
// rounding, and so are output classes, so a deployment without the optional
// prices costs exactly what RequestCost says (input and output rounded
// apart). Parts that exceed their whole (an upstream's inconsistent report)
// are capped: cached input first, then cache writes, never more than Input;
// reasoning never more than Output.
func TokenCost(u TokenCounts, p Prices) int64 {
	in, out := max(u.Input, 0), max(u.Output, 0)
	cached := min(max(u.CachedInput, 0), in)
	written := min(max(u.CacheWrite, 0), in-cached)
	reasoning := min(max(u.Reasoning, 0), out)
	var input, output priceBuckets
	input.add(in-cached-written, p.Input)
	input.add(cached, priceOr(p.CachedInput, p.Input))
	input.add(written, priceOr(p.CacheWrite, p.Input))
	output.add(out-reasoning, p.Output)
	output.add(reasoning, priceOr(p.Reasoning, p.Output))
	return addSaturated(input.cost(), output.cost())
}

// priceOr returns *p, or def when p is nil.
func priceOr(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

// priceBuckets sums one side's tokens (input or output) by price: at most
// three classes, so a linear search beats a map.
type priceBuckets struct {
	n      int
	tokens [3]int64
	price  [3]int64
}

// add counts tokens at price. The tokens of one side sum to at most its
// whole (Input or Output), so the sums cannot overflow.
func (b *priceBuckets) add(tokens, price int64) {
	if tokens <= 0 {
		return
	}
	for i := range b.n {
		if b.price[i] == price {
			b.tokens[i] += tokens
			return
		}
	}
	b.tokens[b.n], b.price[b.n] = tokens, price
	b.n++
}

// cost rounds each price's tokens with Cost and adds them.
func (b *priceBuckets) cost() int64 {
	var sum int64
	for i := range b.n {
		sum = addSaturated(sum, Cost(b.tokens[i], b.price[i]))
	}
	return sum
}

// addSaturated adds two non-negative amounts, saturating at MaxInt64.
func addSaturated(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// MicroPerCredit is how many micro-credits make one credit.
const MicroPerCredit = 1_000_000

// FormatCredits returns micro-credits as a decimal number of credits with
// six decimals, exactly ("-1.500000" for -1,500,000), for display.
func FormatCredits(micro int64) string {
	u, sign := uint64(micro), "" // #nosec G115 -- two's complement: negated below, exact for MinInt64 too
	if micro < 0 {
		u, sign = -uint64(micro), "-" // #nosec G115 -- two's complement: exact for MinInt64 too
	}
	frac := strconv.FormatUint(u%MicroPerCredit, 10)
	return sign + strconv.FormatUint(u/MicroPerCredit, 10) + "." + strings.Repeat("0", 6-len(frac)) + frac
}
