package main

import (
	"testing"
	"time"
)

func TestDistOf(t *testing.T) {
	var d []time.Duration
	for i := 1000; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	got := distOf(d)
	want := dist{P50: 500 * time.Microsecond, P90: 900 * time.Microsecond, P99: 990 * time.Microsecond,
		P999: 999 * time.Microsecond, Max: 1000 * time.Microsecond, Mean: 500500 * time.Nanosecond}
	if got != want {
		t.Fatalf("distOf = %+v, want %+v", got, want)
	}
	if (distOf(nil) != dist{}) {
		t.Fatal("distOf(nil) is not zero")
	}
}

func TestIsContentChunk(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`data: {"choices":[{"delta":{"content":"tok0 "}}]}` + "\n", true},
		{`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}` + "\n", false},
		{`data: {"choices":[],"usage":{"prompt_tokens":1}}` + "\n", false},
		{"data: [DONE]\n", false},
		{`: {"content":"x"}` + "\n", false},
	} {
		if got := isContentChunk([]byte(tc.line)); got != tc.want {
			t.Errorf("isContentChunk(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestOptionalURL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{"Bare", "true", defaultPostgres, false},
		{"Off", "false", "", false},
		{"URL", "postgres://u@h:5432/db", "postgres://u@h:5432/db", false},
		{"ErrNotPostgres", "mysql://h/db", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o optionalURL
			err := o.Set(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Set(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if o.url != tc.want {
				t.Fatalf("Set(%q) = %q, want %q", tc.in, o.url, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Fatalf("median = %v, want 2", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Fatalf("median of an even count = %v, want the lower middle 2", got)
	}
}
