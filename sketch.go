package chorus

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// SketchGamma is the ratio between the bounds of a Sketch's buckets: a
// quantile read from a sketch is within ±2% of a value that was added
// (DDSketch's relative-accuracy guarantee, α = (γ−1)/(γ+1) ≈ 0.0196).
const SketchGamma = 1.04

var sketchLogGamma = math.Log(SketchGamma)

// Sketch is a mergeable histogram of positive values (latencies in
// milliseconds) in logarithmic buckets: bucket i holds the values in
// (γ^(i−1), γ^i]; values ≤ 0 are counted apart. Two sketches merge by
// adding their counts, so a rollup's percentiles are those of all its
// records, whatever order they were added in, and the same for any
// merge of rollups. The zero value is an empty sketch.
type Sketch struct {
	Zero    int64           // values ≤ 0 (a non-streamed request's TTFT)
	Buckets map[int32]int64 // bucket index → count
}

// sketchIndex is the bucket of v > 0.
func sketchIndex(v float64) int32 {
	i := math.Ceil(math.Log(v) / sketchLogGamma)
	return int32(max(-2000, min(2000, i))) // 1e-35 … 1e34 ms: beyond any latency
}

// Add counts one value.
func (s *Sketch) Add(v float64) {
	if v <= 0 || math.IsNaN(v) {
		s.Zero++
		return
	}
	if s.Buckets == nil {
		s.Buckets = make(map[int32]int64)
	}
	s.Buckets[sketchIndex(v)]++
}

// Merge adds o's counts to s.
func (s *Sketch) Merge(o *Sketch) {
	s.Zero += o.Zero
	if len(o.Buckets) > 0 && s.Buckets == nil {
		s.Buckets = make(map[int32]int64, len(o.Buckets))
	}
	for i, n := range o.Buckets {
		s.Buckets[i] += n
	}
}

// Count is how many values were added.
func (s *Sketch) Count() int64 {
	n := s.Zero
	for _, c := range s.Buckets {
		n += c
	}
	return n
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the values added, within
// the sketch's relative accuracy; 0 for an empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	total := s.Count()
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(max(0, min(1, q)) * float64(total)))
	rank = max(rank, 1)
	if rank <= s.Zero {
		return 0
	}
	seen := s.Zero
	idx := make([]int32, 0, len(s.Buckets))
	for i := range s.Buckets {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		seen += s.Buckets[i]
		if seen >= rank {
			// The bucket's value with the least relative error to any
			// value in it: 2γ^i/(γ+1).
			return 2 * math.Pow(SketchGamma, float64(i)) / (SketchGamma + 1)
		}
	}
	return 0 // not reached
}

// String encodes the sketch as stored: "z<zero>" then " <index>:<count>"
// per bucket in index order; "" when empty.
func (s *Sketch) String() string {
	if s.Zero == 0 && len(s.Buckets) == 0 {
		return ""
	}
	idx := make([]int32, 0, len(s.Buckets))
	for i := range s.Buckets {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var b strings.Builder
	b.Grow(4 + 10*len(idx))
	b.WriteByte('z')
	b.WriteString(strconv.FormatInt(s.Zero, 10))
	for _, i := range idx {
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(int64(i), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(s.Buckets[i], 10))
	}
	return b.String()
}

// ParseSketch decodes what String wrote, adding it to s. It parses in
// place, without allocating per bucket: reports merge many sketches.
func (s *Sketch) ParseSketch(text string) error {
	if text == "" {
		return nil
	}
	if text[0] != 'z' {
		return fmt.Errorf("sketch: missing zero count")
	}
	z, rest, ok := parseSketchInt(text[1:])
	if !ok || z < 0 || (rest != "" && rest[0] != ' ') {
		return fmt.Errorf("sketch: bad zero count in %q", text)
	}
	s.Zero += z
	for rest != "" {
		rest = rest[1:] // the space
		i, r, ok := parseSketchInt(rest)
		if !ok || r == "" || r[0] != ':' || i < math.MinInt32 || i > math.MaxInt32 {
			return fmt.Errorf("sketch: bad bucket in %q", text)
		}
		c, r2, ok := parseSketchInt(r[1:])
		if !ok || c < 0 || (r2 != "" && r2[0] != ' ') {
			return fmt.Errorf("sketch: bad bucket in %q", text)
		}
		if s.Buckets == nil {
			s.Buckets = make(map[int32]int64)
		}
		s.Buckets[int32(i)] += c // #nosec G115 -- range checked above
		rest = r2
	}
	return nil
}

// parseSketchInt reads a decimal integer (optionally negative) at the
// start of t and returns it with what follows.
func parseSketchInt(t string) (int64, string, bool) {
	neg := false
	if t != "" && t[0] == '-' {
		neg, t = true, t[1:]
	}
	n, i := int64(0), 0
	for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
		if n > (math.MaxInt64-9)/10 {
			return 0, t, false
		}
		n = n*10 + int64(t[i]-'0')
	}
	if i == 0 {
		return 0, t, false
	}
	if neg {
		n = -n
	}
	return n, t[i:], true
}
