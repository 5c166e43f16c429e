package quality

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Arithmetic checks: worked answers to word problems state their steps as
// "a op b = c" (and GSM8K-style "<<a*b=c>>"). A step whose result is wrong
// is strong evidence that the final answer is wrong too — a signal the
// learned scorer can see without the answer key.

// stepPattern matches an expression of numbers and + - * / × ÷ x,
// then "=" and a number.
var stepPattern = regexp.MustCompile(`((?:\$?-?\d[\d,]*(?:\.\d+)?%?\s*[-+*/×÷x]\s*)+\$?-?\d[\d,]*(?:\.\d+)?%?)\s*=\s*\$?(-?\d[\d,]*(?:\.\d+)?)`)

// arithmetic is what the answer's computations say.
type arithmetic struct {
	steps, wrong int
	last         string // the last step's stated result
}

// checkArithmetic evaluates every step it finds.
func checkArithmetic(a string) arithmetic {
	var r arithmetic
	var matches [][]string
	for line := range strings.Lines(a) {
		if strings.IndexByte(line, '=') >= 0 && len(matches) < 64 { // the pattern is costly: only where it can match
			matches = append(matches, stepPattern.FindAllStringSubmatch(line, 64-len(matches))...)
		}
	}
	for _, m := range matches {
		got, ok := evalExpr(m[1])
		if !ok {
			continue
		}
		stated, err := strconv.ParseFloat(strings.ReplaceAll(m[2], ",", ""), 64)
		if err != nil {
			continue
		}
		r.steps++
		r.last = normalizeNumber(strings.ReplaceAll(m[2], ",", ""))
		// Rounded statements (2 decimals, or to a whole number) count as right.
		if math.Abs(got-stated) > 0.01*math.Max(1, math.Abs(stated)) && math.Abs(math.Round(got)-stated) > 0 {
			r.wrong++
		}
	}
	return r
}

// evalExpr evaluates numbers joined by + - * / (× ÷ x too), with the
// usual precedence.
func evalExpr(s string) (float64, bool) {
	var nums []float64
	var ops []byte
	i := 0
	s = strings.NewReplacer("×", "*", "÷", "/", "x", "*", "$", "", ",", "", "%", "").Replace(s)
	for i < len(s) {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		j := i
		if j < len(s) && s[j] == '-' && len(nums) == len(ops) {
			j++
		}
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j == i {
			return 0, false
		}
		v, err := strconv.ParseFloat(s[i:j], 64)
		if err != nil {
			return 0, false
		}
		nums = append(nums, v)
		i = j
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) {
			if !strings.ContainsRune("+-*/", rune(s[i])) {
				return 0, false
			}
			ops = append(ops, s[i])
			i++
		}
	}
	if len(nums) != len(ops)+1 || len(ops) == 0 {
		return 0, false
	}
	// * and / first, then + and -.
	terms := []float64{nums[0]}
	var addOps []byte
	for k, op := range ops {
		switch op {
		case '*':
			terms[len(terms)-1] *= nums[k+1]
		case '/':
			if nums[k+1] == 0 {
				return 0, false
			}
			terms[len(terms)-1] /= nums[k+1]
		default:
			addOps = append(addOps, op)
			terms = append(terms, nums[k+1])
		}
	}
	v := terms[0]
	for k, op := range addOps {
		if op == '+' {
			v += terms[k+1]
		} else {
			v -= terms[k+1]
		}
	}
	return v, true
}
