package chorus_test

import (
	"math"
	"math/rand/v2"
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
	} {
		t.Run(name, func(t *testing.T) {
			var s chorus.Sketch
			if err := s.ParseSketch(text); err == nil {
				t.Fatalf("%q parsed", text)
			}
		})
	}
}
