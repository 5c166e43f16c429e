package chorus_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestSketch(t *testing.T) {
	t.Run("RoundTripAndMerge", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		var a, b, all chorus.Sketch
		for i := range 5000 {
			v := r.ExpFloat64() * 300
			if i%10 == 0 {
				v = 0
			}
			all.Add(v)
			if i%2 == 0 {
				a.Add(v)
			} else {
				b.Add(v)
			}
		}
		var merged chorus.Sketch
		for _, s := range []*chorus.Sketch{&a, &b} {
			if err := merged.ParseSketch(s.String()); err != nil {
				t.Fatal(err)
			}
		}
		if merged.String() != all.String() || merged.Count() != 5000 {
			t.Fatalf("merged %q\nwant   %q", merged.String(), all.String())
		}
	})
	t.Run("Accuracy", func(t *testing.T) {
		var s chorus.Sketch
		for v := 1; v <= 10000; v++ {
			s.Add(float64(v))
		}
		for _, q := range []float64{0.5, 0.95, 0.99} {
			want := q * 10000
			if got := s.Quantile(q); math.Abs(got-want)/want > 0.02 {
				t.Errorf("p%g = %g, want %g within 2%%", q*100, got, want)
			}
		}
		var empty chorus.Sketch
		if empty.Quantile(0.5) != 0 || empty.String() != "" {
			t.Error("an empty sketch is 0 and empty")
		}
	})
	for name, text := range map[string]string{
		"ErrNoZero": "1:2", "ErrZero": "zx", "ErrBucket": "z0 12", "ErrCount": "z0 1:-2", "ErrTrailing": "z0 1:2x", "ErrEmptyBucket": "z0 ",
		"ErrBase64": "~!!", "ErrTruncated": "~gA", "ErrIndex": "~AKA/AQ", "ErrPartAfterGood": "z0 1:2|x",
	} {
		t.Run(name, func(t *testing.T) {
			var s chorus.Sketch
			if err := s.ParseSketch(text); err == nil {
				t.Fatalf("%q parsed", text)
			}
		})
	}
}

func TestSketchEncodings(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var parts []string
	var all chorus.Sketch
	for range 40 {
		var s chorus.Sketch
		for range r.IntN(300) {
			v := r.ExpFloat64() * 200
			switch r.IntN(20) {
			case 0:
				v = 0
			case 1:
				v *= 1e4 // a far bucket: a long run of empty ones
			case 2:
				v = 1e-3 // a negative index
			}
			s.Add(v)
			all.Add(v)
		}
		parts = append(parts, s.String())
	}
	joined := strings.Join(parts, "|")
	t.Run("JoinedParts", func(t *testing.T) {
		var viaMap chorus.Sketch
		if err := viaMap.ParseSketch(joined); err != nil {
			t.Fatal(err)
		}
		dense, err := chorus.ParseSketches(joined)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := viaMap.String(), all.String(); got != want {
			t.Fatalf("ParseSketch: %q\nwant %q", got, want)
		}
		if got, want := dense.String(), all.String(); got != want {
			t.Fatalf("ParseSketches: %q\nwant %q", got, want)
		}
	})
	t.Run("DecimalForm", func(t *testing.T) {
		// What rollups stored before the compact form: still read.
		got, err := chorus.ParseSketches("z3 -2:1 10:4|~AgEB|")
		if err != nil {
			t.Fatal(err)
		}
		want := chorus.Sketch{Zero: 5, Buckets: map[int32]int64{-2: 1, 10: 4, -1: 1}}
		if got.String() != want.String() || got.Count() != 11 {
			t.Fatalf("got %q (count %d), want %q", got.String(), got.Count(), want.String())
		}
	})
	t.Run("Compact", func(t *testing.T) {
		var s chorus.Sketch
		for v := 1; v <= 100; v++ {
			s.Add(float64(v))
		}
		text := s.String()
		if text[0] != '~' || len(text) > 140 {
			t.Fatalf("%d characters: %q", len(text), text)
		}
	})
}

// BenchmarkParseSketches merges what a 59-day report by model reads: 4,600
// daily sketches of ~40 buckets into one.
func BenchmarkParseSketches(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	parts := make([]string, 4600)
	for i := range parts {
		var s chorus.Sketch
		for range 200 {
			s.Add(50 + r.Float64()*5000)
		}
		parts[i] = s.String()
	}
	text := strings.Join(parts, "|")
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := chorus.ParseSketches(text); err != nil {
			b.Fatal(err)
		}
	}
}
