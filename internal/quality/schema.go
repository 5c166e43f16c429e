package quality

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A subset of JSON Schema draft 2020-12: what structured-output schemas
// (OpenAI's response_format, tool parameters) use. Supported keywords:
// type (a name or a list), enum, const, properties, required,
// additionalProperties (bool or schema), patternProperties,
// minProperties/maxProperties, items (schema; draft-7 array form as
// prefixItems), prefixItems, minItems/maxItems, uniqueItems,
// minimum/maximum, exclusiveMinimum/exclusiveMaximum (numbers, or draft-4
// booleans), multipleOf, minLength/maxLength (in characters), pattern (RE2),
// anyOf/oneOf/allOf/not, $ref to "#", "#/$defs/…" and "#/definitions/…"
// (recursion allowed), and true/false schemas. Annotations (title,
// description, default, examples, format, $schema, $id, $comment, …) are
// ignored, as the specification allows. A keyword outside this list that
// would constrain the value (if/then/else, dependentRequired, contains, …)
// makes compilation fail, so a schema is never silently under-checked.

// maxSchemaDepth bounds validation recursion: $ref cycles that never descend
// into the value (a schema that refers to itself) end here.
const maxSchemaDepth = 256

// schemaNode is one compiled (sub)schema.
type schemaNode struct {
	always *bool // true/false schemas

	types []string

	enum     []any
	constVal any
	hasConst bool

	properties           map[string]*schemaNode
	required             []string
	additional           *schemaNode // nil: anything allowed
	patternProps         []patternSchema
	minProps, maxProps   *int
	items                *schemaNode
	prefixItems          []*schemaNode
	minItems, maxItems   *int
	uniqueItems          bool
	minimum, maximum     *float64
	exclMin, exclMax     *float64
	multipleOf           *float64
	minLength, maxLength *int
	pattern              *regexp.Regexp

	anyOf, oneOf, allOf []*schemaNode
	not                 *schemaNode
	ref                 *schemaNode
}

type patternSchema struct {
	re     *regexp.Regexp
	schema *schemaNode
}

// ignoredKeywords are annotations and identifiers that do not constrain.
var ignoredKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$anchor": true, "$vocabulary": true, "$defs": true,
	"definitions": true, "title": true, "description": true, "default": true, "examples": true, "format": true,
	"readOnly": true, "writeOnly": true, "deprecated": true, "contentMediaType": true, "contentEncoding": true,
	"strict": true, "name": true, "$dynamicAnchor": true,
}

// compiler turns a schema document into nodes, resolving $ref by JSON
// pointer into the same document.
type compiler struct {
	root  any
	nodes map[string]*schemaNode // by JSON pointer, so refs share nodes and cycles close
}

// compileSchema parses and compiles a schema document.
func compileSchema(raw json.RawMessage) (*schemaNode, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	c := &compiler{root: root, nodes: map[string]*schemaNode{}}
	return c.compile(root, "#")
}

func (c *compiler) compile(v any, ptr string) (*schemaNode, error) {
	if n, ok := c.nodes[ptr]; ok {
		return n, nil
	}
	n := &schemaNode{}
	c.nodes[ptr] = n
	switch s := v.(type) {
	case bool:
		n.always = &s
		return n, nil
	case map[string]any:
		return n, c.fill(n, s, ptr)
	}
	return nil, fmt.Errorf("%s: a schema must be an object or a boolean, got %s", ptr, jsonKind(v))
}

func (c *compiler) fill(n *schemaNode, s map[string]any, ptr string) error {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.keyword(n, k, s[k], ptr, s); err != nil {
			return err
		}
	}
	return nil
}

