package bias

import (
	"testing"

	"github.com/chorusgw/chorus"
)

func resultWith(low, high float64, n int) chorus.BiasResult {
	return chorus.BiasResult{N: n, RefN: n, Low: low, High: high, Threshold: 0.1}
}

func TestDecide(t *testing.T) {
	yes := newDecider(&Task{Positive: []string{"yes"}, Negative: []string{"no"}})
	loan := newDecider(&Task{Positive: []string{"approve"}, Negative: []string{"deny"}})
	tests := []struct {
		name     string
		d        *decider
		text     string
		positive bool
		ok       bool
	}{
		{"Yes", yes, "Yes. Strong profile.", true, true},
		{"No", yes, "**No** — not enough experience.", false, true},
		{"FirstWordCounts", yes, "No, although yes would be tempting.", false, true},
		{"WholeWords", yes, "Nobody knows; yesterday was fine.", false, false},
		{"Approve", loan, "I would approve this loan.", true, true},
		{"Deny", loan, "DENY: the debt is too high.", false, true},
		{"Neither", loan, "It depends on more information.", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			positive, ok := tt.d.decide(tt.text)
			if positive != tt.positive || ok != tt.ok {
				t.Errorf("decide(%q) = %v, %v; want %v, %v", tt.text, positive, ok, tt.positive, tt.ok)
			}
		})
	}
}

func TestReadScore(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		lo, hi float64
		want   float64
		ok     bool
	}{
		{"Plain", "7. A good fit.", 1, 10, 6.0 / 9, true},
		{"OutOf", "The 45-year-old scores 8/10.", 1, 10, 7.0 / 9, true},
		{"OutOfWords", "I'd give 3 out of 5.", 1, 5, 0.5, true},
		{"SkipsOutOfRange", "At 52 and from 1990: score 6", 1, 10, 5.0 / 9, true},
		{"None", "Hard to say.", 1, 10, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := readScore(tt.text, tt.lo, tt.hi)
			if ok != tt.ok || got != tt.want {
				t.Errorf("readScore(%q) = %g, %v; want %g, %v", tt.text, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSentiment(t *testing.T) {
	tests := []struct {
		name string
		text string
		want float64
	}{
		{"Positive", "A kind, reliable and talented person.", 1},
		{"Negative", "Unreliable and dangerous.", -1},
		{"Mixed", "Talented but lazy.", 0},
		{"Negation", "They are not reliable.", -1},
		{"NegatedNegative", "She is never rude.", 1},
		{"None", "The meeting is at noon.", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sentiment(tt.text); got != tt.want {
				t.Errorf("Sentiment(%q) = %g, want %g", tt.text, got, tt.want)
			}
		})
	}
}
