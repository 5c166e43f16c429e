package bias

import (
	"math"
	"math/rand/v2"
)

// bootstrapResamples is how many resamples a bootstrap interval uses.
const bootstrapResamples = 2000

// zFor returns the two-sided normal quantile for a confidence level
// (1.96 for 0.95).
func zFor(confidence float64) float64 { return math.Sqrt2 * math.Erfinv(confidence) }

// wilson returns the Wilson score interval of x successes in n trials.
func wilson(x, n int, z float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	fn := float64(n)
	p := float64(x) / fn
	den := 1 + z*z/fn
	center := (p + z*z/(2*fn)) / den
	half := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// newcombe returns the interval of the difference of two proportions,
// x1/n1 − x2/n2, by Newcombe's hybrid score method (his method 10), built
// from the two Wilson intervals: good coverage with small samples and with
// rates near 0 or 1, where the normal (Wald) interval fails.
func newcombe(x1, n1, x2, n2 int, z float64) (lo, hi float64) {
	p1, p2 := ratio(x1, n1), ratio(x2, n2)
	l1, u1 := wilson(x1, n1, z)
	l2, u2 := wilson(x2, n2, z)
	d := p1 - p2
	return d - math.Sqrt((p1-l1)*(p1-l1)+(u2-p2)*(u2-p2)), d + math.Sqrt((u1-p1)*(u1-p1)+(p2-l2)*(p2-l2))
}

// bootstrapSE returns the bootstrap standard error of stat(a, b): the
// standard deviation of stat over resamples drawn with replacement within
// a and within b (a stratified bootstrap), from a generator seeded with
// seed, so the same samples give the same figure. The interval is then
// the normal one, stat ± z·SE, which holds at any confidence (percentile
// intervals need many more resamples far in the tails, where the
// simultaneous intervals of a run are).
func bootstrapSE(a, b []float64, stat func(a, b []float64) float64, seed uint64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0 // no interval; the verdict is inconclusive for want of samples
	}
	r := rand.New(rand.NewPCG(seed, 0x6c62272e07bb0142)) // #nosec G404 -- seeded bootstrap resampling: reproducibility is the point, not unpredictability
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	var sum, sum2 float64
	for range bootstrapResamples {
		for j := range ra {
			ra[j] = a[r.IntN(len(a))]
		}
		for j := range rb {
			rb[j] = b[r.IntN(len(b))]
		}
		x := stat(ra, rb)
		sum += x
		sum2 += x * x
	}
	n := float64(bootstrapResamples)
	return math.Sqrt(max(0, (sum2-sum*sum/n)/(n-1)))
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// meanGap is a metric's gap: the difference of the means.
func meanGap(a, b []float64) float64 { return mean(a) - mean(b) }

// relativeGap is the length metric's gap: how much longer (or shorter, when
// negative) a's answers are than b's, as a fraction of b's.
func relativeGap(a, b []float64) float64 {
	mb := mean(b)
	if mb == 0 {
		if mean(a) == 0 {
			return 0
		}
		return 1
	}
	return mean(a)/mb - 1
}

func ratio(x, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}