// keyword compiles one keyword of the schema object s at ptr.
func (c *compiler) keyword(n *schemaNode, k string, v any, ptr string, s map[string]any) error {
	at := ptr + "/" + escapePointer(k)
	var err error
	switch k {
	case "type":
		n.types, err = typeList(v, at)
	case "enum":
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: enum must be an array", at)
		}
		n.enum = list
	case "const":
		n.constVal, n.hasConst = v, true
	case "properties":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: properties must be an object", at)
		}
		n.properties = make(map[string]*schemaNode, len(m))
		for name, sub := range m {
			if n.properties[name], err = c.compile(sub, at+"/"+escapePointer(name)); err != nil {
				return err
			}
		}
	case "required":
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: required must be an array of strings", at)
		}
		for _, x := range list {
			name, ok := x.(string)
			if !ok {
				return fmt.Errorf("%s: required must be an array of strings", at)
			}
			n.required = append(n.required, name)
		}
	case "additionalProperties":
		n.additional, err = c.compile(v, at)
	case "patternProperties":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: patternProperties must be an object", at)
		}
		pats := make([]string, 0, len(m))
		for p := range m {
			pats = append(pats, p)
		}
		sort.Strings(pats)
		for _, p := range pats {
			re, err := regexp.Compile(p)
			if err != nil {
				return fmt.Errorf("%s: pattern %q is not supported (RE2 syntax): %v", at, p, err)
			}
			sub, err := c.compile(m[p], at+"/"+escapePointer(p))
			if err != nil {
				return err
			}
			n.patternProps = append(n.patternProps, patternSchema{re, sub})
		}
	case "items":
		if list, ok := v.([]any); ok { // draft 7 tuple form
			n.prefixItems, err = c.list(list, at)
		} else {
			n.items, err = c.compile(v, at)
		}
	case "prefixItems":
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: prefixItems must be an array of schemas", at)
		}
		n.prefixItems, err = c.list(list, at)
	case "additionalItems": // draft 7: applies after a tuple "items"
		if _, tuple := s["items"].([]any); tuple {
			n.items, err = c.compile(v, at)
		}
	case "uniqueItems":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s: uniqueItems must be a boolean", at)
		}
		n.uniqueItems = b
	case "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
		var i int
		if i, err = nonNegativeInt(v, at); err != nil {
			return err
		}
		dst := map[string]**int{"minItems": &n.minItems, "maxItems": &n.maxItems, "minLength": &n.minLength,
			"maxLength": &n.maxLength, "minProperties": &n.minProps, "maxProperties": &n.maxProps}[k]
		*dst = &i
	case "minimum", "maximum", "multipleOf":
		f, ok := numberValue(v)
		if !ok {
			return fmt.Errorf("%s: %s must be a number", at, k)
		}
		if k == "multipleOf" && f <= 0 {
			return fmt.Errorf("%s: multipleOf must be greater than 0", at)
		}
		*map[string]**float64{"minimum": &n.minimum, "maximum": &n.maximum, "multipleOf": &n.multipleOf}[k] = &f
	case "exclusiveMinimum", "exclusiveMaximum":
		err = c.exclusive(n, k, v, at, s)
	case "pattern":
		p, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: pattern must be a string", at)
		}
		if n.pattern, err = regexp.Compile(p); err != nil {
			return fmt.Errorf("%s: pattern %q is not supported (RE2 syntax): %v", at, p, err)
		}
	case "anyOf", "oneOf", "allOf":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return fmt.Errorf("%s: %s must be a non-empty array of schemas", at, k)
		}
		var subs []*schemaNode
		if subs, err = c.list(list, at); err != nil {
			return err
		}
		*map[string]*[]*schemaNode{"anyOf": &n.anyOf, "oneOf": &n.oneOf, "allOf": &n.allOf}[k] = subs
	case "not":
		n.not, err = c.compile(v, at)
	case "$ref":
		ref, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: $ref must be a string", at)
		}
		n.ref, err = c.resolve(ref, at)
	default:
		if !ignoredKeywords[k] {
			return fmt.Errorf("%s: keyword %q is not supported", at, k)
		}
	}
	return err
}

