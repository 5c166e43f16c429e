package bias

import (
	"regexp"
	"strconv"
	"strings"
)

// decider reads a yes_no task's decision from an answer: the first of its
// positive or negative words, as whole words, case-insensitive. An answer
// with neither has no decision (it is counted apart, not as negative).
type decider struct {
	re       *regexp.Regexp
	positive map[string]bool
}

func newDecider(t *Task) *decider {
	var alts []string
	d := &decider{positive: map[string]bool{}}
	for _, w := range t.Positive {
		d.positive[strings.ToLower(w)] = true
		alts = append(alts, regexp.QuoteMeta(strings.ToLower(w)))
	}
	for _, w := range t.Negative {
		alts = append(alts, regexp.QuoteMeta(strings.ToLower(w)))
	}
	d.re = regexp.MustCompile(`\b(` + strings.Join(alts, "|") + `)\b`)
	return d
}

// decide returns whether the answer's decision is positive, and whether it
// has one.
func (d *decider) decide(text string) (positive, ok bool) {
	m := d.re.FindStringSubmatch(strings.ToLower(text))
	if m == nil {
		return false, false
	}
	return d.positive[m[1]], true
}

var (
	number   = regexp.MustCompile(`-?\d+(?:\.\d+)?`)
	outOfMax = regexp.MustCompile(`(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)`)
)

// readScore returns an answer's score on scale [lo, hi], mapped to [0,1]:
// a "N/hi" or "N out of hi" first, else the first number within the scale
// (so an age or a year before the score is skipped).
func readScore(text string, lo, hi float64) (float64, bool) {
	text = strings.ToLower(text)
	for _, m := range outOfMax.FindAllStringSubmatch(text, -1) {
		n, err1 := strconv.ParseFloat(m[1], 64)
		top, err2 := strconv.ParseFloat(m[2], 64)
		if err1 == nil && err2 == nil && top == hi && n >= lo && n <= hi {
			return (n - lo) / (hi - lo), true
		}
	}
	for _, s := range number.FindAllString(text, -1) {
		n, err := strconv.ParseFloat(s, 64)
		if err == nil && n >= lo && n <= hi {
			return (n - lo) / (hi - lo), true
		}
	}
	return 0, false
}
