package quality

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestClampNumber(t *testing.T) {
	tests := []struct {
		name string
		in   json.Number
		want json.Number
		err  error
	}{
		{"Ordinary", "12.5", "12.5", nil},
		{"AtBound", "1e2000", "1e2000", nil},
		{"Huge", "1e999999999", "1e2000", nil},
		{"HugeNegative", "-2.50e999999", "-25e2000", nil},
		{"Tiny", "0.000123e-999999", "123e-2000", nil},
		{"ExponentOverflow", "7E+99999999999999999999999", "7e2000", nil},
		{"ZeroWithHugeExponent", "-0.0e999999999", "0", nil},
		{"ZeroWithExponent", "0e20", "0e20", nil},
		{"ErrTooLong", json.Number(strings.Repeat("9", 1001)), "", errNumberTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clampNumber(tt.in)
			if err != tt.err || err == nil && got != tt.want {
				t.Errorf("clampNumber(%.20s) = %s, %v; want %s, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestDecimal(t *testing.T) {
	tests := []struct {
		in     string
		neg    bool
		digits string
		exp    int
	}{
		{"0", false, "", 0},
		{"-0.0", true, "", -1},
		{"100", false, "1", 2},
		{"-1.250", true, "125", -2},
		{"0.001e3", false, "1", 0},
		{"5E-7", false, "5", -7},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			neg, digits, exp := decimal(tt.in)
			if neg != tt.neg || digits != tt.digits || digits != "" && exp != tt.exp {
				t.Errorf("decimal(%s) = %v %q %d; want %v %q %d", tt.in, neg, digits, exp, tt.neg, tt.digits, tt.exp)
			}
		})
	}
}