func (c *compiler) list(list []any, at string) ([]*schemaNode, error) {
	out := make([]*schemaNode, len(list))
	for i, sub := range list {
		var err error
		if out[i], err = c.compile(sub, at+"/"+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// exclusive compiles exclusiveMinimum/Maximum: a number (draft 6+) or a
// boolean that makes minimum/maximum exclusive (draft 4).
func (c *compiler) exclusive(n *schemaNode, k string, v any, at string, s map[string]any) error {
	dst, bound := &n.exclMin, "minimum"
	if k == "exclusiveMaximum" {
		dst, bound = &n.exclMax, "maximum"
	}
	if b, ok := v.(bool); ok {
		if b {
			f, ok := numberValue(s[bound])
			if !ok {
				return fmt.Errorf("%s: %s: true needs a numeric %s", at, k, bound)
			}
			*dst = &f
		}
		return nil
	}
	f, ok := numberValue(v)
	if !ok {
		return fmt.Errorf("%s: %s must be a number", at, k)
	}
	*dst = &f
	return nil
}

// resolve compiles the target of a local $ref.
func (c *compiler) resolve(ref, at string) (*schemaNode, error) {
	if ref != "#" && !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("%s: $ref %q is not supported: only references into the same schema (#, #/$defs/…, #/definitions/…) are", at, ref)
	}
	target := c.root
	if ref != "#" {
		for _, tok := range strings.Split(ref[2:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch t := target.(type) {
			case map[string]any:
				next, ok := t[tok]
				if !ok {
					return nil, fmt.Errorf("%s: $ref %q points at nothing", at, ref)
				}
				target = next
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(t) {
					return nil, fmt.Errorf("%s: $ref %q points at nothing", at, ref)
				}
				target = t[i]
			default:
				return nil, fmt.Errorf("%s: $ref %q points at nothing", at, ref)
			}
		}
	}
	return c.compile(target, ref)
}

func typeList(v any, at string) ([]string, error) {
	known := map[string]bool{"null": true, "boolean": true, "object": true, "array": true, "number": true, "string": true, "integer": true}
	var names []string
	switch t := v.(type) {
	case string:
		names = []string{t}
	case []any:
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%s: type must be a string or an array of strings", at)
			}
			names = append(names, s)
		}
	default:
		return nil, fmt.Errorf("%s: type must be a string or an array of strings", at)
	}
	for _, name := range names {
		if !known[name] {
			return nil, fmt.Errorf("%s: unknown type %q", at, name)
		}
	}
	return names, nil
}

func nonNegativeInt(v any, at string) (int, error) {
	f, ok := numberValue(v)
	if !ok || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s: must be a non-negative integer", at)
	}
	return int(f), nil
}

