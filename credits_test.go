package chorus_test

import (
	"math"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestFormatCredits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		micro int64
		want  string
	}{
		{"Zero", 0, "0.000000"},
		{"OneMicro", 1, "0.000001"},
		{"OneCredit", 1_000_000, "1.000000"},
		{"Fraction", 2_500_000, "2.500000"},
		{"Negative", -1_500_000, "-1.500000"},
		{"NegativeMicro", -7, "-0.000007"},
		{"Max", math.MaxInt64, "9223372036854.775807"},
		{"Min", math.MinInt64, "-9223372036854.775808"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := chorus.FormatCredits(tt.micro); got != tt.want {
				t.Errorf("FormatCredits(%d) = %q, want %q", tt.micro, got, tt.want)
			}
		})
	}
}
