package chorus

import (
	"math"
	"math/bits"
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

// RequestCost returns the cost of one upstream call with the given deployment prices.
func RequestCost(inputTokens, outputTokens, inputPrice, outputPrice int64) int64 {
	a, b := Cost(inputTokens, inputPrice), Cost(outputTokens, outputPrice)
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
	u, sign := uint64(micro), ""
	if micro < 0 {
		u, sign = -uint64(micro), "-" // two's complement: exact for MinInt64 too
	}
	frac := strconv.FormatUint(u%MicroPerCredit, 10)
	return sign + strconv.FormatUint(u/MicroPerCredit, 10) + "." + strings.Repeat("0", 6-len(frac)) + frac
}
