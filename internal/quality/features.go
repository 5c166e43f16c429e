package quality

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Features of an answer for the learned scorer (learned.go): what it can
// see without the answer key — the question's and the answer's words
// (hashed), their lengths, the numbers in them and whether the answer ends
// in a clear one, hedging and self-correction words, the other scorers'
// results and the model. Each feature is a hashed index into a fixed-size
// weight vector with a value; the same text always gives the same features.

// featureBits is the size of the hashed feature space (2^18 weights).
const featureBits = 18

const featureMask = 1<<featureBits - 1

// maxFeatureText bounds the text featurized (question and answer, each):
// longer texts are featurized by their first part, so scoring stays in
// microseconds whatever the answer's length.
const maxFeatureText = 16 << 10

// Feature is one hashed feature and its value.
type Feature struct {
	Index uint32  `json:"i"`
	Value float32 `json:"v"`
}

// Example is what the learned scorer sees of one answer.
type Example struct {
	Question string  // the last user message
	Answer   string  // the answer's text; ignored when PromptOnly
	Model    string  // the model (or deployment) that answered
	Scores   []Score // the other scorers' results on the answer
	// PromptOnly featurizes the question and model alone: the decision
	// made before calling (the prompt-only router).
	PromptOnly bool
}

// featurizer accumulates features.
type featurizer struct {
	out   []Feature
	model string
}

func (f *featurizer) add(name string, v float64) {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	f.out = append(f.out, Feature{Index: hashFeature(name), Value: float32(v)})
}

// dense adds a feature alone and crossed with the model, so each model
// gets its own weight for it as well as the shared one.
func (f *featurizer) dense(name string, v float64) {
	f.add(name, v)
	f.add("m|"+f.model+"|"+name, v)
}

func hashFeature(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32() & featureMask
}

// Featurize returns x's features.
func Featurize(x Example) []Feature {
	f := &featurizer{out: make([]Feature, 0, 256), model: x.Model}
	q := truncate(x.Question)
	f.add("bias", 1)
	f.add("m="+x.Model, 1)
	qwords := words(q)
	f.dense("q.len", logBucket(len(q)))
	f.dense("q.words", math.Log1p(float64(len(qwords)))/5)
	qnums := numbers(q)
	f.dense("q.nums", math.Log1p(float64(len(qnums))))
	bag(f, "q:", qwords, true)
	for _, s := range x.Scores {
		f.dense("s="+s.Scorer, s.Value)
		f.dense("s0="+s.Scorer, 1-s.Value)
	}
	if x.PromptOnly {
		return f.out
	}
	answerFeatures(f, truncate(x.Answer), qnums)
	return f.out
}

// answerFeatures adds what the answer's form says about it.
func answerFeatures(f *featurizer, a string, qnums []string) {
	awords := words(a)
	f.dense("a.len", logBucket(len(a)))
	f.dense("a.words", math.Log1p(float64(len(awords)))/5)
	lines := strings.Count(strings.TrimSpace(a), "\n") + 1
	f.dense("a.lines", math.Log1p(float64(lines)))
	if strings.TrimSpace(a) == "" {
		f.dense("a.empty", 1)
		return
	}
	bag(f, "a:", awords, false)
	anums := numbers(a)
	f.dense("a.nums", math.Log1p(float64(len(anums))))
	final, how := finalNumber(a)
	if final == "" {
		f.dense("final.none", 1)
	} else {
		f.dense("final."+how, 1)
		finalShape(f, final)
		// A final number the reasoning reached before stating it is more
		// often right than one that appears only at the end.
		if strings.Count(a, final) > 1 {
			f.dense("final.repeated", 1)
		}
		if contains(qnums, final) {
			f.dense("final.inquestion", 1)
		}
	}
	if len(qnums) > 0 {
		used := 0
		for _, n := range qnums {
			if contains(anums, n) {
				used++
			}
		}
		f.dense("q.nums.used", float64(used)/float64(len(qnums)))
	}
	lower := strings.ToLower(a)
	for _, h := range hedges {
		if strings.Contains(lower, h) {
			f.dense("hedge="+h, 1)
		}
	}
	ar := checkArithmetic(a)
	f.dense("calc.steps", math.Log1p(float64(ar.steps)))
	if ar.steps == 0 {
		f.dense("calc.none", 1)
	}
	if ar.wrong > 0 {
		f.dense("calc.wrong", 1)
		f.dense("calc.wrongshare", float64(ar.wrong)/float64(ar.steps))
	}
	if final != "" && ar.last != "" {
		if final == ar.last {
			f.dense("final.fromcalc", 1)
		} else {
			f.dense("final.notfromcalc", 1)
		}
	}
	if strings.Contains(a, "<<") {
		f.dense("a.calc", 1)
	}
	if strings.Contains(a, "####") {
		f.dense("a.hashes", 1)
	}
}

