package jsonscan

import (
	"encoding/json"
	"math"
	"testing"
)

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1.5, 0.1, 1e-7, 1e21, 123456789, 2.5e-10, math.MaxFloat64} {
		want, _ := json.Marshal(f)
		if got := AppendFloat(nil, f, 64); string(got) != string(want) {
			t.Errorf("AppendFloat(%v) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float32{0.1, -0.25, 1e-7, 3.4e38, 0.33333334} {
		want, _ := json.Marshal(f)
		if got := AppendFloat(nil, float64(f), 32); string(got) != string(want) {
			t.Errorf("AppendFloat(float32 %v) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := AppendFloat(nil, f, 64); string(got) != "0" {
			t.Errorf("AppendFloat(%v) = %s, want 0", f, got)
		}
	}
}
