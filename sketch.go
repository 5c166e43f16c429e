package chorus

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
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
	return int32(max(-sketchMaxIndex, min(sketchMaxIndex, i))) // 1e-35 … 1e34 ms: beyond any latency
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

// sketchMaxIndex bounds a bucket index (see sketchIndex).
const sketchMaxIndex = 2000

// A stored sketch is text (it lives in a TEXT column of both databases and
// reports join many with '|'). String writes the compact form: '~' then,
// in unpadded standard base64, the varints zero count, first bucket index
// (zigzag), and for each bucket from the first to the last its count — a
// run of empty buckets written as 0 and the run's length. A latency sketch
// of a hundred buckets takes ~140 characters. ParseSketch also reads the
// older decimal form, "z<zero>" then " <index>:<count>" per bucket, which
// rollups stored before the compact form may still hold.

// String encodes the sketch as stored; "" when empty.
func (s *Sketch) String() string {
	if s.Zero == 0 && len(s.Buckets) == 0 {
		return ""
	}
	idx := make([]int32, 0, len(s.Buckets))
	for i, c := range s.Buckets {
		if c != 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	b := make([]byte, 0, 8+2*len(idx))
	b = binary.AppendUvarint(b, uint64(s.Zero)) // #nosec G115 -- counts are never negative
	if len(idx) > 0 {
		b = binary.AppendVarint(b, int64(idx[0]))
		for k, i := range idx {
			if k > 0 && i > idx[k-1]+1 {
				b = binary.AppendUvarint(b, 0)
				b = binary.AppendUvarint(b, uint64(i-idx[k-1]-1)) // #nosec G115 -- positive
			}
			b = binary.AppendUvarint(b, uint64(s.Buckets[i])) // #nosec G115 -- counts are never negative
		}
	}
	return "~" + base64.RawStdEncoding.EncodeToString(b)
}

// ParseSketch decodes what String wrote — or several sketches joined by
// '|' — adding them to s.
func (s *Sketch) ParseSketch(text string) error {
	var buf []byte
	return parseSketches(text, &buf, func(z int64) { s.Zero += z }, func(i int32, c int64) {
		if s.Buckets == nil {
			s.Buckets = make(map[int32]int64)
		}
		s.Buckets[i] += c
	})
}

// ParseSketches merges the sketches in text (String's encodings joined by
// '|', as a report aggregates them) into one. It sums the counts in a
// dense array rather than a map: a report over a long range merges
// millions of buckets.
func ParseSketches(text string) (Sketch, error) {
	var counts [2*sketchMaxIndex + 1]int64
	var s Sketch
	var buf []byte
	err := parseSketches(text, &buf, func(z int64) { s.Zero += z }, func(i int32, c int64) { counts[i+sketchMaxIndex] += c })
	if err != nil {
		return Sketch{}, err
	}
	for i, c := range counts {
		if c != 0 {
			if s.Buckets == nil {
				s.Buckets = make(map[int32]int64)
			}
			s.Buckets[int32(i-sketchMaxIndex)] = c // #nosec G115 -- within ±sketchMaxIndex
		}
	}
	return s, nil
}

// parseSketches decodes each '|'-separated part of text, calling zero
// with its zero count and add with each bucket's; buf is scratch space.
func parseSketches(text string, buf *[]byte, zero func(int64), add func(int32, int64)) error {
	for text != "" {
		part := text
		if i := strings.IndexByte(text, '|'); i >= 0 {
			part, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		var err error
		switch {
		case part == "":
		case part[0] == '~':
			err = parseCompactSketch(part, buf, zero, add)
		case part[0] == 'z':
			err = parseDecimalSketch(part, zero, add)
		default:
			err = fmt.Errorf("sketch: missing zero count")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// errBadCompactSketch is a '~' sketch that does not decode. (Not built per
// call with the text: reports parse tens of thousands of sketches.)
var errBadCompactSketch = errors.New("sketch: bad compact sketch")

// parseCompactSketch decodes one '~' sketch.
func parseCompactSketch(part string, buf *[]byte, zero func(int64), add func(int32, int64)) error {
	n := base64.RawStdEncoding.DecodedLen(len(part) - 1)
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := base64.RawStdEncoding.Decode(b, []byte(part[1:])); err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	bad := errBadCompactSketch
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	z, ok := uv()
	if !ok || z > math.MaxInt64 {
		return bad
	}
	zero(int64(z))
	if len(b) == 0 {
		return nil
	}
	first, k := binary.Varint(b)
	if k <= 0 || first < -sketchMaxIndex || first > sketchMaxIndex {
		return bad
	}
	b = b[k:]
	i := first
	for len(b) > 0 {
		c, ok := uv()
		if !ok || c > math.MaxInt64 {
			return bad
		}
		if c == 0 {
			run, ok := uv()
			if !ok || run == 0 || run > 2*sketchMaxIndex {
				return bad
			}
			i += int64(run) // #nosec G115 -- bounded above
			continue
		}
		if i > sketchMaxIndex {
			return bad
		}
		add(int32(i), int64(c)) // #nosec G115 -- bounded above
		i++
	}
	return nil
}

// parseDecimalSketch decodes one sketch in the older decimal form.
func parseDecimalSketch(text string, zero func(int64), add func(int32, int64)) error {
	z, rest, ok := parseSketchInt(text[1:])
	if !ok || z < 0 || (rest != "" && rest[0] != ' ') {
		return fmt.Errorf("sketch: bad zero count in %q", text)
	}
	zero(z)
	for rest != "" {
		rest = rest[1:] // the space
		i, r, ok := parseSketchInt(rest)
		if !ok || r == "" || r[0] != ':' || i < -sketchMaxIndex || i > sketchMaxIndex {
			return fmt.Errorf("sketch: bad bucket in %q", text)
		}
		c, r2, ok := parseSketchInt(r[1:])
		if !ok || c < 0 || (r2 != "" && r2[0] != ' ') {
			return fmt.Errorf("sketch: bad bucket in %q", text)
		}
		add(int32(i), c) // #nosec G115 -- range checked above
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