// finalShape says what kind of number the final answer is: GSM8K-like
// questions have whole, non-negative answers, so a fraction or a negative
// is a sign of a slip.
func finalShape(f *featurizer, final string) {
	v, err := strconv.ParseFloat(final, 64)
	if err != nil {
		return
	}
	switch {
	case v < 0:
		f.dense("final.negative", 1)
	case v != math.Trunc(v):
		f.dense("final.fraction", 1)
	default:
		f.dense("final.whole", 1)
	}
	f.dense("final.mag", logBucket(int(math.Min(math.Abs(v), 1e9))))
}

// hedges are words of doubt, assumption and self-correction.
var hedges = []string{
	"however", "assum", "approximately", "not possible", "cannot", "can't", "sorry", "actually",
	"mistake", "round", "unclear", "not enough information", "wait", "i think", "likely", "estimate",
	"but", "incorrect", "re-evaluate", "let me", "error", "probably", "not sure", "impossible",
}

// finalNumber returns the number the answer ends on and how it was stated:
// after "####", in \boxed{}, after "the answer is", or as the last number
// of the last line that has one.
func finalNumber(a string) (string, string) {
	if i := strings.LastIndex(a, "####"); i >= 0 {
		if n := numbers(a[i:]); len(n) > 0 {
			return n[0], "hashes"
		}
	}
	if i := strings.LastIndex(a, `\boxed{`); i >= 0 {
		if n := numbers(a[i:]); len(n) > 0 {
			return n[0], "boxed"
		}
	}
	lower := strings.ToLower(a)
	if i := strings.LastIndex(lower, "answer is"); i >= 0 {
		if n := numbers(a[i:]); len(n) > 0 {
			return n[0], "stated"
		}
	}
	lines := strings.Split(strings.TrimSpace(a), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if n := numbers(lines[i]); len(n) > 0 {
			if i == len(lines)-1 {
				return n[len(n)-1], "lastline"
			}
			return n[len(n)-1], "earlier"
		}
	}
	return "", ""
}

// numbers returns the numbers in s, without thousands separators, signs
// kept, a trailing dot dropped.
func numbers(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ',' || s[j] == '.') {
			j++
		}
		n := strings.TrimRight(strings.ReplaceAll(s[i:j], ",", ""), ".")
		if i > 0 && s[i-1] == '-' && (i < 2 || !isAlnum(s[i-2])) {
			n = "-" + n
		}
		if n != "" && n != "-" {
			out = append(out, normalizeNumber(n))
		}
		i = j
	}
	return out
}

// normalizeNumber writes 18.00 and 18 alike.
func normalizeNumber(n string) string {
	if strings.Contains(n, ".") {
		n = strings.TrimRight(strings.TrimRight(n, "0"), ".")
	}
	return n
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// words returns s's lower-case words (letters only: numbers are featurized
// apart).
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
}

// bag adds hashed unigrams (and bigrams when pairs), each at most once,
// with values scaled so that a long text does not outweigh the rest.
func bag(f *featurizer, prefix string, ws []string, pairs bool) {
	grams := make([]string, 0, len(ws)*2)
	for i, w := range ws {
		grams = append(grams, prefix+w)
		if pairs && i > 0 {
			grams = append(grams, prefix+ws[i-1]+"_"+w)
		}
	}
	if len(grams) == 0 {
		return
	}
	slices.Sort(grams) // a fixed order: the same text, the same sums to the last bit
	grams = slices.Compact(grams)
	v := 1 / math.Sqrt(float64(len(grams)))
	for _, k := range grams {
		f.add(k, v)
	}
}

// logBucket is log2(1+n)/16: a length on a scale near [0, 1].
func logBucket(n int) float64 { return math.Log2(1+float64(n)) / 16 }

func truncate(s string) string {
	if len(s) > maxFeatureText {
		return s[:maxFeatureText]
	}
	return s
}
