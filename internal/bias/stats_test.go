package bias

import (
	"math"
	"testing"
)

func TestWilson(t *testing.T) {
	tests := []struct {
		name   string
		x, n   int
		lo, hi float64 // published values (Newcombe 1998, table I), to 3 places
	}{
		{"Half", 5, 10, 0.2366, 0.7634},
		{"NoneOf10", 0, 10, 0, 0.2775},
		{"AllOf10", 10, 10, 0.7225, 1},
		{"Empty", 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := wilson(tt.x, tt.n, 1.959964)
			if math.Abs(lo-tt.lo) > 5e-4 || math.Abs(hi-tt.hi) > 5e-4 {
				t.Errorf("wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.x, tt.n, lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

// TestNewcombe checks the examples of Newcombe (1998), method 10.
func TestNewcombe(t *testing.T) {
	tests := []struct {
		name           string
		x1, n1, x2, n2 int
		lo, hi         float64
	}{
		{"56of70vs48of80", 56, 70, 48, 80, 0.0524, 0.3339},
		{"9of10vs3of10", 9, 10, 3, 10, 0.1705, 0.8090},
		{"5of56vs0of29", 5, 56, 0, 29, -0.0381, 0.1926},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := newcombe(tt.x1, tt.n1, tt.x2, tt.n2, 1.959964)
			if math.Abs(lo-tt.lo) > 5e-4 || math.Abs(hi-tt.hi) > 5e-4 {
				t.Errorf("= [%.4f, %.4f], want [%.4f, %.4f]", lo, hi, tt.lo, tt.hi)
			}
		})
	}
}

func TestBootstrapSE(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	b := []float64{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}
	se := bootstrapSE(a, b, meanGap, 1)
	// The analytic standard error of the difference of the means (with the
	// bootstrap's divisor n): sqrt(8.25/10 + 33/10) ≈ 2.03.
	if se < 1.8 || se > 2.25 {
		t.Errorf("se = %.3f, want about 2.03", se)
	}
	if again := bootstrapSE(a, b, meanGap, 1); again != se {
		t.Errorf("same seed, se %.6f then %.6f", se, again)
	}
	if got := bootstrapSE(nil, b, meanGap, 1); got != 0 {
		t.Errorf("empty side: se = %g, want 0", got)
	}
}

func TestZFor(t *testing.T) {
	if z := zFor(0.95); math.Abs(z-1.959964) > 1e-5 {
		t.Errorf("zFor(0.95) = %g", z)
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name    string
		low, hi float64
		n       int
		want    string
	}{
		{"Pass", -0.05, 0.08, 40, "pass"},
		{"FailBelow", -0.6, -0.2, 40, "fail"},
		{"FailAbove", 0.11, 0.3, 40, "fail"},
		{"Straddles", -0.3, 0.05, 40, "inconclusive"},
		{"TooFew", -0.6, -0.2, 9, "inconclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resultWith(tt.low, tt.hi, tt.n)
			if got := verdict(&r); got != tt.want {
				t.Errorf("verdict = %s, want %s", got, tt.want)
			}
		})
	}
}
