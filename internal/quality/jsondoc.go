package quality

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Bounds on the JSON that the json_schema scorer reads. A request's schema
// is client input and an answer is model output: neither may make a check
// use unbounded memory or time.
const (
	// maxDepth bounds the nesting (objects and arrays) of a schema document
	// and of an answer, and the chain of subschemas applied to one value.
	maxDepth = 256

	// Numbers are compared exactly, as fractions, which costs as much as
	// the number has digits once its exponent is written out: 1e999999 has
	// a million. Schemas have no use for such numbers and are refused; an
	// answer's are clamped (see clampNumber) or, when too long, not checked.
	maxSchemaNumberLen = 100
	maxSchemaExponent  = 400
	maxAnswerNumberLen = 1000
	answerExponent     = 2000
)

// Errors that stop a check before it starts: failures of the scorer, not
// verdicts on the answer.
var (
	errAnswerTooDeep = fmt.Errorf("the answer nests more than %d levels deep", maxDepth)
	errNumberTooLong = fmt.Errorf("the answer holds a number of more than %d characters", maxAnswerNumberLen)
	errSchemaTooDeep = fmt.Errorf("the schema document nests more than %d levels deep", maxDepth)
)

// node is one value of an answer, reduced to what the budget needs to price
// a validation: its kind, a string's length and the members of an object or
// an array. Nodes are compared by identity, one per value.
type node struct {
	kind  nodeKind
	size  int      // a string's length in bytes
	names []string // an object's member names, parallel to kids
	kids  []*node  // an object's members or an array's items
}

type nodeKind uint8

const (
	scalarNode nodeKind = iota // null, boolean or number
	stringNode
	arrayNode
	objectNode
)

// readAnswer checks a decoded answer's nesting, clamps its huge numbers in
// place (returning the new value when v itself is one) and returns its
// nodes.
func readAnswer(v any) (any, *node, error) {
	return readValue(v, 0)
}

func readValue(v any, depth int) (any, *node, error) {
	switch t := v.(type) {
	case string:
		return v, &node{kind: stringNode, size: len(t)}, nil
	case json.Number:
		c, err := clampNumber(t)
		return c, &node{kind: scalarNode}, err
	case []any:
		if depth >= maxDepth {
			return nil, nil, errAnswerTooDeep
		}
		n := &node{kind: arrayNode, kids: make([]*node, len(t))}
		for i, item := range t {
			c, kid, err := readValue(item, depth+1)
			if err != nil {
				return nil, nil, err
			}
			t[i], n.kids[i] = c, kid
		}
		return v, n, nil
	case map[string]any:
		if depth >= maxDepth {
			return nil, nil, errAnswerTooDeep
		}
		n := &node{kind: objectNode, names: make([]string, 0, len(t)), kids: make([]*node, 0, len(t))}
		for name, member := range t {
			c, kid, err := readValue(member, depth+1)
			if err != nil {
				return nil, nil, err
			}
			t[name] = c
			n.names, n.kids = append(n.names, name), append(n.kids, kid)
		}
		return v, n, nil
	}
	return v, &node{kind: scalarNode}, nil
}

// clampNumber brings an answer's number whose exponent is beyond
// ±answerExponent back to that bound, keeping its sign and digits. Against
// any number a schema may hold (see maxSchemaExponent) the clamped value
// compares, divides and is an integer exactly as the original does; only two
// such numbers of one answer that differ beyond the bound compare equal
// (enum, const, uniqueItems).
func clampNumber(n json.Number) (json.Number, error) {
	if len(n) > maxAnswerNumberLen {
		return n, errNumberTooLong
	}
	neg, digits, exp := decimal(string(n))
	switch {
	case exp >= -answerExponent && exp <= answerExponent:
		return n, nil
	case digits == "":
		return "0", nil
	}
	exp = max(-answerExponent, min(answerExponent, exp))
	sign := ""
	if neg {
		sign = "-"
	}
	return json.Number(sign + digits + "e" + strconv.Itoa(exp)), nil
}

// decimal splits a JSON number into its sign, its significant digits (no
// leading or trailing zeros; "" for zero) and the power of ten that scales
// them. An exponent too long to parse counts as ±1<<40.
func decimal(n string) (neg bool, digits string, exp int) {
	neg = strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	mant, e, hasExp := strings.Cut(strings.ToLower(n), "e")
	if hasExp {
		var err error
		if exp, err = strconv.Atoi(e); err != nil {
			exp = 1 << 40
			if strings.HasPrefix(e, "-") {
				exp = -exp
			}
		}
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits = strings.TrimLeft(whole+frac, "0")
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	return neg, trimmed, exp
}

// schemaDoc checks a decoded schema document before the library sees it, and
// notes where it declares dynamic or recursive anchors, which the budget
// needs (a $dynamicRef may land on any of them).
type schemaDoc struct {
	path    []string // JSON pointer tokens of the value being walked
	anchors []string // JSON pointers of objects with $dynamicAnchor or $recursiveAnchor
	schemas int      // objects and booleans so far
}

// maxAnchors bounds the dynamic and recursive anchors of a schema: each is
// compiled on its own for the budget, and schemas have one or two.
const maxAnchors = 64

// maxSubschemas bounds the objects and booleans of a schema document (each
// may be a subschema): the library's compiler takes time quadratic in their
// number, about a second for 10,000. OpenAI's structured outputs allow 5,000
// properties in all.
const maxSubschemas = 5000

func (d *schemaDoc) walk(v any) error {
	switch v.(type) {
	case bool, map[string]any:
		if d.schemas++; d.schemas > maxSubschemas {
			return fmt.Errorf("the schema has more than %d objects and booleans (subschemas)", maxSubschemas)
		}
	}
	switch t := v.(type) {
	case json.Number:
		_, _, exp := decimal(string(t))
		if len(t) > maxSchemaNumberLen || exp < -maxSchemaExponent || exp > maxSchemaExponent {
			return fmt.Errorf("%s: the number %s is out of range: a schema's numbers have at most %d characters and an exponent within ±%d",
				d.pointer(), clip(string(t), 40), maxSchemaNumberLen, maxSchemaExponent)
		}
	case []any:
		return d.walkMembers(len(t), func(i int) (string, any) { return strconv.Itoa(i), t[i] })
	case map[string]any:
		if _, dynamic := t["$dynamicAnchor"].(string); dynamic || t["$recursiveAnchor"] == true {
			if len(d.anchors) == maxAnchors {
				return fmt.Errorf("%s: a schema may declare at most %d $dynamicAnchor or $recursiveAnchor", d.pointer(), maxAnchors)
			}
			d.anchors = append(d.anchors, d.pointer())
		}
		names := make([]string, 0, len(t))
		for name := range t {
			names = append(names, name)
		}
		return d.walkMembers(len(names), func(i int) (string, any) { return names[i], t[names[i]] })
	}
	return nil
}

func (d *schemaDoc) walkMembers(n int, member func(int) (string, any)) error {
	if len(d.path) >= maxDepth {
		return errSchemaTooDeep
	}
	for i := range n {
		tok, v := member(i)
		d.path = append(d.path, tok)
		err := d.walk(v)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// pointer is the JSON pointer of the value being walked, as a fragment.
func (d *schemaDoc) pointer() string {
	return "#" + jsonPointer(d.path)
}

// jsonPointer joins tokens into a JSON pointer ("" for the root).
func jsonPointer(tokens []string) string {
	var b strings.Builder
	for _, tok := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return b.String()
}