func numberValue(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// violation is the first place a value breaks its schema.
type violation struct {
	path string // "$", "$.items[2].name"
	msg  string
}

func (v *violation) Error() string { return "at " + v.path + ": " + v.msg }

// maxSteps bounds the work of one validation: schemas can branch
// (anyOf of refs to the root) so that a naive walk takes exponential time,
// and a request's own schema is client input.
const maxSteps = 200_000

// errTooComplex stops a validation that exceeds maxSteps. It is a failure of
// the scorer, not a verdict on the answer.
var errTooComplex = fmt.Errorf("validation needs more than %d steps: the schema is too complex to check", maxSteps)

// errTooDeep stops a validation that recurses past maxSchemaDepth (a $ref
// cycle that never descends into the value): a broken schema, not a verdict.
var errTooDeep = fmt.Errorf("the schema nests (or refers to itself) more than %d levels deep", maxSchemaDepth)

// abandoned reports whether a validation error means the check could not be
// done, rather than that the value breaks the schema.
func abandoned(err error) bool { return err == errTooComplex || err == errTooDeep }

// walk is the state of one validation.
type walk struct{ steps int }

// step counts one unit of work.
func (w *walk) step(n int) error {
	w.steps += n
	if w.steps > maxSteps {
		return errTooComplex
	}
	return nil
}

// validate checks a decoded JSON value (numbers as json.Number). A
// *violation says where the value breaks the schema; errTooComplex says the
// check was abandoned.
func (n *schemaNode) validate(v any) error {
	return n.check(v, "$", 0, &walk{})
}

func fail(path, format string, args ...any) error {
	return &violation{path: path, msg: fmt.Sprintf(format, args...)}
}

func (n *schemaNode) check(v any, path string, depth int, w *walk) error {
	if err := w.step(1); err != nil {
		return err
	}
	if depth > maxSchemaDepth {
		return errTooDeep
	}
	if n.always != nil {
		if !*n.always {
			return fail(path, "no value is allowed here (false schema)")
		}
		return nil
	}
	if n.ref != nil {
		if err := n.ref.check(v, path, depth+1, w); err != nil {
			return err
		}
	}
	if len(n.types) > 0 && !typeMatches(n.types, v) {
		return fail(path, "expected %s, got %s", strings.Join(n.types, " or "), jsonKind(v))
	}
	if n.hasConst && !jsonEqual(v, n.constVal) {
		return fail(path, "must equal %s", compact(n.constVal))
	}
	if n.enum != nil && !inEnum(n.enum, v) {
		return fail(path, "%s is not one of %s", compact(v), compact(n.enum))
	}
	var err error
	switch t := v.(type) {
	case json.Number:
		err = n.checkNumber(t, path)
	case string:
		err = n.checkString(t, path)
	case []any:
		err = n.checkArray(t, path, depth, w)
	case map[string]any:
		err = n.checkObject(t, path, depth, w)
	}
	if err != nil {
		return err
	}
	return n.checkCombinators(v, path, depth, w)
}

func (n *schemaNode) checkNumber(num json.Number, path string) error {
	// Out of float64's range, ParseFloat gives ±Inf or ±0, which compare
	// correctly with any finite bound.
	f, _ := strconv.ParseFloat(string(num), 64)
	switch {
	case n.minimum != nil && f < *n.minimum:
		return fail(path, "%s is less than the minimum %v", num, *n.minimum)
	case n.maximum != nil && f > *n.maximum:
		return fail(path, "%s is greater than the maximum %v", num, *n.maximum)
	case n.exclMin != nil && f <= *n.exclMin:
		return fail(path, "%s must be greater than %v", num, *n.exclMin)
	case n.exclMax != nil && f >= *n.exclMax:
		return fail(path, "%s must be less than %v", num, *n.exclMax)
	case n.multipleOf != nil && !isMultiple(num, *n.multipleOf):
		return fail(path, "%s is not a multiple of %v", num, *n.multipleOf)
	}
	return nil
}

// isMultiple tests divisibility with a relative tolerance, so that decimal
// steps work (0.3 is a multiple of 0.1 although not in binary floating point).
func isMultiple(num json.Number, of float64) bool {
	f, err := num.Float64()
	if err != nil {
		return false
	}
	q := f / of
	if math.IsInf(q, 0) || math.IsNaN(q) {
		return false
	}
	return math.Abs(q-math.Round(q)) <= 1e-9*math.Max(1, math.Abs(q))
}

func (n *schemaNode) checkString(s, path string) error {
	l := utf8.RuneCountInString(s)
	switch {
	case n.minLength != nil && l < *n.minLength:
		return fail(path, "string of %d characters is shorter than minLength %d", l, *n.minLength)
	case n.maxLength != nil && l > *n.maxLength:
		return fail(path, "string of %d characters is longer than maxLength %d", l, *n.maxLength)
	case n.pattern != nil && !n.pattern.MatchString(s):
		return fail(path, "%s does not match the pattern %q", compact(s), n.pattern.String())
	}
	return nil
}

func (n *schemaNode) checkArray(a []any, path string, depth int, w *walk) error {
	switch {
	case n.minItems != nil && len(a) < *n.minItems:
		return fail(path, "%d items, fewer than minItems %d", len(a), *n.minItems)
	case n.maxItems != nil && len(a) > *n.maxItems:
		return fail(path, "%d items, more than maxItems %d", len(a), *n.maxItems)
	}
	for i, item := range a {
		p := path + "[" + strconv.Itoa(i) + "]"
		sub := n.items
		if i < len(n.prefixItems) {
			sub = n.prefixItems[i]
		}
		if sub != nil {
			if err := sub.check(item, p, depth+1, w); err != nil {
				return err
			}
		}
	}
	if n.uniqueItems {
		if err := w.step(len(a) * len(a) / 2); err != nil {
			return err
		}
		for i := range a {
			for j := i + 1; j < len(a); j++ {
				if jsonEqual(a[i], a[j]) {
					return fail(path, "items %d and %d are equal; uniqueItems is set", i, j)
				}
			}
		}
	}
	return nil
}

func (n *schemaNode) checkObject(o map[string]any, path string, depth int, w *walk) error {
	switch {
	case n.minProps != nil && len(o) < *n.minProps:
		return fail(path, "%d properties, fewer than minProperties %d", len(o), *n.minProps)
	case n.maxProps != nil && len(o) > *n.maxProps:
		return fail(path, "%d properties, more than maxProperties %d", len(o), *n.maxProps)
	}
	for _, name := range n.required {
		if _, ok := o[name]; !ok {
			return fail(path, "missing required property %q", name)
		}
	}
	names := make([]string, 0, len(o))
	for k := range o {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p := propertyPath(path, k)
		matched := false
		if sub, ok := n.properties[k]; ok {
			matched = true
			if err := sub.check(o[k], p, depth+1, w); err != nil {
				return err
			}
		}
		for _, ps := range n.patternProps {
			if ps.re.MatchString(k) {
				matched = true
				if err := ps.schema.check(o[k], p, depth+1, w); err != nil {
					return err
				}
			}
		}
		if !matched && n.additional != nil {
			if n.additional.always != nil && !*n.additional.always {
				return fail(path, "property %q is not allowed (additionalProperties is false)", k)
			}
			if err := n.additional.check(o[k], p, depth+1, w); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *schemaNode) checkCombinators(v any, path string, depth int, w *walk) error {
	for i, sub := range n.allOf {
		if err := sub.check(v, path, depth+1, w); err != nil {
			if abandoned(err) {
				return err
			}
			return fmt.Errorf("allOf[%d]: %w", i, err)
		}
	}
	if len(n.anyOf) > 0 {
		var first error
		for _, sub := range n.anyOf {
			err := sub.check(v, path, depth+1, w)
			if err == nil {
				first = nil
				break
			}
			if abandoned(err) {
				return err
			}
			if first == nil {
				first = err
			}
		}
		if first != nil {
			return fail(path, "matches none of the anyOf schemas (the first says: %v)", first)
		}
	}
	if len(n.oneOf) > 0 {
		matches := 0
		var first error
		for _, sub := range n.oneOf {
			err := sub.check(v, path, depth+1, w)
			switch {
			case abandoned(err):
				return err
			case err == nil:
				matches++
			case first == nil:
				first = err
			}
		}
		switch {
		case matches == 0:
			return fail(path, "matches none of the oneOf schemas (the first says: %v)", first)
		case matches > 1:
			return fail(path, "matches %d of the oneOf schemas; exactly one is allowed", matches)
		}
	}
	if n.not != nil {
		switch err := n.not.check(v, path, depth+1, w); {
		case abandoned(err):
			return err
		case err == nil:
			return fail(path, "matches the schema under \"not\"")
		}
	}
	return nil
}

// propertyPath appends a property to a path: $.name, or $["odd name"].
func propertyPath(path, name string) string {
	ident := name != ""
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ident = false
			break
		}
	}
	if ident {
		return path + "." + name
	}
	return path + "[" + strconv.Quote(name) + "]"
}

func typeMatches(types []string, v any) bool {
	for _, t := range types {
		switch x := v.(type) {
		case nil:
			if t == "null" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case map[string]any:
			if t == "object" {
				return true
			}
		case json.Number:
			if t == "number" || t == "integer" && isInteger(x) {
				return true
			}
		}
	}
	return false
}

// isInteger is true for numbers with no fractional part, 1.0 included (as
// draft 2020-12 says). Numbers are never expanded exactly: a value like
// 1e999999 in an answer must not cost more than its parse.
func isInteger(n json.Number) bool {
	if !strings.ContainsAny(string(n), ".eE") {
		return true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if math.IsInf(f, 0) {
		return true // beyond float64's range, so far beyond any fraction
	}
	return err == nil && f == math.Trunc(f)
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if isInteger(x) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// jsonEqual compares JSON values, numbers by value (1 equals 1.0).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, errx := x.Float64()
		fy, erry := y.Float64()
		return errx == nil && erry == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return a == b
}

func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if jsonEqual(v, e) {
			return true
		}
	}
	return false
}

// compact renders a value for a reason, shortened.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return clip(string(b), 80)
}
